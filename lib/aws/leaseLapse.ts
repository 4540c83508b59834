/**
 * RegistryStore.lapse in DynamoDB, a file of its own so the registry's (already long) file does not grow:
 * brings a lease's expiry forward, never later. Its holder gave the lease up while a step of its execution
 * still runs; the dispatcher's sweep takes it back once that step is seen ended.
 */
import { GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { conditional } from './conditional';

export async function lapseLease(
  dynamo: DynamoDBDocumentClient,
  table: string,
  pool: string,
  clusterId: string,
  leaseId: string,
  at: number,
): Promise<boolean> {
  const moved = await conditional(() =>
    dynamo.send(
      new UpdateCommand({
        TableName: table,
        Key: { pool, clusterId },
        UpdateExpression: 'SET leases.#lease.expiresAt = :at ADD version :one',
        ConditionExpression: 'attribute_exists(leases.#lease) AND leases.#lease.expiresAt > :at',
        ExpressionAttributeNames: { '#lease': leaseId },
        ExpressionAttributeValues: { ':at': at, ':one': 1 },
      }),
    ),
  );
  if (moved) return true;
  // Refused: the lease is gone (false), or already lapses by `at` (true, nothing to move).
  const out = await dynamo.send(new GetCommand({ TableName: table, Key: { pool, clusterId }, ConsistentRead: true }));
  const lease = (out.Item?.leases as Record<string, { expiresAt: number }> | undefined)?.[leaseId];
  return lease !== undefined && lease.expiresAt <= at;
}
