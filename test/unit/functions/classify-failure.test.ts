import { lambdaContext } from './env';
import {
  DescribeClusterCommand,
  DescribeStepCommand,
  EMRClient,
  InvalidRequestException,
  ListInstanceFleetsCommand,
  ListInstancesCommand,
  ListStepsCommand,
} from '@aws-sdk/client-emr';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { handler, type ClassifyFailureEvent } from '../../../functions/classify-failure/handler';
import { resetClients } from '../../../lib/aws/clients';
import type { Placement } from '../../../lib/domain/types';
import { CLUSTER_ID, cluster, fleet, HEALTHY_FLEETS, instance, SPARK_FAILURE, step } from '../emrResponses';
import { request } from '../fixtures';

const emr = mockClient(EMRClient);
const placement = (clusterId?: string) =>
  ({
    mode: 'dedicated',
    cluster: clusterId ? { ClusterId: clusterId } : {},
    slot: null,
    pool: null,
    onDemandShare: 0.125,
    reasons: [],
    spec: null,
    hourlyCostUsd: 10,
    onDemandHourlyCostUsd: 20,
  }) as Placement;
const event = (overrides: Partial<ClassifyFailureEvent> = {}): ClassifyFailureEvent => ({
  request: request(),
  attempt: 1,
  placement: placement(CLUSTER_ID),
  error: { Error: 'States.TaskFailed', Cause: '{"Step":{"Status":{"State":"FAILED"}}}' },
  ...overrides,
});

beforeEach(() => {
  emr.reset();
  resetClients();
});

function emrSays(parts: {
  state: Parameters<typeof cluster>[0];
  reason?: Parameters<typeof cluster>[1];
  fleets?: typeof HEALTHY_FLEETS;
  instances?: ReturnType<typeof instance>[];
  failedStep?: ReturnType<typeof step>;
}) {
  emr.on(DescribeClusterCommand).resolves({ Cluster: cluster(parts.state, parts.reason) });
  emr.on(ListInstanceFleetsCommand).resolves({ InstanceFleets: parts.fleets ?? HEALTHY_FLEETS });
  emr.on(ListInstancesCommand).resolves({ Instances: parts.instances ?? [] });
  const s = parts.failedStep;
  emr.on(ListStepsCommand).resolves({ Steps: s ? [{ Id: s.Id, Name: s.Name, Status: s.Status }] : [] });
  if (s) emr.on(DescribeStepCommand).resolves({ Step: s });
}

describe('classify-failure handler', () => {
  it('classifies a Spot loss during the step and asks for a retry on a terminated cluster', async () => {
    emrSays({
      state: 'RUNNING',
      fleets: [HEALTHY_FLEETS[1], fleet('TASK', { targetOd: 0, targetSpot: 56, provisionedOd: 0, provisionedSpot: 44 }, 'RESIZING')],
      instances: [instance('0b2', 'SPOT', 'TERMINATED', { Code: 'INSTANCE_FAILURE', Message: 'Spot instance interruption' })],
      failedStep: step('FAILED', SPARK_FAILURE),
    });

    const failure = await handler(event(), lambdaContext);

    expect(failure).toMatchObject({
      kind: 'Emr.SpotInterrupted',
      retry: true,
      nextAttempt: 2,
      backoffSeconds: 60,
      teardown: 'terminate',
      clusterId: CLUSTER_ID,
    });
    expect(emr).toHaveReceivedCommandWith(DescribeClusterCommand, { ClusterId: CLUSTER_ID });
    expect(emr).toHaveReceivedCommandWith(ListInstancesCommand, { ClusterId: CLUSTER_ID });
    expect(emr).toHaveReceivedCommandWith(DescribeStepCommand, { ClusterId: CLUSTER_ID, StepId: 's-1HT4QE4GS2M8K' });
  });

  it('classifies a Spark error on healthy capacity as a step failure', async () => {
    emrSays({ state: 'WAITING', instances: [instance('0a1', 'SPOT', 'RUNNING')], failedStep: step('FAILED', SPARK_FAILURE) });

    const failure = await handler(event(), lambdaContext);

    expect(failure).toMatchObject({ kind: 'Emr.StepFailed', retry: false, teardown: 'terminate' });
    expect(failure.message).toContain('Path does not exist');
  });

  it('reads the cluster id from a failed createCluster.sync cause and needs no teardown of a dead cluster', async () => {
    emrSays({ state: 'TERMINATED_WITH_ERRORS', reason: { Code: 'VALIDATION_ERROR', Message: 'The subnet does not exist.' }, fleets: [] });
    const cause = JSON.stringify({ Id: CLUSTER_ID, Status: { State: 'TERMINATED_WITH_ERRORS', StateChangeReason: { Code: 'VALIDATION_ERROR' } } });

    const failure = await handler(event({ placement: placement(), error: { Error: 'States.TaskFailed', Cause: cause } }), lambdaContext);

    expect(failure).toMatchObject({ kind: 'Emr.ClusterFailed', clusterId: CLUSTER_ID, teardown: 'none', retry: false });
    expect(failure.message).toContain('VALIDATION_ERROR: The subnet does not exist.');
  });

  it('never throws on EMR API trouble: classifies from the error and terminates what exists', async () => {
    emr.onAnyCommand().rejects(new InvalidRequestException({ message: 'Rate exceeded', $metadata: {} }));

    const failure = await handler(event(), lambdaContext);

    expect(failure).toMatchObject({ kind: 'Emr.ClusterFailed', teardown: 'terminate', retry: false });
    expect(failure.evidence.apiErrors).toHaveLength(4);
  });

  it('calls nothing when there is no cluster to look at', async () => {
    const failure = await handler(
      event({ placement: placement(), error: { Error: 'EMR.AmazonElasticMapReduceException', Cause: 'Rate exceeded' } }),
      lambdaContext,
    );

    expect(failure).toMatchObject({ kind: 'Emr.ClusterFailed', teardown: 'none', clusterId: null });
    expect(emr).not.toHaveReceivedAnyCommand();
  });

  it('reports a States.Timeout as a timed-out step', async () => {
    emrSays({ state: 'RUNNING', failedStep: step('RUNNING') });

    const failure = await handler(event({ error: { Error: 'States.Timeout', Cause: '' } }), lambdaContext);

    expect(failure.kind).toBe('Emr.StepTimedOut');
  });
});
