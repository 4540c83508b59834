/**
 * Delivering grants (see jobManager.ts, "Batched submission"): one AddJobFlowSteps per cluster for the steps of the jobs granted on it,
 * then each slot sent.
 */
import { addStepsBudget } from '../config/pools';
import type { PoolCluster, QueueEntry } from '../domain/pools';
import { EmrApiError, EmrThrottledError, isClusterEndedRefusal } from '../errors';
import type { Slot, StepDefinition } from './ports';
import { WAITER_GONE, type JobManagerContext } from './context';
import type { DispatchReport, PoolContext } from './jobManager';
import { stepsEnded } from './release';

/**
 * The claimedAt of a grant handed back after a throttled AddJobFlowSteps: stale at once (the next sweep takes
 * it over), and known to have nothing on the cluster (EMR adds nothing to a throttled call), so it is
 * submitted again without the ListSteps a half-done grant needs. Zero is never a real claim time.
 */
export const HANDED_BACK = 0;

/**
 * Halves of a refused batch handed back for want of a token are marked claimedAt = −group (1..SPLIT_GROUPS,
 * known unsubmitted too) and submitted apart, each in its own call: merged again into one batch with the
 * refused step they would be refused again, and with one token a pass (a burst) never split: a livelock.
 * Two groups that happen to share a number on a cluster are only submitted together, then split again.
 */
const SPLIT_GROUPS = 999;

/** The batch group of a handed-back claim (0: none, submitted with the pass's grants), else undefined. */
export function handedBackGroup(claimedAt: number | undefined): number | undefined {
  return claimedAt !== undefined && claimedAt <= HANDED_BACK && claimedAt >= -SPLIT_GROUPS ? -claimedAt || 0 : undefined;
}

function nextSplitGroup(jm: JobManagerContext): number {
  jm.splitGroups = (jm.splitGroups % SPLIT_GROUPS) + 1;
  return jm.splitGroups;
}

/** Hands the grants back, known unsubmitted, for a later dispatch (in their group, if a refused batch's half). */
async function handBack(jm: JobManagerContext, grants: Grant[]): Promise<void> {
  for (const { entry, batch } of grants) await jm.store.reclaim(entry, entry.claimedAt ?? 0, batch ? -batch : HANDED_BACK);
}

/**
 * After a throttled AddJobFlowSteps this job manager (one warm Lambda, the planner's one instance) holds
 * its batches back this long — one token of EMR's 0.5/s refill — instead of spending a throttled call on
 * every park and release meanwhile: the grants wait handed back, as after the throttle itself.
 */
const ADD_STEPS_BACKOFF_MS = 2_000;

/** EMR's limit of PENDING + RUNNING steps per cluster, which bounds one cluster's batch. */
export const MAX_ACTIVE_STEPS = 256;

/** A grant of a dispatch pass: the claimed entry, the cluster it is leased on, and the lease's expiry. */
export interface Grant {
  entry: QueueEntry;
  cluster: PoolCluster;
  expiresAt: number;
  /** The group of a refused batch's half it was handed back in (handedBackGroup): submitted in its own call. */
  batch?: number;
}

/**
 * Delivers a pass's grants: per cluster, the steps of the jobs parked with one go in one AddJobFlowSteps
 * call (see "Batched submission"), then every slot is sent. `resubmission`: the grants are claims taken
 * over from a half-done grant, whose steps may be on the cluster already (looked up by name). True when a
 * cluster had ended and its grants went back to the queue.
 */
