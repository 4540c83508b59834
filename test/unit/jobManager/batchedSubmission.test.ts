/**
 * Batched submission (issue 22): the dispatcher submits the steps of every job it grants on a cluster in
 * one AddJobFlowSteps call, maps each step id (token-less until RunPooledStep attaches its token) and sends
 * the slot with the step id. A throttled batch is handed back and re-delivered after ListSteps by name, so no
 * step is added twice; a batch EMR refuses for one step is split until that step stands alone, and only its
 * job's slot carries the error. In-memory store; EMR is a recording fake that keeps every step it added.
 */
import { createJobManager, type PoolContext, type Slot } from '../../../lib/jobManager/jobManager';
import { MemoryJobStore } from '../../../lib/jobManager/memoryStore';
import type { EmrPort, StepDefinition } from '../../../lib/jobManager/ports';
import type { PoolDefinition } from '../../../lib/config/pools';
import { poolConfigHash } from '../../../lib/domain/pools';
import { EMR_CLUSTER_ENDED_REFUSALS } from '../../../lib/contract';
import { EmrApiError, EmrThrottledError } from '../../../lib/errors';

const POOL: PoolDefinition = {
  name: 'shared',
  releaseLabel: 'emr-7.10.0',
  applications: ['Spark'],
  configurations: [],
  fleets: { primary: ['m5.xlarge'], core: ['r5.4xlarge'], task: ['r5.4xlarge'], coreUnits: 4 },
  minClusters: 0,
  maxClusters: 2,
  capacityUnits: 20,
  maxJobsPerCluster: 20,
  stepConcurrencyLevel: 20,
  idleTimeoutSeconds: 900,
  managedScaling: { minimumUnits: 4, maximumUnits: 20 },
};
const CONTEXT: PoolContext = {
  pool: POOL,
  settings: {
    leaseSeconds: 120,
    agingSecondsPerLevel: 300,
    maxWaitSeconds: 3_600,
    grantTimeoutSeconds: 60,
    runJobFlowBudget: { ratePerSecond: 0.25, burst: 2 },
  },
};
const CLUSTERS = ['j-AAAA', 'j-BBBB'];

function sparkStep(name: string): StepDefinition {
  return { Name: name, ActionOnFailure: 'CONTINUE', HadoopJarStep: { Jar: 'command-runner.jar', Args: ['spark-submit', 's3://b/job.py'] } };
}

/** EMR as the dispatcher sees it: AddJobFlowSteps all-or-none, ListSteps newest first, with faults to order. */
class RecordingEmr {
  readonly calls: Array<{ clusterId: string; names: string[] }> = [];
  readonly steps = new Map<string, Array<{ Id: string; Name: string }>>();
  /** What the next AddJobFlowSteps calls do: throttle (nothing added), or add and lose the answer. */
  readonly faults: Array<'throttle' | 'lostAnswer'> = [];
  /** Clusters that ended behind the registry's back (an idle timeout): AddJobFlowSteps refuses them. */
  readonly ended = new Set<string>();
  launches = 0;
  private serial = 0;

  port(): EmrPort {
    const unused = async (): Promise<never> => {
      throw new Error('not used by these cases');
    };
    return {
      launchCluster: async () => {
        this.launches += 1;
        return unused();
      },
      describeClusterState: async () => null,
      addStep: unused,
      cancelSteps: unused,
      findLaunch: async () => null,
      addSteps: async (clusterId, steps) => {
        const names = steps.map((step) => String(step.Name));
        this.calls.push({ clusterId, names });
        const fault = this.faults.shift();
        if (fault === 'throttle') throw new EmrThrottledError('Rate exceeded');
        // As EmrApiError.from words EMR's answer for a cluster that is shutting down or ended.
        if (this.ended.has(clusterId)) {
          throw new EmrApiError(`${EMR_CLUSTER_ENDED_REFUSALS.ended} (Service: AmazonElasticMapReduce; Status Code: 400; Error Code: ValidationException)`);
        }
        // EMR validates the whole request: one bad step refuses them all.
        if (names.some((name) => name.startsWith('invalid'))) throw new EmrApiError('ValidationException: Steps.HadoopJarStep.Jar is not a valid jar');
        const added = names.map((Name) => ({ Id: `s-${String(++this.serial).padStart(4, '0')}`, Name }));
        this.steps.set(clusterId, [...(this.steps.get(clusterId) ?? []), ...added]);
        if (fault === 'lostAnswer') throw Object.assign(new Error('socket hang up'), { name: 'TimeoutError' });
        return added.map((step) => step.Id);
      },
      listSteps: async (clusterId) => ({ steps: [...(this.steps.get(clusterId) ?? [])].reverse().map((step) => ({ ...step, Status: { State: 'PENDING' } })) }),
    };
  }

