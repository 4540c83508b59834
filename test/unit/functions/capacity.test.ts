/**
 * The four job-manager handlers end to end over dynalite, with EMR and Step Functions mocked at the SDK:
 * park a job, launch a cluster, grant the slot when EMR says the cluster is ready, release it.
 */
import { lambdaContext } from './env';
import { EMRClient, RunJobFlowCommand, DescribeClusterCommand, ListClustersCommand, CancelStepsCommand, ListStepsCommand } from '@aws-sdk/client-emr';
import { SFNClient, SendTaskSuccessCommand, SendTaskHeartbeatCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { resetClients, useClients } from '../../../lib/aws/clients';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { listClusters, listQueue, queueLevel, type RegistryTables } from '../../../lib/aws/registry';
import { putStepToken } from '../../../lib/aws/stepTokenTable';
import { HEARTBEAT_INTERVAL_MS } from '../../../lib/jobManager/jobManager';
import { poolClusterName, TAG } from '../../../lib/contract';
import { startDynalite, type LocalDynamo } from '../../support/dynalite';
import { handler as acquire } from '../../../functions/acquire-capacity/handler';
import { handler as release } from '../../../functions/release-capacity/handler';
import { handler as dispatch } from '../../../functions/dispatch-queue/handler';

// A pool launch tags the cluster with the deployment's stage (serverless.yml sets STAGE for every function).
process.env.STAGE = 'test';

const emr = mockClient(EMRClient);
const sfn = mockClient(SFNClient);
let local: LocalDynamo;
let tables: RegistryTables;

beforeAll(async () => {
  local = await startDynalite();
});
afterAll(async () => {
  resetClients();
  await local.close();
});
beforeEach(async () => {
  emr.reset();
  sfn.reset();
  const created = await local.registryTables();
  tables = created;
  process.env.CLUSTER_REGISTRY_TABLE = tables.clusters;
  process.env.STEP_TOKENS_TABLE = created.stepTokens;
  process.env.ADMISSION_QUEUE_TABLE = tables.queue;
  process.env.EMR_SERVICE_ROLE = 'emr-service-role';
  process.env.EMR_INSTANCE_PROFILE = 'emr-instance-profile';
  process.env.EMR_SUBNET_IDS = 'subnet-a,subnet-b';
  resetClients();
  useClients({ dynamo: local.dynamo, emr: new EMRClient({ region: 'us-east-1' }), sfn: new SFNClient({ region: 'us-east-1' }) });
});

const park = (overrides: Record<string, unknown> = {}) =>
  acquire(
    { pool: 'shared', units: 8, priority: 'normal', execution: 'exec-1', attempt: 1, taskToken: 'token-1', holdSeconds: 3600, ...overrides },
    lambdaContext,
  );

describe('capacity handlers', () => {
  it('parks a job, launches a pool cluster, grants the slot when the cluster is ready, and takes it back', async () => {
    emr.on(RunJobFlowCommand).resolves({ JobFlowId: 'j-POOL00001' });

    // Act: park with an empty pool.
    const parked = await park();

    // Assess: queued, one cluster launched with the pool's tags and managed scaling, nothing granted yet.
    expect(parked).toEqual({ entryId: 'exec-1#1', granted: 0, launched: 1, queued: 1 });
    const run = emr.commandCalls(RunJobFlowCommand)[0].args[0].input;
    expect(run.Tags).toEqual(
      expect.arrayContaining([
        { Key: TAG.pool, Value: 'shared' },
        { Key: TAG.app, Value: 'emrflow' },
      ]),
    );
    expect(run.ManagedScalingPolicy?.ComputeLimits?.UnitType).toBe('InstanceFleetUnits');
    expect(run.Instances?.Ec2SubnetIds).toEqual(['subnet-a', 'subnet-b']);
    expect(run.ServiceRole).toBe('emr-service-role');
    expect(sfn).not.toHaveReceivedCommand(SendTaskSuccessCommand);

    // Act: EMR says the cluster is waiting.
    await dispatch(
      { source: 'aws.emr', 'detail-type': 'EMR Cluster State Change', detail: { clusterId: 'j-POOL00001', name: run.Name, state: 'WAITING' } },
      lambdaContext,
    );

    // Assess: the parked execution got its slot; the lease holds its units.
    expect(sfn).toHaveReceivedCommandTimes(SendTaskSuccessCommand, 1);
    const slot = JSON.parse(sfn.commandCalls(SendTaskSuccessCommand)[0].args[0].input.output ?? '{}');
    expect(slot).toMatchObject({ pool: 'shared', clusterId: 'j-POOL00001', lease: 'exec-1#1', units: 8 });
    // The job asked to hold its lease through its step's timeout: 900 s + 3600 s.
    expect(slot.leaseExpiresAt - Date.now()).toBeGreaterThan(4_400_000);
    expect(await listQueue(local.dynamo, tables, 'shared')).toEqual([]);
    expect((await listClusters(local.dynamo, tables, 'shared'))[0]).toMatchObject({ unitsInUse: 8, state: 'WAITING' });

    // Act: release twice (a retried release).
    const first = await release({ pool: 'shared', clusterId: slot.clusterId, lease: slot.lease }, lambdaContext);
    const second = await release({ pool: 'shared', clusterId: slot.clusterId, lease: slot.lease }, lambdaContext);

    // Assess
    expect(first).toMatchObject({ released: true, units: 8 });
    expect(second).toMatchObject({ released: false, units: 0 });
    expect((await listClusters(local.dynamo, tables, 'shared'))[0]).toMatchObject({ unitsInUse: 0, leases: {} });
  });

  it('on the schedule, asks DescribeCluster only about a registered cluster that is no longer live', async () => {
    emr.on(RunJobFlowCommand).resolves({ JobFlowId: 'j-POOL00002' });
    emr.on(ListClustersCommand).resolves({ Clusters: [] });
    emr
      .on(DescribeClusterCommand)
      .resolves({ Cluster: { Id: 'j-POOL00002', Name: poolClusterName('shared', 'x'), Status: { State: 'TERMINATED_WITH_ERRORS' } } });
    await park({ units: 8, execution: 'small', taskToken: 'token-small' });

    await dispatch({ 'detail-type': 'Scheduled Event', source: 'aws.events', time: '2026-12-01T00:00:00Z' }, lambdaContext);

    expect(emr).toHaveReceivedCommandTimes(ListClustersCommand, 1);
    expect(emr).toHaveReceivedCommandTimes(DescribeClusterCommand, 1);
    expect(emr).toHaveReceivedCommandWith(DescribeClusterCommand, { ClusterId: 'j-POOL00002' });
  });

  it('on the schedule, reads pool cluster states from EMR with one ListClusters and heartbeats the parked executions whose heartbeat is due', async () => {
    emr.on(RunJobFlowCommand).resolves({ JobFlowId: 'j-POOL00002' });
    emr.on(ListClustersCommand).resolves({ Clusters: [{ Id: 'j-POOL00002', Name: poolClusterName('shared', 'x'), Status: { State: 'RUNNING' } }] });
    // The shared pool's clusters are 128 units: the big job takes all of them.
    await park({ units: 128, execution: 'big', taskToken: 'token-big' });
    await park({ units: 8, execution: 'small', taskToken: 'token-small' });
    await park({ units: 8, execution: 'fresh', taskToken: 'token-fresh' });
    // The small job has waited a heartbeat interval; the fresh one was parked just now.
    await local.dynamo.send(
      new UpdateCommand({
        TableName: tables.queue,
        Key: { level: queueLevel('shared', 'normal'), entryId: 'small#1' },
        UpdateExpression: 'SET heartbeatDue = :past',
        ExpressionAttributeValues: { ':past': Date.now() - 1_000 },
      }),
    );

    const { reports } = await dispatch({ 'detail-type': 'Scheduled Event', source: 'aws.events', time: '2026-12-01T00:00:00Z' }, lambdaContext);

    expect(emr).toHaveReceivedCommandTimes(ListClustersCommand, 1);
    expect(emr).not.toHaveReceivedCommand(DescribeClusterCommand);
    expect(sfn).toHaveReceivedCommandTimes(SendTaskHeartbeatCommand, 1);
    expect(sfn).toHaveReceivedCommandWith(SendTaskHeartbeatCommand, { taskToken: 'token-small' });
    const small = (await listQueue(local.dynamo, tables, 'shared')).find((entry) => entry.entryId === 'small#1');
    expect(small!.heartbeatDue! - Date.now()).toBeGreaterThan(HEARTBEAT_INTERVAL_MS - 60_000);
    // The cluster is ready: the 128-unit job fills it; the small one waits behind it.
    expect(reports[0].granted).toEqual([{ entryId: 'big#1', clusterId: 'j-POOL00002' }]);
    expect(sfn).toHaveReceivedCommandWith(SendTaskSuccessCommand, { taskToken: 'token-big' });
  });

  it("takes the whole slot: a batched grant's step id has that step's mapping read, a live step cancelled and the lease kept", async () => {
    emr.on(RunJobFlowCommand).resolves({ JobFlowId: 'j-POOL00001' });
    emr.on(ListStepsCommand).resolves({ Steps: [{ Id: 's-1', Status: { State: 'CANCEL_PENDING' } }] });
    await park();
    const run = emr.commandCalls(RunJobFlowCommand)[0].args[0].input;
    await dispatch(
      { source: 'aws.emr', 'detail-type': 'EMR Cluster State Change', detail: { clusterId: 'j-POOL00001', name: run.Name, state: 'WAITING' } },
      lambdaContext,
    );
    const slot = JSON.parse(sfn.commandCalls(SendTaskSuccessCommand)[0].args[0].input.output ?? '{}');
    const mapping = { clusterId: slot.clusterId, stepId: 's-1', stepName: 'job', execution: 'exec-1', submittedAt: Date.now() };
    await putStepToken(local.dynamo, String(process.env.STEP_TOKENS_TABLE), mapping);

    // The slot as ReleaseCapacity's InputPath passes it (units, leaseExpiresAt... are ignored), with the step id:
    // one GetItem of its mapping, not a Query of the cluster's step tokens (the Query after it is the dispatch's
    // sweep, reading the steps of the lease just lapsed; a slot without the step id reads Query, Query).
    const sent = jest.spyOn(local.dynamo, 'send');
    expect(await release({ ...slot, stepId: 's-1' }, lambdaContext)).toMatchObject({ released: false, units: 0 });
    const stepTokenReads = sent.mock.calls
      .map(([command]) => command as { constructor: { name: string }; input: { TableName?: string } })
      .filter((command) => command.input.TableName === process.env.STEP_TOKENS_TABLE && command.constructor.name !== 'PutCommand')
      .map((command) => command.constructor.name);
    sent.mockRestore();
    expect(stepTokenReads).toEqual(['GetCommand', 'QueryCommand']);
    expect(emr).toHaveReceivedCommandWith(CancelStepsCommand, { ClusterId: 'j-POOL00001', StepIds: ['s-1'] });
    expect((await listClusters(local.dynamo, tables, 'shared'))[0]).toMatchObject({ unitsInUse: 8 });

    // Seen ended (a settle took the mapping): the lease goes at once.
    await putStepToken(local.dynamo, String(process.env.STEP_TOKENS_TABLE), { ...mapping, takenAt: Date.now() });
    expect(await release({ ...slot, stepId: 's-1' }, lambdaContext)).toMatchObject({ released: true, units: 8 });
    expect((await listClusters(local.dynamo, tables, 'shared'))[0]).toMatchObject({ unitsInUse: 0, leases: {} });
  });

  it('rejects bad input naming the field, before writing anything', async () => {
    await expect(park({ units: 0 })).rejects.toThrow('units: must be 1 or more, got number 0');
    await expect(park({ pool: 'nope' })).rejects.toThrow('pool: no pool "nope" in config/pools.json (pools: shared)');
    await expect(park({ units: 129 })).rejects.toThrow("units: 129 exceeds pool shared's capacityUnits (128); such a job needs a dedicated cluster");
    await expect(park({ taskToken: undefined })).rejects.toMatchObject({ name: 'Request.Invalid', message: expect.stringMatching(/^taskToken: is required/) });
    await expect(release({ pool: 'shared', clusterId: 'j-1' }, lambdaContext)).rejects.toThrow(/^lease: is required/);
    await expect(release({ pool: 'shared', clusterId: 'j-1', lease: 'e#1', stepId: '' }, lambdaContext)).rejects.toThrow(/^stepId: /);

    expect(await listQueue(local.dynamo, tables, 'shared')).toEqual([]);
    expect(emr).not.toHaveReceivedCommand(RunJobFlowCommand);
  });
});
