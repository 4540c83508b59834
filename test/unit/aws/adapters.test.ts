import { EMRClient, ListStepsCommand } from '@aws-sdk/client-emr';
import { CancelJobRunCommand, EMRServerlessClient } from '@aws-sdk/client-emr-serverless';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetPartitionCommand, GlueClient } from '@aws-sdk/client-glue';
import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { partitionBytes } from '../../../lib/aws/catalog';
import { emrClient, env, resetClients, useClients } from '../../../lib/aws/clients';
import { findStep, listStepsPage } from '../../../lib/aws/emr';
import { recentSuccessfulRuns } from '../../../lib/aws/runs';
import { cancelJobRuns } from '../../../lib/aws/serverlessJobRuns';
import { bytesUnder } from '../../../lib/aws/storage';

const ref = { database: 'emrflow_raw', table: 'events', values: ['2026-11-26'] };

describe('clients', () => {
  afterEach(() => resetClients());

  it('makes each client once and lets tests inject their own', () => {
    const first = emrClient();
    expect(emrClient()).toBe(first);

    const injected = new EMRClient({ region: 'eu-west-1' });
    useClients({ emr: injected });
    expect(emrClient()).toBe(injected);
  });

  it('names a missing environment variable', () => {
    const saved = process.env.RUNS_TABLE;
    delete process.env.RUNS_TABLE;
    expect(() => env('RUNS_TABLE')).toThrow(/RUNS_TABLE is not set/);
    process.env.RUNS_TABLE = saved;
  });
});

describe('Glue partition size', () => {
  const glue = mockClient(GlueClient);
  beforeEach(() => glue.reset());

  it.each([[{ sizeKey: 'n/a' }], [{}], [{ sizeKey: '0' }]])('is unknown when the crawler left no usable sizeKey (%j)', async (Parameters) => {
    glue.on(GetPartitionCommand).resolves({ Partition: { Values: ['2026-11-26'], Parameters } });
    expect(await partitionBytes(new GlueClient({}), ref)).toBeNull();
  });
});

describe('run history', () => {
  const dynamo = mockClient(DynamoDBDocumentClient);
  const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}));
  const run = (stepSeconds: number) => ({ job: 'j', status: 'SUCCEEDED', inputBytes: 1e9, stepSeconds, capacityUnits: 8 });
  beforeEach(() => dynamo.reset());

  it('follows pages until it has enough runs, newest first', async () => {
    dynamo
      .on(QueryCommand)
      .resolvesOnce({ Items: [run(100), run(200)], LastEvaluatedKey: { job: 'j', finishedAt: 'b' } })
      .resolvesOnce({ Items: [run(300), run(400)], LastEvaluatedKey: { job: 'j', finishedAt: 'd' } });

    const samples = await recentSuccessfulRuns(doc, 'runs', 'j', 3);

    expect(samples.map((s) => s.stepSeconds)).toEqual([100, 200, 300]);
    expect(dynamo).toHaveReceivedCommandTimes(QueryCommand, 2);
    expect(dynamo).toHaveReceivedNthCommandWith(2, QueryCommand, { ExclusiveStartKey: { job: 'j', finishedAt: 'b' } });
  });

  it('stops after a bounded number of pages of failed runs', async () => {
    dynamo.on(QueryCommand).resolves({ Items: [], LastEvaluatedKey: { job: 'j', finishedAt: 'x' } });

    expect(await recentSuccessfulRuns(doc, 'runs', 'j', 20)).toEqual([]);
    expect(dynamo).toHaveReceivedCommandTimes(QueryCommand, 5);
  });
});

describe('EMR and S3 listings (SDK paginators)', () => {
  const emr = mockClient(EMRClient);
  const s3 = mockClient(S3Client);
  beforeEach(() => {
    emr.reset();
    s3.reset();
  });

  it('finds a step on a later ListSteps page, passing the Marker on', async () => {
    emr
      .on(ListStepsCommand)
      .resolvesOnce({ Steps: [{ Id: 's-1', Name: 'other' }], Marker: 'm1' })
      .resolvesOnce({ Steps: [{ Id: 's-2', Name: 'wanted' }] });

    expect(await findStep(new EMRClient({}), 'j-1', 'wanted')).toEqual({ Id: 's-2', Name: 'wanted' });
    expect(emr).toHaveReceivedNthCommandWith(2, ListStepsCommand, { ClusterId: 'j-1', Marker: 'm1' });
  });

  it('reads at most 5 pages of a list that never ends', async () => {
    emr.on(ListStepsCommand).callsFake(({ Marker }) => ({ Steps: [], Marker: `${Marker ?? ''}x` }));

    expect(await findStep(new EMRClient({}), 'j-1', 'wanted')).toBeNull();
    expect(emr).toHaveReceivedCommandTimes(ListStepsCommand, 5);
  });

  it("passes the job manager's ListSteps filters and marker on as EMR's StepStates, StepIds and Marker", async () => {
    emr.on(ListStepsCommand).resolves({ Steps: [{ Id: 's-1', Status: { State: 'RUNNING' } }], Marker: 'm2' });

    const page = await listStepsPage(new EMRClient({}), 'j-1', { marker: 'm1', stepStates: ['PENDING', 'RUNNING'], stepIds: ['s-1', 's-2'] });
    await listStepsPage(new EMRClient({}), 'j-1');

    expect(page).toEqual({ steps: [{ Id: 's-1', Status: { State: 'RUNNING' } }], marker: 'm2' });
    expect(emr.commandCalls(ListStepsCommand).map((call) => call.args[0].input)).toEqual([
      { ClusterId: 'j-1', Marker: 'm1', StepStates: ['PENDING', 'RUNNING'], StepIds: ['s-1', 's-2'] },
      { ClusterId: 'j-1', Marker: undefined },
    ]);
  });

  it('sums object sizes over every ListObjectsV2 page', async () => {
    s3.on(ListObjectsV2Command)
      .resolvesOnce({ Contents: [{ Size: 100 }, { Size: 23 }], IsTruncated: true, NextContinuationToken: 't1' })
      .resolvesOnce({ Contents: [{ Size: 877 }], IsTruncated: false });

    expect(await bytesUnder(new S3Client({}), { bucket: 'b', key: 'events/', uri: 's3://b/events/' })).toBe(1000);
    expect(s3).toHaveReceivedNthCommandWith(2, ListObjectsV2Command, { Bucket: 'b', Prefix: 'events/', ContinuationToken: 't1' });
  });
});

describe('CancelJobRun under its quota', () => {
  const serverless = mockClient(EMRServerlessClient);
  const runs = ['a', 'b', 'c', 'd'].map((jobRunId) => ({ applicationId: 'app', jobRunId }));
  const failure = (name: string) => Object.assign(new Error(name), { name });
  beforeEach(() => serverless.reset());

  it('cancels in order, skips an ended run, and leaves the rest for the next pass once throttled', async () => {
    serverless.on(CancelJobRunCommand).resolvesOnce({}).rejectsOnce(failure('ValidationException')).rejectsOnce(failure('ThrottlingException'));

    expect(await cancelJobRuns(new EMRServerlessClient({}), runs)).toEqual({ cancelled: ['a'], deferred: ['c', 'd'] });
    expect(serverless).toHaveReceivedCommandTimes(CancelJobRunCommand, 3);
  });

  it('throws any other refusal (AccessDenied is not a backlog)', async () => {
    serverless.on(CancelJobRunCommand).rejects(failure('AccessDeniedException'));
    await expect(cancelJobRuns(new EMRServerlessClient({}), runs)).rejects.toThrow('AccessDeniedException');
  });
});