  allNames(): string[] {
    return [...this.steps.values()].flat().map((step) => step.Name);
  }
}

async function setUp(jobs: number, stepName: (i: number) => string | undefined = (i) => `job-${i} run attempt 1`) {
  let now = 1_000_000;
  const store = new MemoryJobStore();
  const emr = new RecordingEmr();
  const slots = new Map<string, Slot[]>();
  const told: Array<{ token: string; outcome: string }> = [];
  const manager = createJobManager({
    registry: store,
    stepTokens: store,
    emr: emr.port(),
    clock: { now: () => now, sleep: async () => undefined },
    placeholderId: () => 'unused',
    sfn: {
      sendSlot: async (token, slot) => void slots.set(token, [...(slots.get(token) ?? []), slot]),
      sendSuccess: async (token) => void told.push({ token, outcome: 'success' }),
      sendFailure: async (token, error) => void told.push({ token, outcome: error }),
      sendHeartbeat: async () => undefined,
    },
  });
  // Two clusters still STARTING: every park queues, and one dispatch grants them all once they run.
  for (const clusterId of CLUSTERS) {
    await store.registerCluster({
      pool: POOL.name,
      clusterId,
      state: 'STARTING',
      configHash: poolConfigHash(POOL),
      capacityUnits: POOL.capacityUnits,
      maxJobs: POOL.maxJobsPerCluster,
      launchedAt: now,
    });
  }
  for (let i = 0; i < jobs; i += 1) {
    const name = stepName(i);
    await manager.acquireCapacity(CONTEXT, {
      units: 1,
      priority: 'normal',
      execution: `exec-${i}`,
      attempt: 1,
      taskToken: `token-${i}`,
      ...(name ? { step: sparkStep(name) } : {}),
    });
  }
  for (const clusterId of CLUSTERS) await store.setClusterState(POOL.name, clusterId, 'RUNNING');
  emr.calls.length = 0;
  return { store, emr, slots, told, manager, advance: (ms: number) => (now += ms) };
}

