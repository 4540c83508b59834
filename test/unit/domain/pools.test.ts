import fc from 'fast-check';
import {
  PRIORITIES,
  chooseCluster,
  effectivePriority,
  expiredLeaseIds,
  leaseExpiry,
  leaseId,
  mergeQueueHeads,
  orderQueue,
  parseLeaseId,
  queueKey,
  planDispatch,
  poolConfigHash,
  takeTokens,
  newBucket,
  refillBucket,
  type PoolCluster,
  type QueueEntry,
} from '../../../lib/domain/pools';
import { poolClusterSpec } from '../../../lib/domain/poolCluster';
import { loadPools } from '../../../lib/config/pools';
import { loadPrices } from '../../../lib/config/prices';
import { TAG, parsePoolClusterName } from '../../../lib/contract';

const HASH = 'h1';
const cluster = (id: string, over: Partial<PoolCluster> = {}): PoolCluster => ({
  pool: 'shared',
  clusterId: id,
  state: 'WAITING',
  configHash: HASH,
  capacityUnits: 32,
  maxJobs: 4,
  unitsInUse: 0,
  leases: {},
  launchedAt: 0,
  version: 1,
  ...over,
});
const withLeases = (id: string, units: number[], over: Partial<PoolCluster> = {}) =>
  cluster(id, {
    unitsInUse: units.reduce((a, b) => a + b, 0),
    leases: Object.fromEntries(units.map((u, i) => [`${id}-job${i}`, { execution: `${id}-job${i}`, units: u, grantedAt: 0, expiresAt: 1_000 * (i + 1) }])),
    ...over,
  });
const entry = (id: string, priority: QueueEntry['priority'], enqueuedAt: number, units = 4): QueueEntry => ({
  pool: 'shared',
  entryId: id,
  execution: id,
  priority,
  units,
  enqueuedAt,
  taskToken: `token-${id}`,
  state: 'waiting',
});

describe('choosing a cluster', () => {
  it('packs onto the fullest ready cluster that still fits', () => {
    const clusters = [withLeases('j-a', [8]), withLeases('j-b', [16, 8]), withLeases('j-c', [])];
    expect(chooseCluster(clusters, 8, HASH)?.clusterId).toBe('j-b');
    expect(chooseCluster(clusters, 9, HASH)?.clusterId).toBe('j-a');
  });

  it('never picks a starting, terminating or foreign-configuration cluster, nor one at its job limit', () => {
    const clusters = [
      cluster('j-starting', { state: 'STARTING' }),
      cluster('j-terminating', { state: 'TERMINATING' }),
      cluster('j-foreign', { configHash: 'other' }),
      withLeases('j-full-jobs', [1, 1, 1, 1]),
    ];
    expect(chooseCluster(clusters, 1, HASH)).toBeNull();
    expect(chooseCluster([...clusters, cluster('j-running', { state: 'RUNNING' })], 1, HASH)?.clusterId).toBe('j-running');
  });

  it('breaks ties by cluster id, whatever the input order', () => {
    expect(chooseCluster([cluster('j-b'), cluster('j-a')], 4, HASH)?.clusterId).toBe('j-a');
  });
});

describe('leases', () => {
  it('lists the leases whose expiry has passed', () => {
    expect(expiredLeaseIds(withLeases('j-a', [1, 1, 1]), 2_000)).toEqual(['j-a-job0', 'j-a-job1']);
  });

  it('lives the dispatcher leaseSeconds, plus the holdSeconds a job asks for (its step timeout)', () => {
    expect(leaseExpiry({}, 1_000, 900)).toBe(901_000);
    expect(leaseExpiry({ holdSeconds: 3_600 }, 1_000, 900)).toBe(4_501_000);
  });
});

const AGING = { agingSecondsPerLevel: 300, maxWaitSeconds: 3_600 };

