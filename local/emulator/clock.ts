/**
 * One virtual clock for the whole local runtime: the emulator, the runner (Wait states, Retry intervals,
 * TimeoutSeconds, HeartbeatSeconds, `.sync` polling, schedules, EventBridge delivery) and the in-process
 * Lambdas all read it, so what a run does never depends on how busy the machine is.
 *
 * How: `@sinonjs/fake-timers` replaces the process's `setTimeout`/`setInterval`/`Date` while a runtime or
 * an emulator is up. Faking the whole process (rather than threading a clock through every module) is what
 * reaches the timers we do not own: aws-local-stepfunctions' Wait, Retry and execution timeouts, the SDK's
 * retry back-off, middy's Lambda deadline and every `Date.now()` a handler reads. What it does not reach is
 * deliberate: `setImmediate`, `process.nextTick` and `performance.now()` stay real, and so do Node's own
 * socket and HTTP-server timers (they use its internal timer list, not the globals), so dynalite, the
 * emulator's servers and the SDK's sockets keep working (the `Date` those servers stamp is made virtual, see
 * stampDate). The SDK's only request-path timers (socket and connection timeouts) are off by default, and a
 * timer that is due is fired at once, so nothing can wait on a frozen clock.
 *
 * The clock is a discrete-event clock: it jumps to the next timer only when the process is quiescent — no
 * HTTP request in flight (client or server side, counted through Node's `http.*` diagnostics channels, so
 * the SDK calls from handlers, dynalite, the emulator and the Step Functions endpoint are all seen), no file
 * system or DNS request pending, and a few event-loop turns without new work. It fires one timer at a time
 * and lets the work it starts finish before the next, so a slow machine changes how long a run takes, never
 * what it does. While real work runs (a real spark-submit, registered with `beginRealWork`), emulated time
 * follows real time instead, and jumps again once it ends.
 *
 * `pacing` (the `--time-scale` of the CLI) is a real-time pacing for people who watch a run live: a jump of
 * Δ emulated seconds takes at least Δ × pacing real seconds, the clock moving smoothly meanwhile. It changes
 * when things happen in real time, never what happens. 0 jumps at once.
 *
 * No library offers the quiescence part (fake-timers only advances when told to), hence this driver.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import FakeTimers from '@sinonjs/fake-timers';

// Captured before any fake clock is installed: the driver itself must run on real time.
const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;
const realSetImmediate = globalThis.setImmediate;
const realNow = () => performance.timeOrigin + performance.now();

/**
 * Emulated ms between the end of one hold of the clock and the start of the next in the same process. A run's
 * emulated timeline outruns the wall clock (a 25-minute load takes 30 real seconds), so a timeline started
 * from the wall clock would begin inside the previous one, and what a warm handler module kept stamped in
 * emulated time (place-job's two-second registry snapshot) would lie in the new run's future and be taken as
 * fresh: a second run in one process would read the first run's registry. Continuing an hour on, as a new
 * Lambda container would, leaves everything a previous run kept in the past.
 */
const BETWEEN_RUNS_MS = 60 * 60 * 1000;
/** Event-loop turns with nothing in flight before the clock may jump (work deferred by setImmediate shows up meanwhile). */
const SETTLE_TURNS = 3;
/** Real ms between checks while waiting on something the driver is not told about (file I/O, real work). */
const POLL_MS = 2;
/** Real ms between the smooth moves of a paced or real-time clock. */
const PACE_STEP_MS = 25;
/**
 * Work in flight that no request counts: libuv requests (file system, DNS, connects, writes, thread-pool
 * jobs) and anyone's pending setImmediate (a library yielding between chunks of its work; the driver's own
 * has already run when it looks).
 */
const PENDING_WORK = /Req|ConnectWrap|WriteWrap|ShutdownWrap|Zlib|Job|^Immediate$/;

type FakeClock = ReturnType<ReturnType<typeof FakeTimers.withGlobal>['install']>;
interface FakeTimer {
  callAt: number;
}

class VirtualTime {
  private clock: FakeClock | null = null;
  /** Open holds and the pacing each asked for: the slowest pacing wins. */
  private holders = new Map<symbol, number>();
  private inFlight = 0;
  private realWork = 0;
  private quietTurns = 0;
  /** The driver's next run: on the next turn ('turn'), after a real delay ('timer'), or not yet. */
  private scheduled: 'turn' | 'timer' | null = null;
  private waitTimer: ReturnType<typeof setTimeout> | null = null;
  /** While pacing or following real work: the real and emulated instants the smooth move started from. */
  private anchor: { real: number; virtual: number; scale: number } | null = null;
  /** Counts installs: a request that began under an earlier clock does not count against this one. */
  private generation = 0;
  /** Where the last install's timeline ended (emulated epoch ms), once there was one. */
  private lastEnd: number | null = null;
  private readonly onClientRequest = ({ request }: { request: ClientRequest }) => this.track(request);
  private readonly onServerRequest = ({ response }: { response: ServerResponse }) => {
    this.stampDate(response);
    this.track(response);
  };

