/**
 * The job manager's workflows: each reads the registry (lib/aws/registry.ts), decides with the pure
 * functions of lib/domain/pools.ts and applies the decision with conditional writes. The handlers
 * (functions/acquire-capacity, release-capacity, renew-lease, dispatch-queue) are thin wrappers of these.
 *
 *   parkJob        enqueue a job (with its task token), then dispatch its pool. The job is never leased
 *                  directly, even when there is room: a new arrival must not overtake parked jobs of higher
 *                  (or aged) priority, so every grant, immediate or not, comes from dispatchPool in queue order.
 *   returnLease    release a lease (idempotent), then dispatch the pool: freed units go to the queue at once.
 *   heartbeat      push a lease's expiry out to now + leaseSeconds (+ holdSeconds).
 *   dispatchPool   expire dead leases, finish or undo grants a crashed dispatcher left, drop stale launch
 *                  placeholders and ended empty clusters, grant waiters in queue order, launch clusters.
 *   observeClusterState  record a cluster's EMR state (from an event or DescribeCluster), then dispatch.
 *
 * Grant protocol (per waiter): claim the entry for a cluster → take the lease (id = entry id) → send the
 * task token the slot (SendTaskSuccess) → delete the entry. A crash at any point leaves a `granting`
 * entry that the next dispatch after grantTimeoutSeconds finishes (lease held: send again) or undoes
 * (no lease: back to waiting), so a waiter is never lost, and it gets at most one lease because the lease
 * id is the entry id and the claim fixes the cluster.
 *
 * Launch protocol: write placeholder cluster items (STARTING, so every dispatcher counts them), move the
 * pool's launch guard past the version read before listing clusters (only one dispatcher per version),
 * take RunJobFlow tokens, call RunJobFlow, register the real cluster and drop the placeholder.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { CLUSTER_ENDED_STATES, TASK_TOKEN_GONE } from '../contract';
import type { DispatcherSettings, PoolDefinition } from '../config/pools';
import {
  expiredLeaseIds,
  leaseExpiry,
  leaseId,
  planDispatch,
  poolConfigHash,
  refillBucket,
  type PoolCluster,
  type PoolClusterState,
  type QueueEntry,
} from '../domain/pools';
import type { Priority } from '../domain/types';
import {
  PLACEHOLDER_PREFIX,
  acquireLease,
  advanceLaunchGuard,
  claimEntry,
  enqueue,
  expireLease,
  getCluster,
  listClusters,
  listQueue,
  placeholderId,
  readBucket,
  readLaunchGuard,
  registerCluster,
  releaseLease,
  removeCluster,
  removeEntry,
  renewLease,
  setClusterState,
  takeLaunchTokens,
  unclaimEntry,
  withdrawEntry,
  type RegistryTables,
} from './registry';

/** What a parked execution receives through its task token (SendTaskSuccess output). */
export interface Slot {
  pool: string;
  clusterId: string;
  /** leaseId(execution, attempt): what release-capacity and renew-lease take back. */
  lease: string;
  units: number;
  /** Epoch ms; renew-lease pushes it out. */
  leaseExpiresAt: number;
  /** Epoch ms the job was parked and the lease granted: its queue wait, and from when its units are billed. */
  enqueuedAt?: number;
  grantedAt?: number;
}

export interface JobManagerDeps {
  dynamo: DynamoDBDocumentClient;
  tables: RegistryTables;
  /** SendTaskSuccess(token, slot). Throws an error whose name is in WAITER_GONE when the execution stopped waiting. */
  sendSlot(taskToken: string, slot: Slot): Promise<void>;
  /** RunJobFlow for a new cluster of `pool`; resolves to its cluster id. */
  launchCluster(pool: PoolDefinition, configHash: string, launchId: string): Promise<string>;
  /** Epoch ms. */
  now(): number;
}

/** SendTaskSuccess errors that mean the waiter is no longer there: its units go back, the entry goes. */
export const WAITER_GONE: ReadonlySet<string> = TASK_TOKEN_GONE;

/** A placeholder older than this is a launch that crashed between its placeholder and RunJobFlow. */
const LAUNCH_TIMEOUT_MS = 5 * 60_000;
/** Parked executions heartbeated concurrently by reconcilePool. */
const HEARTBEATS_AT_ONCE = 10;
/** Passes of dispatchPool when a grant lost a race to a concurrent write (the next pass re-reads). */
const MAX_PASSES = 3;

export interface PoolContext {
  pool: PoolDefinition;
  settings: DispatcherSettings;
}

export interface ParkRequest {
  units: number;
  priority: Priority;
  execution: string;
  attempt: number;
  taskToken: string;
  holdSeconds?: number;
}

