/**
 * Steps and their task tokens (SettleSteps, RunPooledStep): submitting, attaching a token, settling, and the sweep for lost events.
 */
import { EMR_LIST_PAGE_SIZE, LIST_STEPS_MAX_IDS, STATES_ERROR, STEP_LIVE_STATES, TASK_TOKEN_GONE } from '../contract';
import { stepSettlement, type ClusterView, type Settlement, type StepView } from '../domain/stepCompletion';
import { EmrApiError } from '../errors';
import type { StepTokenItem } from './store';
import type { JobManagerContext } from './context';
import type { ListStepsRequest } from './ports';
import { MAX_ACTIVE_STEPS } from './submission';
import type { ReconcileReport, SettleResult, SubmitStepRequest } from './jobManager';

/** Waits before each retry of a RUNNING event that found no mapping yet. */
const START_RETRY_MS = [50, 150, 400];
/**
 * How long a dispatcher-submitted step may wait for RunPooledStep's token: its execution is gone after that (it
 * stopped between its slot and RunPooledStep, which attaches within seconds of the slot, minutes with its
 * Lambda retries). The sweep then drops a held end, and cancels a step still running that nobody will attach
 * to (its mapping stays and holds the lease until EMR has ended it): an orphan runs this long, not to its end.
 */
const HELD_END_TTL_MS = 60 * 60_000;
/** A step mapping taken this long ago by a settle that never told its token is a crashed settle: the sweep takes it over. */
const SETTLE_TAKEOVER_MS = 60_000;
/**
 * ListSteps calls one sweep makes at most. EMR's ListSteps quota (account-wide) is a burst of 10 refilled at
 * 0.5/s, and a sweep makes its calls within a second or two: 8 leave 2 for what else lists steps meanwhile
 * (the dispatcher's by-name lookups in submission.ts, a release's stepsEnded).
 */
export const RECONCILE_LIST_STEPS_CALLS = 8;
/**
 * settle-steps' schedule (serverless.yml, rate(5 minutes)): consecutive sweeps have consecutive numbers, which
 * rotate the order in which they reach the clusters (sweepOrder).
 */
export const SETTLE_SWEEP_MS = 5 * 60_000;
/** ListSteps pages that hold a cluster's live steps: at most 256 PENDING or RUNNING (submission.ts), 50 a page. */
const LIVE_STEP_PAGES = Math.ceil(MAX_ACTIVE_STEPS / EMR_LIST_PAGE_SIZE);

/**
 * RunPooledStep of a job parked without its step (the shipped run-job always parks with it, so the dispatcher
 * submits and maps it before the slot: this path serves other callers of the job manager). Its known gap: a
 * Lambda that dies between AddJobFlowSteps' answer and the mapping leaves a step liveSteps cannot see, so once
 * its lease expires (leaseSeconds + the step's timeout after the grant) its units may be granted while it still
 * runs, and the Lambda's retry submits a second step (AddJobFlowSteps has no client token). Closing it would
 * take an intent written before the call and resolved by name, as the dispatcher's batches do.
 */
export async function submitStep(jm: JobManagerContext, request: SubmitStepRequest): Promise<{ StepId: string }> {
  const stepId = await jm.emr.addStep(request.clusterId, request.step);
  if (!stepId) throw new EmrApiError('AddJobFlowSteps returned no step id');
  await jm.stepTokens.mapStep({
    clusterId: request.clusterId,
    stepId,
    stepName: request.step.Name ?? '',
    taskToken: request.taskToken,
    execution: request.execution,
    submittedAt: jm.clock.now(),
  });
  return { StepId: stepId };
}

/**
 * Tells the token mapped to (clusterId, stepId): 'settled'; 'absent' when no mapping is left (settled
 * already — a duplicate event — or not one of ours); 'gone' when the execution had stopped waiting.
 */
export async function settleStep(
  jm: JobManagerContext,
  clusterId: string,
  stepId: string,
  settle: Settlement | ((claimed: StepTokenItem) => Settlement),
): Promise<SettleResult> {
  // Taken, not deleted: a settle that dies before telling leaves the mapping, which the sweep takes over.
  const now = jm.clock.now();
  const item = await jm.stepTokens.takeStep(clusterId, stepId, now, now - SETTLE_TAKEOVER_MS);
  if (!item) return 'absent';
  const settlement = item.held ?? (typeof settle === 'function' ? settle(item) : settle);
  const taskToken = item.taskToken ?? (await holdUntilAttached(jm, item, settlement));
  if (taskToken === undefined) return item.held ? 'absent' : 'settled';
  let result: SettleResult = 'settled';
  try {
    if (settlement.outcome === 'success') await jm.sfn.sendSuccess(taskToken, settlement.output);
    else await jm.sfn.sendFailure(taskToken, settlement.error, settlement.cause);
  } catch (error) {
    if (!TASK_TOKEN_GONE.has((error as Error).name)) {
      // Not told: the mapping goes back so a retry of this event, or the sweep, tells it.
      await jm.stepTokens.restoreStep({ ...item, taskToken });
      throw error;
    }
    result = 'gone';
  }
  await jm.stepTokens.dropStep(clusterId, stepId);
  return result;
}

