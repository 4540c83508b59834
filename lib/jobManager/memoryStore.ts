/**
 * The job store in memory: the capacity planner's registry (under its virtual clock) and the fast property
 * tests'. Each operation checks the same premise as its DynamoDB write in lib/aws/registry.ts and applies it
 * whole or not at all. Reads give snapshots that never change under the reader, as DynamoDB's do: a cluster
 * item is frozen and every write replaces it with a new one (copy on write, so a dispatch reading a pool's
 * clusters copies nothing), queue entries and step tokens are copied out. A caller deciding on a stale
 * snapshot is refused by the write, never corrupts the store. The contract test runs the same cases against both.
 *
 * The queue of each pool and priority level is kept sorted by queue key (enqueue time, then entry id), the
 * order DynamoDB's index serves, so reading a level's head costs the head, not the queue.
 */
import { CLUSTER_READY_STATES } from '../contract';
import {
  allowedFrom,
  heartbeatKey,
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
import type { Settlement } from '../domain/stepCompletion';
import type { JobStore, LeaseTarget, NewCluster, QueuePage, StepTokenItem } from './store';
import type { JobManagerPorts } from './jobManager';

interface Level {
  /** Waiting entries' queue keys, ascending. */
  keys: string[];
  byKey: Map<string, QueueEntry>;
}

type EntryRef = Pick<QueueEntry, 'pool' | 'priority' | 'entryId'>;

/** A frozen cluster item: the stored value and what readers get, replaced (never changed) by each write. */
function frozen(cluster: PoolCluster): PoolCluster {
  Object.freeze(cluster.leases);
  return Object.freeze(cluster);
}

function lowerBound(keys: string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (keys[mid] < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class MemoryJobStore implements JobStore {
  private readonly clusters = new Map<string, Map<string, PoolCluster>>();
  private readonly guards = new Map<string, number>();
  private bucket: { state: BucketState; version: number } | null = null;
  /** Per pool, `pool#priority` + entryId → entry: the queue table's items. */
  private readonly queues = new Map<string, Map<string, QueueEntry>>();
  private readonly levels = new Map<string, Level>();
  private readonly granting = new Set<QueueEntry>();
  /** Per `pool#priority`, heartbeat keys (heartbeatDue, entry id) ascending, of entries that have one. */
  private readonly heartbeatKeys = new Map<string, string[]>();
  private readonly steps = new Map<string, Map<string, StepTokenItem>>();

  // ------------------------------------------------------------ clusters

  private poolClusters(pool: string): Map<string, PoolCluster> {
    let clusters = this.clusters.get(pool);
    if (!clusters) {
      clusters = new Map();
      this.clusters.set(pool, clusters);
    }
    return clusters;
  }

  async listClusters(pool: string): Promise<PoolCluster[]> {
    return [...this.poolClusters(pool).values()].sort((a, b) => (a.clusterId < b.clusterId ? -1 : 1));
  }

  async getCluster(pool: string, clusterId: string): Promise<PoolCluster | null> {
    return this.poolClusters(pool).get(clusterId) ?? null;
  }

  /** Replaces a cluster item with `change` applied to a copy of it (its leases copied too when they change). */
  private write(cluster: PoolCluster, change: Partial<PoolCluster>): void {
    this.poolClusters(cluster.pool).set(cluster.clusterId, frozen({ ...cluster, ...change, version: cluster.version + 1 }));
  }

  async registerCluster(cluster: NewCluster): Promise<boolean> {
    const clusters = this.poolClusters(cluster.pool);
    if (clusters.has(cluster.clusterId)) return false;
    clusters.set(cluster.clusterId, frozen({ ...cluster, unitsInUse: 0, leases: {}, version: 1 }));
    return true;
  }

  async removeCluster(pool: string, clusterId: string): Promise<boolean> {
    const clusters = this.poolClusters(pool);
    const cluster = clusters.get(clusterId);
    if (!cluster || Object.keys(cluster.leases).length > 0) return false;
    clusters.delete(clusterId);
    return true;
  }

  async setClusterState(pool: string, clusterId: string, state: PoolClusterState): Promise<boolean> {
    const cluster = this.poolClusters(pool).get(clusterId);
    if (!cluster || !allowedFrom(state).includes(cluster.state)) return false;
    this.write(cluster, { state });
    return true;
  }

  // ------------------------------------------------------------ leases

  async lease(target: LeaseTarget, leaseId: string, lease: Lease): Promise<boolean> {
    if (lease.units > target.capacityUnits || lease.units <= 0) return false;
    const cluster = this.poolClusters(target.pool).get(target.clusterId);
    if (!cluster) return false;
    if (cluster.leases[leaseId]) return cluster.leases[leaseId].units === lease.units;
    const fits =
      CLUSTER_READY_STATES.has(cluster.state) &&
      cluster.configHash === target.configHash &&
      cluster.unitsInUse <= target.capacityUnits - lease.units &&
      Object.keys(cluster.leases).length < target.maxJobs;
    if (!fits) return false;
    this.write(cluster, { leases: { ...cluster.leases, [leaseId]: Object.freeze({ ...lease }) }, unitsInUse: cluster.unitsInUse + lease.units });
    return true;
  }

  async release(pool: string, clusterId: string, leaseId: string): Promise<{ released: boolean; units: number }> {
    const cluster = this.poolClusters(pool).get(clusterId);
    const lease = cluster?.leases[leaseId];
    if (!cluster || !lease) return { released: false, units: 0 };
    this.dropLease(cluster, leaseId, lease);
    return { released: true, units: lease.units };
  }

  async lapse(pool: string, clusterId: string, leaseId: string, at: number): Promise<boolean> {
    const cluster = this.poolClusters(pool).get(clusterId);
    const lease = cluster?.leases[leaseId];
    if (!cluster || !lease) return false;
    if (lease.expiresAt > at) this.write(cluster, { leases: { ...cluster.leases, [leaseId]: Object.freeze({ ...lease, expiresAt: at }) } });
    return true;
  }

  async expire(pool: string, clusterId: string, leaseId: string, seen: Lease): Promise<boolean> {
    const cluster = this.poolClusters(pool).get(clusterId);
    const lease = cluster?.leases[leaseId];
    if (!cluster || !lease || lease.units !== seen.units || lease.expiresAt !== seen.expiresAt) return false;
    this.dropLease(cluster, leaseId, lease);
    return true;
  }

  private dropLease(cluster: PoolCluster, leaseId: string, lease: Lease): void {
    const { [leaseId]: _dropped, ...leases } = cluster.leases;
    this.write(cluster, { leases, unitsInUse: cluster.unitsInUse - lease.units });
  }

  // ------------------------------------------------------------ launches

  async readLaunchGuard(pool: string): Promise<number> {
    return this.guards.get(pool) ?? 0;
  }

  async advanceLaunchGuard(pool: string, seenVersion: number): Promise<boolean> {
    if ((this.guards.get(pool) ?? 0) !== seenVersion) return false;
    this.guards.set(pool, seenVersion + 1);
    return true;
  }

  async readBucket(now: number, policy: BucketPolicy): Promise<BucketState> {
    return this.bucket ? { ...this.bucket.state } : newBucket(now, policy);
  }

  async takeLaunchTokens(wanted: number, now: number, policy: BucketPolicy): Promise<number> {
    const { taken, bucket } = takeTokens(this.bucket?.state ?? newBucket(now, policy), wanted, now, policy);
    if (taken === 0) return 0;
    this.bucket = { state: bucket, version: (this.bucket?.version ?? 0) + 1 };
    return taken;
  }

  // ------------------------------------------------------------ admission queue

  private level(pool: string, priority: Priority): Level {
    const name = `${pool}#${priority}`;
    let level = this.levels.get(name);
    if (!level) {
      level = { keys: [], byKey: new Map() };
      this.levels.set(name, level);
    }
    return level;
  }

  private itemKey(entry: EntryRef): string {
    return `${entry.priority}\u0000${entry.entryId}`;
  }

  private entriesOf(pool: string): Map<string, QueueEntry> {
    let entries = this.queues.get(pool);
    if (!entries) {
      entries = new Map();
      this.queues.set(pool, entries);
    }
    return entries;
  }

  private addWaiting(entry: QueueEntry): void {
    const level = this.level(entry.pool, entry.priority);
    const key = queueKey(entry);
    if (!level.byKey.has(key)) level.keys.splice(lowerBound(level.keys, key), 0, key);
    level.byKey.set(key, entry);
  }

  private removeWaiting(entry: QueueEntry): void {
    const level = this.level(entry.pool, entry.priority);
    const key = queueKey(entry);
    if (!level.byKey.delete(key)) return;
    const at = lowerBound(level.keys, key);
    if (level.keys[at] === key) level.keys.splice(at, 1);
  }

  private heartbeatLevel(entry: Pick<QueueEntry, 'pool' | 'priority'>): string[] {
    const name = `${entry.pool}#${entry.priority}`;
    let keys = this.heartbeatKeys.get(name);
    if (!keys) {
      keys = [];
      this.heartbeatKeys.set(name, keys);
    }
    return keys;
  }

  private addHeartbeat(entry: QueueEntry): void {
    if (entry.heartbeatDue === undefined) return;
    const keys = this.heartbeatLevel(entry);
    const key = heartbeatKey(entry.heartbeatDue, entry.entryId);
    keys.splice(lowerBound(keys, key), 0, key);
  }

  private removeHeartbeat(entry: QueueEntry): void {
    if (entry.heartbeatDue === undefined) return;
    const keys = this.heartbeatLevel(entry);
    const at = lowerBound(keys, heartbeatKey(entry.heartbeatDue, entry.entryId));
    if (keys[at] === heartbeatKey(entry.heartbeatDue, entry.entryId)) keys.splice(at, 1);
  }

  async park(entry: Omit<QueueEntry, 'state'>): Promise<boolean> {
    const entries = this.entriesOf(entry.pool);
    const key = this.itemKey(entry);
    const held = entries.get(key);
    if (held && held.state !== 'waiting') {
      // A retried park (its task token is new) while a grant is in flight: the grant's sweep tells the new token.
      held.taskToken = entry.taskToken;
      return false;
    }
    if (held) {
      this.removeWaiting(held);
      this.removeHeartbeat(held);
    }
    const parked: QueueEntry = { ...entry, state: 'waiting' };
    entries.set(key, parked);
    this.addWaiting(parked);
    this.addHeartbeat(parked);
    return true;
  }

  async heartbeatsDue(pool: string, priority: Priority, now: number, limit: number, after?: string): Promise<QueuePage> {
    const keys = this.heartbeatLevel({ pool, priority });
    const from = after === undefined ? 0 : lowerBound(keys, `${after}\u0000`);
    const end = lowerBound(keys, heartbeatKey(now, '\uffff'));
    const page = keys.slice(from, Math.min(end, from + limit));
    const entries = this.entriesOf(pool);
    const due = page.map((key) => ({ ...(entries.get(`${priority}\u0000${key.slice(key.indexOf('#') + 1)}`) as QueueEntry) }));
    return { entries: due, ...(page.length === limit ? { next: page[page.length - 1] } : {}) };
  }

  async heartbeatSent(entry: Pick<QueueEntry, 'pool' | 'priority' | 'entryId' | 'taskToken'>, nextDue: number): Promise<boolean> {
    const held = this.entriesOf(entry.pool).get(this.itemKey(entry));
    if (!held || held.taskToken !== entry.taskToken) return false;
    this.removeHeartbeat(held);
    held.heartbeatDue = nextDue;
    this.addHeartbeat(held);
    return true;
  }

  async queueHead(pool: string, priority: Priority, limit: number, after?: string): Promise<QueuePage> {
    const level = this.level(pool, priority);
    const from = after === undefined ? 0 : lowerBound(level.keys, `${after}\u0000`);
    const keys = level.keys.slice(from, from + limit);
    const entries = keys.map((key) => ({ ...(level.byKey.get(key) as QueueEntry) }));
    // As DynamoDB's Limit: a full page says where the next starts, even when nothing follows.
    return { entries, ...(keys.length === limit ? { next: keys[keys.length - 1] } : {}) };
  }

  async grantingEntries(pool: string): Promise<QueueEntry[]> {
    return [...this.granting].filter((entry) => entry.pool === pool).map((entry) => ({ ...entry }));
  }

  async listQueue(pool: string): Promise<QueueEntry[]> {
    const copies: QueueEntry[] = [];
    for (const entry of this.entriesOf(pool).values()) copies.push({ ...entry });
    return copies;
  }

  async claim(entry: QueueEntry, clusterId: string, claimedAt: number): Promise<boolean> {
    const held = this.entriesOf(entry.pool).get(this.itemKey(entry));
    if (held?.state !== 'waiting' || held.taskToken !== entry.taskToken) return false;
    this.removeWaiting(held);
    held.state = 'granting';
    held.grantCluster = clusterId;
    held.claimedAt = claimedAt;
    this.granting.add(held);
    return true;
  }

  async reclaim(entry: EntryRef, claimedAt: number, reclaimedAt: number): Promise<boolean> {
    const held = this.entriesOf(entry.pool).get(this.itemKey(entry));
    if (held?.state !== 'granting' || held.claimedAt !== claimedAt) return false;
    held.claimedAt = reclaimedAt;
    return true;
  }

  async unclaim(entry: EntryRef, claimedAt: number): Promise<boolean> {
    const held = this.entriesOf(entry.pool).get(this.itemKey(entry));
    if (held?.state !== 'granting' || held.claimedAt !== claimedAt) return false;
    this.granting.delete(held);
    held.state = 'waiting';
    delete held.grantCluster;
    delete held.claimedAt;
    this.addWaiting(held);
    return true;
  }

  async granted(entry: EntryRef, claimedAt: number): Promise<boolean> {
    const key = this.itemKey(entry);
    const held = this.entriesOf(entry.pool).get(key);
    if (held?.state !== 'granting' || held.claimedAt !== claimedAt) return false;
    this.granting.delete(held);
    this.removeHeartbeat(held);
    this.entriesOf(entry.pool).delete(key);
    return true;
  }

  async withdraw(entry: EntryRef): Promise<boolean> {
    const key = this.itemKey(entry);
    const held = this.entriesOf(entry.pool).get(key);
    if (held?.state !== 'waiting') return false;
    this.removeWaiting(held);
    this.removeHeartbeat(held);
    this.entriesOf(entry.pool).delete(key);
    return true;
  }

  // ------------------------------------------------------------ step tokens

  private clusterSteps(clusterId: string): Map<string, StepTokenItem> {
    let steps = this.steps.get(clusterId);
    if (!steps) {
      steps = new Map();
      this.steps.set(clusterId, steps);
    }
    return steps;
  }

  async mapStep(item: StepTokenItem): Promise<void> {
    this.clusterSteps(item.clusterId).set(item.stepId, { ...item });
  }

  async getStep(clusterId: string, stepId: string): Promise<StepTokenItem | null> {
    const item = this.clusterSteps(clusterId).get(stepId);
    return item ? { ...item } : null;
  }

  async attachToken(clusterId: string, stepId: string, taskToken: string): Promise<StepTokenItem | null> {
    const item = this.clusterSteps(clusterId).get(stepId);
    if (!item) return null;
    item.taskToken = taskToken;
    return { ...item };
  }

  async takeStep(clusterId: string, stepId: string, takenAt: number, staleBefore: number): Promise<StepTokenItem | null> {
    const item = this.clusterSteps(clusterId).get(stepId);
    if (!item || (item.takenAt !== undefined && item.takenAt > staleBefore)) return null;
    item.takenAt = takenAt;
    return { ...item };
  }

  async restoreStep(item: StepTokenItem): Promise<boolean> {
    const mapped = this.clusterSteps(item.clusterId).get(item.stepId);
    if (!mapped || mapped.takenAt === undefined || mapped.takenAt !== item.takenAt) return false;
    delete mapped.takenAt;
    return true;
  }

  async holdStep(item: StepTokenItem, settlement: Settlement, heldAt: number): Promise<boolean> {
    const mapped = this.clusterSteps(item.clusterId).get(item.stepId);
    if (!mapped || mapped.takenAt === undefined || mapped.takenAt !== item.takenAt || mapped.taskToken !== undefined) return false;
    mapped.held = settlement;
    mapped.heldAt = heldAt;
    delete mapped.takenAt;
    return true;
  }

  async noteStepStarted(clusterId: string, stepId: string, at: string): Promise<boolean> {
    const item = this.clusterSteps(clusterId).get(stepId);
    if (!item) return false;
    item.startedAt = at;
    return true;
  }

  async mappedSteps(clusterId: string): Promise<StepTokenItem[]> {
    return [...this.clusterSteps(clusterId).values()].map((item) => ({ ...item }));
  }

  async liveSteps(clusterId: string, execution: string): Promise<string[]> {
    return [...this.clusterSteps(clusterId).values()]
      .filter((item) => item.execution === execution && item.takenAt === undefined && item.held === undefined)
      .map((item) => item.stepId);
  }

  async allMappedSteps(): Promise<StepTokenItem[]> {
    const all: StepTokenItem[] = [];
    for (const steps of this.steps.values()) for (const item of steps.values()) all.push({ ...item });
    return all;
  }

  async dropStep(clusterId: string, stepId: string): Promise<void> {
    this.clusterSteps(clusterId).delete(stepId);
  }
}

/** Both halves of the store, for JobManagerPorts. */
export function memoryStores(store: JobStore = new MemoryJobStore()): Pick<JobManagerPorts, 'registry' | 'stepTokens'> {
  return { registry: store, stepTokens: store };
}