export async function deliverGrants(
  jm: JobManagerContext,
  context: PoolContext,
  grants: Grant[],
  report: DispatchReport,
  resubmission: boolean,
): Promise<boolean> {
  const batches = new Map<string, Grant[]>();
  for (const grant of grants) {
    const key = `${grant.batch ?? 0} ${grant.cluster.clusterId}`;
    batches.set(key, [...(batches.get(key) ?? []), grant]);
  }
  let requeued = false;
  for (const clusterGrants of batches.values()) {
    const clusterId = clusterGrants[0].cluster.clusterId;
    let pending: Grant[] = [];
    for (const grant of clusterGrants) {
      if (grant.entry.step) pending.push(grant);
      else await deliver(jm, context, grant.entry, clusterId, grant.expiresAt, report, { redelivery: resubmission });
    }
    if (pending.length === 0) continue;
    if (resubmission) pending = await deliverSubmitted(jm, context, clusterId, pending, report);
    // Each lease held on the cluster besides these runs at most one step: the rest of 256 is this batch's room.
    const others = Object.keys(clusterGrants[0].cluster.leases).filter((id) => !pending.some((grant) => grant.entry.entryId === id)).length;
    const room = Math.max(0, MAX_ACTIVE_STEPS - others);
    // Past the room the entries stay claimed: the sweep delivers them once steps ended.
    if (await submitBatch(jm, context, clusterId, pending.slice(0, room), report)) requeued = true;
  }
  return requeued;
}

/** The grants whose step ListSteps shows on the cluster are delivered with that step; returns the rest. */
async function deliverSubmitted(jm: JobManagerContext, context: PoolContext, clusterId: string, grants: Grant[], report: DispatchReport): Promise<Grant[]> {
  const wanted = new Map(grants.map((grant) => [String(grant.entry.step?.Name), grant]));
  const found = new Map<string, string>();
  try {
    let marker: string | undefined;
    do {
      const page = await jm.emr.listSteps(clusterId, { marker });
      for (const step of page.steps) if (step.Name !== undefined && wanted.has(step.Name) && !found.has(step.Name)) found.set(step.Name, step.Id);
      marker = page.marker;
    } while (marker && found.size < wanted.size);
  } catch (error) {
    // Unknown whether they were submitted: they stay claimed, for the next sweep.
    report.errors.push(`ListSteps ${clusterId}: ${(error as Error).name}: ${(error as Error).message}`);
    return [];
  }
  const rest: Grant[] = [];
  for (const [name, grant] of wanted) {
    const stepId = found.get(name);
    if (stepId === undefined) {
      rest.push(grant);
      continue;
    }
    // Mapped already (a send that failed after the mapping): the mapping may carry RunPooledStep's token.
    if (!(await jm.stepTokens.getStep(clusterId, stepId))) await mapSubmitted(jm, clusterId, stepId, grant.entry);
    await deliver(jm, context, grant.entry, clusterId, grant.expiresAt, report, { redelivery: true, submission: { stepId } });
  }
  return rest;
}

async function mapSubmitted(jm: JobManagerContext, clusterId: string, stepId: string, entry: QueueEntry): Promise<void> {
  await jm.stepTokens.mapStep({ clusterId, stepId, stepName: String(entry.step?.Name ?? ''), execution: entry.execution, submittedAt: jm.clock.now() });
}

/**
 * One AddJobFlowSteps for the grants' steps, then each is mapped and its slot sent. Every call first takes a
 * token of the registry's AddJobFlowSteps bucket (shared by all dispatchers, within EMR's account quota by
 * construction); without one, or within the backoff after a throttle, the grants are handed back as after a
 * throttled call: known unsubmitted, for a later dispatch to submit with whatever else it grants there. A
 * crash between the token and the call only wastes the token. A failed call is handled by batchRefused;
 * true when the cluster had ended and the grants went back to the queue.
 */
