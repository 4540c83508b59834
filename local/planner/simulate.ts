/**
 * The capacity planner's discrete-event simulation. Every decision is made by the code the Lambdas run:
 * sizing (lib/domain/sizing sizeJob, learning throughput from the day's own runs), purchase rules and
 * placement (lib/domain/placement placeJob → json-rules-engine via lib/domain/rules), the fleets and their
 * prices (lib/domain/fleet, pricing), the pool domain (lib/domain/pools: best fit, lease arithmetic, aged
 * queue order, planDispatch, the RunJobFlow token bucket) and failure classification with its retry policy
 * (lib/domain/failure classifyFailure). The simulator only moves a virtual clock and plays EMR: cluster
 * starts, managed scaling, step durations and Spot interruptions, from the constants in ./constants.ts.
 *
 * Strategies, each over the same jobs:
 *   emrflow            place-job's decision: a pool lease (queue + dispatcher) or a dedicated cluster bought as
 *                      the rules say, retried on Spot loss with more On-Demand
 *   emrflow-hybrid     place-job's decision among a pool lease, a dedicated cluster and EMR Serverless (./hybridRun):
 *                      the shipped rules with the registry's predicted pool waits and each target's predicted cost;
 *                      Serverless decisions share one simulated application (config/serverless.json's default)
 *   on-demand-per-job  one all-On-Demand cluster per job (planFleets at share 1)
 *   spot-per-job       one all-Spot cluster per job (core and primary too), no SWITCH_TO_ON_DEMAND, plain retries
 *   emr-serverless     one EMR Serverless application, simulated (./serverlessRun): workers from each job's
 *                      sizing, cold starts, maximum capacity and the account's vCPU quota with a queue
 *   emr-serverless-preinit  the same with the pre-initialized capacity the planner finds cheapest at the
 *                      same SLA misses (a small search over driver and executor counts)
 *   floor              the least any strategy could pay (./floor): data work plus the smallest Spark start,
 *                      at the cheapest unit price; no bootstrap, idle, queueing or lost work
 *
 * This module runs the day (every strategy over the same sized jobs) and turns the meters into figures. The
 * pieces: ./decisions (the Lambdas' sizing and placement), ./run (the event loop, clock and quota gates every
 * strategy shares), ./perAttemptRun (one cluster per attempt; the per-job strategies), ./emrflowRun (emrflow's
 * pools and dispatcher), ./rates (price and hazard arithmetic), ./meter (the API-call and cost meter).
 */
import {
  ACTIVE_CLUSTER_QUOTA,
  EMR_SERVERLESS_QUOTAS,
  SERVERLESS_ACCOUNT_VCPU_QUOTA,
  SERVERLESS_APPLICATION_MAX_VCPU,
  SERVERLESS_COLD_START_SECONDS,
  SERVERLESS_PREINIT_START_SECONDS,
} from './constants';
import { sizeDay, type PlannerConfig, type SizedJob } from './decisions';
import { EmrflowRun, type DecisionLog } from './emrflowRun';
import { HybridRun } from './hybridRun';
import { floorCost, SMALLEST_SPARK_START_SECONDS, SMALLEST_SPARK_UNITS } from './floor';
import { EMR_SERVERLESS_OPERATIONS, Meter } from './meter';
import { PerJobRun } from './perAttemptRun';
import { historyShape } from './prescaleShape';
import type { SimJob, SpotModel } from './profile';
import { Random } from './random';
import { apiQuotas } from './run';
import { cheapestArchitecture, ServerlessRun, workerFor, type ServerlessApplication } from './serverlessRun';
import { loadStateMachineLimits } from './stateMachineLimits';
import { loadServerlessConfig, type ServerlessConfig } from '../../lib/config/serverless';
import type { Placement } from '../../lib/domain/types';

export const STRATEGIES = ['emrflow', 'emrflow-hybrid', 'on-demand-per-job', 'spot-per-job', 'emr-serverless', 'emr-serverless-preinit', 'floor'] as const;
export type StrategyName = (typeof STRATEGIES)[number];

function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]);
}

