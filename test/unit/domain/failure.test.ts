import { classifyFailure, clusterIdOf, type ClassifyInput, type Observation } from '../../../lib/domain/failure';
import { FailureKind } from '../../../lib/errors';
import { CLUSTER_ID, cluster, fleet, HEALTHY_FLEETS, instance, SPARK_FAILURE, step } from '../emrResponses';

const STEP_ERROR = { Error: 'States.TaskFailed', Cause: '{"Step":{"Id":"s-1HT4QE4GS2M8K","Status":{"State":"FAILED"}}}' };
const dedicated = { mode: 'dedicated' as const, cluster: { ClusterId: CLUSTER_ID }, slot: null };

function classify(observation: Partial<Observation>, overrides: Partial<ClassifyInput> = {}) {
  return classifyFailure({
    error: STEP_ERROR,
    attempt: 1,
    maxAttempts: 3,
    placement: dedicated,
    clusterId: CLUSTER_ID,
    observation: { apiErrors: [], ...observation },
    ...overrides,
  });
}

describe('Spot interruption', () => {
  const lostSpot: Partial<Observation> = {
    cluster: cluster('RUNNING'),
    fleets: [HEALTHY_FLEETS[0], HEALTHY_FLEETS[1], fleet('TASK', { targetOd: 0, targetSpot: 56, provisionedOd: 0, provisionedSpot: 40 }, 'RESIZING')],
    instances: [
      instance('0a1', 'ON_DEMAND', 'RUNNING'),
      instance('0b2', 'SPOT', 'TERMINATED', { Code: 'INSTANCE_FAILURE', Message: 'Instance i-0b2 was terminated: Spot capacity reclaimed by EC2.' }),
      instance('0c3', 'SPOT', 'RUNNING'),
    ],
    step: step('FAILED', SPARK_FAILURE),
  };

  it('wins over the step failure it caused, and retries with backoff', () => {
    const failure = classify(lostSpot);

    expect(failure).toMatchObject({
      kind: FailureKind.SpotInterrupted,
      retry: true,
      nextAttempt: 2,
      backoffSeconds: 60,
      teardown: 'terminate',
      clusterId: CLUSTER_ID,
    });
    expect(failure.evidence.spotInstancesLost).toEqual([expect.objectContaining({ id: 'i-0b2' })]);
    expect(failure.evidence.spotCapacityShortfall).toEqual([{ fleet: 'Task', targetSpot: 56, provisionedSpot: 40, lostUnits: 16 }]);
    expect(failure.message).toMatch(/^Emr\.SpotInterrupted on cluster j-2AXXXXXXGAPLF, step s-1HT4QE4GS2M8K/);
    expect(failure.message).toMatch(/Retrying as attempt 2 of 3 in 60 s/);
  });

  it('doubles the backoff each attempt', () => {
    expect(classify(lostSpot, { attempt: 2 }).backoffSeconds).toBe(120);
  });

  it('stops retrying on the last attempt', () => {
    const failure = classify(lostSpot, { attempt: 3 });
    expect(failure).toMatchObject({ kind: FailureKind.SpotInterrupted, retry: false, backoffSeconds: 0, teardown: 'terminate' });
    expect(failure.message).toMatch(/No attempts left/);
  });

  it('is seen from a terminated Spot instance alone', () => {
    const failure = classify({
      cluster: cluster('WAITING'),
      fleets: HEALTHY_FLEETS,
      instances: [instance('0d4', 'SPOT', 'TERMINATED', { Code: 'INSTANCE_FAILURE', Message: 'Instance failed.' })],
    });
    expect(failure.kind).toBe(FailureKind.SpotInterrupted);
  });

  it('is seen from a running fleet below its Spot target alone', () => {
    const failure = classify({
      cluster: cluster('RUNNING'),
      fleets: [HEALTHY_FLEETS[1], fleet('TASK', { targetOd: 0, targetSpot: 56, provisionedOd: 0, provisionedSpot: 52 })],
    });
    expect(failure.kind).toBe(FailureKind.SpotInterrupted);
  });

  it('is seen from a cluster that ended with an instance failure while it used Spot', () => {
    const failure = classify(
      {
        cluster: cluster('TERMINATED_WITH_ERRORS', { Code: 'INSTANCE_FAILURE', Message: 'An instance in the cluster failed.' }),
        fleets: [fleet('TASK', { targetOd: 0, targetSpot: 56, provisionedOd: 0, provisionedSpot: 0 }, 'TERMINATED')],
      },
      { placement: { mode: 'dedicated', cluster: {}, slot: null }, error: { Error: 'States.TaskFailed', Cause: '{}' } },
    );
    expect(failure).toMatchObject({ kind: FailureKind.SpotInterrupted, retry: true, teardown: 'none' });
    expect(failure.evidence.clusterSpotReason).toMatch(/^INSTANCE_FAILURE/);
  });

  it('counts no Spot capacity at launch (INSTANCE_FLEET_TIMEOUT) as Spot trouble to retry with On-Demand', () => {
    const failure = classify(
      {
        cluster: cluster('TERMINATED_WITH_ERRORS', {
          Code: 'INSTANCE_FLEET_TIMEOUT',
          Message: 'The instance fleet Task timed out while provisioning Spot capacity.',
        }),
      },
      { placement: { mode: 'dedicated', cluster: {}, slot: null } },
    );
    expect(failure).toMatchObject({ kind: FailureKind.SpotInterrupted, retry: true });
  });

  it('does not mistake SWITCH_TO_ON_DEMAND at launch for an interruption', () => {
    const failure = classify({
      cluster: cluster('WAITING'),
      fleets: [fleet('TASK', { targetOd: 0, targetSpot: 56, provisionedOd: 56, provisionedSpot: 0 })],
      step: step('FAILED', SPARK_FAILURE),
    });
    expect(failure.kind).toBe(FailureKind.StepFailed);
  });

  it('does not count Spot instances ended with the cluster', () => {
    const failure = classify({
      cluster: cluster('WAITING'),
      fleets: HEALTHY_FLEETS,
      instances: [
        instance('0e5', 'SPOT', 'TERMINATED', { Code: 'CLUSTER_TERMINATED', Message: 'Instance was terminated because the cluster was terminated.' }),
      ],
      step: step('FAILED', SPARK_FAILURE),
    });
    expect(failure.kind).toBe(FailureKind.StepFailed);
  });
});

