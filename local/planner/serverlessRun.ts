/**
 * EMR Serverless, simulated rather than priced: one application whose workers are chosen from each job's
 * sizing (a driver and the sized executors, each a valid worker configuration), optional pre-initialized
 * capacity (drivers and executors, billed while the application is up, idle included), the application's
 * maximum capacity and the account's concurrent-vCPU quota with a queue when they are reached, a start
 * latency drawn per job (cold, or pre-initialized), and per-worker billing with its 1-minute minimum.
 */
import type { PriceBook } from '../../lib/config/prices';
import { SPARK_STARTUP_SECONDS } from '../../lib/domain/sizing';
import { workerForExecutor, workersForSpark } from '../../lib/domain/serverlessWorkers';
import type { Sizing } from '../../lib/domain/types';
import {
  SERVERLESS_ACCOUNT_VCPU_QUOTA,
  SERVERLESS_COLD_START_SECONDS,
  SERVERLESS_MAX_CONCURRENT_RUNS,
  SERVERLESS_PREINIT_START_SECONDS,
  SERVERLESS_SPARK_STARTUP_SECONDS,
  SERVERLESS_WORKER_MINIMUM_SECONDS,
  SYNC_POLL,
} from './constants';
import { trueStepSeconds, type SizedJob } from './decisions';
import type { Meter } from './meter';
import type { QuotaQueue } from './quotaQueue';
import type { Random } from './random';
import { Run, type JobState, type Outcome } from './run';
import { SERVERLESS_THROTTLED } from './stateMachineLimits';

/** A job run's queue wait past which EMR Serverless fails it (queueTimeoutMinutes' default, 360; REFERENCE.md). */
export const SERVERLESS_QUEUE_TIMEOUT_SECONDS = 360 * 60;
/** What a failed job run gives `emr-serverless:startJobRun.sync` (a run that ends FAILED). */
export const SERVERLESS_RUN_FAILED = 'States.TaskFailed';
/** How an aborted run-job execution ends (its status; cleanup-execution then cancels its job run). */
export const EXECUTION_ABORTED = 'ABORTED';

export interface ServerlessWorker {
  vcpu: number;
  memoryGb: number;
}

export type ServerlessArchitecture = 'X86_64' | 'ARM64';

export interface ServerlessApplication {
  architecture: ServerlessArchitecture;
  /** initialCapacity: workers kept up all day, in the executors' worker configuration. */
  preInitialized: { drivers: number; executors: number };
  maxVcpu: number;
}

/**
 * The worker a job's executor needs, the one place-job asks StartJobRun for (lib/domain/serverlessWorkers.ts
 * workerForExecutor); the driver's is driverFor's.
 */
export function workerFor(sizing: Pick<Sizing, 'spark'>): ServerlessWorker {
  const { vcpu, memoryGb } = workerForExecutor(sizing.spark);
  return { vcpu, memoryGb };
}

/** The worker a job's driver asks for: the executor's, unless sizing sized the driver apart (workersForSpark). */
export function driverFor(sizing: Pick<Sizing, 'spark'>): ServerlessWorker {
  const { vcpu, memoryGb } = workersForSpark(sizing.spark).driver;
  return { vcpu, memoryGb };
}

/** The driver worker most of the day's jobs ask for: pre-initialized drivers'. */
export function dayDriver(jobs: readonly SizedJob[]): ServerlessWorker {
  return mostAsked(jobs, driverFor) ?? { vcpu: 4, memoryGb: 8 };
}

function mostAsked(jobs: readonly SizedJob[], workerOf: (sizing: Sizing) => ServerlessWorker): ServerlessWorker | undefined {
  const counts = new Map<string, { worker: ServerlessWorker; jobs: number }>();
  for (const job of jobs) {
    const worker = workerOf(job.sizing);
    const key = `${worker.vcpu}/${worker.memoryGb}`;
    const seen = counts.get(key) ?? { worker, jobs: 0 };
    seen.jobs += 1;
    counts.set(key, seen);
  }
  return [...counts.values()].sort((a, b) => b.jobs - a.jobs)[0]?.worker;
}

/**
 * The executor worker most of the day's jobs ask for: pre-initialized capacity's. Sizing gives two executor
 * configurations (a one-unit job's 3-core executor beside its driver, and bigger jobs' 4-core ones), each a
 * worker of its own.
 */
export function dayWorker(jobs: readonly SizedJob[]): ServerlessWorker {
  return mostAsked(jobs, workerFor) ?? { vcpu: 4, memoryGb: 8 };
}