export interface StrategyFigures {
  costUsd: number;
  costToFloor: number;
  cost: Record<string, number>;
  launches: number;
  launchShare: number;
  /** Trigger → the job's Spark application has its first executor (one definition for every strategy). */
  startSeconds: { p50: number; p95: number };
  /** Jobs whose first executor was measured (startSeconds' sample), when fewer than the jobs that ran. */
  startMeasuredJobs?: number;
  /** Trigger → step RUNNING, where it differs from the first executor (EMR on EC2 steps). */
  stepRunningSeconds?: { p50: number; p95: number };
  completion: number;
  /** Runs that ended, by outcome: each job ends exactly once, so these add up to simulatedJobs. */
  ended: { succeeded: number; failed: number };
  /** Failed runs by the error their execution ends with. */
  failures: Record<string, number>;
  /** Share of the capacity-hours paid for that ran no Spark work (idle, bootstrap, teardown, scaling slack). */
  idleShare: number;
  slaMisses: number;
  peakApiCallsPerSecond: Record<string, number>;
  quotaExceeded: string[];
  throttledCalls: Record<string, number>;
  peakActiveClusters: number;
  activeClusterQuota: number;
  interruptions: number;
  lostInstanceHours: number;
  /** emrflow only: pooled jobs' start (trigger → first executor on the leased cluster, after any scale-out) and how many jobs. */
  pooledStartSeconds?: { p50: number; p95: number; jobs: number };
  /** emrflow only: after its step is RUNNING, how long a pooled job waited for managed scaling to provision its units. */
  capacityWaitSeconds?: { p50: number; p95: number };
  /** emrflow only: how long a pooled job's AddJobFlowSteps waited for the 0.5/s quota after its grant (0 when not throttled). */
  submitWaitSeconds?: { p50: number; p95: number; max: number };
  /** emrflow only: unit-hours the pool clusters were provisioned for (primary counted as one unit), the Spark work done in them and the leases held on them. */
  poolUnitHours?: { provisioned: number; work: number; leased: number };
  /** Share of the jobs by the target their last attempt was placed on (emrflow, emrflow-hybrid: place-job's decisions). */
  targetShare: { pool: number; dedicated: number; serverless: number };
  /** Strategies with EMR Serverless job runs: how many, and the EMR Serverless API calls per job run (StartJobRun, startJobRun.sync's GetJobRun polls). */
  serverlessApi?: {
    jobRuns: number;
    callsPerJobRun: Record<string, number>;
    peakCallsPerSecond: Record<string, number>;
    /** The documented API limits per account and Region the calls ran under (EMR_SERVERLESS_QUOTAS). */
    quotas: Record<string, { burst: number; perSecond: number }>;
    /** StartJobRun calls throttled at least once; starts whose Retry ran out (each fails its run). */
    startJobRunThrottled: number;
    startsThrottledOut: number;
  };
  /** Serverless strategies: the application simulated (architecture, worker, pre-initialized capacity, maximum vCPU). */
  serverlessApplication?: ServerlessApplication & { worker: { vcpu: number; memoryGb: number } };
  notes: string[];
}

export interface DayResult {
  simulatedJobs: number;
  /** The floor's cost (./floor): no strategy can cost less. */
  floorUsd: number;
  inputTiB: number;
  spotModel: string;
  strategies: Record<StrategyName, StrategyFigures>;
  /** emrflow again under `stress`× the worst Advisor band. */
  stress: { spotModel: string; completion: number; interruptions: number; costUsd: number; slaMisses: number } | null;
  series: {
    minutes: number;
    activeClusters: Record<string, number[]>;
    queuedJobs: Record<string, number[]>;
    apiCallsPerSecond: Record<string, Record<string, number[]>>;
    startCdf: Record<string, Array<[number, number]>>;
  };
  quotas: Record<string, { burst: number; perSecond: number }>;
}

