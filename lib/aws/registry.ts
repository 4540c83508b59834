/**
 * The job store's registry half (lib/jobManager/store.ts RegistryStore) in DynamoDB (lib-dynamodb); the
 * step tokens are in lib/aws/stepTokenTable.ts. Every write is one conditional
 * UpdateItem/PutItem/DeleteItem (no transactions: dynalite has none, and none are needed), so no
 * interleaving of park / grant / release / expire can overbook a cluster or leak a unit: a write
 * whose premise changed fails its condition and the caller re-reads.
 *
 * Tables (serverless.yml; the local runner creates them from there, test/support/dynalite.ts likewise):
 *   CLUSTER_REGISTRY_TABLE  key pool (S, HASH) + clusterId (S, RANGE)
 *     kind 'cluster'  one per pool cluster: PoolCluster (lib/domain/pools.ts) + leaseCount. A cluster being
 *                     launched is a placeholder `pending-<id>` in STARTING until RunJobFlow returns its id.
 *     kind 'guard'    clusterId '#launch': a version that launches of the pool are serialized on.
 *     kind 'bucket'   pool '#budget', clusterId 'RunJobFlow': the token bucket (tokens, updatedAt, version).
 *   ADMISSION_QUEUE_TABLE   key level (S, HASH: `pool#priority`) + entryId (S, RANGE): QueueEntry items,
 *     with two sparse local secondary indexes (consistent reads, like the table's):
 *       waiting   sort key waitingKey (queueKey: enqueue time, entry id), present only while waiting: the
 *                 dispatcher reads the head of each level, never the whole queue;
 *       granting  sort key claimedAt, present only while a dispatcher is granting the entry;
 *       heartbeat sort key heartbeatDue: the reconcile sweep reads the entries whose heartbeat is due, not the queue.
 *
 * Invariants every write keeps: unitsInUse = Σ leases[*].units ≤ capacityUnits; leaseCount = |leases| ≤
 * maxJobs; a lease is taken only on a RUNNING/WAITING cluster of the same config hash; a queue entry is
 * granted (claimed) by one dispatcher at a time.
 */
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { CLUSTER_READY_STATES } from '../contract';
import {
  PRIORITIES,
  allowedFrom,
  newBucket,
  queueKey,
  takeTokens,
  type BucketPolicy,
  type BucketState,
  type Lease,
  type PoolCluster,
  type PoolClusterState,
  type QueueEntry,
} from '../domain/pools';
import type { Priority } from '../domain/types';
import type { LeaseTarget, NewCluster, QueuePage, RegistryStore } from '../jobManager/store';
import { conditional } from './conditional';
import { lapseLease } from './leaseLapse';

export interface RegistryTables {
  clusters: string;
  queue: string;
}

/** The admission queue's local secondary indexes (serverless.yml AdmissionQueueTable). */
export const QUEUE_INDEX = { waiting: 'waiting', granting: 'granting', heartbeat: 'heartbeat' } as const;

const LAUNCH_GUARD = '#launch';
const BUDGET_POOL = '#budget';
const RUN_JOB_FLOW_BUCKET = 'RunJobFlow';
/** Optimistic writes retried at most this often before the caller is told it lost the race. */
const MAX_RACES = 8;

/** `:ready0, :ready1` and their values: the states a lease may be taken in. */
const READY_NAMES = [...CLUSTER_READY_STATES].map((_, i) => `:ready${i}`);
const READY_VALUES = Object.fromEntries([...CLUSTER_READY_STATES].map((state, i) => [READY_NAMES[i], state]));

type EntryRef = Pick<QueueEntry, 'pool' | 'priority' | 'entryId'>;

function toCluster(item: Record<string, unknown>): PoolCluster {
  return {
    pool: item.pool as string,
    clusterId: item.clusterId as string,
    state: item.state as PoolClusterState,
    configHash: item.configHash as string,
    capacityUnits: item.capacityUnits as number,
    maxJobs: item.maxJobs as number,
    unitsInUse: item.unitsInUse as number,
    leases: (item.leases as Record<string, Lease>) ?? {},
    launchedAt: item.launchedAt as number,
    version: item.version as number,
  };
}

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

export class DynamoRegistry implements RegistryStore {
  constructor(
    private readonly dynamo: DynamoDBDocumentClient,
    private readonly tables: RegistryTables,
  ) {}

  // ------------------------------------------------------------ clusters

  async listClusters(pool: string): Promise<PoolCluster[]> {
    return listClusters(this.dynamo, this.tables, pool);
  }

  async getCluster(pool: string, clusterId: string): Promise<PoolCluster | null> {
    return getCluster(this.dynamo, this.tables, pool, clusterId);
  }

