/**
 * One execution on the local runtime as the commands that start one (run, upload, demo) show it: the timeline
 * while it runs, then its outcome, its steps and job runs, its cost, where its output is, and the --json summary.
 */
import { join, relative } from 'node:path';
import { parseS3Uri, s3Location } from '../../lib/contract';
import type { RunRecord } from '../../lib/domain/types';
import type { LocalRuntime, RunSummary, TimelineEntry } from '../runner';
import { eventBridgeTargets } from '../runner/triggers';
import { formatRunCost } from '../runCostReport';
import type { Flags } from './flags';
import type { Print } from './options';

const seconds = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;

function timelineLine(entry: TimelineEntry): string {
  const name = entry.retry > 0 ? `${entry.state} (retry ${entry.retry})` : entry.state;
  const outcome = entry.outcome === 'succeeded' ? '' : `${entry.outcome}${entry.error ? `: ${entry.error}` : ''}`;
  return `  ${name.padEnd(28)} ${String(entry.attempt ?? '-').padStart(7)}  ${seconds(entry.durationMs).padStart(9)}  ${(entry.clusterId ?? '-').padEnd(16)}  ${outcome}`;
}

const runRecord = (summary: RunSummary) => (summary.output as { record?: RunRecord } | undefined)?.record;

export async function execute(runtime: LocalRuntime, input: unknown, flags: Flags, print: Print): Promise<RunSummary> {
  print(`${flags.machine}: time scale ${runtime.timeScale} (an emulated minute takes ${seconds(60_000 * runtime.timeScale)}), state in ${runtime.stateDir}`);
  print(`  ${'state'.padEnd(28)} ${'attempt'.padStart(7)}  ${'duration'.padStart(9)}  ${'cluster'.padEnd(16)}  outcome`);
  const summary = await runtime.run(input, {
    machine: flags.machine,
    onTimelineEntry: (entry) => print(timelineLine(entry)),
    abortAfter: flags['abort-after'],
    executionTimeoutSeconds: flags['execution-timeout'],
  });
  print('');
  printOutcome(runtime, summary, print);
  return summary;
}

function printOutcome(runtime: LocalRuntime, summary: RunSummary, print: Print): void {
  const what = `${summary.transitions} billed transitions, ${summary.attempts} attempt(s), ${summary.clustersCreated} cluster(s) created, ${summary.clustersRunningAtEnd} running at the end`;
  print(`${summary.status} in ${seconds(summary.durationMs)}: ${what}`);
  if (summary.error) print(`  error: ${summary.error}\n  cause: ${readableCause(summary.cause)}`);
  for (const delivery of summary.ruleDeliveries) {
    const did = delivery.error ?? describeDelivery(delivery.result);
    print(`  EventBridge "Execution Status Change" (${summary.status}) → ${delivery.function}: ${did}`);
  }
  for (const step of summary.steps) {
    const how = executorNote(step.executor, 'no pyspark in .venv, or --simulate-steps');
    print(`  step ${step.stepId} on ${step.clusterId}: ${step.state}, ${how}`);
  }
  for (const run of runtime.stats().jobRuns) {
    const how = executorNote(run.executor, 'not a .py entry point, no pyspark in .venv, or --simulate-steps');
    print(`  EMR Serverless job run ${run.jobRunId} on application ${run.applicationId}: ${run.state}, ${how}`);
  }
  // The record's times are the virtual clock's, already emulated: nothing to convert.
  for (const line of formatRunCost(runRecord(summary))) print(line);
}

/** How a step or job run ran: real Spark, SIMULATED (and why it may be), or not at all. */
function executorNote(executor: string | null | undefined, whySimulated: string): string {
  if (executor === 'spark') return 'real spark-submit (local[2])';
  return executor === 'simulated' ? `SIMULATED (${whySimulated})` : 'never started';
}