describe('batched submission', () => {
  it('a dispatch granting 40 jobs on 2 clusters makes 2 AddJobFlowSteps calls and maps every step id', async () => {
    const { store, emr, slots, manager } = await setUp(40);
    const report = await manager.dispatch(CONTEXT);

    expect(report.granted).toHaveLength(40);
    expect(emr.calls.map((call) => [call.clusterId, call.names.length]).sort()).toEqual([
      ['j-AAAA', 20],
      ['j-BBBB', 20],
    ]);
    expect(report.addJobFlowStepsCalls).toBe(2);
    for (let i = 0; i < 40; i += 1) {
      const [slot] = slots.get(`token-${i}`) ?? [];
      expect(slot.stepId).toMatch(/^s-/);
      const mapped = await store.getStep(slot.clusterId, slot.stepId as string);
      expect(mapped).toMatchObject({ stepName: `job-${i} run attempt 1`, execution: `exec-${i}` });
      expect(mapped?.taskToken).toBeUndefined();
    }
  });

  it('(negative control) jobs parked without their step are not batched: their slots carry no step id', async () => {
    const { emr, slots, manager } = await setUp(40, () => undefined);
    await manager.dispatch(CONTEXT);
    expect(emr.calls).toHaveLength(0);
    expect([...slots.values()].flat().every((slot) => slot.stepId === undefined)).toBe(true);
  });

  it('a throttled batch is retried by the next dispatch, and no step is submitted twice', async () => {
    const { emr, slots, manager, advance } = await setUp(40);
    emr.faults.push('throttle');
    const first = await manager.dispatch(CONTEXT);
    // The first cluster's batch is throttled; the second's is held back rather than throttled too.
    expect(first.granted).toHaveLength(0);
    expect(first.errors.join()).toMatch(/Emr\.Throttled/);
    expect(emr.calls).toHaveLength(1);

    // Held back for one quota token's refill, then both batches go with the next dispatch.
    const held = await manager.dispatch(CONTEXT);
    expect(held.granted).toHaveLength(0);
    expect(emr.calls).toHaveLength(1);
    advance(2_000);
    const second = await manager.dispatch(CONTEXT);
    expect(second.granted).toHaveLength(40);
    expect(emr.calls).toHaveLength(3);
    const names = emr.allNames();
    expect(names).toHaveLength(40);
    expect(new Set(names).size).toBe(40);
    for (let i = 0; i < 40; i += 1) expect(slots.get(`token-${i}`)).toHaveLength(1);
  });

  it('a batch added but whose answer was lost is found by name, not submitted again', async () => {
    const { emr, slots, manager, advance } = await setUp(40);
    emr.faults.push('lostAnswer');
    await manager.dispatch(CONTEXT);
    // Unknown whether they were added: the claims wait out grantTimeoutSeconds, then ListSteps by name.
    await manager.dispatch(CONTEXT);
    expect(emr.calls).toHaveLength(2);
    advance(61_000);
    await manager.dispatch(CONTEXT);

    // The lost batch's steps are on the cluster once, and their slots carry the ids ListSteps showed.
    expect(emr.calls).toHaveLength(2);
    const names = emr.allNames();
    expect(new Set(names).size).toBe(40);
    expect(names).toHaveLength(40);
    const ids = new Map([...emr.steps.values()].flat().map((step) => [step.Name, step.Id]));
    for (let i = 0; i < 40; i += 1) {
      const delivered = slots.get(`token-${i}`) ?? [];
      expect(delivered).toHaveLength(1);
      expect(delivered[0].stepId).toBe(ids.get(`job-${i} run attempt 1`));
    }
  });

  it('a batch rejected for one invalid step fails that job only', async () => {
    const { emr, slots, manager, advance } = await setUp(40, (i) => (i === 7 ? 'invalid step' : `job-${i} run attempt 1`));
    // Each call of the split takes an AddJobFlowSteps token (8 in a full default bucket): halves past them are
    // handed back, unsubmitted, and go out with a later dispatch once tokens refilled.
    const granted = (await manager.dispatch(CONTEXT)).granted;
    for (let pass = 0; granted.length < 40 && pass < 10; pass += 1) {
      advance(2_500);
      granted.push(...(await manager.dispatch(CONTEXT)).granted);
    }

    expect(granted).toHaveLength(40);
    const refused = slots.get('token-7')?.[0];
    expect(refused?.stepId).toBeUndefined();
    expect(refused?.submitError).toEqual({ error: 'EMR.AmazonElasticMapReduceException', cause: expect.stringMatching(/ValidationException/) });
    for (let i = 0; i < 40; i += 1) if (i !== 7) expect(slots.get(`token-${i}`)?.[0].stepId).toMatch(/^s-/);
    expect(emr.allNames()).toHaveLength(39);
    // One call for the clean cluster; the other's 20 steps are halved until the bad one stands alone.
    expect(emr.calls.length).toBeLessThanOrEqual(2 + 2 * Math.ceil(Math.log2(20)));
  });

  it('RunPooledStep attaches its token; a step that ended before that is told on attaching', async () => {
    const { slots, told, manager } = await setUp(2);
    await manager.dispatch(CONTEXT);
    const early = slots.get('token-0')![0];
    const late = slots.get('token-1')![0];

    // Ended before its token: the settlement is held on the mapping, then told to the token that attaches.
    expect(await manager.settleStep(early.clusterId, early.stepId!, { outcome: 'success', output: '{"Step":{}}' })).toBe('settled');
    expect(told).toHaveLength(0);
    expect(await manager.attachStep({ clusterId: early.clusterId, stepId: early.stepId!, taskToken: 'step-token-0' })).toEqual({
      StepId: early.stepId,
      settled: true,
    });
    expect(told).toEqual([{ token: 'step-token-0', outcome: 'success' }]);

    expect(await manager.attachStep({ clusterId: late.clusterId, stepId: late.stepId!, taskToken: 'step-token-1' })).toEqual({
      StepId: late.stepId,
      settled: false,
    });
    expect(await manager.settleStep(late.clusterId, late.stepId!, { outcome: 'failure', error: 'States.TaskFailed', cause: '{}' })).toBe('settled');
    expect(told[1]).toEqual({ token: 'step-token-1', outcome: 'States.TaskFailed' });
    // Settled once: a duplicate event finds nothing.
    expect(await manager.settleStep(late.clusterId, late.stepId!, { outcome: 'failure', error: 'States.TaskFailed', cause: '{}' })).toBe('absent');
  });

  it('a batch refused because its cluster has ended puts those jobs back in the queue, spending no attempt, and the registry marks the cluster ended', async () => {
    const { store, emr, slots, told, manager } = await setUp(10);
    emr.ended.add('j-AAAA');
    const report = await manager.dispatch(CONTEXT);

    // The jobs granted on the ended cluster went back to the queue and were granted on the live one in the
    // same dispatch: one slot each, with a step on j-BBBB, and no failure told to anyone.
    expect(report.requeued?.length).toBeGreaterThan(0);
    expect(report.granted).toHaveLength(10);
    for (let i = 0; i < 10; i += 1) {
      const delivered = slots.get(`token-${i}`) ?? [];
      expect(delivered).toHaveLength(1);
      expect(delivered[0]).toMatchObject({ clusterId: 'j-BBBB', lease: `exec-${i}#1` });
      expect(delivered[0].stepId).toMatch(/^s-/);
      expect(delivered[0].submitError).toBeUndefined();
    }
    expect(told).toEqual([]);
    expect(emr.steps.get('j-AAAA')).toBeUndefined();
    // Marked ended at once, holding nothing; nothing launched while the live cluster has room.
    const ended = await store.getCluster(POOL.name, 'j-AAAA');
    expect(ended === null || (ended.state === 'TERMINATED' && Object.keys(ended.leases).length === 0)).toBe(true);
    expect(emr.launches).toBe(0);
    expect(await store.listQueue(POOL.name)).toEqual([]);
  });

  it('(negative control) a refusal of the steps themselves on a live cluster is not taken for an ended cluster', async () => {
    const { store, emr, slots, manager } = await setUp(2, (i) => (i === 0 ? 'invalid step' : `job-${i} run attempt 1`));
    const report = await manager.dispatch(CONTEXT);

    expect(report.requeued ?? []).toEqual([]);
    expect(slots.get('token-0')?.[0].submitError?.cause).toMatch(/not a valid jar/);
    for (const clusterId of CLUSTERS) expect((await store.getCluster(POOL.name, clusterId))?.state).toBe('RUNNING');
    expect(emr.allNames()).toEqual(['job-1 run attempt 1']);
  });

  it('(negative control) a throttled batch is handed back as throttling, not taken for an ended cluster', async () => {
    const { store, emr, manager } = await setUp(4);
    emr.faults.push('throttle');
    const report = await manager.dispatch(CONTEXT);

    expect(report.requeued ?? []).toEqual([]);
    expect(report.granted).toEqual([]);
    for (const clusterId of CLUSTERS) expect((await store.getCluster(POOL.name, clusterId))?.state).toBe('RUNNING');
  });

  it('a token attached while a settle has the token-less mapping taken is told by that settle, once', async () => {
    const { store, slots, told, manager } = await setUp(1);
    await manager.dispatch(CONTEXT);
    const slot = slots.get('token-0')![0];
    // RunPooledStep attaches its token between the settle's take and its hold.
    const take = store.takeStep.bind(store);
    store.takeStep = async (...args) => {
      const taken = await take(...args);
      await store.attachToken(slot.clusterId, slot.stepId!, 'step-token-0');
      return taken;
    };
    expect(await manager.settleStep(slot.clusterId, slot.stepId!, { outcome: 'success', output: '{}' })).toBe('settled');
    expect(told).toEqual([{ token: 'step-token-0', outcome: 'success' }]);
    expect(await store.getStep(slot.clusterId, slot.stepId!)).toBeNull();
  });
});

