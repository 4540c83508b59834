/**
 * The settle sweep's ListSteps calls grow with the clusters' live steps, not with their history, and stay under
 * EMR's ListSteps burst (issue 22, "no EMR quota exceeded"). A fake EMR that filters ListSteps as EMR does
 * (StepStates, at most ten StepIds, 50 steps a page, newest first unless filtered), on the in-memory store.
 * Each bound has a negative control: the same check fails on a sweep that does what the bound rules out.
 */
import { LIST_STEPS_MAX_IDS, type StepState } from '../../../lib/contract';
import type { StepView } from '../../../lib/domain/stepCompletion';
import { createJobManager, type JobManager } from '../../../lib/jobManager/jobManager';
import { MemoryJobStore } from '../../../lib/jobManager/memoryStore';
import type { ListStepsRequest } from '../../../lib/jobManager/ports';
import { RECONCILE_LIST_STEPS_CALLS, SETTLE_SWEEP_MS } from '../../../lib/jobManager/steps';
import { loadStateMachineLimits } from '../../../local/planner/stateMachineLimits';

const PAGE = 50;
/** 10:00 UTC: a settle-steps sweep's time (its 5-minute number rotates the clusters' order). */
const T0 = Date.UTC(2026, 11, 7, 10, 0);

/** EMR's steps of each cluster (oldest first) and ListSteps as EMR answers it; `ignoreFilters` plays a ListSteps without them. */
class FakeEmr {
  readonly steps = new Map<string, StepView[]>();
  readonly calls: Array<{ clusterId: string } & ListStepsRequest> = [];
  constructor(private readonly ignoreFilters = false) {}

  add(clusterId: string, id: string, state: StepState): void {
    this.steps.set(clusterId, [...(this.steps.get(clusterId) ?? []), { Id: id, Name: id, Status: { State: state } }]);
  }

  async listSteps(clusterId: string, request: ListStepsRequest = {}): Promise<{ steps: StepView[]; marker?: string }> {
    this.calls.push({ clusterId, ...request });
    const stepIds = this.ignoreFilters ? undefined : request.stepIds;
    const stepStates = this.ignoreFilters ? undefined : request.stepStates;
    if (stepIds && stepIds.length > LIST_STEPS_MAX_IDS) throw Object.assign(new Error('at most ten StepIds'), { name: 'ValidationException' });
    const all = this.steps.get(clusterId) ?? [];
    // Filtered, EMR documents no order: oldest first here, so nothing relies on newest first.
    const matching =
      stepIds || stepStates
        ? all.filter((s) => (!stepIds || stepIds.includes(s.Id)) && (!stepStates || stepStates.includes(s.Status.State as StepState)))
        : [...all].reverse();
    const shown = Number(request.marker ?? 0);
    const page = matching.slice(shown, shown + PAGE);
    return { steps: page, ...(shown + PAGE < matching.length ? { marker: String(shown + PAGE) } : {}) };
  }
}

interface World {
  manager: JobManager;
  emr: FakeEmr;
  store: MemoryJobStore;
  clock: { ms: number };
  told: { success: string[]; failure: string[]; heartbeat: string[] };
  map(clusterId: string, stepId: string): Promise<void>;
}

/** `count` mapped steps on j-A that EMR shows COMPLETED: their events were lost. */
async function endedSteps(w: World, count: number): Promise<void> {
  for (let i = 0; i < count; i += 1) {
    w.emr.add('j-A', `s-${i}`, 'COMPLETED');
    await w.map('j-A', `s-${i}`);
  }
}

