/**
 * The in-memory store's clusters, leases and launch guard and API token buckets (memoryStore.ts describes the whole): each
 * cluster item is frozen and every write replaces it with a new one (copy on write).
 */
import { CLUSTER_READY_STATES } from '../contract';
import { allowedFrom, newBucket, takeTokens, type BucketPolicy, type BucketState, type Lease, type PoolCluster, type PoolClusterState } from '../domain/pools';
import type { ApiBucket, LeaseTarget, NewCluster } from './store';

/** A frozen cluster item: the stored value and what readers get, replaced (never changed) by each write. */
function frozen(cluster: PoolCluster): PoolCluster {
  Object.freeze(cluster.leases);
  return Object.freeze(cluster);
}

/** The cluster, lease and launch operations of RegistryStore (the queue's are MemoryRegistryStore's). */
export class MemoryClusterStore {
  private readonly clusters = new Map<string, Map<string, PoolCluster>>();
  private readonly guards = new Map<string, number>();
  private readonly buckets = new Map<ApiBucket, BucketState>();

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

  async readBucket(api: ApiBucket, now: number, policy: BucketPolicy): Promise<BucketState> {
    const bucket = this.buckets.get(api);
    return bucket ? { ...bucket } : newBucket(now, policy);
  }

  async takeApiTokens(api: ApiBucket, wanted: number, now: number, policy: BucketPolicy): Promise<number> {
    const { taken, bucket } = takeTokens(this.buckets.get(api) ?? newBucket(now, policy), wanted, now, policy);
    if (taken === 0) return 0;
    this.buckets.set(api, bucket);
    return taken;
  }
}
