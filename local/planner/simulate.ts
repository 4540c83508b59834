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
 *   on-demand-per-job  one all-On-Demand cluster per job (planFleets at share 1)
 *   spot-per-job       one all-Spot cluster per job (core and primary too), no SWITCH_TO_ON_DEMAND, plain retries
 *   emr-serverless     the same work at EMR Serverless prices (no EMR clusters, no EMR API calls)
 *   floor              the day's successful Spark work at Spot prices: no bootstrap, idle or lost work
 *
 * This module runs the day (every strategy over the same sized jobs) and turns the meters into figures. The
 * pieces: ./decisions (the Lambdas' sizing and placement), ./run (the event loop, clock and quota gates every
 * strategy shares), ./perAttemptRun (one cluster per attempt; the per-job strategies), ./emrflowRun (emrflow's
 * pools and dispatcher), ./rates (price and hazard arithmetic), ./meter (the API-call and cost meter).
 */
import { ACTIVE_CLUSTER_QUOTA, ORCHESTRATION_BEFORE_PLACE_SECONDS, SERVERLESS_COLD_START_SECONDS } from './constants';
import { sizeDay, type PlannerConfig } from './decisions';
import { EmrflowRun, type DecisionLog } from './emrflowRun';
import { Meter } from './meter';
import { PerJobRun } from './perAttemptRun';
import type { SimJob, SpotModel } from './profile';
import { Random } from './random';
import { unitRate } from './rates';
import { apiQuotas } from './run';

export const STRATEGIES = ['emrflow', 'on-demand-per-job', 'spot-per-job', 'emr-serverless', 'floor'] as const;
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
  startSeconds: { p50: number; p95: number };
  completion: number;
  /** Runs that ended, by outcome: each job ends exactly once, so these add up to simulatedJobs. */
  ended: { succeeded: number; failed: number };
  slaMisses: number;
  peakApiCallsPerSecond: Record<string, number>;
  quotaExceeded: string[];
  throttledCalls: Record<string, number>;
  peakActiveClusters: number;
  activeClusterQuota: number;
  interruptions: number;
  lostInstanceHours: number;
  /** emrflow only: pooled jobs' start latency (trigger → step RUNNING on the leased cluster) and how many jobs. */
  pooledStartSeconds?: { p50: number; p95: number; jobs: number };
  /** emrflow only: after its step is RUNNING, how long a pooled job waited for managed scaling to provision its units. */
  capacityWaitSeconds?: { p50: number; p95: number };
  /** emrflow only: how long a pooled job's AddJobFlowSteps waited for the 0.5/s quota after its grant (0 when not throttled). */
  submitWaitSeconds?: { p50: number; p95: number; max: number };
  /** emrflow only: unit-hours the pool clusters were provisioned for (primary counted as one unit) and the Spark work done in them. */
  poolUnitHours?: { provisioned: number; work: number };
  notes: string[];
}

export interface DayResult {
  simulatedJobs: number;
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
}

