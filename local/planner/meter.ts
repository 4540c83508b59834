/**
 * What one strategy's run measured: costs by kind, EMR and Step Functions API calls per second by operation
 * (the Step Functions SendTask* calls have their own quotas and are not part of `AllEmrCalls`), active clusters
 * and queued jobs per minute, start latencies, completions. API calls are counted per virtual second (only
 * the seconds that had calls are stored) over a horizon of three days: a day of arrivals plus the tail of
 * work and teardown after it.
 */
import { EMR_QUOTAS, SFN_QUOTAS_LARGE_REGIONS } from './constants';

/** Step Functions operations: counted and checked against their own quotas, never against EMR's. */
export const SFN_OPERATIONS: ReadonlySet<string> = new Set(Object.keys(SFN_QUOTAS_LARGE_REGIONS));
/** EMR Serverless operations (another service, with its own quotas): counted, never part of `AllEmrCalls`. */
export const EMR_SERVERLESS_OPERATIONS: ReadonlySet<string> = new Set(['StartJobRun', 'GetJobRun', 'CancelJobRun']);

export const HORIZON_SECONDS = 3 * 86_400;

export interface CostBreakdown {
  ec2: number;
  emrUplift: number;
  emrServerless: number;
  stepFunctions: number;
  lambda: number;
  glue: number;
}

export class Meter {
  readonly cost: CostBreakdown = { ec2: 0, emrUplift: 0, emrServerless: 0, stepFunctions: 0, lambda: 0, glue: 0 };
  readonly calls = new Map<string, Map<number, number>>();
  private figures: ReturnType<Meter['apiFigures']> | undefined;
  /** Trigger → the job's Spark application has its first executor (every strategy's one definition of start). */
  readonly startSeconds: number[] = [];
  /** Trigger → the job's step RUNNING, where that differs from its first executor (EMR on EC2). */
  readonly stepRunningSeconds: number[] = [];
  /** startSeconds of the jobs that ran on a pool (first executor, after any managed-scaling scale-out). */
  readonly pooledStartSeconds: number[] = [];
  readonly capacityWaitSeconds: number[] = [];
  readonly submitWaitSeconds: number[] = [];
  launches = 0;
  completed = 0;
  failed = 0;
  /** Failed runs by the error the execution ends with (ClassifyFailure's kind, Placement.NoCapacity, ...). */
  readonly failures: Record<string, number> = {};
  /** Capacity the strategy paid for and what of it ran Spark work, in 4-vCPU unit-hours (idleShare). */
  provisionedUnitHours = 0;
  busyUnitHours = 0;
  /** Pool leases' units × (release − grant), hours: the pooled path fills it (a lease can precede its scale-out). */
  leasedUnitHours = 0;
  slaMisses = 0;
  interruptions = 0;
  lostInstanceHours = 0;
  /** Pool clusters' provisioned units (core + task, and the primary node counted as one) × hours alive. */
  poolUnitHours = 0;
  pooledWorkUnitSeconds = 0;
  /** Unit-seconds of Spark work that finished (the floor's measure). */
  workUnitSeconds = 0;
  private readonly active = new Float64Array(HORIZON_SECONDS / 60);
  private readonly queued = new Float64Array(HORIZON_SECONDS / 60);
  private activeNow = 0;
  private queuedNow = 0;
  peakActive = 0;
  private lastMinute = 0;

  /** `quotas`: the default quota of each operation counted (EMR's, and Step Functions' for the Region). */
  constructor(private readonly quotas: Record<string, { burst: number; perSecond: number }> = EMR_QUOTAS) {}

  /** Calls that found their quota spent and had to be retried (each call counted once), by operation. */
  readonly retriedCalls: Record<string, number> = {};

  throttle(op: string, count: number): void {
    this.retriedCalls[op] = (this.retriedCalls[op] ?? 0) + count;
  }

  call(op: string, at: number, count = 1): void {
    let series = this.calls.get(op);
    if (!series) {
      series = new Map();
      this.calls.set(op, series);
    }
    const second = clampSecond(at);
    series.set(second, (series.get(second) ?? 0) + count);
    this.figures = undefined;
  }

  /** `.sync` polling of `op` from `from` to `to` (virtual seconds), on Step Functions' schedule. */
  poll(op: string, from: number, to: number, schedule: { fastSeconds: number; fastForSeconds: number; slowSeconds: number }): void {
    let at = from + schedule.fastSeconds;
    while (at < to) {
      this.call(op, at);
      at += at - from < schedule.fastForSeconds ? schedule.fastSeconds : schedule.slowSeconds;
    }
    this.call(op, to);
  }

