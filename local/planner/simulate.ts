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
 */
import { s3Location } from '../../lib/contract';
import type { PoolsConfig, PoolDefinition } from '../../lib/config/pools';
import type { PriceBook } from '../../lib/config/prices';
import type { PlacementRule } from '../../lib/config/rules';
import { classifyFailure, type Observation } from '../../lib/domain/failure';
import { planFleets } from '../../lib/domain/fleet';
import { placeJob, type PlaceJobInput, type PlacementConfig } from '../../lib/domain/placement';
import { leaseId, newBucket, planDispatch, poolConfigHash, refillBucket, takeTokens, type BucketState, type PoolCluster, type QueueEntry } from '../../lib/domain/pools';
import { instanceHourly, unitHourly } from '../../lib/domain/pricing';
import { DEFAULT_SIZING, sizeJob, type RunSample } from '../../lib/domain/sizing';
import type { JobRequest, Placement, Sizing } from '../../lib/domain/types';
import {
  ACTIVE_CLUSTER_QUOTA,
  BILLING_MINIMUM_SECONDS,
  CLUSTER_START_SECONDS,
  CRAWL_BILLED_SECONDS,
  CRAWL_DPU,
  CRAWL_SECONDS,
  DISPATCH_SWEEP_SECONDS,
  EMR_QUOTAS,
  GRANT_SECONDS,
  LAMBDA,
  LIST_PAGE_SIZE,
  ORCHESTRATION_BEFORE_PLACE_SECONDS,
  SCALE_IN_DELAY_SECONDS,
  SCALE_OUT_SECONDS,
  SCALE_STEP_UNITS,
  SERVERLESS_COLD_START_SECONDS,
  sfnQuotas,
  STEP_RECONCILE_SECONDS,
  STEP_SUBMIT_TO_RUNNING_SECONDS,
  SYNC_POLL,
  TERMINATE_SECONDS,
  TRANSITIONS,
  WAITER_HEARTBEATS,
} from './constants';
import { EventQueue } from './eventQueue';
import { Meter } from './meter';
import type { SimJob, SpotModel } from './profile';
import { Random } from './random';

const MiB = 1024 * 1024;
const ARTIFACTS_BUCKET = 'emrflow-artifacts';
const RAW_BUCKET = 'emrflow-raw';

export const STRATEGIES = ['emrflow', 'on-demand-per-job', 'spot-per-job', 'emr-serverless', 'floor'] as const;
export type StrategyName = (typeof STRATEGIES)[number];

export interface PlannerConfig {
  prices: PriceBook;
  pools: PoolsConfig;
  rules: PlacementRule[];
}

/** A job with what the shared pre-pass decided for it: the request and the first attempt's sizing. */
export interface SizedJob extends SimJob {
  request: JobRequest;
  sizing: Sizing;
  /** Seconds the Spark step really lasts on the sized capacity. */
  stepSeconds: number;
}

// ─── the decisions, exactly as the Lambdas make them ──────────────────────────────────────────────────

export function placementConfig(config: PlannerConfig): PlacementConfig {
  return { rules: config.rules, template: config.pools.dedicated, prices: config.prices, pools: config.pools.pools };
}

export function requestFor(job: SimJob, runDate: string): JobRequest {
  const input = s3Location(RAW_BUCKET, `${job.job.inputPrefix}dt=${runDate}/${job.id}.json`);
  return {
    runId: job.id,
    trigger: 's3',
    runDate,
    job: job.job,
    input,
    output: s3Location(ARTIFACTS_BUCKET, job.job.outputPrefix),
    claimExpiresAt: 0,
    crawl: { required: false, crawler: null, reason: 'simulated' },
  };
}

/** The PlaceJob input the run-job state machine would send for this attempt. */
export function placeJobInput(job: SizedJob, attempt: number): PlaceJobInput {
  return { request: job.request, sizing: job.sizing, attempt, executionName: `${job.id}-exec` };
}

/** PlaceJob's decision: the same function, with the same configuration, the place-job handler calls. */
export function placementOf(job: SizedJob, attempt: number, config: PlacementConfig): Promise<Placement> {
  return placeJob(placeJobInput(job, attempt), config);
}

/** The step's real duration: Spark start-up plus the input at the run's real throughput on its units. */
export function trueStepSeconds(job: SimJob, units: number): number {
  return DEFAULT_SIZING.startupMinutes * 60 + job.inputBytes / MiB / (job.throughput * units);
}

/**
 * SizeJob for every job in arrival order, each learning from the runs of its kind that arrived before it
 * (the runs table SizeJob reads; strategies finish runs in different orders, so the simulator shares one
 * learning order between them and every strategy prices the same sized work).
 */
export function sizeDay(jobs: SimJob[], runDate: string): SizedJob[] {
  const history = new Map<string, RunSample[]>();
  return jobs.map((job) => {
    const request = requestFor(job, runDate);
    const past = history.get(job.kind) ?? [];
    const sizing = sizeJob({ request, inputBytes: job.inputBytes, bytesSource: 's3', history: past, artifactsBucket: ARTIFACTS_BUCKET });
    const stepSeconds = trueStepSeconds(job, sizing.capacityUnits);
    past.unshift({ inputBytes: job.inputBytes, stepSeconds, capacityUnits: sizing.capacityUnits });
    if (past.length > DEFAULT_SIZING.historyLimit) past.pop();
    history.set(job.kind, past);
    return { ...job, request, sizing, stepSeconds };
  });
}

// ─── shared machinery ─────────────────────────────────────────────────────────────────────────────────

interface Rate {
  ec2: number;
  emr: number;
}

/** Hourly EC2 and EMR parts of `units` of a fleet of `types` on `market` (unitHourly's total, split). */
function unitRate(prices: PriceBook, types: string[], market: 'ON_DEMAND' | 'SPOT'): Rate {
  const total = unitHourly(prices, types, market);
  const emr = unitHourly(prices, types, market) - unitHourly({ ...prices, instanceTypes: withoutEmr(prices, types) }, types, market);
  return { ec2: total - emr, emr };
}

function withoutEmr(prices: PriceBook, types: string[]): PriceBook['instanceTypes'] {
  return Object.fromEntries(types.map((t) => [t, { ...prices.instanceTypes[t], emrHourly: 0 }]));
}