describe('step failure and timeout', () => {
  it('blames the step when capacity is healthy, naming the step, the cluster and the log', () => {
    const failure = classify({
      cluster: cluster('WAITING'),
      fleets: HEALTHY_FLEETS,
      instances: [instance('0a1', 'SPOT', 'RUNNING')],
      step: step('FAILED', SPARK_FAILURE),
    });

    expect(failure).toMatchObject({ kind: FailureKind.StepFailed, retry: false, teardown: 'terminate', backoffSeconds: 0 });
    expect(failure.message).toContain('cluster j-2AXXXXXXGAPLF, step s-1HT4QE4GS2M8K "denormalize-events denormalize-events-2026-11-26 attempt 1"');
    expect(failure.message).toContain('Path does not exist');
    expect(failure.message).toContain('stderr.gz');
    expect(failure.evidence.step).toMatchObject({ state: 'FAILED', failureDetails: SPARK_FAILURE });
  });

  it('reports a States.Timeout as a timed-out step', () => {
    const failure = classify({ cluster: cluster('RUNNING'), fleets: HEALTHY_FLEETS, step: step('RUNNING') }, { error: { Error: 'States.Timeout', Cause: '' } });
    expect(failure).toMatchObject({ kind: FailureKind.StepTimedOut, retry: false, teardown: 'terminate' });
  });
});

