/**
 * Dispatch (see jobManager.ts, "Grant protocol"): the sweep, then read-plan-apply passes that grant the queue's heads and launch clusters.
 */
import { addStepsBudget } from '../config/pools';
import { CLUSTER_ENDED_STATES } from '../contract';
import { expiredLeaseIds, leaseExpiry, planDispatch, queuedSum, refillBucket, type PoolCluster, type PoolClusterState, type QueueEntry } from '../domain/pools';
import { emptyReport, type JobManagerContext } from './context';
import type { DispatchReport, PoolContext } from './jobManager';
import { readQueue } from './queue';
import { deliverGrants, handedBackGroup, type Grant } from './submission';
import { launch, LAUNCH_TIMEOUT_MS, PLACEHOLDER_PREFIX, settleLaunchIntent } from './launch';
import { stepsStillRunning } from './release';

/** Passes of dispatch when a grant lost a race to a concurrent write (the next pass re-reads). */
const MAX_PASSES = 3;

export async function observeClusterState(jm: JobManagerContext, context: PoolContext, clusterId: string, state: PoolClusterState) {
  const recorded = await jm.store.setClusterState(context.pool.name, clusterId, state);
  return { recorded, dispatch: await dispatch(jm, context) };
}

export async function dispatch(jm: JobManagerContext, context: PoolContext): Promise<DispatchReport> {
  const report = emptyReport(context.pool.name);
  // The first pass plans on what the sweep just read (its grants in flight; its launch guard and clusters when
  // the sweep wrote nothing, which a second read would only repeat); a later pass (after a lost race) re-reads.
  let read: SweepRead | undefined = await sweep(jm, context, report);
  // No AddJobFlowSteps token: a pass could grant nothing it can submit, yet would read as much of the queue's
  // head as the pool has free slots, on every arrival of a burst (2,000 jobs: 64 items read per job instead of
  // 5). Its grants and launches wait for the next dispatch that has a token (at 0.4/s, seconds; a launch takes
  // minutes). A job parked without its step (an older definition's) waits for that dispatch too.
  if (!(await addStepsTokenPeek(jm, context)())) return report;
  for (let pass = 0; pass < MAX_PASSES; pass += 1) {
    if (!(await dispatchOnce(jm, context, report, read))) break;
    read = undefined;
  }
  return report;
}

/**
 * What a sweep read for the pass after it: the grants in flight, and the guard and clusters unless it wrote;
 * and the handed-back grants it took over, which the pass submits with its own grants on the same cluster.
 */
interface SweepRead {
  granting: QueueEntry[];
  unchanged?: { guard: number; clusters: PoolCluster[] };
  handedBack: Grant[];
}

/**
 * Whether an AddJobFlowSteps token is there (read, not taken: submitBatch takes it). Without one a dispatch
 * neither takes over handed-back grants nor claims jobs that come with their step: it would only hand them
 * back (two writes each) and leave them to a later dispatch, which submits them all in one fuller batch.
 */
function addStepsTokenPeek(jm: JobManagerContext, context: PoolContext): () => Promise<boolean> {
  let known: boolean | undefined;
  return async () => {
    if (known !== undefined) return known;
    const now = jm.clock.now();
    const policy = addStepsBudget(context.settings);
    known = now >= jm.addStepsBackoffUntil && refillBucket(await jm.store.readBucket('AddJobFlowSteps', now, policy), now, policy).tokens >= 1;
    return known;
  };
}

/**
 * The dispatch that follows an arrival (AcquireCapacity) or a release (ReleaseCapacity): none while there is no
 * AddJobFlowSteps token. It could submit nothing, yet its sweep would read every grant handed back to wait for
 * a token, and its pass the queue's head, on each arrival and release of a burst (2,000 jobs: 51 DynamoDB items
 * read per job against 34 at 200). The next dispatch with a token (another arrival or release, a cluster event,
 * or the one-minute DispatchQueue, which always sweeps) grants, launches and repairs what this one would have.
 */