function addRate(a: Rate, b: Rate, times = 1): Rate {
  return { ec2: a.ec2 + b.ec2 * times, emr: a.emr + b.emr * times };
}

function primaryRate(prices: PriceBook, types: string[], market: 'ON_DEMAND' | 'SPOT'): Rate {
  const type = types[0];
  if (market === 'ON_DEMAND') return { ec2: instanceHourly(prices, type) - prices.instanceTypes[type].emrHourly, emr: prices.instanceTypes[type].emrHourly };
  return unitRate(prices, [type], 'SPOT');
}

function meanHazard(spot: SpotModel, types: string[]): number {
  return types.reduce((sum, t) => sum + spot.hazardPerHour(t), 0) / types.length / 3600;
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]);
}

type Outcome = 'succeeded' | 'failed';

interface JobState {
  job: SizedJob;
  attempt: number;
  started: boolean;
  ended: Outcome | null;
}

/** A run of one strategy: the clock, the queue, the meter and what every run-job execution shares. */
abstract class Run {
  protected readonly events = new EventQueue<() => void | Promise<void>>();
  readonly meter: Meter;
  protected now = 0;
  protected readonly states = new Map<string, JobState>();
  private readonly crawled = new Set<string>();
  /** The account's RunJobFlow quota, which every launch of the strategy spends (EMR's default bucket). */
  private runJobFlowBucket: BucketState = newBucket(0, { ratePerSecond: EMR_QUOTAS.RunJobFlow.perSecond, burst: EMR_QUOTAS.RunJobFlow.burst });
  private readonly launchWaiters: Array<() => void> = [];
  private launchGateArmed = false;
  ended = 0;

  constructor(
    protected readonly config: PlannerConfig,
    protected readonly jobs: SizedJob[],
    protected readonly spot: SpotModel,
    protected readonly random: Random,
    private readonly onEnded: () => void,
  ) {
    this.meter = new Meter(apiQuotas(config));
  }

  protected at(seconds: number, action: () => void | Promise<void>): void {
    this.events.push(Math.max(this.now, seconds), action);
  }

  async run(): Promise<void> {
    for (const job of this.jobs) {
      this.states.set(job.id, { job, attempt: 1, started: false, ended: null });
      this.at(job.arrival, () => this.arrive(job));
    }
    this.startSweeps();
    // Stops when the last job ends: what is still scheduled then (the next Spot loss of an idle pool
    // cluster months ahead, say) is no part of the day. Pool clusters still alive are billed by finishBilling.
    for (let next = this.events.pop(); next && this.ended < this.jobs.length; next = this.events.pop()) {
      this.now = next.at;
      await next.event();
    }
    for (const state of this.states.values()) {
      if (state.ended === null) throw new Error(`simulation ended with job ${state.job.id} unfinished (attempt ${state.attempt})`);
    }
  }

  protected startSweeps(): void {}

  /** Trigger → NormalizeRequest … SizeJob; the first run of a kind on the day crawls its new partition. */
  private arrive(job: SizedJob): void {
    const key = `${job.kind}/${job.request.runDate}`;
    let delay = ORCHESTRATION_BEFORE_PLACE_SECONDS;
    if (!this.crawled.has(key)) {
      this.crawled.add(key);
      delay += CRAWL_SECONDS;
      this.meter.cost.glue += (CRAWL_DPU * Math.max(CRAWL_BILLED_SECONDS, CRAWL_SECONDS) / 3600) * this.services.glueDpuHour.usd;
      this.meter.cost.stepFunctions += TRANSITIONS.crawl * this.services.stepFunctionsPerTransition.usd;
    }
    this.at(this.now + delay, () => this.place(job, 1));
  }

  protected get services(): NonNullable<PriceBook['services']> {
    const services = this.config.prices.services;
    if (!services) throw new Error('config/prices.json: services: missing; `emrflow simulate` needs the Step Functions, Lambda, Glue and EMR Serverless prices there');
    return services;
  }

  protected abstract place(job: SizedJob, attempt: number): void | Promise<void>;

  protected chargeOrchestration(path: 'dedicated' | 'pooled', retry: boolean): void {
    const s = this.services;
    const transitions = retry ? TRANSITIONS.retry : TRANSITIONS[path];
    const invocations = retry ? LAMBDA.retry : LAMBDA[path];
    this.meter.cost.stepFunctions += transitions * s.stepFunctionsPerTransition.usd;
    this.meter.cost.lambda += invocations * LAMBDA.gbSecondsEach * s.lambdaPerGbSecond.usd;
  }

  protected chargeInstances(rate: Rate, seconds: number): void {
    const billed = Math.max(BILLING_MINIMUM_SECONDS, seconds) / 3600;
    this.meter.cost.ec2 += rate.ec2 * billed;
    this.meter.cost.emrUplift += rate.emr * billed;
  }

  protected stepStarted(state: JobState, pooled: boolean): void {
    if (state.started) return;
    state.started = true;
    const wait = this.now - state.job.arrival;
    this.meter.startSeconds.push(wait);
    if (pooled) this.meter.pooledStartSeconds.push(wait);
  }

  protected finish(state: JobState, outcome: Outcome, workUnitSeconds: number): void {
    if (state.ended !== null) throw new Error(`job ${state.job.id} ended twice (${state.ended}, then ${outcome})`);
    state.ended = outcome;
    this.ended++;
    if (outcome === 'succeeded') {
      this.meter.completed++;
      this.meter.workUnitSeconds += workUnitSeconds;
      if (this.now - state.job.arrival > state.job.job.slaMinutes * 60) this.meter.slaMisses++;
    } else {
      this.meter.failed++;
      this.meter.slaMisses++;
    }
    this.onEnded();
  }

  /** Calls `launch` once RunJobFlow has a token and the account is below its 500 active clusters. */
  protected whenLaunchAllowed(launch: () => void): void {
    this.launchWaiters.push(launch);
    this.openLaunchGate();
    if (this.launchWaiters[this.launchWaiters.length - 1] === launch) this.meter.throttle('RunJobFlow', 1);
  }

