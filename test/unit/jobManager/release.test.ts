/**
 * ReleaseCapacity's lease protocol (lib/jobManager/release.ts), for a slot that names its step (a batched
 * grant: the dispatcher mapped that step before sending the slot, and it is the lease's only one) and for one
 * that does not. A release with the slot's step id reads that one mapping (getStep) instead of every mapping
 * on the cluster (liveSteps): issue 21's "DynamoDB items read per job must not grow with the day". A step that
 * may still run is cancelled and keeps the lease (lapsed); a taken, held or absent mapping is a step seen
 * ended, and the lease goes at once. In-memory store; EMR is a fake that records cancels and reports states.
 */
import { createJobManager, type JobManager } from '../../../lib/jobManager/jobManager';
import { MemoryJobStore } from '../../../lib/jobManager/memoryStore';
import type { EmrPort } from '../../../lib/jobManager/ports';
import type { StepTokenItem } from '../../../lib/jobManager/store';
import { unwired } from '../../../lib/jobManager/unwired';
import { poolConfigHash } from '../../../lib/domain/pools';
import { testContext } from './support/pool';

const CONTEXT = testContext();
const POOL = CONTEXT.pool;
const NOW = 1_800_000_000_000;
const CLUSTER = 'j-0000';
const EXECUTION = 'exec-0';
const LEASE = `${EXECUTION}#1`;
const EXPIRES_AT = NOW + 3_600_000;
const TARGET = { pool: POOL.name, clusterId: CLUSTER, capacityUnits: POOL.capacityUnits, maxJobs: POOL.maxJobsPerCluster, configHash: poolConfigHash(POOL) };

/**
 * The in-memory store, logging the reads a release may make of the step tokens and its lease write (the
 * dispatch that follows a release sweeps too: a lapsed lease is read there with liveSteps).
 */
class CountingStore extends MemoryJobStore {
  log: string[] = [];

  override async getStep(clusterId: string, stepId: string): Promise<StepTokenItem | null> {
    this.log.push('getStep');
    return super.getStep(clusterId, stepId);
  }

  override async liveSteps(clusterId: string, execution: string): Promise<string[]> {
    this.log.push('liveSteps');
    return super.liveSteps(clusterId, execution);
  }

  override async lapse(pool: string, clusterId: string, leaseId: string, at: number): Promise<boolean> {
    this.log.push('lapse');
    return super.lapse(pool, clusterId, leaseId, at);
  }

  override async release(pool: string, clusterId: string, leaseId: string): Promise<{ released: boolean; units: number }> {
    this.log.push('release');
    return super.release(pool, clusterId, leaseId);
  }
}

/** Negative control: a release that does not see its slot's step (getStep finds no mapping). */
class BlindGetStep extends CountingStore {
  override async getStep(clusterId: string, stepId: string): Promise<StepTokenItem | null> {
    await super.getStep(clusterId, stepId);
    return null;
  }
}

/** One RUNNING cluster holding the lease LEASE (4 units) of EXECUTION, and a fake EMR running the steps mapRunning maps. */
async function setup(store: CountingStore) {
  await store.registerCluster({
    pool: POOL.name,
    clusterId: CLUSTER,
    state: 'RUNNING',
    configHash: poolConfigHash(POOL),
    capacityUnits: POOL.capacityUnits,
    maxJobs: POOL.maxJobsPerCluster,
    launchedAt: NOW - 60_000,
  });
  expect(await store.lease(TARGET, LEASE, { execution: EXECUTION, units: 4, grantedAt: NOW - 30_000, expiresAt: EXPIRES_AT })).toBe(true);
  const states = new Map<string, string>();
  const cancelled: string[][] = [];
  const emr = unwired<EmrPort>('emr', {
    cancelSteps: async (_clusterId, stepIds) => {
      cancelled.push(stepIds);
      for (const id of stepIds) states.set(id, 'CANCEL_PENDING');
    },
    listSteps: async () => ({ steps: [...states].map(([Id, State]) => ({ Id, Status: { State } })) }),
  });
  const manager: JobManager = createJobManager({
    registry: store,
    stepTokens: store,
    emr,
    sfn: unwired('sfn'),
    clock: { now: () => NOW, sleep: async () => undefined },
    placeholderId: () => 'p-0',
  });
  /** Maps a step of `execution` as the dispatcher does (token-less), EMR running it. */
  const mapRunning = async (stepId: string, execution = EXECUTION, extra: Partial<StepTokenItem> = {}) => {
    states.set(stepId, 'RUNNING');
    await store.mapStep({ clusterId: CLUSTER, stepId, stepName: `${execution} step`, execution, submittedAt: NOW - 20_000, ...extra });
  };
  const lease = async () => (await store.getCluster(POOL.name, CLUSTER))?.leases[LEASE];
  store.log = [];
  return { manager, mapRunning, cancelled, lease };
}

