/**
 * One API operation under its documented token-bucket quota, for every caller of a simulated day: the account's
 * bucket for the operation (one per operation, so every caller of it shares it) and the calls waiting on it,
 * first come first served. `tryTake` is a caller that handles a throttle itself (a Retry, a dispatcher that hands
 * a batch back); `call` is one that keeps trying until it gets through, waiting exactly until the next token
 * (counted once as throttled). Run keeps one per operation (Run.quota); EMR Serverless's CancelJobRun, the
 * per-job strategies' AddJobFlowSteps and every Retry read the same ones.
 */
import { newBucket, takeTokens, type BucketPolicy, type BucketState } from '../../lib/domain/pools';
import type { Meter } from './meter';

export interface QuotaQueueHost {
  now(): number;
  at(seconds: number, action: () => void): void;
  meter: Meter;
  /** The queue of waiting calls changed (the run's queued-jobs series counts them). */
  changed?(): void;
}

export class QuotaQueue {
  private bucket: BucketState | undefined;
  private readonly waiting: Array<{ since: number; action: (at: number) => void; served: boolean }> = [];
  private armed = false;
  /** Calls (`call`) that found no token at first. */
  throttled = 0;
  /** Seconds each call (`call`) waited for its token (0 when it had one). */
  readonly waitSeconds: number[] = [];

  constructor(
    readonly op: string,
    private readonly policy: BucketPolicy,
    private readonly host: QuotaQueueHost,
  ) {}

  /** Calls waiting for a token. */
  get waiters(): number {
    return this.waiting.length;
  }

  /** A token now, if the bucket has one and no earlier call is waiting for it. */
  tryTake(): boolean {
    return this.waiting.length === 0 && this.take();
  }

  /** Makes the call once a token is free; `action` runs then, with the time it got through. */
  call(action: (at: number) => void): void {
    const entry = { since: this.host.now(), action, served: false };
    this.waiting.push(entry);
    this.drain();
    if (!entry.served) {
      this.throttled++;
      this.host.meter.throttle(this.op, 1);
    }
  }

  private take(): boolean {
    const now = this.host.now() * 1000;
    this.bucket ??= newBucket(now, this.policy);
    const { taken, bucket } = takeTokens(this.bucket, 1, now, this.policy);
    this.bucket = bucket;
    return taken > 0;
  }

  private drain(): void {
    const now = this.host.now();
    while (this.waiting.length > 0 && this.take()) {
      const next = this.waiting.shift();
      if (!next) break;
      next.served = true;
      this.waitSeconds.push(now - next.since);
      next.action(now);
    }
    this.host.changed?.();
    if (this.waiting.length > 0 && !this.armed) {
      this.armed = true;
      // The next whole token: what the bucket lacks of one, at its refill rate.
      const lacking = 1 - (this.bucket?.tokens ?? 0);
      this.host.at(now + Math.max(1e-3, lacking / this.policy.ratePerSecond), () => {
        this.armed = false;
        this.drain();
      });
    }
  }
}
