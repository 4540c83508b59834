/**
 * A pool launch RunJobFlow refuses (issue 21, "Launch failures surface"), on the in-memory store: a refusal
 * that will recur (AccessDenied, ValidationException) fails the parked jobs no existing cluster can hold
 * within the dispatch that met it, with Placement.LaunchFailed and EMR's message, withdrawn and holding
 * nothing; a transient one (throttling) is tried again within the RunJobFlow budget and the jobs are granted.
 */
import { LaunchFailedError, isTransientLaunchError } from '../../../lib/errors';
import { createJobManager, type JobManager, type PoolContext, type Slot } from '../../../lib/jobManager/jobManager';
import { MemoryJobStore } from '../../../lib/jobManager/memoryStore';
import { testContext } from './support/pool';

const CONTEXT: PoolContext = testContext();
const POOL = CONTEXT.pool;

/** An SDK-shaped EMR error: its code as `name`, the HTTP status in `$metadata`. */
function emrError(code: string, message: string, httpStatusCode = 400): Error {
  return Object.assign(new Error(message), { name: code, $metadata: { httpStatusCode } });
}

interface Harness {
  manager: JobManager;
  store: MemoryJobStore;
  slots: Map<string, Slot>;
  failures: Map<string, { error: string; cause: string }>;
  launches: string[];
  /** What each RunJobFlow does, in order; past the list, it launches. */
  answers: Array<Error | 'launch'>;
  now: { ms: number };
}

function harness(answers: Array<Error | 'launch'> = []): Harness {
  const store = new MemoryJobStore();
  const h: Harness = { store, slots: new Map(), failures: new Map(), launches: [], answers, now: { ms: 1_000_000 }, manager: undefined as never };
  let clusters = 0;
  let placeholders = 0;
  h.manager = createJobManager({
    registry: store,
    stepTokens: store,
    clock: {
      now: () => h.now.ms,
      sleep: async (ms) => {
        h.now.ms += ms;
      },
    },
    placeholderId: () => `launch-${++placeholders}`,
    emr: {
      launchCluster: async () => {
        const answer = h.answers.shift() ?? 'launch';
        h.launches.push(answer === 'launch' ? 'launch' : answer.name);
        if (answer !== 'launch') throw answer;
        return `j-${++clusters}`;
      },
      describeClusterState: async () => null,
      addStep: async () => 's-1',
      addSteps: async () => {
        throw new Error('no batch expected');
      },
      listSteps: async () => ({ steps: [] }),
      cancelSteps: async () => undefined,
      findLaunch: async () => null,
    },
    sfn: {
      sendSlot: async (token, slot) => void h.slots.set(token, slot),
      sendSuccess: async () => undefined,
      sendFailure: async (token, error, cause) => void h.failures.set(token, { error, cause }),
      sendHeartbeat: async () => undefined,
    },
  });
  return h;
}

async function parkJobs(h: Harness, count: number, units = 4) {
  const reports = [];
  for (let i = 1; i <= count; i += 1) {
    reports.push(await h.manager.acquireCapacity(CONTEXT, { units, priority: 'normal', execution: `exec-${i}`, attempt: 1, taskToken: `token-${i}` }));
  }
  return reports;
}