const slot = (stepId?: string) => ({ clusterId: CLUSTER, lease: LEASE, ...(stepId ? { stepId } : {}) });

describe.each([
  ['the job manager', () => new CountingStore(), false],
  ["negative control: a release blind to its slot's step (getStep finds nothing)", () => new BlindGetStep(), true],
] as const)('release with the slot of a batched grant: %s', (_name, newStore, blind) => {
  it('a step that may still run is cancelled and keeps the lease (lapsed), read with one GetItem', async () => {
    const store = newStore();
    const { manager, mapRunning, cancelled, lease } = await setup(store);
    await mapRunning('s-1');
    const released = await manager.releaseCapacity(CONTEXT, slot('s-1'));
    if (blind) {
      // The safeguard removed: the lease of a step EMR still runs is freed, its units free for another grant.
      expect(released).toMatchObject({ released: true, units: 4, running: [] });
      expect(await lease()).toBeUndefined();
      expect(store.log).toEqual(['getStep', 'release']);
      return;
    }
    // One GetItem, not liveSteps' Query of the cluster (the dispatch's sweep then reads the lapsed lease's steps).
    expect(store.log).toEqual(['getStep', 'lapse', 'liveSteps']);
    expect(released).toMatchObject({ released: false, units: 0, running: ['s-1'] });
    expect(cancelled).toEqual([['s-1']]);
    expect(await lease()).toMatchObject({ execution: EXECUTION, units: 4, expiresAt: NOW });
  });
});

describe('release with the slot of a batched grant whose step was seen ended', () => {
  it.each([
    ['taken by a settle', { takenAt: NOW - 1_000 }],
    ['held (it ended before RunPooledStep attached its token)', { held: { outcome: 'success' as const, output: '{}' }, heldAt: NOW - 1_000 }],
  ])('releases at once when its mapping is %s', async (_how, extra) => {
    const store = new CountingStore();
    const { manager, mapRunning, cancelled, lease } = await setup(store);
    await mapRunning('s-1', EXECUTION, extra);
    expect(await manager.releaseCapacity(CONTEXT, slot('s-1'))).toMatchObject({ released: true, units: 4, running: [] });
    expect(cancelled).toEqual([]);
    expect(await lease()).toBeUndefined();
    expect(store.log).toEqual(['getStep', 'release']);
  });

  it('releases at once when its mapping is gone (dropped once its token was told)', async () => {
    const store = new CountingStore();
    const { manager, cancelled, lease } = await setup(store);
    expect(await manager.releaseCapacity(CONTEXT, slot('s-1'))).toMatchObject({ released: true, units: 4, running: [] });
    expect(cancelled).toEqual([]);
    expect(await lease()).toBeUndefined();
    expect(store.log).toEqual(['getStep', 'release']);
  });
});

describe('release without a step id, or with one that is not its own', () => {
  it("reads the execution's steps with liveSteps (a job that submitted its own step, an older definition): a running one keeps the lease", async () => {
    const store = new CountingStore();
    const { manager, mapRunning, cancelled, lease } = await setup(store);
    await mapRunning('s-1');
    await mapRunning('s-other', 'exec-other');
    expect(await manager.releaseCapacity(CONTEXT, slot())).toMatchObject({ released: false, running: ['s-1'] });
    expect(cancelled).toEqual([['s-1']]);
    expect(await lease()).toMatchObject({ expiresAt: NOW });
    expect(store.log).toEqual(['liveSteps', 'lapse', 'liveSteps']);
  });

  it('does not trust a step id mapped to another execution: it cancels nothing of that execution, and liveSteps decides', async () => {
    const store = new CountingStore();
    const { manager, mapRunning, cancelled, lease } = await setup(store);
    await mapRunning('s-other', 'exec-other');
    await mapRunning('s-1');
    expect(await manager.releaseCapacity(CONTEXT, slot('s-other'))).toMatchObject({ released: false, running: ['s-1'] });
    expect(cancelled).toEqual([['s-1']]);
    expect(await lease()).toMatchObject({ expiresAt: NOW });
    expect(store.log).toEqual(['getStep', 'liveSteps', 'lapse', 'liveSteps']);
  });
});
