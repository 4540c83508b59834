/**
 * Pre-launch (lib/jobManager/launch.ts prelaunch): the job manager launches the clusters a predicted burst
 * needs through its own launch protocol, counting the clusters the pool already has (starting ones and launch
 * intents too) and never going past maxClusters.
 */
import { createJobManager, type JobManager } from '../../../lib/jobManager/jobManager';
import { MemoryJobStore } from '../../../lib/jobManager/memoryStore';
import { poolConfigHash } from '../../../lib/domain/pools';
import { testContext } from './support/pool';

const CONTEXT = testContext({ pool: { maxClusters: 4 } });
const POOL = CONTEXT.pool;
const NOW = 10_000_000;
/** The launch lead prescale passes (DEFAULT_PRESCALE.launchLeadSeconds). */
const LEAD = 960;

function harness(): { manager: JobManager; store: MemoryJobStore; launches: string[] } {
  const store = new MemoryJobStore();
  const launches: string[] = [];
  let placeholders = 0;
  const manager = createJobManager({
    registry: store,
    stepTokens: store,
    clock: { now: () => NOW, sleep: async () => undefined },
    placeholderId: () => `launch-${++placeholders}`,
    emr: {
      launchCluster: async (_pool, _hash, launchId) => {
        launches.push(launchId);
        return `j-${launches.length}`;
      },
      describeClusterState: async () => null,
      addStep: async () => 's-1',
      addSteps: async () => [],
      listSteps: async () => ({ steps: [] }),
      cancelSteps: async () => undefined,
      findLaunch: async () => null,
    },
    sfn: { sendSlot: async () => undefined, sendSuccess: async () => undefined, sendFailure: async () => undefined, sendHeartbeat: async () => undefined },
  });
  return { manager, store, launches };
}

async function register(
  store: MemoryJobStore,
  clusterId: string,
  state: 'STARTING' | 'WAITING' | 'TERMINATING',
  configHash = poolConfigHash(POOL),
  launchedAt = NOW,
) {
  await store.registerCluster({
    pool: POOL.name,
    clusterId,
    state,
    configHash,
    capacityUnits: POOL.capacityUnits,
    maxJobs: POOL.maxJobsPerCluster,
    launchedAt,
  });
}

describe('pre-launching a pool’s clusters', () => {
  it('launches the clusters missing from `wanted`, counting running and starting ones', async () => {
    // Prepare
    const h = harness();
    await register(h.store, 'j-old-1', 'WAITING');
    await register(h.store, 'j-old-2', 'STARTING');

    // Act
    const report = await h.manager.prelaunch(CONTEXT, 3, LEAD);

    // Assess: one launch, registered as a starting cluster of the pool's configuration; no placeholder left.
    expect(h.launches).toHaveLength(1);
    expect(report.launched).toEqual(['j-1']);
    const clusters = await h.store.listClusters(POOL.name);
    expect(clusters.map((c) => [c.clusterId, c.state]).sort()).toEqual([
      ['j-1', 'STARTING'],
      ['j-old-1', 'WAITING'],
      ['j-old-2', 'STARTING'],
    ]);
    expect(clusters.find((c) => c.clusterId === 'j-1')?.configHash).toBe(poolConfigHash(POOL));
  });

  it('launches nothing when the pool has the clusters already (negative control)', async () => {
    // Prepare
    const h = harness();
    await register(h.store, 'j-old-1', 'WAITING');
    await register(h.store, 'j-old-2', 'STARTING');

    // Act
    const report = await h.manager.prelaunch(CONTEXT, 2, LEAD);

    // Assess
    expect(h.launches).toEqual([]);
    expect(report.launched).toEqual([]);
  });

  it('does not count an ending cluster, and never goes past maxClusters with clusters of an older configuration', async () => {
    // Prepare: one cluster ending, one of an older configuration (alive, not usable, but counted in maxClusters = 4).
    const h = harness();
    await register(h.store, 'j-ending', 'TERMINATING');
    await register(h.store, 'j-stale', 'WAITING', 'an-older-hash');

    // Act
    const report = await h.manager.prelaunch(CONTEXT, 8, LEAD);

    // Assess: 4 - 1 (the stale one) = 3 launched; the ending one took no slot.
    expect(report.launched).toHaveLength(3);
    expect(h.launches).toHaveLength(3);
  });

  it('does not count an idle cluster launched before the lead (it may end before the burst), but counts a busy one', async () => {
    // Prepare: two clusters launched two hours ago; one idle, one holding a lease.
    const h = harness();
    const old = NOW - 2 * 3_600_000;
    await register(h.store, 'j-idle', 'WAITING', poolConfigHash(POOL), old);
    await register(h.store, 'j-busy', 'WAITING', poolConfigHash(POOL), old);
    const busy = (await h.store.listClusters(POOL.name)).find((c) => c.clusterId === 'j-busy');
    if (!busy) throw new Error('j-busy not registered');
    await h.store.lease(busy, 'exec-1#1', { execution: 'exec-1', units: 2, grantedAt: NOW, expiresAt: NOW + 600_000 });

    // Act
    const report = await h.manager.prelaunch(CONTEXT, 2, LEAD);

    // Assess: the busy one counts, the idle one does not, so one cluster is launched.
    expect(report.launched).toEqual(['j-1']);
  });
});
