/**
 * The account-wide API token buckets (RunJobFlow, AddJobFlowSteps, StartJobRun): one registry item each, under
 * the partition API_BUDGET_PARTITION, taken with a versioned conditional write so concurrent Lambdas never
 * spend a token twice. The job manager (DynamoRegistry) and PlaceJob share them; PlaceJob's role may touch
 * only this partition (serverless.yml: dynamodb:LeadingKeys).
 */
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { newBucket, takeTokens, type BucketPolicy, type BucketState } from '../domain/pools';
import type { ApiBucket } from '../jobManager/store';
import { conditional } from './conditional';
import type { RegistryTables } from './registryQueue';

export const API_BUDGET_PARTITION = '#budget';
/** Optimistic writes retried at most this often before the caller is told it lost the race. */
const MAX_RACES = 8;

async function readVersioned(
  dynamo: DynamoDBDocumentClient,
  tables: Pick<RegistryTables, 'clusters'>,
  api: ApiBucket,
  now: number,
  policy: BucketPolicy,
): Promise<{ bucket: BucketState; version: number }> {
  const out = await dynamo.send(new GetCommand({ TableName: tables.clusters, Key: { pool: API_BUDGET_PARTITION, clusterId: api }, ConsistentRead: true }));
  if (!out.Item) return { bucket: newBucket(now, policy), version: 0 };
  return { bucket: { tokens: out.Item.tokens as number, updatedAt: out.Item.updatedAt as number }, version: out.Item.version as number };
}

export async function readApiBucket(
  dynamo: DynamoDBDocumentClient,
  tables: Pick<RegistryTables, 'clusters'>,
  api: ApiBucket,
  now: number,
  policy: BucketPolicy,
): Promise<BucketState> {
  return (await readVersioned(dynamo, tables, api, now, policy)).bucket;
}

/** Takes up to `wanted` tokens of `api`'s bucket at `now` (ms); how many it got (0 when empty or outraced). */
export async function takeApiTokens(
  dynamo: DynamoDBDocumentClient,
  tables: Pick<RegistryTables, 'clusters'>,
  api: ApiBucket,
  wanted: number,
  now: number,
  policy: BucketPolicy,
): Promise<number> {
  for (let race = 0; race < MAX_RACES; race += 1) {
    const { bucket, version } = await readVersioned(dynamo, tables, api, now, policy);
    const { taken, bucket: after } = takeTokens(bucket, wanted, now, policy);
    if (taken === 0) return 0;
    const written = await conditional(() =>
      dynamo.send(
        new PutCommand({
          TableName: tables.clusters,
          Item: { pool: API_BUDGET_PARTITION, clusterId: api, kind: 'bucket', tokens: after.tokens, updatedAt: after.updatedAt, version: version + 1 },
          ConditionExpression: version === 0 ? 'attribute_not_exists(version)' : 'version = :version',
          ExpressionAttributeValues: version === 0 ? undefined : { ':version': version },
        }),
      ),
    );
    if (written) return taken;
  }
  return 0;
}
