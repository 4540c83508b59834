/**
 * `emrflow`: the local runtime from the command line. Run with tsx (bin/emrflow does), never compiled.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import * as z from 'zod';
import { parseS3Uri, s3Location } from '../lib/contract';
import { InvalidConfigError } from '../lib/errors';
import { between, matching, parseOrFail } from '../lib/schema';
import { DEFAULT_TIME_SCALE, PROJECT_DIR, startLocalRuntime, type LocalRuntime, type LocalRuntimeOptions, type RunSummary, type TimelineEntry } from './runner';
import { CLI_WAITER_TIME_SCALE } from './emulator/emr/waiters';
import { eventBridgeTargets } from './runner/triggers';
import { formatBatchReport, runBatch } from './batchCommand';
import { MAX_BATCH_CONCURRENCY } from '../lib/config/batch';
import { formatPoolReports, poolReports } from './poolsReport';
import { formatRunCost } from './runCostReport';
import type { RunRecord } from '../lib/domain/types';
import { dynamoClient } from '../lib/aws/clients';
import { loadPools } from '../lib/config/pools';
import { loadPrices } from '../lib/config/prices';
import { DEFAULT_OUT_DIR, simulateCommand } from './planner/command';
import { recommendCommand } from './planner/recommend';
import { DEFAULT_PROFILE } from './planner';
import { stateMachineArnPrefix } from './runner/stepFunctionsApi/service';

const USAGE = `emrflow — run emrflow's state machines on the local runtime (EMR/Glue/S3 emulator + DynamoDB), no AWS needed

Usage:
  emrflow run <input.json> [options]           run a state machine on an input (S3 event, schedule or console shape)
  emrflow upload <file> s3://<bucket>/<key> [options]
                                                put a file into local S3 and fire the S3 trigger (EventBridge
                                                "Object Created"), which starts run-job when its rule matches
  emrflow demo [--events N] [--date D] [options]
                                                generate sample events for day D (default today), upload them,
                                                run run-job (what npm start does)
  emrflow emulator [--port N] [options]        start the emulator alone and print the environment for the AWS CLI
                                                (default time scale ${CLI_WAITER_TIME_SCALE}, at which \`aws emr wait\` sees every state)
  emrflow reap [--dry-run] [options]           run the reaper (reap-clusters) on the state: terminate this app's
                                                clusters no running execution owns; --dry-run lists what it
                                                would do and why (use with --state-dir)
  emrflow pools [--json] [--state-dir <dir>]   each pool's clusters (state, units used / capacity, leases) and its
                                                queue (depth by priority, oldest wait), from the registry in <dir>
  emrflow batch <manifest.jsonl> [--concurrency n] [options]
                                                run run-batch on a manifest (JSON lines of console inputs) with a
                                                live view, then its summary (items, succeeded, failed, duplicates)
  emrflow simulate [--profile f] [--history f] [--what-if f] [--seed n] [--out dir] [--json]
  emrflow simulate --recommend [--profile f] [--history f] [--seed n] [--out dir]
                                                capacity planner: a SIMULATED day of jobs through the real decision code,
                                                emrflow beside per-job On-Demand/Spot, EMR Serverless and the floor;
                                                writes <out>/simulation.json and a self-contained <out>/report.html
  emrflow help

Options:
  --faults <file>        inject faults (JSON, see README "Fault injection")
  --time-scale <x>       paces the virtual clock: at least x real seconds per emulated second (default ${DEFAULT_TIME_SCALE}: a 7-minute bootstrap takes 4.2 s; 0: no pacing)
  --state-dir <dir>      keep S3, DynamoDB and clusters in <dir> and reuse them (default: a fresh temporary directory)
  --machine <name>       statemachines/<name>.asl.yml to run (default run-job)
  --simulate-steps       simulate Spark steps even when .venv has pyspark
  --abort-after <state>  stop the execution (ABORTED) once it has entered <state>, e.g. RunSparkStep; the
                         execution's end goes to cleanup-execution as on AWS (run, upload, demo)
  --execution-timeout <s>  the execution's TimeoutSeconds (real seconds) instead of the definition's
  --json                 print exactly one JSON summary object on stdout (run, upload, demo, pools, batch, simulate, reap)
  --port <n>             emulator port (emulator; default: a free port)
  --concurrency <n>      batch: run-job executions open at once (default config/batch.json maxConcurrency)
  --profile <file>       simulate: the day's job mix (default ${DEFAULT_PROFILE})
  --history <file>       simulate: replay a runs-table export (JSON lines of run records) instead of a profile
  --what-if <file>       simulate: changes to config/pools.json and rules.json to try (see examples/planner/)
  --seed <n>             simulate: random seed (default 1); the same seed gives the same figures
  --out <dir>            simulate: where the JSON and the report go (default ${DEFAULT_OUT_DIR})
  --verbose              show the Lambdas' logs

Exit status: 0 the execution succeeded, 1 it failed or timed out, 2 bad usage or input.`;

/** Local: bad usage is the CLI's own concern (exit 2 with the usage text), never a state machine's. */
class UsageError extends Error {}

