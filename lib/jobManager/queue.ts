/**
 * The queue (see jobManager.ts, "The queue is read by its heads"): parking a job, reading the heads a dispatch needs, and the
 * heartbeats to parked executions; and the units in use.
 */
import { CLUSTER_ENDED_STATES } from '../contract';
import { leaseId, mergeQueueHeads, PRIORITIES, type PoolCluster, queuedTotalsOf, queueReadNeed, type QueueEntry } from '../domain/pools';
import type { Priority } from '../domain/types';
import { WAITER_GONE, type JobManagerContext } from './context';
import type { DispatchReport, AcquireCapacityRequest, PoolContext, PoolReconcileReport } from './jobManager';
import { dispatchIfTokens } from './dispatch';
import { PLACEHOLDER_PREFIX } from './launch';

/** Parked executions heartbeated concurrently by reconcile. */
const HEARTBEATS_AT_ONCE = 10;
/** AcquireCapacity's HeartbeatSeconds (statemachines/run-job.asl.yml; a unit test ties the two). */
export const ACQUIRE_HEARTBEAT_SECONDS = 900;
/**
 * How often a parked execution is heartbeated: its HeartbeatSeconds less three reconcile periods. A due
 * heartbeat goes out within one period (the sweep runs every minute), so it lands at least two periods
 * before the execution's deadline: a sweep that fails or runs late once still leaves room.
 */
export const HEARTBEAT_INTERVAL_MS = (ACQUIRE_HEARTBEAT_SECONDS - 3 * 60) * 1000;
/** Earliest first heartbeat after a park (the park itself started the execution's clock). */
const FIRST_HEARTBEAT_MIN_MS = 60_000;
/**
 * Heartbeats one reconcile sends per pool at most: SendTaskHeartbeat shares SendTask*'s quota (refill 500/s,
 * 300/s in smaller regions) with the grants. The queue owes |queue| / 12 a minute, so this serves 24,000
 * parked jobs a pool; past that the earliest due go first and the rest the next minute.
 */
const HEARTBEATS_PER_RECONCILE = 2_000;
const HEARTBEAT_PAGE = 100;
/**
 * How long a pool's queued totals must have stood still (no park, claim, unclaim or withdraw) before the sweep
 * recounts them: longer than any job manager invocation lives (dispatch-queue's 120 s timeout is the longest,
 * a unit test ties them), with room for a request already sent to land. A writer still between its ADD and its
 * entry's write would otherwise be counted twice or not at all by the recount; one that died there is what
 * the recount repairs.
 */
export const QUEUED_RECOUNT_QUIET_MS = 5 * 60_000;
const RECOUNT_PAGE = 500;

/**
 * A new entry's first heartbeat: within one interval of the park, at a point fixed by its id, so that a
 * burst of parks (the 02:00 spike) owes its heartbeats spread over the interval rather than all in one
 * minute, and keeps that spread, since each next heartbeat is due one interval after the last.
 */
export function firstHeartbeatDelay(entryId: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < entryId.length; i += 1) hash = Math.imul(hash ^ entryId.charCodeAt(i), 0x01000193) >>> 0;
  return Math.max(FIRST_HEARTBEAT_MIN_MS, Math.floor((hash / 2 ** 32) * HEARTBEAT_INTERVAL_MS));
}

export async function acquireCapacity(
  jm: JobManagerContext,
  context: PoolContext,
  request: AcquireCapacityRequest,
): Promise<{ entryId: string; dispatch: DispatchReport }> {
  const entryId = leaseId(request.execution, request.attempt);
  await jm.store.park({
    pool: context.pool.name,
    entryId,
    execution: request.execution,
    priority: request.priority,
    units: request.units,
    enqueuedAt: jm.clock.now(),
    heartbeatDue: jm.clock.now() + firstHeartbeatDelay(entryId),
    taskToken: request.taskToken,
    ...(request.holdSeconds === undefined ? {} : { holdSeconds: request.holdSeconds }),
    ...(request.step === undefined ? {} : { step: request.step }),
  });
  return { entryId, dispatch: await dispatchIfTokens(jm, context) };
}

/**
 * Reads each live registered cluster's state from EMR so a missed state-change event cannot leave a
 * cluster STARTING forever or a terminated one taking leases; and heartbeats the parked executions whose
 * heartbeat is due (read through the queue's heartbeat order, never the whole queue), withdrawing entries
 * whose execution is gone. Under the per-run cap, higher priority levels are served first.
 */
export async function reconcile(jm: JobManagerContext, context: PoolContext): Promise<PoolReconcileReport> {
  const pool = context.pool.name;
  const result: PoolReconcileReport = { states: {}, heartbeats: 0, withdrawn: [], errors: [], queuedTotals: await recountQueued(jm, pool) };
  for (const cluster of await jm.store.listClusters(pool)) {
    if (cluster.clusterId.startsWith(PLACEHOLDER_PREFIX) || CLUSTER_ENDED_STATES.has(cluster.state)) continue;
    try {
      const state = await jm.emr.describeClusterState(cluster.clusterId);
      if (state && state !== cluster.state && (await jm.store.setClusterState(pool, cluster.clusterId, state))) result.states[cluster.clusterId] = state;
    } catch (error) {
      result.errors.push(`describe ${cluster.clusterId}: ${(error as Error).name}`);
    }
  }
  const now = jm.clock.now();
  let budget = HEARTBEATS_PER_RECONCILE;
  for (const priority of PRIORITIES) {
    let after: string | undefined;
    while (budget > 0) {
      const page = await jm.store.heartbeatsDue(pool, priority, now, Math.min(HEARTBEAT_PAGE, budget), after);
      budget -= page.entries.length;
      for (let i = 0; i < page.entries.length; i += HEARTBEATS_AT_ONCE) {
        await Promise.all(page.entries.slice(i, i + HEARTBEATS_AT_ONCE).map((entry) => heartbeat(jm, entry, result)));
      }
      if (page.next === undefined) break;
      after = page.next;
    }
  }
  return result;
}

