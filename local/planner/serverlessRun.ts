/**
 * EMR Serverless, simulated rather than priced: one application whose workers are chosen from each job's
 * sizing (a driver and the sized executors, each a valid worker configuration), optional pre-initialized
 * capacity (drivers and executors, billed while the application is up, idle included), the application's
 * maximum capacity and the account's concurrent-vCPU quota with a queue when they are reached, a start
 * latency drawn per job (cold, or pre-initialized), and per-worker billing with its 1-minute minimum.
 */
import type { PriceBook } from '../../lib/config/prices';
import type { Sizing } from '../../lib/domain/types';
import {
  SERVERLESS_ACCOUNT_VCPU_QUOTA,
  SERVERLESS_COLD_START_SECONDS,
  SERVERLESS_MAX_CONCURRENT_RUNS,
  SERVERLESS_MEMORY_OVERHEAD,
  SERVERLESS_PREINIT_START_SECONDS,
  SERVERLESS_WORKER_MINIMUM_SECONDS,
  SERVERLESS_WORKER_SIZES,
} from './constants';
import { trueStepSeconds, type SizedJob } from './decisions';
import { Run, type JobState } from './run';

/** A job run's queue wait past which EMR Serverless fails it (queueTimeoutMinutes' default, 360; REFERENCE.md). */
export const SERVERLESS_QUEUE_TIMEOUT_SECONDS = 360 * 60;
/** What a failed job run gives `emr-serverless:startJobRun.sync` (a run that ends FAILED). */
export const SERVERLESS_RUN_FAILED = 'States.TaskFailed';

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
 * The worker a job's executor needs: the smallest valid configuration with the executor's cores and room for
 * its heap plus Spark's memoryOverhead. The driver gets the same configuration (pre-initialized workers serve
 * only jobs whose configuration matches theirs, so one configuration per application).
 */