/** node:util parseArgs declares the options (strict: an unknown one is an error); zod checks their values. */
const OPTIONS = {
  faults: { type: 'string' },
  'time-scale': { type: 'string' },
  'state-dir': { type: 'string' },
  machine: { type: 'string' },
  port: { type: 'string' },
  events: { type: 'string' },
  concurrency: { type: 'string' },
  profile: { type: 'string' },
  history: { type: 'string' },
  'what-if': { type: 'string' },
  seed: { type: 'string' },
  out: { type: 'string' },
  json: { type: 'boolean' },
  recommend: { type: 'boolean' },
  'simulate-steps': { type: 'boolean' },
  verbose: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  date: { type: 'string' },
  'abort-after': { type: 'string' },
  'execution-timeout': { type: 'string' },
  'dry-run': { type: 'boolean' },
} as const;

/** A decimal option value within [min, max]. */
const numeric = (pattern: RegExp, check: z.ZodNumber, fix: string) => z.string().regex(pattern, fix).transform(Number).pipe(check);
const integerOption = (min: number, max: number) => numeric(/^\d+$/, between(min, max, { integer: true }), `must be an integer from ${min} to ${max}`);

const isFile = (path: string) => existsSync(path) && statSync(path).isFile();

const FlagsSchema = z.strictObject({
  faults: z
    .string()
    .refine((path) => existsSync(path) && statSync(path).isFile(), { error: (issue) => `no such file: ${String(issue.input)}` })
    .optional(),
  'time-scale': numeric(/^(\d+\.?\d*|\.\d+)$/, z.number().nonnegative('must be a number ≥ 0'), 'must be a number ≥ 0').optional(),
  'state-dir': z.string().min(1, 'must name a directory').optional(),
  machine: matching(/^[a-z0-9-]+$/, 'must be a state machine name: statemachines/<name>.asl.yml').default('run-job'),
  port: integerOption(0, 65535).optional(),
  events: integerOption(1, 10_000_000).default(2000),
  concurrency: integerOption(1, MAX_BATCH_CONCURRENCY).optional(),
  profile: z
    .string()
    .refine(isFile, { error: (issue) => `no such file: ${String(issue.input)}` })
    .default(DEFAULT_PROFILE),
  history: z
    .string()
    .refine(isFile, { error: (issue) => `no such file: ${String(issue.input)}` })
    .optional(),
  'what-if': z
    .string()
    .refine(isFile, { error: (issue) => `no such file: ${String(issue.input)}` })
    .optional(),
  seed: integerOption(0, 2 ** 32 - 1).default(1),
  out: z.string().min(1, 'must name a directory').default(DEFAULT_OUT_DIR),
  json: z.boolean().default(false),
  recommend: z.boolean().default(false),
  'simulate-steps': z.boolean().default(false),
  verbose: z.boolean().default(false),
  help: z.boolean().default(false),
  date: matching(/^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/, 'must be a date YYYY-MM-DD').optional(),
  'abort-after': matching(/^[A-Za-z][A-Za-z0-9]*$/, 'must be a state name of the state machine, e.g. RunSparkStep').optional(),
  'execution-timeout': numeric(/^(\d+\.?\d*|\.\d+)$/, z.number().positive('must be a positive number'), 'must be a number of seconds').optional(),
  'dry-run': z.boolean().default(false),
});
type Flags = z.output<typeof FlagsSchema>;

