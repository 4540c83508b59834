/**
 * Calls of one API operation under its documented token-bucket quota, first come first served: a call that finds
 * no token waits for the next one (counted once as throttled), as a caller retrying its throttling error until it
 * gets through would. The planner uses it for EMR Serverless' CancelJobRun (1/s, burst 25), which
 * cleanup-execution and the reaper call when they cancel job runs.
 */
import { newBucket, takeTokens, type BucketState } from '../../lib/domain/pools';
import type { Meter } from './meter';

export interface QuotaQueueHost {
  now(): number;
  at(seconds: number, action: () => void): void;
  meter: Meter;
}

export class QuotaQueue {
  private bucket: BucketState | undefined;
  private readonly waiting: Array<{ since: number; action: (at: number) => void; served: boolean }> = [];
  private armed = false;
  /** Calls that found no token at first. */
  throttled = 0;
  /** Seconds each call waited for its token (0 when it had one). */
  readonly waitSeconds: number[] = [];

  constructor(
    readonly op: string,
    private readonly quota: { burst: number; perSecond: number },
    private readonly host: QuotaQueueHost,
  ) {}

  /** Makes the call once a token is free; `action` runs then, with the time it got through (metered then). */
  call(action: (at: number) => void): void {
    const entry = { since: this.host.now(), action, served: false };
    this.waiting.push(entry);
    this.drain();
    if (!entry.served) this.throttled++;
  }

  private drain(): void {
    const now = this.host.now();
    const policy = { ratePerSecond: this.quota.perSecond, burst: this.quota.burst };
    this.bucket ??= newBucket(now * 1000, policy);
    while (this.waiting.length > 0) {
      const { taken, bucket } = takeTokens(this.bucket, 1, now * 1000, policy);
      this.bucket = bucket;
      if (taken === 0) break;
      const next = this.waiting.shift();
      if (!next) break;
      next.served = true;
      this.waitSeconds.push(now - next.since);
      this.host.meter.call(this.op, now);
      next.action(now);
    }
    if (this.waiting.length > 0 && !this.armed) {
      this.armed = true;
      // The next token: a whole one refills in 1 / perSecond seconds at most.
      this.host.at(now + 1 / this.quota.perSecond, () => {
        this.armed = false;
        this.drain();
      });
    }
  }
}
