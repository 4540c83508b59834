/**
 * The event-driven simulation loop every strategy shares: the virtual clock and its event queue, each job's
 * state (ended exactly once), arrival and crawl, orchestration and instance billing, the account's RunJobFlow
 * and active-cluster gate, the per-operation EMR quota gates, and what EMR shows a failure's classification.
 */
import type { PriceBook } from '../../lib/config/prices';
import type { Observation } from '../../lib/domain/failure';
import {
  ACTIVE_CLUSTER_QUOTA,
  BILLING_MINIMUM_SECONDS,
  CRAWL_BILLED_SECONDS,
  CRAWL_DPU,
  CRAWL_SECONDS,
  EMR_QUOTAS,
  EMR_SERVERLESS_QUOTAS,
  LAMBDA,
  ORCHESTRATION_BEFORE_PLACE_SECONDS,
  sfnQuotas,
  TRANSITIONS,
} from './constants';
import type { PlannerConfig, SizedJob } from './decisions';
import { EventQueue } from './eventQueue';
import { Meter } from './meter';
import { QuotaQueue } from './quotaQueue';
import type { ServerlessHost } from './serverlessRun';
import type { SpotModel } from './profile';
import type { Random } from './random';
import type { Rate } from './rates';
import { loadStateMachineLimits, retryDelays, type RetryPolicy, type StateMachineLimits } from './stateMachineLimits';

export type Outcome = 'succeeded' | 'failed';

export interface JobState {
  job: SizedJob;
  attempt: number;
  /** The Spark application had its first executor (once per job, whichever attempt). */
  started: boolean;
  /** Its step was RUNNING (once per job). */
  stepRunning: boolean;
  ended: Outcome | null;
}

/** A run of one strategy: the clock, the queue, the meter and what every run-job execution shares. */
export abstract class Run {
  protected readonly events = new EventQueue<() => void | Promise<void>>();
  readonly meter: Meter;
  protected now = 0;
  protected readonly states = new Map<string, JobState>();
  private readonly crawled = new Set<string>();
  /** The account's RunJobFlow quota, which every launch of the strategy spends (EMR's default bucket). */
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

  /** run-job's limits as its definition declares them (AcquireCapacity's timeout, the throttling retries, ...). */
  get limits(): StateMachineLimits {
    this.loadedLimits ??= this.config.limits ?? loadStateMachineLimits();
    return this.loadedLimits;
  }
  private loadedLimits: StateMachineLimits | undefined;
  /** Dedicated launches waiting in CreateCluster's throttling loop (counted as queued jobs). */
  protected launchesRetrying = 0;

  protected at(seconds: number, action: () => void | Promise<void>): void {
    this.events.push(Math.max(this.now, seconds), action);
  }

  async run(): Promise<void> {
    for (const job of this.jobs) {
      this.states.set(job.id, { job, attempt: 1, started: false, stepRunning: false, ended: null });
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
      this.meter.cost.glue += ((CRAWL_DPU * Math.max(CRAWL_BILLED_SECONDS, CRAWL_SECONDS)) / 3600) * this.services.glueDpuHour.usd;
      this.meter.cost.stepFunctions += TRANSITIONS.crawl * this.services.stepFunctionsPerTransition.usd;
    }
    this.at(this.now + delay, () => this.place(job, 1));
  }

  protected get services(): NonNullable<PriceBook['services']> {
    const services = this.config.prices.services;
    if (!services)
      throw new Error('config/prices.json: services: missing; `emrflow simulate` needs the Step Functions, Lambda, Glue and EMR Serverless prices there');
    return services;
  }