function parseCommandLine(argv: string[]): { command: string; positional: string[]; flags: Flags } {
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; options: typeof OPTIONS; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    const { code, message } = error as { code?: string; message: string };
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(`unknown option ${/'([^']+)'/.exec(message)?.[1] ?? message}`);
    if (code?.startsWith('ERR_PARSE_ARGS_')) throw new UsageError(message.replace(/\n/g, ' '));
    throw error;
  }
  const flags = parseOrFail(FlagsSchema, parsed.values, '(options)', ({ field, message }) => {
    throw new UsageError(`--${field}: ${message}`);
  });
  const [command = 'help', ...positional] = parsed.positionals;
  return { command: flags.help ? 'help' : command, positional, flags };
}

function existingFile(path: string, what: string): string {
  if (!existsSync(path) || !statSync(path).isFile()) throw new UsageError(`${what}: no such file: ${path}`);
  return path;
}

function readInput(path: string): unknown {
  existingFile(path, 'input');
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new UsageError(`input ${path} is not valid JSON: ${(error as Error).message}`);
  }
}

function runtimeOptions(flags: Flags): LocalRuntimeOptions {
  return { faults: flags.faults, timeScale: flags['time-scale'], stateDir: flags['state-dir'], simulateSteps: flags['simulate-steps'], port: flags.port };
}

/** Human output goes to stderr with --json, so stdout carries the one JSON object only. */
function printer(flags: Flags): (line: string) => void {
  return flags.json ? (line) => process.stderr.write(`${line}\n`) : (line) => process.stdout.write(`${line}\n`);
}

