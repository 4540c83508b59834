/**
 * An in-process dynalite (DynamoDB over loopback) with the job manager's two tables, keyed as in
 * serverless.yml (ClusterRegistryTable, AdmissionQueueTable; test/infra checks the template's keys).
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { RegistryTables } from '../../lib/aws/registry';

export interface LocalDynamo {
  dynamo: DynamoDBDocumentClient;
  close(): Promise<void>;
  /** Fresh, empty tables (unique names), so runs never see each other's items. */
  registryTables(): Promise<RegistryTables>;
}

export const REGISTRY_KEYS = {
  clusters: ['pool', 'clusterId'],
  queue: ['pool', 'entryId'],
} as const;

export async function startDynalite(): Promise<LocalDynamo> {
  // dynalite has no types; its factory returns a plain http.Server.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const dynalite = require('dynalite') as (opts: Record<string, unknown>) => Server;
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const raw = new DynamoDBClient({ endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
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
      const tables = { clusters: `registry-${serial}`, queue: `queue-${serial}` };
      for (const [name, [hash, range]] of [
        [tables.clusters, REGISTRY_KEYS.clusters],
        [tables.queue, REGISTRY_KEYS.queue],
      ] as const) {
        await raw.send(
          new CreateTableCommand({
            TableName: name,
            BillingMode: 'PAY_PER_REQUEST',
            AttributeDefinitions: [
              { AttributeName: hash, AttributeType: 'S' },
              { AttributeName: range, AttributeType: 'S' },
            ],
            KeySchema: [
              { AttributeName: hash, KeyType: 'HASH' },
              { AttributeName: range, KeyType: 'RANGE' },
            ],
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
