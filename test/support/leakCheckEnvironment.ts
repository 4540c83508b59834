/**
 * jest's node environment, plus one check when a test file ends: the local runtime's virtual clock
 * (local/emulator/clock.ts) must be uninstalled. A runtime or an emulator holds the clock until its stop(), so
 * a clock still installed means a suite left one running: its servers keep listening (jest never exits) and its
 * fake timers stay in Node's shared `timers` module, where they drive the next suites' timers (middy's Lambda
 * deadline fired mid-handler in a later suite so). Failing the suite that leaked names it at once, and the
 * clock is uninstalled so the files after it run on real timers.
 */
import timers from 'node:timers';
import NodeEnvironment from 'jest-environment-node';

/** Why the process's timers are not the real ones, or null when they are. */
export function virtualClockLeak(): string | null {
  if (!('clock' in timers.setTimeout)) return null;
  return (
    "the virtual clock is still installed in Node's timers module when this test file ended: a local runtime or " +
    'emulator it started was not stopped (stop() it in afterEach/afterAll, every one a test starts), or a ' +
    'holdVirtualClock() hold was not released'
  );
}

export default class LeakCheckEnvironment extends NodeEnvironment {
  async teardown(): Promise<void> {
    const leak = virtualClockLeak();
    // The next test files get the real timers back all the same; the leaked servers stay for the error to name.
    if (leak) (timers.setTimeout as unknown as { clock: { uninstall(): void } }).clock.uninstall();
    await super.teardown();
    if (leak) throw new Error(leak);
  }
}