  private openLaunchGate(): void {
    const policy = { ratePerSecond: EMR_QUOTAS.RunJobFlow.perSecond, burst: EMR_QUOTAS.RunJobFlow.burst };
    while (this.launchWaiters.length > 0 && this.meter.activeClusters < ACTIVE_CLUSTER_QUOTA) {
      const { taken, bucket } = takeTokens(this.runJobFlowBucket, 1, this.now * 1000, policy);
      this.runJobFlowBucket = bucket;
      if (taken === 0) break;
      this.launchWaiters.shift()!();
    }
    this.meter.setQueued(this.now, this.launchWaiters.length + this.queuedJobs() + this.throttledWaiters());
    if (this.launchWaiters.length > 0 && !this.launchGateArmed) {
      this.launchGateArmed = true;
      // Step Functions' Retry on ThrottlingException / a full account: try again in a second.
      this.at(this.now + 1, () => {
        this.launchGateArmed = false;
        this.openLaunchGate();
      });
    }
  }

  /** Tokens RunJobFlow has now in the account's bucket (pool launches spend the same quota). */
  protected accountLaunchTokens(): number {
    return refillBucket(this.runJobFlowBucket, this.now * 1000, { ratePerSecond: EMR_QUOTAS.RunJobFlow.perSecond, burst: EMR_QUOTAS.RunJobFlow.burst }).tokens;
  }

  protected spendAccountLaunchToken(): void {
    const { bucket } = takeTokens(this.runJobFlowBucket, 1, this.now * 1000, { ratePerSecond: EMR_QUOTAS.RunJobFlow.perSecond, burst: EMR_QUOTAS.RunJobFlow.burst });
    this.runJobFlowBucket = bucket;
  }

  protected queuedJobs(): number {
    return 0;
  }

  private readonly gates = new Map<string, { bucket: BucketState; waiters: Array<() => void>; armed: boolean }>();

  /**
   * Runs `call` when the account's default quota for `op` has a token. A call that finds none is throttled
   * and tried again a second later, as a Retry on EMR's ThrottlingException would (counted per operation).
   */
  protected whenQuotaAllows(op: string, call: () => void): void {
    let gate = this.gates.get(op);
    if (!gate) this.gates.set(op, (gate = { bucket: newBucket(0, quotaPolicy(op)), waiters: [], armed: false }));
    gate.waiters.push(call);
    this.openGate(op);
    if (gate.waiters[gate.waiters.length - 1] === call) this.meter.throttle(op, 1);
  }

  /** Calls waiting for a quota token (a step not yet submitted is a job not yet started). */
  protected throttledWaiters(): number {
    let waiting = 0;
    for (const gate of this.gates.values()) waiting += gate.waiters.length;
    return waiting;
  }

  private openGate(op: string): void {
    const gate = this.gates.get(op)!;
    while (gate.waiters.length > 0) {
      const { taken, bucket } = takeTokens(gate.bucket, 1, this.now * 1000, quotaPolicy(op));
      gate.bucket = bucket;
      if (taken === 0) break;
      gate.waiters.shift()!();
    }
    this.meter.setQueued(this.now, this.launchWaiters.length + this.queuedJobs() + this.throttledWaiters());
    if (gate.waiters.length > 0 && !gate.armed) {
      gate.armed = true;
      this.at(this.now + 1, () => {
        gate.armed = false;
        this.openGate(op);
      });
    }
  }

  protected clusterEnded(): void {
    this.meter.changeActive(this.now, -1);
    if (this.launchWaiters.length > 0) this.openLaunchGate();
  }

  /** ClassifyFailure's EMR reads (DescribeCluster, ListInstanceFleets, ListInstances, ListSteps, DescribeStep). */
  protected classifyCalls(): void {
    for (const op of ['DescribeCluster', 'ListInstanceFleets', 'ListInstances', 'ListSteps', 'DescribeStep']) this.meter.call(op, this.now);
  }
}

// ─── one cluster per attempt (emrflow's dedicated path, on-demand-per-job, spot-per-job) ────────────────

interface DedicatedPurchase {
  /** Hourly EC2/EMR while the cluster lives. */
  rate: Rate;
  /** Rate once Spot capacity was replaced by On-Demand at launch (SWITCH_TO_ON_DEMAND). */
  switchedRate: Rate;
  spotInstances: number;
  /** Every instance is Spot (primary and core too): losing any ends the step. */
  allSpot: boolean;
  /** SWITCH_TO_ON_DEMAND when Spot is short at launch; otherwise TERMINATE_CLUSTER and a failed attempt. */
  fallback: boolean;
  spotTypes: string[];
  spotTimeoutSeconds: number;
}

abstract class PerAttemptRun extends Run {
  protected abstract purchase(job: SizedJob, attempt: number): Promise<DedicatedPurchase | null>;

  protected async place(job: SizedJob, attempt: number): Promise<void> {
    const state = this.states.get(job.id)!;
    state.attempt = attempt;
    const purchase = await this.purchase(job, attempt);
    this.chargeOrchestration(purchase === null ? 'pooled' : 'dedicated', attempt > 1);
    if (purchase === null) return;
    this.runDedicated(state, purchase);
  }

  protected runDedicated(state: JobState, purchase: DedicatedPurchase): void {
    this.whenLaunchAllowed(() => this.launch(state, purchase));
  }

