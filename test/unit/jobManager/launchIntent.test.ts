/**
 * The orphan window (issue 21): a launch whose RunJobFlow made a cluster but whose registry write never
 * happened leaves its placeholder, the launch intent. Once stale, the sweep looks the cluster up by the launch
 * id its name carries and registers it, so it takes leases instead of idling until its idle timeout.
 */
import { createJobManager, PLACEHOLDER_PREFIX, type JobManager } from '../../../lib/jobManager/jobManager';
import { MemoryJobStore } from '../../../lib/jobManager/memoryStore';
import type { EmrPort } from '../../../lib/jobManager/ports';
import { poolConfigHash } from '../../../lib/domain/pools';
import { testContext } from './support/pool';

const CONTEXT = testContext({ pool: { minClusters: 0 } });
const MINUTE = 60_000;

function harness(findLaunch: EmrPort['findLaunch']) {
  const clock = { ms: 10_000_000 };
  const store = new MemoryJobStore();
  const asked: string[] = [];
  const manager: JobManager = createJobManager({
    registry: store,
    stepTokens: store,
    clock: { now: () => clock.ms, sleep: async () => undefined },
    placeholderId: () => 'unused',
    sfn: { sendSlot: async () => undefined, sendSuccess: async () => undefined, sendFailure: async () => undefined, sendHeartbeat: async () => undefined },
    emr: {
      launchCluster: async () => 'j-unused',
      describeClusterState: async () => null,
      addStep: async () => 's-unused',
      addSteps: async () => [],
      listSteps: async () => ({ steps: [] }),
      cancelSteps: async () => undefined,
      findLaunch: async (pool, launchId, after) => {
        asked.push(launchId);
        return findLaunch(pool, launchId, after);
      },
    },
  });
  const intend = (launchId: string, minutesAgo: number) =>
    store.registerCluster({
      pool: CONTEXT.pool.name,
      clusterId: `${PLACEHOLDER_PREFIX}${launchId}`,
      state: 'STARTING',
      configHash: poolConfigHash(CONTEXT.pool),
      capacityUnits: 8,
      maxJobs: 3,
      launchedAt: clock.ms - minutesAgo * MINUTE,
    });
  const ids = async () => (await store.listClusters(CONTEXT.pool.name)).map((cluster) => `${cluster.clusterId} ${cluster.state}`).sort();
  return { clock, store, manager, asked, intend, ids };
}

describe('a launch intent left by a crash', () => {
  it('adopts the cluster the launch made, once the intent is stale', async () => {
    const h = harness(async (_pool, launchId) => (launchId === 'L1' ? { clusterId: 'j-ORPHAN', state: 'STARTING' } : null));
    await h.intend('L1', 6);

    const report = await h.manager.dispatch(CONTEXT);

    expect(report.adopted).toEqual(['j-ORPHAN']);
    expect(await h.ids()).toEqual(['j-ORPHAN STARTING']);
  });

  it('leaves a fresh intent alone (its launch may be under way), and drops a stale one whose launch made nothing', async () => {
    const h = harness(async () => null);
    await h.intend('FRESH', 1);
    await h.intend('NOTHING', 6);

    const report = await h.manager.dispatch(CONTEXT);

    expect(h.asked).toEqual(['NOTHING']);
    expect(report.adopted).toEqual([]);
    expect(await h.ids()).toEqual([`${PLACEHOLDER_PREFIX}FRESH STARTING`]);
  });

  it('does not adopt a cluster that already ended', async () => {
    const h = harness(async () => ({ clusterId: 'j-GONE', state: 'TERMINATED' }));
    await h.intend('L2', 6);

    expect((await h.manager.dispatch(CONTEXT)).adopted).toEqual([]);
    expect(await h.ids()).toEqual([]);
  });

  it('keeps the intent while EMR cannot be asked, and gives up on it after 30 minutes', async () => {
    const h = harness(async () => {
      throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    });
    await h.intend('L3', 6);

    expect((await h.manager.dispatch(CONTEXT)).errors).toEqual([`launch intent ${PLACEHOLDER_PREFIX}L3: ThrottlingException: Rate exceeded`]);
    expect(await h.ids()).toEqual([`${PLACEHOLDER_PREFIX}L3 STARTING`]);
    h.clock.ms += 25 * MINUTE;
    await h.manager.dispatch(CONTEXT);
    expect(await h.ids()).toEqual([]);
  });
});
