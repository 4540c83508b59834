/**
 * The registry's admission queue in DynamoDB (ADMISSION_QUEUE_TABLE, its items and indexes as lib/aws/registry.ts
 * describes them): park, the dispatcher's reads of each level's head, claim/grant/unclaim and withdraw, each one
 * conditional write of the entry, preceded by an ADD to the pool's queued totals when the entry enters or
 * leaves `waiting` (./registryTally; store.ts says why two writes and how the totals repair). DynamoRegistry
 * (./registry) adds the cluster items to these.
 */
import { PutCommand, QueryCommand, UpdateCommand, DeleteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { leaseIdPrefix, PRIORITIES, queueKey, type QueuedTotals, type QueueEntry } from '../domain/pools';
import type { Priority } from '../domain/types';
import type { QueuedTally, QueuePage } from '../jobManager/store';
import { conditional, conditionalResult } from './conditional';
import { addToTally, noteTally, readTally, recountTally } from './registryTally';

export interface RegistryTables {
  clusters: string;
  queue: string;
}

/** The admission queue's local secondary indexes (serverless.yml AdmissionQueueTable). */
export const QUEUE_INDEX = { waiting: 'waiting', granting: 'granting', heartbeat: 'heartbeat' } as const;

type EntryRef = Pick<QueueEntry, 'pool' | 'priority' | 'entryId'>;
type Counted = EntryRef & Pick<QueueEntry, 'units'>;

/** The queue table's partition of a pool's priority level. */
export function queueLevel(pool: string, priority: Priority): string {
  return `${pool}#${priority}`;
}

function toEntry(item: Record<string, unknown>): QueueEntry {
  const { level: _level, waitingKey: _waitingKey, ...entry } = item;
  return entry as unknown as QueueEntry;
}

function entryKey(entry: EntryRef): { level: string; entryId: string } {
  return { level: queueLevel(entry.pool, entry.priority), entryId: entry.entryId };
}

/** The admission queue's half of the registry store; DynamoRegistry extends it with the clusters. */
export abstract class DynamoQueue {
  constructor(
    protected readonly dynamo: DynamoDBDocumentClient,
    protected readonly tables: RegistryTables,
  ) {}

  /** The totals first, then the entry (ALL_OLD tells a retried park that replaced a counted entry); a refused park takes its ADD back. */
  async park(entry: Omit<QueueEntry, 'state'>): Promise<boolean> {
    await addToTally(this.dynamo, this.tables, entry, entry.units, 1);
    const parked = await conditionalResult(() =>
      this.dynamo.send(
        new PutCommand({
          TableName: this.tables.queue,
          Item: { ...entry, level: queueLevel(entry.pool, entry.priority), waitingKey: queueKey(entry), state: 'waiting' },
          ConditionExpression: 'attribute_not_exists(entryId) OR #state = :waiting',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':waiting': 'waiting' },
          ReturnValues: 'ALL_OLD',
        }),
      ),
    );
    if (parked) {
      const replaced = parked.Attributes;
      if (replaced) await addToTally(this.dynamo, this.tables, entry, -Number(replaced.units), -1);
      return true;
    }
    await addToTally(this.dynamo, this.tables, entry, -entry.units, -1);
    // A retried park (its task token is new) while a grant is in flight: the grant's sweep tells the new token.
    await conditional(() =>
      this.dynamo.send(
        new UpdateCommand({
          TableName: this.tables.queue,
          Key: entryKey(entry),
          UpdateExpression: 'SET taskToken = :token',
          ConditionExpression: '#state = :granting',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':token': entry.taskToken, ':granting': 'granting' },
        }),
      ),
    );
    return false;
  }

  async queuedTally(pool: string): Promise<QueuedTally> {
    return readTally(this.dynamo, this.tables, pool);
  }

  async noteQueuedTally(pool: string, version: number, at: number): Promise<void> {
    await noteTally(this.dynamo, this.tables, pool, version, at);
  }

  async recountQueued(pool: string, levels: QueuedTotals, seenVersion: number): Promise<boolean> {
    return recountTally(this.dynamo, this.tables, pool, levels, seenVersion);
  }

  /** One Query per level on the table's own key (level, entryId begins with `execution#`): that execution's items only. */
  async executionEntries(pool: string, execution: string): Promise<QueueEntry[]> {
    return queryEveryLevel(this.dynamo, this.tables, pool, {
      KeyConditionExpression: '#level = :level AND begins_with(entryId, :prefix)',
      ExpressionAttributeValues: { ':prefix': leaseIdPrefix(execution) },
    });
  }

  async queueHead(pool: string, priority: Priority, limit: number, after?: string): Promise<QueuePage> {
    const level = queueLevel(pool, priority);
    const out = await this.dynamo.send(
      new QueryCommand({
        TableName: this.tables.queue,
        IndexName: QUEUE_INDEX.waiting,
        KeyConditionExpression: after === undefined ? '#level = :level' : '#level = :level AND waitingKey > :after',
        ExpressionAttributeNames: { '#level': 'level' },
        ExpressionAttributeValues: { ':level': level, ...(after === undefined ? {} : { ':after': after }) },
        ConsistentRead: true,
        Limit: limit,
      }),
    );
    const items = out.Items ?? [];
    const last = items[items.length - 1];
    return { entries: items.map(toEntry), ...(out.LastEvaluatedKey && last ? { next: last.waitingKey as string } : {}) };
  }

  async heartbeatsDue(pool: string, priority: Priority, now: number, limit: number, after?: string): Promise<QueuePage> {
    const out = await this.dynamo.send(
      new QueryCommand({
        TableName: this.tables.queue,
        IndexName: QUEUE_INDEX.heartbeat,
        KeyConditionExpression: '#level = :level AND heartbeatDue <= :now',
        ExpressionAttributeNames: { '#level': 'level' },
        ExpressionAttributeValues: { ':level': queueLevel(pool, priority), ':now': now },
        ConsistentRead: true,
        Limit: limit,
        ...(after === undefined ? {} : { ExclusiveStartKey: JSON.parse(after) as Record<string, unknown> }),
      }),
    );
    return { entries: (out.Items ?? []).map(toEntry), ...(out.LastEvaluatedKey ? { next: JSON.stringify(out.LastEvaluatedKey) } : {}) };
  }

  async heartbeatSent(entry: Pick<QueueEntry, 'pool' | 'priority' | 'entryId' | 'taskToken'>, nextDue: number): Promise<boolean> {
    return conditional(() =>
      this.dynamo.send(
        new UpdateCommand({
          TableName: this.tables.queue,
          Key: entryKey(entry),
          UpdateExpression: 'SET heartbeatDue = :next',
          ConditionExpression: 'taskToken = :token',
          ExpressionAttributeValues: { ':next': nextDue, ':token': entry.taskToken },
        }),
      ),
    );
  }

  async grantingEntries(pool: string): Promise<QueueEntry[]> {
    return queryEveryLevel(this.dynamo, this.tables, pool, { IndexName: QUEUE_INDEX.granting });
  }

  async listQueue(pool: string): Promise<QueueEntry[]> {
    return listQueue(this.dynamo, this.tables, pool);
  }

  /** Leaves the waiting index (waitingKey goes) and joins the granting one (claimedAt); the totals first. */
  async claim(entry: QueueEntry, clusterId: string, claimedAt: number): Promise<boolean> {
    await addToTally(this.dynamo, this.tables, entry, -entry.units, -1);
    const claimed = await conditional(() =>
      this.dynamo.send(
        new UpdateCommand({
          TableName: this.tables.queue,
          Key: entryKey(entry),
          UpdateExpression: 'SET #state = :granting, grantCluster = :cluster, claimedAt = :now REMOVE waitingKey',
          ConditionExpression: '#state = :waiting AND taskToken = :token',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':granting': 'granting', ':waiting': 'waiting', ':cluster': clusterId, ':now': claimedAt, ':token': entry.taskToken },
        }),
      ),
    );
    if (!claimed) await addToTally(this.dynamo, this.tables, entry, entry.units, 1);
    return claimed;
  }

  async reclaim(entry: EntryRef, claimedAt: number, reclaimedAt: number): Promise<boolean> {
    return conditional(() =>
      this.dynamo.send(
        new UpdateCommand({
          TableName: this.tables.queue,
          Key: entryKey(entry),
          UpdateExpression: 'SET claimedAt = :reclaimedAt',
          ConditionExpression: '#state = :granting AND claimedAt = :claimedAt',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':granting': 'granting', ':claimedAt': claimedAt, ':reclaimedAt': reclaimedAt },
        }),
      ),
    );
  }

  async unclaim(entry: Counted & Pick<QueueEntry, 'enqueuedAt'>, claimedAt: number): Promise<boolean> {
    await addToTally(this.dynamo, this.tables, entry, entry.units, 1);
    const unclaimed = await conditional(() =>
      this.dynamo.send(
        new UpdateCommand({
          TableName: this.tables.queue,
          Key: entryKey(entry),
          UpdateExpression: 'SET #state = :waiting, waitingKey = :waitingKey REMOVE grantCluster, claimedAt',
          ConditionExpression: '#state = :granting AND claimedAt = :claimedAt',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':waiting': 'waiting', ':granting': 'granting', ':claimedAt': claimedAt, ':waitingKey': queueKey(entry) },
        }),
      ),
    );
    if (!unclaimed) await addToTally(this.dynamo, this.tables, entry, -entry.units, -1);
    return unclaimed;
  }

  async granted(entry: EntryRef, claimedAt: number): Promise<boolean> {
    return conditional(() =>
      this.dynamo.send(
        new DeleteCommand({
          TableName: this.tables.queue,
          Key: entryKey(entry),
          ConditionExpression: '#state = :granting AND claimedAt = :claimedAt',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':granting': 'granting', ':claimedAt': claimedAt },
        }),
      ),
    );
  }

  async withdraw(entry: Counted): Promise<boolean> {
    await addToTally(this.dynamo, this.tables, entry, -entry.units, -1);
    const withdrawn = await conditional(() =>
      this.dynamo.send(
        new DeleteCommand({
          TableName: this.tables.queue,
          Key: entryKey(entry),
          ConditionExpression: '#state = :waiting',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':waiting': 'waiting' },
        }),
      ),
    );
    if (!withdrawn) await addToTally(this.dynamo, this.tables, entry, entry.units, 1);
    return withdrawn;
  }
}