  private launch(state: JobState, purchase: DedicatedPurchase): void {
    const launchedAt = this.now;
    this.meter.launches++;
    this.meter.call('RunJobFlow', this.now);
    this.meter.changeActive(this.now, 1);
    const startSeconds = this.random.uniform(CLUSTER_START_SECONDS.min, CLUSTER_START_SECONDS.max);
    const noSpot = purchase.spotInstances > 0 && this.random.next() < this.spot.noSpotAtLaunch;
    if (noSpot && !purchase.fallback) {
      const failedAt = launchedAt + purchase.spotTimeoutSeconds;
      this.meter.poll('DescribeCluster', launchedAt, failedAt, SYNC_POLL);
      this.at(failedAt, () => {
        this.chargeInstances(purchase.rate, failedAt - launchedAt);
        this.clusterEnded();
        this.fail(state, { Code: 'INSTANCE_FLEET_TIMEOUT', Message: 'The instance fleet could not provision Spot capacity in time (simulated)' }, 'TERMINATED_WITH_ERRORS', null, 0);
      });
      return;
    }
    const readyAt = launchedAt + (noSpot ? purchase.spotTimeoutSeconds + startSeconds / 2 : startSeconds);
    const rate = noSpot ? purchase.switchedRate : purchase.rate;
    const spotInstances = noSpot ? 0 : purchase.spotInstances;
    this.meter.poll('DescribeCluster', launchedAt, readyAt, SYNC_POLL);
    this.at(readyAt, () => this.whenQuotaAllows('AddJobFlowSteps', () => {
      this.meter.call('AddJobFlowSteps', this.now);
      const stepStart = this.now + STEP_SUBMIT_TO_RUNNING_SECONDS;
      this.at(stepStart, () => {
        this.stepStarted(state, false);
        const duration = trueStepSeconds(state.job, state.job.sizing.capacityUnits);
        const hazard = spotInstances * meanHazard(this.spot, purchase.spotTypes);
        const lostAfter = hazard > 0 ? this.random.exponential(1 / hazard) : Infinity;
        const end = stepStart + Math.min(duration, lostAfter);
        this.meter.poll('DescribeStep', stepStart - STEP_SUBMIT_TO_RUNNING_SECONDS, end, SYNC_POLL);
        this.at(end, () => {
          const teardownEnd = end + TERMINATE_SECONDS;
          this.meter.call('TerminateJobFlows', end);
          this.meter.poll('DescribeCluster', end, teardownEnd, SYNC_POLL);
          this.chargeInstances(rate, teardownEnd - launchedAt);
          this.at(teardownEnd, () => this.clusterEnded());
          const units = state.job.sizing.capacityUnits;
          if (lostAfter >= duration) {
            this.finish(state, 'succeeded', units * duration);
            return;
          }
          this.meter.interruptions++;
          this.meter.lostInstanceHours += (units / SCALE_STEP_UNITS + 1) * (lostAfter / 3600);
          const clusterState = purchase.allSpot ? 'TERMINATED_WITH_ERRORS' : 'RUNNING';
          this.fail(state, { Code: 'INSTANCE_FAILURE', Message: 'Spot instance interrupted (simulated)' }, clusterState, stepStart, end);
        });
      });
    }));
  }

  /** ClassifyFailure on what EMR would show, then its retry policy: another attempt after the backoff, or the end. */
  private fail(state: JobState, reason: { Code: string; Message: string }, clusterState: string, stepStart: number | null, lostAt: number): void {
    this.classifyCalls();
    const lost = lostSpotInstance(reason, lostAt);
    const observation: Observation = {
      cluster: { Id: 'j-SIMULATED', Status: { State: clusterState, StateChangeReason: reason } },
      fleets: [{ Name: 'Task', InstanceFleetType: 'TASK', TargetSpotCapacity: 1, ProvisionedSpotCapacity: 0, Status: { State: 'RUNNING' } }],
      instances: stepStart === null ? [] : lost,
      apiErrors: [],
    };
    const failure = classifyFailure({
      error: { Error: 'States.TaskFailed', Cause: 'simulated' },
      attempt: state.attempt,
      maxAttempts: state.job.job.maxAttempts,
      placement: { mode: 'dedicated', cluster: { ClusterId: 'j-SIMULATED' }, slot: null },
      clusterId: 'j-SIMULATED',
      observation,
    });
    if (!failure.retry) {
      this.finish(state, 'failed', 0);
      return;
    }
    this.at(this.now + failure.backoffSeconds, () => this.place(state.job, failure.nextAttempt));
  }
}

class PerJobRun extends PerAttemptRun {
  constructor(
    private readonly market: 'ON_DEMAND' | 'SPOT',
    ...args: ConstructorParameters<typeof Run>
  ) {
    super(...args);
  }

  protected async purchase(job: SizedJob): Promise<DedicatedPurchase> {
    const { prices } = this.config;
    const template = this.config.pools.dedicated;
    const units = job.sizing.capacityUnits;
    if (this.market === 'ON_DEMAND') {
      const fleets = planFleets(units, 1, template, prices);
      const rate = addRate(addRate(primaryRate(prices, template.primary, 'ON_DEMAND'), unitRate(prices, template.core, 'ON_DEMAND'), fleets.core.onDemandUnits), unitRate(prices, template.task, 'ON_DEMAND'), fleets.task.onDemandUnits);
      return { rate, switchedRate: rate, spotInstances: 0, allSpot: false, fallback: false, spotTypes: template.task, spotTimeoutSeconds: template.spotTimeoutMinutes * 60 };
    }
    const fleets = planFleets(units, 0, template, prices);
    const coreUnits = fleets.core.onDemandUnits;
    const rate = addRate(addRate(primaryRate(prices, template.primary, 'SPOT'), unitRate(prices, template.core, 'SPOT'), coreUnits), unitRate(prices, template.task, 'SPOT'), fleets.task.spotUnits);
    return {
      rate,
      switchedRate: rate,
      spotInstances: 1 + Math.ceil(units / SCALE_STEP_UNITS),
      allSpot: true,
      fallback: false,
      spotTypes: [...template.core, ...template.task],
      spotTimeoutSeconds: template.spotTimeoutMinutes * 60,
    };
  }
}

// ─── emrflow: place-job's decision, pools with the job manager's dispatcher ──────────────────────────

interface ClusterSim {
  cluster: PoolCluster;
  pool: PoolDefinition;
  provisioned: number;
  switchedToOnDemand: boolean;
  running: Map<string, { state: JobState; units: number; startedAt: number; endVersion: number }>;
  waiting: Array<{ state: JobState; units: number; lease: string; since: number }>;
  scaleOutPending: boolean;
  scaleInPending: boolean;
  peakSinceScaleIn: number;
  costFrom: number;
  idleSince: number | null;
  interruptVersion: number;
  /** Steps AddJobFlowSteps put on the cluster so far (ListSteps pages are newest first). */
  stepsSubmitted: number;
  /** The step-tokens table's rows on this cluster: lease → the step's place in submission order. */
  mapped: Map<string, number>;
}

