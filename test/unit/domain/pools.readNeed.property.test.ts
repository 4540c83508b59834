import fc from 'fast-check';
import {
  orderQueue,
  planDispatch,
  queuedTotalsOf,
  queuedSum,
  queueReadNeed,
  type PoolCluster,
  type PoolClusterState,
  type QueueEntry,
} from '../../../lib/domain/pools';

/**
 * The dispatcher reads only the queue's head (queueReadNeed) and the pool's queued totals: planning on that
 * prefix and the totals must grant and launch exactly as planning on the whole queue would, whatever the
 * clusters and the queue.
 */
const HASH = 'h1';
const POOL = { capacityUnits: 16, minClusters: 0, maxClusters: 4, maxJobsPerCluster: 4 };
const AGING = { agingSecondsPerLevel: 300, maxWaitSeconds: 3_600 };
const NOW = 10_000_000;
const STATES: PoolClusterState[] = ['STARTING', 'BOOTSTRAPPING', 'RUNNING', 'WAITING', 'TERMINATING', 'TERMINATED'];

const arbCluster = fc
  .record({ state: fc.constantFrom(...STATES), hash: fc.constantFrom(HASH, 'old'), leases: fc.array(fc.integer({ min: 1, max: 8 }), { maxLength: 4 }) })
  .map(
    ({ state, hash, leases }): Omit<PoolCluster, 'clusterId'> => ({
      pool: 'shared',
      state,
      configHash: hash,
      capacityUnits: POOL.capacityUnits,
      maxJobs: POOL.maxJobsPerCluster,
      unitsInUse: leases.reduce((a, b) => a + b, 0),
      leases: Object.fromEntries(leases.map((units, i) => [`held-${i}`, { execution: `held-${i}`, units, grantedAt: 0, expiresAt: NOW * 2 }])),
      launchedAt: 0,
      version: 1,
    }),
  );
const arbEntry = fc.record({
  priority: fc.constantFrom('low' as const, 'normal' as const, 'high' as const),
  units: fc.integer({ min: 1, max: 20 }),
  enqueuedAt: fc.integer({ min: 0, max: NOW }),
});

function plan(clusters: PoolCluster[], queue: QueueEntry[], launchTokens: number, queued?: { units: number; entries: number }) {
  return planDispatch({ pool: POOL, configHash: HASH, clusters, queue, now: NOW, ...AGING, launchTokens, queued });
}

/** The registry's queued totals of the whole queue, as the store keeps them. */
const totalsOf = (queue: QueueEntry[]) => queuedSum(queuedTotalsOf(queue));

/** The shortest prefix of the queue's order that covers the need (or the whole queue), as readQueue stops. */
function readPrefix(clusters: PoolCluster[], queue: QueueEntry[], need = queueReadNeed(clusters, HASH)): QueueEntry[] {
  const ordered = orderQueue(queue, NOW, AGING);
  if (need.entries === 0) return [];
  let units = 0;
  for (let i = 0; i < ordered.length; i += 1) {
    units += ordered[i].units;
    if (i + 1 >= need.entries || units > need.units) return ordered.slice(0, i + 1);
  }
  return ordered;
}

const arbCase = fc.record({
  clusters: fc.array(arbCluster, { maxLength: 5 }),
  entries: fc.array(arbEntry, { maxLength: 80 }),
  launchTokens: fc.integer({ min: 0, max: 5 }),
});

function toInput({
  clusters,
  entries,
}: {
  clusters: Omit<PoolCluster, 'clusterId'>[];
  entries: Array<{ priority: QueueEntry['priority']; units: number; enqueuedAt: number }>;
}) {
  const withIds = clusters.map((cluster, i) => ({ ...cluster, clusterId: `j-${i}` }));
  const queue: QueueEntry[] = entries.map((e, i) => ({
    pool: 'shared',
    entryId: `e-${i}#1`,
    execution: `e-${i}`,
    taskToken: `t-${i}`,
    state: 'waiting',
    ...e,
  }));
  return { clusters: withIds, queue };
}

describe('reading the head of the queue (queueReadNeed) and sizing launches on the queued totals', () => {
  it('plans the same grants and launches from the prefix it reads and the totals as from the whole queue (property)', () => {
    let shortened = 0;
    fc.assert(
      fc.property(arbCase, (c) => {
        const { clusters, queue } = toInput(c);
        const prefix = readPrefix(clusters, queue);
        if (prefix.length < queue.length) shortened += 1;
        const whole = plan(clusters, queue, c.launchTokens);
        const head = plan(clusters, prefix, c.launchTokens, totalsOf(queue));
        expect(head.grants).toEqual(whole.grants);
        expect(head.launches).toBe(whole.launches);
        expect(head.unmetUnits).toBe(whole.unmetUnits);
        expect(head.unmetEntries).toBe(whole.unmetEntries);
      }),
      { numRuns: 2_000 },
    );
    // The bound does shorten the read in many cases (else the property says nothing).
    expect(shortened).toBeGreaterThan(200);
  });

  it('launches no fewer clusters than the prefix asks for when the totals lag behind it (a recount not yet made)', () => {
    fc.assert(
      fc.property(arbCase, fc.integer({ min: 0, max: 200 }), (c, lag) => {
        const { clusters, queue } = toInput(c);
        const prefix = readPrefix(clusters, queue);
        const exact = plan(clusters, prefix, c.launchTokens, totalsOf(prefix));
        const lagging = plan(clusters, prefix, c.launchTokens, { units: totalsOf(prefix).units - lag, entries: totalsOf(prefix).entries - lag });
        expect(lagging.grants).toEqual(exact.grants);
        expect(lagging.launches).toBe(exact.launches);
      }),
      { numRuns: 1_000 },
    );
  });

  it('negative control: the prefix without the totals launches fewer clusters than the whole queue needs', () => {
    const failure = fc.check(
      fc.property(arbCase, (c) => {
        const { clusters, queue } = toInput(c);
        const whole = plan(clusters, queue, c.launchTokens);
        const head = plan(clusters, readPrefix(clusters, queue), c.launchTokens);
        return head.launches === whole.launches;
      }),
      { numRuns: 2_000 },
    );
    expect(failure.failed).toBe(true);
  });

  it('negative control: a bound one job slot short changes the grants', () => {
    const failure = fc.check(
      fc.property(arbCase, (c) => {
        const { clusters, queue } = toInput(c);
        const need = queueReadNeed(clusters, HASH);
        const tooShort = readPrefix(clusters, queue, { entries: need.entries - 1, units: need.units });
        const whole = plan(clusters, queue, c.launchTokens);
        const head = plan(clusters, tooShort, c.launchTokens, totalsOf(queue));
        return JSON.stringify(head.grants) === JSON.stringify(whole.grants);
      }),
      { numRuns: 2_000 },
    );
    expect(failure.failed).toBe(true);
  });
});