async function submitBatch(jm: JobManagerContext, context: PoolContext, clusterId: string, grants: Grant[], report: DispatchReport): Promise<boolean> {
  if (grants.length === 0) return false;
  const now = jm.clock.now();
  if (now < jm.addStepsBackoffUntil || (await jm.store.takeApiTokens('AddJobFlowSteps', 1, now, addStepsBudget(context.settings))) === 0) {
    report.addJobFlowStepsHeld = (report.addJobFlowStepsHeld ?? 0) + 1;
    await handBack(jm, grants);
    return false;
  }
  let stepIds: string[];
  try {
    report.addJobFlowStepsCalls = (report.addJobFlowStepsCalls ?? 0) + 1;
    stepIds = await jm.emr.addSteps(
      clusterId,
      grants.map((grant) => grant.entry.step as StepDefinition),
    );
    if (stepIds.length !== grants.length) throw new EmrApiError(`AddJobFlowSteps returned ${stepIds.length} step ids for ${grants.length} steps`);
  } catch (error) {
    return batchRefused(jm, context, clusterId, grants, report, error as Error);
  }
  for (const [i, grant] of grants.entries()) {
    await mapSubmitted(jm, clusterId, stepIds[i], grant.entry);
    await deliver(jm, context, grant.entry, clusterId, grant.expiresAt, report, { submission: { stepId: stepIds[i] } });
  }
  return false;
}

/**
 * A batch EMR did not take. Throttled: nothing was added, so the claims are handed back at once
 * (HANDED_BACK) and the next dispatch's sweep submits them with whatever else it grants on the cluster.
 * No answer: the steps may have been added, so the claims stay and the sweep after grantTimeoutSeconds looks
 * them up by name. The cluster has ended: see requeueFromEndedCluster. Refused otherwise (EMR validates the
 * whole call and adds all or none): halves are tried until the refused step stands alone, and its slot
 * carries the error, so only that job fails.
 */
async function batchRefused(
  jm: JobManagerContext,
  context: PoolContext,
  clusterId: string,
  grants: Grant[],
  report: DispatchReport,
  error: Error,
): Promise<boolean> {
  const throttled = error instanceof EmrThrottledError || error.name === EmrThrottledError.errorName;
  if (!(error instanceof EmrApiError) || throttled) {
    report.errors.push(`submit ${clusterId} (${grants.length} steps): ${error.name}: ${error.message}`);
    if (throttled) {
      jm.addStepsBackoffUntil = jm.clock.now() + ADD_STEPS_BACKOFF_MS;
      await handBack(jm, grants);
    }
    return false;
  }
  if (isClusterEndedRefusal(error)) {
    await requeueFromEndedCluster(jm, context, clusterId, grants, report, error);
    return true;
  }
  if (grants.length > 1) {
    // Each half is a group of its own from now on, whether it goes now or is handed back (SPLIT_GROUPS).
    const half = Math.ceil(grants.length / 2);
    const firstGroup = nextSplitGroup(jm);
    const secondGroup = nextSplitGroup(jm);
    const first = await submitBatch(
      jm,
      context,
      clusterId,
      grants.slice(0, half).map((grant) => ({ ...grant, batch: firstGroup })),
      report,
    );
    const second = await submitBatch(
      jm,
      context,
      clusterId,
      grants.slice(half).map((grant) => ({ ...grant, batch: secondGroup })),
      report,
    );
    return first || second;
  }
  const submitError = { error: error.name, cause: error.message };
  await deliver(jm, context, grants[0].entry, clusterId, grants[0].expiresAt, report, { submission: { submitError } });
  return false;
}

/**
 * The granted cluster has ended (its idle timeout or a termination raced the grant, and the registry still
 * listed it): nothing ran, so no attempt is spent. The registry marks it ended at once (no further grant
 * lands on it), each lease is given back and each entry returns to waiting with its place (enqueuedAt) and
 * task token, for the next pass to grant elsewhere. Lease first, then entry: a crash between leaves a claim
 * without a lease, which the sweep puts back to waiting.
 */
async function requeueFromEndedCluster(
  jm: JobManagerContext,
  context: PoolContext,
  clusterId: string,
  grants: Grant[],
  report: DispatchReport,
  error: Error,
): Promise<void> {
  const pool = context.pool.name;
  report.errors.push(`submit ${clusterId}: the cluster has ended (${error.message}); ${grants.length} job(s) back in the queue`);
  await jm.store.setClusterState(pool, clusterId, 'TERMINATED');
  for (const { entry } of grants) {
    await jm.store.release(pool, clusterId, entry.entryId);
    if (await jm.store.unclaim(entry, entry.claimedAt ?? 0)) report.requeued = [...(report.requeued ?? []), entry.entryId];
  }
}

