/**
 * The pool registry, the admission queue and the RunJobFlow token bucket in DynamoDB (lib-dynamodb).
 * Every write is one conditional UpdateItem/PutItem/DeleteItem (no transactions: dynalite has none, and
 * none are needed), so no interleaving of acquire / release / renew / expire / grant can overbook a
 * cluster or leak a unit: a write whose premise changed fails its condition and the caller re-reads.
 *
 * Tables (serverless.yml; the local runner creates them from there):
 *   CLUSTER_REGISTRY_TABLE  key pool (S, HASH) + clusterId (S, RANGE)
 *     kind 'cluster'  one per pool cluster: PoolCluster (lib/domain/pools.ts) + leaseCount. A cluster being
 *                     launched is a placeholder `pending-<id>` in STARTING until RunJobFlow returns its id.
 *     kind 'guard'    clusterId '#launch': a version that launches of the pool are serialized on.
 *     kind 'bucket'   pool '#budget', clusterId 'RunJobFlow': the token bucket (tokens, updatedAt, version).
 *   ADMISSION_QUEUE_TABLE   key pool (S, HASH) + entryId (S, RANGE): QueueEntry items.
 *
 * Invariants every write keeps: unitsInUse = Σ leases[*].units ≤ capacityUnits; leaseCount = |leases| ≤
 * maxJobs; a lease is taken only on a RUNNING/WAITING cluster of the same config hash; a queue entry is
 * granted (claimed) by one dispatcher at a time.
 */
import { randomUUID } from 'node:crypto';
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { CLUSTER_ACTIVE_STATES, CLUSTER_READY_STATES, CLUSTER_STARTING_STATES } from '../contract';
import {
  newBucket,
  takeTokens,
  type BucketPolicy,
  type BucketState,
  type Lease,
  type PoolCluster,
  type PoolClusterState,
  type QueueEntry,
} from '../domain/pools';

export interface RegistryTables {
  clusters: string;
  queue: string;
}

const LAUNCH_GUARD = '#launch';
const BUDGET_POOL = '#budget';
const RUN_JOB_FLOW_BUCKET = 'RunJobFlow';
export const PLACEHOLDER_PREFIX = 'pending-';
/** Optimistic writes retried at most this often before the caller is told it lost the race. */
const MAX_RACES = 8;

/** From which states a cluster may move to each state: EMR's lifecycle only goes forward. */
const ACTIVE = [...CLUSTER_ACTIVE_STATES] as PoolClusterState[];
/** `:ready0, :ready1` and their values: the states a lease may be taken in. */
const READY_NAMES = [...CLUSTER_READY_STATES].map((_, i) => `:ready${i}`);
const READY_VALUES = Object.fromEntries([...CLUSTER_READY_STATES].map((state, i) => [READY_NAMES[i], state]));
const NOT_ENDED: PoolClusterState[] = [...ACTIVE, 'TERMINATING'];
const ALLOWED_FROM: Record<PoolClusterState, PoolClusterState[]> = {
  STARTING: ['STARTING'],
  BOOTSTRAPPING: [...CLUSTER_STARTING_STATES] as PoolClusterState[],
  RUNNING: ACTIVE,
  WAITING: ACTIVE,
  TERMINATING: NOT_ENDED,
  TERMINATED: NOT_ENDED,
  TERMINATED_WITH_ERRORS: NOT_ENDED,
};

function isConditionFailure(error: unknown): boolean {
  return (error as Error)?.name === 'ConditionalCheckFailedException';
}