/** A step's seconds (EMR's Spark start + data work) as a Serverless job run's, once its workers are up. */
export function asServerlessSeconds(stepSeconds: number): number {
  return stepSeconds - SPARK_STARTUP_SECONDS + SERVERLESS_SPARK_STARTUP_SECONDS;
}

/** Workers a job runs on: its driver and its executors (sparkConf's executorInstances). */
export function workersOf(job: SizedJob): number {
  return 1 + job.sizing.spark.executorInstances;
}

/** USD per worker-hour on `architecture`; ARM64 needs its prices in config/prices.json services. */
export function workerHourly(prices: PriceBook, worker: ServerlessWorker, architecture: ServerlessArchitecture): number {
  const s = prices.services;
  if (!s) throw new Error('config/prices.json: services: missing; `emrflow simulate` needs the EMR Serverless prices there');
  if (architecture === 'ARM64') {
    if (!s.emrServerlessArm64VcpuHour || !s.emrServerlessArm64GbHour)
      throw new Error('config/prices.json: services.emrServerlessArm64VcpuHour / emrServerlessArm64GbHour: missing for an ARM64 application');
    return worker.vcpu * s.emrServerlessArm64VcpuHour.usd + worker.memoryGb * s.emrServerlessArm64GbHour.usd;
  }
  return worker.vcpu * s.emrServerlessVcpuHour.usd + worker.memoryGb * s.emrServerlessGbHour.usd;
}

/** The cheaper architecture the price book prices (ARM64 when its prices are there and lower). */
export function cheapestArchitecture(prices: PriceBook, worker: ServerlessWorker): ServerlessArchitecture {
  const s = prices.services;
  if (!s?.emrServerlessArm64VcpuHour || !s.emrServerlessArm64GbHour) return 'X86_64';
  return workerHourly(prices, worker, 'ARM64') < workerHourly(prices, worker, 'X86_64') ? 'ARM64' : 'X86_64';
}

/** The workers StartJobRun asks for: a driver, and `workers` − 1 executors of `worker`'s configuration. */
export interface RunShape {
  driver: ServerlessWorker;
  worker: ServerlessWorker;
  workers: number;
}

interface Queued extends RunShape {
  state: JobState;
  since: number;
  /** Cancelled while queued: admission skips it. */
  cancelled?: boolean;
  /** Its execution was aborted: the run, if it still starts, ends without finishing the execution again. */
  executionEnded?: boolean;
}

/** A job run holding workers: what a CancelJobRun gives back and stops billing. */
interface Running extends RunShape {
  drivers: number;
  executors: number;
  /** vCPU and USD per hour of its on-demand workers (the ones not served by pre-initialized capacity). */
  onDemandVcpu: number;
  onDemandHourly: number;
  ready: number;
  end: number;
  cancelled: boolean;
  executionEnded: boolean;
}

/** What the simulated application needs of the run it belongs to: its clock, draws, meter and job lifecycle. */
export interface ServerlessHost {
  now(): number;
  at(seconds: number, action: () => void): void;
  random: Random;
  meter: Meter;
  prices: PriceBook;
  /** The job's Spark application has its first executor at `at`. */
  firstExecutor(state: JobState, at: number): void;
  finish(state: JobState, outcome: Outcome, workUnitSeconds: number, error?: string): void;
  /** The application's queue changed (the run recounts its queued jobs). */
  queueChanged(): void;
  /** StartJobRun under the account's quota: `call` once a call gets through, `giveUp` when the Retry is spent. */
  startJobRun(call: () => void, giveUp: () => void): void;
  /** The account's CancelJobRun quota (1/s, burst 25), which cleanup-execution and the reaper call under. */
  cancelJobRuns: QuotaQueue;
}

/**
 * One simulated EMR Serverless application, shared by the job runs placed on it: the emr-serverless strategies
 * put every job there, emrflow-hybrid the jobs its rules send to Serverless. Each job run costs a StartJobRun
 * and the GetJobRun polls of `emr-serverless:startJobRun.sync` (Step Functions' .sync schedule).
 */
