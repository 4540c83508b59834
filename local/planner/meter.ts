/**
 * What one strategy's run measured: costs by kind, EMR API calls per second by operation, active clusters
 * and queued jobs per minute, start latencies, completions. Counts are kept per virtual second over a
 * horizon of three days (a day of arrivals plus the tail of work and teardown after it).
 */
import { EMR_QUOTAS } from './constants';

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
  readonly calls = new Map<string, Uint32Array>();
  readonly startSeconds: number[] = [];
  readonly pooledStartSeconds: number[] = [];
  launches = 0;
  completed = 0;
  failed = 0;
  slaMisses = 0;
  interruptions = 0;
  lostInstanceHours = 0;
  /** Unit-seconds of Spark work that finished (the floor's measure). */
  workUnitSeconds = 0;
  private readonly active = new Float64Array(HORIZON_SECONDS / 60);
  private readonly queued = new Float64Array(HORIZON_SECONDS / 60);
  private activeNow = 0;
  private queuedNow = 0;
  peakActive = 0;
  private lastMinute = 0;

  call(op: string, at: number, count = 1): void {
    let series = this.calls.get(op);
    if (!series) this.calls.set(op, (series = new Uint32Array(HORIZON_SECONDS)));
    series[clampSecond(at)] += count;
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
    const all = new Uint32Array(HORIZON_SECONDS);
    for (const series of this.calls.values()) for (let i = 0; i < HORIZON_SECONDS; i++) all[i] += series[i];
    const ops = [...[...this.calls.keys()].sort(), 'AllEmrCalls'];
    const peak: Record<string, number> = {};
    const throttled: Record<string, number> = {};
    const perMinute: Record<string, number[]> = {};
    for (const op of ops) {
      const series = op === 'AllEmrCalls' ? all : this.calls.get(op)!;
      let window = 0;
      let best = 0;
      const minutes: number[] = [];
      for (let i = 0; i < HORIZON_SECONDS; i++) {
        window += series[i] - (i >= 60 ? series[i - 60] : 0);
        if (window > best) best = window;
        if (i % 60 === 59 && i < 86_400) minutes.push(window / 60);
      }
      peak[op] = round3(best / 60);
      perMinute[op] = minutes;
      const quota = EMR_QUOTAS[op];
      if (quota) {
        let tokens = quota.burst;
        let dropped = 0;
        for (let i = 0; i < HORIZON_SECONDS; i++) {
          tokens = Math.min(quota.burst, tokens + quota.perSecond) - series[i];
          if (tokens < 0) {
            dropped += -tokens;
            tokens = 0;
          }
        }
        if (dropped > 0) throttled[op] = Math.round(dropped);
      }
    }
    return { peak, throttled, perMinute };
  }
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