export async function dispatchIfTokens(jm: JobManagerContext, context: PoolContext): Promise<DispatchReport> {
  if (!(await addStepsTokenPeek(jm, context)())) return { ...emptyReport(context.pool.name), addJobFlowStepsHeld: 1 };
  return dispatch(jm, context);
}

/**
 * Expired leases, half-done grants, stale placeholders and ended clusters without leases. Returns the
 * grants still in flight (claimed within grantTimeoutSeconds), which the dispatch that follows plans on, and,
 * when it wrote nothing, the launch guard and clusters it read (the guard first, as the launch protocol reads them).
 */
async function sweep(jm: JobManagerContext, context: PoolContext, report: DispatchReport): Promise<SweepRead> {
  const pool = context.pool.name;
  const now = jm.clock.now();
  const guard = await jm.store.readLaunchGuard(pool);
  const granting = await jm.store.grantingEntries(pool);
  let wrote = false;
  // A batched grant in flight may have its step on the cluster before it is mapped (liveSteps cannot see it
  // yet): its lease is not expired under it, however long crashes drew the grant out (its claim is renewed
  // by each takeover, not its lease); the grant's sweep below maps the step it finds by name.
  const batchedInFlight = new Set(granting.filter((entry) => entry.step !== undefined).map((entry) => entry.entryId));
  const clusters = await jm.store.listClusters(pool);
  for (const cluster of clusters) {
    for (const id of expiredLeaseIds(cluster, now)) {
      if (batchedInFlight.has(id)) continue;
      // A lease outlived by its step keeps its units until the step is seen ended: they are still in use.
      // This is why leases are not renewed: a lease lasts leaseSeconds + the step's timeout from its grant,
      // which covers a live job's wait for its slot and its step; past that, expiry is only for holders that
      // are gone, and it frees nothing a step may still use (a renewal, missed once, would).
      if ((await stepsStillRunning(jm, cluster, cluster.leases[id].execution)).length > 0) continue;
      wrote = true;
      if (await jm.store.expire(pool, cluster.clusterId, id, cluster.leases[id])) report.expired.push({ clusterId: cluster.clusterId, lease: id });
    }
    const stalePlaceholder = cluster.clusterId.startsWith(PLACEHOLDER_PREFIX) && cluster.launchedAt + LAUNCH_TIMEOUT_MS <= now;
    const endedEmpty = CLUSTER_ENDED_STATES.has(cluster.state) && Object.keys(cluster.leases).length === 0;
    wrote ||= stalePlaceholder || endedEmpty;
    if (stalePlaceholder) await settleLaunchIntent(jm, context, cluster, report);
    else if (endedEmpty) await jm.store.removeCluster(pool, cluster.clusterId);
  }
  const grantTimeout = context.settings.grantTimeoutSeconds * 1000;
  const inFlight: QueueEntry[] = [];
  const redeliver: Grant[] = [];
  const handedBack: Grant[] = [];
  const mayBatch = addStepsTokenPeek(jm, context);
  for (const entry of granting) {
    if ((entry.claimedAt ?? 0) + grantTimeout > now) {
      inFlight.push(entry);
      continue;
    }
    // Handed back and still no token: it waits as it is (its lease counts on its cluster), for a later dispatch.
    const group = handedBackGroup(entry.claimedAt);
    if (group !== undefined && !(await mayBatch())) continue;
    wrote = true;
    const cluster = entry.grantCluster ? await jm.store.getCluster(pool, entry.grantCluster) : null;
    if (!cluster?.leases[entry.entryId]) {
      await jm.store.unclaim(entry, entry.claimedAt ?? 0);
      continue;
    }
    // Two sweeps may find the same stale claim: only the one that takes it over sends the slot again.
    const reclaimedAt = jm.clock.now();
    if (reclaimedAt === entry.claimedAt || !(await jm.store.reclaim(entry, entry.claimedAt ?? 0, reclaimedAt))) continue;
    (group === undefined ? redeliver : handedBack).push({
      entry: { ...entry, claimedAt: reclaimedAt },
      cluster,
      expiresAt: cluster.leases[entry.entryId].expiresAt,
      ...(group ? { batch: group } : {}),
    });
  }
  // A claim left half done may have had its step submitted (a crash, a lost answer): look it up by name first.
  await deliverGrants(jm, context, redeliver, report, true);
  return { granting: inFlight, handedBack, ...(wrote ? {} : { unchanged: { guard, clusters } }) };
}

