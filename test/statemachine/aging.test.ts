/**
 * The admission queue's aging on the local runtime, in emulated time: the handlers read the runtime's
 * virtual clock, so what a job's wait earns it is what config/pools.json says. Aging is bounded (issue 21):
 * a waiting job rises one level at most, so a later high-priority job still goes first, and once a job has
 * waited `maxWaitSeconds` it ranks above every job that has not. This file shortens that bound to 600
 * emulated seconds (the shipped 3 hours would need a backlog of thousands of jobs) through a copy of the
 * shipped file, so the one-level rise, the lead of high priority and the bound all show within one backlog.
 */
import { runPoolLoad, type PoolLoadResult } from '../../bench/poolLoad';
import type { Priority } from '../../lib/domain/types';

const MAX_WAIT_SECONDS = 600;
// A small pool (3 clusters of 8 jobs), so that the backlog queues: the shipped pool would run it almost at once.
jest.mock('../../config/pools.json', () => {
  const shipped = jest.requireActual('../../config/pools.json');
  const small = { maxClusters: 3, capacityUnits: 32, maxJobsPerCluster: 8, stepConcurrencyLevel: 8, managedScaling: { minimumUnits: 8, maximumUnits: 32 } };
  return { ...shipped, pools: shipped.pools.map((pool: object) => ({ ...pool, ...small })), dispatcher: { ...shipped.dispatcher, maxWaitSeconds: 600 } };
});

jest.setTimeout(600_000);
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
// The subject is the admission queue behind a backlog on the pool: small jobs stay on the pool (local/runner/poolRules.ts), or a cold pool
// would send them to EMR Serverless (config/rules.json small-jobs-to-serverless-when-the-pool-must-grow).
jest.mock('../../config/rules.json', () =>
  jest.requireActual('../../local/runner/poolRules').smallJobsStayOnThePoolFile(jest.requireActual('../../config/rules.json')),
);

const BACKLOG = 150;

describe(`bounded aging (the wait bound shortened to ${MAX_WAIT_SECONDS} emulated s) behind a backlog of ${BACKLOG} normal jobs`, () => {
  // Two low-priority jobs park just after the backlog. High B arrives while they have waited less than the
  // bound (they may have risen one level, never above high); high A arrives after they passed the bound.
  const lowA = BACKLOG;
  const lowB = BACKLOG + 1;
  const highB = BACKLOG + 2;
  const highA = BACKLOG + 3;
  const submissions: Array<{ priority: Priority; atSeconds: number }> = [
    ...Array.from({ length: BACKLOG }, (_, index) => ({ priority: 'normal' as Priority, atSeconds: (index * 60) / BACKLOG })),
    { priority: 'low', atSeconds: 61 },
    { priority: 'low', atSeconds: 62 },
    { priority: 'high', atSeconds: 61 + MAX_WAIT_SECONDS / 2 },
    { priority: 'high', atSeconds: 62 + MAX_WAIT_SECONDS + 60 },
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

  it('grants the low-priority jobs that waited past the bound before a later high-priority one', () => {
    // They competed: the lows were still parked when high A arrived.
    expect(load.jobs[lowA].startedStepAt!).toBeGreaterThan(load.jobs[highA].submittedAt);
    expect(grantIndex(lowA)).toBeLessThan(grantIndex(highA));
    expect(grantIndex(lowB)).toBeLessThan(grantIndex(highA));
  });

  it('grants a high-priority job first while the lows are within the bound (priority keeps its lead: the control)', () => {
    expect(load.jobs[lowA].startedStepAt!).toBeGreaterThan(load.jobs[highB].submittedAt);
    expect(grantIndex(highB)).toBeLessThan(grantIndex(lowA));
    expect(grantIndex(highB)).toBeLessThan(grantIndex(lowB));
  });
});