/**
 * Sends the waiter its slot and deletes its entry; a waiter that is gone gets its units taken back. A
 * redelivery (the sweep finishing a half-done grant) cannot tell a gone waiter from one the crashed grant
 * already served (its token answers TaskTimedOut either way), so it keeps the lease: the holder's release,
 * its execution's cleanup or the lease's expiry gives it back, never a grant to someone else while it runs.
 */
async function deliver(
  jm: JobManagerContext,
  context: PoolContext,
  entry: QueueEntry,
  clusterId: string,
  leaseExpiresAt: number,
  report: DispatchReport,
  options: { redelivery?: boolean; submission?: Pick<Slot, 'stepId' | 'submitError'> } = {},
): Promise<void> {
  const pool = context.pool.name;
  const claimedAt = entry.claimedAt ?? 0;
  try {
    await jm.sfn.sendSlot(entry.taskToken, {
      pool,
      clusterId,
      lease: entry.entryId,
      units: entry.units,
      leaseExpiresAt,
      enqueuedAt: entry.enqueuedAt,
      grantedAt: claimedAt,
      ...options.submission,
    });
  } catch (error) {
    const name = (error as Error).name;
    if (!WAITER_GONE.has(name)) {
      // Throttled or unreachable: the entry stays claimed and the sweep sends again after grantTimeoutSeconds.
      report.errors.push(`send ${entry.entryId}: ${name}: ${(error as Error).message}`);
      return;
    }
    // A first delivery knows the waiter never had the slot: the lease goes back, and a step submitted for it
    // in the batch, which nobody will attach to, is cancelled first (abandonSubmittedStep). A redelivery
    // cannot know (see above): it keeps the lease, and the step's mapping, for RunPooledStep to attach to.
    const stepId = options.submission?.stepId;
    if (!options.redelivery && stepId !== undefined) await abandonSubmittedStep(jm, pool, clusterId, entry.entryId, stepId, report);
    else if (!options.redelivery) await jm.store.release(pool, clusterId, entry.entryId);
    await jm.store.granted(entry, claimedAt);
    report.abandoned.push(entry.entryId);
    return;
  }
  await jm.store.granted(entry, claimedAt);
  report.granted.push({ entryId: entry.entryId, clusterId });
}

/**
 * A step the batch submitted for a waiter that turned out gone: it is cancelled, and its units stay leased
 * until EMR has ended it. Seen ended within stepsEnded's few looks, the lease and the mapping go at once;
 * otherwise the lease lapses and the mapping stays, so liveSteps holds the lease until the settle sweep sees
 * the step ended (it holds the end, nobody attaching, until HELD_END_TTL_MS) and the lease sweep takes it
 * back. Until then the entry id (parked again by AcquireCapacity's HeartbeatTimeout Retry) is not granted
 * (dispatchOnce). A crash before the lease is settled leaves the claim: the sweep's redelivery keeps the lease
 * until it expires, and liveSteps keeps it past that while the step runs.
 */
async function abandonSubmittedStep(
  jm: JobManagerContext,
  pool: string,
  clusterId: string,
  lease: string,
  stepId: string,
  report: DispatchReport,
): Promise<void> {
  try {
    await jm.emr.cancelSteps(clusterId, [stepId]);
  } catch (error) {
    report.errors.push(`cancel ${stepId}: ${(error as Error).name}: ${(error as Error).message}`);
  }
  if (await stepsEnded(jm, clusterId, [stepId])) {
    await jm.store.release(pool, clusterId, lease);
    await jm.stepTokens.dropStep(clusterId, stepId);
    return;
  }
  await jm.store.lapse(pool, clusterId, lease, jm.clock.now());
}
