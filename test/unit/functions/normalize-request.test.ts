import { lambdaContext } from './env';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EntityNotFoundException, GetPartitionCommand, GlueClient } from '@aws-sdk/client-glue';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { handler } from '../../../functions/normalize-request/handler';
import { resetClients } from '../../../lib/aws/clients';

const glue = mockClient(GlueClient);
const example = (name: string) => JSON.parse(readFileSync(join(__dirname, '../../../examples/inputs', name), 'utf8'));
const invoke = (trigger: unknown) => handler({ trigger }, lambdaContext);

beforeEach(() => {
  glue.reset();
  resetClients();
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
});