class EmrflowRun extends PerAttemptRun {
  private readonly placement: PlacementConfig;
  private readonly hashes = new Map<string, string>();
  private readonly clusters = new Map<string, ClusterSim[]>();
  private readonly queues = new Map<string, QueueEntry[]>();
  private readonly buckets = new Map<string, BucketState>();
  private readonly dispatchArmed = new Set<string>();
  private launchCounter = 0;
  /** Lease id → the job and attempt it belongs to. */
  private readonly entries = new Map<string, { state: JobState; units: number }>();
  /** Every PlaceJob input and decision, in order, when asked for (the same-decisions test replays them). */
  decisionLog: DecisionLog | undefined;

  constructor(...args: ConstructorParameters<typeof Run>) {
    super(...args);
    this.placement = placementConfig(this.config);
    for (const pool of this.config.pools.pools) {
      this.hashes.set(pool.name, poolConfigHash(pool));
      this.clusters.set(pool.name, []);
      this.queues.set(pool.name, []);
      this.buckets.set(pool.name, newBucket(0, this.config.pools.dispatcher.runJobFlowBudget));
    }
  }

  protected async purchase(job: SizedJob, attempt: number): Promise<DedicatedPurchase | null> {
    const decision = await placementOf(job, attempt, this.placement);
    this.decisionLog?.push({ input: placeJobInput(job, attempt), placement: decision });
    const pool = decision.mode === 'pool' ? this.poolOf(decision) : undefined;
    if (pool) {
      this.park(this.states.get(job.id)!, pool, decision);
      return null;
    }
    const { prices } = this.config;
    const template = this.config.pools.dedicated;
    const spec = decision.spec!;
    const rate = addRate(
      addRate(addRate(primaryRate(prices, template.primary, 'ON_DEMAND'), unitRate(prices, template.core, 'ON_DEMAND'), spec.core.onDemandUnits), unitRate(prices, template.task, 'ON_DEMAND'), spec.task.onDemandUnits),
      unitRate(prices, template.task, 'SPOT'),
      spec.task.spotUnits,
    );
    const switchedRate = addRate(rate, { ec2: unitRate(prices, template.task, 'ON_DEMAND').ec2 - unitRate(prices, template.task, 'SPOT').ec2, emr: 0 }, spec.task.spotUnits);
    return { rate, switchedRate, spotInstances: Math.ceil(spec.task.spotUnits / SCALE_STEP_UNITS), allSpot: false, fallback: true, spotTypes: template.task, spotTimeoutSeconds: spec.spotTimeoutMinutes * 60 };
  }

  private poolOf(decision: Placement): PoolDefinition | undefined {
    return this.config.pools.pools.find((pool) => pool.name === decision.pool?.name);
  }

  protected queuedJobs(): number {
    let queued = 0;
    for (const queue of this.queues.values()) queued += queue.length;
    return queued;
  }

  /** AcquireCapacity: an entry in the pool's queue, then a dispatch (parkJob never leases directly). */
  private park(state: JobState, pool: PoolDefinition, decision: Placement): void {
    const units = state.job.sizing.capacityUnits;
    const entryId = leaseId(`${state.job.id}-exec`, state.attempt);
    const priority = decision.pool?.priority ?? state.job.job.priority;
    this.entries.set(entryId, { state, units });
    this.queues.get(pool.name)!.push({ pool: pool.name, entryId, execution: `${state.job.id}-exec`, priority, units, enqueuedAt: this.now * 1000, taskToken: entryId, state: 'waiting' });
    this.requestDispatch(pool);
  }

  protected startSweeps(): void {
    const lambdaRun = LAMBDA.gbSecondsEach * this.services.lambdaPerGbSecond.usd;
    // dispatch-queue's one-minute safety sweep, over the day and the tail after it (lib/aws/jobManager
    // reconcilePool): one ListClusters (paged) of the account's live clusters when a pool cluster is
    // registered, and a SendTaskHeartbeat to every parked execution; then a dispatch of every pool.
    const sweep = (): void => {
      this.meter.cost.lambda += lambdaRun;
      const registered = [...this.clusters.values()].some((sims) => sims.length > 0);
      if (registered) this.meter.call('ListClusters', this.now, Math.max(1, Math.ceil(this.meter.activeClusters / LIST_PAGE_SIZE)));
      for (const pool of this.config.pools.pools) {
        const queue = this.queues.get(pool.name)!;
        const waiting = queue.filter((entry) => entry.state === 'waiting').length;
        const perSecond = Math.floor(WAITER_HEARTBEATS.atOnce / WAITER_HEARTBEATS.roundTripSeconds);
        for (let sent = 0; sent < waiting; sent += perSecond) this.meter.call('SendTaskHeartbeat', this.now + sent / perSecond, Math.min(perSecond, waiting - sent));
        if (queue.length > 0) this.requestDispatch(pool);
      }
      if (this.ended < this.jobs.length) this.at(this.now + DISPATCH_SWEEP_SECONDS, sweep);
    };
    this.at(DISPATCH_SWEEP_SECONDS, sweep);
    // settle-steps' reconciliation (lib/aws/stepTokens reconcileSteps): per cluster with mapped steps, ListSteps
    // pages (50 steps each, newest first) until the oldest mapped step was seen; each mapped step is still
    // running (an ended one was settled by its event), so each gets a SendTaskHeartbeat.
    const reconcile = (): void => {
      this.meter.cost.lambda += lambdaRun;
      for (const sims of this.clusters.values()) {
        for (const sim of sims) {
          if (sim.mapped.size === 0) continue;
          const oldest = Math.min(...sim.mapped.values());
          this.meter.call('ListSteps', this.now, Math.ceil((sim.stepsSubmitted - oldest + 1) / LIST_PAGE_SIZE));
          this.meter.call('SendTaskHeartbeat', this.now, sim.mapped.size);
        }
      }
      if (this.ended < this.jobs.length) this.at(this.now + STEP_RECONCILE_SECONDS, reconcile);
    };
    this.at(STEP_RECONCILE_SECONDS, reconcile);
  }

  /** Every step's RUNNING and end events invoke settle-steps (its EventBridge rule has no cluster filter). */
  protected chargeOrchestration(path: 'dedicated' | 'pooled', retry: boolean): void {
    super.chargeOrchestration(path, retry);
    this.meter.cost.lambda += LAMBDA.settleStepEventsPerStep * LAMBDA.gbSecondsEach * this.services.lambdaPerGbSecond.usd;
  }