export async function simulateDay(options: SimulateOptions): Promise<DayResult> {
  const { config, seed } = options;
  const jobs = sizeDay(options.jobs, options.runDate);
  const random = new Random(seed);
  const total = jobs.length * (options.stressSpot ? 4 : 3);
  let done = 0;
  const progress = (phase: string) => () => {
    done++;
    if (options.onProgress && (done % 200 === 0 || done === total)) options.onProgress(done, total, phase);
  };
  const emrflow = new EmrflowRun(config, jobs, options.spot, random.fork(11), progress('emrflow'));
  emrflow.decisionLog = options.decisionLog;
  await emrflow.run();
  emrflow.finishBilling();
  const onDemand = new PerJobRun('ON_DEMAND', config, jobs, options.spot, random.fork(12), progress('on-demand-per-job'));
  await onDemand.run();
  const spotRun = new PerJobRun('SPOT', config, jobs, options.spot, random.fork(13), progress('spot-per-job'));
  await spotRun.run();
  let stress: DayResult['stress'] = null;
  if (options.stressSpot) {
    const stressed = new EmrflowRun(config, jobs, options.stressSpot, random.fork(14), progress('emrflow under Spot stress'));
    await stressed.run();
    stressed.finishBilling();
    const m = stressed.meter;
    stress = { spotModel: options.stressSpot.description, completion: m.completed / jobs.length, interruptions: m.interruptions, costUsd: round2(totalCost(m)), slaMisses: m.slaMisses };
  }

  const services = config.prices.services!;
  const pool = config.pools.pools[0];
  const floorTypes = pool ? pool.fleets.task : config.pools.dedicated.task;
  const floorRate = unitRate(config.prices, floorTypes, 'SPOT');
  const workUnitHours = jobs.reduce((sum, j) => sum + (j.sizing.capacityUnits * j.stepSeconds) / 3600, 0);
  const floorCost = workUnitHours * (floorRate.ec2 + floorRate.emr);

  const orchestration = (m: Meter) => ({ stepFunctions: m.cost.stepFunctions, lambda: m.cost.lambda, glue: m.cost.glue });
  const figures = (name: StrategyName, m: Meter, notes: string[]): StrategyFigures => {
    const api = m.apiFigures();
    const cost = totalCost(m);
    return {
      costUsd: round2(cost),
      costToFloor: round3(cost / floorCost),
      cost: Object.fromEntries(Object.entries(m.cost).map(([k, v]) => [k, round2(v)])),
      launches: m.launches,
      launchShare: round4(m.launches / jobs.length),
      startSeconds: { p50: percentile(m.startSeconds, 50), p95: percentile(m.startSeconds, 95) },
      completion: round4(m.completed / jobs.length),
      ended: { succeeded: m.completed, failed: m.failed },
      slaMisses: m.slaMisses,
      peakApiCallsPerSecond: api.peak,
      quotaExceeded: [...new Set([...Object.keys(api.throttled), ...Object.keys(m.retriedCalls)])].sort(),
      throttledCalls: { ...api.throttled, ...Object.fromEntries(Object.entries(m.retriedCalls).map(([op, n]) => [op, n])) },
      peakActiveClusters: m.peakActive,
      activeClusterQuota: ACTIVE_CLUSTER_QUOTA,
      interruptions: m.interruptions,
      lostInstanceHours: round2(m.lostInstanceHours),
      ...(name === 'emrflow'
        ? {
            pooledStartSeconds: { p50: percentile(m.pooledStartSeconds, 50), p95: percentile(m.pooledStartSeconds, 95), jobs: m.pooledStartSeconds.length },
            capacityWaitSeconds: { p50: percentile(m.capacityWaitSeconds, 50), p95: percentile(m.capacityWaitSeconds, 95) },
            submitWaitSeconds: { p50: percentile(m.submitWaitSeconds, 50), p95: percentile(m.submitWaitSeconds, 95), max: percentile(m.submitWaitSeconds, 100) },
            poolUnitHours: { provisioned: round2(m.poolUnitHours), work: round2(m.pooledWorkUnitSeconds / 3600) },
          }
        : {}),
      notes,
    };
  };

  // EMR Serverless: the same sized work (vCPU and memory of the units for the step's real duration), a cold
  // start per job, the same orchestration as a dedicated run; it makes no EMR (on EC2) API calls.
  const serverless = new Meter();
  const serverlessOrchestration = orchestration(onDemand.meter);
  Object.assign(serverless.cost, serverlessOrchestration);
  for (const j of jobs) {
    const hours = j.stepSeconds / 3600;
    serverless.cost.emrServerless += j.sizing.capacityUnits * hours * (4 * services.emrServerlessVcpuHour.usd + 32 * services.emrServerlessGbHour.usd);
    serverless.startSeconds.push(ORCHESTRATION_BEFORE_PLACE_SECONDS + SERVERLESS_COLD_START_SECONDS);
    serverless.completed++;
    if (ORCHESTRATION_BEFORE_PLACE_SECONDS + SERVERLESS_COLD_START_SECONDS + j.stepSeconds > j.job.slaMinutes * 60) serverless.slaMisses++;
  }
  const floor = new Meter();
  floor.cost.ec2 = workUnitHours * floorRate.ec2;
  floor.cost.emrUplift = workUnitHours * floorRate.emr;
  floor.completed = jobs.length;

  const minutes = 24 * 60;
  const named: Array<[StrategyName, Meter]> = [
    ['emrflow', emrflow.meter],
    ['on-demand-per-job', onDemand.meter],
    ['spot-per-job', spotRun.meter],
  ];
  const strategies = {
    emrflow: figures('emrflow', emrflow.meter, [
      'place-job decisions; pools via the job manager dispatcher; dedicated clusters for jobs no pool fits',
      "throttled AddJobFlowSteps/RunJobFlow calls wait for the quota as a Retry on ThrottlingException would; run-job's RunPooledStep/RunSparkStep have no such Retry today (a throttled call goes to ClassifyFailure and fails the run)",
      "pooled steps: one AddJobFlowSteps per job (submit-pooled-step does not batch), settled by EMR's step events (SendTaskSuccess/Failure), a ListSteps per cluster with waiting steps every 5 min with a SendTaskHeartbeat per waiting step; no DescribeStep/DescribeCluster polling",
      'dedicated clusters: createCluster.sync and addStep.sync polling (DescribeCluster, DescribeStep), as run-job does',
      'dispatcher: one ListClusters per one-minute sweep while a pool cluster is registered, a SendTaskHeartbeat per parked execution, a SendTaskSuccess per grant',
      'Step Functions SendTask* calls are counted apart from EMR (own quotas, not in AllEmrCalls)',
    ]),
    'on-demand-per-job': figures('on-demand-per-job', onDemand.meter, ['one all-On-Demand cluster per job, RunJobFlow throttled to the account quota and 500 active clusters']),
    'spot-per-job': figures('spot-per-job', spotRun.meter, ['one all-Spot cluster per job (primary and core too), no SWITCH_TO_ON_DEMAND, retried by ClassifyFailure with the same purchase']),
    'emr-serverless': figures('emr-serverless', serverless, [`priced, not simulated: ${SERVERLESS_COLD_START_SECONDS} s cold start per job, vCPU and GB of the sized units for the step's duration; EMR Serverless API quotas not modelled`]),
    floor: figures('floor', floor, ["the day's sized Spark work (units × real step time) at the pool task fleet's Spot unit price: no bootstrap, idle, orchestration or lost work"]),
  } satisfies Record<StrategyName, StrategyFigures>;
  strategies.floor.startSeconds = { p50: 0, p95: 0 };

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
  for (const [name, meter] of [...named, ['emr-serverless', serverless] as const]) startCdf[name] = cdf(meter.startSeconds);
  return {
    simulatedJobs: jobs.length,
    inputTiB: round3(jobs.reduce((s, j) => s + j.inputBytes, 0) / 1024 ** 4),
    spotModel: options.spot.description,
    strategies,
    stress,
    series: { minutes, activeClusters, queuedJobs, apiCallsPerSecond: apiSeries, startCdf },
    quotas: apiQuotas(config),
  };
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