/** The whole queue of a pool, every level (reports and tests; none of the job manager's operations). */
export async function listQueue(dynamo: DynamoDBDocumentClient, tables: Pick<RegistryTables, 'queue'>, pool: string): Promise<QueueEntry[]> {
  return queryEveryLevel(dynamo, tables, pool, {});
}

/**
 * One paged Query per priority level of a pool (the queue's partitions), on the table or `IndexName`; the key
 * condition is `#level = :level` unless `query` narrows it with values of its own.
 */
async function queryEveryLevel(
  dynamo: DynamoDBDocumentClient,
  tables: Pick<RegistryTables, 'queue'>,
  pool: string,
  query: { IndexName?: string; KeyConditionExpression?: string; ExpressionAttributeValues?: Record<string, unknown> },
): Promise<QueueEntry[]> {
  const entries: QueueEntry[] = [];
  for (const priority of PRIORITIES) {
    const items = await queryAll(dynamo, {
      TableName: tables.queue,
      ...(query.IndexName ? { IndexName: query.IndexName } : {}),
      KeyConditionExpression: query.KeyConditionExpression ?? '#level = :level',
      ExpressionAttributeNames: { '#level': 'level' },
      ExpressionAttributeValues: { ':level': queueLevel(pool, priority), ...query.ExpressionAttributeValues },
    });
    entries.push(...items.map(toEntry));
  }
  return entries;
}

export async function queryAll(dynamo: DynamoDBDocumentClient, input: ConstructorParameters<typeof QueryCommand>[0]): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const out = await dynamo.send(new QueryCommand({ ...input, ConsistentRead: true, ExclusiveStartKey: startKey }));
    items.push(...(out.Items ?? []));
    startKey = out.LastEvaluatedKey;
  } while (startKey);
  return items;
}
