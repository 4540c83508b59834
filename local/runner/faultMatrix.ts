/**
 * The fault matrix (issue 11): each row runs run-job once on a fresh local runtime with one fault, then
 * counts what is left behind: clusters still running (after cleanup-execution, as on AWS), pool leases and
 * queue entries in the registry tables, run records. `npm run faults` prints it; the jest test asserts it.
 *
 * Jobs that fit the shared pool are pooled by default (config/rules.json `use-shared-pool`). Rows whose fault
 * needs a cluster of the job's own (bootstrap, Spot at BOOTSTRAPPING, no Spot at launch, CreateCluster's
 * polling) run `dedicated`: PlaceJob is given config/rules.json without its usePool rules, as
 * run-job.scenarios.test.ts mocks it. `pool` rows run as shipped, on a pool cluster the dispatcher launches, with
 * small jobs kept on the pool (./poolRules.ts; shipped, a cold pool sends them to EMR Serverless).
 * The Spot rows also size the job as a 600 GiB partition (sizedAsPartitionOf): the 3-event input alone gets the
 * 2-unit minimum, a dedicated cluster with no Spot task fleet.
 *
 * "Clusters left running" counts the run's dedicated clusters not ended, plus pool clusters not ended that
 * still hold a lease or run a PENDING/RUNNING step. A pool cluster idle in WAITING with no lease is the pool's
 * normal state (it ends at the pool's idle timeout), so it is not counted; the table shows it apart.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { GetCrawlerCommand, GlueClient, StartCrawlerCommand } from '@aws-sdk/client-glue';
import { loadPools, usePools } from '../../lib/config/pools';
import { loadPrices } from '../../lib/config/prices';
import { loadRules, useRules } from '../../lib/config/rules';
import { CLUSTER_ENDED_STATES, isDedicatedClusterName, parsePoolClusterName } from '../../lib/contract';
import { FaultsSchema, type Faults } from '../emulator/faults';
import { writeDayEvents } from './dayEvents';
import { startLocalRuntime, type LocalRuntime, type RunOptions, type RunSummary } from './index';
import { smallJobsStayOnThePool } from './poolRules';
import {
  spot,
  failing,
  throttledForAWhile,
  throttledForTries,
  throttledForCalls,
  dedicatedIntercepts,
  BIG_PARTITION_BYTES,
  sizedAsPartitionOf,
  bigPartition,
  longIdlePolicy,
  hangingAfterStart,
  withSpotAtMinimum,
} from './faultIntercepts';

export { BIG_PARTITION_BYTES, sizedAsPartitionOf };

/** What cleanup-execution answers, as far as the matrix counts it. */
interface CleanupResult {
  terminated?: unknown[];
  pools?: { leases?: unknown[]; entries?: unknown[] };
  cancelledSteps?: unknown[];
}

type FaultSpec = { emr?: Partial<Faults['emr']>; glue?: Partial<Faults['glue']> };

export interface FaultRow {
  fault: string;
  /** `dedicated` (default): the pool rule is off for this row; `pool`: jobs are pooled as shipped. */
  placement?: 'dedicated' | 'pool';
  /** Instead of TIME_SCALE, for a row whose fault lives in real time (an SDK's own retry backoff). */
  timeScale?: number;
  faults?: FaultSpec;
  /** Skips the crawl (the partition is registered first), so the row exercises what follows. */
  catalogued?: boolean;
  /** No data is uploaded: the input is missing. */
  noInput?: boolean;
  run?: (runtime: LocalRuntime) => Pick<RunOptions, 'abortAfter' | 'executionTimeoutSeconds' | 'intercept'>;
  expected: { status: RunSummary['status']; error: string | null; attempts?: number; runRecords: number };
}

export interface FaultResult {
  row: FaultRow;
  status: RunSummary['status'];
  error: string | null;
  attempts: number;
  clustersCreated: number;
  clustersRunning: number;
  /** Pool clusters alive but idle (no lease, no step): the pool's state between jobs, not a leak. */
  poolClustersIdle: number;
  /** null: this deployment has no such table (the pool registry lands with the job manager). */
  leases: number | null;
  queueEntries: number | null;
  runRecords: number;
  /** Task retries (Retry fields) the execution made: the evidence that a transient fault was met and absorbed. */
  retries: number;
  cleanup: string[];
  durationMs: number;
}