async function conditional(write: () => Promise<unknown>): Promise<boolean> {
  try {
    await write();
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}

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

// ---------------------------------------------------------------- clusters

/** Every cluster item of the pool (placeholders included), read consistently. */
export async function listClusters(dynamo: DynamoDBDocumentClient, tables: RegistryTables, pool: string): Promise<PoolCluster[]> {
  const items = await queryAll(dynamo, {
    TableName: tables.clusters,
    KeyConditionExpression: '#pool = :pool',
    FilterExpression: '#kind = :cluster',
    ExpressionAttributeNames: { '#pool': 'pool', '#kind': 'kind' },
    ExpressionAttributeValues: { ':pool': pool, ':cluster': 'cluster' },
  });
  return items.map(toCluster);
}

export async function getCluster(dynamo: DynamoDBDocumentClient, tables: RegistryTables, pool: string, clusterId: string): Promise<PoolCluster | null> {
  const out = await dynamo.send(new GetCommand({ TableName: tables.clusters, Key: { pool, clusterId }, ConsistentRead: true }));
  return out.Item && out.Item.kind === 'cluster' ? toCluster(out.Item) : null;
}

export type NewCluster = Pick<PoolCluster, 'pool' | 'clusterId' | 'state' | 'configHash' | 'capacityUnits' | 'maxJobs' | 'launchedAt'>;

/** Adds a cluster with no leases; false when the id is already registered. */
export async function registerCluster(dynamo: DynamoDBDocumentClient, tables: RegistryTables, cluster: NewCluster): Promise<boolean> {
  return conditional(() =>
    dynamo.send(
      new PutCommand({
        TableName: tables.clusters,
        Item: { ...cluster, kind: 'cluster', unitsInUse: 0, leaseCount: 0, leases: {}, version: 1 },
        ConditionExpression: 'attribute_not_exists(clusterId)',
      }),
    ),
  );
}

/** Removes a cluster item (a placeholder once its launch is settled); only when it holds no lease. */
export async function removeCluster(dynamo: DynamoDBDocumentClient, tables: RegistryTables, pool: string, clusterId: string): Promise<boolean> {
  return conditional(() =>
    dynamo.send(
      new DeleteCommand({
        TableName: tables.clusters,
        Key: { pool, clusterId },
        ConditionExpression: 'attribute_exists(clusterId) AND leaseCount = :zero',
        ExpressionAttributeValues: { ':zero': 0 },
      }),
    ),
  );
}

/**
 * Moves a cluster forward in EMR's lifecycle (an event or a DescribeCluster said so). A move backwards
 * (a late RUNNING event after TERMINATING) is refused, so a terminating cluster never takes leases again.
 * Returns false when refused or the cluster is not registered.
 */
export async function setClusterState(
  dynamo: DynamoDBDocumentClient,
  tables: RegistryTables,
  pool: string,
  clusterId: string,
  state: PoolClusterState,
): Promise<boolean> {
  const from = ALLOWED_FROM[state];
  const names = from.map((_, i) => `:from${i}`);
  return conditional(() =>
    dynamo.send(
      new UpdateCommand({
        TableName: tables.clusters,
        Key: { pool, clusterId },
        UpdateExpression: 'SET #state = :state ADD version :one',
        ConditionExpression: `#kind = :cluster AND #state IN (${names.join(', ')})`,
        ExpressionAttributeNames: { '#state': 'state', '#kind': 'kind' },
        ExpressionAttributeValues: { ':state': state, ':one': 1, ':cluster': 'cluster', ...Object.fromEntries(from.map((s, i) => [names[i], s])) },
      }),
    ),
  );
}

// ---------------------------------------------------------------- leases

/**
 * Takes `lease` under `leaseId` on the cluster, if it is RUNNING or WAITING, has the pool's config hash,
 * has `lease.units` free and a free job slot, and holds no lease of that id. The condition compares the
 * stored unitsInUse with capacity − units rather than a version, so concurrent acquires of different jobs
 * on one cluster both succeed when both fit, and never when only one does.
 * Idempotent: true when the same lease is already held (a retried grant).
 */
export async function acquireLease(
  dynamo: DynamoDBDocumentClient,
  tables: RegistryTables,
  target: Pick<PoolCluster, 'pool' | 'clusterId' | 'capacityUnits' | 'maxJobs' | 'configHash'>,
  leaseId: string,
  lease: Lease,
): Promise<boolean> {
  if (lease.units > target.capacityUnits || lease.units <= 0) return false;
  const taken = await conditional(() =>
    dynamo.send(
      new UpdateCommand({
        TableName: tables.clusters,
        Key: { pool: target.pool, clusterId: target.clusterId },
        UpdateExpression: 'SET leases.#lease = :lease ADD unitsInUse :units, leaseCount :one, version :one',
        ConditionExpression:
          `#kind = :cluster AND #state IN (${READY_NAMES.join(', ')}) AND configHash = :hash AND unitsInUse <= :maxBefore AND leaseCount < :maxJobs AND attribute_not_exists(leases.#lease)`,
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
  const now = await getCluster(dynamo, tables, target.pool, target.clusterId);
  return now?.leases[leaseId]?.units === lease.units;
}

/**
 * Gives a lease back: removes it and subtracts exactly the units it held, in one write conditional on the
 * lease still holding them. `released: false` when it is already gone (released twice, or expired).
 */
export async function releaseLease(
  dynamo: DynamoDBDocumentClient,
  tables: RegistryTables,
  pool: string,
  clusterId: string,
  leaseId: string,
): Promise<{ released: boolean; units: number }> {
  for (let race = 0; race < MAX_RACES; race += 1) {
    const lease = (await getCluster(dynamo, tables, pool, clusterId))?.leases[leaseId];
    if (!lease) return { released: false, units: 0 };
    if (await removeLease(dynamo, tables, pool, clusterId, leaseId, lease, 'leases.#lease.grantedAt = :grantedAt')) {
      return { released: true, units: lease.units };
    }
  }
  throw new Error(`releaseLease: lost ${MAX_RACES} races for lease ${leaseId} on ${clusterId}`);
}

/**
 * Pushes a lease's expiry out to `expiresAt` (the job's heartbeat); never brings it closer. True while the
 * lease exists (its expiry is then at least `expiresAt`); false when it is gone (released or expired).
 */
export async function renewLease(
  dynamo: DynamoDBDocumentClient,
  tables: RegistryTables,
  pool: string,
  clusterId: string,
  leaseId: string,
  expiresAt: number,
): Promise<boolean> {
  const pushed = await conditional(() =>
    dynamo.send(
      new UpdateCommand({
        TableName: tables.clusters,
        Key: { pool, clusterId },
        UpdateExpression: 'SET leases.#lease.expiresAt = :expiresAt ADD version :one',
        ConditionExpression: 'attribute_exists(leases.#lease) AND leases.#lease.expiresAt < :expiresAt',
        ExpressionAttributeNames: { '#lease': leaseId },
        ExpressionAttributeValues: { ':expiresAt': expiresAt, ':one': 1 },
      }),
    ),
  );
  if (pushed) return true;
  const lease = (await getCluster(dynamo, tables, pool, clusterId))?.leases[leaseId];
  return lease !== undefined && lease.expiresAt >= expiresAt;
}

/**
 * Takes back a lease whose heartbeat stopped: only if it still has the expiry that was seen expired, so a
 * renewal that lands in between wins and the lease stays.
 */
export async function expireLease(
  dynamo: DynamoDBDocumentClient,
  tables: RegistryTables,
  pool: string,
  clusterId: string,
  leaseId: string,
  seen: Lease,
): Promise<boolean> {
  return removeLease(dynamo, tables, pool, clusterId, leaseId, seen, 'leases.#lease.expiresAt = :expiresAt');
}

async function removeLease(
  dynamo: DynamoDBDocumentClient,
  tables: RegistryTables,
  pool: string,
  clusterId: string,
  leaseId: string,
  lease: Lease,
  premise: string,
): Promise<boolean> {
  const byPremise: Record<string, unknown> = premise.includes(':grantedAt') ? { ':grantedAt': lease.grantedAt } : { ':expiresAt': lease.expiresAt };
  return conditional(() =>
    dynamo.send(
      new UpdateCommand({
        TableName: tables.clusters,
        Key: { pool, clusterId },
        UpdateExpression: 'REMOVE leases.#lease ADD unitsInUse :minusUnits, leaseCount :minusOne, version :one',
        ConditionExpression: `leases.#lease.units = :units AND ${premise}`,
        ExpressionAttributeNames: { '#lease': leaseId },
        ExpressionAttributeValues: { ':units': lease.units, ':minusUnits': -lease.units, ':minusOne': -1, ':one': 1, ...byPremise },
      }),
    ),
  );
}

// ---------------------------------------------------------------- launches

/** The version launches of `pool` are serialized on (0 before the first launch). */
export async function readLaunchGuard(dynamo: DynamoDBDocumentClient, tables: RegistryTables, pool: string): Promise<number> {
  const out = await dynamo.send(new GetCommand({ TableName: tables.clusters, Key: { pool, clusterId: LAUNCH_GUARD }, ConsistentRead: true }));
  return (out.Item?.version as number | undefined) ?? 0;
}

/**
 * Claims the right to launch on the cluster list read after `seenVersion`: only one dispatcher moves the
 * guard past a version, so two dispatchers that counted the same clusters cannot both launch. The caller
 * writes its placeholders before this, so whoever reads the guard after it also sees them.
 */
export async function advanceLaunchGuard(dynamo: DynamoDBDocumentClient, tables: RegistryTables, pool: string, seenVersion: number): Promise<boolean> {
  return conditional(() =>
    dynamo.send(
      new UpdateCommand({
        TableName: tables.clusters,
        Key: { pool, clusterId: LAUNCH_GUARD },
        UpdateExpression: 'SET version = :next, #kind = :guard',
        ConditionExpression: seenVersion === 0 ? 'attribute_not_exists(version)' : 'version = :seen',
        ExpressionAttributeNames: { '#kind': 'kind' },
        ExpressionAttributeValues: { ':next': seenVersion + 1, ':guard': 'guard', ...(seenVersion === 0 ? {} : { ':seen': seenVersion }) },
      }),
    ),
  );
}

/** A placeholder id for a cluster being launched. */
export function placeholderId(): string {
  return `${PLACEHOLDER_PREFIX}${randomUUID()}`;
}

// ---------------------------------------------------------------- RunJobFlow budget

export async function readBucket(dynamo: DynamoDBDocumentClient, tables: RegistryTables, now: number, policy: BucketPolicy): Promise<{ bucket: BucketState; version: number }> {
  const out = await dynamo.send(new GetCommand({ TableName: tables.clusters, Key: { pool: BUDGET_POOL, clusterId: RUN_JOB_FLOW_BUCKET }, ConsistentRead: true }));
  if (!out.Item) return { bucket: newBucket(now, policy), version: 0 };
  return { bucket: { tokens: out.Item.tokens as number, updatedAt: out.Item.updatedAt as number }, version: out.Item.version as number };
}

/** Takes up to `wanted` RunJobFlow tokens from the shared bucket; returns how many it got (0 = budget spent). */
export async function takeLaunchTokens(dynamo: DynamoDBDocumentClient, tables: RegistryTables, wanted: number, now: number, policy: BucketPolicy): Promise<number> {
  for (let race = 0; race < MAX_RACES; race += 1) {
    const { bucket, version } = await readBucket(dynamo, tables, now, policy);
    const { taken, bucket: after } = takeTokens(bucket, wanted, now, policy);
    if (taken === 0) return 0;
    const written = await conditional(() =>
      dynamo.send(
        new PutCommand({
          TableName: tables.clusters,
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

// ---------------------------------------------------------------- admission queue

/**
 * Parks a job. A retried enqueue of the same entry (same execution and attempt) replaces the task token
 * while the entry is still waiting; an entry a dispatcher is granting is left to that grant.
 */
export async function enqueue(dynamo: DynamoDBDocumentClient, tables: RegistryTables, entry: Omit<QueueEntry, 'state'>): Promise<boolean> {
  return conditional(() =>
    dynamo.send(
      new PutCommand({
        TableName: tables.queue,
        Item: { ...entry, state: 'waiting' },
        ConditionExpression: 'attribute_not_exists(entryId) OR #state = :waiting',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: { ':waiting': 'waiting' },
      }),
    ),
  );
}

export async function listQueue(dynamo: DynamoDBDocumentClient, tables: RegistryTables, pool: string): Promise<QueueEntry[]> {
  const items = await queryAll(dynamo, {
    TableName: tables.queue,
    KeyConditionExpression: '#pool = :pool',
    ExpressionAttributeNames: { '#pool': 'pool' },
    ExpressionAttributeValues: { ':pool': pool },
  });
  return items as unknown as QueueEntry[];
}

/** Claims a waiting entry for a grant on `clusterId`: only one dispatcher wins a given entry and token. */
export async function claimEntry(dynamo: DynamoDBDocumentClient, tables: RegistryTables, entry: QueueEntry, clusterId: string, now: number): Promise<boolean> {
  return conditional(() =>
    dynamo.send(
      new UpdateCommand({
        TableName: tables.queue,
        Key: { pool: entry.pool, entryId: entry.entryId },
        UpdateExpression: 'SET #state = :granting, grantCluster = :cluster, claimedAt = :now',
        ConditionExpression: '#state = :waiting AND taskToken = :token',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: { ':granting': 'granting', ':waiting': 'waiting', ':cluster': clusterId, ':now': now, ':token': entry.taskToken },
      }),
    ),
  );
}

/** Puts a claimed entry back to waiting (its lease could not be taken); only the claim made at `claimedAt`. */
export async function unclaimEntry(dynamo: DynamoDBDocumentClient, tables: RegistryTables, pool: string, entryId: string, claimedAt: number): Promise<boolean> {
  return conditional(() =>
    dynamo.send(
      new UpdateCommand({
        TableName: tables.queue,
        Key: { pool, entryId },
        UpdateExpression: 'SET #state = :waiting REMOVE grantCluster, claimedAt',
        ConditionExpression: '#state = :granting AND claimedAt = :claimedAt',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: { ':waiting': 'waiting', ':granting': 'granting', ':claimedAt': claimedAt },
      }),
    ),
  );
}

/** Deletes a claimed entry once its waiter has its lease (or is gone); only the claim made at `claimedAt`. */
export async function removeEntry(dynamo: DynamoDBDocumentClient, tables: RegistryTables, pool: string, entryId: string, claimedAt: number): Promise<boolean> {
  return conditional(() =>
    dynamo.send(
      new DeleteCommand({
        TableName: tables.queue,
        Key: { pool, entryId },
        ConditionExpression: '#state = :granting AND claimedAt = :claimedAt',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: { ':granting': 'granting', ':claimedAt': claimedAt },
      }),
    ),
  );
}

/** Deletes a waiting entry whose execution gave up waiting (its wait timed out or it was stopped). */
export async function withdrawEntry(dynamo: DynamoDBDocumentClient, tables: RegistryTables, pool: string, entryId: string): Promise<boolean> {
  return conditional(() =>
    dynamo.send(
      new DeleteCommand({
        TableName: tables.queue,
        Key: { pool, entryId },
        ConditionExpression: '#state = :waiting',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: { ':waiting': 'waiting' },
      }),
    ),
  );
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