/**
 * A taken mapping with no token: the dispatcher submitted the step and RunPooledStep has not attached its
 * token yet, so the mapping keeps how the step ended, for attachStep to tell (undefined). A token attached
 * meanwhile refuses the hold: it is read back, and this settle tells it (the take is still this one's).
 */
async function holdUntilAttached(jm: JobManagerContext, item: StepTokenItem, settlement: Settlement): Promise<string | undefined> {
  if (await jm.stepTokens.holdStep(item, settlement, jm.clock.now())) return undefined;
  const now = await jm.stepTokens.getStep(item.clusterId, item.stepId);
  return now?.takenAt === item.takenAt ? now?.taskToken : undefined;
}

/**
 * RunPooledStep of a step the dispatcher submitted: attaches its token to the step's mapping, from when
 * SettleSteps tells it. A step that ended before (its settlement held on the mapping) is told at once; a
 * settle that has the mapping taken right now sees the token and tells it instead.
 */
export async function attachStep(
  jm: JobManagerContext,
  request: { clusterId: string; stepId: string; taskToken: string },
): Promise<{ StepId: string; settled: boolean }> {
  const { clusterId, stepId, taskToken } = request;
  const item = await jm.stepTokens.attachToken(clusterId, stepId, taskToken);
  if (!item) throw new EmrApiError(`step ${stepId} on ${clusterId} has no mapping to attach RunPooledStep's token to`);
  if (!item.held) return { StepId: stepId, settled: false };
  await settleStep(jm, clusterId, stepId, item.held);
  return { StepId: stepId, settled: true };
}

/**
 * A step's RUNNING event: its mapping keeps the start time. A step can start the instant AddJobFlowSteps
 * returns, so its event may overtake submitStep's mapping: a missing mapping is tried again a few times
 * before the event is taken for another cluster's step.
 */
export async function noteStepStarted(jm: JobManagerContext, clusterId: string, stepId: string, at: string): Promise<boolean> {
  for (let attempt = 0; ; attempt += 1) {
    if (await jm.stepTokens.noteStepStarted(clusterId, stepId, at)) return true;
    if (attempt >= START_RETRY_MS.length) return false;
    await jm.clock.sleep(START_RETRY_MS[attempt]);
  }
}

/** A cluster is ending or ended: each token still mapped on it fails with `{ Step, Cluster }`, as `.sync` fails it. */
export async function failClusterSteps(jm: JobManagerContext, cluster: ClusterView): Promise<Record<SettleResult, number>> {
  const counts: Record<SettleResult, number> = { settled: 0, absent: 0, gone: 0 };
  for (const item of await jm.stepTokens.mappedSteps(cluster.Id)) {
    // What the step did last is not in the event: the step is named by id and name only.
    const cause = JSON.stringify({ Step: { Id: item.stepId, Name: item.stepName }, Cluster: cluster });
    counts[await settleStep(jm, cluster.Id, item.stepId, { outcome: 'failure', error: STATES_ERROR.taskFailed, cause })] += 1;
  }
  return counts;
}

/**
 * The safety net for lost events, in ListSteps calls that grow with the clusters' live steps, not with their
 * history: per cluster with mappings, its live steps (StepStates), then the mapped steps that were not among
 * them, by id (StepIds), settling what ended and heartbeating what runs. At most RECONCILE_LIST_STEPS_CALLS
 * calls: the clusters past them (deferred) come first in the next sweep (sweepOrder).
 */
export async function reconcileSteps(jm: JobManagerContext): Promise<ReconcileReport> {
  const report: ReconcileReport = { clusters: 0, listStepsCalls: 0, deferred: 0, settled: 0, heartbeats: 0, cancelled: 0, unseen: 0, errors: [] };
  const budget = { calls: RECONCILE_LIST_STEPS_CALLS };
  for (const [clusterId, items] of sweepOrder(await waitingByCluster(jm), jm.clock.now())) {
    if (budget.calls === 0) {
      report.deferred += 1;
      continue;
    }
    report.clusters += 1;
    const { views, unseen, cut } = await listWaitingSteps(jm, clusterId, items, budget, report);
    if (cut) report.deferred += 1;
    report.unseen += unseen.length;
    for (const item of items) {
      const view = views.get(item.stepId);
      if (view) await reconcileStep(jm, item, view, report);
    }
  }
  return report;
}

/**
 * The mappings the sweep looks up, by cluster. A held end waits for RunPooledStep's token (attachStep tells
 * it): nothing to look up, and dropped once no token came for too long. One with a token is an attach that
 * died before telling it: it is settled like any other (the held end is told).
 */
async function waitingByCluster(jm: JobManagerContext): Promise<Map<string, StepTokenItem[]>> {
  const byCluster = new Map<string, StepTokenItem[]>();
  for (const item of await jm.stepTokens.allMappedSteps()) {
    if (item.held && item.taskToken === undefined) {
      if ((item.heldAt ?? 0) + HELD_END_TTL_MS <= jm.clock.now()) await jm.stepTokens.dropStep(item.clusterId, item.stepId);
      continue;
    }
    const items = byCluster.get(item.clusterId);
    if (items) items.push(item);
    else byCluster.set(item.clusterId, [item]);
  }
  return byCluster;
}