export interface DispatchReport {
  pool: string;
  granted: Array<{ entryId: string; clusterId: string }>;
  launched: string[];
  expired: Array<{ clusterId: string; lease: string }>;
  /** Entries whose waiter was gone when granted: their lease was given back. */
  abandoned: string[];
  queued: number;
  errors: string[];
}

export async function parkJob(deps: JobManagerDeps, context: PoolContext, request: ParkRequest): Promise<{ entryId: string; dispatch: DispatchReport }> {
  const entryId = leaseId(request.execution, request.attempt);
  await enqueue(deps.dynamo, deps.tables, {
    pool: context.pool.name,
    entryId,
    execution: request.execution,
    priority: request.priority,
    units: request.units,
    enqueuedAt: deps.now(),
    taskToken: request.taskToken,
    ...(request.holdSeconds === undefined ? {} : { holdSeconds: request.holdSeconds }),
  });
  return { entryId, dispatch: await dispatchPool(deps, context) };
}

export async function returnLease(
  deps: JobManagerDeps,
  context: PoolContext,
  slot: Pick<Slot, 'clusterId' | 'lease'>,
): Promise<{ released: boolean; units: number; dispatch: DispatchReport }> {
  const released = await releaseLease(deps.dynamo, deps.tables, context.pool.name, slot.clusterId, slot.lease);
  return { ...released, dispatch: await dispatchPool(deps, context) };
}

export async function heartbeat(
  deps: Pick<JobManagerDeps, 'dynamo' | 'tables' | 'now'>,
  context: PoolContext,
  slot: Pick<Slot, 'clusterId' | 'lease'>,
  holdSeconds?: number,
): Promise<{ renewed: boolean; leaseExpiresAt: number }> {
  const leaseExpiresAt = leaseExpiry({ holdSeconds }, deps.now(), context.settings.leaseSeconds);
  const renewed = await renewLease(deps.dynamo, deps.tables, context.pool.name, slot.clusterId, slot.lease, leaseExpiresAt);
  // leaseExpiresAt is the earliest the lease now lapses: a longer lease taken at acquire time is kept.
  return { renewed, leaseExpiresAt };
}

export async function observeClusterState(
  deps: JobManagerDeps,
  context: PoolContext,
  clusterId: string,
  state: PoolClusterState,
): Promise<{ recorded: boolean; dispatch: DispatchReport }> {
  const recorded = await setClusterState(deps.dynamo, deps.tables, context.pool.name, clusterId, state);
  return { recorded, dispatch: await dispatchPool(deps, context) };
}

/**
 * The one-minute safety net, before dispatchPool: reads each live registered cluster's state from EMR
 * (one DescribeCluster per cluster: at most maxClusters calls a minute) so a missed state-change event
 * cannot leave a cluster STARTING forever or a terminated one taking leases; and sends each waiting
 * execution a heartbeat, withdrawing entries whose execution is gone.
 */
export async function reconcilePool(
  deps: JobManagerDeps,
  context: PoolContext,
  probes: { describeState(clusterId: string): Promise<PoolClusterState | null>; heartbeatWaiter(taskToken: string): Promise<void> },
): Promise<{ states: Record<string, PoolClusterState>; withdrawn: string[]; errors: string[] }> {
  const { dynamo, tables } = deps;
  const pool = context.pool.name;
  const result = { states: {} as Record<string, PoolClusterState>, withdrawn: [] as string[], errors: [] as string[] };
  for (const cluster of await listClusters(dynamo, tables, pool)) {
    if (cluster.clusterId.startsWith(PLACEHOLDER_PREFIX) || CLUSTER_ENDED_STATES.has(cluster.state)) continue;
    try {
      const state = await probes.describeState(cluster.clusterId);
      if (state && state !== cluster.state && (await setClusterState(dynamo, tables, pool, cluster.clusterId, state))) result.states[cluster.clusterId] = state;
    } catch (error) {
      result.errors.push(`describe ${cluster.clusterId}: ${(error as Error).name}`);
    }
  }
  // A few at a time: a long queue's heartbeats must all land well within the waiters' HeartbeatSeconds.
  const waiting = (await listQueue(dynamo, tables, pool)).filter((entry) => entry.state === 'waiting');
  for (let i = 0; i < waiting.length; i += HEARTBEATS_AT_ONCE) {
    await Promise.all(
      waiting.slice(i, i + HEARTBEATS_AT_ONCE).map(async (entry) => {
        try {
          await probes.heartbeatWaiter(entry.taskToken);
        } catch (error) {
          if (WAITER_GONE.has((error as Error).name) && (await withdrawEntry(dynamo, tables, pool, entry.entryId))) result.withdrawn.push(entry.entryId);
          else if (!WAITER_GONE.has((error as Error).name)) result.errors.push(`heartbeat ${entry.entryId}: ${(error as Error).name}`);
        }
      }),
    );
  }
  return result;
}

