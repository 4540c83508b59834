/**
 * The job manager's arithmetic: pure functions over plain data, no SDK, no environment, no clock of their
 * own. Time is always an argument (`now`, epoch milliseconds), so the capacity-planner simulator can run
 * the same code under a virtual clock.
 *
 * Offers
 *   poolConfigHash(pool)                       the hash a cluster must carry (tag TAG.configHash) to join a pool
 *   leaseId / parseLeaseId                     the one id of a job's lease and of its queue entry, and back
 *   freeUnits / freeJobSlots / canHost         lease arithmetic on one cluster
 *   leaseExpiry / expiredLeaseIds              when a lease lapses; leases whose heartbeat stopped
 *   chooseCluster(clusters, units, hash)       where a job goes now (best fit on a ready member), or null
 *   effectivePriority / orderQueue             the admission queue's order: priority with bounded aging
 *   queueKey / PRIORITIES                      the order DynamoDB serves each priority level in
 *   QueuedTotals / queuedTotalsOf              a pool's waiting units and entries per level (the registry's totals)
 *   allowedFrom(state)                         from which states EMR's lifecycle may move a cluster to `state`
 *   refillBucket / takeTokens                  the RunJobFlow and AddJobFlowSteps token buckets
 *   planDispatch(input)                        which waiters to grant on which cluster, how many clusters to launch
 *
 * How it is used: the job manager (lib/jobManager/jobManager.ts) reads its store, calls these to decide,
 * and applies each decision with a conditional write that fails if the data it decided on changed, so a
 * stale decision is refused, never applied.
 */
import { createHash } from 'node:crypto';
import { CLUSTER_ACTIVE_STATES, CLUSTER_ENDED_STATES, CLUSTER_READY_STATES, CLUSTER_STARTING_STATES, type ClusterState } from '../contract';
import { PRIORITY_LEVELS, priorityRank } from './priority';
import type { PoolDefinition } from '../config/pools';
import type { Priority } from './types';

/** EMR cluster states a registry item can be in: every state of EMR's lifecycle (lib/contract.ts). */
export type PoolClusterState = ClusterState;

/** Units one running job holds on one cluster, until released or expired. */
export interface Lease {
  execution: string;
  units: number;
  grantedAt: number;
  /**
   * Epoch ms, fixed at the grant (leases are not renewed). Past it, the dispatcher takes the units back, once
   * no step of its execution may still run on the cluster.
   */
  expiresAt: number;
}

/** One registry item: a cluster of a pool. Invariant: unitsInUse = Σ leases[*].units ≤ capacityUnits. */
export interface PoolCluster {
  pool: string;
  clusterId: string;
  state: PoolClusterState;
  configHash: string;
  capacityUnits: number;
  maxJobs: number;
  unitsInUse: number;
  /** Keyed by leaseId(execution, attempt). */
  leases: Record<string, Lease>;
  launchedAt: number;
  /**
   * Bumped by every write. No decision reads it (a state change is conditional on the state it leaves,
   * a lease on the units in use): it orders write responses that arrive out of order (local/runner/registryObserver.ts).
   */
  version: number;
}

/** A parked job: its execution waits on `taskToken` until the dispatcher grants it a lease. */
export interface QueueEntry {
  pool: string;
  /** leaseId(execution, attempt): the lease it will get has the same id. */
  entryId: string;
  execution: string;
  priority: Priority;
  units: number;
  enqueuedAt: number;
  taskToken: string;
  /**
   * Seconds the job may hold its lease without a heartbeat on top of leaseSeconds: its step's timeout, so a
   * job whose step cannot send heartbeats (run-job's addStep.sync) never loses its lease while it runs.
   */
  holdSeconds?: number;
  /**
   * Epoch ms by which the parked execution needs its next SendTaskHeartbeat (AcquireCapacity's
   * HeartbeatSeconds counts from the park and from each heartbeat): the reconcile sweep reads only the
   * entries due, in this order, so its work follows the heartbeats owed, not the queue's length.
   */
  heartbeatDue?: number;
  /**
   * The job's AddJobFlowSteps step (run-job's RunPooledStep step), when it came with the park: the dispatcher
   * submits it with the other steps it grants on the same cluster, in one call.
   */
  step?: { Name?: string } & Record<string, unknown>;
  /** `granting`: a dispatcher claimed it for `grantCluster` at `claimedAt` and is taking the lease. */
  state: 'waiting' | 'granting';
  grantCluster?: string;
  claimedAt?: number;
}