export class ServerlessApplicationSim {
  private readonly pending: Queued[] = [];
  private head = 0;
  private vcpuInUse = 0;
  private runs = 0;
  private freeDrivers: number;
  private freeExecutors: number;
  private readonly preInitVcpu: number;
  lastEnd = 0;
  readonly queueWaitSeconds: number[] = [];
  /** Job runs asked for, one per attempt placed here. */
  jobRuns = 0;
  /** Attempts whose StartJobRun stayed throttled through RunServerlessJob's Retry (the execution fails). */
  startsThrottledOut = 0;
  private admitArmed = false;
  private readonly queued = new Map<string, Queued>();
  private readonly running = new Map<string, Running>();
  /**
   * cleanup-execution's (and the reaper's) CancelJobRun calls, under its documented quota (1/s, burst 25; see
   * EMR_SERVERLESS_QUOTAS): an abort of many executions at once cancels their job runs one token at a time.
   */
  readonly cancels: QuotaQueue;

  constructor(
    readonly application: ServerlessApplication,
    /** The pre-initialized executors' configuration: the one every job's sizing gives (DEFAULT_SIZING's executor). */
    readonly preInitWorker: ServerlessWorker,
    private readonly host: ServerlessHost,
    /** The pre-initialized drivers' configuration. */
    readonly preInitDriver: ServerlessWorker = preInitWorker,
  ) {
    this.cancels = host.cancelJobRuns;
    this.freeDrivers = application.preInitialized.drivers;
    this.freeExecutors = application.preInitialized.executors;
    this.preInitVcpu = application.preInitialized.drivers * preInitDriver.vcpu + application.preInitialized.executors * preInitWorker.vcpu;
    if (this.preInitVcpu > Math.min(application.maxVcpu, SERVERLESS_ACCOUNT_VCPU_QUOTA)) {
      throw new Error(
        `pre-initialized capacity of ${this.preInitVcpu} vCPU exceeds the application's maximum (${application.maxVcpu}) or the account quota (${SERVERLESS_ACCOUNT_VCPU_QUOTA})`,
      );
    }
  }

  private get now(): number {
    return this.host.now();
  }

  /**
   * StartJobRun for the job's attempt: the run queues in the application until it has room. `shape`: the
   * workers StartJobRun asks for (place-job's placement); by default the sizing's driver and executors.
   */
  submit(state: JobState, shape?: RunShape): void {
    this.jobRuns++;
    this.host.startJobRun(
      () => this.started(state, shape),
      () => {
        this.startsThrottledOut++;
        this.host.finish(state, 'failed', 0, SERVERLESS_THROTTLED);
      },
    );
  }

  /** StartJobRun got through: the run queues in the application until it has room. */
  private started(state: JobState, shape?: RunShape): void {
    const job = state.job;
    this.host.meter.call('StartJobRun', this.now);
    const worker = shape?.worker ?? workerFor(job.sizing);
    const driver = shape?.driver ?? driverFor(job.sizing);
    const workers = shape?.workers ?? workersOf(job);
    if (driver.vcpu + (workers - 1) * worker.vcpu > Math.min(this.application.maxVcpu, SERVERLESS_ACCOUNT_VCPU_QUOTA)) {
      this.host.meter.call('GetJobRun', this.now + SYNC_POLL.fastSeconds);
      this.host.finish(state, 'failed', 0, SERVERLESS_RUN_FAILED);
      return;
    }
    const queued: Queued = { state, workers, worker, driver, since: this.now };
    this.pending.push(queued);
    this.queued.set(state.job.id, queued);
    this.admit();
  }

  queuedJobs(): number {
    return this.pending.length - this.head;
  }

  /** Starts queued runs oldest first while the application and the account have room (head-of-line: FIFO). */
  private admit(): void {
    const capacity = Math.min(this.application.maxVcpu, SERVERLESS_ACCOUNT_VCPU_QUOTA);
    while (this.head < this.pending.length) {
      const next = this.pending[this.head];
      if (next.cancelled) {
        this.head++;
        continue;
      }
      if (this.now - next.since > SERVERLESS_QUEUE_TIMEOUT_SECONDS) {
        this.head++;
        this.queued.delete(next.state.job.id);
        this.host.meter.poll('GetJobRun', next.since, this.now, SYNC_POLL);
        this.host.finish(next.state, 'failed', 0, SERVERLESS_RUN_FAILED);
        continue;
      }
      // Pre-initialized capacity serves each role only in the configuration it was created with.
      const drivers = sameWorker(next.driver, this.preInitDriver) ? Math.min(1, this.freeDrivers) : 0;
      const executors = sameWorker(next.worker, this.preInitWorker) ? Math.min(next.workers - 1, this.freeExecutors) : 0;
      const onDemandVcpu = (1 - drivers) * next.driver.vcpu + (next.workers - 1 - executors) * next.worker.vcpu;
      if (this.runs >= SERVERLESS_MAX_CONCURRENT_RUNS || this.preInitVcpu + this.vcpuInUse + onDemandVcpu > capacity) {
        if (this.runs > 0) break;
        // Nothing running will free room: the run can never start (the application's capacity is too small).
        this.head++;
        this.queued.delete(next.state.job.id);
        this.host.meter.poll('GetJobRun', next.since, this.now, SYNC_POLL);
        this.host.finish(next.state, 'failed', 0, SERVERLESS_RUN_FAILED);
        continue;
      }
      this.head++;
      this.queued.delete(next.state.job.id);
      this.start(next, drivers, executors);
    }
    if (this.head > 1024 && this.head * 2 > this.pending.length) {
      this.pending.splice(0, this.head);
      this.head = 0;
    }
    this.host.queueChanged();
  }

