/**
 * The job store's contract, run word for word against both implementations: DynamoDB (lib/aws/registry.ts
 * and lib/aws/stepTokenTable.ts over dynalite) and in memory (lib/jobManager/memoryStore.ts, what the
 * capacity planner runs on). Each case is a conditional write's premise: what it must refuse, and that a
 * refused write changes nothing.
 */
import { DynamoRegistry } from '../../../lib/aws/registry';
import { DynamoStepTokens } from '../../../lib/aws/stepTokenTable';
import { queuedTotalsOf, type QueueEntry } from '../../../lib/domain/pools';
import { MemoryJobStore } from '../../../lib/jobManager/memoryStore';
import type { JobStore, StepTokenItem } from '../../../lib/jobManager/store';
import { startDynalite, type LocalDynamo } from '../../support/dynalite';

let local: LocalDynamo;
beforeAll(async () => {
  local = await startDynalite();
});
afterAll(async () => local.close());

/** Both DynamoDB halves as one JobStore, each method bound to the half that implements it. */
function dynamoStore(registry: DynamoRegistry, steps: DynamoStepTokens): JobStore {
  return new Proxy({} as JobStore, {
    get(_target, name) {
      const half = name in steps ? steps : registry;
      const value = (half as unknown as Record<string | symbol, unknown>)[name];
      return typeof value === 'function' ? value.bind(half) : value;
    },
  });
}

const STORES: Array<[string, () => Promise<JobStore>]> = [
  [
    'DynamoDB (dynalite)',
    async () => {
      const tables = await local.registryTables();
      return dynamoStore(new DynamoRegistry(local.dynamo, tables), new DynamoStepTokens(local.dynamo, tables.stepTokens));
    },
  ],
  ['in memory', async () => new MemoryJobStore()],
];

const HASH = 'h1';
const cluster = { pool: 'shared', clusterId: 'j-1', state: 'RUNNING' as const, configHash: HASH, capacityUnits: 8, maxJobs: 2, launchedAt: 0 };
const target = { pool: 'shared', clusterId: 'j-1', capacityUnits: 8, maxJobs: 2, configHash: HASH };
const lease = (units: number, expiresAt = 10_000) => ({ execution: 'e', units, grantedAt: 0, expiresAt });
const entry = (id: string, priority: QueueEntry['priority'], enqueuedAt: number): Omit<QueueEntry, 'state'> => ({
  pool: 'shared',
  entryId: id,
  execution: id.split('#')[0],
  priority,
  units: 2,
  enqueuedAt,
  taskToken: `token-${id}`,
});
const step: StepTokenItem = { clusterId: 'j-1', stepId: 's-1', stepName: 'job run attempt 1', taskToken: 't', execution: 'e', submittedAt: 5 };