function quietLambdas(flags: Flags): void {
  // Powertools writes the Lambdas' logs to stdout; locally they drown the timeline unless asked for.
  process.env.POWERTOOLS_LOG_LEVEL ??= flags.json ? 'SILENT' : flags.verbose ? 'INFO' : 'WARN';
  if (flags.json && process.env.POWERTOOLS_LOG_LEVEL !== 'SILENT' && !flags.verbose) process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;

function timelineLine(entry: TimelineEntry): string {
  const name = entry.retry > 0 ? `${entry.state} (retry ${entry.retry})` : entry.state;
  const outcome = entry.outcome === 'succeeded' ? '' : `${entry.outcome}${entry.error ? `: ${entry.error}` : ''}`;
  return `  ${name.padEnd(28)} ${String(entry.attempt ?? '-').padStart(7)}  ${seconds(entry.durationMs).padStart(9)}  ${(entry.clusterId ?? '-').padEnd(16)}  ${outcome}`;
}

async function execute(runtime: LocalRuntime, input: unknown, flags: Flags, print: (line: string) => void): Promise<RunSummary> {
  print(`${flags.machine}: time scale ${runtime.timeScale} (an emulated minute takes ${seconds(60_000 * runtime.timeScale)}), state in ${runtime.stateDir}`);
  print(`  ${'state'.padEnd(28)} ${'attempt'.padStart(7)}  ${'duration'.padStart(9)}  ${'cluster'.padEnd(16)}  outcome`);
  const summary = await runtime.run(input, {
    machine: flags.machine,
    onTimelineEntry: (entry) => print(timelineLine(entry)),
    abortAfter: flags['abort-after'],
    executionTimeoutSeconds: flags['execution-timeout'],
  });
  print('');
  const what = `${summary.transitions} billed transitions, ${summary.attempts} attempt(s), ${summary.clustersCreated} cluster(s) created, ${summary.clustersRunningAtEnd} running at the end`;
  print(`${summary.status} in ${seconds(summary.durationMs)}: ${what}`);
  if (summary.error) print(`  error: ${summary.error}\n  cause: ${readableCause(summary.cause)}`);
  for (const delivery of summary.ruleDeliveries) {
    const did = delivery.error ?? describeDelivery(delivery.result);
    print(`  EventBridge "Execution Status Change" (${summary.status}) → ${delivery.function}: ${did}`);
  }
  for (const step of summary.steps) {
    const how =
      step.executor === 'spark'
        ? 'real spark-submit (local[2])'
        : step.executor === 'simulated'
          ? 'SIMULATED (no pyspark in .venv, or --simulate-steps)'
          : 'never started';
    print(`  step ${step.stepId} on ${step.clusterId}: ${step.state}, ${how}`);
  }
  for (const run of runtime.stats().jobRuns) {
    const how =
      run.executor === 'spark'
        ? 'real spark-submit (local[2])'
        : run.executor === 'simulated'
          ? 'SIMULATED (not a .py entry point, no pyspark in .venv, or --simulate-steps)'
          : 'never started';
    print(`  EMR Serverless job run ${run.jobRunId} on application ${run.applicationId}: ${run.state}, ${how}`);
  }
  // The record's times are the virtual clock's, already emulated: nothing to convert.
  for (const line of formatRunCost((summary.output as { record?: RunRecord } | undefined)?.record)) print(line);
  return summary;
}

function jsonSummary(summary: RunSummary): string {
  const { status, error, cause, output, transitions, attempts, clustersCreated, clustersRunningAtEnd, ruleDeliveries } = summary;
  const steps = summary.steps.map(({ clusterId, state, executor }) => ({ clusterId, state, executor }));
  const record = (output as { record?: RunRecord } | undefined)?.record;
  const cost = record ? { costUsd: record.costUsd, queueWaitSeconds: record.queueWaitSeconds, breakdown: record.cost } : null;
  return JSON.stringify({ status, error, cause, output, transitions, attempts, clustersCreated, clustersRunningAtEnd, steps, cost, ruleDeliveries }, null, 2);
}

function describeDelivery(result: unknown): string {
  const { terminated, cancelledJobRuns = [] } = (result ?? {}) as { terminated?: Array<{ clusterId: string }>; cancelledJobRuns?: string[] };
  if (!terminated) return JSON.stringify(result);
  const ended = [...terminated.map((action) => `terminated ${action.clusterId}`), ...cancelledJobRuns.map((id) => `cancelled EMR Serverless job run ${id}`)];
  return ended.length === 0 ? 'nothing left running' : ended.join(', ');
}

async function reap(flags: Flags, print: (line: string) => void): Promise<number> {
  return withRuntime(flags, async (runtime) => {
    // No other process runs executions on this state: no grace period is needed.
    const plan = (await runtime.invoke('reapClusters', { dryRun: flags['dry-run'], graceSeconds: 0 })) as {
      terminate: Array<{ clusterId: string; reason: string }>;
      keep: Array<{ clusterId: string; reason: string }>;
    };
    if (flags.json) process.stdout.write(`${JSON.stringify({ dryRun: flags['dry-run'], ...plan }, null, 2)}\n`);
    const verb = flags['dry-run'] ? 'would terminate' : 'terminated';
    for (const action of plan.terminate) print(`${verb} ${action.clusterId}: ${action.reason}`);
    for (const action of plan.keep) print(`kept ${action.clusterId}: ${action.reason}`);
    print(`${plan.terminate.length} cluster(s) ${verb}, ${plan.keep.length} kept${flags['dry-run'] ? ' (dry run: nothing was changed)' : ''}`);
    return 0;
  });
}

/** The local directory of an s3:// URI in the runtime's state (the emulator keeps objects as plain files). */
function localPath(runtime: LocalRuntime, uri: string): string {
  const location = parseS3Uri(uri);
  const path = location ? join(runtime.stateDir, 's3', location.bucket, location.key) : runtime.stateDir;
  return relative(process.cwd(), path) || '.';
}

function printWhereOutputIs(runtime: LocalRuntime, summary: RunSummary, print: (line: string) => void): void {
  if (!runtime.keepsState) {
    print('  (the temporary state directory is removed on exit: pass --state-dir <dir> to keep the output and logs)');
    return;
  }
  const request = (summary.output as any)?.request;
  if (request?.output?.uri) print(`  output: ${request.output.uri}  →  ${localPath(runtime, request.output.uri)}`);
  const logs = runtime.buckets.LogsBucket;
  for (const step of summary.steps) print(`  step logs: ${localPath(runtime, s3Location(logs, `emr/${step.clusterId}/steps/${step.stepId}/`).uri)}`);
}

async function uploadAndRun(runtime: LocalRuntime, file: string, uri: string, flags: Flags, print: (line: string) => void): Promise<RunSummary | null> {
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

async function withRuntime<T>(flags: Flags, body: (runtime: LocalRuntime) => Promise<T>): Promise<T> {
  const runtime = await startLocalRuntime(runtimeOptions(flags));
  try {
    return await body(runtime);
  } finally {
    await runtime.stop();
  }
}

function finish(summary: RunSummary | null, flags: Flags): number {
  if (summary && flags.json) process.stdout.write(`${jsonSummary(summary)}\n`);
  return summary === null ? 2 : summary.status === 'SUCCEEDED' ? 0 : 1;
}

async function demo(flags: Flags, print: (line: string) => void): Promise<number> {
  return withRuntime(flags, async (runtime) => {
    const date = flags.date ?? new Date().toISOString().slice(0, 10);
    const dir = join(runtime.stateDir, 'generated');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `events-${date}.json`);
    const python = existsSync(join(PROJECT_DIR, '.venv/bin/python')) ? join(PROJECT_DIR, '.venv/bin/python') : 'python3';
    const generated = spawnSync(python, [join(PROJECT_DIR, 'spark/generate_events.py'), '--events', String(flags.events), '--date', date, '--out', file], {
      encoding: 'utf8',
    });
    if (generated.status !== 0) throw new Error(`spark/generate_events.py failed: ${generated.stderr || generated.error?.message}`);
    print(`generated ${flags.events} events for ${date} with spark/generate_events.py`);
    const partition = s3Location(runtime.buckets.RawBucket, `events/dt=${date}/`).uri;
    // The data, then the partition's marker: the job's s3Trigger (config/jobs.json) starts one run on the marker.
    await runtime.upload(file, `${partition}part-0001.json`);
    print(`uploaded ${file} → ${partition}part-0001.json  (no run yet: the partition is complete when its _SUCCESS lands)`);
    const marker = join(dir, '_SUCCESS');
    writeFileSync(marker, '');
    const summary = await uploadAndRun(runtime, marker, `${partition}_SUCCESS`, flags, print);
    if (summary) printWhereOutputIs(runtime, summary, print);
    return finish(summary, flags);
  });
}

async function emulator(flags: Flags): Promise<number> {
  // The AWS CLI's waiters poll every 30 s: below this scale `aws emr wait cluster-running` can miss a short RUNNING span.
  const timeScale = flags['time-scale'] ?? CLI_WAITER_TIME_SCALE;
  // Executions run in the background while it serves: started with `aws stepfunctions start-execution`, or by
  // serverless.yml's EventBridge rules on objects written through S3 (a partition's _SUCCESS marker).
  const runtime = await startLocalRuntime({ ...runtimeOptions(flags), timeScale, objectCreatedRules: true });
  const exports = Object.entries(runtime.env).map(([name, value]) => `export ${name}=${value}`);
  const waiters =
    timeScale >= CLI_WAITER_TIME_SCALE
      ? `# time scale ${timeScale}: \`aws emr wait\` (polls every 30 s) sees every cluster and step state`
      : `# time scale ${timeScale}: \`aws emr wait cluster-running\` (polls every 30 s) can miss a cluster that is RUNNING only briefly; pass --time-scale ${CLI_WAITER_TIME_SCALE} for the CLI's waiters`;
  process.stdout.write(
    `# emrflow emulator on ${runtime.endpoint}, state in ${runtime.stateDir}\n${waiters}\n# paste into a shell, then e.g.: aws emr list-clusters; aws s3 ls; aws stepfunctions list-executions --state-machine-arn <arn>\n${exports.join('\n')}\n`,
  );
  const machines = Object.values(runtime.config.stateMachineFiles).map((name) => `${stateMachineArnPrefix(runtime.config)}${name}`);
  process.stdout.write(
    `# buckets: ${Object.values(runtime.buckets).join(', ')}\n# tables: ${Object.values(runtime.tables).join(', ')}\n# state machines: ${machines.join(', ')}\n# Ctrl-C stops it.\n`,
  );
  await new Promise<void>((resolveStop) => {
    process.once('SIGINT', resolveStop);
    process.once('SIGTERM', resolveStop);
  });
  await runtime.stop();
  return 0;
}

async function pools(flags: Flags, print: (line: string) => void): Promise<number> {
  return withRuntime(flags, async (runtime) => {
    const environment = Object.values(runtime.config.functions)[0]?.environment ?? {};
    const tables = { clusters: environment.CLUSTER_REGISTRY_TABLE, queue: environment.ADMISSION_QUEUE_TABLE, runs: environment.RUNS_TABLE };
    if (!tables.clusters || !tables.queue || !tables.runs)
      throw new Error('serverless.yml gives the functions no CLUSTER_REGISTRY_TABLE / ADMISSION_QUEUE_TABLE / RUNS_TABLE');
    const prices = loadPrices();
    const reports = await poolReports(dynamoClient(), tables, loadPools(prices).pools, prices);
    if (flags.json) process.stdout.write(`${JSON.stringify({ pools: reports }, null, 2)}\n`);
    else {
      if (!runtime.keepsState) print('(a fresh temporary state directory has an empty registry: pass --state-dir <dir> of a runtime that ran jobs)');
      for (const line of formatPoolReports(reports)) print(line);
    }
    return 0;
  });
}

export async function main(argv: string[]): Promise<number> {
  const { command, positional, flags } = parseCommandLine(argv);
  const print = printer(flags);
  quietLambdas(flags);
  switch (command) {
    case 'run': {
      if (positional.length !== 1) throw new UsageError('run takes exactly one input file: emrflow run <input.json>');
      const input = readInput(positional[0]);
      return withRuntime(flags, async (runtime) => {
        const summary = await execute(runtime, input, flags, print);
        printWhereOutputIs(runtime, summary, print);
        return finish(summary, flags);
      });
    }
    case 'upload': {
      if (positional.length !== 2) throw new UsageError('upload takes a file and an S3 URI: emrflow upload <file> s3://<bucket>/<key>');
      const [file, uri] = positional;
      existingFile(file, 'upload');
      const location = parseS3Uri(uri);
      if (!location?.key || location.key.endsWith('/')) throw new UsageError(`upload: "${uri}" is not s3://<bucket>/<key>`);
      return withRuntime(flags, async (runtime) => {
        const { bucket } = location;
        if (!Object.values(runtime.buckets).includes(bucket)) {
          throw new UsageError(`upload: no local bucket "${bucket}" (serverless.yml declares ${Object.values(runtime.buckets).join(', ')})`);
        }
        const summary = await uploadAndRun(runtime, file, uri, flags, print);
        if (summary) printWhereOutputIs(runtime, summary, print);
        return finish(summary, flags);
      });
    }
    case 'demo':
      return demo(flags, print);
    case 'reap':
      if (positional.length !== 0) throw new UsageError('reap takes no arguments: emrflow reap [--dry-run] [--state-dir d]');
      return reap(flags, print);
    case 'emulator':
      return emulator(flags);
    case 'pools':
      if (positional.length !== 0) throw new UsageError('pools takes no arguments: emrflow pools [--json] [--state-dir <dir>]');
      return pools(flags, print);
    case 'batch': {
      if (positional.length !== 1) throw new UsageError('batch takes exactly one manifest: emrflow batch <manifest.jsonl>');
      const manifest = existingFile(positional[0], 'batch');
      return withRuntime(flags, async (runtime) => {
        const { report } = await runBatch(runtime, manifest, { concurrency: flags.concurrency, liveEveryMs: 1000, print });
        if (flags.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
        else for (const line of formatBatchReport(report)) print(line);
        return report.status === 'SUCCEEDED' ? 0 : 1;
      });
    }
    case 'simulate':
      if (positional.length > 0)
        throw new UsageError('simulate takes no arguments: emrflow simulate [--profile f] [--history f] [--what-if f] [--seed n] [--out dir] [--json]');
      if (flags.recommend) return recommendCommand({ profile: flags.profile, history: flags.history, seed: flags.seed, out: flags.out }, print);
      return simulateCommand(
        { profile: flags.profile, history: flags.history, whatIf: flags['what-if'], seed: flags.seed, out: flags.out, json: flags.json },
        print,
      );
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return 0;
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

/**
 * How a failed command ends: bad usage or an input refused before any execution starts (a bad option, a missing
 * or non-JSON input, an invalid config, an input StartExecution would refuse, such as one over 256 KiB) exits 2,
 * anything else 1. With --json, stdout still carries exactly one object, `{ status: "REFUSED" | "ERROR", error, cause }`.
 */
export function reportFailure(
  error: unknown,
  argv: readonly string[],
  write: { stdout(text: string): unknown; stderr(text: string): unknown } = {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
  },
): number {
  const { name = 'Error', message = String(error) } = Object(error) as Partial<Error>;
  const usage = error instanceof UsageError;
  // A bad config, or an input StartExecution itself would refuse (ValidationException): bad input, exit 2.
  const refused = usage || [InvalidConfigError.errorName, 'ValidationException'].includes(name);
  write.stderr(usage ? `emrflow: ${message}\n\n${USAGE}\n` : `emrflow: ${refused ? '' : 'error: '}${message}\n`);
  if (argv.includes('--json'))
    write.stdout(`${JSON.stringify({ status: refused ? 'REFUSED' : 'ERROR', error: usage ? 'Usage.Invalid' : name, cause: message }, null, 2)}\n`);
  return refused ? 2 : 1;
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  main(argv).then(
    (code) => process.exit(code),
    (error) => process.exit(reportFailure(error, argv)),
  );
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
