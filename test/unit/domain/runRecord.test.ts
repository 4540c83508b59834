import { buildRunRecord, runStepName, type RecordRunInput, type RunState } from '../../../lib/domain/runRecord';
import { FailureKind } from '../../../lib/errors';
import type { Failure, Placement } from '../../../lib/domain/types';
import { CLUSTER_ID } from '../emrResponses';
import { GiB, request, sizing } from '../fixtures';

const NOW = new Date('2026-11-27T06:00:00Z');
const STARTED = '2026-11-27T05:00:00.000Z';
const placement = {
  mode: 'dedicated',
  cluster: { ClusterId: CLUSTER_ID },
  slot: null,
  pool: null,
  onDemandShare: 0.5,
  reasons: [],
  spec: null,
  hourlyCostUsd: 12,
  onDemandHourlyCostUsd: 20,
} as Placement;
const spotFailure = {
  kind: FailureKind.SpotInterrupted,
  message: 'spot lost',
  clusterId: 'j-FIRST00000',
  retry: true,
  nextAttempt: 2,
  backoffSeconds: 60,
  teardown: 'terminate',
  evidence: {},
} as Failure;
const step = { Id: 's-ABC', Status: { Timeline: { StartDateTime: new Date('2026-11-27T05:40:00Z'), EndDateTime: new Date('2026-11-27T05:52:30Z') } } };

function record(run: Partial<RunState>, outcome: RecordRunInput['outcome'], found = step) {
  return buildRunRecord(
    {
      run: { request: request(), sizing: sizing({ inputBytes: 50 * GiB }), placement, attempt: 1, ...run },
      executionName: 'exec-1',
      startedAt: STARTED,
      outcome,
    },
    found,
    NOW,
  );
}

describe('run records', () => {
  it('records a first-try success with the step duration and an estimated cost', () => {
    expect(record({}, 'succeeded')).toEqual({
      job: 'denormalize-events',
      finishedAt: '2026-11-27T06:00:00.000Z',
      runId: 'denormalize-events-2026-11-26',
      execution: 'exec-1',
      status: 'SUCCEEDED',
      trigger: 'console',
      runDate: '2026-11-26',
      attempts: 1,
      interruptions: 0,
      inputBytes: 50 * GiB,
      capacityUnits: 16,
      onDemandShare: 0.5,
      predictedMinutes: 12,
      clusterId: CLUSTER_ID,
      stepId: 's-ABC',
      stepSeconds: 750,
      durationSeconds: 3600,
      estimatedCostUsd: 12,
      placementMode: 'dedicated',
      pool: null,
      queueWaitSeconds: null,
      costUsd: null,
      cost: null,
      failureKind: null,
      failureMessage: null,
    });
  });

  it("takes a pooled run's queue wait from the slot's park and grant times, and none from a slot without them", () => {
    const slot = { pool: 'shared', clusterId: 'j-POOL', lease: 'exec-1#1', units: 8 };
    const pooled = (extra: object) => ({
      ...placement,
      mode: 'pool' as const,
      pool: { name: 'shared', units: 8, priority: 'normal' as const },
      slot: { ...slot, ...extra },
    });
    expect(record({ placement: pooled({ enqueuedAt: 1_000, grantedAt: 126_400 }) }, 'succeeded')).toMatchObject({
      placementMode: 'pool',
      pool: 'shared',
      queueWaitSeconds: 125,
    });
    expect(record({ placement: pooled({}) }, 'succeeded')).toMatchObject({ pool: 'shared', queueWaitSeconds: null });
  });

  it('counts a success on attempt 2 as succeeded with one interruption, despite the earlier $.failure', () => {
    expect(record({ attempt: 2, failure: spotFailure }, 'succeeded')).toMatchObject({ status: 'SUCCEEDED', attempts: 2, interruptions: 1, failureKind: null });
  });

  it('counts the final interruption of a run that failed of Spot', () => {
    const failure = { ...spotFailure, retry: false, message: 'spot lost again' };
    expect(record({ attempt: 3, failure }, 'failed')).toMatchObject({
      status: 'FAILED',
      attempts: 3,
      interruptions: 3,
      failureKind: 'Emr.SpotInterrupted',
      failureMessage: 'spot lost again',
    });
  });

  it('records what is known when the cluster was never created', () => {
    const failure = { ...spotFailure, kind: FailureKind.ClusterFailed, clusterId: null, retry: false, teardown: 'none' } as Failure;
    const result = record({ placement: { ...placement, cluster: {} }, failure }, 'failed', null as never);

    expect(result).toMatchObject({ status: 'FAILED', clusterId: null, stepId: null, stepSeconds: null, failureKind: 'Emr.ClusterFailed' });
  });

  it('has no cost without a placement', () => {
    expect(record({ placement: undefined }, 'failed', null as never).estimatedCostUsd).toBeNull();
  });

  it('names the step the way RunSparkStep does', () => {
    expect(runStepName(request(), 2)).toBe('denormalize-events denormalize-events-2026-11-26 attempt 2');
  });
});
