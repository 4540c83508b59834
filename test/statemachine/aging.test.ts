/**
 * The admission queue's aging on the local runtime, in emulated time: the handlers read the runtime's
 * virtual clock, so a low-priority job parked long enough ranks above a high-priority one that arrives
 * later, as config/pools.json's agingSecondsPerLevel says (one priority level per period waited).
 */
import { runPoolLoad, type PoolLoadResult } from '../../bench/poolLoad';
import { loadPools } from '../../lib/config/pools';
import { loadPrices } from '../../lib/config/prices';
import type { Priority } from '../../lib/domain/types';

jest.setTimeout(600_000);
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

const BACKLOG = 150;
const { agingSecondsPerLevel } = loadPools(loadPrices()).dispatcher;

describe(`aging (${agingSecondsPerLevel} emulated s per priority level) behind a backlog of ${BACKLOG} normal jobs`, () => {
  // Two low-priority jobs park just after the backlog. High B arrives one aging period later (the lows have
  // gained one level, not the two between low and high); high A three periods later (they have gained three).
  const lowA = BACKLOG;
  const lowB = BACKLOG + 1;
  const highB = BACKLOG + 2;
  const highA = BACKLOG + 3;
  const submissions: Array<{ priority: Priority; atSeconds: number }> = [
    ...Array.from({ length: BACKLOG }, (_, index) => ({ priority: 'normal' as Priority, atSeconds: (index * 60) / BACKLOG })),
    { priority: 'low', atSeconds: 61 },
    { priority: 'low', atSeconds: 62 },
    { priority: 'high', atSeconds: 61 + agingSecondsPerLevel },
    { priority: 'high', atSeconds: 61 + 3 * agingSecondsPerLevel },
  ];
  let load: PoolLoadResult;
  const grantIndex = (job: number) => load.grantOrder.findIndex((grant) => grant.startsWith(`pool-load-${String(job).padStart(3, '0')}>`));

  beforeAll(async () => {
    load = await runPoolLoad({ submissions });
  });

  it('runs every job, each granted once', () => {
    expect(load.jobs.filter((job) => job.status !== 'SUCCEEDED')).toEqual([]);
    for (const job of [lowA, lowB, highB, highA]) expect(grantIndex(job)).toBeGreaterThanOrEqual(0);
  });

  it('grants the low-priority jobs parked three aging periods earlier before the later high-priority one', () => {
    // They competed: the lows were still parked when high A arrived.
    expect(load.jobs[lowA].queueWaitSeconds).toBeGreaterThan(3 * agingSecondsPerLevel);
    expect(load.jobs[lowA].startedStepAt!).toBeGreaterThan(load.jobs[highA].submittedAt);
    expect(grantIndex(lowA)).toBeLessThan(grantIndex(highA));
    expect(grantIndex(lowB)).toBeLessThan(grantIndex(highA));
  });

  it('still grants a high-priority job first when the lows waited only one period (priority counts: the control)', () => {
    expect(grantIndex(highB)).toBeLessThan(grantIndex(lowA));
    expect(grantIndex(highB)).toBeLessThan(grantIndex(lowB));
  });
});