export const TIME_SCALE = 0.001;
/** The emulator's dice: the 30% throttling rows throttle the same calls on every run. */
const SEED = 11;
const RUN_DATE = '2026-11-26';
const MAX_ATTEMPTS = 3;
export const FAULT_ROWS: FaultRow[] = [
  { fault: 'none (happy path)', catalogued: true, expected: { status: 'SUCCEEDED', error: null, attempts: 1, runRecords: 1 } },
  {
    // Only the task fleet buys Spot (the core fleet is On-Demand), so the cluster comes up with less capacity
    // and the step runs on it: nothing to retry. Later attempts never happen, so their faults never fire.
    fault: 'Spot interruption at BOOTSTRAPPING, attempt 1',
    catalogued: true,
    faults: spot('BOOTSTRAPPING', 1),
    run: bigPartition,
    expected: { status: 'SUCCEEDED', error: null, attempts: 1, runRecords: 1 },
  },
  // Each retry asks for more On-Demand; the last attempt (config/rules.json) buys no Spot at all, so an
  // interruption on every attempt that has Spot still ends in success.
  ...Array.from({ length: MAX_ATTEMPTS }, (_, i): FaultRow => {
    const attempts = i + 1;
    return {
      fault: `Spot interruption at STEP_RUNNING, attempt${attempts > 1 ? `s 1-${attempts}` : ' 1'}`,
      catalogued: true,
      faults: spot('STEP_RUNNING', attempts),
      run: bigPartition,
      expected: { status: 'SUCCEEDED', error: null, attempts: Math.min(attempts + 1, MAX_ATTEMPTS), runRecords: 1 },
    };
  }),
  {
    fault: 'no Spot capacity at launch',
    catalogued: true,
    faults: { emr: { spotCapacityUnavailable: [{ attempt: 1 }] } },
    run: bigPartition,
    expected: { status: 'SUCCEEDED', error: null, attempts: 1, runRecords: 1 },
  },
  {
    fault: 'bootstrap failure',
    catalogued: true,
    faults: { emr: { bootstrapFailure: [{ attempt: 1 }] } },
    expected: { status: 'FAILED', error: 'Emr.ClusterFailed', runRecords: 1 },
  },
  {
    fault: 'step failure',
    catalogued: true,
    faults: { emr: { stepFailure: [{ attempt: 1 }] } },
    expected: { status: 'FAILED', error: 'Emr.StepFailed', runRecords: 1 },
  },
  { fault: 'crawler already running', faults: { glue: { crawlerAlreadyRunning: true } }, expected: { status: 'SUCCEEDED', error: null, runRecords: 1 } },
  { fault: 'crawler failure', faults: { glue: { crawlerFails: true } }, expected: { status: 'FAILED', error: 'Glue.CrawlFailed', runRecords: 1 } },
  ...['DescribeCluster', 'AddJobFlowSteps'].map(
    (operation): FaultRow => ({
      fault: `${operation} throttled 30%`,
      catalogued: true,
      faults: { emr: { throttle: { [operation]: 0.3 } } },
      expected: { status: 'SUCCEEDED', error: null, runRecords: 1 },
    }),
  ),
  {
    fault: 'DescribeCluster throttled 100% for 10 min',
    catalogued: true,
    run: (runtime) => ({ intercept: throttledForAWhile(runtime, 'CreateCluster', 'DescribeCluster', 600) }),
    expected: { status: 'SUCCEEDED', error: null, runRecords: 1 },
  },
  {
    fault: 'AddJobFlowSteps throttled 100% for 3 calls',
    catalogued: true,
    run: (runtime) => ({ intercept: throttledForTries(runtime, 'RunSparkStep', 'AddJobFlowSteps', 3) }),
    expected: { status: 'SUCCEEDED', error: null, runRecords: 1 },
  },
  {
    fault: 'Lambda error, once (SizeJob)',
    catalogued: true,
    run: () => ({ intercept: { SizeJob: failing('Lambda.ServiceException', 'Lambda is unavailable', 1) } }),
    expected: { status: 'SUCCEEDED', error: null, runRecords: 1 },
  },
  {
    fault: 'Lambda error, always (ClassifyFailure after a step failure)',
    catalogued: true,
    faults: { emr: { stepFailure: [{ attempt: 1 }] } },
    run: () => ({ intercept: { ClassifyFailure: failing('Lambda.ServiceException', 'Lambda is unavailable') } }),
    expected: { status: 'FAILED', error: 'Lambda.ServiceException', runRecords: 1 },
  },
  {
    fault: "Lambda early timeout, once (middy's, SizeJob)",
    catalogued: true,
    run: () => ({ intercept: { SizeJob: failing('Function.Timeout', 'size-job: gave up before the Lambda deadline', 1) } }),
    expected: { status: 'SUCCEEDED', error: null, runRecords: 1 },
  },
  {
    fault: 'Lambda timeout (ClassifyFailure after a step failure)',
    catalogued: true,
    faults: { emr: { stepFailure: [{ attempt: 1 }] } },
    run: () => ({ intercept: { ClassifyFailure: failing('Sandbox.Timedout', 'Task timed out after 30.00 seconds') } }),
    expected: { status: 'FAILED', error: 'Sandbox.Timedout', runRecords: 1 },
  },
  {
    fault: 'execution aborted during RunSparkStep',
    catalogued: true,
    run: () => ({ abortAfter: 'RunSparkStep' }),
    expected: { status: 'ABORTED', error: null, runRecords: 1 },
  },
  {
    fault: 'execution timed out (during RunSparkStep)',
    catalogued: true,
    // A day-long idle policy, so that the cleanup, not the cluster's own backstop, is what ends it.
    run: () => ({ executionTimeoutSeconds: 4, intercept: { ...longIdlePolicy, ...hangingAfterStart('RunSparkStep') } }),
    expected: { status: 'TIMED_OUT', error: 'States.Timeout', runRecords: 1 },
  },
  { fault: 'missing input', noInput: true, expected: { status: 'FAILED', error: 'Input.NotFound', runRecords: 0 } },
  // Pooled: the job parks in the shared pool's queue, the dispatcher launches a pool cluster and grants it a lease.
  { fault: 'pooled: none (happy path)', placement: 'pool', catalogued: true, expected: { status: 'SUCCEEDED', error: null, attempts: 1, runRecords: 1 } },
  {
    // The pool cluster is lost with its primary (examples/faults/pool-cluster-lost.json): a Spot interruption;
    // attempt 2 is pooled again, on a new pool cluster.
    fault: 'pooled: Spot loss of the pool cluster at STEP_RUNNING',
    placement: 'pool',
    catalogued: true,
    faults: { emr: { spotInterruption: [{ attempt: 1, phase: 'STEP_RUNNING', withPrimary: true }] } },
    expected: { status: 'SUCCEEDED', error: null, attempts: 2, runRecords: 1 },
  },
  {
    fault: 'pooled: step failure on a pool cluster',
    placement: 'pool',
    catalogued: true,
    faults: { emr: { stepFailure: [{ attempt: 1 }] } },
    expected: { status: 'FAILED', error: 'Emr.StepFailed', runRecords: 1 },
  },
  {
    fault: 'pooled: AddJobFlowSteps throttled 100% for 3 calls',
    placement: 'pool',
    catalogued: true,
    // The dispatcher submits the step when it grants the lease (batched submission): its SDK client backs the
    // throttled calls off in real time and a still-throttled batch is handed back to the next dispatch, so
    // RunPooledStep's Retry is not needed (a slower clock keeps the waits' heartbeats longer than that backoff).
    timeScale: 0.01,
    run: (runtime) => ({ intercept: throttledForCalls(runtime, 'AcquireCapacity', 'AddJobFlowSteps', 3) }),
    expected: { status: 'SUCCEEDED', error: null, runRecords: 1 },
  },
  // Stopped while parked in the queue (the pool cluster is still starting): cleanup-execution withdraws the entry.
  {
    fault: 'pooled: execution aborted while parked (AcquireCapacity)',
    placement: 'pool',
    catalogued: true,
    run: () => ({ abortAfter: 'AcquireCapacity' }),
    expected: { status: 'ABORTED', error: null, runRecords: 1 },
  },
  // Stopped with a lease and a running step: cleanup-execution cancels the step and releases the lease.
  {
    fault: 'pooled: execution aborted during RunPooledStep',
    placement: 'pool',
    catalogued: true,
    run: () => ({ abortAfter: 'RunPooledStep' }),
    expected: { status: 'ABORTED', error: null, runRecords: 1 },
  },
];

