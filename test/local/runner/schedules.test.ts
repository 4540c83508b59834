import type { LambdaInvoker } from '../../../local/runner/adapters/lambda';
import { rateSeconds, startSchedules } from '../../../local/runner/schedules';
import type { LocalFunction, ServerlessConfig } from '../../../local/runner/serverless-config';

describe('rate() schedules on the emulated clock', () => {
  it('reads EventBridge rate expressions, singular for 1 and plural otherwise', () => {
    expect(rateSeconds('rate(1 minute)')).toBe(60);
    expect(rateSeconds('rate(5 minutes)')).toBe(300);
    expect(rateSeconds('rate(2 hours)')).toBe(7200);
    expect(rateSeconds('rate(1 minutes)')).toBeNull();
    expect(rateSeconds('cron(0 2 * * ? *)')).toBeNull();
  });

  function config(events: unknown[]): ServerlessConfig {
    const fn = { key: 'dispatchQueue', name: 'emrflow-local-dispatchQueue' } as LocalFunction;
    return {
      region: 'us-east-1',
      accountId: '000000000000',
      functions: { DispatchQueueLambdaFunction: fn },
      raw: { functions: { dispatchQueue: { events } } },
      resolve: async (value: unknown) => value,
    } as unknown as ServerlessConfig;
  }

  it('fires a rate(1 minute) rule every 60 emulated seconds with a Scheduled Event, and lists a cron rule as skipped', async () => {
    const received: any[] = [];
    const lambda = {
      invoke: async (_fn: LocalFunction, event: unknown) => void received.push(event),
      find: () => undefined,
      drain: async () => undefined,
    } as LambdaInvoker;

    const schedules = await startSchedules(config([{ schedule: 'rate(1 minute)' }, { schedule: { rate: 'cron(0 2 * * ? *)' } }]), lambda, { timeScale: 0.001 });
    await new Promise((resolve) => setTimeout(resolve, 200));
    await schedules.stop();

    expect(received.length).toBeGreaterThanOrEqual(2);
    expect(received.length).toBeLessThanOrEqual(4);
    expect(received[0]).toMatchObject({ 'detail-type': 'Scheduled Event', source: 'aws.events', resources: [expect.stringMatching(/:rule\//)] });
    expect(schedules.skipped).toEqual([
      { function: 'dispatchQueue', expression: 'cron(0 2 * * ? *)', reason: 'only rate() schedules run on the local runtime' },
    ]);
  });

  it('coalesces firings that arrive while one runs into a single next run, never overlapping', async () => {
    let running = 0;
    let most = 0;
    let runs = 0;
    const lambda = {
      invoke: async () => {
        running += 1;
        most = Math.max(most, running);
        runs += 1;
        await new Promise((resolve) => setTimeout(resolve, 30));
        running -= 1;
      },
      find: () => undefined,
      drain: async () => undefined,
    } as unknown as LambdaInvoker;
    const schedules = await startSchedules(config([{ schedule: 'rate(1 hour)' }]), lambda, { timeScale: 1 });

    await Promise.all([schedules.fire('dispatchQueue'), schedules.fire('dispatchQueue'), schedules.fire('dispatchQueue'), schedules.fire('dispatchQueue')]);
    await schedules.stop();

    expect(most).toBe(1);
    expect(runs).toBe(2);
  });
});