export interface BucketPolicy {
  ratePerSecond: number;
  burst: number;
}

export interface BucketState {
  tokens: number;
  /** Epoch ms of the last refill. */
  updatedAt: number;
}

export interface Grant {
  entryId: string;
  clusterId: string;
  units: number;
}

export interface DispatchPlan {
  /** In queue order; each fits the cluster as left by the grants before it. */
  grants: Grant[];
  /** New clusters to start now (already within maxClusters and the token budget given). */
  launches: number;
  /** Units of waiting entries left ungranted. */
  unmetUnits: number;
  /** Waiting entries left ungranted (each needs a job slot). */
  unmetEntries: number;
  /** Units ready clusters have free after the grants, plus the capacity of clusters still starting. */
  comingUnits: number;
  /** Entry the queue waits on: the first it could not place (later entries are not granted past it). */
  blockedOn: string | null;
}

export interface DispatchInput {
  /** Without maxJobsPerCluster, job slots do not size launches (units alone do). */
  pool: Pick<PoolDefinition, 'capacityUnits' | 'minClusters' | 'maxClusters'> & Partial<Pick<PoolDefinition, 'maxJobsPerCluster'>>;
  configHash: string;
  clusters: PoolCluster[];
  queue: QueueEntry[];
  now: number;
  agingSecondsPerLevel: number;
  /** Past this wait an entry ranks above every entry that has not waited as long (see effectivePriority). */
  maxWaitSeconds: number;
  /** RunJobFlow tokens available now (whole tokens count; see takeTokens). */
  launchTokens: number;
  /**
   * Units and entries of every waiting entry of the pool, read or not (the registry's queued totals): what is
   * left unmet is this less what is granted. The entries given stay a floor, so totals that lag never launch
   * fewer clusters than the entries read ask for. Absent: `queue` is the whole queue.
   */
  queued?: { units: number; entries: number };
}

/** A pool's waiting units and entries per priority level: the registry's queued totals. */
export type QueuedTotals = Record<Priority, { units: number; entries: number }>;

/** The totals of the waiting entries among `entries`: what a recount writes, and what the totals must equal. */
export function queuedTotalsOf(entries: Array<Pick<QueueEntry, 'priority' | 'units' | 'state'>>): QueuedTotals {
  const totals = Object.fromEntries(PRIORITY_LEVELS.map((priority) => [priority, { units: 0, entries: 0 }])) as QueuedTotals;
  for (const entry of entries) {
    if (entry.state !== 'waiting') continue;
    totals[entry.priority].units += entry.units;
    totals[entry.priority].entries += 1;
  }
  return totals;
}

/** Waiting units and entries of every level together. */
export function queuedSum(totals: QueuedTotals): { units: number; entries: number } {
  const levels = Object.values(totals);
  return { units: levels.reduce((sum, level) => sum + level.units, 0), entries: levels.reduce((sum, level) => sum + level.entries, 0) };
}

/** Every priority level, highest first: the queue keeps one ordered partition per level. */
export const PRIORITIES: readonly Priority[] = [...PRIORITY_LEVELS].reverse();
/** Aging lifts a waiting entry by at most this many levels. */
export const MAX_AGING_LEVELS = 1;
/** Above every level aging can reach: where an entry past its maximum wait ranks. */
const OVERDUE_LEVEL = priorityRank('high') + MAX_AGING_LEVELS + 1;