export async function runFaultRow(row: FaultRow, eventsFile: string, markerFile: string): Promise<FaultResult> {
  const started = Date.now();
  const faults = FaultsSchema.parse(row.faults ?? {});
  const runtime = await startLocalRuntime({ timeScale: row.timeScale ?? TIME_SCALE, faults, simulateSteps: true, seed: SEED });
  try {
    const partition = `s3://${runtime.buckets.RawBucket}/events/dt=${RUN_DATE}/`;
    // The day's data, then its _SUCCESS marker: the job's S3 trigger (config/jobs.json s3Trigger).
    if (!row.noInput) await runtime.upload(eventsFile, `${partition}part-0001.json`);
    const input = row.noInput ? { job: 'denormalize-events', date: RUN_DATE } : await runtime.upload(markerFile, `${partition}_SUCCESS`);
    if (row.catalogued && !row.noInput) await crawl(runtime.seeded.crawlers[0]);
    const options = row.run?.(runtime) ?? {};
    const summary = await runtime.run(input, row.placement === 'pool' ? options : { ...options, intercept: dedicatedIntercepts(options.intercept) });
    const dynamo = new DynamoDBClient({});
    const items = async (logicalId: string) => {
      const table = runtime.tables[logicalId];
      return table ? ((await dynamo.send(new ScanCommand({ TableName: table }))).Items ?? []).map((item) => unmarshall(item)) : null;
    };
    const registry = await items('ClusterRegistryTable');
    const queue = await items('AdmissionQueueTable');
    const leased = new Set((registry ?? []).filter((item) => Object.keys(item.leases ?? {}).length > 0).map((item) => item.clusterId as string));
    const stats = runtime.stats();
    const stepping = new Set(stats.steps.filter((step) => step.state === 'PENDING' || step.state === 'RUNNING').map((step) => step.clusterId));
    const alive = stats.clusters.filter((cluster) => !CLUSTER_ENDED_STATES.has(cluster.state));
    const dedicatedAlive = alive.filter((cluster) => isDedicatedClusterName(cluster.name));
    const poolAlive = alive.filter((cluster) => parsePoolClusterName(cluster.name) !== null);
    const poolBusy = poolAlive.filter((cluster) => leased.has(cluster.clusterId) || stepping.has(cluster.clusterId));
    return {
      row,
      status: summary.status,
      error: summary.error,
      attempts: summary.attempts,
      clustersCreated: summary.clustersCreated,
      clustersRunning: dedicatedAlive.length + poolBusy.length,
      poolClustersIdle: poolAlive.length - poolBusy.length,
      leases: registry === null ? null : registry.reduce((total, item) => total + Object.keys(item.leases ?? {}).length, 0),
      queueEntries: queue === null ? null : queue.length,
      runRecords: (await items('RunsTable'))?.length ?? 0,
      retries: summary.timeline.filter((entry) => entry.retry > 0).length,
      cleanup: summary.ruleDeliveries.map((delivery) => {
        if (delivery.error) return delivery.error;
        const result = delivery.result as CleanupResult | undefined;
        return `${delivery.function}: ${(result?.terminated ?? []).length} terminated, ${(result?.pools?.leases ?? []).length} leases released, ${(result?.pools?.entries ?? []).length} queue entries withdrawn, ${(result?.cancelledSteps ?? []).length} steps cancelled`;
      }),
      durationMs: Date.now() - started,
    };
  } finally {
    await runtime.stop();
  }
}

