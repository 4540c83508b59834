/**
 * `emrflow batch <manifest.jsonl>`: puts the manifest into local S3 where run-batch reads manifests, runs
 * run-batch on it with a live view (items queued / running / succeeded / failed, clusters and units in use),
 * then prints the summary table, or one JSON object with --json.
 */
import { basename } from 'node:path';
import { readText } from '../lib/aws/batchStore';
import { dynamoClient, s3Client } from '../lib/aws/clients';
import { loadBatchSettings } from '../lib/config/batch';
import { loadPools } from '../lib/config/pools';
import { loadPrices } from '../lib/config/prices';
import { s3Location, CLUSTER_ENDED_STATES } from '../lib/contract';
import { batchTarget, type BatchSummary } from '../lib/domain/batch';
import { realTimers } from './emulator/clock';
import { poolReports } from './poolsReport';
import type { LocalRuntime, RunSummary } from './runner';
import { decisionsHash, grantSequence, observeRegistry } from './runner/registryObserver';

export const BATCH_MACHINE = 'run-batch';

export interface BatchOptions {
  concurrency?: number;
  /** Overrides config/batch.json's toleratedFailurePercentage for this batch. */
  toleratedFailurePercentage?: number;
  /** How often the live view prints a line, in real ms (0: never). */
  liveEveryMs: number;
  print: (line: string) => void;
}

/** What `emrflow batch --json` prints. */
export interface BatchReport {
  status: string;
  error: string | null;
  batchId: string | null;
  items: number;
  succeeded: number;
  failed: number;
  duplicates: number;
  notRun: number;
  failures: BatchSummary['failures'];
  estimatedCostUsd: number;
  clustersCreated: number;
  clustersRunningAtEnd: number;
  /** Billed transitions of the batch itself: run-batch's execution plus the Map's child workflow executions. */
  transitions: number;
  /** run-job children: how many ended, and their billed transitions in all and per execution. */
  jobExecutions: number;
  jobTransitions: number;
  jobTransitionsPerExecution: number | null;
  summaryLocation: string | null;
  /** Hash of the pool grants in order (execution → cluster by order of creation): equal runs, equal hash. */
  decisionsHash: string;
  /** Emulated seconds the batch took on the runtime's virtual clock. */
  emulatedSeconds: number;
  /** Real seconds it took. */
  wallSeconds: number;
  /** Steps were simulated (no Spark): the figures are the orchestration's, not Spark's. */
  stepsSimulated: boolean;
}

export async function runBatch(
  runtime: LocalRuntime,
  manifestFile: string,
  options: BatchOptions,
): Promise<{ run: RunSummary; report: BatchReport; grantOrder: string[] }> {
  const settings = loadBatchSettings();
  const manifest = s3Location(runtime.buckets.ArtifactsBucket, `${settings.manifestPrefix}${basename(manifestFile)}`);
  await runtime.upload(manifestFile, manifest.uri);
  options.print(`manifest ${manifestFile} → ${manifest.uri}; run-batch (time scale ${runtime.timeScale}, state in ${runtime.stateDir})`);
  const input = {
    manifest: manifest.uri,
    ...(options.concurrency ? { maxConcurrency: options.concurrency } : {}),
    ...(options.toleratedFailurePercentage !== undefined ? { toleratedFailurePercentage: options.toleratedFailurePercentage } : {}),
  };
  // Date is the runtime's virtual clock (emulated time); performance.now() is the wall clock.
  const started = Date.now();
  const wallStarted = performance.now();
  const clustersBefore = new Set(runtime.stats().clusters.map((cluster) => cluster.clusterId));
  const observation = observeRegistry(dynamoClient(), runtime.tables.ClusterRegistryTable);
  // The live view paces itself by the wall clock: it is for the person watching.
  const live =
    options.liveEveryMs > 0 ? realTimers.setInterval(() => void liveLine(runtime, started).then(options.print, () => undefined), options.liveEveryMs) : null;
  let run: RunSummary;
  try {
    run = await runtime.run(input, { machine: BATCH_MACHINE });
  } finally {
    if (live) realTimers.clearInterval(live);
    observation.detach();
  }
  const emulatedSeconds = (Date.now() - started) / 1000;
  const clusterOrder = runtime
    .stats()
    .clusters.map((cluster) => cluster.clusterId)
    .filter((clusterId) => !clustersBefore.has(clusterId));
  const grantOrder = grantSequence(observation.grants, clusterOrder);
  options.print(await liveLine(runtime, started));
  // A failed batch's output is its error; its summary is still written where the plan put it.
  const summary = (run.output as BatchSummary | null) ?? (await writtenSummary(runtime, input, started));
  const jobs = run.childExecutions.filter((child) => child.machine === 'run-job');
  const jobTransitions = jobs.reduce((sum, child) => sum + child.transitions, 0);
  const report: BatchReport = {
    status: run.status,
    error: run.error,
    batchId: summary?.batchId ?? null,
    items: summary?.items ?? 0,
    succeeded: summary?.succeeded ?? 0,
    failed: summary?.failed ?? 0,
    duplicates: summary?.duplicates ?? 0,
    notRun: summary?.notRun ?? 0,
    failures: summary?.failures ?? [],
    estimatedCostUsd: summary?.estimatedCostUsd ?? 0,
    clustersCreated: run.clustersCreated,
    clustersRunningAtEnd: run.clustersRunningAtEnd,
    transitions: run.transitions + run.mapChildren.transitions,
    jobExecutions: jobs.length,
    jobTransitions,
    jobTransitionsPerExecution: jobs.length ? Math.round((jobTransitions / jobs.length) * 10) / 10 : null,
    summaryLocation: summary?.summary ?? null,
    decisionsHash: decisionsHash(observation.grants, clusterOrder),
    emulatedSeconds,
    wallSeconds: (performance.now() - wallStarted) / 1000,
    stepsSimulated: run.steps.length > 0 && run.steps.every((step) => step.executor !== 'spark'),
  };
  if (!summary && run.error) {
    // The batch failed before or while summarizing (a bad input, a missing manifest): nothing was counted.
    report.failures = [{ line: null, name: null, execution: null, error: run.error, cause: run.cause ?? '' }];
  }
  return { run, report, grantOrder };
}