export async function dispatchPool(deps: JobManagerDeps, context: PoolContext): Promise<DispatchReport> {
  const report: DispatchReport = { pool: context.pool.name, granted: [], launched: [], expired: [], abandoned: [], queued: 0, errors: [] };
  await sweep(deps, context, report);
  for (let pass = 0; pass < MAX_PASSES; pass += 1) {
    if (!(await dispatchOnce(deps, context, report))) break;
  }
  return report;
}

/** Expired leases, half-done grants, stale placeholders and ended clusters without leases. */
async function sweep(deps: JobManagerDeps, context: PoolContext, report: DispatchReport): Promise<void> {
  const { dynamo, tables } = deps;
  const pool = context.pool.name;
  const now = deps.now();
  for (const cluster of await listClusters(dynamo, tables, pool)) {
    for (const id of expiredLeaseIds(cluster, now)) {
      if (await expireLease(dynamo, tables, pool, cluster.clusterId, id, cluster.leases[id])) report.expired.push({ clusterId: cluster.clusterId, lease: id });
    }
    const stalePlaceholder = cluster.clusterId.startsWith(PLACEHOLDER_PREFIX) && cluster.launchedAt + LAUNCH_TIMEOUT_MS <= now;
    if (stalePlaceholder || (CLUSTER_ENDED_STATES.has(cluster.state) && Object.keys(cluster.leases).length === 0)) {
      await removeCluster(dynamo, tables, pool, cluster.clusterId);
    }
  }
  const grantTimeout = context.settings.grantTimeoutSeconds * 1000;
  for (const entry of await listQueue(dynamo, tables, pool)) {
    if (entry.state !== 'granting' || (entry.claimedAt ?? 0) + grantTimeout > now) continue;
    const cluster = entry.grantCluster ? await getCluster(dynamo, tables, pool, entry.grantCluster) : null;
    if (cluster?.leases[entry.entryId]) await deliver(deps, context, entry, cluster.clusterId, cluster.leases[entry.entryId].expiresAt, report);
    else await unclaimEntry(dynamo, tables, pool, entry.entryId, entry.claimedAt ?? 0);
  }
}

/** One read-plan-apply pass; true when a write lost a race and another pass may grant more. */
async function dispatchOnce(deps: JobManagerDeps, context: PoolContext, report: DispatchReport): Promise<boolean> {
  const { dynamo, tables } = deps;
  const { pool, settings } = context;
  const configHash = poolConfigHash(pool);
  const guard = await readLaunchGuard(dynamo, tables, pool.name);
  const clusters = await listClusters(dynamo, tables, pool.name);
  const queue = await listQueue(dynamo, tables, pool.name);
  const now = deps.now();
  const { bucket } = await readBucket(dynamo, tables, now, settings.runJobFlowBudget);
  const plan = planDispatch({
    pool,
    configHash,
    clusters,
    queue,
    now,
    agingSecondsPerLevel: settings.agingSecondsPerLevel,
    launchTokens: refillBucket(bucket, now, settings.runJobFlowBudget).tokens,
  });
  report.queued = queue.length;

  const entries = new Map(queue.map((entry) => [entry.entryId, entry]));
  const byId = new Map(clusters.map((cluster) => [cluster.clusterId, cluster]));
  let lostRace = false;
  for (const grant of plan.grants) {
    const entry = entries.get(grant.entryId) as QueueEntry;
    const cluster = byId.get(grant.clusterId) as PoolCluster;
    const claimedAt = deps.now();
    if (!(await claimEntry(dynamo, tables, entry, cluster.clusterId, claimedAt))) {
      lostRace = true;
      continue;
    }
    const claimed = { ...entry, state: 'granting' as const, grantCluster: cluster.clusterId, claimedAt };
    const expiresAt = leaseExpiry(entry, claimedAt, settings.leaseSeconds);
    const leased = await acquireLease(dynamo, tables, cluster, entry.entryId, { execution: entry.execution, units: entry.units, grantedAt: claimedAt, expiresAt });
    if (!leased) {
      await unclaimEntry(dynamo, tables, pool.name, entry.entryId, claimedAt);
      lostRace = true;
      // Later entries must not overtake this one on another cluster in this pass: re-plan from fresh reads.
      break;
    }
    await deliver(deps, context, claimed, cluster.clusterId, expiresAt, report);
    report.queued -= 1;
  }

  if (plan.launches > 0 && !lostRace) await launch(deps, context, configHash, guard, plan.launches, report);
  return lostRace;
}