/** Runs every row, one fresh runtime each (a fault fires once per runtime), one after the other. */
export async function runFaultMatrix(rows: FaultRow[] = FAULT_ROWS, onResult?: (result: FaultResult) => void): Promise<FaultResult[]> {
  // The pooled Spot-loss rows need a Spot node on an idle-sized pool cluster (set before any handler loads its config).
  usePools(withSpotAtMinimum(loadPools(loadPrices())));
  // The `pool` rows' faults strike pool clusters: their small job must not go to EMR Serverless on the cold pool.
  useRules(smallJobsStayOnThePool(loadRules()));
  const { eventsFile, cleanup } = writeDayEvents(RUN_DATE, 'emrflow-faults-');
  const markerFile = join(dirname(eventsFile), '_SUCCESS');
  writeFileSync(markerFile, '');
  const results: FaultResult[] = [];
  try {
    for (const row of rows) {
      const result = await runFaultRow(row, eventsFile, markerFile);
      results.push(result);
      onResult?.(result);
    }
  } finally {
    usePools(undefined);
    useRules(undefined);
    cleanup();
  }
  return results;
}

/** Whether a row came out as expected and left nothing behind. */
export function rowPasses(result: FaultResult): boolean {
  const { expected } = result.row;
  return (
    result.status === expected.status &&
    result.error === expected.error &&
    (expected.attempts === undefined || result.attempts === expected.attempts) &&
    result.clustersRunning === 0 &&
    (result.leases ?? 0) === 0 &&
    (result.queueEntries ?? 0) === 0 &&
    result.runRecords === expected.runRecords
  );
}