  /** Dispatches triggered in the same virtual second coalesce into one, as racing dispatchers' conditional writes would. */
  private requestDispatch(pool: PoolDefinition): void {
    if (this.dispatchArmed.has(pool.name)) return;
    this.dispatchArmed.add(pool.name);
    this.at(this.now, () => {
      this.dispatchArmed.delete(pool.name);
      this.dispatch(pool);
    });
  }

  private dispatch(pool: PoolDefinition): void {
    const sims = this.clusters.get(pool.name)!;
    const queue = this.queues.get(pool.name)!;
    const settings = this.config.pools.dispatcher;
    const nowMs = this.now * 1000;
    const bucket = refillBucket(this.buckets.get(pool.name)!, nowMs, settings.runJobFlowBudget);
    const plan = planDispatch({
      pool,
      configHash: this.hashes.get(pool.name)!,
      clusters: sims.map((s) => s.cluster),
      queue,
      now: nowMs,
      agingSecondsPerLevel: settings.agingSecondsPerLevel,
      launchTokens: Math.min(bucket.tokens, this.accountLaunchTokens()),
    });
    const byId = new Map(sims.map((s) => [s.cluster.clusterId, s]));
    const granted = new Set<string>();
    for (const grant of plan.grants) {
      const sim = byId.get(grant.clusterId)!;
      const entry = this.entries.get(grant.entryId)!;
      const cluster = sim.cluster;
      cluster.leases[grant.entryId] = { execution: grant.entryId, units: grant.units, grantedAt: nowMs, expiresAt: nowMs + settings.leaseSeconds * 1000 };
      cluster.unitsInUse += grant.units;
      cluster.version++;
        assertLeaseInvariant(cluster);
      sim.idleSince = null;
      granted.add(grant.entryId);
      // The slot goes to the parked execution through its AcquireCapacity token.
      this.meter.call('SendTaskSuccess', this.now);
      this.at(this.now + GRANT_SECONDS, () => this.submit(sim, entry.state, grant.units, grant.entryId));
    }
    if (granted.size > 0) this.queues.set(pool.name, queue.filter((e) => !granted.has(e.entryId)));
    if (plan.launches > 0) {
      const { taken, bucket: left } = takeTokens(bucket, plan.launches, nowMs, settings.runJobFlowBudget);
      this.buckets.set(pool.name, left);
      for (let i = 0; i < taken; i++) this.launchPoolCluster(pool);
    } else {
      this.buckets.set(pool.name, bucket);
    }
    this.meter.setQueued(this.now, this.queuedJobs() + this.throttledWaiters());
  }

  private launchPoolCluster(pool: PoolDefinition): void {
    this.spendAccountLaunchToken();
    this.meter.launches++;
    this.meter.call('RunJobFlow', this.now);
    this.meter.changeActive(this.now, 1);
    const clusterId = `j-POOL${String(++this.launchCounter).padStart(6, '0')}`;
    const sim: ClusterSim = {
      cluster: { pool: pool.name, clusterId, state: 'STARTING', configHash: this.hashes.get(pool.name)!, capacityUnits: pool.capacityUnits, maxJobs: pool.maxJobsPerCluster, unitsInUse: 0, leases: {}, launchedAt: this.now * 1000, version: 1 },
      pool,
      provisioned: pool.managedScaling.minimumUnits,
      switchedToOnDemand: false,
      running: new Map(),
      waiting: [],
      scaleOutPending: false,
      scaleInPending: false,
      peakSinceScaleIn: 0,
      costFrom: this.now,
      idleSince: null,
      interruptVersion: 0,
      stepsSubmitted: 0,
      mapped: new Map(),
    };
    this.clusters.get(pool.name)!.push(sim);
    const noSpot = this.random.next() < this.spot.noSpotAtLaunch;
    const startSeconds = this.random.uniform(CLUSTER_START_SECONDS.min, CLUSTER_START_SECONDS.max);
    // Cluster State Change events tell the dispatcher when it is ready (no DescribeCluster polling).
    this.at(this.now + (noSpot ? 60 * 10 + startSeconds / 2 : startSeconds), () => {
      sim.switchedToOnDemand = noSpot;
      sim.cluster.state = 'WAITING';
      sim.cluster.version++;
      sim.idleSince = this.now;
      this.scheduleIdleCheck(sim);
      this.scheduleInterruption(sim);
      this.requestDispatch(pool);
    });
  }

  private clusterRate(sim: ClusterSim): Rate {
    const { prices } = this.config;
    const { fleets } = sim.pool;
    const taskUnits = Math.max(0, sim.provisioned - fleets.coreUnits);
    return addRate(
      addRate(primaryRate(prices, fleets.primary, 'ON_DEMAND'), unitRate(prices, fleets.core, 'ON_DEMAND'), fleets.coreUnits),
      unitRate(prices, fleets.task, sim.switchedToOnDemand ? 'ON_DEMAND' : 'SPOT'),
      taskUnits,
    );
  }

  /** Bills the cluster up to now at its current size; call before every change of size. */
  private accrue(sim: ClusterSim): void {
    const rate = this.clusterRate(sim);
    const hours = (this.now - sim.costFrom) / 3600;
    this.meter.cost.ec2 += rate.ec2 * hours;
    this.meter.cost.emrUplift += rate.emr * hours;
    this.meter.poolUnitHours += (sim.provisioned + 1) * hours;
    sim.costFrom = this.now;
  }

  private resize(sim: ClusterSim, units: number): void {
    if (units === sim.provisioned) return;
    this.accrue(sim);
    sim.provisioned = units;
    this.scheduleInterruption(sim);
  }

  /**
   * What managed scaling sees: the containers of submitted steps (running, or waiting for nodes). A lease
   * whose step is not submitted yet (its AddJobFlowSteps throttled, say) asks YARN for nothing.
   */
  private yarnDemand(sim: ClusterSim): number {
    let units = this.runningUnits(sim);
    for (const w of sim.waiting) if (w.since <= this.now) units += w.units;
    return units;
  }

  private runningUnits(sim: ClusterSim): number {
    let units = 0;
    for (const r of sim.running.values()) units += r.units;
    return units;
  }