describe('the admission queue', () => {
  it('puts high priority first among jobs that waited alike', () => {
    const order = orderQueue([entry('low', 'low', 0), entry('high', 'high', 10), entry('normal', 'normal', 5)], 10, AGING);
    expect(order.map((e) => e.entryId)).toEqual(['high', 'normal', 'low']);
  });

  it('ages a waiting job one level at most: an old low-priority job catches up with normal ones, never with high ones', () => {
    const now = 3_000_000;
    const oldLow = entry('old-low', 'low', 0);
    const freshNormal = entry('new-normal', 'normal', now);
    const freshHigh = entry('new-high', 'high', now);
    expect(orderQueue([freshNormal, oldLow], now, AGING)[0].entryId).toBe('old-low');
    expect(orderQueue([freshHigh, oldLow], now, AGING)[0].entryId).toBe('new-high');
    // Control: unbounded aging (a rise of ten levels in 3,000 s) would have put the old low job first.
    expect(effectivePriority(oldLow, now, AGING)).toBeLessThan(effectivePriority(freshHigh, now, AGING));
  });

  it('puts a job past its maximum wait ahead of every job that has not waited as long', () => {
    const now = 3_600_000;
    const overdue = entry('overdue-low', 'low', 0);
    expect(orderQueue([entry('new-high', 'high', now), entry('old-high', 'high', 1_000), overdue], now, AGING)[0].entryId).toBe('overdue-low');
  });

  const arbEntry = fc.record({
    id: fc.uuid(),
    priority: fc.constantFrom(...PRIORITIES),
    enqueuedAt: fc.integer({ min: 0, max: 20_000_000 }),
  });

  it('high priority keeps its lead over any low-priority job short of its maximum wait, in any queue (property)', () => {
    fc.assert(
      fc.property(fc.array(arbEntry, { minLength: 1, maxLength: 60 }), fc.integer({ min: 0, max: 20_000_000 }), (raw, extra) => {
        const entries = raw.map((e) => entry(e.id, e.priority, e.enqueuedAt));
        const now = 20_000_000 + extra;
        const order = orderQueue(entries, now, AGING);
        const position = new Map(order.map((e, i) => [e.entryId, i]));
        const waited = (e: QueueEntry) => (now - e.enqueuedAt) / 1000;
        for (const high of entries.filter((e) => e.priority === 'high')) {
          for (const low of entries.filter((e) => e.priority === 'low' && waited(e) < AGING.maxWaitSeconds)) {
            if (position.get(low.entryId)! < position.get(high.entryId)!) return false;
          }
        }
        for (const overdue of entries.filter((e) => waited(e) >= AGING.maxWaitSeconds)) {
          for (const other of entries.filter((e) => waited(e) < AGING.maxWaitSeconds)) {
            if (position.get(other.entryId)! < position.get(overdue.entryId)!) return false;
          }
        }
        return true;
      }),
      { numRuns: 300 },
    );
  });

  /**
   * One slot, a job served per `serviceSeconds`, and a stream of high-priority arrivals faster than it
   * (a queue that only grows): the low-priority job is served no later than its maximum wait plus what
   * was already overdue ahead of it. Without the bound (aging capped, no maximum wait) it never is.
   */
  function lowJobWait(aging: typeof AGING, serviceSeconds: number, arrivalEverySeconds: number): number | null {
    const queue: QueueEntry[] = [entry('low', 'low', 0)];
    let arrivals = 0;
    for (let t = 0; t < 6 * 3_600; t += serviceSeconds) {
      while (arrivals * arrivalEverySeconds <= t) {
        queue.push(entry(`high-${arrivals}`, 'high', arrivals * arrivalEverySeconds * 1000));
        arrivals += 1;
      }
      const next = orderQueue(queue, t * 1000, aging)[0];
      queue.splice(queue.indexOf(next), 1);
      if (next.entryId === 'low') return t;
    }
    return null;
  }

  it('serves a low-priority job within its maximum wait (plus one service) behind an endless stream of high-priority jobs (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 10, max: 600 }), fc.integer({ min: 600, max: 7_200 }), (serviceSeconds, maxWaitSeconds) => {
        const wait = lowJobWait({ agingSecondsPerLevel: 300, maxWaitSeconds }, serviceSeconds, serviceSeconds / 2);
        // The high jobs that arrived before it are older, so overdue sooner: the first was there at t = 0.
        return wait !== null && wait <= maxWaitSeconds + 2 * serviceSeconds;
      }),
      { numRuns: 100 },
    );
    // Negative control: with no maximum wait in reach, the low job starves.
    expect(lowJobWait({ agingSecondsPerLevel: 300, maxWaitSeconds: 86_400 }, 60, 30)).toBeNull();
  });

  it('merges the heads of the priority levels into the order of the whole queue, never past an unread entry that could rank ahead (property)', () => {
    fc.assert(
      fc.property(fc.array(arbEntry, { maxLength: 80 }), fc.integer({ min: 1, max: 10 }), fc.integer({ min: 0, max: 30_000_000 }), (raw, pageSize, now) => {
        const entries = raw.map((e) => entry(e.id, e.priority, e.enqueuedAt));
        const whole = orderQueue(entries, now, AGING).map((e) => e.entryId);
        const levels = PRIORITIES.map((priority) => {
          const level = entries.filter((e) => e.priority === priority).sort((a, b) => (queueKey(a) < queueKey(b) ? -1 : 1));
          return { entries: level.slice(0, pageSize), more: level.length > pageSize };
        });
        const { ordered } = mergeQueueHeads(levels, now, AGING);
        // The merged heads are a prefix of the whole queue's order, and never empty when the queue is not.
        return ordered.map((e) => e.entryId).join() === whole.slice(0, ordered.length).join() && (entries.length === 0 || ordered.length > 0);
      }),
      { numRuns: 300 },
    );
  });

  it('has one lease id per execution attempt, parsed back to both', () => {
    expect(parseLeaseId(leaseId('run-job-abc', 3))).toEqual({ execution: 'run-job-abc', attempt: 3 });
    expect(parseLeaseId(leaseId('a#b', 1))).toEqual({ execution: 'a#b', attempt: 1 });
    expect(parseLeaseId('no-attempt')).toBeNull();
    expect(parseLeaseId('x#0')).toBeNull();
  });
});