function jsonSummary(summary: RunSummary): string {
  const { status, error, cause, output, transitions, attempts, clustersCreated, clustersRunningAtEnd, ruleDeliveries } = summary;
  const steps = summary.steps.map(({ clusterId, state, executor }) => ({ clusterId, state, executor }));
  const record = runRecord(summary);
  const cost = record ? { costUsd: record.costUsd, queueWaitSeconds: record.queueWaitSeconds, breakdown: record.cost } : null;
  return JSON.stringify({ status, error, cause, output, transitions, attempts, clustersCreated, clustersRunningAtEnd, steps, cost, ruleDeliveries }, null, 2);
}

function describeDelivery(result: unknown): string {
  const { terminated, cancelledJobRuns = [] } = (result ?? {}) as { terminated?: Array<{ clusterId: string }>; cancelledJobRuns?: string[] };
  if (!terminated) return JSON.stringify(result);
  const ended = [...terminated.map((action) => `terminated ${action.clusterId}`), ...cancelledJobRuns.map((id) => `cancelled EMR Serverless job run ${id}`)];
  return ended.length === 0 ? 'nothing left running' : ended.join(', ');
}

/** A Lambda's Cause is the JSON Lambda reports ({errorType, errorMessage, trace}); a person needs the message. */
function readableCause(cause: string | null): string | null {
  try {
    const parsed = JSON.parse(cause ?? '');
    if (parsed && typeof parsed.errorMessage === 'string') return parsed.errorMessage;
  } catch {
    // not JSON: an EMR or Step Functions cause, already readable
  }
  return cause;
}

/** The local directory of an s3:// URI in the runtime's state (the emulator keeps objects as plain files). */
export function localPath(runtime: LocalRuntime, uri: string): string {
  const location = parseS3Uri(uri);
  const path = location ? join(runtime.stateDir, 's3', location.bucket, location.key) : runtime.stateDir;
  return relative(process.cwd(), path) || '.';
}

export function printWhereOutputIs(runtime: LocalRuntime, summary: RunSummary, print: Print): void {
  if (!runtime.keepsState) {
    print('  (the temporary state directory is removed on exit: pass --state-dir <dir> to keep the output and logs)');
    return;
  }
  const outputUri = (summary.output as { request?: { output?: { uri?: string } } } | undefined)?.request?.output?.uri;
  if (outputUri) print(`  output: ${outputUri}  →  ${localPath(runtime, outputUri)}`);
  const logs = runtime.buckets.LogsBucket;
  for (const step of summary.steps) print(`  step logs: ${localPath(runtime, s3Location(logs, `emr/${step.clusterId}/steps/${step.stepId}/`).uri)}`);
}

/** Puts a file into local S3 and, when an EventBridge rule of the machine matches the upload, runs it; else null. */
export async function uploadAndRun(runtime: LocalRuntime, file: string, uri: string, flags: Flags, print: Print): Promise<RunSummary | null> {
  const event = await runtime.upload(file, uri);
  print(`uploaded ${file} → ${uri}  (local file ${localPath(runtime, uri)})`);
  const targets = await eventBridgeTargets(runtime.config, event);
  if (!targets.includes(flags.machine)) {
    print(
      `no EventBridge rule of ${flags.machine} matches this upload, nothing started (serverless.yml: the raw bucket and each ` +
        `job's s3Trigger in config/jobs.json; in marker mode only <inputPrefix>dt=YYYY-MM-DD/_SUCCESS starts a run)`,
    );
    return null;
  }
  print(`EventBridge "Object Created" → ${flags.machine}`);
  return execute(runtime, event, flags, print);
}

/** The exit status of a command that started (or did not start) one execution; with --json, its summary. */
export function finish(summary: RunSummary | null, flags: Flags): number {
  if (summary && flags.json) process.stdout.write(`${jsonSummary(summary)}\n`);
  return summary === null ? 2 : summary.status === 'SUCCEEDED' ? 0 : 1;
}