  retain(pacing: number): symbol {
    const holder = Symbol('virtual-clock-holder');
    this.holders.set(holder, pacing);
    if (!this.clock) this.install();
    return holder;
  }

  release(holder: symbol): void {
    if (!this.holders.delete(holder) || this.holders.size > 0) return;
    unsubscribe('http.client.request.created', this.onClientRequest as never);
    unsubscribe('http.server.request.start', this.onServerRequest as never);
    if (this.waitTimer) realClearTimeout(this.waitTimer);
    this.waitTimer = null;
    this.scheduled = null;
    if (this.clock) this.lastEnd = this.clock.now;
    this.clock?.uninstall();
    this.clock = null;
    this.inFlight = 0;
  }

  beginRealWork(): () => void {
    this.realWork += 1;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.realWork -= 1;
      this.anchor = null;
      this.wake();
    };
  }

  private install(): void {
    // Whole seconds: the emulated timeline starts at a round instant, so seconds rounded anywhere round alike;
    // never before the last timeline's end (BETWEEN_RUNS_MS).
    const wall = Math.floor(Date.now() / 1000) * 1000;
    const start = this.lastEnd === null ? wall : Math.max(wall, Math.ceil((this.lastEnd + BETWEEN_RUNS_MS) / 1000) * 1000);
    this.clock = FakeTimers.withGlobal(globalThis).install({
      now: start,
      toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'],
      shouldClearNativeTimers: true,
      loopLimit: 1_000_000,
    });
    this.generation += 1;
    // A timer already due (setTimeout(fn, 0): dynalite makes a created table ACTIVE so) fires on the next turn,
    // as Node's own would, not when the driver next looks.
    const fakeSetTimeout = globalThis.setTimeout;
    globalThis.setTimeout = Object.assign((handler: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
      const timer = fakeSetTimeout(handler, ms, ...args);
      if (!((ms ?? 0) > 0)) this.wake();
      return timer;
    }, fakeSetTimeout) as typeof setTimeout;
    this.quietTurns = 0;
    this.anchor = null;
    subscribe('http.client.request.created', this.onClientRequest as never);
    subscribe('http.server.request.start', this.onServerRequest as never);
    this.wake();
  }

  /**
   * The `Date` header of every local server's response (emulator, dynalite, the Step Functions endpoint) in
   * virtual time. Node stamps it from its own real clock, and the AWS SDK reads it as the server's clock: seeing
   * it minutes away from its own (virtual) clock, it corrects its clock offset and retries the failed call it
   * came with (`clockSkewCorrected`, @aws-sdk/core's SigV4 signer), after a random 0–100 ms back-off on the
   * virtual clock. Whether a correction fell on an error (a lost conditional write, a refused launch) depended
   * on how much real time had passed, so a busy machine moved a dispatch, and every grant after it, by that
   * back-off. With the header virtual there is no skew to correct.
   */
  private stampDate(response: ServerResponse): void {
    if (!this.clock) return;
    response.sendDate = false;
    response.setHeader('Date', new Date().toUTCString());
  }

  private track(emitter: ClientRequest | ServerResponse | IncomingMessage): void {
    if (!this.clock) return;
    this.inFlight += 1;
    this.quietTurns = 0;
    const generation = this.generation;
    let done = false;
    emitter.once('close', () => {
      if (done || !this.clock || generation !== this.generation) return;
      done = true;
      this.inFlight -= 1;
      if (this.inFlight === 0) this.wake();
    });
  }

  /** Runs the driver on the next event-loop turn (once, however many things wake it). */
  private wake(): void {
    if (this.scheduled === 'turn' || !this.clock) return;
    if (this.waitTimer) realClearTimeout(this.waitTimer);
    this.waitTimer = null;
    this.scheduled = 'turn';
    realSetImmediate(() => {
      this.scheduled = null;
      this.drive();
    });
  }

  private sleep(ms: number): void {
    if (this.scheduled || !this.clock) return;
    this.scheduled = 'timer';
    this.waitTimer = realSetTimeout(() => {
      this.waitTimer = null;
      this.scheduled = null;
      this.drive();
    }, ms);
  }

  private nextDue(): number | null {
    const clock = this.clock as unknown as { timerHeap?: { peek(): FakeTimer | undefined }; timers?: Map<number, FakeTimer> };
    // fake-timers keeps its timers in a heap ordered by due time; read its head instead of scanning them all.
    const head = clock.timerHeap?.peek();
    if (head) return head.callAt;
    let first: number | null = null;
    for (const timer of clock.timers?.values() ?? []) if (first === null || timer.callAt < first) first = timer.callAt;
    return first;
  }

  private get pacing(): number {
    return Math.max(0, ...this.holders.values());
  }

  private pendingIo(): boolean {
    return process.getActiveResourcesInfo().some((resource) => PENDING_WORK.test(resource));
  }

  private drive(): void {
    const clock = this.clock;
    if (!clock) return;
    const due = this.nextDue();
    // A timer already due fires at once, busy or not: something in flight may be waiting on it.
    if (due !== null && due <= clock.now) {
      clock.next();
      this.quietTurns = 0;
      this.wake();
      return;
    }
    if (this.realWork > 0) {
      this.moveWithRealTime(clock, due, 1);
      return;
    }
    if (this.inFlight > 0 || this.pendingIo()) {
      this.quietTurns = 0;
      // A request's end wakes the driver; file I/O does not, so look again shortly.
      this.sleep(this.inFlight > 0 ? POLL_MS * 10 : POLL_MS);
      return;
    }
    if (++this.quietTurns < SETTLE_TURNS) {
      this.wake();
      return;
    }
    if (due === null) {
      this.anchor = null;
      this.sleep(POLL_MS * 5);
      return;
    }
    if (this.pacing > 0) {
      this.moveWithRealTime(clock, due, this.pacing);
      return;
    }
    clock.next();
    this.quietTurns = 0;
    this.wake();
  }

  /**
   * Moves the clock as real time passes (1 / scale emulated ms per real ms) and fires the next timer when
   * reached. The pace is kept across jumps (one anchor), so many short jumps cost no more real time than one
   * long one; time lost while work was in flight is made up by at most PACE_STEP_MS of catching up.
   */
  private moveWithRealTime(clock: NonNullable<typeof this.clock>, due: number | null, scale: number): void {
    const real = realNow();
    if (!this.anchor || this.anchor.scale !== scale) this.anchor = { real, virtual: clock.now, scale };
    let target = this.anchor.virtual + (real - this.anchor.real) / scale;
    const maxLead = PACE_STEP_MS / scale;
    if (target > clock.now + maxLead) {
      target = clock.now + maxLead;
      this.anchor = { real, virtual: target, scale };
    }
    if (due !== null && target >= due) {
      clock.next();
      this.quietTurns = 0;
      this.wake();
      return;
    }
    if (target > clock.now) clock.tick(Math.floor(target - clock.now));
    const untilDue = due === null ? PACE_STEP_MS : Math.ceil((due - target) * scale);
    this.sleep(Math.max(1, Math.min(PACE_STEP_MS, untilDue)));
  }
}