describe('cluster failure', () => {
  const bootstrapCause = JSON.stringify({
    Id: CLUSTER_ID,
    Name: 'emrflow x attempt 1',
    Status: {
      State: 'TERMINATED_WITH_ERRORS',
      StateChangeReason: { Code: 'BOOTSTRAP_FAILURE', Message: 'On the master instance (i-0f1), bootstrap action 1 returned a non-zero return code' },
    },
  });

  it('needs no teardown for a cluster already TERMINATED_WITH_ERRORS', () => {
    const failure = classify(
      {
        cluster: cluster('TERMINATED_WITH_ERRORS', { Code: 'BOOTSTRAP_FAILURE', Message: 'bootstrap action 1 returned a non-zero return code' }),
        fleets: HEALTHY_FLEETS.map((f) => ({ ...f, TargetSpotCapacity: 0 })),
      },
      { placement: { mode: 'dedicated', cluster: {}, slot: null }, error: { Error: 'States.TaskFailed', Cause: bootstrapCause } },
    );
    expect(failure).toMatchObject({ kind: FailureKind.ClusterFailed, retry: false, teardown: 'none' });
    expect(failure.message).toMatch(/TERMINATED_WITH_ERRORS BOOTSTRAP_FAILURE/);
  });

  it('falls back to the error and terminates by what exists when EMR could not be read', () => {
    const failure = classify({ apiErrors: ['DescribeCluster: ThrottlingException: Rate exceeded'] });
    expect(failure).toMatchObject({ kind: FailureKind.ClusterFailed, teardown: 'terminate', retry: false });
    expect(failure.message).toContain('States.TaskFailed');
    expect(failure.evidence.apiErrors).toEqual(['DescribeCluster: ThrottlingException: Rate exceeded']);
  });

  it('tears nothing down when no cluster was ever created', () => {
    const failure = classify(
      {},
      {
        clusterId: null,
        placement: { mode: 'dedicated', cluster: {}, slot: null },
        error: { Error: 'EMR.AmazonElasticMapReduceException', Cause: 'Rate exceeded' },
      },
    );
    expect(failure).toMatchObject({ kind: FailureKind.ClusterFailed, teardown: 'none', clusterId: null });
    expect(failure.message).toBe('Emr.ClusterFailed on no cluster: EMR.AmazonElasticMapReduceException: Rate exceeded.');
  });

  it('releases a pool slot instead of terminating a shared cluster', () => {
    const failure = classify(
      { cluster: cluster('WAITING'), fleets: HEALTHY_FLEETS, step: step('FAILED', SPARK_FAILURE) },
      { placement: { mode: 'pool', cluster: { ClusterId: CLUSTER_ID }, slot: { pool: 'p', clusterId: CLUSTER_ID, lease: 'l' } } },
    );
    expect(failure).toMatchObject({ kind: FailureKind.StepFailed, teardown: 'release' });
  });
});

describe('cluster id', () => {
  it('prefers the placement', () => {
    expect(clusterIdOf({ cluster: { ClusterId: 'j-FROMPLACEMENT' } }, '{"Id":"j-OTHER00000"}')).toBe('j-FROMPLACEMENT');
  });

  it('reads the cluster description a failed createCluster.sync puts in the cause', () => {
    expect(clusterIdOf({ cluster: {} }, JSON.stringify({ Id: CLUSTER_ID, Status: { State: 'TERMINATED_WITH_ERRORS' } }))).toBe(CLUSTER_ID);
    expect(clusterIdOf({ cluster: {} }, JSON.stringify({ Cluster: { Id: CLUSTER_ID } }))).toBe(CLUSTER_ID);
  });

  it('finds an id in a plain-text cause, and none where there is none', () => {
    expect(clusterIdOf(null, `Cluster ${CLUSTER_ID} terminated with errors`)).toBe(CLUSTER_ID);
    expect(clusterIdOf(null, 'Rate exceeded')).toBeNull();
    expect(clusterIdOf(undefined, undefined)).toBeNull();
  });
});