export function formatMatrix(results: FaultResult[]): string {
  const outcome = (status: string, error: string | null) => (error ? `${status} ${error}` : status);
  const header = [
    'fault',
    'placement',
    'expected',
    'observed',
    'clusters left running',
    'pool clusters idle',
    'leases left',
    'queue entries left',
    'run records',
    'ok',
  ];
  const rows = results.map((r) => [
    r.row.fault,
    r.row.placement ?? 'dedicated',
    outcome(r.row.expected.status, r.row.expected.error),
    outcome(r.status, r.error) + (r.row.expected.attempts !== undefined ? ` (${r.attempts} attempt${r.attempts > 1 ? 's' : ''})` : ''),
    String(r.clustersRunning),
    String(r.poolClustersIdle),
    r.leases === null ? 'n/a' : String(r.leases),
    r.queueEntries === null ? 'n/a' : String(r.queueEntries),
    `${r.runRecords}/${r.row.expected.runRecords}`,
    rowPasses(r) ? 'yes' : 'NO',
  ]);
  const sum = (pick: (r: FaultResult) => number | null) => results.reduce((total, r) => total + (pick(r) ?? 0), 0);
  const total = [
    `total: ${results.length} faults`,
    '',
    '',
    `${results.filter((r) => r.status === r.row.expected.status && r.error === r.row.expected.error).length}/${results.length} as expected`,
    String(sum((r) => r.clustersRunning)),
    String(sum((r) => r.poolClustersIdle)),
    results.every((r) => r.leases === null) ? 'n/a' : String(sum((r) => r.leases)),
    results.every((r) => r.queueEntries === null) ? 'n/a' : String(sum((r) => r.queueEntries)),
    `${sum((r) => r.runRecords)}/${sum((r) => r.row.expected.runRecords)}`,
    `${results.filter(rowPasses).length}/${results.length}`,
  ];
  const all = [header, ...rows, total];
  const widths = header.map((_, i) => Math.max(...all.map((row) => row[i].length)));
  const line = (row: string[]) => `| ${row.map((cell, i) => cell.padEnd(widths[i])).join(' | ')} |`;
  const rule = `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`;
  return [line(header), rule, ...rows.map(line), rule, line(total)].join('\n');
}

/** Runs the crawler on the local runtime's emulator and waits until its crawl has catalogued the partition. */
export async function crawl(name: string): Promise<void> {
  const glue = new GlueClient({});
  await glue.send(new StartCrawlerCommand({ Name: name }));
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const { Crawler } = await glue.send(new GetCrawlerCommand({ Name: name }));
    if (Crawler?.State === 'READY' && Crawler.LastCrawl?.Status === 'SUCCEEDED') return;
  }
}