/** Sends the waiter its slot and deletes its entry; a waiter that is gone gets its units taken back. */
async function deliver(deps: JobManagerDeps, context: PoolContext, entry: QueueEntry, clusterId: string, leaseExpiresAt: number, report: DispatchReport): Promise<void> {
  const { dynamo, tables } = deps;
  const pool = context.pool.name;
  const claimedAt = entry.claimedAt ?? 0;
  try {
    await deps.sendSlot(entry.taskToken, { pool, clusterId, lease: entry.entryId, units: entry.units, leaseExpiresAt, enqueuedAt: entry.enqueuedAt, grantedAt: claimedAt });
  } catch (error) {
    const name = (error as Error).name;
    if (!WAITER_GONE.has(name)) {
      // Throttled or unreachable: the entry stays claimed and the sweep sends again after grantTimeoutSeconds.
      report.errors.push(`send ${entry.entryId}: ${name}: ${(error as Error).message}`);
      return;
    }
    await releaseLease(dynamo, tables, pool, clusterId, entry.entryId);
    await removeEntry(dynamo, tables, pool, entry.entryId, claimedAt);
    report.abandoned.push(entry.entryId);
    return;
  }
  await removeEntry(dynamo, tables, pool, entry.entryId, claimedAt);
  report.granted.push({ entryId: entry.entryId, clusterId });
}

async function launch(deps: JobManagerDeps, context: PoolContext, configHash: string, guard: number, wanted: number, report: DispatchReport): Promise<void> {
  const { dynamo, tables } = deps;
  const { pool, settings } = context;
  const now = deps.now();
  const placeholders: string[] = [];
  for (let i = 0; i < wanted; i += 1) {
    const id = placeholderId();
    await registerCluster(dynamo, tables, { pool: pool.name, clusterId: id, state: 'STARTING', configHash, capacityUnits: pool.capacityUnits, maxJobs: pool.maxJobsPerCluster, launchedAt: now });
    placeholders.push(id);
  }
  const won = await advanceLaunchGuard(dynamo, tables, pool.name, guard);
  const taken = won ? await takeLaunchTokens(dynamo, tables, placeholders.length, now, settings.runJobFlowBudget) : 0;
  for (const [i, placeholder] of placeholders.entries()) {
    if (i < taken) {
      try {
        const clusterId = await deps.launchCluster(pool, configHash, placeholder.slice(PLACEHOLDER_PREFIX.length));
        const registered = await registerCluster(dynamo, tables, { pool: pool.name, clusterId, state: 'STARTING', configHash, capacityUnits: pool.capacityUnits, maxJobs: pool.maxJobsPerCluster, launchedAt: deps.now() });
        if (registered) report.launched.push(clusterId);
        else report.errors.push(`launch: RunJobFlow returned ${clusterId}, which is already registered`);
      } catch (error) {
        report.errors.push(`launch: ${(error as Error).name}: ${(error as Error).message}`);
      }
    }
    await removeCluster(dynamo, tables, pool.name, placeholder);
  }
}

/** What a stopped execution held in the pools, and what became of it. */
export interface ExecutionHoldings {
  /** Its leases (found by the lease's execution), each released (false: it was already gone). */
  leases: Array<{ pool: string; clusterId: string; lease: string; units: number; released: boolean }>;
  /**
   * Its queue entries (entry id `execution#attempt`): a waiting entry is withdrawn; one a dispatcher is
   * granting right now is left to that grant, whose SendTaskSuccess answers TaskTimedOut and gives the lease back.
   */
  entries: Array<{ pool: string; entryId: string; state: 'waiting' | 'granting'; withdrawn: boolean }>;
}

/**
 * Gives back everything an execution that ended without its teardown (aborted, timed out) still holds in
 * the pools: queue entries first, so no new lease is granted to it while its leases are released. Idempotent.
 */
export async function releaseExecution(
  deps: Pick<JobManagerDeps, 'dynamo' | 'tables'>,
  pools: readonly string[],
  execution: string,
): Promise<ExecutionHoldings> {
  const holdings: ExecutionHoldings = { leases: [], entries: [] };
  const prefix = `${execution}#`;
  for (const pool of pools) {
    for (const entry of await listQueue(deps.dynamo, deps.tables, pool)) {
      if (entry.execution !== execution && !entry.entryId.startsWith(prefix)) continue;
      const withdrawn = entry.state === 'waiting' && (await withdrawEntry(deps.dynamo, deps.tables, pool, entry.entryId));
      holdings.entries.push({ pool, entryId: entry.entryId, state: entry.state, withdrawn });
    }
    for (const cluster of await listClusters(deps.dynamo, deps.tables, pool)) {
      for (const [lease, held] of Object.entries(cluster.leases)) {
        if (held.execution !== execution) continue;
        const { released, units } = await releaseLease(deps.dynamo, deps.tables, pool, cluster.clusterId, lease);
        holdings.leases.push({ pool, clusterId: cluster.clusterId, lease, units: released ? units : held.units, released });
      }
    }
  }
  return holdings;
}