async function writtenSummary(runtime: LocalRuntime, input: unknown, startedAt: number): Promise<BatchSummary | null> {
  try {
    const plan = batchTarget(input, { settings: loadBatchSettings(), artifactsBucket: runtime.buckets.ArtifactsBucket, now: new Date(startedAt) });
    return JSON.parse(await readText(s3Client(), plan.summary)) as BatchSummary;
  } catch {
    return null;
  }
}

/** One line of the live view: the batch's run-job executions and the pools' clusters and units. */
async function liveLine(runtime: LocalRuntime, started: number): Promise<string> {
  const jobs = runtime.executions.list('run-job');
  const open = jobs.filter((job) => job.status === 'RUNNING').length;
  const succeeded = jobs.filter((job) => job.status === 'SUCCEEDED').length;
  const failed = jobs.length - open - succeeded;
  const map = runtime.mapChildStats();
  const clusters = runtime.stats().clusters.filter((cluster) => !CLUSTER_ENDED_STATES.has(cluster.state)).length;
  let parked = 0;
  let units = '';
  const environment = Object.values(runtime.config.functions)[0]?.environment ?? {};
  if (environment.CLUSTER_REGISTRY_TABLE && environment.ADMISSION_QUEUE_TABLE && environment.RUNS_TABLE) {
    const prices = loadPrices();
    const tables = { clusters: environment.CLUSTER_REGISTRY_TABLE, queue: environment.ADMISSION_QUEUE_TABLE, runs: environment.RUNS_TABLE };
    const reports = await poolReports(dynamoClient(), tables, loadPools(prices).pools, prices);
    const inUse = reports.reduce((sum, pool) => sum + pool.clusters.reduce((s, c) => s + c.unitsInUse, 0), 0);
    const capacity = reports.reduce((sum, pool) => sum + pool.clusters.reduce((s, c) => s + c.capacityUnits, 0), 0);
    parked = reports.reduce((sum, pool) => sum + pool.queue.depth, 0);
    units = `, pool units ${inUse}/${capacity} in use`;
  }
  const elapsed = ((Date.now() - started) / 1000).toFixed(1).padStart(6);
  return `  ${elapsed} s  items started ${map.started}  queued ${parked}  running ${Math.max(0, open - parked)}  succeeded ${succeeded}  failed ${failed}  |  clusters ${clusters}${units}`;
}

/** The summary table printed at the end. */
export function formatBatchReport(report: BatchReport): string[] {
  const lines = [
    '',
    `batch ${report.batchId ?? '(none)'}: ${report.status}${report.error ? ` (${report.error})` : ''} in ${report.wallSeconds.toFixed(1)} s (${report.emulatedSeconds.toFixed(0)} emulated s)`,
    `  ${'items'.padEnd(34)} ${report.items}`,
    `  ${'succeeded'.padEnd(34)} ${report.succeeded}`,
    `  ${'failed'.padEnd(34)} ${report.failed}`,
    `  ${'duplicates (started nothing new)'.padEnd(34)} ${report.duplicates}`,
    `  ${'not run'.padEnd(34)} ${report.notRun}`,
    `  ${'estimated cost'.padEnd(34)} $${report.estimatedCostUsd.toFixed(2)}`,
    `  ${'clusters created / running at end'.padEnd(34)} ${report.clustersCreated} / ${report.clustersRunningAtEnd}`,
    `  ${'billed transitions (batch)'.padEnd(34)} ${report.transitions}`,
    `  ${'pool grants hash'.padEnd(34)} ${report.decisionsHash}`,
    `  ${'run-job executions / transitions'.padEnd(34)} ${report.jobExecutions} / ${report.jobTransitions}${report.jobTransitionsPerExecution === null ? '' : ` (${report.jobTransitionsPerExecution} per job)`}`,
  ];
  if (report.stepsSimulated) lines.push('  Spark steps were SIMULATED (--simulate-steps or no pyspark in .venv)');
  if (report.failures.length > 0) {
    lines.push('', `  ${'line'.padEnd(6)} ${'execution name'.padEnd(48)} error`);
    for (const failure of report.failures) {
      lines.push(`  ${String(failure.line ?? '-').padEnd(6)} ${(failure.name ?? '-').padEnd(48)} ${failure.error}: ${failure.cause}`);
    }
  }
  if (report.summaryLocation) lines.push('', `  summary: ${report.summaryLocation}`);
  return lines;
}