/**
 * Repairs the pool's queued totals (store.ts, "The queued totals"): self-repairing, not crash-safe, since a
 * writer may die between its ADD and its entry's write. Once the totals have changed since they were last
 * found right, the sweep notes their version; when a later sweep finds the same version QUEUED_RECOUNT_QUIET_MS
 * after the note, no writer can still be between its two writes, so it recounts the waiting entries (a read of
 * the whole queue, once per quiet spell after a change, never per job) and writes the recount only if no
 * change came meanwhile. What a drift can do until then: size launches and predicted waits off, never a grant.
 */
export async function recountQueued(jm: JobManagerContext, pool: string): Promise<PoolReconcileReport['queuedTotals']> {
  const tally = await jm.store.queuedTally(pool);
  if (tally.version === tally.checkedVersion) return 'unchanged';
  const now = jm.clock.now();
  if (tally.noted?.version !== tally.version) {
    await jm.store.noteQueuedTally(pool, tally.version, now);
    return 'noted';
  }
  if (tally.noted.at + QUEUED_RECOUNT_QUIET_MS > now) return 'noted';
  const waiting: QueueEntry[] = [];
  for (const priority of PRIORITIES) {
    let after: string | undefined;
    do {
      const page = await jm.store.queueHead(pool, priority, RECOUNT_PAGE, after);
      waiting.push(...page.entries);
      after = page.next;
    } while (after !== undefined);
  }
  const levels = queuedTotalsOf(waiting);
  const off = JSON.stringify(levels) !== JSON.stringify(tally.levels);
  if (!(await jm.store.recountQueued(pool, levels, tally.version))) return 'raced';
  return off ? 'corrected' : 'recounted';
}

async function heartbeat(jm: JobManagerContext, entry: QueueEntry, result: PoolReconcileReport): Promise<void> {
  try {
    await jm.sfn.sendHeartbeat(entry.taskToken);
  } catch (error) {
    const gone = WAITER_GONE.has((error as Error).name);
    // A gone waiter's entry being granted is left to its grant, whose SendTaskSuccess gives the lease back.
    if (gone && (await jm.store.withdraw(entry))) result.withdrawn.push(entry.entryId);
    else if (!gone) result.errors.push(`heartbeat ${entry.entryId}: ${(error as Error).name}`);
    return;
  }
  result.heartbeats += 1;
  await jm.store.heartbeatSent(entry, jm.clock.now() + HEARTBEAT_INTERVAL_MS);
}

/**
 * The waiting entries a dispatch needs, in queue order, plus the entries being granted: pages of each
 * level's head until the merged prefix covers what this dispatch can grant (queueReadNeed: the free job
 * slots and units of its ready clusters); nothing past it can be granted, and launches are sized on the
 * pool's queued totals, not on entries. A deep queue behind busy clusters costs one short page per level.
 */
export async function readQueue(
  jm: JobManagerContext,
  context: PoolContext,
  now: number,
  clusters: PoolCluster[],
  granting?: QueueEntry[],
): Promise<QueueEntry[]> {
  const { pool, settings } = context;
  const aging = { agingSecondsPerLevel: settings.agingSecondsPerLevel, maxWaitSeconds: settings.maxWaitSeconds };
  const need = queueReadNeed(clusters, jm.configHashOf(pool));
  const pageSize = Math.max(1, Math.min(pool.maxClusters * pool.maxJobsPerCluster, need.entries));
  const levels = new Map<Priority, { entries: QueueEntry[]; next?: string; more: boolean }>();
  for (const priority of PRIORITIES) {
    const page = await jm.store.queueHead(pool.name, priority, pageSize);
    levels.set(priority, { entries: page.entries, next: page.next, more: page.next !== undefined });
  }
  for (;;) {
    const { ordered, cut } = mergeQueueHeads([...levels.values()], now, aging);
    const enough = ordered.length >= need.entries || ordered.reduce((sum, entry) => sum + entry.units, 0) > need.units;
    if (!cut || enough) return [...(granting ?? (await jm.store.grantingEntries(pool.name))), ...ordered];
    for (const [priority, level] of levels) {
      if (!level.more) continue;
      const page = await jm.store.queueHead(pool.name, priority, pageSize, level.next);
      levels.set(priority, { entries: [...level.entries, ...page.entries], next: page.next, more: page.next !== undefined });
    }
  }
}

export async function unitsInUse(jm: JobManagerContext, context: PoolContext): Promise<number> {
  return (await jm.store.listClusters(context.pool.name)).reduce((sum, cluster) => sum + cluster.unitsInUse, 0);
}