describe('the RunJobFlow token bucket', () => {
  const policy = { ratePerSecond: 0.25, burst: 5 };

  it('allows a burst, then one launch per 4 seconds', () => {
    const first = takeTokens(newBucket(0, policy), 10, 0, policy);
    expect(first.taken).toBe(5);
    expect(takeTokens(first.bucket, 1, 3_999, policy).taken).toBe(0);
    expect(takeTokens(first.bucket, 1, 4_000, policy).taken).toBe(1);
    expect(takeTokens(first.bucket, 10, 8_000, policy).taken).toBe(2);
  });

  it('never refills past the burst, nor on a clock that went back', () => {
    expect(refillBucket({ tokens: 0, updatedAt: 0 }, 3_600_000, policy).tokens).toBe(5);
    expect(refillBucket({ tokens: 1, updatedAt: 10_000 }, 0, policy)).toEqual({ tokens: 1, updatedAt: 10_000 });
  });
});

describe('the dispatch plan', () => {
  const pool = { capacityUnits: 32, minClusters: 0, maxClusters: 3 };
  const base = { pool, configHash: HASH, now: 0, agingSecondsPerLevel: 300, maxWaitSeconds: 3_600, launchTokens: 5 };

  it('grants in queue order onto the capacity the earlier grants left', () => {
    const plan = planDispatch({
      ...base,
      clusters: [withLeases('j-a', [24])],
      queue: [entry('n1', 'normal', 0, 4), entry('h1', 'high', 1, 4), entry('l1', 'low', 0, 4)],
    });
    expect(plan.grants.map((g) => g.entryId)).toEqual(['h1', 'n1']);
    expect(plan.blockedOn).toBe('l1');
  });

  it('does not let smaller jobs overtake the blocked head of the queue', () => {
    const plan = planDispatch({ ...base, clusters: [withLeases('j-a', [24])], queue: [entry('big', 'high', 0, 16), entry('small', 'low', 0, 2)] });
    expect(plan.grants).toEqual([]);
    expect(plan.blockedOn).toBe('big');
  });

  it('counts the units of entries being granted as taken', () => {
    const granting = { ...entry('g', 'normal', 0, 30), state: 'granting' as const, grantCluster: 'j-a', claimedAt: 0 };
    const plan = planDispatch({ ...base, clusters: [cluster('j-a')], queue: [granting, entry('n', 'normal', 0, 4)] });
    expect(plan.grants).toEqual([]);
  });

  it('launches when unmet demand exceeds free plus starting capacity', () => {
    const queue = Array.from({ length: 20 }, (_, i) => entry(`e${i}`, 'normal', i, 8)); // 160 units
    const plan = planDispatch({ ...base, clusters: [withLeases('j-a', [32]), cluster('j-s', { state: 'STARTING' })], queue });
    // 160 unmet − 32 starting = 128 → 4 clusters wanted, but only 1 more fits under maxClusters 3.
    expect(plan.launches).toBe(1);
    expect(
      planDispatch({ ...base, pool: { ...pool, maxClusters: 10 }, clusters: [withLeases('j-a', [32]), cluster('j-s', { state: 'STARTING' })], queue }).launches,
    ).toBe(4);
  });

  it('launches for the job slots the waiting jobs need, not only their units (negative control: units alone launch one)', () => {
    // 10 one-unit jobs: 10 units fit one 32-unit cluster, but a cluster runs at most 4 jobs at once.
    const queue = Array.from({ length: 10 }, (_, i) => entry(`e${i}`, 'normal', i, 1));
    const slotBound = { ...pool, maxClusters: 10, maxJobsPerCluster: 4 };
    expect(planDispatch({ ...base, pool: slotBound, clusters: [], queue }).launches).toBe(3);
    expect(planDispatch({ ...base, pool: { ...pool, maxClusters: 10 }, clusters: [], queue }).launches).toBe(1);
    // From the queued totals as well: 2 entries read, 10 waiting in all.
    expect(planDispatch({ ...base, pool: slotBound, clusters: [], queue: queue.slice(0, 2), queued: { units: 10, entries: 10 } }).launches).toBe(3);
  });

  it('does not launch while starting capacity covers the demand', () => {
    const plan = planDispatch({
      ...base,
      clusters: [withLeases('j-a', [32]), cluster('j-s', { state: 'BOOTSTRAPPING' })],
      queue: [entry('e', 'normal', 0, 16)],
    });
    expect(plan.launches).toBe(0);
  });

  it('counts a terminating cluster against maxClusters and launches within the tokens', () => {
    const queue = Array.from({ length: 20 }, (_, i) => entry(`e${i}`, 'normal', i, 32));
    expect(planDispatch({ ...base, clusters: [cluster('j-t', { state: 'TERMINATING' }), cluster('j-u', { state: 'TERMINATING' })], queue }).launches).toBe(1);
    expect(planDispatch({ ...base, clusters: [], queue, launchTokens: 1.99 }).launches).toBe(1);
    expect(planDispatch({ ...base, clusters: [], queue, launchTokens: 0.5 }).launches).toBe(0);
  });

  it('keeps minClusters alive without demand', () => {
    expect(planDispatch({ ...base, pool: { ...pool, minClusters: 2 }, clusters: [cluster('j-a')], queue: [] }).launches).toBe(1);
    expect(planDispatch({ ...base, clusters: [cluster('j-a')], queue: [] }).launches).toBe(0);
  });
});

