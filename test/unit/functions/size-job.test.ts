import { lambdaContext } from './env';
import { EntityNotFoundException, GetPartitionCommand, GlueClient } from '@aws-sdk/client-glue';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { handler } from '../../../functions/size-job/handler';
import { resetClients } from '../../../lib/aws/clients';
import { DEFAULT_SIZING } from '../../../lib/domain/sizing';
import { GiB, request } from '../fixtures';

const glue = mockClient(GlueClient);
const s3 = mockClient(S3Client);
const dynamo = mockClient(DynamoDBDocumentClient);
const invoke = (req = request()) => handler({ request: req }, lambdaContext);

beforeEach(() => {
  glue.reset();
  s3.reset();
  dynamo.reset();
  resetClients();
  dynamo.on(QueryCommand).resolves({ Items: [] });
});

describe('size-job handler', () => {
  it("takes the input size from the Glue partition's sizeKey", async () => {
    glue.on(GetPartitionCommand).resolves({ Partition: { Values: ['2026-11-26'], Parameters: { sizeKey: String(100 * GiB), objectCount: '800' } } });

    const sizing = await invoke();

    expect(sizing).toMatchObject({
      inputBytes: 100 * GiB,
      bytesSource: 'glue',
      historyRuns: 0,
      throughputMiBpsPerUnit: DEFAULT_SIZING.defaultThroughputMiBpsPerUnit,
    });
    expect(sizing.stepArgs).toContain('s3://emrflow-artifacts/spark/denormalize.py');
    expect(s3).not.toHaveReceivedAnyCommand();
  });

  it('lists S3, every page, when the partition is not catalogued', async () => {
    glue.on(GetPartitionCommand).rejects(new EntityNotFoundException({ message: 'Cannot find partition.', $metadata: {} }));
    s3.on(ListObjectsV2Command)
      .resolvesOnce({
        Contents: [
          { Key: 'a', Size: 3 * GiB },
          { Key: 'b', Size: 2 * GiB },
        ],
        IsTruncated: true,
        NextContinuationToken: 't1',
      })
      .resolvesOnce({ Contents: [{ Key: 'c', Size: 5 * GiB }], IsTruncated: false });

    const sizing = await invoke();

    expect(sizing).toMatchObject({ inputBytes: 10 * GiB, bytesSource: 's3' });
    expect(s3).toHaveReceivedCommandTimes(ListObjectsV2Command, 2);
    expect(s3).toHaveReceivedNthCommandWith(2, ListObjectsV2Command, { Bucket: 'emrflow-raw', Prefix: 'events/dt=2026-11-26/', ContinuationToken: 't1' });
  });

  it('lists S3 when Glue fails for another reason than a missing partition', async () => {
    glue.on(GetPartitionCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));
    s3.on(ListObjectsV2Command).resolves({ Contents: [{ Key: 'a', Size: 7 * GiB }], IsTruncated: false });

    expect(await invoke()).toMatchObject({ inputBytes: 7 * GiB, bytesSource: 's3' });
  });

  it('does not trust the catalog for an input that is not the partition', async () => {
    s3.on(ListObjectsV2Command).resolves({ Contents: [{ Key: 'replay/x.json', Size: GiB }], IsTruncated: false });

    const sizing = await invoke(request({ input: { bucket: 'other', key: 'replay/', uri: 's3://other/replay/' } }));

    expect(sizing.bytesSource).toBe('s3');
    expect(glue).not.toHaveReceivedAnyCommand();
  });

  it('learns from the newest successful runs in the runs table', async () => {
    glue.on(GetPartitionCommand).resolves({ Partition: { Values: ['2026-11-26'], Parameters: { sizeKey: String(1024 * GiB) } } });
    const fresh = await invoke();
    const slow = { job: 'denormalize-events', status: 'SUCCEEDED', inputBytes: 100 * GiB, stepSeconds: 720, capacityUnits: 16 };
    dynamo.on(QueryCommand).resolves({ Items: [slow, slow, { ...slow, stepSeconds: undefined }] });

    const learned = await invoke();

    expect(dynamo).toHaveReceivedCommandWith(QueryCommand, {
      TableName: 'emrflow-runs',
      KeyConditionExpression: '#job = :job',
      ExpressionAttributeValues: { ':job': 'denormalize-events', ':succeeded': 'SUCCEEDED' },
      ScanIndexForward: false,
    });
    expect(learned.historyRuns).toBe(2);
    expect(learned.capacityUnits).toBeGreaterThan(fresh.capacityUnits);
  });
});
