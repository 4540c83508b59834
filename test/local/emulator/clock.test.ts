/**
 * The virtual clock reaches what local servers tell their clients about time: the `Date` header the AWS SDK
 * reads as the server's clock (a real one made the SDK "correct" a skew and retry failed calls after a random
 * back-off on the virtual clock, local/emulator/clock.ts stampDate).
 */
import { createServer, get, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { holdVirtualClock, type ClockHold } from '../../../local/emulator/clock';
import { virtualClockLeak } from '../../support/leakCheckEnvironment';

const realNow = () => performance.timeOrigin + performance.now();

describe('the virtual clock and local HTTP servers', () => {
  let server: Server;
  let hold: ClockHold;
  beforeEach(async () => {
    hold = holdVirtualClock(0);
    server = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  afterEach(async () => {
    await new Promise((resolve) => server.close(resolve));
    hold.release();
  });

  const dateHeader = () =>
    new Promise<string>((resolve, reject) => {
      get(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, (res) => {
        res.resume();
        res.on('end', () => resolve(String(res.headers.date)));
      }).on('error', reject);
    });

  it('stamps responses with the virtual time, not the wall clock', async () => {
    // Prepare: an emulated hour passes in no real time.
    await new Promise((resolve) => setTimeout(resolve, 3_600_000));

    // Act
    const date = Date.parse(await dateHeader());

    // Assess: the header is the virtual clock's (to its second), an hour from the wall clock's.
    expect(Math.abs(date - Date.now())).toBeLessThan(1_000);
    expect(Date.now() - realNow()).toBeGreaterThan(3_500_000);
  });

  it('the check can fail (negative control): a header stamped by the real clock is an hour off', async () => {
    await new Promise((resolve) => setTimeout(resolve, 3_600_000));
    const real = Date.parse(new Date(realNow()).toUTCString());
    expect(Math.abs(real - Date.now())).not.toBeLessThan(1_000);
  });
});

describe('the test environment catches a suite that leaves the virtual clock installed (test/support/leakCheckEnvironment.ts)', () => {
  it('reports the clock while a hold is open, and nothing once every hold is released', () => {
    // Prepare: a clean process, then two holds (a runtime and its emulator each take one).
    expect(virtualClockLeak()).toBeNull();
    const runtime = holdVirtualClock(0);
    const emulator = holdVirtualClock(0);

    // Act / Assess: one hold released is still a leak (negative control); both released is none.
    runtime.release();
    expect(virtualClockLeak()).toMatch(/virtual clock is still installed.*not stopped/);
    emulator.release();
    expect(virtualClockLeak()).toBeNull();
  });
});
