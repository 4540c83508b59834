/**
 * Launching clusters (see jobManager.ts, "Launch protocol"), settling a crashed launch's intent, and failing the jobs a launch that
 * cannot happen leaves without a cluster.
 */
import { CLUSTER_ENDED_STATES } from '../contract';
import { isAlive, isStarting, PRIORITIES, type PoolCluster } from '../domain/pools';
import { isTransientLaunchError, LaunchFailedError } from '../errors';
import { emptyReport, WAITER_GONE, type JobManagerContext } from './context';
import type { DispatchReport, PoolContext } from './jobManager';

/** The prefix of a launch placeholder's id (see "Launch protocol"). */
export const PLACEHOLDER_PREFIX = 'pending-';
/** A placeholder older than this is a launch that crashed between its placeholder and its registry write. */
export const LAUNCH_TIMEOUT_MS = 5 * 60_000;
/** How long a crashed launch's intent waits for EMR to answer whether the launch made a cluster. */
const LAUNCH_INTENT_GIVE_UP_MS = 30 * 60_000;
/** Waits before each retry of a RunJobFlow EMR answered with a transient error (each retry takes a token). */
const LAUNCH_RETRY_MS = [1_000, 4_000];
/** Waiting entries read per page while failing the jobs a launch that cannot happen leaves without a cluster. */
const LAUNCH_FAILURE_PAGE = 100;

/**
 * A stale placeholder is a launch intent whose launch crashed: before RunJobFlow (nothing to do), or
 * between RunJobFlow and the registry write. RunJobFlow has no ClientToken, so the cluster is found by the
 * launch id its name carries and adopted (registered as it is), not left unknown until its idle timeout.
 * While EMR cannot be asked, the intent stays (it counts as a starting cluster), for at most
 * LAUNCH_INTENT_GIVE_UP_MS, past which an orphan is left to its idle timeout as before.
 */
export async function settleLaunchIntent(jm: JobManagerContext, context: PoolContext, placeholder: PoolCluster, report: DispatchReport): Promise<void> {
  const pool = context.pool.name;
  try {
    // A minute of slack: EMR's clock and the placeholder's are not the same clock.
    const found = await jm.emr.findLaunch(context.pool, placeholder.clusterId.slice(PLACEHOLDER_PREFIX.length), placeholder.launchedAt - 60_000);
    if (found && !CLUSTER_ENDED_STATES.has(found.state)) {
      const { configHash, capacityUnits, maxJobs, launchedAt } = placeholder;
      if (await jm.store.registerCluster({ pool, clusterId: found.clusterId, state: found.state, configHash, capacityUnits, maxJobs, launchedAt })) {
        report.adopted.push(found.clusterId);
      }
    }
  } catch (error) {
    report.errors.push(`launch intent ${placeholder.clusterId}: ${(error as Error).name}: ${(error as Error).message}`);
    if (placeholder.launchedAt + LAUNCH_INTENT_GIVE_UP_MS > jm.clock.now()) return;
  }
  await jm.store.removeCluster(pool, placeholder.clusterId);
}

/**
 * Pre-launch (lib/jobManager/prescale.ts): launches the clusters that bring the pool's clusters that will be
 * up for a burst within `leadSeconds` up to `wanted`, never past maxClusters counting every alive cluster. Those
 * are the alive ones of the pool's current configuration, not ending, that are starting (other dispatchers'
 * launch intents too), hold leases, or were launched within the lead. An idle cluster launched earlier is not
 * counted: it may reach its idle timeout before the burst (in a 2,000-job day the one cluster left from the
 * last hour ended six minutes before the 02:00 spike, and its replacement came after it). One launched within
 * the lead outlasts it, as long as the pool's idle timeout plus a cluster's start is longer than the lead.
 * It is the dispatch's own launch protocol (placeholders, the launch guard, RunJobFlow tokens), so a dispatch
 * launching at the same moment and this cannot both launch for the same shortfall: the guard lets one through.
 */
export async function prelaunch(jm: JobManagerContext, context: PoolContext, wanted: number, leadSeconds: number): Promise<DispatchReport> {
  const { pool } = context;
  const report = emptyReport(pool.name);
  const configHash = jm.configHashOf(pool);
  const guard = await jm.store.readLaunchGuard(pool.name);
  const clusters = await jm.store.listClusters(pool.name);
  const alive = clusters.filter((cluster) => isAlive(cluster) && cluster.state !== 'TERMINATING');
  const current = alive.filter((cluster) => cluster.configHash === configHash);
  const since = jm.clock.now() - leadSeconds * 1000;
  const usable = current.filter((cluster) => isStarting(cluster) || cluster.unitsInUse > 0 || cluster.launchedAt >= since).length;
  const missing = Math.min(wanted, pool.maxClusters - alive.length + usable) - usable;
  if (missing > 0) await launch(jm, context, configHash, guard, missing, clusters, report);
  return report;
}

