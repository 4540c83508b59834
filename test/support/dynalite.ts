/**
 * An in-process dynalite (DynamoDB over loopback) with the job manager's tables, keyed and indexed as in
 * serverless.yml (ClusterRegistryTable, AdmissionQueueTable, StepTokensTable; test/infra checks the
 * template's keys).
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient, type CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { QUEUE_INDEX, type RegistryTables } from '../../lib/aws/registry';

export interface LocalDynamo {
  dynamo: DynamoDBDocumentClient;
  close(): Promise<void>;
  /** Fresh, empty tables (unique names), so runs never see each other's items. */
  registryTables(): Promise<RegistryTables & { stepTokens: string }>;
}

export const REGISTRY_KEYS = {
  clusters: ['pool', 'clusterId'],
  queue: ['level', 'entryId'],
  stepTokens: ['clusterId', 'stepId'],
} as const;

/** The admission queue's sparse local secondary indexes: each level's waiting entries in queue order, and those being granted. */
const QUEUE_INDEXES: CreateTableCommandInput['LocalSecondaryIndexes'] = [
  {
    IndexName: QUEUE_INDEX.waiting,
    KeySchema: [
      { AttributeName: 'level', KeyType: 'HASH' },
      { AttributeName: 'waitingKey', KeyType: 'RANGE' },
    ],
    Projection: { ProjectionType: 'ALL' },
  },
  {
    IndexName: QUEUE_INDEX.granting,
    KeySchema: [
      { AttributeName: 'level', KeyType: 'HASH' },
      { AttributeName: 'claimedAt', KeyType: 'RANGE' },
    ],
    Projection: { ProjectionType: 'ALL' },
  },
];

export async function startDynalite(): Promise<LocalDynamo> {
  // dynalite has no types; its factory returns a plain http.Server.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const dynalite = require('dynalite') as (opts: Record<string, unknown>) => Server;
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const raw = new DynamoDBClient({
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const dynamo = DynamoDBDocumentClient.from(raw, { marshallOptions: { removeUndefinedValues: true } });
  let serial = 0;
  return {
    dynamo,
    async close() {
      raw.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    async registryTables() {
      serial += 1;
      const tables = { clusters: `registry-${serial}`, queue: `queue-${serial}`, stepTokens: `step-tokens-${serial}` };
      for (const [name, [hash, range]] of [
        [tables.clusters, REGISTRY_KEYS.clusters],
        [tables.queue, REGISTRY_KEYS.queue],
        [tables.stepTokens, REGISTRY_KEYS.stepTokens],
      ] as const) {
        const queue = name === tables.queue;
        await raw.send(
          new CreateTableCommand({
            TableName: name,
            BillingMode: 'PAY_PER_REQUEST',
            AttributeDefinitions: [
              { AttributeName: hash, AttributeType: 'S' },
              { AttributeName: range, AttributeType: 'S' },
              ...(queue
                ? [
                    { AttributeName: 'waitingKey', AttributeType: 'S' as const },
                    { AttributeName: 'claimedAt', AttributeType: 'N' as const },
                  ]
                : []),
            ],
            KeySchema: [
              { AttributeName: hash, KeyType: 'HASH' },
              { AttributeName: range, KeyType: 'RANGE' },
            ],
            ...(queue ? { LocalSecondaryIndexes: QUEUE_INDEXES } : {}),
          }),
        );
        // dynalite makes a table ACTIVE on a timer, even at createTableMs 0.
        while ((await raw.send(new DescribeTableCommand({ TableName: name }))).Table?.TableStatus !== 'ACTIVE') {
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      }
      return tables;
    },
  };
}