describe('the AddJobFlowSteps budget', () => {
  /** EMR's default AddJobFlowSteps quota per account and Region (REFERENCE.md): burst 10, refill 0.5/s. */
  const EMR_QUOTA = { burst: 10, perSecond: 0.5 };

  /** A burst of `jobs` arrivals 100 ms apart on two running clusters, each park dispatching as AcquireCapacity does. */
  async function burst(jobs: number, context: PoolContext) {
    const run = await setUp(0);
    for (let i = 0; i < jobs; i += 1) {
      run.advance(100);
      await run.manager.acquireCapacity(context, {
        units: 1,
        priority: 'normal',
        execution: `exec-${i}`,
        attempt: 1,
        taskToken: `token-${i}`,
        step: sparkStep(`job-${i}`),
      });
    }
    return run;
  }

  it('a burst of passes takes at most the bucket’s tokens; the rest wait and go out later, more steps per call, once each', async () => {
    const { emr, slots, manager, advance } = await burst(40, CONTEXT);
    // 40 passes in 4 s: the default bucket (burst 8, 0.4/s) lets 8 + 1 calls through, each of the early ones
    // carrying one job; the other jobs stay queued (no claim, no write) while it is empty.
    expect(emr.calls.length).toBeLessThanOrEqual(8 + Math.floor(0.4 * 4));
    expect(emr.calls.length).toBeLessThanOrEqual(EMR_QUOTA.burst + EMR_QUOTA.perSecond * 4);
    const early = emr.calls.length;
    expect(slots.size).toBeLessThan(40);

    advance(10_000);
    await manager.dispatch(CONTEXT);
    expect(slots.size).toBe(40);
    const late = emr.calls.slice(early);
    expect(late.length).toBeLessThanOrEqual(2);
    expect(Math.max(...late.map((call) => call.names.length))).toBeGreaterThan(Math.max(...emr.calls.slice(0, early).map((call) => call.names.length)));
    expect(emr.allNames().sort()).toEqual(Array.from({ length: 40 }, (_, i) => `job-${i}`).sort());
    for (let i = 0; i < 40; i += 1) expect(slots.get(`token-${i}`)).toHaveLength(1);
  });

  it('(negative control) without a binding budget the same burst exceeds EMR’s quota: one call per pass', async () => {
    const unbounded = { ...CONTEXT, settings: { ...CONTEXT.settings, addJobFlowStepsBudget: { ratePerSecond: 10, burst: 100 } } };
    const { emr } = await burst(40, unbounded);
    expect(emr.calls.length).toBeGreaterThan(EMR_QUOTA.burst + EMR_QUOTA.perSecond * 4);
  });

  /** One arrival after a dispatch that used the bucket's only token; the store reads the arrival's dispatch made. */
  async function arrivalAfterToken(burst: number) {
    const budget = { ...CONTEXT, settings: { ...CONTEXT.settings, addJobFlowStepsBudget: { ratePerSecond: 0.001, burst } } };
    const { store, manager } = await setUp(40);
    await manager.dispatch(budget);
    const heads = jest.spyOn(store, 'queueHead');
    const granting = jest.spyOn(store, 'grantingEntries');
    const { dispatch } = await manager.acquireCapacity(budget, {
      units: 1,
      priority: 'normal',
      execution: 'late',
      attempt: 1,
      taskToken: 'token-late',
      step: sparkStep('late'),
    });
    return { reads: heads.mock.calls.length + granting.mock.calls.length, dispatch };
  }

  it('an arrival with no AddJobFlowSteps token dispatches nothing: it reads neither the handed-back grants nor the queue', async () => {
    const { reads, dispatch } = await arrivalAfterToken(1);
    expect(reads).toBe(0);
    expect(dispatch.addJobFlowStepsHeld).toBe(1);
  });

  it('(negative control) an arrival with a token left dispatches: it sweeps and reads the queue', async () => {
    const { reads, dispatch } = await arrivalAfterToken(3);
    expect(reads).toBeGreaterThan(0);
    expect(dispatch.addJobFlowStepsHeld).toBeUndefined();
  });

  it('one refused step in a batch is isolated with one token per pass, and every other job gets its step once', async () => {
    const tight = { ...CONTEXT, settings: { ...CONTEXT.settings, addJobFlowStepsBudget: { ratePerSecond: 0.4, burst: 1 } } };
    const { emr, slots, manager, advance } = await setUp(40, (i) => (i === 7 ? 'invalid step' : `job-${i} run attempt 1`));
    // Each pass has one token: a refused batch's halves are handed back in groups of their own, so they are
    // not merged again with the refused step (which would be refused again on every pass).
    for (let pass = 0; slots.size < 40 && pass < 60; pass += 1) {
      await manager.dispatch(tight);
      advance(2_500);
    }
    expect(slots.size).toBe(40);
    expect(slots.get('token-7')?.[0].submitError?.cause).toMatch(/not a valid jar/);
    for (let i = 0; i < 40; i += 1) {
      expect(slots.get(`token-${i}`)).toHaveLength(1);
      if (i !== 7) expect(slots.get(`token-${i}`)?.[0].stepId).toMatch(/^s-/);
    }
    expect(new Set(emr.allNames()).size).toBe(39);
    expect(emr.allNames()).toHaveLength(39);
  });
});
