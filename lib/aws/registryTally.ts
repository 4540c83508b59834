/**
 * A pool's queued totals in DynamoDB (lib/jobManager/store.ts QueuedTally): one item in the pool's partition
 * of CLUSTER_REGISTRY_TABLE, beside its clusters and its launch guard (clusterId '#queued', kind 'queued'),
 * with flat attributes per priority level (`units_high`, `entries_high`, …) so each change is one UpdateItem
 * ADD. In the clusters' partition, not the queue's, so that the Query PlaceJob makes of a pool's clusters
 * reads the totals too (readPool): PlaceJob needs no access to the queue's entries and their task tokens.
 */
import { GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { PRIORITIES, queuedTotalsOf, type QueuedTotals, type QueueEntry } from '../domain/pools';
import type { QueuedTally } from '../jobManager/store';
import { conditional } from './conditional';

export const QUEUED_TALLY_ID = '#queued';
export const QUEUED_TALLY_KIND = 'queued';

type Tables = { clusters: string };

const unitsOf = (priority: string) => `units_${priority}`;
const entriesOf = (priority: string) => `entries_${priority}`;

/** The tally as read from its item (zero totals when there is none yet). */
export function toTally(item: Record<string, unknown> | undefined): QueuedTally {
  const levels = queuedTotalsOf([]);
  for (const priority of PRIORITIES) {
    levels[priority] = { units: Number(item?.[unitsOf(priority)] ?? 0), entries: Number(item?.[entriesOf(priority)] ?? 0) };
  }
  const noted = item?.noted as QueuedTally['noted'] | undefined;
  return { levels, version: Number(item?.version ?? 0), checkedVersion: Number(item?.checkedVersion ?? 0), ...(noted ? { noted } : {}) };
}

export async function readTally(dynamo: DynamoDBDocumentClient, tables: Tables, pool: string): Promise<QueuedTally> {
  const out = await dynamo.send(new GetCommand({ TableName: tables.clusters, Key: { pool, clusterId: QUEUED_TALLY_ID }, ConsistentRead: true }));
  return toTally(out.Item);
}

/** ADDs `units` and `entries` (negative to take back) to the entry's level and bumps the version: one UpdateItem. */
export async function addToTally(
  dynamo: DynamoDBDocumentClient,
  tables: Tables,
  entry: Pick<QueueEntry, 'pool' | 'priority'>,
  units: number,
  entries: number,
): Promise<void> {
  await dynamo.send(
    new UpdateCommand({
      TableName: tables.clusters,
      Key: { pool: entry.pool, clusterId: QUEUED_TALLY_ID },
      UpdateExpression: 'SET #kind = :kind ADD #units :units, #entries :entries, version :one',
      ExpressionAttributeNames: { '#kind': 'kind', '#units': unitsOf(entry.priority), '#entries': entriesOf(entry.priority) },
      ExpressionAttributeValues: { ':kind': QUEUED_TALLY_KIND, ':units': units, ':entries': entries, ':one': 1 },
    }),
  );
}

export async function noteTally(dynamo: DynamoDBDocumentClient, tables: Tables, pool: string, version: number, at: number): Promise<void> {
  await dynamo.send(
    new UpdateCommand({
      TableName: tables.clusters,
      Key: { pool, clusterId: QUEUED_TALLY_ID },
      UpdateExpression: 'SET #kind = :kind, noted = :noted',
      ExpressionAttributeNames: { '#kind': 'kind' },
      ExpressionAttributeValues: { ':kind': QUEUED_TALLY_KIND, ':noted': { version, at } },
    }),
  );
}

/** Writes a recount, only while no change moved the version past `seenVersion` (0: the item may not exist yet). */
export async function recountTally(dynamo: DynamoDBDocumentClient, tables: Tables, pool: string, levels: QueuedTotals, seenVersion: number): Promise<boolean> {
  const names: Record<string, string> = { '#kind': 'kind' };
  const values: Record<string, unknown> = { ':kind': QUEUED_TALLY_KIND, ':seen': seenVersion };
  const sets = ['#kind = :kind', 'checkedVersion = :seen'];
  for (const [i, priority] of PRIORITIES.entries()) {
    names[`#u${i}`] = unitsOf(priority);
    names[`#e${i}`] = entriesOf(priority);
    values[`:u${i}`] = levels[priority].units;
    values[`:e${i}`] = levels[priority].entries;
    sets.push(`#u${i} = :u${i}`, `#e${i} = :e${i}`);
  }
  return conditional(() =>
    dynamo.send(
      new UpdateCommand({
        TableName: tables.clusters,
        Key: { pool, clusterId: QUEUED_TALLY_ID },
        UpdateExpression: `SET ${sets.join(', ')}`,
        ConditionExpression: seenVersion === 0 ? 'attribute_not_exists(version) OR version = :seen' : 'version = :seen',
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      }),
    ),
  );
}