const shared = new VirtualTime();

/** The process's real timers, for what must pace itself by the wall clock (a live view, a progress line). */
export const realTimers = {
  setInterval: globalThis.setInterval,
  clearInterval: globalThis.clearInterval,
} as const;

/** A hold on the process's virtual clock: it runs while any hold is open. */
export interface ClockHold {
  release(): void;
}

/**
 * Starts (or joins) the process's virtual clock. `pacing`: real seconds per emulated second at least (0:
 * jump at once). The clock stops, and the real timers come back, when the last hold is released.
 */
export function holdVirtualClock(pacing = 0): ClockHold {
  if (!(pacing >= 0) || !Number.isFinite(pacing)) throw new RangeError(`time scale must be a number ≥ 0, got ${pacing}`);
  const holder = shared.retain(pacing);
  return { release: () => shared.release(holder) };
}

/**
 * Real work the emulated clock must follow in real time while it runs (a real spark-submit is never
 * scaled). Returns the function that ends it.
 */
export function beginRealWork(): () => void {
  return shared.beginRealWork();
}

/**
 * The emulator's view of the clock: simulated durations become timers on the virtual clock, timestamps are
 * virtual-clock times (so they line up with the runner's timeline).
 */
export class EmulatedClock {
  private readonly timers = new Set<NodeJS.Timeout>();

  /** `timeScale`: the pacing of the virtual clock (real seconds per emulated second; 0: no pacing). */
  constructor(readonly timeScale: number) {
    if (!(timeScale >= 0) || !Number.isFinite(timeScale)) {
      throw new RangeError(`timeScale must be a number ≥ 0, got ${timeScale}`);
    }
  }

  /** Runs `fn` after `simSeconds` of emulated time. */
  after(simSeconds: number, fn: () => void): NodeJS.Timeout {
    return this.afterMs(simSeconds * 1000, fn);
  }

  /** Runs `fn` after `ms` emulated milliseconds (which pass in real time while real work runs). */
  afterMs(ms: number, fn: () => void): NodeJS.Timeout {
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