export interface SimulateOptions {
  jobs: SimJob[];
  runDate: string;
  config: PlannerConfig;
  spot: SpotModel;
  stressSpot?: SpotModel;
  seed: number;
  onProgress?: (done: number, total: number, phase: string) => void;
  /** Collects emrflow's PlaceJob inputs and decisions. */
  decisionLog?: DecisionLog;
  /** Collects emrflow-hybrid's PlaceJob inputs, decisions and the registry each read. */
  hybridDecisionLog?: DecisionLog;
  /** An earlier day's jobs: the dispatcher pre-scales the pools from their shape (./prescaleShape); none = managed scaling alone. */
  prescaleHistory?: SimJob[];
  /** emrflow-hybrid's Serverless target; config/serverless.json when absent. */
  serverless?: ServerlessConfig;
}

export async function simulateDay(options: SimulateOptions): Promise<DayResult> {
  const config: PlannerConfig = { ...options.config, limits: options.config.limits ?? loadStateMachineLimits() };
  const { seed } = options;
  const jobs = sizeDay(options.jobs, options.runDate);
  const random = new Random(seed);
  const total = jobs.length * (options.stressSpot ? 5 : 4);
  let done = 0;
  const progress = (phase: string) => () => {
    done++;
    if (options.onProgress && (done % 200 === 0 || done === total)) options.onProgress(done, total, phase);
  };
  const shape = options.prescaleHistory ? historyShape(options.prescaleHistory, options.runDate, config) : undefined;
  const emrflow = new EmrflowRun(config, jobs, options.spot, random.fork(11), progress('emrflow'));
  emrflow.prescaleShape = shape;
  emrflow.decisionLog = options.decisionLog;
  await emrflow.run();
  emrflow.finishBilling();
  const hybrid = new HybridRun(options.serverless ?? loadServerlessConfig(), config, jobs, options.spot, random.fork(16), progress('emrflow-hybrid'));
  hybrid.decisionLog = options.hybridDecisionLog;
  hybrid.prescaleShape = shape;
  await hybrid.run();
  hybrid.finishBilling();
  const onDemand = new PerJobRun('ON_DEMAND', config, jobs, options.spot, random.fork(12), progress('on-demand-per-job'));
  await onDemand.run();
  const spotRun = new PerJobRun('SPOT', config, jobs, options.spot, random.fork(13), progress('spot-per-job'));
  await spotRun.run();
  let stress: DayResult['stress'] = null;
  if (options.stressSpot) {
    const stressed = new EmrflowRun(config, jobs, options.stressSpot, random.fork(14), progress('emrflow under Spot stress'));
    stressed.prescaleShape = shape;
    await stressed.run();
    stressed.finishBilling();
    const m = stressed.meter;
    stress = {
      spotModel: options.stressSpot.description,
      completion: m.completed / jobs.length,
      interruptions: m.interruptions,
      costUsd: round2(totalCost(m)),
      slaMisses: m.slaMisses,
    };
  }

  const serverless = await runServerless(config, jobs, options.spot, random, { drivers: 0, executors: 0 });
  const preInit = await cheapestPreInitialized(config, jobs, options.spot, random, serverless.meter.slaMisses);
  const floorParts = floorCost(config, jobs);
  const floorUsd = floorParts.usd;

  const figures = (
    name: StrategyName,
    m: Meter,
    notes: string[],
    targets: StrategyFigures['targetShare'] = { pool: 0, dedicated: 1, serverless: 0 },
    jobRuns = 0,
    startsThrottledOut = 0,
  ): StrategyFigures => {
    const api = m.apiFigures();
    const cost = totalCost(m);
    const provisioned = m.provisionedUnitHours + m.poolUnitHours;
    const busy = m.busyUnitHours + m.pooledWorkUnitSeconds / 3600;
    return {
      costUsd: round2(cost),
      costToFloor: round3(cost / floorUsd),
      cost: Object.fromEntries(Object.entries(m.cost).map(([k, v]) => [k, round2(v)])),
      launches: m.launches,
      launchShare: round4(m.launches / jobs.length),
      startSeconds: { p50: percentile(m.startSeconds, 50), p95: percentile(m.startSeconds, 95) },
      ...(m.startSeconds.length < m.completed ? { startMeasuredJobs: m.startSeconds.length } : {}),
      ...(m.stepRunningSeconds.length > 0
        ? { stepRunningSeconds: { p50: percentile(m.stepRunningSeconds, 50), p95: percentile(m.stepRunningSeconds, 95) } }
        : {}),
      completion: round4(m.completed / jobs.length),
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
  };

  const floor = new Meter();
  // The floor's EC2 part is the cheapest Spot unit with EMR's uplift, not split between the two.
  floor.cost.ec2 = floorParts.ec2;
  floor.cost.emrServerless = floorParts.emrServerless;
  floor.completed = jobs.length;

  const minutes = 24 * 60;
  const named: Array<[StrategyName, Meter]> = [
    ['emrflow', emrflow.meter],
    ['emrflow-hybrid', hybrid.meter],
    ['on-demand-per-job', onDemand.meter],
    ['spot-per-job', spotRun.meter],
  ];
  const limits = config.limits ?? loadStateMachineLimits();
  const pooled = emrflow.meter.poolUnitHours;
  const work = emrflow.meter.pooledWorkUnitSeconds / 3600;
  const leased = emrflow.meter.leasedUnitHours;
  const serverlessNotes = (app: ServerlessApplication) => [
    `SIMULATED EMR Serverless: one ${app.architecture} application, ${workerFor(jobs[0].sizing).vcpu} vCPU / ${workerFor(jobs[0].sizing).memoryGb} GB workers (the executor's heap + 10% overhead), a driver + the sized executors per job, per-worker billing with a 1-minute minimum`,
    `start: worker provisioning ${SERVERLESS_COLD_START_SECONDS.min}-${SERVERLESS_COLD_START_SECONDS.max} s cold, ${SERVERLESS_PREINIT_START_SECONDS.min}-${SERVERLESS_PREINIT_START_SECONDS.max} s on pre-initialized workers (estimates, local/planner/constants.ts)`,
    `maximum capacity ${app.maxVcpu} vCPU, account quota ${SERVERLESS_ACCOUNT_VCPU_QUOTA} vCPU; jobs that do not fit wait in the application's queue, oldest first`,
    app.preInitialized.drivers + app.preInitialized.executors > 0
      ? `pre-initialized: ${app.preInitialized.drivers} drivers + ${app.preInitialized.executors} executors, billed all day (idle included); the cheapest of the sizes tried with no more SLA misses than without`
      : 'no pre-initialized capacity',
    `StartJobRun under its documented quota (${EMR_SERVERLESS_QUOTAS.StartJobRun.perSecond}/s, burst ${EMR_SERVERLESS_QUOTAS.StartJobRun.burst}) with RunServerlessJob's Retry on EMRServerless.ThrottlingException, a start whose Retry runs out fails its run; startJobRun.sync's GetJobRun polls counted against theirs (${EMR_SERVERLESS_QUOTAS.GetJobRun.perSecond}/s, burst ${EMR_SERVERLESS_QUOTAS.GetJobRun.burst}), not throttled; no Spot, no interruptions`,
  ];
  const strategies = {
    emrflow: figures(
      'emrflow',
      emrflow.meter,
      [
        'place-job decisions; pools via the job manager dispatcher; dedicated clusters for jobs no pool fits',
        `dedicated clusters: a throttled RunJobFlow goes round CreateCluster's throttling loop at most ${limits.createClusterThrottle.maxRetries} times (run-job.asl.yml), then fails the run (${limits.createClusterThrottle.errorName} → ClassifyFailure)`,
        `the dispatcher's throttled AddJobFlowSteps batch is handed back and submitted by a later dispatch (held back 2 s after a throttle); AcquireCapacity gives up after ${limits.acquireCapacity.timeoutSeconds} s (Placement.NoCapacity)`,
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
      ],
      shareOf(emrflow.targets, jobs.length),
    ),
    'emrflow-hybrid': figures(
      'emrflow-hybrid',
      hybrid.meter,
      [
        'place-job decisions under the shipped rules with every target: predictedWaitMinutes per pool from the in-memory registry (predictedPoolWaits, as place-job reads DynamoDB), predictedCostUsd per target, config/serverless.json as the Serverless target',
        'pool and dedicated decisions run as in emrflow (the job manager on the in-memory store; dedicated clusters with their throttling loop)',
        `Serverless decisions: SIMULATED job runs on one shared ${hybrid.serverless.application.architecture} application (maximum capacity ${hybrid.serverless.application.maxVcpu} vCPU, ${hybrid.serverless.application.preInitialized.drivers + hybrid.serverless.application.preInitialized.executors} pre-initialized workers) with the workers place-job asks StartJobRun for; cold starts ${SERVERLESS_COLD_START_SECONDS.min}-${SERVERLESS_COLD_START_SECONDS.max} s, queue when the application is full, per-worker billing at config/prices.json's prices`,
        `EMR Serverless API calls: one StartJobRun per job run under its documented quota (${EMR_SERVERLESS_QUOTAS.StartJobRun.perSecond}/s, burst ${EMR_SERVERLESS_QUOTAS.StartJobRun.burst}; RunServerlessJob's Retry, then the run fails) and startJobRun.sync GetJobRun polls on Step Functions' .sync schedule (counted against ${EMR_SERVERLESS_QUOTAS.GetJobRun.perSecond}/s, not throttled); not part of AllEmrCalls`,
      ],
      shareOf(hybrid.targets, jobs.length),
      hybrid.serverless.jobRuns,
      hybrid.serverless.startsThrottledOut,
    ),
    'on-demand-per-job': figures('on-demand-per-job', onDemand.meter, [
      'one all-On-Demand cluster per job, RunJobFlow throttled to the account quota and 500 active clusters',
    ]),
    'spot-per-job': figures('spot-per-job', spotRun.meter, [
      'one all-Spot cluster per job (primary and core too), no SWITCH_TO_ON_DEMAND, retried by ClassifyFailure with the same purchase',
    ]),
    'emr-serverless': {
      ...figures(
        'emr-serverless',
        serverless.meter,
        serverlessNotes(serverless.application),
        ALL_SERVERLESS,
        serverless.sim.jobRuns,
        serverless.sim.startsThrottledOut,
      ),
      serverlessApplication: describeApplication(serverless.application, jobs),
    },
    'emr-serverless-preinit': {
      ...figures(
        'emr-serverless-preinit',
        preInit.meter,
        serverlessNotes(preInit.application),
        ALL_SERVERLESS,
        preInit.sim.jobRuns,
        preInit.sim.startsThrottledOut,
      ),
      serverlessApplication: describeApplication(preInit.application, jobs),
    },
    floor: figures('floor', floor, [
      `each job's data work (input ÷ its per-unit throughput) plus the smallest Spark start (${SMALLEST_SPARK_START_SECONDS} s on ${SMALLEST_SPARK_UNITS} units), at the cheapest unit price of any executor instance type on Spot or EMR Serverless worker: no bootstrap, idle, queueing, orchestration or lost work`,
    ]),
  } satisfies Record<StrategyName, StrategyFigures>;
  strategies.floor.startSeconds = { p50: 0, p95: 0 };
  strategies.floor.targetShare = { pool: 0, dedicated: 0, serverless: 0 };
  delete strategies.floor.startMeasuredJobs;

  const apiSeries: Record<string, Record<string, number[]>> = {};
  const activeClusters: Record<string, number[]> = {};
  const queuedJobs: Record<string, number[]> = {};
  for (const [name, meter] of named) {
    const s = meter.series(minutes);
    activeClusters[name] = s.activeClusters;
    queuedJobs[name] = s.queuedJobs;
    apiSeries[name] = meter.apiFigures().perMinute;
  }
  const startCdf: Record<string, Array<[number, number]>> = {};
  for (const [name, meter] of [...named, ['emr-serverless', serverless.meter] as const, ['emr-serverless-preinit', preInit.meter] as const])
    startCdf[name] = cdf(meter.startSeconds);
  return {
    simulatedJobs: jobs.length,
    floorUsd: round2(floorUsd),
    inputTiB: round3(jobs.reduce((s, j) => s + j.inputBytes, 0) / 1024 ** 4),
    spotModel: options.spot.description,
    strategies,
    stress,
    series: { minutes, activeClusters, queuedJobs, apiCallsPerSecond: apiSeries, startCdf },
    quotas: apiQuotas(config),
  };
}

/** The Serverless strategy's day on one application (architecture: the cheaper one priced). */
async function runServerless(
  config: PlannerConfig,
  jobs: SizedJob[],
  spot: SpotModel,
  random: Random,
  preInitialized: ServerlessApplication['preInitialized'],
): Promise<ServerlessRun> {
  const architecture = jobs.length > 0 ? cheapestArchitecture(config.prices, workerFor(jobs[0].sizing)) : 'X86_64';
  const application: ServerlessApplication = { architecture, preInitialized, maxVcpu: SERVERLESS_APPLICATION_MAX_VCPU };
  // One random stream for every Serverless run: candidates differ by their capacity, not by their draws.
  const run = new ServerlessRun(application, config, jobs, spot, random.fork(15), () => {});
  await run.run();
  run.finishBilling();
  return run;
}

/**
 * Pre-initialized sizes tried: drivers for 4, 16 or 48 jobs at once, with 7 or 15 executors each (the
 * smallest sizing, 8 units, is a driver and 7 executors); the largest keeps 3,072 of the 4,000 vCPU.
 */
export const PRE_INITIALIZED_CANDIDATES: Array<ServerlessApplication['preInitialized']> = [4, 16, 48].flatMap((drivers) =>
  [7, 15].map((each) => ({ drivers, executors: drivers * each })),
);

/** The cheapest pre-initialized size with no more SLA misses than `slaMisses` (else the one with the fewest). */
async function cheapestPreInitialized(config: PlannerConfig, jobs: SizedJob[], spot: SpotModel, random: Random, slaMisses: number): Promise<ServerlessRun> {
  let best: ServerlessRun | undefined;
  const better = (a: ServerlessRun, b: ServerlessRun) => {
    const aOk = a.meter.slaMisses <= slaMisses;
    const bOk = b.meter.slaMisses <= slaMisses;
    if (aOk !== bOk) return aOk;
    return aOk ? totalCost(a.meter) < totalCost(b.meter) : a.meter.slaMisses < b.meter.slaMisses;
  };
  for (const candidate of PRE_INITIALIZED_CANDIDATES) {
    const run = await runServerless(config, jobs, spot, random, candidate);
    if (!best || better(run, best)) best = run;
  }
  if (!best) throw new Error('PRE_INITIALIZED_CANDIDATES is empty: no pre-initialized size to try');
  return best;
}

const ALL_SERVERLESS = { pool: 0, dedicated: 0, serverless: 1 };

/** Share of `jobs` by the target their latest attempt was placed on. */
function shareOf(targets: ReadonlyMap<string, Placement['mode']>, jobs: number): StrategyFigures['targetShare'] {
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

function describeApplication(application: ServerlessApplication, jobs: SizedJob[]): StrategyFigures['serverlessApplication'] {
  return { ...application, worker: jobs.length > 0 ? workerFor(jobs[0].sizing) : { vcpu: 4, memoryGb: 8 } };
}

function totalCost(m: Meter): number {
  return Object.values(m.cost).reduce((a, b) => a + b, 0);
}

/** Up to 100 points (seconds, share of jobs started by then). */
function cdf(values: number[]): Array<[number, number]> {
  if (values.length === 0) return [];
  const sorted = [...values].sort((a, b) => a - b);
  const points: Array<[number, number]> = [];
  for (let i = 1; i <= 100; i++) {
    const index = Math.min(sorted.length - 1, Math.ceil((i / 100) * sorted.length) - 1);
    points.push([Math.round(sorted[index]), i / 100]);
  }
  return points;
}

function round2(v: number): number {
  return Math.round(v * 100) / 100;
}
function round3(v: number): number {
  return Math.round(v * 1000) / 1000;
}
function round4(v: number): number {
  return Math.round(v * 10000) / 10000;
}
