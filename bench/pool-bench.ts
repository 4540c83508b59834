/**
 * `npm run bench:pool`: the pool load (bench/poolLoad.ts) — 200 run-job executions started within one
 * emulated minute against the shipped pool, on the local runtime with SIMULATED Spark steps — as a readable
 * table, then one JSON line with the figures to compare run to run.
 * Usage: npm run bench:pool -- [--jobs N] [--time-scale X] [--faults <file>] [--what-if <file>]
 *
 * `--what-if <file>`: the pools and rules of a what-if (the format of `emrflow simulate --what-if`, e.g.
 * bench/what-if-deep-queue.json), installed in this process before the Lambdas load: a load too deep for the
 * shipped pool (12 jobs at once) can run on one large enough to start every job within AcquireCapacity's timeout.
 *
 * It measures the pool, so the rules are the shipped ones with small jobs kept on the pool
 * (local/runner/poolRules.ts: small-jobs-to-serverless-when-the-pool-must-grow off, else the burst would run on
 * EMR Serverless); the output's configuration line says so. A what-if applies on top of those rules.
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadPools, usePools } from '../lib/config/pools';
import { loadPrices } from '../lib/config/prices';
import { loadRules, useRules } from '../lib/config/rules';
import { applyWhatIf, describeWhatIf, readWhatIf } from '../local/planner/whatIf';
import { POOL_GROWTH_SERVERLESS_RULE, smallJobsStayOnThePool } from '../local/runner/poolRules';
import { DEFAULT_JOBS, DEFAULT_TIME_SCALE, mean, percentile, runPoolLoad } from './poolLoad';

function options() {
  const { values } = parseArgs({
    options: { jobs: { type: 'string' }, 'time-scale': { type: 'string' }, faults: { type: 'string' }, 'what-if': { type: 'string' } },
    strict: true,
  });
  const jobs = values.jobs === undefined ? DEFAULT_JOBS : Number(values.jobs);
  if (!Number.isInteger(jobs) || jobs < 1) throw new Error(`--jobs: "${values.jobs}" must be a whole number of jobs, at least 1`);
  const timeScale = values['time-scale'] === undefined ? DEFAULT_TIME_SCALE : Number(values['time-scale']);
  if (!(timeScale >= 0) || !Number.isFinite(timeScale))
    throw new Error(`--time-scale: "${values['time-scale']}" must be a number ≥ 0 (real seconds per emulated second; 0: no pacing)`);
  if (values.faults !== undefined && !existsSync(values.faults)) throw new Error(`--faults: no such file: ${values.faults}`);
  if (values['what-if'] !== undefined && !existsSync(values['what-if'])) throw new Error(`--what-if: no such file: ${values['what-if']}`);
  return { jobs, timeScale, faults: values.faults, whatIf: values['what-if'] };
}

/** Installs a what-if's pools and rules for the in-process Lambdas (checked as the planner checks it); says what changed. */
function installWhatIf(file: string): string {
  const whatIf = readWhatIf(file);
  const prices = loadPrices();
  const { pools, rules } = applyWhatIf(file, whatIf, { prices, pools: loadPools(prices), rules: loadRules() });
  usePools(pools);
  useRules(rules);
  return describeWhatIf(file, whatIf);
}

const millis = (values: number[] | undefined) => ({
  p50: round(percentile(values ?? [], 50), 2),
  p95: round(percentile(values ?? [], 95), 2),
  count: values?.length ?? 0,
});

const round = (value: number | null, digits = 1) => (value === null ? null : Number(value.toFixed(digits)));

type PoolLoad = Awaited<ReturnType<typeof runPoolLoad>>;

/** The figures of the JSON line. */
function figuresOf(load: PoolLoad, jobs: number) {
  const pooled = load.jobs.length;
  const waits = load.jobs.map((job) => job.queueWaitSeconds);
  const waitOf = (priority: string) => mean(load.jobs.filter((job) => job.priority === priority).map((job) => job.queueWaitSeconds));
  const emrCallsPerJob = Object.fromEntries(Object.entries(load.emrCalls).map(([operation, calls]) => [operation, round(calls / pooled, 2)]));
  const overbooked = load.violations.filter((violation) => /> capacity/.test(violation.problem)).length;
  const figures = {
    jobs,
    succeeded: load.jobs.filter((job) => job.status === 'SUCCEEDED').length,
    clustersCreated: load.clusters.length,
    poolMaxClusters: load.pool.maxClusters,
    maxClustersAlive: load.maxClustersAlive,
    overbooked,
    leasesAtEnd: load.leasesAtEnd,
    queueAtEnd: load.queueAtEnd,
    runJobFlowCalls: load.emrCalls.RunJobFlow ?? 0,
    emrCallsPerJob,
    emrCallsPerJobTotal: round(Object.values(load.emrCalls).reduce((sum, calls) => sum + calls, 0) / pooled, 2),
    eventsDropped: load.emrEvents.dropped,
    eventsDuplicated: load.emrEvents.duplicated,
    dynamoItemsReadPerJob: load.dynamodb && round(load.dynamodb.itemsRead / jobs, 2),
    dynamoItemsWrittenPerJob: load.dynamodb && round(load.dynamodb.itemsWritten / jobs, 2),
    dispatchMillis: millis(load.invocationMillis.dispatchQueue),
    transitionsPerJob: round(mean(load.jobs.map((job) => job.transitions)), 2),
    queueWaitSeconds: { p50: round(percentile(waits, 50)), p95: round(percentile(waits, 95)) },
    meanWaitHighSeconds: round(waitOf('high')),
    meanWaitLowSeconds: round(waitOf('low')),
    decisionsHash: load.decisionsHash,
    emulatedSeconds: round(load.emulatedSeconds),
    wallSeconds: round(load.wallSeconds),
  };
  return { figures, waitOf, overbooked };
}