function world(emr = new FakeEmr()): World {
  const store = new MemoryJobStore();
  const clock = { ms: T0 };
  const told = { success: [] as string[], failure: [] as string[], heartbeat: [] as string[] };
  const unused = async (): Promise<never> => {
    throw new Error('not expected in the settle sweep');
  };
  const manager = createJobManager({
    registry: store,
    stepTokens: store,
    clock: { now: () => clock.ms, sleep: async () => undefined },
    placeholderId: () => 'unused',
    emr: {
      launchCluster: unused,
      describeClusterState: unused,
      addStep: unused,
      addSteps: unused,
      listSteps: (clusterId, request) => emr.listSteps(clusterId, request),
      cancelSteps: unused,
      findLaunch: unused,
    },
    sfn: {
      sendSlot: unused,
      sendSuccess: async (token) => void told.success.push(token),
      sendFailure: async (token) => void told.failure.push(token),
      sendHeartbeat: async (token) => void told.heartbeat.push(token),
    },
  });
  const map = (clusterId: string, stepId: string) =>
    store.mapStep({ clusterId, stepId, stepName: stepId, taskToken: `token-${stepId}`, execution: `exec-${stepId}`, submittedAt: T0 - 3_600_000 });
  return { manager, emr, store, clock, told, map };
}

/** A cluster with 300 ended steps: a long step started early and still RUNNING, two recent ones, one that COMPLETED long ago whose event was lost. */
async function busyCluster(w: World): Promise<void> {
  for (let i = 0; i < 300; i += 1) {
    if (i === 5) w.emr.add('j-BUSY', 's-LONG', 'RUNNING');
    if (i === 10) w.emr.add('j-BUSY', 's-LOST-EVENT', 'COMPLETED');
    w.emr.add('j-BUSY', `s-DONE-${i}`, i % 7 === 0 ? 'FAILED' : 'COMPLETED');
  }
  w.emr.add('j-BUSY', 's-RECENT-1', 'RUNNING');
  w.emr.add('j-BUSY', 's-RECENT-2', 'PENDING');
  for (const stepId of ['s-LONG', 's-LOST-EVENT', 's-RECENT-1', 's-RECENT-2', 's-NOT-ON-EMR']) await w.map('j-BUSY', stepId);
}

describe('reconcileSteps: ListSteps calls follow the live steps, not the history', () => {
  it('settles a step whose COMPLETED event was lost, heartbeats the live ones and counts an unknown one unseen, in 2 ListSteps calls over 300 ended steps', async () => {
    // Prepare
    const w = world();
    await busyCluster(w);

    // Act
    const report = await w.manager.reconcileSteps();

    // Assess
    expect(report).toMatchObject({ clusters: 1, listStepsCalls: 2, deferred: 0, settled: 1, heartbeats: 3, unseen: 1, errors: [] });
    expect(w.emr.calls).toHaveLength(2);
    expect(w.emr.calls[0]).toMatchObject({ stepStates: ['PENDING', 'RUNNING', 'CANCEL_PENDING'] });
    expect(w.emr.calls[1]).toMatchObject({ stepIds: ['s-LOST-EVENT', 's-NOT-ON-EMR'] });
    expect(w.told.success).toEqual(['token-s-LOST-EVENT']);
    expect(w.told.heartbeat.sort()).toEqual(['token-s-LONG', 'token-s-RECENT-1', 'token-s-RECENT-2']);
    expect(await w.store.getStep('j-BUSY', 's-LOST-EVENT')).toBeNull();
    // The unknown step's mapping stays: its wait's heartbeat and timeout bound it, as before.
    expect(await w.store.getStep('j-BUSY', 's-NOT-ON-EMR')).not.toBeNull();
  });

  it('negative control: on a ListSteps that ignores the filters (paging the history) the same sweep needs more than 2 calls', async () => {
    const w = world(new FakeEmr(true));
    await busyCluster(w);

    const report = await w.manager.reconcileSteps();

    expect(report.listStepsCalls).toBeGreaterThan(2);
    expect(w.emr.calls.length).toBe(report.listStepsCalls);
  });

  it('looks more than ten ended steps up ten ids a call (EMR refuses an eleventh with ValidationException)', async () => {
    const w = world();
    await endedSteps(w, 25);

    const report = await w.manager.reconcileSteps();

    expect(report).toMatchObject({ listStepsCalls: 4, settled: 25, unseen: 0, errors: [] });
    expect(w.emr.calls.slice(1).map((call) => call.stepIds?.length)).toEqual([10, 10, 5]);
  });

  it('negative control: the fake EMR refuses eleven StepIds, as EMR does', async () => {
    const emr = new FakeEmr();
    emr.add('j-A', 's-0', 'COMPLETED');
    const ids = Array.from({ length: 11 }, (_, i) => `s-${i}`);

    await expect(emr.listSteps('j-A', { stepIds: ids })).rejects.toMatchObject({ name: 'ValidationException' });
    await expect(emr.listSteps('j-A', { stepIds: ids.slice(0, 10) })).resolves.toMatchObject({ steps: [{ Id: 's-0' }] });
  });
});

