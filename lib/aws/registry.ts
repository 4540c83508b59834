/**
 * The job store's registry half (lib/jobManager/store.ts RegistryStore) in DynamoDB (lib-dynamodb); the
 * step tokens are in lib/aws/stepTokenTable.ts. Every write is one conditional
 * UpdateItem/PutItem/DeleteItem (no transactions: dynalite has none), so no
 * interleaving of park / grant / release / expire can overbook a cluster or leak a unit: a write
 * whose premise changed fails its condition and the caller re-reads.
 *
 * Tables (serverless.yml; the local runner creates them from there, test/support/dynalite.ts likewise):
 *   CLUSTER_REGISTRY_TABLE  key pool (S, HASH) + clusterId (S, RANGE)
 *     kind 'cluster'  one per pool cluster: PoolCluster (lib/domain/pools.ts) + leaseCount. A cluster being
 *                     launched is a placeholder `pending-<id>` in STARTING until RunJobFlow returns its id.
 *     kind 'guard'    clusterId '#launch': a version that launches of the pool are serialized on.
 *     kind 'queued'   clusterId '#queued': the pool's queued totals, waiting units and entries per level
 *                     (./registryTally; lib/jobManager/store.ts says how they are kept and repaired).
 *     kind 'bucket'   pool '#budget', clusterId the API ('RunJobFlow', 'AddJobFlowSteps', 'StartJobRun'): its token bucket (./apiBudget.ts)
 *                     (tokens, updatedAt, version), shared by every dispatcher of the account.
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
 *
 * The admission queue's items are lib/aws/registryQueue.ts; the cluster, guard and bucket items are here.
 */
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { CLUSTER_READY_STATES } from '../contract';
import { allowedFrom, type BucketPolicy, type BucketState, type Lease, type PoolCluster, type PoolClusterState, type QueuedTotals } from '../domain/pools';
import type { ApiBucket, LeaseTarget, NewCluster, RegistryStore } from '../jobManager/store';
import { readApiBucket, takeApiTokens } from './apiBudget';
import { conditional } from './conditional';
import { lapseLease } from './leaseLapse';
import { DynamoQueue, queryAll, type RegistryTables } from './registryQueue';
import { QUEUED_TALLY_KIND, toTally } from './registryTally';

export { listQueue, QUEUE_INDEX, queueLevel, type RegistryTables } from './registryQueue';

const LAUNCH_GUARD = '#launch';
/** Optimistic writes retried at most this often before the caller is told it lost the race. */
const MAX_RACES = 8;

/** `:ready0, :ready1` and their values: the states a lease may be taken in. */
const READY_NAMES = [...CLUSTER_READY_STATES].map((_, i) => `:ready${i}`);
const READY_VALUES = Object.fromEntries([...CLUSTER_READY_STATES].map((state, i) => [READY_NAMES[i], state]));

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

export class DynamoRegistry extends DynamoQueue implements RegistryStore {
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

  readBucket(api: ApiBucket, now: number, policy: BucketPolicy): Promise<BucketState> {
    return readApiBucket(this.dynamo, this.tables, api, now, policy);
  }

  takeApiTokens(api: ApiBucket, wanted: number, now: number, policy: BucketPolicy): Promise<number> {
    return takeApiTokens(this.dynamo, this.tables, api, wanted, now, policy);
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

/**
 * A pool's clusters and queued totals in one Query of its partition (PlaceJob's read: a pool's predicted wait
 * needs no entry of its queue, however deep the queue).
 */
export async function readPool(
  dynamo: DynamoDBDocumentClient,
  tables: Pick<RegistryTables, 'clusters'>,
  pool: string,
): Promise<{ clusters: PoolCluster[]; queued: QueuedTotals }> {
  const items = await queryAll(dynamo, {
    TableName: tables.clusters,
    KeyConditionExpression: '#pool = :pool',
    FilterExpression: '#kind IN (:cluster, :queued)',
    ExpressionAttributeNames: { '#pool': 'pool', '#kind': 'kind' },
    ExpressionAttributeValues: { ':pool': pool, ':cluster': 'cluster', ':queued': QUEUED_TALLY_KIND },
  });
  return {
    clusters: items.filter((item) => item.kind === 'cluster').map(toCluster),
    queued: toTally(items.find((item) => item.kind === QUEUED_TALLY_KIND)).levels,
  };
}