  async registerCluster(cluster: NewCluster): Promise<boolean> {
    return conditional(() =>
      this.dynamo.send(
        new PutCommand({
          TableName: this.tables.clusters,
          Item: { ...cluster, kind: 'cluster', unitsInUse: 0, leaseCount: 0, leases: {}, version: 1 },
          ConditionExpression: 'attribute_not_exists(clusterId)',
        }),
      ),
    );
  }

  async removeCluster(pool: string, clusterId: string): Promise<boolean> {
    return conditional(() =>
      this.dynamo.send(
        new DeleteCommand({
          TableName: this.tables.clusters,
          Key: { pool, clusterId },
          ConditionExpression: 'attribute_exists(clusterId) AND leaseCount = :zero',
          ExpressionAttributeValues: { ':zero': 0 },
        }),
      ),
    );
  }

  async setClusterState(pool: string, clusterId: string, state: PoolClusterState): Promise<boolean> {
    const from = allowedFrom(state);
    const names = from.map((_, i) => `:from${i}`);
    return conditional(() =>
      this.dynamo.send(
        new UpdateCommand({
          TableName: this.tables.clusters,
          Key: { pool, clusterId },
          UpdateExpression: 'SET #state = :state ADD version :one',
          ConditionExpression: `#kind = :cluster AND #state IN (${names.join(', ')})`,
          ExpressionAttributeNames: { '#state': 'state', '#kind': 'kind' },
          ExpressionAttributeValues: { ':state': state, ':one': 1, ':cluster': 'cluster', ...Object.fromEntries(from.map((s, i) => [names[i], s])) },
        }),
      ),
    );
  }

  // ------------------------------------------------------------ leases

  /**
   * The condition compares the stored unitsInUse with capacity − units rather than a version, so concurrent
   * leases of different jobs on one cluster both succeed when both fit, and never when only one does.
   */
  async lease(target: LeaseTarget, leaseId: string, lease: Lease): Promise<boolean> {
    if (lease.units > target.capacityUnits || lease.units <= 0) return false;
    const taken = await conditional(() =>
      this.dynamo.send(
        new UpdateCommand({
          TableName: this.tables.clusters,
          Key: { pool: target.pool, clusterId: target.clusterId },
          UpdateExpression: 'SET leases.#lease = :lease ADD unitsInUse :units, leaseCount :one, version :one',
          ConditionExpression: `#kind = :cluster AND #state IN (${READY_NAMES.join(', ')}) AND configHash = :hash AND unitsInUse <= :maxBefore AND leaseCount < :maxJobs AND attribute_not_exists(leases.#lease)`,
          ExpressionAttributeNames: { '#lease': leaseId, '#state': 'state', '#kind': 'kind' },
          ExpressionAttributeValues: {
            ':lease': lease,
            ':units': lease.units,
            ':one': 1,
            ':cluster': 'cluster',
            ...READY_VALUES,
            ':hash': target.configHash,
            ':maxBefore': target.capacityUnits - lease.units,
            ':maxJobs': target.maxJobs,
          },
        }),
      ),
    );
    if (taken) return true;
    const now = await this.getCluster(target.pool, target.clusterId);
    return now?.leases[leaseId]?.units === lease.units;
  }

  async release(pool: string, clusterId: string, leaseId: string): Promise<{ released: boolean; units: number }> {
    for (let race = 0; race < MAX_RACES; race += 1) {
      const lease = (await this.getCluster(pool, clusterId))?.leases[leaseId];
      if (!lease) return { released: false, units: 0 };
      if (await this.removeLease(pool, clusterId, leaseId, lease, 'leases.#lease.grantedAt = :grantedAt')) return { released: true, units: lease.units };
    }
    throw new Error(`release: lost ${MAX_RACES} races for lease ${leaseId} on ${clusterId}`);
  }

  async lapse(pool: string, clusterId: string, leaseId: string, at: number): Promise<boolean> {
    return lapseLease(this.dynamo, this.tables.clusters, pool, clusterId, leaseId, at);
  }

  async expire(pool: string, clusterId: string, leaseId: string, seen: Lease): Promise<boolean> {
    return this.removeLease(pool, clusterId, leaseId, seen, 'leases.#lease.expiresAt = :expiresAt');
  }

  private async removeLease(pool: string, clusterId: string, leaseId: string, lease: Lease, premise: string): Promise<boolean> {
    const byPremise: Record<string, unknown> = premise.includes(':grantedAt') ? { ':grantedAt': lease.grantedAt } : { ':expiresAt': lease.expiresAt };
    return conditional(() =>
      this.dynamo.send(
        new UpdateCommand({
          TableName: this.tables.clusters,
          Key: { pool, clusterId },
          UpdateExpression: 'REMOVE leases.#lease ADD unitsInUse :minusUnits, leaseCount :minusOne, version :one',
          ConditionExpression: `leases.#lease.units = :units AND ${premise}`,
          ExpressionAttributeNames: { '#lease': leaseId },
          ExpressionAttributeValues: { ':units': lease.units, ':minusUnits': -lease.units, ':minusOne': -1, ':one': 1, ...byPremise },
        }),
      ),
    );
  }