  /** The state of a job this run was given (every job has one from the start). */
  protected stateOf(jobId: string): JobState {
    const state = this.states.get(jobId);
    if (!state) throw new Error(`no state for job ${jobId}`);
    return state;
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

  /** The job's step is RUNNING (EMR on EC2): reported as stepRunningSeconds, not as its start. */
  protected stepRunning(state: JobState): void {
    if (state.stepRunning) return;
    state.stepRunning = true;
    this.meter.stepRunningSeconds.push(this.now - state.job.arrival);
  }

  /**
   * The job's start, for every strategy: its Spark application has its first executor (dedicated: step
   * RUNNING on a bootstrapped cluster + SPARK_FIRST_EXECUTOR_SECONDS; pooled: once managed scaling has
   * provisioned its units; Serverless: once its workers are provisioned). `at` defaults to now; `pooled`
   * counts it in pooledStartSeconds too (the pooled-start target reads the same definition of start).
   */
  protected firstExecutor(state: JobState, at: number = this.now, pooled = false): void {
    if (state.started) return;
    state.started = true;
    this.meter.startSeconds.push(at - state.job.arrival);
    if (pooled) this.meter.pooledStartSeconds.push(at - state.job.arrival);
  }

  /** `error`: the name a failed execution ends with (ClassifyFailure's kind, Placement.NoCapacity, ...); required for a failure. */
  protected finish(state: JobState, outcome: Outcome, workUnitSeconds: number, error?: string): void {
    if (state.ended !== null) throw new Error(`job ${state.job.id} ended twice (${state.ended}, then ${outcome})`);
    if (outcome === 'failed' && !error)
      throw new Error(`job ${state.job.id} failed with no error name: every failing path names the error its execution ends with`);
    state.ended = outcome;
    this.ended++;
    if (outcome === 'succeeded') {
      this.meter.completed++;
      this.meter.workUnitSeconds += workUnitSeconds;
      if (this.now - state.job.arrival > state.job.job.slaMinutes * 60) this.meter.slaMisses++;
    } else {
      this.meter.failed++;
      const name = String(error);
      this.meter.failures[name] = (this.meter.failures[name] ?? 0) + 1;
      this.meter.slaMisses++;
    }
    this.onEnded();
  }

  /**
   * One RunJobFlow call now: true when the account's bucket has a token and fewer than 500 clusters are
   * active (EMR's error at the active-cluster limit is not modelled apart: it is treated as a throttle).
   */
  protected tryLaunchNow(): boolean {
    return this.meter.activeClusters < ACTIVE_CLUSTER_QUOTA && this.takeQuotaToken('RunJobFlow');
  }

  protected queuedJobs(): number {
    return 0;
  }

  private readonly quotas = new Map<string, QuotaQueue>();

  /** The account's quota for `op`, every caller's (created with a full bucket on first use). */
  protected quota(op: string): QuotaQueue {
    let found = this.quotas.get(op);
    if (!found) {
      found = new QuotaQueue(op, quotaPolicy(op), {
        now: () => this.now,
        at: (seconds, action) => this.at(seconds, action),
        meter: this.meter,
        changed: () => this.updateQueued(),
      });
      this.quotas.set(op, found);
    }
    return found;
  }

  /**
   * Runs `call` when the account's default quota for `op` has a token. A call that finds none is throttled
   * and tried again when the next token comes, as a Retry on EMR's ThrottlingException would (counted per operation).
   */
  protected whenQuotaAllows(op: string, call: () => void): void {
    this.quota(op).call(() => call());
  }

  /**
   * One call of `op` under a Task's Retry on its throttling error (`policy`, read from the ASL: RunPooledStep's
   * for AddJobFlowSteps): `call` runs when the account's quota has a token; a throttled call is tried again
   * after the policy's delays (FULL jitter: a uniform draw below each), and `giveUp` runs once they are spent,
   * where the state's Catch would take over. Each throttled call is counted once.
   */
  protected callRetrying(op: string, policy: RetryPolicy, call: () => void, giveUp: () => void, retries = 0): void {
    if (this.takeQuotaToken(op)) {
      call();
      return;
    }
    if (retries === 0) this.meter.throttle(op, 1);
    if (retries >= policy.maxAttempts) {
      giveUp();
      return;
    }
    const delay = retryDelays(policy)[retries];
    const wait = policy.jitter === 'FULL' ? this.random.uniform(0, delay) : delay;
    this.at(this.now + wait, () => this.callRetrying(op, policy, call, giveUp, retries + 1));
  }

  protected takeQuotaToken(op: string): boolean {
    return this.quota(op).tryTake();
  }

  /**
   * What a simulated EMR Serverless application needs of this run (./serverlessRun): its clock, draws, meter,
   * job lifecycle, and StartJobRun under the account's quota with RunServerlessJob's throttling Retry.
   */
  protected serverlessHost(): ServerlessHost {
    return {
      now: () => this.now,
      at: (seconds, action) => this.at(seconds, action),
      random: this.random,
      meter: this.meter,
      prices: this.config.prices,
      firstExecutor: (state, at) => this.firstExecutor(state, at),
      finish: (state, outcome, work, error) => this.finish(state, outcome, work, error),
      queueChanged: () => this.updateQueued(),
      startJobRun: (call, giveUp) => this.callRetrying('StartJobRun', this.limits.runServerlessJob.throttleRetry, call, giveUp),
      cancelJobRuns: this.quota('CancelJobRun'),
    };
  }

  /** Calls waiting for a quota token (a step not yet submitted is a job not yet started). */
  protected throttledWaiters(): number {
    let waiting = 0;
    for (const quota of this.quotas.values()) waiting += quota.waiters;
    return waiting;
  }

  /** Jobs waiting to start: launches in CreateCluster's throttling loop, queued entries, throttled calls. */
  protected updateQueued(): void {
    this.meter.setQueued(this.now, this.launchesRetrying + this.queuedJobs() + this.throttledWaiters());
  }

  protected clusterEnded(): void {
    this.meter.changeActive(this.now, -1);
  }

  /** ClassifyFailure's EMR reads (DescribeCluster, ListInstanceFleets, ListInstances, ListSteps, DescribeStep). */
  protected classifyCalls(): void {
    for (const op of ['DescribeCluster', 'ListInstanceFleets', 'ListInstances', 'ListSteps', 'DescribeStep']) this.meter.call(op, this.now);
  }
}

/** What ListInstances shows for a reclaimed Spot node, with its timeline (what a pooled job's classification reads). */
export function lostSpotInstance(reason: { Code: string; Message: string }, at: number): NonNullable<Observation['instances']> {
  const instance = {
    Id: 'ci-SIMULATED',
    Market: 'SPOT',
    Status: { State: 'TERMINATED', StateChangeReason: reason, Timeline: { EndDateTime: new Date(at * 1000).toISOString() } },
  };
  return [instance];
}

export function failedStep(from: number, to: number): NonNullable<Observation['step']> {
  const step = {
    Id: 's-SIMULATED',
    Status: { State: 'FAILED', Timeline: { StartDateTime: new Date(from * 1000).toISOString(), EndDateTime: new Date(to * 1000).toISOString() } },
  };
  return step;
}

/** The default quotas the planner checks: EMR's, and Step Functions' SendTask* for the price book's Region. */
export function apiQuotas(config: PlannerConfig): Record<string, { burst: number; perSecond: number }> {
  return { ...EMR_QUOTAS, ...EMR_SERVERLESS_QUOTAS, ...sfnQuotas(config.prices.region) };
}

function quotaPolicy(op: string): { ratePerSecond: number; burst: number } {
  const quota = EMR_QUOTAS[op] ?? EMR_SERVERLESS_QUOTAS[op];
  return { ratePerSecond: quota.perSecond, burst: quota.burst };
}
