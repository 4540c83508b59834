/**
 * `npm run bench:pool`: the pool load (bench/poolLoad.ts) — 200 run-job executions started within one
 * emulated minute against the shipped pool, on the local runtime with SIMULATED Spark steps — as a readable
 * table, then one JSON line with the figures to compare run to run.
 * Usage: npm run bench:pool -- [--jobs N] [--time-scale X] [--faults <file>]
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DEFAULT_JOBS, DEFAULT_TIME_SCALE, mean, percentile, runPoolLoad } from './poolLoad';

function options() {
  const { values } = parseArgs({
    options: { jobs: { type: 'string' }, 'time-scale': { type: 'string' }, faults: { type: 'string' } },
    strict: true,
  });
  const jobs = values.jobs === undefined ? DEFAULT_JOBS : Number(values.jobs);
  if (!Number.isInteger(jobs) || jobs < 1) throw new Error(`--jobs: "${values.jobs}" must be a whole number of jobs, at least 1`);
  const timeScale = values['time-scale'] === undefined ? DEFAULT_TIME_SCALE : Number(values['time-scale']);
  if (!(timeScale > 0)) throw new Error(`--time-scale: "${values['time-scale']}" must be a positive number`);
  if (values.faults !== undefined && !existsSync(values.faults)) throw new Error(`--faults: no such file: ${values.faults}`);
  return { jobs, timeScale, faults: values.faults };
}

const round = (value: number | null, digits = 1) => (value === null ? null : Number(value.toFixed(digits)));

async function main() {
  const { jobs, timeScale, faults } = options();
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  const load = await runPoolLoad({ jobs, timeScale, faults });

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
    transitionsPerJob: round(mean(load.jobs.map((job) => job.transitions)), 2),
    queueWaitSeconds: { p50: round(percentile(waits, 50)), p95: round(percentile(waits, 95)) },
    meanWaitHighSeconds: round(waitOf('high')),
    meanWaitLowSeconds: round(waitOf('low')),
    wallSeconds: round(load.wallSeconds),
  };

  const rows: Array<[string, string]> = [
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
    ['wall time, s', `${figures.wallSeconds} (time scale ${timeScale}: an emulated minute is ${round(60 * timeScale, 2)} s)`],
  ];
  console.log(`pool load: ${jobs} run-job executions on the local runtime; Spark steps SIMULATED${faults ? `; faults from ${faults}` : ''}`);
  for (const [label, value] of rows) console.log(`  ${label.padEnd(56)} ${value}`);
  console.log(`  EMR calls per pooled job (the jobs', the dispatcher's and the step sweep's, all included): ${figures.emrCallsPerJobTotal}`);
  for (const [operation, calls] of Object.entries(emrCallsPerJob)) console.log(`    ${operation.padEnd(54)} ${calls}`);
  if (load.ruleErrors.length > 0)
    console.log(`  handler errors on schedules / EMR events: ${load.ruleErrors.length} (first: ${load.ruleErrors[0].function}: ${load.ruleErrors[0].error})`);
  console.log(JSON.stringify(figures));
  return figures.succeeded === jobs && overbooked === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(`bench:pool: ${(error as Error).message}`);
    process.exit(2);
  },
);