/**
 * A transient RunJobFlow failure (throttling, EC2 capacity, a 5xx) is tried again within this dispatch, a
 * RunJobFlow token per try, and otherwise left to the next dispatch, which plans the launch again; the jobs
 * stay parked. Any other failure will recur on every try, so the jobs waiting on the launch are failed now.
 */
export async function launch(
  jm: JobManagerContext,
  context: PoolContext,
  configHash: string,
  guard: number,
  wanted: number,
  clusters: PoolCluster[],
  report: DispatchReport,
): Promise<void> {
  const { pool, settings } = context;
  const now = jm.clock.now();
  const placeholders: string[] = [];
  for (let i = 0; i < wanted; i += 1) {
    const id = `${PLACEHOLDER_PREFIX}${jm.placeholderId()}`;
    await jm.store.registerCluster({
      pool: pool.name,
      clusterId: id,
      state: 'STARTING',
      configHash,
      capacityUnits: pool.capacityUnits,
      maxJobs: pool.maxJobsPerCluster,
      launchedAt: now,
    });
    placeholders.push(id);
  }
  const won = await jm.store.advanceLaunchGuard(pool.name, guard);
  let tokens = won ? await jm.store.takeApiTokens('RunJobFlow', placeholders.length, now, settings.runJobFlowBudget) : 0;
  let failure: { error: string; message: string } | null = null;
  for (const placeholder of placeholders) {
    for (let retry = 0; tokens > 0 && failure === null; retry += 1) {
      tokens -= 1;
      try {
        const clusterId = await jm.emr.launchCluster(pool, configHash, placeholder.slice(PLACEHOLDER_PREFIX.length));
        const registered = await jm.store.registerCluster({
          pool: pool.name,
          clusterId,
          state: 'STARTING',
          configHash,
          capacityUnits: pool.capacityUnits,
          maxJobs: pool.maxJobsPerCluster,
          launchedAt: jm.clock.now(),
        });
        if (registered) report.launched.push(clusterId);
        else report.errors.push(`launch: RunJobFlow returned ${clusterId}, which is already registered`);
        break;
      } catch (error) {
        const { name, message } = error as Error;
        report.errors.push(`launch: ${name}: ${message}`);
        if (!isTransientLaunchError(error)) {
          failure = { error: name, message };
          report.launchFailures.push(failure);
          break;
        }
        if (retry >= LAUNCH_RETRY_MS.length) break;
        await jm.clock.sleep(LAUNCH_RETRY_MS[retry]);
        tokens += await jm.store.takeApiTokens('RunJobFlow', 1, jm.clock.now(), settings.runJobFlowBudget);
      }
    }
    await jm.store.removeCluster(pool.name, placeholder);
  }
  if (failure) await failLaunchWaiters(jm, context, configHash, clusters, failure, report);
}

/**
 * Fails the jobs that wait on a launch that cannot happen. A waiting entry waits on the launch when no
 * existing cluster of the pool can ever hold it: none alive with the pool's configuration and enough
 * capacity (a cluster that can will free a slot for it in time, so that job keeps its place). Placeholders
 * are not clusters: another dispatcher's launch of the same pool meets the same refusal. Each entry is
 * withdrawn before its token is told, so a job a concurrent dispatcher is granting keeps its grant, and a
 * failed job holds nothing. A crash between the two leaves the execution waiting without an entry: its
 * HeartbeatSeconds runs out, AcquireCapacity parks it again and the next launch attempt decides again.
 */
async function failLaunchWaiters(
  jm: JobManagerContext,
  context: PoolContext,
  configHash: string,
  clusters: PoolCluster[],
  failure: { error: string; message: string },
  report: DispatchReport,
): Promise<void> {
  const pool = context.pool.name;
  const holders = clusters.filter((cluster) => !cluster.clusterId.startsWith(PLACEHOLDER_PREFIX) && isAlive(cluster) && cluster.configHash === configHash);
  const cause =
    `RunJobFlow for pool ${pool} failed: ${failure.error}: ${failure.message}. The job was not started and holds nothing; ` +
    `fix the cause (the pool's definition in config/pools.json, or the launching role's permissions) and run it again.`;
  for (const priority of PRIORITIES) {
    let after: string | undefined;
    do {
      const page = await jm.store.queueHead(pool, priority, LAUNCH_FAILURE_PAGE, after);
      for (const entry of page.entries) {
        if (holders.some((cluster) => cluster.capacityUnits >= entry.units && cluster.maxJobs >= 1)) continue;
        if (!(await jm.store.withdraw(entry))) continue;
        report.launchFailed.push(entry.entryId);
        try {
          await jm.sfn.sendFailure(entry.taskToken, LaunchFailedError.errorName, cause);
        } catch (error) {
          if (!WAITER_GONE.has((error as Error).name)) report.errors.push(`fail ${entry.entryId}: ${(error as Error).name}: ${(error as Error).message}`);
        }
      }
      after = page.next;
    } while (after !== undefined);
  }
}
