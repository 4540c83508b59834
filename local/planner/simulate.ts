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
 *   emr-serverless-preinit  the same with pre-initialized capacity sized from the day's demand model for a start
 *                      target (./serverlessPreInit)
 *   floor              the least any strategy could pay (./floor): data work plus the smallest Spark start,
 *                      at the cheapest unit price; no bootstrap, idle, queueing or lost work
 *
 * This module runs the day (every strategy over the same sized jobs) and turns the meters into figures. The
 * pieces: ./decisions (the Lambdas' sizing and placement), ./run (the event loop, clock and quota gates every
 * strategy shares), ./perAttemptRun (one cluster per attempt; the per-job strategies), ./emrflowRun (emrflow's
 * job manager and task tokens) over ./poolClusters (its pool clusters as EMR runs them), ./rates (price and
 * hazard arithmetic), ./meter (the API-call and cost meter), ./strategyFigures (each strategy's figures and notes).
 */
import { SERVERLESS_APPLICATION_MAX_VCPU } from './constants';
import { sizeDay, type PlannerConfig, type SizedJob } from './decisions';
import { EmrflowRun, type DecisionLog } from './emrflowRun';
import { HybridRun } from './hybridRun';
import { floorCost } from './floor';
import { Meter } from './meter';
import { PerJobRun } from './perAttemptRun';
import { historyShape, pooledShape } from './prescaleShape';
import type { SimJob, SpotModel } from './profile';
import { Random } from './random';
import { apiQuotas } from './run';
import { cheapestArchitecture, ServerlessRun, workerFor, type ServerlessApplication } from './serverlessRun';
import { preInitializedForDemand } from './serverlessPreInit';
import { loadStateMachineLimits } from './stateMachineLimits';
import {
  ALL_SERVERLESS,
  cdf,
  describeApplication,
  emrflowNotes,
  FLOOR_NOTE,
  hybridNotes,
  round2,
  round3,
  serverlessNotes,
  shareOf,
  strategyFigures,
  totalCost,
} from './strategyFigures';
import { loadServerlessConfig, type ServerlessConfig } from '../../lib/config/serverless';
import type { DayShape } from '../../lib/domain/prescale';

export const STRATEGIES = ['emrflow', 'emrflow-hybrid', 'on-demand-per-job', 'spot-per-job', 'emr-serverless', 'emr-serverless-preinit', 'floor'] as const;
export type StrategyName = (typeof STRATEGIES)[number];

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

/** Every strategy's day over the same sized jobs, in the order (and random streams) the figures name them. */
async function runStrategies(options: SimulateOptions, config: PlannerConfig, jobs: SizedJob[], random: Random) {
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
  hybrid.prescaleShape = options.prescaleHistory ? await hybridShape(options, config, shape, random) : undefined;
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
  const preInit = await runServerless(config, jobs, options.spot, random, preInitializedForDemand(jobs, SERVERLESS_APPLICATION_MAX_VCPU));
  return { emrflow, hybrid, onDemand, spotRun, stress, serverless, preInit };
}

/**
 * The hybrid's day shape: its pooled runs on the earlier day (its runs table), the hybrid having run that day
 * from the all-pool shape as a first day would. Learnt from every job as pooled, it pre-launched clusters and
 * held nodes for the jobs it sent to EMR Serverless (npm run bench:day: $192.57 against $187.96).
 */
async function hybridShape(options: SimulateOptions, config: PlannerConfig, firstDay: DayShape | undefined, random: Random): Promise<DayShape> {
  const history = sizeDay(options.prescaleHistory ?? [], options.runDate);
  const earlier = new HybridRun(options.serverless ?? loadServerlessConfig(), config, history, options.spot, random.fork(17), () => {});
  earlier.prescaleShape = firstDay;
  await earlier.run();
  return pooledShape(history, config, (job) => earlier.targets.get(job.id) === 'pool');
}

export async function simulateDay(options: SimulateOptions): Promise<DayResult> {
  const config: PlannerConfig = { ...options.config, limits: options.config.limits ?? loadStateMachineLimits() };
  const { seed } = options;
  const jobs = sizeDay(options.jobs, options.runDate);
  const random = new Random(seed);
  const { emrflow, hybrid, onDemand, spotRun, stress, serverless, preInit } = await runStrategies(options, config, jobs, random);
  const floorParts = floorCost(config, jobs);
  const floorUsd = floorParts.usd;
  const day = { jobs: jobs.length, floorUsd };

  const floor = new Meter();
  // The floor's EC2 part is the cheapest Spot unit with EMR's uplift, not split between the two.
  floor.cost.ec2 = floorParts.ec2;
  floor.cost.emrServerless = floorParts.emrServerless;
  floor.completed = jobs.length;

  const limits = config.limits ?? loadStateMachineLimits();
  const serverlessFigures = (name: StrategyName, run: ServerlessRun): StrategyFigures => ({
    ...strategyFigures(day, name, run.meter, serverlessNotes(run.application, jobs), ALL_SERVERLESS, run.sim.jobRuns, run.sim.startsThrottledOut),
    serverlessApplication: describeApplication(run.application, jobs),
  });
  const strategies = {
    emrflow: strategyFigures(day, 'emrflow', emrflow.meter, emrflowNotes(limits, emrflow.meter), shareOf(emrflow.targets, jobs.length)),
    'emrflow-hybrid': strategyFigures(
      day,
      'emrflow-hybrid',
      hybrid.meter,
      hybridNotes(hybrid),
      shareOf(hybrid.targets, jobs.length),
      hybrid.serverless.jobRuns,
      hybrid.serverless.startsThrottledOut,
    ),
    'on-demand-per-job': strategyFigures(day, 'on-demand-per-job', onDemand.meter, [
      'one all-On-Demand cluster per job, RunJobFlow throttled to the account quota and 500 active clusters',
    ]),
    'spot-per-job': strategyFigures(day, 'spot-per-job', spotRun.meter, [
      'one all-Spot cluster per job (primary and core too), no SWITCH_TO_ON_DEMAND, retried by ClassifyFailure with the same purchase',
    ]),
    'emr-serverless': serverlessFigures('emr-serverless', serverless),
    'emr-serverless-preinit': serverlessFigures('emr-serverless-preinit', preInit),
    floor: strategyFigures(day, 'floor', floor, [FLOOR_NOTE]),
  } satisfies Record<StrategyName, StrategyFigures>;
  strategies.floor.startSeconds = { p50: 0, p95: 0 };
  strategies.floor.targetShare = { pool: 0, dedicated: 0, serverless: 0 };
  delete strategies.floor.startMeasuredJobs;

  const named: Array<[StrategyName, Meter]> = [
    ['emrflow', emrflow.meter],
    ['emrflow-hybrid', hybrid.meter],
    ['on-demand-per-job', onDemand.meter],
    ['spot-per-job', spotRun.meter],
  ];
  return {
    simulatedJobs: jobs.length,
    floorUsd: round2(floorUsd),
    inputTiB: round3(jobs.reduce((s, j) => s + j.inputBytes, 0) / 1024 ** 4),
    spotModel: options.spot.description,
    strategies,
    stress,
    series: daySeries(named, [...named, ['emr-serverless', serverless.meter], ['emr-serverless-preinit', preInit.meter]]),
    quotas: apiQuotas(config),
  };
}

/** Per-minute active clusters, queued jobs and API calls of the cluster strategies, and every strategy's start CDF. */
function daySeries(named: Array<[StrategyName, Meter]>, started: Array<[StrategyName, Meter]>): DayResult['series'] {
  const minutes = 24 * 60;
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
  for (const [name, meter] of started) startCdf[name] = cdf(meter.startSeconds);
  return { minutes, activeClusters, queuedJobs, apiCallsPerSecond: apiSeries, startCdf };
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
  // One random stream for every Serverless run: with and without pre-initialized capacity differ by their capacity, not their draws.
  const run = new ServerlessRun(application, config, jobs, spot, random.fork(15), () => {});
  await run.run();
  run.finishBilling();
  return run;
}