describe('reconcileSteps: at most RECONCILE_LIST_STEPS_CALLS ListSteps calls a sweep', () => {
  const CLUSTERS = Array.from({ length: 12 }, (_, i) => `j-POOL${String(i).padStart(6, '0')}`);

  async function twelveClusters(): Promise<World> {
    const w = world();
    for (const clusterId of CLUSTERS) {
      w.emr.add(clusterId, `${clusterId}-s1`, 'RUNNING');
      await w.map(clusterId, `${clusterId}-s1`);
    }
    return w;
  }
  const listed = (w: World, from: number) => new Set(w.emr.calls.slice(from).map((call) => call.clusterId));

  it('leaves the clusters past the cap to the next sweep, which reaches them first', async () => {
    // Prepare
    const w = await twelveClusters();

    // Act: two sweeps, settle-steps' 5 minutes apart.
    const first = await w.manager.reconcileSteps();
    const reachedFirst = listed(w, 0);
    const callsBefore = w.emr.calls.length;
    w.clock.ms += SETTLE_SWEEP_MS;
    const second = await w.manager.reconcileSteps();
    const reachedSecond = listed(w, callsBefore);

    // Assess
    expect(RECONCILE_LIST_STEPS_CALLS).toBeLessThan(10);
    expect(first).toMatchObject({
      listStepsCalls: RECONCILE_LIST_STEPS_CALLS,
      clusters: RECONCILE_LIST_STEPS_CALLS,
      deferred: 12 - RECONCILE_LIST_STEPS_CALLS,
    });
    expect(second.listStepsCalls).toBeLessThanOrEqual(RECONCILE_LIST_STEPS_CALLS);
    const deferred = CLUSTERS.filter((id) => !reachedFirst.has(id));
    expect(deferred).toHaveLength(12 - RECONCILE_LIST_STEPS_CALLS);
    expect(deferred.every((id) => reachedSecond.has(id))).toBe(true);
    // The next sweep's first calls are the deferred clusters'.
    expect(
      w.emr.calls
        .slice(callsBefore, callsBefore + deferred.length)
        .map((call) => call.clusterId)
        .sort(),
    ).toEqual(deferred);
    expect(new Set(w.told.heartbeat).size).toBe(12);
  });

  it("rotates by settle-steps' schedule as serverless.yml ships it (a sweep's number is its 5-minute period)", () => {
    expect(loadStateMachineLimits().settleStepsSeconds * 1000).toBe(SETTLE_SWEEP_MS);
  });

  it('negative control: a second sweep in the same 5 minutes (same rotation) reaches the same clusters, not the deferred ones', async () => {
    const w = await twelveClusters();

    await w.manager.reconcileSteps();
    const reachedFirst = listed(w, 0);
    const callsBefore = w.emr.calls.length;
    await w.manager.reconcileSteps();
    const deferred = CLUSTERS.filter((id) => !reachedFirst.has(id));

    expect(deferred.some((id) => listed(w, callsBefore).has(id))).toBe(false);
  });

  it('defers a cluster whose look-ups the cap cut short (not unseen), and settles the rest next sweep', async () => {
    const w = world();
    await endedSteps(w, 100);

    const first = await w.manager.reconcileSteps();
    w.clock.ms += SETTLE_SWEEP_MS;
    const second = await w.manager.reconcileSteps();

    expect(first).toMatchObject({ listStepsCalls: RECONCILE_LIST_STEPS_CALLS, deferred: 1, settled: (RECONCILE_LIST_STEPS_CALLS - 1) * 10, unseen: 0 });
    expect(second).toMatchObject({ deferred: 0, settled: 100 - (RECONCILE_LIST_STEPS_CALLS - 1) * 10, unseen: 0 });
    expect(await w.store.allMappedSteps()).toEqual([]);
  });
});
