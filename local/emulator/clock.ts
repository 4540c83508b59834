/**
 * Compressed time for the emulator. Every simulated duration (a 7-minute bootstrap, a 2-minute crawl) is
 * multiplied by `timeScale` before it becomes a real timer, so a whole EMR lifecycle fits in a test.
 * Timestamps reported through the APIs are real wall-clock times: they say when things happened here, so
 * they line up with the runner's own timeline. Real work (a real Spark step) is never scaled.
 */
export class ScaledClock {
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(readonly timeScale: number) {
    if (!(timeScale > 0) || !Number.isFinite(timeScale)) {
      throw new RangeError(`timeScale must be a positive number, got ${timeScale}`);
    }
  }

  /** Real milliseconds that `simSeconds` of simulated time take. */
  realMs(simSeconds: number): number {
    return simSeconds * 1000 * this.timeScale;
  }

  /** Runs `fn` after `simSeconds` of simulated time. */
  after(simSeconds: number, fn: () => void): NodeJS.Timeout {
    return this.afterRealMs(this.realMs(simSeconds), fn);
  }

  /** Runs `fn` after `ms` real milliseconds (for things that are not simulated). */
  afterRealMs(ms: number, fn: () => void): NodeJS.Timeout {
    const timer = setTimeout(
      () => {
        this.timers.delete(timer);
        fn();
      },
      Math.max(0, Math.round(ms)),
    );
    this.timers.add(timer);
    return timer;
  }

  cancel(timer: NodeJS.Timeout | undefined): void {
    if (!timer) return;
    clearTimeout(timer);
    this.timers.delete(timer);
  }

  /** Epoch seconds with a fraction, as AWS JSON protocols carry timestamps. */
  nowSeconds(): number {
    return Date.now() / 1000;
  }

  stopAll(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}
