/**
 * The registry's admission queue in DynamoDB (ADMISSION_QUEUE_TABLE, its items and indexes as lib/aws/registry.ts
 * describes them): park, the dispatcher's reads of each level's head, claim/grant/unclaim and withdraw, each one
 * conditional write. DynamoRegistry (./registry) adds the cluster items to these.
 */
import { PutCommand, QueryCommand, UpdateCommand, DeleteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { PRIORITIES, queueKey, type QueueEntry } from '../domain/pools';
import type { Priority } from '../domain/types';
import type { QueuePage } from '../jobManager/store';
import { conditional } from './conditional';

export interface RegistryTables {
  clusters: string;
  queue: string;
}

/** The admission queue's local secondary indexes (serverless.yml AdmissionQueueTable). */
export const QUEUE_INDEX = { waiting: 'waiting', granting: 'granting', heartbeat: 'heartbeat' } as const;

type EntryRef = Pick<QueueEntry, 'pool' | 'priority' | 'entryId'>;

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

  async park(entry: Omit<QueueEntry, 'state'>): Promise<boolean> {
    const parked = await conditional(() =>
      this.dynamo.send(
        new PutCommand({
          TableName: this.tables.queue,
          Item: { ...entry, level: queueLevel(entry.pool, entry.priority), waitingKey: queueKey(entry), state: 'waiting' },
          ConditionExpression: 'attribute_not_exists(entryId) OR #state = :waiting',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':waiting': 'waiting' },
        }),
      ),
    );
    if (parked) return true;
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
    const entries: QueueEntry[] = [];
    for (const priority of PRIORITIES) {
      const items = await queryAll(this.dynamo, {
        TableName: this.tables.queue,
        IndexName: QUEUE_INDEX.granting,
        KeyConditionExpression: '#level = :level',
        ExpressionAttributeNames: { '#level': 'level' },
        ExpressionAttributeValues: { ':level': queueLevel(pool, priority) },
      });
      entries.push(...items.map(toEntry));
    }
    return entries;
  }

  async listQueue(pool: string): Promise<QueueEntry[]> {
    return listQueue(this.dynamo, this.tables, pool);
  }

  /** Leaves the waiting index (waitingKey goes) and joins the granting one (claimedAt). */
  async claim(entry: QueueEntry, clusterId: string, claimedAt: number): Promise<boolean> {
    return conditional(() =>
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

  async unclaim(entry: EntryRef & Pick<QueueEntry, 'enqueuedAt'>, claimedAt: number): Promise<boolean> {
    return conditional(() =>
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

  async withdraw(entry: EntryRef): Promise<boolean> {
    return conditional(() =>
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
  }
}

/** The whole queue of a pool, every level (reports, heartbeats, an execution's cleanup; never the dispatcher). */
export async function listQueue(dynamo: DynamoDBDocumentClient, tables: Pick<RegistryTables, 'queue'>, pool: string): Promise<QueueEntry[]> {
  const entries: QueueEntry[] = [];
  for (const priority of PRIORITIES) {
    const items = await queryAll(dynamo, {
      TableName: tables.queue,
      KeyConditionExpression: '#level = :level',
      ExpressionAttributeNames: { '#level': 'level' },
      ExpressionAttributeValues: { ':level': queueLevel(pool, priority) },
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