describe('pool configuration hash and cluster spec', () => {
  const prices = loadPrices();
  const pool = loadPools(prices).pools[0];

  it('changes with the release, applications, configurations or fleets, not with sizes or key order', () => {
    const hash = poolConfigHash(pool);
    expect(poolConfigHash({ ...pool, maxClusters: 99 } as typeof pool)).toBe(hash);
    expect(poolConfigHash({ fleets: pool.fleets, configurations: pool.configurations, applications: pool.applications, releaseLabel: pool.releaseLabel })).toBe(
      hash,
    );
    expect(poolConfigHash({ ...pool, releaseLabel: 'emr-7.9.0' })).not.toBe(hash);
    expect(poolConfigHash({ ...pool, fleets: { ...pool.fleets, task: ['r5.2xlarge'] } })).not.toBe(hash);
    expect(poolConfigHash({ ...pool, configurations: [] })).not.toBe(hash);
  });

  it('builds a managed-scaling cluster tagged with its pool and hash, named so events find the pool', () => {
    const spec = poolClusterSpec(pool, 'abc', 'launch-1', prices, 'dev');
    expect(spec.ManagedScalingPolicy.ComputeLimits).toMatchObject({
      UnitType: 'InstanceFleetUnits',
      MinimumCapacityUnits: pool.managedScaling.minimumUnits,
      MaximumCapacityUnits: pool.managedScaling.maximumUnits,
    });
    expect(spec.Tags).toEqual(
      expect.arrayContaining([
        { Key: TAG.pool, Value: pool.name },
        { Key: TAG.configHash, Value: 'abc' },
      ]),
    );
    const [, core, task] = spec.InstanceFleets;
    expect(core.TargetOnDemandCapacity + task.TargetSpotCapacity).toBe(pool.managedScaling.minimumUnits);
    expect(spec.StepConcurrencyLevel).toBe(pool.stepConcurrencyLevel);
    expect(parsePoolClusterName(spec.Name)).toBe(pool.name);
    expect(parsePoolClusterName('emrflow run-1 attempt 1')).toBeNull();
  });
});