describe.each(STORES)('the job store contract: %s', (_name, newStore) => {
  let store: JobStore;
  beforeEach(async () => {
    store = await newStore();
  });

  it('registers a cluster once and removes it only without leases', async () => {
    expect(await store.registerCluster(cluster)).toBe(true);
    expect(await store.registerCluster(cluster)).toBe(false);
    expect(await store.getCluster('shared', 'j-1')).toMatchObject({ unitsInUse: 0, leases: {}, version: 1, state: 'RUNNING' });
    expect(await store.lease(target, 'a', lease(2))).toBe(true);
    expect(await store.removeCluster('shared', 'j-1')).toBe(false);
    await store.release('shared', 'j-1', 'a');
    expect(await store.removeCluster('shared', 'j-1')).toBe(true);
    expect(await store.getCluster('shared', 'j-1')).toBeNull();
    expect(await store.removeCluster('shared', 'j-1')).toBe(false);
  });

  it("moves a cluster forward in EMR's lifecycle only", async () => {
    await store.registerCluster({ ...cluster, state: 'STARTING' });
    expect(await store.setClusterState('shared', 'j-1', 'WAITING')).toBe(true);
    expect(await store.setClusterState('shared', 'j-1', 'TERMINATING')).toBe(true);
    expect(await store.setClusterState('shared', 'j-1', 'RUNNING')).toBe(false);
    expect(await store.setClusterState('shared', 'j-1', 'TERMINATED')).toBe(true);
    expect((await store.listClusters('shared')).map((c) => c.state)).toEqual(['TERMINATED']);
    expect(await store.setClusterState('shared', 'j-unknown', 'RUNNING')).toBe(false);
  });

  it('leases only what fits: units, job slots, ready state, configuration; idempotent for the same lease', async () => {
    await store.registerCluster(cluster);
    expect(await store.lease(target, 'a', lease(6))).toBe(true);
    expect(await store.lease(target, 'a', lease(6))).toBe(true);
    expect(await store.lease(target, 'b', lease(3))).toBe(false);
    expect(await store.lease(target, 'b', lease(2))).toBe(true);
    expect(await store.lease({ ...target, capacityUnits: 100 }, 'c', lease(1))).toBe(false);
    expect(await store.lease({ ...target, configHash: 'other' }, 'd', lease(1))).toBe(false);
    expect(await store.getCluster('shared', 'j-1')).toMatchObject({ unitsInUse: 8 });
    await store.registerCluster({ ...cluster, clusterId: 'j-2', state: 'STARTING' });
    expect(await store.lease({ ...target, clusterId: 'j-2' }, 'e', lease(1))).toBe(false);
  });

  it('releases a lease once, and expires it only on the expiry seen', async () => {
    await store.registerCluster(cluster);
    await store.lease(target, 'a', lease(3, 1_000));
    expect(await store.expire('shared', 'j-1', 'a', lease(3, 5_000))).toBe(false);
    expect(await store.release('shared', 'j-1', 'a')).toEqual({ released: true, units: 3 });
    expect(await store.release('shared', 'j-1', 'a')).toEqual({ released: false, units: 0 });
    await store.lease(target, 'b', lease(2, 7_000));
    expect(await store.expire('shared', 'j-1', 'b', lease(2, 7_000))).toBe(true);
    expect(await store.getCluster('shared', 'j-1')).toMatchObject({ unitsInUse: 0, leases: {} });
  });

  it('lapses a lease never later, keeping its units, so that only an expiry on the new expiry takes it back', async () => {
    await store.registerCluster(cluster);
    await store.lease(target, 'a', lease(3, 9_000));
    expect(await store.lapse('shared', 'j-1', 'a', 4_000)).toBe(true);
    expect(await store.lapse('shared', 'j-1', 'a', 6_000)).toBe(true);
    expect((await store.getCluster('shared', 'j-1'))?.leases.a).toMatchObject({ units: 3, expiresAt: 4_000 });
    expect((await store.getCluster('shared', 'j-1'))?.unitsInUse).toBe(3);
    expect(await store.expire('shared', 'j-1', 'a', lease(3, 9_000))).toBe(false);
    expect(await store.expire('shared', 'j-1', 'a', lease(3, 4_000))).toBe(true);
    expect(await store.lapse('shared', 'j-1', 'a', 1_000)).toBe(false);
  });

  it('lets one caller past each launch-guard version, and meters RunJobFlow tokens from a full bucket', async () => {
    const policy = { ratePerSecond: 0.25, burst: 5 };
    expect(await store.readLaunchGuard('shared')).toBe(0);
    expect(await store.advanceLaunchGuard('shared', 0)).toBe(true);
    expect(await store.advanceLaunchGuard('shared', 0)).toBe(false);
    expect(await store.readLaunchGuard('shared')).toBe(1);
    expect(await store.readBucket('RunJobFlow', 0, policy)).toEqual({ tokens: 5, updatedAt: 0 });
    expect(await store.takeApiTokens('RunJobFlow', 3, 0, policy)).toBe(3);
    expect(await store.takeApiTokens('RunJobFlow', 3, 0, policy)).toBe(2);
    expect(await store.takeApiTokens('RunJobFlow', 1, 3_999, policy)).toBe(0);
    expect(await store.takeApiTokens('RunJobFlow', 1, 4_000, policy)).toBe(1);
    // Each API's bucket is its own item: RunJobFlow's spent, AddJobFlowSteps' is still full.
    const steps = { ratePerSecond: 0.4, burst: 8 };
    expect(await store.readBucket('AddJobFlowSteps', 4_000, steps)).toEqual({ tokens: 8, updatedAt: 4_000 });
    expect(await store.takeApiTokens('AddJobFlowSteps', 10, 4_000, steps)).toBe(8);
    expect(await store.takeApiTokens('RunJobFlow', 1, 4_000, policy)).toBe(0);
    // PlaceJob's StartJobRun budget is a third item, untouched by the job manager's two.
    expect(await store.takeApiTokens('StartJobRun', 30, 4_000, { ratePerSecond: 1, burst: 25 })).toBe(25);
    expect(await store.takeApiTokens('AddJobFlowSteps', 1, 4_000, steps)).toBe(0);
  });

  it('serves each priority level oldest first, page by page, and only waiting entries', async () => {
    for (const [id, at] of [
      ['c#1', 30],
      ['a#1', 10],
      ['b#1', 20],
      ['d#1', 20],
    ] as const)
      await store.park(entry(id, 'normal', at));
    await store.park(entry('h#1', 'high', 50));
    const first = await store.queueHead('shared', 'normal', 2);
    expect(first.entries.map((e) => e.entryId)).toEqual(['a#1', 'b#1']);
    const second = await store.queueHead('shared', 'normal', 2, first.next);
    expect(second.entries.map((e) => e.entryId)).toEqual(['d#1', 'c#1']);
    // A full page says where the next starts (as DynamoDB's Limit does); the next one is then empty.
    expect((await store.queueHead('shared', 'normal', 2, second.next)).entries).toEqual([]);
    expect((await store.queueHead('shared', 'normal', 5)).next).toBeUndefined();
    expect((await store.queueHead('shared', 'high', 10)).entries.map((e) => e.entryId)).toEqual(['h#1']);
    expect((await store.queueHead('shared', 'low', 10)).entries).toEqual([]);
    expect(first.entries[0]).toEqual({ ...entry('a#1', 'normal', 10), state: 'waiting' });

    expect(await store.claim({ ...first.entries[0] }, 'j-1', 100)).toBe(true);
    expect((await store.queueHead('shared', 'normal', 10)).entries.map((e) => e.entryId)).toEqual(['b#1', 'd#1', 'c#1']);
    expect(await store.grantingEntries('shared')).toEqual([{ ...entry('a#1', 'normal', 10), state: 'granting', grantCluster: 'j-1', claimedAt: 100 }]);
    expect((await store.listQueue('shared')).map((e) => e.entryId).sort()).toEqual(['a#1', 'b#1', 'c#1', 'd#1', 'h#1']);
  });

  it('gives an entry being granted the token of a retried park (the old task is gone) and leaves it granting', async () => {
    await store.park(entry('a#1', 'low', 10));
    const [waiting] = (await store.queueHead('shared', 'low', 1)).entries;
    expect(await store.claim(waiting, 'j-1', 100)).toBe(true);
    expect(await store.park({ ...entry('a#1', 'low', 10), taskToken: 'retried' })).toBe(false);
    expect(await store.grantingEntries('shared')).toEqual([
      { ...entry('a#1', 'low', 10), taskToken: 'retried', state: 'granting', grantCluster: 'j-1', claimedAt: 100 },
    ]);
    expect(await store.granted(waiting, 100)).toBe(true);
  });

  it('claims an entry once, for its current token; unclaims and deletes only the claim made at claimedAt', async () => {
    await store.park(entry('a#1', 'low', 10));
    const [waiting] = (await store.queueHead('shared', 'low', 1)).entries;
    expect(await store.claim({ ...waiting, taskToken: 'stale' }, 'j-1', 100)).toBe(false);
    expect(await store.claim(waiting, 'j-1', 100)).toBe(true);
    expect(await store.claim(waiting, 'j-2', 101)).toBe(false);
    expect(await store.park(entry('a#1', 'low', 10))).toBe(false);
    expect(await store.withdraw(waiting)).toBe(false);
    expect(await store.unclaim(waiting, 99)).toBe(false);
    expect(await store.unclaim(waiting, 100)).toBe(true);
    expect((await store.queueHead('shared', 'low', 1)).entries.map((e) => e.entryId)).toEqual(['a#1']);
    expect(await store.grantingEntries('shared')).toEqual([]);
    expect(await store.claim(waiting, 'j-1', 200)).toBe(true);
    // A stale claim is taken over once: a second sweep that saw the same claim is refused.
    expect(await store.reclaim(waiting, 200, 300)).toBe(true);
    expect(await store.reclaim(waiting, 200, 301)).toBe(false);
    // Handed back in a refused batch's split group (submission.ts: claimedAt −group), and taken over from it.
    expect(await store.reclaim(waiting, 300, -3)).toBe(true);
    expect((await store.grantingEntries('shared')).map((e) => e.claimedAt)).toEqual([-3]);
    expect(await store.reclaim(waiting, -3, 300)).toBe(true);
    expect(await store.granted(waiting, 200)).toBe(false);
    expect(await store.granted(waiting, 300)).toBe(true);
    expect(await store.listQueue('shared')).toEqual([]);
  });

  it('replaces a waiting entry’s token on a retried park and withdraws only a waiting entry', async () => {
    await store.park(entry('a#1', 'high', 10));
    expect(await store.park({ ...entry('a#1', 'high', 10), taskToken: 'new-token' })).toBe(true);
    const listed = await store.listQueue('shared');
    expect(listed.map((e) => e.taskToken)).toEqual(['new-token']);
    expect(await store.withdraw(listed[0])).toBe(true);
    expect(await store.withdraw(listed[0])).toBe(false);
    expect((await store.queueHead('shared', 'high', 5)).entries).toEqual([]);
  });

  /** The pool's queued totals equal what its waiting entries add up to. */
  const expectTotalsOfEntries = async () => expect((await store.queuedTally('shared')).levels).toEqual(queuedTotalsOf(await store.listQueue('shared')));

  it('keeps the queued totals equal to the waiting entries through park, retried park, claim, unclaim, withdraw and grant', async () => {
    expect(await store.queuedTally('shared')).toEqual({ levels: queuedTotalsOf([]), version: 0, checkedVersion: 0 });
    await store.park(entry('a#1', 'low', 10));
    await store.park({ ...entry('b#1', 'high', 20), units: 5 });
    await store.park({ ...entry('a#1', 'low', 10), taskToken: 'retried' });
    await expectTotalsOfEntries();
    expect((await store.queuedTally('shared')).levels).toMatchObject({ low: { units: 2, entries: 1 }, high: { units: 5, entries: 1 } });
    const [waiting] = (await store.queueHead('shared', 'low', 1)).entries;
    expect(await store.claim({ ...waiting, taskToken: 'stale' }, 'j-1', 100)).toBe(false);
    await expectTotalsOfEntries();
    expect(await store.claim(waiting, 'j-1', 100)).toBe(true);
    await expectTotalsOfEntries();
    expect(await store.park({ ...entry('a#1', 'low', 10), taskToken: 'while-granting' })).toBe(false);
    expect(await store.withdraw(waiting)).toBe(false);
    expect(await store.unclaim(waiting, 99)).toBe(false);
    await expectTotalsOfEntries();
    expect(await store.unclaim(waiting, 100)).toBe(true);
    await expectTotalsOfEntries();
    const [again] = (await store.queueHead('shared', 'low', 1)).entries;
    expect(await store.claim(again, 'j-1', 200)).toBe(true);
    expect(await store.granted(again, 200)).toBe(true);
    const [high] = (await store.queueHead('shared', 'high', 1)).entries;
    expect(await store.withdraw(high)).toBe(true);
    await expectTotalsOfEntries();
    expect((await store.queuedTally('shared')).levels).toEqual(queuedTotalsOf([]));
  });

  it('recounts the totals only while no change came since the version it read; a note changes no total', async () => {
    await store.park(entry('a#1', 'normal', 10));
    const seen = await store.queuedTally('shared');
    await store.noteQueuedTally('shared', seen.version, 1_000);
    expect(await store.queuedTally('shared')).toEqual({ ...seen, noted: { version: seen.version, at: 1_000 } });
    await store.park(entry('b#1', 'normal', 20));
    const off = { ...queuedTotalsOf([]), normal: { units: 99, entries: 9 } };
    expect(await store.recountQueued('shared', off, seen.version)).toBe(false);
    await expectTotalsOfEntries();
    const now = await store.queuedTally('shared');
    expect(await store.recountQueued('shared', off, now.version)).toBe(true);
    expect(await store.queuedTally('shared')).toMatchObject({ levels: off, version: now.version, checkedVersion: now.version });
  });

  it("finds an execution's entries in every level, and no other execution's", async () => {
    await store.park(entry('run-1#1', 'low', 10));
    await store.park(entry('run-1#2', 'high', 20));
    await store.park(entry('run-10#1', 'low', 30));
    await store.park(entry('run#1', 'normal', 40));
    expect((await store.executionEntries('shared', 'run-1')).map((e) => e.entryId).sort()).toEqual(['run-1#1', 'run-1#2']);
    expect((await store.executionEntries('shared', 'run')).map((e) => e.entryId)).toEqual(['run#1']);
    expect(await store.executionEntries('other', 'run-1')).toEqual([]);
  });

  it('hands a step token to one taker, takes back a mapping whose token was not told, and records its start', async () => {
    await store.mapStep(step);
    expect(await store.noteStepStarted('j-1', 's-1', '2026-12-07T00:00:00Z')).toBe(true);
    expect(await store.noteStepStarted('j-1', 's-2', '2026-12-07T00:00:00Z')).toBe(false);
    expect(await store.mappedSteps('j-1')).toEqual([{ ...step, startedAt: '2026-12-07T00:00:00Z' }]);
    const taken = await store.takeStep('j-1', 's-1', 1_000, 0);
    expect(taken).toEqual({ ...step, startedAt: '2026-12-07T00:00:00Z', takenAt: 1_000 });
    // Taken recently: nobody else tells it; the mapping stays (a settle that dies leaves it for the sweep).
    expect(await store.takeStep('j-1', 's-1', 2_000, 999)).toBeNull();
    expect((await store.allMappedSteps()).map((s) => s.stepId)).toEqual(['s-1']);
    expect(await store.restoreStep(taken!)).toBe(true);
    expect(await store.restoreStep(taken!)).toBe(false);
    // A take made at or before staleBefore is a settle that died: it is taken over, once.
    const first = await store.takeStep('j-1', 's-1', 3_000, 0);
    expect(first?.takenAt).toBe(3_000);
    const takenOver = await store.takeStep('j-1', 's-1', 70_000, 3_000);
    expect(takenOver?.takenAt).toBe(70_000);
    expect(await store.takeStep('j-1', 's-1', 70_001, 3_000)).toBeNull();
    expect(await store.restoreStep(first!)).toBe(false);
    expect((await store.allMappedSteps()).map((s) => s.stepId)).toEqual(['s-1']);
    await store.dropStep('j-1', 's-1');
    expect(await store.allMappedSteps()).toEqual([]);
  });

  it('maps a dispatcher-submitted step without a token and attaches one (again on a retry)', async () => {
    const { taskToken: _none, ...submitted } = step;
    await store.mapStep(submitted);
    expect(await store.getStep('j-1', 's-1')).toEqual(submitted);
    expect(await store.getStep('j-1', 's-2')).toBeNull();
    expect(await store.attachToken('j-1', 's-2', 't1')).toBeNull();
    expect((await store.attachToken('j-1', 's-1', 't1'))?.taskToken).toBe('t1');
    expect((await store.attachToken('j-1', 's-1', 't2'))?.taskToken).toBe('t2');
    expect((await store.getStep('j-1', 's-1'))?.taskToken).toBe('t2');
  });

  it("holds a token-less step's end only under its own take and only while no token is attached", async () => {
    const { taskToken: _none, ...submitted } = step;
    const ended = { outcome: 'success' as const, output: '{}' };
    await store.mapStep(submitted);
    const taken = await store.takeStep('j-1', 's-1', 1_000, 0);
    expect(await store.holdStep({ ...submitted, takenAt: 999 }, ended, 1_500)).toBe(false);
    expect(await store.holdStep(taken!, ended, 1_500)).toBe(true);
    // Held and given back: the next taker sees the end; a token attached now comes back with it.
    expect((await store.getStep('j-1', 's-1'))?.takenAt).toBeUndefined();
    expect((await store.attachToken('j-1', 's-1', 't1'))?.held).toEqual(ended);

    // A token attached while a settle has the mapping taken refuses that settle's hold: it tells the token instead.
    await store.mapStep({ ...submitted, stepId: 's-2' });
    const racing = await store.takeStep('j-1', 's-2', 2_000, 0);
    await store.attachToken('j-1', 's-2', 't2');
    expect(await store.holdStep(racing!, ended, 2_500)).toBe(false);
    expect((await store.getStep('j-1', 's-2'))?.held).toBeUndefined();
  });

  it("names an execution's steps that may still run on a cluster: mapped, not taken by a settle, of that execution only", async () => {
    await store.mapStep(step);
    await store.mapStep({ ...step, stepId: 's-2' });
    await store.mapStep({ ...step, stepId: 's-3', execution: 'other' });
    await store.mapStep({ ...step, clusterId: 'j-2', stepId: 's-4' });
    expect((await store.liveSteps('j-1', 'e')).sort()).toEqual(['s-1', 's-2']);
    // A taken mapping is a step seen ended (a settle is telling its token): it no longer holds the lease.
    await store.takeStep('j-1', 's-2', 1_000, 0);
    expect(await store.liveSteps('j-1', 'e')).toEqual(['s-1']);
    await store.dropStep('j-1', 's-1');
    expect(await store.liveSteps('j-1', 'e')).toEqual([]);
    expect(await store.liveSteps('j-1', 'other')).toEqual(['s-3']);
    // A dispatcher-submitted step, mapped without a token, holds it; once its end is held (seen ended, waiting
    // for RunPooledStep's token) it no longer does.
    await store.mapStep({ clusterId: 'j-1', stepId: 's-5', stepName: 'n', execution: 'e', submittedAt: 1 });
    expect(await store.liveSteps('j-1', 'e')).toEqual(['s-5']);
    const taken = await store.takeStep('j-1', 's-5', 2_000, 0);
    expect(await store.holdStep(taken!, { outcome: 'success', output: '{}' }, 2_000)).toBe(true);
    expect(await store.liveSteps('j-1', 'e')).toEqual([]);
  });
});