async function main() {
  const { jobs, timeScale, faults, whatIf } = options();
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  // Before the Lambdas load (and before a what-if, which applies on top): the pool's burst stays on the pool.
  useRules(smallJobsStayOnThePool(loadRules()));
  const poolRules = `config/rules.json with ${POOL_GROWTH_SERVERLESS_RULE} off (this bench measures the pool)`;
  const configuration = whatIf ? `${installWhatIf(whatIf)}; ${poolRules}` : `config/pools.json as shipped; ${poolRules}`;
  const load = await runPoolLoad({ jobs, timeScale, faults });
  const { figures, waitOf, overbooked } = figuresOf(load, jobs);
  const rows: Array<[string, string]> = [
    ['configuration', configuration],
    ['jobs (succeeded / started)', `${figures.succeeded} / ${jobs}`],
    ['pool', `${load.pool.name}: at most ${load.pool.maxClusters} clusters, ${load.pool.capacityUnits} units and ${load.pool.maxJobsPerCluster} jobs each`],
    ['clusters created / most alive at once', `${figures.clustersCreated} / ${figures.maxClustersAlive}`],
    ['registry writes checked / overbooked / other violations', `${load.registryWrites} / ${overbooked} / ${load.violations.length - overbooked}`],
    ['leases / queue entries at the end', `${figures.leasesAtEnd} / ${figures.queueAtEnd}`],
    ['RunJobFlow calls (launches over the budget)', `${figures.runJobFlowCalls} (${load.launchesOverBudget})`],
    ['transitions per job (mean / max)', `${figures.transitionsPerJob} / ${Math.max(...load.jobs.map((job) => job.transitions))}`],
    ['queue wait p50 / p95, emulated s', `${figures.queueWaitSeconds.p50} / ${figures.queueWaitSeconds.p95}`],
    ['mean queue wait high / normal / low, emulated s', `${figures.meanWaitHighSeconds} / ${round(waitOf('normal'))} / ${figures.meanWaitLowSeconds}`],
    [
      'EMR events delivered / dropped / duplicated (simulated EventBridge)',
      `${load.emrEvents.delivered} / ${load.emrEvents.dropped} / ${load.emrEvents.duplicated}`,
    ],
    [
      'Step Functions API calls (task tokens)',
      Object.entries(load.sfnCalls)
        .map(([operation, calls]) => `${operation} ${calls}`)
        .join(', '),
    ],
    [
      'DynamoDB items read / written per job (what dynalite served)',
      `${figures.dynamoItemsReadPerJob} / ${figures.dynamoItemsWrittenPerJob} (${Object.values(load.dynamodb?.requests ?? {}).reduce((sum, n) => sum + n, 0)} requests)`,
    ],
    [
      'one dispatch (DispatchQueue invocation) p50 / p95, real ms',
      `${figures.dispatchMillis.p50} / ${figures.dispatchMillis.p95} (${figures.dispatchMillis.count} dispatches)`,
    ],
    [
      'AcquireCapacity / ReleaseCapacity (each + a dispatch) p50, real ms',
      `${millis(load.invocationMillis.acquireCapacity).p50} / ${millis(load.invocationMillis.releaseCapacity).p50}`,
    ],
    ['grant sequence (execution → cluster) hash', figures.decisionsHash],
    ['emulated time, s', `${figures.emulatedSeconds} (virtual clock)`],
    ['wall time, s', `${figures.wallSeconds} (${timeScale === 0 ? 'no pacing' : `paced: an emulated minute takes at least ${round(60 * timeScale, 2)} s`})`],
  ];
  console.log(`pool load: ${jobs} run-job executions on the local runtime; Spark steps SIMULATED${faults ? `; faults from ${faults}` : ''}`);
  for (const [label, value] of rows) console.log(`  ${label.padEnd(56)} ${value}`);
  console.log(`  EMR calls per pooled job (the jobs', the dispatcher's and the step sweep's, all included): ${figures.emrCallsPerJobTotal}`);
  for (const [operation, calls] of Object.entries(figures.emrCallsPerJob)) console.log(`    ${operation.padEnd(54)} ${calls}`);
  printDynamoBreakdown(load, jobs);
  if (load.ruleErrors.length > 0)
    console.log(`  handler errors on schedules / EMR events: ${load.ruleErrors.length} (first: ${load.ruleErrors[0].function}: ${load.ruleErrors[0].error})`);
  console.log(JSON.stringify(figures));
  return figures.succeeded === jobs && overbooked === 0 ? 0 : 1;
}

/** Where the DynamoDB items went: per job, by operation and table (index), most first. */
function printDynamoBreakdown(load: PoolLoad, jobs: number): void {
  console.log('  DynamoDB items read / written per job, by operation and table:');
  const entries = Object.entries(load.dynamodb?.itemsBy ?? {}).sort(([, a], [, b]) => b.read + b.written - a.read - a.written);
  for (const [where, items] of entries) console.log(`    ${where.padEnd(54)} ${round(items.read / jobs, 2)} / ${round(items.written / jobs, 2)}`);
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(`bench:pool: ${(error as Error).message}`);
    process.exit(2);
  },
);