  changeActive(at: number, delta: number): void {
    this.advance(at);
    this.activeNow += delta;
    this.peakActive = Math.max(this.peakActive, this.activeNow);
    const m = minuteOf(at);
    this.active[m] = Math.max(this.active[m], this.activeNow);
  }

  setQueued(at: number, count: number): void {
    this.advance(at);
    this.queuedNow = count;
    const m = minuteOf(at);
    this.queued[m] = Math.max(this.queued[m], count);
  }

  get activeClusters(): number {
    return this.activeNow;
  }

  private advance(at: number): void {
    const m = minuteOf(at);
    for (let i = this.lastMinute + 1; i <= m; i++) {
      this.active[i] = this.activeNow;
      this.queued[i] = this.queuedNow;
    }
    if (m > this.lastMinute) this.lastMinute = m;
  }

  /** Per-minute samples for the first `minutes` minutes (the report's over-the-day charts). */
  series(minutes: number): { activeClusters: number[]; queuedJobs: number[] } {
    this.advance(minutes * 60 - 1);
    return { activeClusters: Array.from(this.active.subarray(0, minutes)), queuedJobs: Array.from(this.queued.subarray(0, minutes)) };
  }

  /**
   * Peak calls per second by operation (the busiest 60-second window's average, so a poll that happens to
   * share a second with others does not read as a rate) and the operations whose default quota (a token
   * bucket: burst, refill per second) would have throttled calls, with how many.
   */
  apiFigures(): { peak: Record<string, number>; throttled: Record<string, number>; perMinute: Record<string, number[]> } {
    if (this.figures) return this.figures;
    const all = new Map<number, number>();
    for (const [op, series] of this.calls) {
      if (SFN_OPERATIONS.has(op) || EMR_SERVERLESS_OPERATIONS.has(op)) continue;
      for (const [second, count] of series) all.set(second, (all.get(second) ?? 0) + count);
    }
    const ops = [...[...this.calls.keys()].sort(), 'AllEmrCalls'];
    const peak: Record<string, number> = {};
    const throttled: Record<string, number> = {};
    const perMinute: Record<string, number[]> = {};
    for (const op of ops) {
      const series = [...(op === 'AllEmrCalls' ? all : (this.calls.get(op) ?? []))].sort((a, b) => a[0] - b[0]);
      peak[op] = round3(busiestMinute(series) / 60);
      perMinute[op] = minuteAverages(series);
      const quota = this.quotas[op];
      if (quota) {
        const dropped = throttledCalls(series, quota.burst, quota.perSecond);
        if (dropped > 0) throttled[op] = Math.round(dropped);
      }
    }
    this.figures = { peak, throttled, perMinute };
    return this.figures;
  }
}

/** [second, calls] pairs in time order: only the seconds that had calls. */
type Calls = Array<[number, number]>;

/** Most calls in any 60-second window [t − 59, t]. */
function busiestMinute(series: Calls): number {
  let window = 0;
  let best = 0;
  let from = 0;
  for (const [second, count] of series) {
    window += count;
    while (series[from][0] <= second - 60) window -= series[from++][1];
    if (window > best) best = window;
  }
  return best;
}

/** Calls per second, averaged per minute of the day (the report's over-the-day chart). */
function minuteAverages(series: Calls): number[] {
  const minutes = new Array<number>(1440).fill(0);
  for (const [second, count] of series) if (second < 86_400) minutes[Math.floor(second / 60)] += count / 60;
  return minutes.map(round3);
}

/** Calls a token bucket (burst, refill per second) would have refused. */
function throttledCalls(series: Calls, burst: number, perSecond: number): number {
  let tokens = burst;
  let last = 0;
  let dropped = 0;
  for (const [second, count] of series) {
    tokens = Math.min(burst, tokens + (second - last) * perSecond) - count;
    last = second;
    if (tokens < 0) {
      dropped -= tokens;
      tokens = 0;
    }
  }
  return dropped;
}

function clampSecond(at: number): number {
  return Math.min(HORIZON_SECONDS - 1, Math.max(0, Math.floor(at)));
}

function minuteOf(at: number): number {
  return Math.min(HORIZON_SECONDS / 60 - 1, Math.max(0, Math.floor(at / 60)));
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}
