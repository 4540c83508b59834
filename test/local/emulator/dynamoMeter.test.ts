/**
 * The emulator's DynamoDB meter (local/emulator/dynamoMeter.ts): the items dynalite served, read and written,
 * which `npm run bench:pool` reports per job.
 */
import {
  BatchWriteItemCommand,
  CreateTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { startEmulator, type Emulator } from '../../../local/emulator';
import { itemsOf } from '../../../local/emulator/dynamoMeter';

describe('the DynamoDB meter', () => {
  let emu: Emulator;
  let dynamo: DynamoDBClient;
  beforeAll(async () => {
    emu = await startEmulator({ spark: false, dynamodb: true, timeScale: 0 });
    dynamo = new DynamoDBClient({
      endpoint: emu.dynamodbEndpoint!,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    await dynamo.send(
      new CreateTableCommand({
        TableName: 'queue',
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: 'level', AttributeType: 'S' },
          { AttributeName: 'entry', AttributeType: 'S' },
        ],
        KeySchema: [
          { AttributeName: 'level', KeyType: 'HASH' },
          { AttributeName: 'entry', KeyType: 'RANGE' },
        ],
      }),
    );
  });
  afterAll(async () => {
    dynamo.destroy();
    await emu.stop();
  });

  it('counts items read (what a Query scanned, an item got) and written (a failed condition included), by operation and table', async () => {
    // Prepare
    emu.resetCalls();
    const entry = (id: string) => ({ level: { S: 'shared#high' }, entry: { S: id } });

    // Act: 3 items written in a batch, 1 put, 1 conditional put that fails, 1 update; a Query that scans 4 and
    // returns 1 (filter), a GetItem that finds one and one that finds none.
    await dynamo.send(new BatchWriteItemCommand({ RequestItems: { queue: ['a', 'b', 'c'].map((id) => ({ PutRequest: { Item: entry(id) } })) } }));
    await dynamo.send(new PutItemCommand({ TableName: 'queue', Item: entry('d') }));
    await expect(
      dynamo.send(new PutItemCommand({ TableName: 'queue', Item: entry('d'), ConditionExpression: 'attribute_not_exists(entry)' })),
    ).rejects.toMatchObject({
      name: 'ConditionalCheckFailedException',
    });
    await dynamo.send(
      new UpdateItemCommand({
        TableName: 'queue',
        Key: entry('a'),
        UpdateExpression: 'SET granted = :yes',
        ExpressionAttributeValues: { ':yes': { BOOL: true } },
      }),
    );
    const query = await dynamo.send(
      new QueryCommand({
        TableName: 'queue',
        KeyConditionExpression: '#level = :level',
        FilterExpression: 'granted = :yes',
        ExpressionAttributeNames: { '#level': 'level' },
        ExpressionAttributeValues: { ':level': { S: 'shared#high' }, ':yes': { BOOL: true } },
      }),
    );
    await dynamo.send(new GetItemCommand({ TableName: 'queue', Key: entry('b') }));
    await dynamo.send(new GetItemCommand({ TableName: 'queue', Key: entry('zz') }));

    // Assess
    expect(query.Count).toBe(1);
    const usage = emu.stats().dynamodb!;
    expect(usage).toMatchObject({ itemsRead: 4 + 1, itemsWritten: 3 + 1 + 1 + 1 });
    expect(usage.requests).toEqual({ BatchWriteItem: 1, PutItem: 2, UpdateItem: 1, Query: 1, GetItem: 2 });
    expect(usage.itemsBy['Query queue']).toEqual({ read: 4, written: 0 });
    expect(usage.itemsBy['BatchWriteItem queue']).toEqual({ read: 0, written: 3 });
  });

  it('negative control: a Query is counted by what it scanned, not by what its filter returned', () => {
    expect(itemsOf('Query', {}, 200, { Count: 1, ScannedCount: 4 }).read).toBe(4);
    expect(itemsOf('Query', {}, 200, { Count: 1, ScannedCount: 4 }).read).not.toBe(1);
    expect(itemsOf('PutItem', {}, 400, { __type: 'com.amazonaws.dynamodb.v20120810#ValidationException' }).written).toBe(0);
  });
});