  // ------------------------------------------------------------ launches

  async readLaunchGuard(pool: string): Promise<number> {
    const out = await this.dynamo.send(new GetCommand({ TableName: this.tables.clusters, Key: { pool, clusterId: LAUNCH_GUARD }, ConsistentRead: true }));
    return (out.Item?.version as number | undefined) ?? 0;
  }

  /** The caller writes its placeholders before this, so whoever reads the guard after it also sees them. */
  async advanceLaunchGuard(pool: string, seenVersion: number): Promise<boolean> {
    return conditional(() =>
      this.dynamo.send(
        new UpdateCommand({
          TableName: this.tables.clusters,
          Key: { pool, clusterId: LAUNCH_GUARD },
          UpdateExpression: 'SET version = :next, #kind = :guard',
          ConditionExpression: seenVersion === 0 ? 'attribute_not_exists(version)' : 'version = :seen',
          ExpressionAttributeNames: { '#kind': 'kind' },
          ExpressionAttributeValues: { ':next': seenVersion + 1, ':guard': 'guard', ...(seenVersion === 0 ? {} : { ':seen': seenVersion }) },
        }),
      ),
    );
  }

  private async readVersionedBucket(now: number, policy: BucketPolicy): Promise<{ bucket: BucketState; version: number }> {
    const out = await this.dynamo.send(
      new GetCommand({ TableName: this.tables.clusters, Key: { pool: BUDGET_POOL, clusterId: RUN_JOB_FLOW_BUCKET }, ConsistentRead: true }),
    );
    if (!out.Item) return { bucket: newBucket(now, policy), version: 0 };
    return { bucket: { tokens: out.Item.tokens as number, updatedAt: out.Item.updatedAt as number }, version: out.Item.version as number };
  }

  async readBucket(now: number, policy: BucketPolicy): Promise<BucketState> {
    return (await this.readVersionedBucket(now, policy)).bucket;
  }

  async takeLaunchTokens(wanted: number, now: number, policy: BucketPolicy): Promise<number> {
    for (let race = 0; race < MAX_RACES; race += 1) {
      const { bucket, version } = await this.readVersionedBucket(now, policy);
      const { taken, bucket: after } = takeTokens(bucket, wanted, now, policy);
      if (taken === 0) return 0;
      const written = await conditional(() =>
        this.dynamo.send(
          new PutCommand({
            TableName: this.tables.clusters,
            Item: { pool: BUDGET_POOL, clusterId: RUN_JOB_FLOW_BUCKET, kind: 'bucket', tokens: after.tokens, updatedAt: after.updatedAt, version: version + 1 },
            ConditionExpression: version === 0 ? 'attribute_not_exists(version)' : 'version = :version',
            ExpressionAttributeValues: version === 0 ? undefined : { ':version': version },
          }),
        ),
      );
      if (written) return taken;
    }
    return 0;
  }

  // ------------------------------------------------------------ admission queue

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

export async function getCluster(
  dynamo: DynamoDBDocumentClient,
  tables: Pick<RegistryTables, 'clusters'>,
  pool: string,
  clusterId: string,
): Promise<PoolCluster | null> {
  const out = await dynamo.send(new GetCommand({ TableName: tables.clusters, Key: { pool, clusterId }, ConsistentRead: true }));
  return out.Item && out.Item.kind === 'cluster' ? toCluster(out.Item) : null;
}

/**
 * Every cluster item of the pool (placeholders included), read consistently. A function of its own (one
 * Query) so that a reader such as the reaper reaches no write.
 */
export async function listClusters(dynamo: DynamoDBDocumentClient, tables: Pick<RegistryTables, 'clusters'>, pool: string): Promise<PoolCluster[]> {
  const items = await queryAll(dynamo, {
    TableName: tables.clusters,
    KeyConditionExpression: '#pool = :pool',
    FilterExpression: '#kind = :cluster',
    ExpressionAttributeNames: { '#pool': 'pool', '#kind': 'kind' },
    ExpressionAttributeValues: { ':pool': pool, ':cluster': 'cluster' },
  });
  return items.map(toCluster);
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

async function queryAll(dynamo: DynamoDBDocumentClient, input: ConstructorParameters<typeof QueryCommand>[0]): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const out = await dynamo.send(new QueryCommand({ ...input, ConsistentRead: true, ExclusiveStartKey: startKey }));
    items.push(...(out.Items ?? []));
    startKey = out.LastEvaluatedKey;
  } while (startKey);
  return items;
}
