/**
 * The day's figures per strategy, from its meter: cost against the floor, starts, completion, API calls and
 * quotas, pool use, and the notes that say how each strategy was simulated (./simulate runs the strategies).
 */
import {
  EMR_SERVERLESS_QUOTAS,
  SERVERLESS_ACCOUNT_VCPU_QUOTA,
  SERVERLESS_COLD_START_SECONDS,
  SERVERLESS_PREINIT_START_SECONDS,
  ACTIVE_CLUSTER_QUOTA,
} from './constants';
import type { SizedJob } from './decisions';
import { SMALLEST_SPARK_START_SECONDS, SMALLEST_SPARK_UNITS } from './floor';
import type { HybridRun } from './hybridRun';
import { EMR_SERVERLESS_OPERATIONS, type Meter } from './meter';
import { workerFor, type ServerlessApplication } from './serverlessRun';
import type { StrategyFigures, StrategyName } from './simulate';
import type { StateMachineLimits } from './stateMachineLimits';
import type { Placement } from '../../lib/domain/types';

function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]);
}

/** One strategy's figures from its meter; `day` is the number of jobs and the floor's cost. */
export function strategyFigures(
  day: { jobs: number; floorUsd: number },
  name: StrategyName,
  m: Meter,
  notes: string[],
  targets: StrategyFigures['targetShare'] = { pool: 0, dedicated: 1, serverless: 0 },
  jobRuns = 0,
  startsThrottledOut = 0,
): StrategyFigures {
  const api = m.apiFigures();
  const cost = totalCost(m);
  const provisioned = m.provisionedUnitHours + m.poolUnitHours;
  const busy = m.busyUnitHours + m.pooledWorkUnitSeconds / 3600;
  return {
    costUsd: round2(cost),
    costToFloor: round3(cost / day.floorUsd),
    cost: Object.fromEntries(Object.entries(m.cost).map(([k, v]) => [k, round2(v)])),
    launches: m.launches,
    launchShare: round4(m.launches / day.jobs),
    startSeconds: { p50: percentile(m.startSeconds, 50), p95: percentile(m.startSeconds, 95) },
    ...(m.startSeconds.length < m.completed ? { startMeasuredJobs: m.startSeconds.length } : {}),
    ...(m.stepRunningSeconds.length > 0
      ? { stepRunningSeconds: { p50: percentile(m.stepRunningSeconds, 50), p95: percentile(m.stepRunningSeconds, 95) } }
      : {}),
    completion: round4(m.completed / day.jobs),
    ended: { succeeded: m.completed, failed: m.failed },
    failures: { ...m.failures },
    idleShare: provisioned > 0 ? round4(Math.max(0, 1 - busy / provisioned)) : 0,
    slaMisses: m.slaMisses,
    peakApiCallsPerSecond: api.peak,
    quotaExceeded: [...new Set([...Object.keys(api.throttled), ...Object.keys(m.retriedCalls)])].sort(),
    throttledCalls: { ...api.throttled, ...Object.fromEntries(Object.entries(m.retriedCalls).map(([op, n]) => [op, n])) },
    peakActiveClusters: m.peakActive,
    activeClusterQuota: ACTIVE_CLUSTER_QUOTA,
    interruptions: m.interruptions,
    lostInstanceHours: round2(m.lostInstanceHours),
    targetShare: targets,
    ...(jobRuns > 0 ? { serverlessApi: serverlessApiFigures(m, jobRuns, startsThrottledOut) } : {}),
    ...(name === 'emrflow' || name === 'emrflow-hybrid'
      ? {
          pooledStartSeconds: { p50: percentile(m.pooledStartSeconds, 50), p95: percentile(m.pooledStartSeconds, 95), jobs: m.pooledStartSeconds.length },
          capacityWaitSeconds: { p50: percentile(m.capacityWaitSeconds, 50), p95: percentile(m.capacityWaitSeconds, 95) },
          submitWaitSeconds: {
            p50: percentile(m.submitWaitSeconds, 50),
            p95: percentile(m.submitWaitSeconds, 95),
            max: percentile(m.submitWaitSeconds, 100),
          },
          poolUnitHours: { provisioned: round2(m.poolUnitHours), work: round2(m.pooledWorkUnitSeconds / 3600), leased: round2(m.leasedUnitHours) },
        }
      : {}),
    notes,
  };
}

