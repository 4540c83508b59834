import { lambdaContext } from './env';
import { CancelStepsCommand, DescribeClusterCommand, EMRClient, ListClustersCommand, ListStepsCommand, TerminateJobFlowsCommand } from '@aws-sdk/client-emr';
import { DeleteCommand, DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { handler } from '../../../functions/cleanup-execution/handler';
import { resetClients } from '../../../lib/aws/clients';

process.env.CLAIMS_TABLE = 'emrflow-claims';
process.env.ADMISSION_QUEUE_TABLE = 'emrflow-admission-queue';
process.env.STEP_TOKENS_TABLE = 'emrflow-step-tokens';
// The stage whose clusters the cleanup may touch (the handler reads it when it runs).
process.env.STAGE = 'test';
const emr = mockClient(EMRClient);
const dynamo = mockClient(DynamoDBDocumentClient);
const ended = (status: string) => ({
  source: 'aws.states',
  'detail-type': 'Step Functions Execution Status Change',
  detail: { executionArn: 'arn:x:exec-1', stateMachineArn: 'arn:x:run-job', name: 'exec-1', status, startDate: 1_796_000_000_000, stopDate: 1_796_000_060_000 },
});
const tags = (execution: string, stage = 'test') => [
  { Key: 'emrflow:app', Value: 'emrflow' },
  { Key: 'emrflow:stage', Value: stage },
  { Key: 'emrflow:pool', Value: 'dedicated' },
  { Key: 'emrflow:execution', Value: execution },
  { Key: 'emrflow:run', Value: 'r-1' },
  { Key: 'emrflow:job', Value: 'denormalize-events' },
  { Key: 'emrflow:attempt', Value: '1' },
];

beforeEach(() => {
  emr.reset();
  dynamo.reset();
  resetClients();
  emr.on(ListClustersCommand).resolves({
    Clusters: [
      { Id: 'j-OWN', Name: 'emrflow r-1 attempt 1' },
      { Id: 'j-OTHER', Name: 'emrflow r-2 attempt 1' },
      { Id: 'j-NOT-OURS', Name: 'nightly etl' },
    ],
  });
  emr.on(DescribeClusterCommand, { ClusterId: 'j-OWN' }).resolves({ Cluster: { Id: 'j-OWN', Status: { State: 'RUNNING' }, Tags: tags('exec-1') } as never });
  emr
    .on(DescribeClusterCommand, { ClusterId: 'j-OTHER' })
    .resolves({ Cluster: { Id: 'j-OTHER', Status: { State: 'RUNNING' }, Tags: tags('exec-2') } as never });
  dynamo.on(QueryCommand).resolves({ Items: [] });
});

/** A shared-pool cluster whose two leases belong to exec-1 (attempt 2) and exec-2. */
const poolCluster = {
  kind: 'cluster',
  pool: 'shared',
  clusterId: 'j-POOL',
  state: 'RUNNING',
  configHash: 'h',
  capacityUnits: 64,
  maxJobs: 8,
  unitsInUse: 12,
  leaseCount: 2,
  leases: {
    'exec-1#2': { execution: 'exec-1', units: 8, grantedAt: 1_796_000_010_000, expiresAt: 1_796_003_600_000 },
    'exec-2#1': { execution: 'exec-2', units: 4, grantedAt: 1_796_000_010_000, expiresAt: 1_796_003_600_000 },
  },
  launchedAt: 1_795_999_000_000,
  version: 3,
};
const pooledEnd = (status: string) => ({
  ...ended(status),
  detail: { ...ended(status).detail, input: JSON.stringify({ job: 'denormalize-events', date: '2026-11-26' }) },
});

describe('cleanup-execution handler', () => {
  it("terminates an aborted execution's cluster, lists only clusters created since it started, and records the run", async () => {
    const result = await handler(ended('ABORTED'), lambdaContext);

    expect(result.terminated.map((action) => action.clusterId)).toEqual(['j-OWN']);
    expect(emr).toHaveReceivedCommandWith(TerminateJobFlowsCommand, { JobFlowIds: ['j-OWN'] });
    expect(emr).toHaveReceivedCommandWith(ListClustersCommand, { CreatedAfter: new Date(1_796_000_000_000 - 60_000), ClusterStates: undefined });
    expect(emr).not.toHaveReceivedCommandWith(DescribeClusterCommand, { ClusterId: 'j-NOT-OURS' });
    expect(dynamo).toHaveReceivedCommandWith(PutCommand, {
      TableName: 'emrflow-runs',
      Item: expect.objectContaining({ runId: 'r-1', failureKind: 'Execution.ABORTED' }),
    });
    expect(dynamo).toHaveReceivedCommandWith(DeleteCommand, {
      TableName: 'emrflow-claims',
      Key: { runId: 'r-1' },
      ConditionExpression: '#execution = :execution',
      ExpressionAttributeValues: { ':execution': 'exec-1' },
    });
    expect(result.releasedClaim).toBe('r-1');
  });

  it('leaves a claim another execution holds (the condition fails), and keeps going', async () => {
    dynamo.on(DeleteCommand).rejects(Object.assign(new Error('The conditional request failed'), { name: 'ConditionalCheckFailedException' }));

    const result = await handler(ended('TIMED_OUT'), lambdaContext);

    expect(result.terminated.map((action) => action.clusterId)).toEqual(['j-OWN']);
    expect(result.releasedClaim).toBeNull();
  });

  it("leaves another stage's cluster of an execution with the same (deterministic) name, and one its role may not describe", async () => {
    // Prepare: prod ran the same job on the same day, so its execution has this one's name.
    emr
      .on(DescribeClusterCommand, { ClusterId: 'j-OWN' })
      .resolves({ Cluster: { Id: 'j-OWN', Status: { State: 'RUNNING' }, Tags: tags('exec-1', 'prod') } as never });
    emr
      .on(DescribeClusterCommand, { ClusterId: 'j-OTHER' })
      .rejects(Object.assign(new Error('not authorized to perform: elasticmapreduce:DescribeCluster'), { name: 'AccessDeniedException' }));

    // Act
    const result = await handler(ended('ABORTED'), lambdaContext);

    // Assess
    expect(result.terminated).toEqual([]);
    expect(emr).not.toHaveReceivedCommand(TerminateJobFlowsCommand);
  });

  it('terminates nothing when the execution left nothing running', async () => {
    emr.on(DescribeClusterCommand, { ClusterId: 'j-OWN' }).resolves({ Cluster: { Id: 'j-OWN', Status: { State: 'RUNNING' }, Tags: tags('exec-9') } as never });

    const result = await handler(ended('FAILED'), lambdaContext);

    expect(result.terminated).toEqual([]);
    expect(emr).not.toHaveReceivedCommand(TerminateJobFlowsCommand);
    expect(dynamo).not.toHaveReceivedCommand(PutCommand);
    expect(dynamo).not.toHaveReceivedCommand(DeleteCommand);
  });

  it('refuses an event that is not an ended execution, touching nothing', async () => {
    await expect(handler(ended('RUNNING'), lambdaContext)).rejects.toMatchObject({ name: 'Request.Invalid' });
    expect(emr).not.toHaveReceivedAnyCommand();
  });

  it('records the run and releases its claim even when the cluster already ended (its idle policy), terminating nothing', async () => {
    emr
      .on(DescribeClusterCommand, { ClusterId: 'j-OWN' })
      .resolves({ Cluster: { Id: 'j-OWN', Status: { State: 'TERMINATED' }, Tags: tags('exec-1') } as never });

    const result = await handler(ended('TIMED_OUT'), lambdaContext);

    expect(result.terminated).toEqual([]);
    expect(result.recorded).toBe(true);
    expect(result.releasedClaim).toBe('r-1');
  });

  it("gives back an aborted pooled run's lease and queue entry, releases its claim from its trigger, and records it", async () => {
    emr.on(DescribeClusterCommand, { ClusterId: 'j-OWN' }).resolves({ Cluster: { Id: 'j-OWN', Status: { State: 'RUNNING' }, Tags: tags('exec-9') } as never });
    dynamo.on(QueryCommand, { TableName: 'emrflow-cluster-registry' }).resolves({ Items: [poolCluster] });
    // The queue has a partition per pool and priority: the entries are in shared#normal, the other levels are empty.
    dynamo.on(QueryCommand, { TableName: 'emrflow-admission-queue' }).resolves({ Items: [] });
    // The execution's entries are found by their key prefix (entry id `execution#attempt`): DynamoDB answers exec-1's
    // only, though exec-2 waits in the same level; the DeleteCommand checks below say exec-2's is left alone.
    dynamo.on(QueryCommand, { TableName: 'emrflow-admission-queue', ExpressionAttributeValues: { ':level': 'shared#normal', ':prefix': 'exec-1#' } }).resolves({
      Items: [{ pool: 'shared', entryId: 'exec-1#3', execution: 'exec-1', priority: 'normal', units: 8, enqueuedAt: 1, taskToken: 't', state: 'waiting' }],
    });
    dynamo.on(GetCommand).resolves({ Item: poolCluster });
    emr.on(ListStepsCommand, { ClusterId: 'j-POOL' }).resolves({
      Steps: [
        { Id: 's-MINE', Name: 'denormalize-events denormalize-events-2026-11-26 attempt 2' },
        { Id: 's-OTHER', Name: 'denormalize-events other-run attempt 1' },
      ],
    });

    const result = await handler(pooledEnd('ABORTED'), lambdaContext);

    expect(result.terminated).toEqual([]);
    expect(result.pools.leases).toEqual([{ pool: 'shared', clusterId: 'j-POOL', lease: 'exec-1#2', units: 8, released: true, running: [] }]);
    expect(result.pools.entries).toEqual([{ pool: 'shared', entryId: 'exec-1#3', state: 'waiting', withdrawn: true }]);
    expect(dynamo).toHaveReceivedCommandWith(UpdateCommand, { TableName: 'emrflow-cluster-registry', Key: { pool: 'shared', clusterId: 'j-POOL' } });
    expect(dynamo).not.toHaveReceivedCommandWith(DeleteCommand, { Key: { level: 'shared#normal', entryId: 'exec-2#2' } });
    expect(dynamo).toHaveReceivedCommandWith(DeleteCommand, { TableName: 'emrflow-admission-queue', Key: { level: 'shared#normal', entryId: 'exec-1#3' } });
    expect(result.releasedClaim).toBe('denormalize-events-2026-11-26');
    expect(result.cancelledSteps).toEqual([{ clusterId: 'j-POOL', stepId: 's-MINE' }]);
    expect(emr).toHaveReceivedCommandWith(CancelStepsCommand, { ClusterId: 'j-POOL', StepIds: ['s-MINE'] });
    expect(dynamo).toHaveReceivedCommandWith(PutCommand, {
      TableName: 'emrflow-runs',
      Item: expect.objectContaining({
        runId: 'denormalize-events-2026-11-26',
        placementMode: 'pool',
        pool: 'shared',
        attempts: 3,
        failureKind: 'Execution.ABORTED',
      }),
    });
  });

  it('keeps a lease whose step EMR may still run, and cancels that step (TERMINATE_PROCESS): its units are in use until it ends', async () => {
    dynamo.on(QueryCommand, { TableName: 'emrflow-cluster-registry' }).resolves({ Items: [poolCluster] });
    dynamo.on(GetCommand).resolves({ Item: poolCluster });
    // The run's step is still mapped (not seen ended): liveSteps finds it.
    dynamo.on(QueryCommand, { TableName: 'emrflow-step-tokens' }).resolves({ Items: [{ stepId: 's-MINE' }] });
    emr.on(DescribeClusterCommand, { ClusterId: 'j-OWN' }).resolves({ Cluster: { Id: 'j-OWN', Status: { State: 'RUNNING' }, Tags: tags('exec-9') } as never });
    emr.on(ListStepsCommand).resolves({ Steps: [] });

    const result = await handler(pooledEnd('FAILED'), lambdaContext);

    expect(result.pools.leases).toEqual([{ pool: 'shared', clusterId: 'j-POOL', lease: 'exec-1#2', units: 8, released: false, running: ['s-MINE'] }]);
    expect(emr).toHaveReceivedCommandWith(CancelStepsCommand, { ClusterId: 'j-POOL', StepIds: ['s-MINE'], StepCancellationOption: 'TERMINATE_PROCESS' });
    // The lease is not removed but lapses now: the sweep takes it back once the step is seen ended.
    expect(dynamo).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: 'emrflow-cluster-registry',
      UpdateExpression: expect.stringMatching(/^SET leases\.#lease\.expiresAt/),
    });
    expect(dynamo).not.toHaveReceivedCommandWith(UpdateCommand, { UpdateExpression: expect.stringMatching(/REMOVE leases/) });
  });

  it('releases the lease at once when EMR shows the cancelled step ended', async () => {
    dynamo.on(QueryCommand, { TableName: 'emrflow-cluster-registry' }).resolves({ Items: [poolCluster] });
    dynamo.on(GetCommand).resolves({ Item: poolCluster });
    dynamo.on(QueryCommand, { TableName: 'emrflow-step-tokens' }).resolves({ Items: [{ stepId: 's-MINE' }] });
    emr.on(DescribeClusterCommand, { ClusterId: 'j-OWN' }).resolves({ Cluster: { Id: 'j-OWN', Status: { State: 'RUNNING' }, Tags: tags('exec-9') } as never });
    emr.on(ListStepsCommand).resolves({ Steps: [{ Id: 's-MINE', Name: 'mine', Status: { State: 'CANCELLED' } }] });

    const result = await handler(pooledEnd('FAILED'), lambdaContext);

    expect(emr).toHaveReceivedCommandWith(CancelStepsCommand, { ClusterId: 'j-POOL', StepIds: ['s-MINE'] });
    expect(result.pools.leases).toEqual([{ pool: 'shared', clusterId: 'j-POOL', lease: 'exec-1#2', units: 8, released: true, running: [] }]);
  });

  it('gives back pool capacity but releases no claim and writes no record for a FAILED run (it recorded itself)', async () => {
    dynamo.on(QueryCommand, { TableName: 'emrflow-cluster-registry' }).resolves({ Items: [poolCluster] });
    dynamo.on(GetCommand).resolves({ Item: poolCluster });
    emr.on(DescribeClusterCommand, { ClusterId: 'j-OWN' }).resolves({ Cluster: { Id: 'j-OWN', Status: { State: 'RUNNING' }, Tags: tags('exec-9') } as never });

    emr.on(ListStepsCommand).resolves({ Steps: [] });

    const result = await handler(pooledEnd('FAILED'), lambdaContext);

    expect(result.pools.leases.map((lease) => lease.lease)).toEqual(['exec-1#2']);
    expect(result.releasedClaim).toBeNull();
    expect(dynamo).not.toHaveReceivedCommand(PutCommand);
  });
});
