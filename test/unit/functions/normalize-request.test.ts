import { lambdaContext } from './env';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EntityNotFoundException, GetPartitionCommand, GlueClient } from '@aws-sdk/client-glue';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { handler } from '../../../functions/normalize-request/handler';
import { resetClients } from '../../../lib/aws/clients';

const glue = mockClient(GlueClient);
const s3 = mockClient(S3Client);
// The S3 example names the local raw bucket (so `emrflow run` accepts it); these tests use their own.
const example = (name: string) => {
  const input = JSON.parse(readFileSync(join(__dirname, '../../../examples/inputs', name), 'utf8'));
  if (input.detail?.bucket) input.detail.bucket.name = 'emrflow-raw';
  return input;
};
const invoke = (trigger: unknown) => handler({ trigger }, lambdaContext);

beforeEach(() => {
  glue.reset();
  s3.reset();
  resetClients();
  s3.on(ListObjectsV2Command).resolves({ Contents: [{ Key: 'events/dt=2026-11-26/part-0001.json', Size: 1024 }] });
});

describe('normalize-request handler', () => {
  it('turns the S3 example into a request for attempt 1 that needs no crawl when the partition is registered', async () => {
    glue.on(GetPartitionCommand).resolves({ Partition: { Values: ['2026-11-26'], Parameters: { sizeKey: '52428800' } } });

    const result = await invoke(example('s3-upload.json'));

    expect(result.attempt).toBe(1);
    expect(result.request).toMatchObject({
      trigger: 's3',
      runDate: '2026-11-26',
      input: { uri: 's3://emrflow-raw/events/dt=2026-11-26/' },
      output: { uri: 's3://emrflow-artifacts/denormalized/events/' },
      crawl: { required: false, crawler: 'emrflow-raw-events' },
    });
    expect(glue).toHaveReceivedCommandWith(GetPartitionCommand, { DatabaseName: 'emrflow_raw', TableName: 'events', PartitionValues: ['2026-11-26'] });
    expect(s3).not.toHaveReceivedAnyCommand();
  });

  it('asks for a crawl when Glue does not know the partition', async () => {
    glue.on(GetPartitionCommand).rejects(new EntityNotFoundException({ message: 'Cannot find partition.', $metadata: {} }));

    const { request } = await invoke(example('console.json'));

    expect(request.crawl).toEqual({ required: true, crawler: 'emrflow-raw-events', reason: 'partition dt=2026-11-26 is not registered in emrflow_raw.events' });
  });

  it('asks for a crawl when the table does not exist yet', async () => {
    glue.on(GetPartitionCommand).rejects(new EntityNotFoundException({ message: 'Table events not found.', $metadata: {} }));

    const { request } = await invoke(example('schedule.json'));

    expect(request.crawl).toMatchObject({ required: true, reason: 'table emrflow_raw.events does not exist yet' });
  });

  it('fails with Request.Invalid, naming the field, without calling Glue', async () => {
    const event = example('s3-upload.json');
    event.detail.object.key = 'foo/bar.json';

    await expect(invoke(event)).rejects.toMatchObject({
      name: 'Request.Invalid',
      message: 'detail.object.key: "foo/bar.json" matches no job\'s inputPrefix in config/jobs.json (known: events/)',
    });
    expect(glue).not.toHaveReceivedAnyCommand();
  });

  it.each([
    ['an array', [], 'an array'],
    ['a string', 'denormalize-events', '"denormalize-events"'],
    ['a number', 42, 'number 42'],
    ['null', null, 'null'],
  ])('rejects %s as the execution input with Request.Invalid, without calling Glue', async (_, trigger, shown) => {
    await expect(invoke(trigger)).rejects.toMatchObject({
      name: 'Request.Invalid',
      message: `(input): expected a JSON object: an EventBridge S3 "Object Created" event or {"job": "<name>"}, got ${shown}`,
    });
    expect(glue).not.toHaveReceivedAnyCommand();
  });

  it('lets other Glue errors fail the task rather than guess', async () => {
    glue.on(GetPartitionCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));

    await expect(invoke(example('console.json'))).rejects.toMatchObject({ name: 'ThrottlingException' });
  });

  it('fails with Input.NotFound, naming the URI and how to get data, when the uncatalogued input does not exist', async () => {
    glue.on(GetPartitionCommand).rejects(new EntityNotFoundException({ message: 'Cannot find partition.', $metadata: {} }));
    s3.on(ListObjectsV2Command).resolves({ KeyCount: 0 });

    const failure = invoke(example('console.json'));

    await expect(failure).rejects.toMatchObject({ name: 'Input.NotFound', uri: 's3://emrflow-raw/events/dt=2026-11-26/' });
    await expect(failure).rejects.toThrow(/s3:\/\/emrflow-raw\/events\/dt=2026-11-26\/.*npx emrflow upload/);
    expect(s3).toHaveReceivedCommandWith(ListObjectsV2Command, { Bucket: 'emrflow-raw', Prefix: 'events/dt=2026-11-26/' });
  });

  it('has nothing to do (Schedule.NothingToDo, not a failure) when a scheduled start finds no input, or only empty objects', async () => {
    glue.on(GetPartitionCommand).rejects(new EntityNotFoundException({ message: 'Cannot find partition.', $metadata: {} }));
    const schedule = { job: 'denormalize-events', trigger: 'schedule', time: '2026-11-27T02:00:00Z' };

    s3.on(ListObjectsV2Command).resolves({ KeyCount: 0 });
    await expect(invoke(schedule)).rejects.toMatchObject({
      name: 'Schedule.NothingToDo',
      uri: 's3://emrflow-raw/events/dt=2026-11-26/',
      message: expect.stringMatching(/^nothing to do: no input at s3:\/\/emrflow-raw\/events\/dt=2026-11-26\//),
    });
    s3.on(ListObjectsV2Command).resolves({ Contents: [{ Key: 'events/dt=2026-11-26/_SUCCESS', Size: 0 }] });
    await expect(invoke(schedule)).rejects.toMatchObject({ name: 'Schedule.NothingToDo', message: expect.stringContaining('only empty objects') });
    // The same day started from the console is a failure, as before (negative control of the trigger check).
    await expect(invoke({ job: 'denormalize-events', date: '2026-11-26' })).rejects.toMatchObject({ name: 'Input.Empty' });
  });

  it('fails with Input.Empty when the input holds only empty objects, and reads further pages to be sure', async () => {
    glue.on(GetPartitionCommand).rejects(new EntityNotFoundException({ message: 'Cannot find partition.', $metadata: {} }));
    s3.on(ListObjectsV2Command)
      .resolvesOnce({ Contents: [{ Key: 'events/dt=2026-11-26/', Size: 0 }], IsTruncated: true, NextContinuationToken: 't' })
      .resolvesOnce({ Contents: [{ Key: 'events/dt=2026-11-26/_SUCCESS', Size: 0 }] });

    await expect(invoke(example('console.json'))).rejects.toMatchObject({ name: 'Input.Empty', message: expect.stringContaining('2 object(s), all empty') });
    expect(s3).toHaveReceivedCommandTimes(ListObjectsV2Command, 2);
  });

  it('accepts an input whose first page already has data, without reading further', async () => {
    s3.on(ListObjectsV2Command).resolves({ Contents: [{ Key: 'x/a.json', Size: 10 }], IsTruncated: true, NextContinuationToken: 't' });

    const { request } = await invoke({ job: 'denormalize-events', input: 's3://emrflow-raw/x/' });

    expect(request.input.uri).toBe('s3://emrflow-raw/x/');
    expect(s3).toHaveReceivedCommandTimes(ListObjectsV2Command, 1);
  });

  it('treats a bucket that does not exist as a missing input', async () => {
    s3.on(ListObjectsV2Command).rejects(Object.assign(new Error('The specified bucket does not exist'), { name: 'NoSuchBucket' }));

    await expect(invoke({ job: 'denormalize-events', input: 's3://no-such-bucket/x/' })).rejects.toMatchObject({ name: 'Input.NotFound' });
  });
});