  /**
   * RunPooledStep (`lambda:invoke.waitForTaskToken` on submit-pooled-step): one AddJobFlowSteps per job, no
   * batching, and a step → token row; the step's executors need provisioned capacity. No `.sync` polling:
   * EMR's step events settle the token (see startStep, interrupt).
   */
  private submit(sim: ClusterSim, state: JobState, units: number, lease: string): void {
    const asked = this.now;
    this.whenQuotaAllows('AddJobFlowSteps', () => {
      this.meter.submitWaitSeconds.push(this.now - asked);
      this.submitNow(sim, state, units, lease);
    });
  }

  private submitNow(sim: ClusterSim, state: JobState, units: number, lease: string): void {
    this.meter.call('AddJobFlowSteps', this.now);
    sim.mapped.set(lease, ++sim.stepsSubmitted);
    sim.waiting.push({ state, units, lease, since: this.now + STEP_SUBMIT_TO_RUNNING_SECONDS });
    this.at(this.now + STEP_SUBMIT_TO_RUNNING_SECONDS, () => {
      // The step is RUNNING now (the "submit → step running"); with dynamic allocation its Spark
      // work waits for executors, so until the units are provisioned it makes no progress (capacity wait).
      if (sim.cluster.leases[lease] !== undefined) this.stepStarted(state, true);
      this.startWaiting(sim);
    });
  }

  private startWaiting(sim: ClusterSim): void {
    let used = this.runningUnits(sim);
    const still: ClusterSim['waiting'] = [];
    for (const w of sim.waiting) {
      if (sim.cluster.leases[w.lease] === undefined) continue;
      if (w.since > this.now) {
        still.push(w);
      } else if (used + w.units <= sim.provisioned) {
        used += w.units;
        this.meter.capacityWaitSeconds.push(this.now - w.since);
        this.startStep(sim, w.state, w.units, w.lease);
      } else {
        still.push(w);
      }
    }
    sim.waiting = still;
    sim.peakSinceScaleIn = Math.max(sim.peakSinceScaleIn, this.yarnDemand(sim));
    if (still.some((w) => w.since <= this.now) && !sim.scaleOutPending) {
      // Managed scaling sees the pending YARN containers and adds task nodes.
      sim.scaleOutPending = true;
      this.at(this.now + SCALE_OUT_SECONDS, () => {
        sim.scaleOutPending = false;
        if (!this.isAlive(sim)) return;
        const wanted = Math.min(sim.pool.managedScaling.maximumUnits, roundUp(this.runningUnits(sim) + sim.waiting.reduce((s, w) => s + w.units, 0), SCALE_STEP_UNITS));
        this.resize(sim, Math.max(sim.provisioned, wanted));
        this.startWaiting(sim);
      });
    }
  }

  private startStep(sim: ClusterSim, state: JobState, units: number, lease: string): void {
    const duration = trueStepSeconds(state.job, units);
    const startedAt = this.now;
    const endVersion = 0;
    sim.running.set(lease, { state, units, startedAt, endVersion });
    this.at(startedAt + duration, () => {
      const run = sim.running.get(lease);
      if (!run || run.endVersion !== endVersion) return;
      sim.running.delete(lease);
      // Its COMPLETED event: settle-steps claims the row and tells the token.
      sim.mapped.delete(lease);
      this.meter.call('SendTaskSuccess', this.now);
      this.release(sim, lease);
      this.meter.pooledWorkUnitSeconds += units * duration;
      this.finish(state, 'succeeded', units * duration);
    });
  }

  /** ReleaseCapacity: the lease goes, and freed units go to the queue at once. */
  private release(sim: ClusterSim, lease: string): void {
    const held = sim.cluster.leases[lease];
    if (!held) return;
    delete sim.cluster.leases[lease];
    sim.cluster.unitsInUse -= held.units;
    sim.cluster.version++;
    this.entries.delete(lease);
    if (Object.keys(sim.cluster.leases).length === 0) {
      sim.idleSince = this.now;
      this.scheduleIdleCheck(sim);
    }
    this.scheduleScaleIn(sim);
    this.requestDispatch(sim.pool);
  }

  private scheduleScaleIn(sim: ClusterSim): void {
    if (sim.scaleInPending) return;
    sim.scaleInPending = true;
    this.at(this.now + SCALE_IN_DELAY_SECONDS, () => {
      sim.scaleInPending = false;
      if (!this.isAlive(sim)) return;
      const needed = Math.max(sim.pool.managedScaling.minimumUnits, roundUp(Math.max(sim.peakSinceScaleIn, this.runningUnits(sim)), SCALE_STEP_UNITS));
      sim.peakSinceScaleIn = this.yarnDemand(sim);
      if (needed < sim.provisioned) this.resize(sim, needed);
      if (sim.provisioned > Math.max(sim.pool.managedScaling.minimumUnits, roundUp(this.yarnDemand(sim), SCALE_STEP_UNITS))) this.scheduleScaleIn(sim);
    });
  }

  /** AutoTerminationPolicy: a cluster with no step for idleTimeoutSeconds terminates itself (no API call). */
  private scheduleIdleCheck(sim: ClusterSim): void {
    const since = sim.idleSince;
    if (since === null) return;
    this.at(since + sim.pool.idleTimeoutSeconds, () => {
      if (sim.idleSince !== since || !this.isAlive(sim) || Object.keys(sim.cluster.leases).length > 0) return;
      const alive = this.clusters.get(sim.pool.name)!.filter((s) => this.isAlive(s)).length;
      if (alive <= sim.pool.minClusters) return;
      this.terminate(sim);
    });
  }

  private terminate(sim: ClusterSim): void {
    sim.cluster.state = 'TERMINATING';
    sim.cluster.version++;
    sim.interruptVersion++;
    this.at(this.now + TERMINATE_SECONDS, () => {
      this.accrue(sim);
      sim.cluster.state = 'TERMINATED';
      this.clusters.set(sim.pool.name, this.clusters.get(sim.pool.name)!.filter((s) => s !== sim));
      this.clusterEnded();
      this.requestDispatch(sim.pool);
    });
  }

  private isAlive(sim: ClusterSim): boolean {
    return sim.cluster.state !== 'TERMINATING' && sim.cluster.state !== 'TERMINATED';
  }