/** emrflow's notes: run-job's limits as read, and where the pool's leases outran its provisioning. */
export function emrflowNotes(limits: StateMachineLimits, m: Meter): string[] {
  const pooled = m.poolUnitHours;
  const work = m.pooledWorkUnitSeconds / 3600;
  const leased = m.leasedUnitHours;
  return [
    'place-job decisions; pools via the job manager dispatcher; dedicated clusters for jobs no pool fits',
    `dedicated clusters: a throttled RunJobFlow goes round CreateCluster's throttling loop at most ${limits.createClusterThrottle.maxRetries} times (run-job.asl.yml), then fails the run (${limits.createClusterThrottle.errorName} → ClassifyFailure)`,
    `the dispatcher's AddJobFlowSteps batches take a token of its registry bucket (config/pools.json addJobFlowStepsBudget) first; a batch without one, or throttled, is handed back and submitted by a later dispatch (held back 2 s after a throttle); AcquireCapacity gives up after ${limits.acquireCapacity.timeoutSeconds} s (Placement.NoCapacity)`,
    "start = first executor: pooled jobs once their units are provisioned (after any managed-scaling scale-out) + the driver's first executor (startSeconds, pooledStartSeconds); step RUNNING apart (stepRunningSeconds)",
    ...(work > pooled || leased > pooled
      ? [
          `pool work ${round2(work)} and leases ${round2(leased)} unit-hours exceed the ${round2(pooled)} unit-hours provisioned: leases are granted ahead of managed scaling's scale-out`,
        ]
      : []),
    "pooled steps: one AddJobFlowSteps per cluster per dispatch pass (the dispatcher submits the steps it grants there in one call; RunPooledStep only attaches its token), settled by EMR's step events (SendTaskSuccess/Failure), a ListSteps per cluster with waiting steps every 5 min with a SendTaskHeartbeat per waiting step; no DescribeStep/DescribeCluster polling",
    'dedicated clusters: createCluster.sync and addStep.sync polling (DescribeCluster, DescribeStep), as run-job does',
    'dispatcher: one ListClusters per one-minute sweep while a pool cluster is registered, a SendTaskHeartbeat per parked execution, a SendTaskSuccess per grant',
    'Step Functions SendTask* calls are counted apart from EMR (own quotas, not in AllEmrCalls)',
  ];
}

/** emrflow-hybrid's notes: the Serverless application its decisions share. */
export function hybridNotes(hybrid: HybridRun): string[] {
  return [
    'place-job decisions under the shipped rules with every target: predictedWaitMinutes per pool from the in-memory registry (predictedPoolWaits, as place-job reads DynamoDB), predictedCostUsd per target, config/serverless.json as the Serverless target',
    'pool and dedicated decisions run as in emrflow (the job manager on the in-memory store; dedicated clusters with their throttling loop)',
    `Serverless decisions: SIMULATED job runs on one shared ${hybrid.serverless.application.architecture} application (maximum capacity ${hybrid.serverless.application.maxVcpu} vCPU, ${hybrid.serverless.application.preInitialized.drivers + hybrid.serverless.application.preInitialized.executors} pre-initialized workers) with the workers place-job asks StartJobRun for; cold starts ${SERVERLESS_COLD_START_SECONDS.min}-${SERVERLESS_COLD_START_SECONDS.max} s, queue when the application is full, per-worker billing at config/prices.json's prices`,
    `EMR Serverless API calls: one StartJobRun per job run under its documented quota (${EMR_SERVERLESS_QUOTAS.StartJobRun.perSecond}/s, burst ${EMR_SERVERLESS_QUOTAS.StartJobRun.burst}; RunServerlessJob's Retry, then the run fails) and startJobRun.sync GetJobRun polls on Step Functions' .sync schedule (counted against ${EMR_SERVERLESS_QUOTAS.GetJobRun.perSecond}/s, not throttled); not part of AllEmrCalls`,
  ];
}