/**
 * The clusters by id, rotated by RECONCILE_LIST_STEPS_CALLS places each sweep (numbered by its time), so that,
 * while each cluster takes one call (under 50 live steps, no mapped step ended), the clusters one sweep
 * deferred are the next one's first, without a cursor to store. With more calls a cluster, or more than twice
 * RECONCILE_LIST_STEPS_CALLS clusters, one may be left out of two sweeps running, and its steps miss
 * RunPooledStep's heartbeat (three sweeps): the cap's known limit, which a larger ListSteps quota lifts. Not
 * the oldest mapping first: a cluster of long steps would come first every time, and the clusters past the
 * cap would never be reached while they run.
 */
function sweepOrder(byCluster: Map<string, StepTokenItem[]>, now: number): Array<[string, StepTokenItem[]]> {
  const clusters = [...byCluster].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (clusters.length === 0) return clusters;
  const start = (Math.floor(now / SETTLE_SWEEP_MS) * RECONCILE_LIST_STEPS_CALLS) % clusters.length;
  return [...clusters.slice(start), ...clusters.slice(0, start)];
}

/**
 * What EMR shows of a cluster's mapped steps: its live steps first (a few pages, whatever its history), then
 * the mapped ones not among them, ten ids a call: those ended since (their event lost or still on its way), and
 * what even that does not show is unseen (not EMR's, or long gone). `cut`: the sweep's calls ran out first, and
 * what was not looked up waits for the next sweep. A failed call is reported, and ends the cluster's look-up.
 */
async function listWaitingSteps(
  jm: JobManagerContext,
  clusterId: string,
  items: StepTokenItem[],
  budget: { calls: number },
  report: ReconcileReport,
): Promise<{ views: Map<string, StepView>; unseen: string[]; cut: boolean }> {
  const waiting = new Set(items.map((item) => item.stepId));
  const views = new Map<string, StepView>();
  const unseen: string[] = [];
  const list = async (request: ListStepsRequest): Promise<string | undefined> => {
    budget.calls -= 1;
    report.listStepsCalls += 1;
    const page = await jm.emr.listSteps(clusterId, request);
    for (const step of page.steps) if (waiting.has(step.Id)) views.set(step.Id, step);
    return page.marker;
  };
  try {
    let marker: string | undefined;
    let pages = 0;
    do {
      if (budget.calls === 0) return { views, unseen, cut: true };
      marker = await list({ marker, stepStates: STEP_LIVE_STATES });
      pages += 1;
    } while (marker && views.size < waiting.size && pages < LIVE_STEP_PAGES);
    const rest = [...waiting].filter((stepId) => !views.has(stepId));
    for (let i = 0; i < rest.length; i += LIST_STEPS_MAX_IDS) {
      if (budget.calls === 0) return { views, unseen, cut: true };
      const stepIds = rest.slice(i, i + LIST_STEPS_MAX_IDS);
      await list({ stepIds });
      unseen.push(...stepIds.filter((stepId) => !views.has(stepId)));
    }
  } catch (error) {
    report.errors.push(`ListSteps ${clusterId}: ${(error as Error).name}: ${(error as Error).message}`);
  }
  return { views, unseen, cut: false };
}

/** One mapped step as EMR shows it: settled once ended, else its token heartbeated (or, abandoned, the step cancelled). */
async function reconcileStep(jm: JobManagerContext, item: StepTokenItem, view: StepView, report: ReconcileReport): Promise<void> {
  const { clusterId, stepId } = item;
  const settlement = stepSettlement(view);
  try {
    if (settlement) {
      if ((await settleStep(jm, clusterId, stepId, settlement)) === 'settled') report.settled += 1;
    } else if (item.taskToken !== undefined) {
      await jm.sfn.sendHeartbeat(item.taskToken);
      report.heartbeats += 1;
    } else if (item.submittedAt + HELD_END_TTL_MS <= jm.clock.now() && view.Status.State !== 'CANCEL_PENDING') {
      await cancelAbandonedStep(jm, clusterId, stepId, report);
    }
  } catch (error) {
    // The execution stopped waiting (its timeout, a stop) while its step runs on: nobody will use its
    // output, so it is cancelled. Its mapping stays until the step is seen ended (this sweep or its
    // event settles it as 'gone'), because it is what holds the step's lease (liveSteps).
    if (TASK_TOKEN_GONE.has((error as Error).name)) await cancelAbandonedStep(jm, clusterId, stepId, report);
    else report.errors.push(`${stepId}: ${(error as Error).name}: ${(error as Error).message}`);
  }
}

async function cancelAbandonedStep(jm: JobManagerContext, clusterId: string, stepId: string, report: ReconcileReport): Promise<void> {
  try {
    await jm.emr.cancelSteps(clusterId, [stepId]);
    report.cancelled += 1;
  } catch (error) {
    report.errors.push(`cancel ${stepId}: ${(error as Error).name}: ${(error as Error).message}`);
  }
}
