/**
 * Shared set-up for the emulator tests: an emulator on a loopback port with a compressed clock, the
 * process environment pointed at it (so the real SDK clients find it through AWS_ENDPOINT_URL_*), and a
 * poller. Jest gives every test file its own copy of process.env, so this does not leak between files.
 */
import { startEmulator, emulatorEnv, type Emulator, type EmulatorOptions, type EmulatorEvent } from '../../../local/emulator';

/** 0.001: a 7-minute bootstrap takes 420 ms, a 2-minute crawl 120 ms. */
export const TEST_TIME_SCALE = 0.001;

export async function startTestEmulator(options: EmulatorOptions = {}): Promise<{ emu: Emulator; events: EmulatorEvent[] }> {
  const events: EmulatorEvent[] = [];
  const emu = await startEmulator({ timeScale: TEST_TIME_SCALE, seed: 7, spark: false, logger: (e) => events.push(e), ...options });
  Object.assign(process.env, emulatorEnv(emu));
  return { emu, events };
}

/**
 * Calls `read` every 5 emulated seconds (the emulator's virtual clock; a 7-minute bootstrap is 84 calls, few
 * enough to stay quick on a busy machine) until `done` holds for its result, or fails after `timeoutMs` real
 * ms with the last result.
 */
export async function waitFor<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let last: T = await read();
  while (!done(last)) {
    if (performance.now() > deadline)
      throw new Error(`condition not reached within ${timeoutMs} ms; last value: ${JSON.stringify(last, null, 1).slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, 5000));
    last = await read();
  }
  return last;
}