/** A Serverless strategy's notes: its application, starts, capacity and API quotas. */
export function serverlessNotes(app: ServerlessApplication, jobs: SizedJob[]): string[] {
  return [
    `SIMULATED EMR Serverless: one ${app.architecture} application, ${workerFor(jobs[0].sizing).vcpu} vCPU / ${workerFor(jobs[0].sizing).memoryGb} GB workers (the executor's heap + 10% overhead), a driver + the sized executors per job, per-worker billing with a 1-minute minimum`,
    `start: worker provisioning ${SERVERLESS_COLD_START_SECONDS.min}-${SERVERLESS_COLD_START_SECONDS.max} s cold, ${SERVERLESS_PREINIT_START_SECONDS.min}-${SERVERLESS_PREINIT_START_SECONDS.max} s on pre-initialized workers (estimates, local/planner/constants.ts)`,
    `maximum capacity ${app.maxVcpu} vCPU, account quota ${SERVERLESS_ACCOUNT_VCPU_QUOTA} vCPU; jobs that do not fit wait in the application's queue, oldest first`,
    app.preInitialized.drivers + app.preInitialized.executors > 0
      ? `pre-initialized: ${app.preInitialized.drivers} drivers + ${app.preInitialized.executors} executors, billed all day (idle included); sized from the day's demand model for start p50 <= 60 s (local/planner/serverlessPreInit.ts)`
      : 'no pre-initialized capacity',
    `StartJobRun under its documented quota (${EMR_SERVERLESS_QUOTAS.StartJobRun.perSecond}/s, burst ${EMR_SERVERLESS_QUOTAS.StartJobRun.burst}) with RunServerlessJob's Retry on EMRServerless.ThrottlingException, a start whose Retry runs out fails its run; startJobRun.sync's GetJobRun polls counted against theirs (${EMR_SERVERLESS_QUOTAS.GetJobRun.perSecond}/s, burst ${EMR_SERVERLESS_QUOTAS.GetJobRun.burst}), not throttled; no Spot, no interruptions`,
  ];
}

/** The floor's note: what its cost counts and leaves out. */
export const FLOOR_NOTE = `each job's data work (input ÷ its per-unit throughput) plus the smallest Spark start (${SMALLEST_SPARK_START_SECONDS} s on ${SMALLEST_SPARK_UNITS} units), at the cheapest unit price of any executor instance type on Spot or EMR Serverless worker: no bootstrap, idle, queueing, orchestration or lost work`;

export const ALL_SERVERLESS = { pool: 0, dedicated: 0, serverless: 1 };

/** Share of `jobs` by the target their latest attempt was placed on. */
export function shareOf(targets: ReadonlyMap<string, Placement['mode']>, jobs: number): StrategyFigures['targetShare'] {
  const counts = { pool: 0, dedicated: 0, serverless: 0 };
  for (const mode of targets.values()) counts[mode]++;
  return { pool: round4(counts.pool / jobs), dedicated: round4(counts.dedicated / jobs), serverless: round4(counts.serverless / jobs) };
}

/** EMR Serverless API calls per job run and their peak rate (the busiest minute's average per second). */
function serverlessApiFigures(m: Meter, jobRuns: number, startsThrottledOut: number): NonNullable<StrategyFigures['serverlessApi']> {
  const peak = m.apiFigures().peak;
  const callsPerJobRun: Record<string, number> = {};
  const peakCallsPerSecond: Record<string, number> = {};
  for (const op of EMR_SERVERLESS_OPERATIONS) {
    let calls = 0;
    for (const count of m.calls.get(op)?.values() ?? []) calls += count;
    callsPerJobRun[op] = round2(calls / jobRuns);
    peakCallsPerSecond[op] = peak[op] ?? 0;
  }
  const quotas = Object.fromEntries([...EMR_SERVERLESS_OPERATIONS].map((op) => [op, EMR_SERVERLESS_QUOTAS[op]]));
  return { jobRuns, callsPerJobRun, peakCallsPerSecond, quotas, startJobRunThrottled: m.retriedCalls.StartJobRun ?? 0, startsThrottledOut };
}

export function describeApplication(application: ServerlessApplication, jobs: SizedJob[]): StrategyFigures['serverlessApplication'] {
  return { ...application, worker: jobs.length > 0 ? workerFor(jobs[0].sizing) : { vcpu: 4, memoryGb: 8 } };
}

export function totalCost(m: Meter): number {
  return Object.values(m.cost).reduce((a, b) => a + b, 0);
}

/** Up to 100 points (seconds, share of jobs started by then). */
export function cdf(values: number[]): Array<[number, number]> {
  if (values.length === 0) return [];
  const sorted = [...values].sort((a, b) => a - b);
  const points: Array<[number, number]> = [];
  for (let i = 1; i <= 100; i++) {
    const index = Math.min(sorted.length - 1, Math.ceil((i / 100) * sorted.length) - 1);
    points.push([Math.round(sorted[index]), i / 100]);
  }
  return points;
}

export function round2(v: number): number {
  return Math.round(v * 100) / 100;
}
export function round3(v: number): number {
  return Math.round(v * 1000) / 1000;
}
function round4(v: number): number {
  return Math.round(v * 10000) / 10000;
}