describe('a pool launch RunJobFlow refuses for good', () => {
  it('fails every parked job within the dispatch that met AccessDenied, with Placement.LaunchFailed and EMR’s message, leaving nothing queued or leased', async () => {
    // Prepare: three parked jobs behind a first launch that is refused.
    const denied = emrError(
      'AccessDeniedException',
      'User: arn:aws:sts::123456789012:assumed-role/x is not authorized to perform: elasticmapreduce:RunJobFlow',
    );
    const h = harness([denied]);
    await h.store.park({ pool: POOL.name, entryId: 'exec-1#1', execution: 'exec-1', priority: 'high', units: 4, enqueuedAt: h.now.ms, taskToken: 'token-1' });
    await h.store.park({ pool: POOL.name, entryId: 'exec-2#1', execution: 'exec-2', priority: 'low', units: 8, enqueuedAt: h.now.ms, taskToken: 'token-2' });
    await h.store.park({ pool: POOL.name, entryId: 'exec-3#1', execution: 'exec-3', priority: 'normal', units: 2, enqueuedAt: h.now.ms, taskToken: 'token-3' });

    // Act: one dispatch.
    const report = await h.manager.dispatch(CONTEXT);

    // Assess
    expect(h.launches).toEqual(['AccessDeniedException']);
    expect(report.launchFailures).toEqual([{ error: 'AccessDeniedException', message: denied.message }]);
    expect(report.launchFailed.sort()).toEqual(['exec-1#1', 'exec-2#1', 'exec-3#1']);
    expect([...h.failures.keys()].sort()).toEqual(['token-1', 'token-2', 'token-3']);
    for (const failure of h.failures.values()) {
      expect(failure.error).toBe(LaunchFailedError.errorName);
      expect(failure.cause).toContain(denied.message);
      expect(failure.cause).toContain('AccessDeniedException');
    }
    expect(h.slots.size).toBe(0);
    expect(await h.store.listQueue(POOL.name)).toEqual([]);
    expect(await h.store.listClusters(POOL.name)).toEqual([]);
  });

  it('fails a ValidationException (a bad fleet) alike, on the park that triggered the launch', async () => {
    const h = harness([emrError('ValidationException', 'Instance fleet primary: at most 5 instance types without an allocation strategy')]);

    const [{ dispatch }] = await parkJobs(h, 1);

    expect(dispatch.launchFailed).toEqual(['exec-1#1']);
    expect(h.failures.get('token-1')?.cause).toMatch(/ValidationException: Instance fleet primary/);
  });

  it('keeps the jobs a live cluster of the pool can hold: they wait on its leases, not on the launch', async () => {
    // Prepare: one running cluster, all 8 units leased, and a refused second launch.
    const h = harness(['launch', emrError('AccessDeniedException', 'denied')]);
    await parkJobs(h, 1, 8);
    await h.store.setClusterState(POOL.name, 'j-1', 'RUNNING');
    await h.manager.dispatch(CONTEXT);
    expect([...h.slots.keys()]).toEqual(['token-1']);

    // Act: a second job does not fit beside the first: the pool launches, and is refused.
    const { dispatch } = await h.manager.acquireCapacity(CONTEXT, { units: 4, priority: 'normal', execution: 'exec-2', attempt: 1, taskToken: 'token-2' });

    // Assess: the refusal is reported, but the job waits for j-1's units.
    expect(h.launches).toEqual(['launch', 'AccessDeniedException']);
    expect(dispatch.launchFailures).toHaveLength(1);
    expect(dispatch.launchFailed).toEqual([]);
    expect(h.failures.size).toBe(0);
    expect((await h.store.listQueue(POOL.name)).map((entry) => entry.entryId)).toEqual(['exec-2#1']);
  });
});

describe('a pool launch EMR throttles', () => {
  it('is tried again within the dispatch, within the RunJobFlow budget, and the parked jobs are granted once the cluster runs', async () => {
    // Prepare: the first two RunJobFlow calls are throttled.
    const throttled = () => emrError('ThrottlingException', 'Rate exceeded');
    const h = harness([throttled(), throttled()]);

    // Act
    const reports = await parkJobs(h, 2);
    await h.store.setClusterState(POOL.name, 'j-1', 'RUNNING');
    const granted = await h.manager.dispatch(CONTEXT);

    // Assess
    expect(h.launches).toEqual(['ThrottlingException', 'ThrottlingException', 'launch']);
    expect(reports[0].dispatch.launched).toEqual(['j-1']);
    expect(reports[0].dispatch.launchFailures).toEqual([]);
    expect(h.failures.size).toBe(0);
    expect(granted.granted.map((grant) => grant.entryId).sort()).toEqual(['exec-1#1', 'exec-2#1']);
    expect([...h.slots.values()].every((slot) => slot.clusterId === 'j-1')).toBe(true);
  });

  it('leaves the jobs parked, not failed, when every try of the dispatch is throttled', async () => {
    const h = harness(Array.from({ length: 20 }, () => emrError('ThrottlingException', 'Rate exceeded')));

    const [{ dispatch }] = await parkJobs(h, 1);

    // Three tries per dispatch (two retries), each a token: the burst of 10 is not overspent.
    expect(h.launches.length).toBeLessThanOrEqual(3);
    expect(dispatch.launchFailed).toEqual([]);
    expect(h.failures.size).toBe(0);
    expect(await h.store.listQueue(POOL.name)).toHaveLength(1);
  });
});

describe('isTransientLaunchError', () => {
  it('tells the refusals that recur from those worth trying again', () => {
    expect(isTransientLaunchError(emrError('ThrottlingException', 'Rate exceeded'))).toBe(true);
    expect(isTransientLaunchError(emrError('InternalServerError', 'oops', 500))).toBe(true);
    expect(isTransientLaunchError(emrError('ValidationException', 'Insufficient capacity for instance type r5.4xlarge'))).toBe(true);
    expect(isTransientLaunchError(emrError('AccessDeniedException', 'not authorized'))).toBe(false);
    expect(isTransientLaunchError(emrError('ValidationException', 'The requested instance type is not supported'))).toBe(false);
    expect(isTransientLaunchError(emrError('InvalidRequestException', 'bad'))).toBe(false);
  });
});