  private start(queued: Queued, drivers: number, executors: number): void {
    const { state, worker, driver, workers } = queued;
    const onDemand = workers - drivers - executors;
    const { architecture } = this.application;
    const onDemandExecutors = workers - 1 - executors;
    const onDemandVcpu = (1 - drivers) * driver.vcpu + onDemandExecutors * worker.vcpu;
    const onDemandHourly =
      (1 - drivers) * workerHourly(this.host.prices, driver, architecture) + onDemandExecutors * workerHourly(this.host.prices, worker, architecture);
    const allVcpu = driver.vcpu + (workers - 1) * worker.vcpu;
    const { random, meter } = this.host;
    this.queueWaitSeconds.push(this.now - queued.since);
    this.runs++;
    this.freeDrivers -= drivers;
    this.freeExecutors -= executors;
    this.vcpuInUse += onDemandVcpu;
    const warm = () => random.uniform(SERVERLESS_PREINIT_START_SECONDS.min, SERVERLESS_PREINIT_START_SECONDS.max);
    const cold = () => random.uniform(SERVERLESS_COLD_START_SECONDS.min, SERVERLESS_COLD_START_SECONDS.max);
    // The first executor needs the driver and one executor; the run goes at full width once every worker is up.
    const firstWarm = drivers === 1 && (executors > 0 || workers === 1);
    const warmLatency = warm();
    const coldLatency = onDemand > 0 ? cold() : 0;
    const first = this.now + (firstWarm ? warmLatency : Math.max(warmLatency, coldLatency));
    const ready = this.now + Math.max(warmLatency, coldLatency);
    this.host.firstExecutor(state, first);
    const end = ready + asServerlessSeconds(trueStepSeconds(state.job, workers));
    this.lastEnd = Math.max(this.lastEnd, end);
    // On-demand workers: billed from ready to the end, each at least a minute. Pre-initialized ones are billed all day.
    const billedSeconds = Math.max(SERVERLESS_WORKER_MINIMUM_SECONDS, end - ready);
    meter.cost.emrServerless += onDemandHourly * (billedSeconds / 3600);
    meter.provisionedUnitHours += (onDemandVcpu / 4) * (billedSeconds / 3600);
    meter.busyUnitHours += (allVcpu / 4) * ((end - ready) / 3600);
    // startJobRun.sync polls GetJobRun from the submission until the run ends (SUCCESS).
    meter.poll('GetJobRun', queued.since, end, SYNC_POLL);
    const run: Running = {
      drivers,
      executors,
      onDemandVcpu,
      onDemandHourly,
      worker,
      driver,
      workers,
      ready,
      end,
      cancelled: false,
      executionEnded: queued.executionEnded === true,
    };
    this.running.set(state.job.id, run);
    this.host.at(end, () => {
      if (run.cancelled) return;
      this.release(state, run);
      if (!run.executionEnded) this.host.finish(state, 'succeeded', workers * (end - ready));
    });
  }

  private release(state: JobState, run: Running): void {
    this.running.delete(state.job.id);
    this.runs--;
    this.freeDrivers += run.drivers;
    this.freeExecutors += run.executors;
    this.vcpuInUse -= run.onDemandVcpu;
    this.requestAdmit();
  }