  /** The next Spot loss among the cluster's task nodes (exponential, the sum of their hazards). */
  private scheduleInterruption(sim: ClusterSim): void {
    const version = ++sim.interruptVersion;
    if (sim.switchedToOnDemand || !this.isAlive(sim)) return;
    const nodes = Math.max(0, sim.provisioned - sim.pool.fleets.coreUnits) / SCALE_STEP_UNITS;
    const hazard = nodes * meanHazard(this.spot, sim.pool.fleets.task);
    if (hazard <= 0) return;
    this.at(this.now + this.random.exponential(1 / hazard), () => {
      if (version !== sim.interruptVersion || !this.isAlive(sim)) return;
      this.interrupt(sim);
    });
  }

  /**
   * A task node is reclaimed. Its executors belonged to a running job with the chance that the node was
   * busy; that job's step fails, ClassifyFailure (pool mode) sees a Spot instance lost while its step ran,
   * and its retry policy decides. Managed scaling then replaces the node.
   */
  private interrupt(sim: ClusterSim): void {
    const before = sim.provisioned;
    this.resize(sim, Math.max(sim.pool.fleets.coreUnits, before - SCALE_STEP_UNITS));
    let busy = this.runningUnits(sim);
    const victims: string[] = [];
    const candidates = [...sim.running.keys()].sort();
    if (busy > 0 && this.random.next() < Math.min(1, busy / before)) victims.push(candidates[Math.floor(this.random.next() * candidates.length)]);
    for (const lease of victims) busy -= sim.running.get(lease)!.units;
    for (const lease of candidates) {
      if (busy <= sim.provisioned) break;
      if (victims.includes(lease)) continue;
      victims.push(lease);
      busy -= sim.running.get(lease)!.units;
    }
    for (const lease of victims) {
      const run = sim.running.get(lease)!;
      sim.running.delete(lease);
      run.endVersion++;
      const elapsed = this.now - run.startedAt;
      this.meter.interruptions++;
      this.meter.lostInstanceHours += (run.units / SCALE_STEP_UNITS) * (elapsed / 3600);
      // Its FAILED event: settle-steps fails the token with `{ Step }`, then ClassifyFailure reads EMR.
      sim.mapped.delete(lease);
      this.meter.call('SendTaskFailure', this.now);
      this.classifyCalls();
      const failure = classifyFailure({
        error: { Error: 'States.TaskFailed', Cause: 'simulated' },
        attempt: run.state.attempt,
        maxAttempts: run.state.job.job.maxAttempts,
        placement: { mode: 'pool', cluster: {}, slot: { pool: sim.pool.name, clusterId: sim.cluster.clusterId, lease } },
        clusterId: sim.cluster.clusterId,
        observation: {
          cluster: { Id: sim.cluster.clusterId, Status: { State: 'RUNNING' } },
          instances: lostSpotInstance({ Code: 'INSTANCE_FAILURE', Message: 'Spot instance interrupted (simulated)' }, this.now),
          step: failedStep(run.startedAt, this.now),
          apiErrors: [],
        },
      });
      this.release(sim, lease);
      if (failure.retry) this.at(this.now + failure.backoffSeconds, () => this.place(run.state.job, failure.nextAttempt));
      else this.finish(run.state, 'failed', 0);
    }
    // Managed scaling replaces the lost node if the remaining work needs it.
    this.startWaiting(sim);
  }

  /**
   * Bills the pool clusters still alive when the last job ended: until their idle timeout ends them, or, for
   * the ones minClusters keeps, to the end of the day (the day repeats: they run around the clock).
   */
  finishBilling(): void {
    for (const sims of this.clusters.values()) {
      sims.forEach((sim, i) => {
        const kept = i < sim.pool.minClusters;
        const until = kept ? Math.max(86_400, this.now) : this.now + sim.pool.idleTimeoutSeconds + TERMINATE_SECONDS;
        this.now = Math.max(this.now, until);
        this.accrue(sim);
      });
    }
  }
}

export type DecisionLog = Array<{ input: PlaceJobInput; placement: Placement }>;

/**
 * The registry's invariant after every grant: the leases' units add up to unitsInUse, which never passes the
 * cluster's capacityUnits, and no more jobs than maxJobs hold a lease.
 */
export function assertLeaseInvariant(cluster: PoolCluster): void {
  const leased = Object.values(cluster.leases).reduce((sum, lease) => sum + lease.units, 0);
  const jobs = Object.keys(cluster.leases).length;
  if (leased !== cluster.unitsInUse || cluster.unitsInUse > cluster.capacityUnits || jobs > cluster.maxJobs) {
    throw new Error(`conservation: cluster ${cluster.clusterId} leases ${leased} units (unitsInUse ${cluster.unitsInUse}) of ${cluster.capacityUnits} to ${jobs} of ${cluster.maxJobs} jobs`);
  }
}

/** What ListInstances shows for a reclaimed Spot node, with its timeline (what a pooled job's classification reads). */
function lostSpotInstance(reason: { Code: string; Message: string }, at: number): NonNullable<Observation['instances']> {
  const instance = { Id: 'ci-SIMULATED', Market: 'SPOT', Status: { State: 'TERMINATED', StateChangeReason: reason, Timeline: { EndDateTime: new Date(at * 1000).toISOString() } } };
  return [instance];
}

function failedStep(from: number, to: number): NonNullable<Observation['step']> {
  const step = { Id: 's-SIMULATED', Status: { State: 'FAILED', Timeline: { StartDateTime: new Date(from * 1000).toISOString(), EndDateTime: new Date(to * 1000).toISOString() } } };
  return step;
}

/** The default quotas the planner checks: EMR's, and Step Functions' SendTask* for the price book's Region. */
export function apiQuotas(config: PlannerConfig): Record<string, { burst: number; perSecond: number }> {
  return { ...EMR_QUOTAS, ...sfnQuotas(config.prices.region) };
}

function quotaPolicy(op: string): { ratePerSecond: number; burst: number } {
  const quota = EMR_QUOTAS[op];
  return { ratePerSecond: quota.perSecond, burst: quota.burst };
}

function roundUp(value: number, step: number): number {
  return Math.ceil(value / step) * step;
}

// ─── the day: every strategy, and the figures ─────────────────────────────────────────────────────────

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