/** EMR's lifecycle only goes forward: from which states a cluster may move to each state. */
const ACTIVE_STATES = [...CLUSTER_ACTIVE_STATES] as PoolClusterState[];
const ALLOWED_FROM: Record<PoolClusterState, PoolClusterState[]> = {
  STARTING: ['STARTING'],
  BOOTSTRAPPING: [...CLUSTER_STARTING_STATES] as PoolClusterState[],
  RUNNING: ACTIVE_STATES,
  WAITING: ACTIVE_STATES,
  TERMINATING: [...ACTIVE_STATES, 'TERMINATING'],
  TERMINATED: [...ACTIVE_STATES, 'TERMINATING'],
  TERMINATED_WITH_ERRORS: [...ACTIVE_STATES, 'TERMINATING'],
};

/** The states a cluster may be in for a move to `state` to be recorded (a late RUNNING after TERMINATING is not). */
export function allowedFrom(state: PoolClusterState): readonly PoolClusterState[] {
  return ALLOWED_FROM[state];
}

/**
 * The configuration a cluster must have been launched with to belong to the pool: release, applications,
 * configurations and fleet template. Sizes and limits are not in it: they can change without replacing
 * clusters. Keys are sorted so that reordering the JSON does not change the hash.
 */
export function poolConfigHash(pool: Pick<PoolDefinition, 'releaseLabel' | 'applications' | 'configurations' | 'fleets'>): string {
  const canonical = JSON.stringify(
    { releaseLabel: pool.releaseLabel, applications: pool.applications, configurations: pool.configurations, fleets: pool.fleets },
    (_key, value: unknown) =>
      value && typeof value === 'object' && !Array.isArray(value)
        ? Object.fromEntries(Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
        : value,
  );
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

/** One execution's attempt holds at most one lease; its queue entry carries the same id. */
export function leaseId(execution: string, attempt: number): string {
  return `${leaseIdPrefix(execution)}${attempt}`;
}

/** What every lease id (and queue entry id) of an execution starts with, for a key-prefix query. */
export function leaseIdPrefix(execution: string): string {
  return `${execution}#`;
}

/** The execution and attempt of a lease id (execution names may not contain '#'; the last one splits). */
export function parseLeaseId(id: string): { execution: string; attempt: number } | null {
  const at = id.lastIndexOf('#');
  const attempt = Number(id.slice(at + 1));
  if (at <= 0 || !Number.isInteger(attempt) || attempt < 1) return null;
  return { execution: id.slice(0, at), attempt };
}

/**
 * A waiting entry's place within its priority level: enqueue time (zero-padded epoch ms, so strings sort
 * as numbers), then entry id. The DynamoDB queue's index sorts on it; the in-memory store keeps it sorted.
 */
export function queueKey(entry: Pick<QueueEntry, 'enqueuedAt' | 'entryId'>): string {
  return `${String(Math.max(0, Math.floor(entry.enqueuedAt))).padStart(15, '0')}#${entry.entryId}`;
}

/** An entry's place in the heartbeat order: heartbeatDue (zero-padded epoch ms), then entry id. */
export function heartbeatKey(heartbeatDue: number, entryId: string): string {
  return `${String(Math.max(0, Math.floor(heartbeatDue))).padStart(15, '0')}#${entryId}`;
}

export function isAlive(cluster: Pick<PoolCluster, 'state'>): boolean {
  return !CLUSTER_ENDED_STATES.has(cluster.state);
}

export function isStarting(cluster: Pick<PoolCluster, 'state'>): boolean {
  return CLUSTER_STARTING_STATES.has(cluster.state);
}

export function freeUnits(cluster: Pick<PoolCluster, 'capacityUnits' | 'unitsInUse'>): number {
  return Math.max(0, cluster.capacityUnits - cluster.unitsInUse);
}

export function freeJobSlots(cluster: Pick<PoolCluster, 'maxJobs' | 'leases'>): number {
  return Math.max(0, cluster.maxJobs - Object.keys(cluster.leases).length);
}

/** Ready (RUNNING or WAITING: never STARTING, never TERMINATING), same configuration, and room for the job. */
export function canHost(cluster: PoolCluster, units: number, configHash: string): boolean {
  return CLUSTER_READY_STATES.has(cluster.state) && cluster.configHash === configHash && freeUnits(cluster) >= units && freeJobSlots(cluster) >= 1;
}

/** Epoch ms at which a lease granted now lapses: leaseSeconds + holdSeconds (the step's timeout). */
export function leaseExpiry(entry: Pick<QueueEntry, 'holdSeconds'>, now: number, leaseSeconds: number): number {
  return now + (leaseSeconds + (entry.holdSeconds ?? 0)) * 1000;
}

/** The lease ids on `cluster` whose expiry has passed. */
export function expiredLeaseIds(cluster: Pick<PoolCluster, 'leases'>, now: number): string[] {
  return Object.entries(cluster.leases)
    .filter(([, lease]) => lease.expiresAt <= now)
    .map(([id]) => id)
    .sort();
}

/**
 * Best fit: the member left with the fewest free units after taking the job. Packing jobs onto the fullest
 * cluster that fits keeps the others empty, and an empty cluster is what EMR managed scaling shrinks to its
 * minimum and what the idle timeout finally terminates; spreading jobs evenly would keep every cluster
 * half busy and at full size. It also keeps large holes open for large jobs. Ties go to the lower cluster
 * id, so the choice is deterministic (the capacity planner replays it).
 */
export function chooseCluster(clusters: PoolCluster[], units: number, configHash: string): PoolCluster | null {
  let best: PoolCluster | null = null;
  for (const cluster of clusters) {
    if (!canHost(cluster, units, configHash)) continue;
    if (!best || freeUnits(cluster) < freeUnits(best) || (freeUnits(cluster) === freeUnits(best) && cluster.clusterId < best.clusterId)) {
      best = cluster;
    }
  }
  return best;
}

export interface AgingPolicy {
  agingSecondsPerLevel: number;
  maxWaitSeconds: number;
}

/**
 * Priority level plus aging, bounded: a waiting entry gains one level per `agingSecondsPerLevel` but at most
 * MAX_AGING_LEVELS, so a low-priority job can catch up with normal ones and never overtakes a high-priority
 * one by aging alone: in a deep queue high priority keeps its lead. What keeps low priority from starving
 * behind a stream of higher ones is the bound: once an entry has waited `maxWaitSeconds` it ranks above
 * every entry that has not (among such entries, the longest wait first). Within one level the rank never
 * falls as the wait grows, so each level's oldest-first order is the queue's order restricted to that level.
 */
export function effectivePriority(entry: Pick<QueueEntry, 'priority' | 'enqueuedAt'>, now: number, aging: AgingPolicy): number {
  const waitedSeconds = Math.max(0, now - entry.enqueuedAt) / 1000;
  if (waitedSeconds >= aging.maxWaitSeconds) return OVERDUE_LEVEL + waitedSeconds / aging.maxWaitSeconds;
  return priorityRank(entry.priority) + Math.min(MAX_AGING_LEVELS, waitedSeconds / aging.agingSecondsPerLevel);
}

/** Highest effective priority first; ties by enqueue time, then id (deterministic). */
export function orderQueue<T extends Pick<QueueEntry, 'priority' | 'enqueuedAt' | 'entryId'>>(entries: T[], now: number, aging: AgingPolicy): T[] {
  const ranked = entries.map((entry) => ({ entry, rank: effectivePriority(entry, now, aging) }));
  ranked.sort(
    (a, b) =>
      b.rank - a.rank || a.entry.enqueuedAt - b.entry.enqueuedAt || (a.entry.entryId < b.entry.entryId ? -1 : a.entry.entryId > b.entry.entryId ? 1 : 0),
  );
  return ranked.map(({ entry }) => entry);
}

/**
 * The queue's order from the heads of its priority levels: each level's page is oldest first (its order),
 * and `more` says the level has entries past the page. The merge is the global order only up to the first
 * unread entry that could rank ahead: the rank of a level's last read entry bounds every unread one of that
 * level, so entries ranked below the highest such bound are cut (the dispatcher reads further if it needs).
 * Returns the ordered prefix and whether it was cut.
 */
export function mergeQueueHeads<T extends Pick<QueueEntry, 'priority' | 'enqueuedAt' | 'entryId'>>(
  levels: Array<{ entries: T[]; more: boolean }>,
  now: number,
  aging: AgingPolicy,
): { ordered: T[]; cut: boolean } {
  const ordered = orderQueue(
    levels.flatMap((level) => level.entries),
    now,
    aging,
  );
  let bound: T | null = null;
  for (const level of levels) {
    const last = level.entries[level.entries.length - 1];
    if (!level.more || !last) continue;
    if (!bound || ranksBefore(last, bound, now, aging)) bound = last;
  }
  if (!bound) return { ordered, cut: false };
  const end = ordered.indexOf(bound);
  return { ordered: ordered.slice(0, end + 1), cut: end + 1 < ordered.length };
}

function ranksBefore(
  a: Pick<QueueEntry, 'priority' | 'enqueuedAt' | 'entryId'>,
  b: Pick<QueueEntry, 'priority' | 'enqueuedAt' | 'entryId'>,
  now: number,
  aging: AgingPolicy,
): boolean {
  return orderQueue([a, b], now, aging)[0] === a;
}

/** Tokens after refilling at `ratePerSecond` since `updatedAt`, capped at `burst`. A clock going back refills nothing. */
export function refillBucket(bucket: BucketState, now: number, policy: BucketPolicy): BucketState {
  const elapsedSeconds = Math.max(0, now - bucket.updatedAt) / 1000;
  return { tokens: Math.min(policy.burst, bucket.tokens + elapsedSeconds * policy.ratePerSecond), updatedAt: Math.max(now, bucket.updatedAt) };
}

/** A full bucket, as a pool starts with. */
export function newBucket(now: number, policy: BucketPolicy): BucketState {
  return { tokens: policy.burst, updatedAt: now };
}

/** Takes up to `wanted` whole tokens; `taken` may be fewer (0 when the budget is spent). */
export function takeTokens(bucket: BucketState, wanted: number, now: number, policy: BucketPolicy): { taken: number; bucket: BucketState } {
  const refilled = refillBucket(bucket, now, policy);
  const taken = Math.max(0, Math.min(Math.floor(wanted), Math.floor(refilled.tokens + 1e-9)));
  return { taken, bucket: { tokens: refilled.tokens - taken, updatedAt: refilled.updatedAt } };
}

/**
 * Grants waiting entries in queue order onto the best-fit cluster (chooseCluster on the capacity the
 * earlier grants left). It stops at the first entry that fits nowhere: granting smaller entries past it
 * would let a stream of small jobs take every unit that frees up and starve the larger one at the head,
 * whatever its priority. Entries already `granting` hold no lease yet; their units are counted as taken
 * on their cluster so that two dispatchers never promise the same units.
 *
 * Launches: when the unmet demand exceeds what is free after the grants plus the capacity of clusters
 * still starting, in units or in job slots (a cluster runs at most maxJobsPerCluster jobs, however small),
 * enough clusters to cover it, within maxClusters (every cluster not yet ended counts, TERMINATING too: it
 * still exists) and the tokens given; and always up to minClusters.
 */
export function planDispatch(input: DispatchInput): DispatchPlan {
  const { pool, configHash, now } = input;
  const working = input.clusters.map((cluster) => ({ ...cluster, leases: { ...cluster.leases } }));
  const byId = new Map(working.map((cluster) => [cluster.clusterId, cluster]));
  for (const entry of input.queue) {
    const cluster = entry.state === 'granting' && entry.grantCluster ? byId.get(entry.grantCluster) : undefined;
    if (cluster && !cluster.leases[entry.entryId]) reserve(cluster, entry.entryId, entry.units, now);
  }

  const grants: Grant[] = [];
  let blockedOn: string | null = null;
  let unmetUnits = 0;
  let unmetEntries = 0;
  let grantedUnits = 0;
  const aging = { agingSecondsPerLevel: input.agingSecondsPerLevel, maxWaitSeconds: input.maxWaitSeconds };
  for (const entry of orderQueue(
    input.queue.filter((e) => e.state === 'waiting'),
    now,
    aging,
  )) {
    const cluster = blockedOn === null ? chooseCluster(working, entry.units, configHash) : null;
    if (cluster) {
      reserve(cluster, entry.entryId, entry.units, now);
      grants.push({ entryId: entry.entryId, clusterId: cluster.clusterId, units: entry.units });
      grantedUnits += entry.units;
    } else {
      blockedOn ??= entry.entryId;
      unmetUnits += entry.units;
      unmetEntries += 1;
    }
  }

  if (input.queued !== undefined) {
    unmetUnits = Math.max(unmetUnits, input.queued.units - grantedUnits);
    unmetEntries = Math.max(unmetEntries, input.queued.entries - grants.length);
  }
  const alive = working.filter(isAlive);
  const starting = alive.filter(isStarting);
  const ready = working.filter((cluster) => CLUSTER_READY_STATES.has(cluster.state) && cluster.configHash === configHash && freeJobSlots(cluster) > 0);
  const comingUnits = ready.reduce((sum, cluster) => sum + freeUnits(cluster), 0) + starting.length * pool.capacityUnits;
  const comingSlots = ready.reduce((sum, cluster) => sum + freeJobSlots(cluster), 0) + starting.reduce((sum, cluster) => sum + cluster.maxJobs, 0);
  const forUnits = unmetUnits > comingUnits ? Math.ceil((unmetUnits - comingUnits) / pool.capacityUnits) : 0;
  const perCluster = pool.maxJobsPerCluster;
  const forSlots = perCluster && unmetEntries > comingSlots ? Math.ceil((unmetEntries - comingSlots) / perCluster) : 0;
  const wanted = Math.max(forUnits, forSlots, pool.minClusters - alive.length);
  const launches = Math.max(0, Math.min(wanted, pool.maxClusters - alive.length, Math.floor(input.launchTokens + 1e-9)));
  return { grants, launches, unmetUnits, unmetEntries, comingUnits, blockedOn };
}

/**
 * How much of the queue's head a dispatch must read for planDispatch to grant as it would on the whole queue:
 * as many entries as the ready clusters have free job slots, or more units than they have free. Each grant
 * takes a slot and its units, so either such a prefix fills every free slot, or it holds an entry that cannot
 * be placed, and nothing past the first such entry is granted. Launches need no more of the queue: they are sized on the registry's queued
 * totals (DispatchInput.queued), so a dispatch reads what it can grant, not the queue's depth.
 */
export function queueReadNeed(clusters: PoolCluster[], configHash: string): { entries: number; units: number } {
  const ready = clusters.filter((cluster) => CLUSTER_READY_STATES.has(cluster.state) && cluster.configHash === configHash);
  return {
    entries: ready.reduce((sum, cluster) => sum + freeJobSlots(cluster), 0),
    units: ready.reduce((sum, cluster) => sum + freeUnits(cluster), 0),
  };
}

function reserve(cluster: PoolCluster, id: string, units: number, now: number): void {
  cluster.leases[id] = { execution: id, units, grantedAt: now, expiresAt: now };
  cluster.unitsInUse += units;
}