/** One read-plan-apply pass; true when a write lost a race and another pass may grant more. */
async function dispatchOnce(jm: JobManagerContext, context: PoolContext, report: DispatchReport, read?: SweepRead): Promise<boolean> {
  const { pool, settings } = context;
  const configHash = jm.configHashOf(pool);
  const granting = read?.granting;
  const guard = read?.unchanged?.guard ?? (await jm.store.readLaunchGuard(pool.name));
  const clusters = read?.unchanged?.clusters ?? (await jm.store.listClusters(pool.name));
  const now = jm.clock.now();
  const bucket = await jm.store.readBucket('RunJobFlow', now, settings.runJobFlowBudget);
  const launchTokens = refillBucket(bucket, now, settings.runJobFlowBudget).tokens;
  const queue = await readQueue(jm, context, now, clusters, granting);
  // Launches are sized on every waiting unit and entry, read or not (the entries read are a floor: see DispatchInput).
  const queued = queuedSum((await jm.store.queuedTally(pool.name)).levels);
  const plan = planDispatch({
    pool,
    configHash,
    clusters,
    queue,
    now,
    agingSecondsPerLevel: settings.agingSecondsPerLevel,
    maxWaitSeconds: settings.maxWaitSeconds,
    launchTokens,
    queued,
  });
  report.queued = queue.filter((entry) => entry.state === 'waiting').length;

  const entries = new Map(queue.map((entry) => [entry.entryId, entry]));
  const byId = new Map(clusters.map((cluster) => [cluster.clusterId, cluster]));
  let lostRace = false;
  const grants: Grant[] = [];
  const mayBatch = addStepsTokenPeek(jm, context);
  for (const grant of plan.grants) {
    const entry = entries.get(grant.entryId) as QueueEntry;
    const cluster = byId.get(grant.clusterId) as PoolCluster;
    // Parked again while the lapsed lease of its abandoned grant waits for a cancelled step to end: not before that.
    if (entry.state === 'waiting' && clusters.some((held) => (held.leases[entry.entryId]?.expiresAt ?? Number.POSITIVE_INFINITY) <= now)) continue;
    // Its step could not be submitted now (no AddJobFlowSteps token): it keeps its place for a later dispatch.
    if (entry.step && !(await mayBatch())) continue;
    const claimedAt = jm.clock.now();
    if (!(await jm.store.claim(entry, cluster.clusterId, claimedAt))) {
      lostRace = true;
      continue;
    }
    const claimed = { ...entry, state: 'granting' as const, grantCluster: cluster.clusterId, claimedAt };
    const expiresAt = leaseExpiry(entry, claimedAt, settings.leaseSeconds);
    const leased = await jm.store.lease(cluster, entry.entryId, { execution: entry.execution, units: entry.units, grantedAt: claimedAt, expiresAt });
    if (!leased) {
      await jm.store.unclaim(entry, claimedAt);
      lostRace = true;
      // Later entries must not overtake this one on another cluster in this pass: re-plan from fresh reads.
      break;
    }
    grants.push({ entry: claimed, cluster, expiresAt });
    report.queued -= 1;
  }
  // Handed-back grants go in the same batch as this pass's on their cluster. Jobs put back from an ended
  // cluster: another pass grants them elsewhere (or plans the launch they need).
  if (await deliverGrants(jm, context, [...(read?.handedBack ?? []), ...grants], report, false)) lostRace = true;

  if (plan.launches > 0 && !lostRace) await launch(jm, context, configHash, guard, plan.launches, clusters, report);
  return lostRace;
}