describe('Spot interruption on a shared (pool) cluster', () => {
  const pooled = { mode: 'pool' as const, cluster: { ClusterId: CLUSTER_ID }, slot: { pool: 'p', clusterId: CLUSTER_ID, lease: 'l' } };
  const SPOT_LOST = { Code: 'INSTANCE_FAILURE' as const, Message: 'Instance was terminated by Amazon EC2: Server.SpotInstanceTermination' };
  /** A Spot node that ended at `endedAt` (the step ran 05:08:00 to 05:20:00). */
  const lostAt = (id: string, endedAt: string, reason: Parameters<typeof instance>[3] = SPOT_LOST) => {
    const node = instance(id, 'SPOT', 'TERMINATED', reason);
    node.Status!.Timeline!.EndDateTime = new Date(endedAt);
    return node;
  };
  const classifyPooled = (observation: Partial<Observation>) => classify(observation, { placement: pooled });

  it('counts a Spot node lost while the job’s step ran, and retries after releasing the lease', () => {
    const failure = classifyPooled({ cluster: cluster('RUNNING'), instances: [lostAt('0d4', '2026-11-27T05:12:00Z')], step: step('FAILED', SPARK_FAILURE) });

    expect(failure).toMatchObject({ kind: FailureKind.SpotInterrupted, retry: true, teardown: 'release' });
    expect(failure.evidence.spotInstancesLost).toEqual([expect.objectContaining({ id: 'i-0d4' })]);
  });

  it('ignores Spot nodes another job lost before this step started', () => {
    const failure = classifyPooled({ cluster: cluster('RUNNING'), instances: [lostAt('0d4', '2026-11-27T05:07:59Z')], step: step('FAILED', SPARK_FAILURE) });

    expect(failure).toMatchObject({ kind: FailureKind.StepFailed, retry: false, teardown: 'release' });
  });

  it('ignores nodes managed scaling removed during the step (scale-in is not an interruption)', () => {
    const scaledIn = lostAt('0e5', '2026-11-27T05:10:00Z', { Message: 'Instance was terminated by a resize: managed scaling scaled in the TASK fleet' });

    const failure = classifyPooled({ cluster: cluster('RUNNING'), instances: [scaledIn], step: step('FAILED', SPARK_FAILURE) });

    expect(failure.kind).toBe(FailureKind.StepFailed);
  });

  it('ignores a fleet below its Spot target: managed scaling moves targets, and a shortfall has no time', () => {
    const shortfall = [HEALTHY_FLEETS[0], HEALTHY_FLEETS[1], fleet('TASK', { targetOd: 0, targetSpot: 56, provisionedOd: 0, provisionedSpot: 40 })];

    const failure = classifyPooled({ cluster: cluster('RUNNING'), fleets: shortfall, instances: [], step: step('FAILED', SPARK_FAILURE) });

    expect(failure.kind).toBe(FailureKind.StepFailed);
    expect(classify({ cluster: cluster('RUNNING'), fleets: shortfall, instances: [], step: step('FAILED', SPARK_FAILURE) }).kind).toBe(
      FailureKind.SpotInterrupted,
    );
  });

  it('classifies the jobs of a pool cluster that lost all its core nodes mid-step as Spot interruptions', () => {
    const dead = cluster('TERMINATED_WITH_ERRORS', { Code: 'INSTANCE_FAILURE', Message: 'Cluster terminated: all core instances were lost' });
    dead.Status!.Timeline!.EndDateTime = new Date('2026-11-27T05:12:05Z');

    const failure = classifyPooled({ cluster: dead, instances: [lostAt('0f6', '2026-11-27T05:12:00Z')], step: step('FAILED', SPARK_FAILURE) });

    expect(failure).toMatchObject({ kind: FailureKind.SpotInterrupted, retry: true, teardown: 'release' });
    expect(failure.evidence.clusterSpotReason).toMatch(/^INSTANCE_FAILURE/);
  });

  it('counts a step still PENDING when the cluster lost its Spot nodes (the window opens at submission)', () => {
    const pending = step('CANCELLED');
    delete pending.Status!.Timeline!.StartDateTime;

    const failure = classifyPooled({ cluster: cluster('TERMINATING'), instances: [lostAt('0a7', '2026-11-27T05:09:00Z')], step: pending });

    expect(failure.kind).toBe(FailureKind.SpotInterrupted);
  });
});

describe('a pool cluster that ended before the job’s step ran', () => {
  const pooled = { mode: 'pool' as const, cluster: {}, slot: { pool: 'p', clusterId: CLUSTER_ID, lease: 'l' } };
  const idled = cluster('TERMINATING', {
    Code: 'ALL_STEPS_COMPLETED',
    Message: 'Cluster was idle for 900 seconds and was terminated by its auto-termination policy.',
  });
  const refused = { Error: 'EMR.AmazonElasticMapReduceException', Cause: 'A job flow that is shutting down, terminated, or finished may not be modified.' };

  it('places the job again once the registry has seen the cluster end: its lease was stale, nothing of it ran', () => {
    const failure = classify({ cluster: idled, instances: [] }, { placement: pooled, error: refused });

    expect(failure).toMatchObject({ kind: FailureKind.ClusterFailed, retry: true, backoffSeconds: 120, teardown: 'release', nextAttempt: 2 });
    expect(failure.message).toMatch(
      /ended before this job's step ran .*Placing it again as attempt 2 of 3 in 120 s, once the registry has seen the cluster end\./,
    );
  });

  it('gives up after the last attempt like any retry', () => {
    expect(classify({ cluster: idled, instances: [] }, { placement: pooled, error: refused, attempt: 3 }).retry).toBe(false);
  });

  it('does not retry a job whose step ran and failed on a cluster that then ended', () => {
    const failure = classify({ cluster: idled, instances: [], step: step('FAILED', SPARK_FAILURE) }, { placement: pooled });

    expect(failure).toMatchObject({ kind: FailureKind.ClusterFailed, retry: false });
  });

  it('does not apply to a dedicated cluster that ended (that is the job’s own cluster failing)', () => {
    const failure = classify({ cluster: idled, instances: [] }, { error: refused });

    expect(failure.retry).toBe(false);
  });
});