  /**
   * The job's run-job execution was aborted (or timed out, or failed) while its job run was queued or running:
   * the execution ends now, and cleanup-execution cancels the job run with CancelJobRun once the quota lets it
   * (the day's figures never do this: no simulated execution is aborted; the product's abort paths are
   * cleanup-execution and the reaper). A queued run leaves the queue; a running one frees its workers and stops
   * billing when the cancel gets through (its workers' 1-minute minimum still applies). False when the job has no
   * job run here to cancel (not started yet, or ended): the caller ends that execution.
   */
  abort(state: JobState): boolean {
    const id = state.job.id;
    const running = this.running.get(id);
    const queued = this.queued.get(id);
    if (!running && !queued) return false;
    if (running) running.executionEnded = true;
    if (queued) queued.executionEnded = true;
    this.host.finish(state, 'failed', running ? running.workers * Math.max(0, this.now - running.ready) : 0, EXECUTION_ABORTED);
    this.cancels.call((at) => {
      this.host.meter.call('CancelJobRun', at);
      if (queued && this.queued.get(id) === queued) {
        queued.cancelled = true;
        this.queued.delete(id);
        this.host.queueChanged();
        return;
      }
      const run = this.running.get(id);
      if (!run || at >= run.end) return;
      run.cancelled = true;
      this.refundAfter(run, at);
      this.release(state, run);
    });
    return true;
  }

  /** Takes back what start() billed past `at` for a run cancelled then. */
  private refundAfter(run: Running, at: number): void {
    const billed = (until: number) => Math.max(SERVERLESS_WORKER_MINIMUM_SECONDS, until - run.ready);
    const unbilledHours = (billed(run.end) - billed(Math.max(at, run.ready))) / 3600;
    const allVcpu = run.driver.vcpu + (run.workers - 1) * run.worker.vcpu;
    this.host.meter.cost.emrServerless -= run.onDemandHourly * unbilledHours;
    this.host.meter.provisionedUnitHours -= (run.onDemandVcpu / 4) * unbilledHours;
    this.host.meter.busyUnitHours -= (allVcpu / 4) * ((run.end - Math.max(at, run.ready)) / 3600);
  }

  /** Runs ending in the same second free capacity once. */
  private requestAdmit(): void {
    if (this.admitArmed) return;
    this.admitArmed = true;
    this.host.at(this.now, () => {
      this.admitArmed = false;
      this.admit();
    });
  }

  /**
   * Pre-initialized capacity is billed while the application is up: the whole day (it repeats), or until the
   * last run ends when that is later. Call once after the run.
   */
  finishBilling(): void {
    const { drivers, executors } = this.application.preInitialized;
    if (drivers + executors === 0) return;
    const { architecture } = this.application;
    const hours = Math.max(86_400, this.lastEnd) / 3600;
    const hourly =
      drivers * workerHourly(this.host.prices, this.preInitDriver, architecture) + executors * workerHourly(this.host.prices, this.preInitWorker, architecture);
    this.host.meter.cost.emrServerless += hourly * hours;
    this.host.meter.provisionedUnitHours += ((drivers * this.preInitDriver.vcpu + executors * this.preInitWorker.vcpu) / 4) * hours;
  }
}

/** Every job on one simulated application (the emr-serverless and emr-serverless-preinit strategies). */
export class ServerlessRun extends Run {
  readonly sim: ServerlessApplicationSim;

  constructor(
    readonly application: ServerlessApplication,
    ...args: ConstructorParameters<typeof Run>
  ) {
    super(...args);
    this.sim = new ServerlessApplicationSim(application, dayWorker(this.jobs), this.serverlessHost(), dayDriver(this.jobs));
  }

  get queueWaitSeconds(): number[] {
    return this.sim.queueWaitSeconds;
  }

  protected place(job: SizedJob, attempt: number): void {
    const state = this.states.get(job.id);
    if (!state) throw new Error(`job ${job.id} was never seen arriving`);
    state.attempt = attempt;
    // startJobRun.sync in place of CreateCluster → RunSparkStep: the dedicated path's transitions and Lambdas.
    this.chargeOrchestration('dedicated', attempt > 1);
    this.sim.submit(state);
  }

  protected queuedJobs(): number {
    return this.sim.queuedJobs();
  }

  /** Pre-initialized capacity's all-day bill (ServerlessApplicationSim.finishBilling). Call once after run(). */
  finishBilling(): void {
    this.sim.finishBilling();
  }
}

/** Whether two worker configurations are the same (pre-initialized capacity serves only its own). */
export function sameWorker(a: ServerlessWorker, b: ServerlessWorker): boolean {
  return a.vcpu === b.vcpu && a.memoryGb === b.memoryGb;
}