export function workerFor(sizing: Pick<Sizing, 'spark'>): ServerlessWorker {
  const { executorCores, executorMemoryGiB } = sizing.spark;
  const needGb = executorMemoryGiB + Math.max(SERVERLESS_MEMORY_OVERHEAD.minGb, SERVERLESS_MEMORY_OVERHEAD.share * executorMemoryGiB);
  for (const size of SERVERLESS_WORKER_SIZES) {
    if (size.vcpu < executorCores) continue;
    const memoryGb = Math.max(size.minGb, Math.ceil(needGb / size.stepGb) * size.stepGb);
    if (memoryGb <= size.maxGb) return { vcpu: size.vcpu, memoryGb };
  }
  throw new Error(
    `no EMR Serverless worker has ${executorCores} vCPU and ${needGb.toFixed(1)} GB (executor ${executorMemoryGiB} GiB + overhead); the largest is 16 vCPU / 120 GB`,
  );
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

interface Queued {
  state: JobState;
  workers: number;
  worker: ServerlessWorker;
  since: number;
}

export class ServerlessRun extends Run {
  private readonly pending: Queued[] = [];
  private head = 0;
  private vcpuInUse = 0;
  private runs = 0;
  private freeDrivers: number;
  private freeExecutors: number;
  private readonly preInitVcpu: number;
  private lastEnd = 0;
  readonly queueWaitSeconds: number[] = [];
  private admitArmed = false;

  constructor(
    readonly application: ServerlessApplication,
    ...args: ConstructorParameters<typeof Run>
  ) {
    super(...args);
    this.freeDrivers = application.preInitialized.drivers;
    this.freeExecutors = application.preInitialized.executors;
    this.preInitVcpu = (application.preInitialized.drivers + application.preInitialized.executors) * this.preInitWorker().vcpu;
    if (this.preInitVcpu > Math.min(application.maxVcpu, SERVERLESS_ACCOUNT_VCPU_QUOTA)) {
      throw new Error(
        `pre-initialized capacity of ${this.preInitVcpu} vCPU exceeds the application's maximum (${application.maxVcpu}) or the account quota (${SERVERLESS_ACCOUNT_VCPU_QUOTA})`,
      );
    }
  }

  /** The pre-initialized workers' configuration: the one every job's sizing gives (DEFAULT_SIZING's executor). */
  private preInitWorker(): ServerlessWorker {
    return this.jobs.length > 0 ? workerFor(this.jobs[0].sizing) : { vcpu: 4, memoryGb: 8 };
  }

  protected place(job: SizedJob, attempt: number): void {
    const state = this.states.get(job.id)!;
    state.attempt = attempt;
    // startJobRun.sync in place of CreateCluster → RunSparkStep: the dedicated path's transitions and Lambdas.
    this.chargeOrchestration('dedicated', attempt > 1);
    const worker = workerFor(job.sizing);
    const workers = workersOf(job);
    if (workers * worker.vcpu > Math.min(this.application.maxVcpu, SERVERLESS_ACCOUNT_VCPU_QUOTA)) {
      this.finish(state, 'failed', 0, SERVERLESS_RUN_FAILED);
      return;
    }
    this.pending.push({ state, workers, worker, since: this.now });
    this.admit();
  }

  protected queuedJobs(): number {
    return this.pending.length - this.head;
  }

  /** Starts queued runs oldest first while the application and the account have room (head-of-line: FIFO). */
  private admit(): void {
    const capacity = Math.min(this.application.maxVcpu, SERVERLESS_ACCOUNT_VCPU_QUOTA);
    while (this.head < this.pending.length) {
      const next = this.pending[this.head];
      if (this.now - next.since > SERVERLESS_QUEUE_TIMEOUT_SECONDS) {
        this.head++;
        this.finish(next.state, 'failed', 0, SERVERLESS_RUN_FAILED);
        continue;
      }
      const fromPool = this.matchesPreInit(next.worker);
      const drivers = fromPool ? Math.min(1, this.freeDrivers) : 0;
      const executors = fromPool ? Math.min(next.workers - 1, this.freeExecutors) : 0;
      const onDemand = next.workers - drivers - executors;
      if (this.runs >= SERVERLESS_MAX_CONCURRENT_RUNS || this.preInitVcpu + this.vcpuInUse + onDemand * next.worker.vcpu > capacity) {
        if (this.runs > 0) break;
        // Nothing running will free room: the run can never start (the application's capacity is too small).
        this.head++;
        this.finish(next.state, 'failed', 0, SERVERLESS_RUN_FAILED);
        continue;
      }
      this.head++;
      this.start(next, drivers, executors, onDemand);
    }
    if (this.head > 1024 && this.head * 2 > this.pending.length) {
      this.pending.splice(0, this.head);
      this.head = 0;
    }
    this.meter.setQueued(this.now, this.queuedJobs());
  }

  private matchesPreInit(worker: ServerlessWorker): boolean {
    const pre = this.preInitWorker();
    return pre.vcpu === worker.vcpu && pre.memoryGb === worker.memoryGb;
  }

  private start(queued: Queued, drivers: number, executors: number, onDemand: number): void {
    const { state, worker, workers } = queued;
    this.queueWaitSeconds.push(this.now - queued.since);
    this.runs++;
    this.freeDrivers -= drivers;
    this.freeExecutors -= executors;
    this.vcpuInUse += onDemand * worker.vcpu;
    const warm = () => this.random.uniform(SERVERLESS_PREINIT_START_SECONDS.min, SERVERLESS_PREINIT_START_SECONDS.max);
    const cold = () => this.random.uniform(SERVERLESS_COLD_START_SECONDS.min, SERVERLESS_COLD_START_SECONDS.max);
    // The first executor needs the driver and one executor; the run goes at full width once every worker is up.
    const firstWarm = drivers === 1 && (executors > 0 || workers === 1);
    const warmLatency = warm();
    const coldLatency = onDemand > 0 ? cold() : 0;
    const first = this.now + (firstWarm ? warmLatency : Math.max(warmLatency, coldLatency));
    const ready = this.now + Math.max(warmLatency, coldLatency);
    this.firstExecutor(state, first);
    const end = ready + trueStepSeconds(state.job, workers);
    this.lastEnd = Math.max(this.lastEnd, end);
    const hourly = workerHourly(this.config.prices, worker, this.application.architecture);
    // On-demand workers: billed from ready to the end, each at least a minute. Pre-initialized ones are billed all day.
    const billedSeconds = Math.max(SERVERLESS_WORKER_MINIMUM_SECONDS, end - ready);
    this.meter.cost.emrServerless += onDemand * hourly * (billedSeconds / 3600);
    this.meter.provisionedUnitHours += onDemand * (worker.vcpu / 4) * (billedSeconds / 3600);
    this.meter.busyUnitHours += workers * (worker.vcpu / 4) * ((end - ready) / 3600);
    this.at(end, () => {
      this.runs--;
      this.freeDrivers += drivers;
      this.freeExecutors += executors;
      this.vcpuInUse -= onDemand * worker.vcpu;
      this.finish(state, 'succeeded', workers * (end - ready));
      this.requestAdmit();
    });
  }

  /** Runs ending in the same second free capacity once. */
  private requestAdmit(): void {
    if (this.admitArmed) return;
    this.admitArmed = true;
    this.at(this.now, () => {
      this.admitArmed = false;
      this.admit();
    });
  }

  /**
   * Pre-initialized capacity is billed while the application is up: the whole day (it repeats), or until the
   * last run ends when that is later. Call once after run().
   */
  finishBilling(): void {
    const { drivers, executors } = this.application.preInitialized;
    if (drivers + executors === 0) return;
    const worker = this.preInitWorker();
    const hours = Math.max(86_400, this.lastEnd) / 3600;
    this.meter.cost.emrServerless += (drivers + executors) * workerHourly(this.config.prices, worker, this.application.architecture) * hours;
    this.meter.provisionedUnitHours += (drivers + executors) * (worker.vcpu / 4) * hours;
  }
}
