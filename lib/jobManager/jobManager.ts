/**
 * The job manager (ARCHITECTURE §5): application logic between the pure domain (lib/domain/pools.ts,
 * lib/domain/stepCompletion.ts) and the outside world. Each operation reads its store, decides with the
 * domain's functions and applies the decision with the store's conditional writes; EMR, Step Functions
 * and the clock are ports. The Lambdas (functions/*) build it on DynamoDB and the SDK
 * (lib/aws/jobManagerPorts.ts); the capacity planner builds it on the in-memory store, its simulated EMR
 * and its virtual clock, so both run this one copy.
 *
 *   park              AcquireCapacity: queue the job (with its task token), then dispatch its pool. The job is
 *                     never leased directly, even when there is room: a new arrival must not overtake parked
 *                     jobs of higher (or aged) priority, so every grant comes from dispatch in queue order.
 *   release           ReleaseCapacity: give the lease back (idempotent), then dispatch: freed units go to the queue.
 *                     A step of its execution EMR may still run is cancelled, and keeps the lease until it ends.
 *   dispatch          DispatchQueue: sweep (expired leases, half-done grants, stale launch placeholders, ended
 *                     empty clusters), grant the heads of the queue, launch clusters.
 *   observeClusterState  a cluster's EMR state (an event or DescribeCluster), then dispatch.
 *   reconcile         the one-minute safety net: cluster states from EMR, and heartbeats to the parked
 *                     executions whose heartbeat is due (each about once per HeartbeatSeconds, not every minute).
 *   releaseExecution  CleanupExecution: what an execution that ended without teardown still holds.
 *   submitStep        RunPooledStep of a job parked without its step: AddJobFlowSteps, then the step → token mapping.
 *   attachStep        RunPooledStep of a job whose step the dispatcher submitted: its token onto the step's mapping.
 *   settleStep        SettleSteps: take the mapping (one taker) and tell its token; a failed send puts it back.
 *   noteStepStarted / failClusterSteps / reconcileSteps   the rest of SettleSteps (events and its sweep).
 *
 * Grant protocol (per waiter): claim the entry for a cluster → take the lease (id = entry id) → send the
 * task token the slot → delete the entry. A crash at any point leaves a `granting` entry that the next
 * dispatch after grantTimeoutSeconds finishes (lease held: send again) or undoes (no lease: back to waiting),
 * so a waiter is never lost, and it gets at most one lease because the lease id is the entry id and the
 * claim fixes the cluster.
 *
 * Batched submission: a job parked with its step (AcquireCapacity's `step`) has it submitted by the dispatcher
 * that grants it, with every other step granted on the same cluster in the pass, in ONE AddJobFlowSteps call
 * (EMR's 0.5/s quota is per call, not per step; its limit is 256 PENDING + RUNNING steps per cluster), between
 * the lease and the slot: the slot carries the step id, so RunPooledStep submits nothing and only attaches its
 * task token to the step's mapping (the token does not exist before that state starts; a step that ends first
 * keeps its settlement on the mapping, `held`, until it does). Submission before delivery keeps the grant
 * protocol's repair: a throttled batch (EMR added nothing) hands its claims back and the next dispatch's sweep
 * submits them; a batch whose answer was lost, or a crash after it, leaves the claims, and the sweep after
 * grantTimeoutSeconds first looks each step up by name (ListSteps), so no step is submitted twice; a refused
 * batch is split until the refused step stands alone, and only that job's slot carries the error
 * (submitError). A batch refused because its cluster has ended (auto-terminated after idle while the registry
 * still listed it) marks the cluster ended and puts its jobs back in the queue: no attempt is spent.
 *
 * Launch protocol: write placeholder cluster items (STARTING, so every dispatcher counts them), move the
 * pool's launch guard past the version read before listing clusters (only one dispatcher per version),
 * take RunJobFlow tokens, call RunJobFlow, register the real cluster and drop the placeholder. The placeholder
 * is the launch intent: its id is in the cluster's name, so a crash between RunJobFlow and the registry write
 * leaves a stale placeholder whose cluster the sweep finds and adopts (settleLaunchIntent).
 *
 * Lease protocol: a lease is never taken back while a step of its execution may still run on its cluster
 * (mapped, not seen ended): release and cleanup cancel such a step and release only once EMR shows it ended,
 * else lapse the lease; the sweep expires a lapsed lease only once the step is seen ended. Leases are not
 * renewed (see sweep). A batched grant's step is on the cluster before it is mapped: while that grant is in
 * flight its lease is the grant's (neither the sweep nor cleanup takes it), and a first delivery that finds the
 * waiter gone cancels the step and lapses the lease (abandonSubmittedStep).
 *
 * The queue is read by its heads: each priority level's oldest waiting entries (the order the store serves),
 * merged with bounded aging (mergeQueueHeads). A dispatch reads a page per level, more only while the merged
 * prefix is too short to fill every job slot of the pool or to size its launches, so its work does not
 * grow with the queue.
 */
import type { DispatcherSettings, PoolDefinition } from '../config/pools';
import { CLUSTER_ENDED_STATES, STATES_ERROR, STEP_ENDED_STATES, TASK_TOKEN_GONE } from '../contract';
import {
  PRIORITIES,
  expiredLeaseIds,
  leaseExpiry,
  leaseId,
  isAlive,
  mergeQueueHeads,
  planDispatch,
  poolConfigHash,
  refillBucket,
  type PoolCluster,
  type PoolClusterState,
  type QueueEntry,
} from '../domain/pools';
import { stepSettlement, type ClusterView, type Settlement, type StepView } from '../domain/stepCompletion';
import type { Priority } from '../domain/types';
import { EmrApiError, EmrThrottledError, LaunchFailedError, isClusterEndedRefusal, isTransientLaunchError } from '../errors';
import type { Clock, EmrPort, Slot, StepDefinition, StepFunctionsPort } from './ports';
import type { RegistryStore, StepTokenItem, StepTokenStore } from './store';

export type { Slot } from './ports';

export const PLACEHOLDER_PREFIX = 'pending-';

/**
 * The claimedAt of a grant handed back after a throttled AddJobFlowSteps: stale at once (the next sweep takes
 * it over), and known to have nothing on the cluster (EMR adds nothing to a throttled call), so it is
 * submitted again without the ListSteps a half-done grant needs. Zero is never a real claim time.
 */
const HANDED_BACK = 0;

/**
 * After a throttled AddJobFlowSteps this job manager (one warm Lambda, the planner's one instance) holds
 * its batches back this long — one token of EMR's 0.5/s refill — instead of spending a throttled call on
 * every park and release meanwhile: the grants wait handed back, as after the throttle itself.
 */
const ADD_STEPS_BACKOFF_MS = 2_000;

/** EMR's limit of PENDING + RUNNING steps per cluster, which bounds one cluster's batch. */
const MAX_ACTIVE_STEPS = 256;

/** A grant of a dispatch pass: the claimed entry, the cluster it is leased on, and the lease's expiry. */
interface Grant {
  entry: QueueEntry;
  cluster: PoolCluster;
  expiresAt: number;
}

/** SendTaskSuccess errors that mean the waiter is no longer there: its units go back, the entry goes. */
export const WAITER_GONE: ReadonlySet<string> = TASK_TOKEN_GONE;

/** A placeholder older than this is a launch that crashed between its placeholder and its registry write. */
const LAUNCH_TIMEOUT_MS = 5 * 60_000;
/** How long a crashed launch's intent waits for EMR to answer whether the launch made a cluster. */
const LAUNCH_INTENT_GIVE_UP_MS = 30 * 60_000;
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
/** Waits before each retry of a RunJobFlow EMR answered with a transient error (each retry takes a token). */
const LAUNCH_RETRY_MS = [1_000, 4_000];
/** Waiting entries read per page while failing the jobs a launch that cannot happen leaves without a cluster. */
const LAUNCH_FAILURE_PAGE = 100;
/** Waits before each ListSteps that looks for a cancelled step's end before its lease is released (the first: none). */
const CANCEL_CHECK_MS = [0, 500, 1_500];
/** ListSteps pages read per look (newest first: a step just cancelled is on the first). */
const CANCEL_CHECK_PAGES = 3;
/** Passes of dispatch when a grant lost a race to a concurrent write (the next pass re-reads). */
const MAX_PASSES = 3;
/** Waits before each retry of a RUNNING event that found no mapping yet. */
const START_RETRY_MS = [50, 150, 400];
/**
 * A step's end held this long for a RunPooledStep that never attached its token: its execution is gone (it
 * stopped between its slot and RunPooledStep, which attaches within seconds of the slot), so the sweep drops it.
 */
const HELD_END_TTL_MS = 60 * 60_000;
/** A step mapping taken this long ago by a settle that never told its token is a crashed settle: the sweep takes it over. */
const SETTLE_TAKEOVER_MS = 60_000;

export interface JobManagerPorts {
  registry: RegistryStore;
  stepTokens: StepTokenStore;
  emr: EmrPort;
  sfn: StepFunctionsPort;
  clock: Clock;
  /** A launch placeholder's id (random on AWS; the planner numbers them). */
  placeholderId(): string;
}

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
  /** The job's step, for the dispatcher to submit in its cluster's batch (see "Batched submission"). */
  step?: StepDefinition;
}

export interface DispatchReport {
  pool: string;
  granted: Array<{ entryId: string; clusterId: string }>;
  launched: string[];
  /** Clusters a crashed launch made that the registry did not know, found by their launch id and registered. */
  adopted: string[];
  expired: Array<{ clusterId: string; lease: string }>;
  /** Entries whose waiter was gone when granted: their lease was given back. */
  abandoned: string[];
  /** Waiting entries the dispatch read and did not grant (the queue's heads: a deep queue holds more). */
  queued: number;
  /** RunJobFlow calls that failed for good (not throttling, capacity or a 5xx): what the LaunchFailures metric counts. */
  launchFailures: Array<{ error: string; message: string }>;
  /** Entries failed with Placement.LaunchFailed because of such a failure (withdrawn, then told). */
  launchFailed: string[];
  errors: string[];
  /** AddJobFlowSteps calls the dispatch made (one per cluster per pass, more only to isolate a refused step). */
  addJobFlowStepsCalls?: number;
  /** Grants whose cluster turned out to have ended when their batch was submitted: back in the queue. */
  requeued?: string[];
}

/** What a stopped execution held in the pools, and what became of it. */
export interface ExecutionHoldings {
  /** Its leases (found by the lease's execution), each released (false: it was already gone). */
  leases: Array<{ pool: string; clusterId: string; lease: string; units: number; released: boolean; running: string[] }>;
  /**
   * Its queue entries (entry id `execution#attempt`): a waiting entry is withdrawn; one a dispatcher is
   * granting right now is left to that grant, whose SendTaskSuccess answers TaskTimedOut and gives the lease back.
   */
  entries: Array<{ pool: string; entryId: string; state: 'waiting' | 'granting'; withdrawn: boolean }>;
}

export interface SubmitStepRequest {
  clusterId: string;
  step: StepDefinition;
  taskToken: string;
  execution: string;
}

export type SettleResult = 'settled' | 'absent' | 'gone';

export interface ReconcileReport {
  clusters: number;
  listStepsCalls: number;
  settled: number;
  heartbeats: number;
  /** Running steps whose execution stopped waiting, cancelled (their mapping holds their lease until they end). */
  cancelled: number;
  /** Mapped steps ListSteps did not show (their wait's heartbeat and timeout bound them). */
  unseen: number;
  errors: string[];
}

export interface PoolReconcileReport {
  states: Record<string, PoolClusterState>;
  /** SendTaskHeartbeat calls that landed (only the entries due). */
  heartbeats: number;
  withdrawn: string[];
  errors: string[];
}

/** The job manager's operations; createJobManager builds the one implementation. */
export interface JobManager {
  park(context: PoolContext, request: ParkRequest): Promise<{ entryId: string; dispatch: DispatchReport }>;
  /** `running`: steps of the lease's execution still running, cancelled; the lease is kept until they end (released: false). */
  release(
    context: PoolContext,
    slot: Pick<Slot, 'clusterId' | 'lease'>,
  ): Promise<{ released: boolean; units: number; running: string[]; dispatch: DispatchReport }>;
  dispatch(context: PoolContext): Promise<DispatchReport>;
  observeClusterState(context: PoolContext, clusterId: string, state: PoolClusterState): Promise<{ recorded: boolean; dispatch: DispatchReport }>;
  reconcile(context: PoolContext): Promise<PoolReconcileReport>;
  releaseExecution(pools: readonly string[], execution: string): Promise<ExecutionHoldings>;
  submitStep(request: SubmitStepRequest): Promise<{ StepId: string }>;
  attachStep(request: { clusterId: string; stepId: string; taskToken: string }): Promise<{ StepId: string; settled: boolean }>;
  settleStep(clusterId: string, stepId: string, settle: Settlement | ((claimed: StepTokenItem) => Settlement)): Promise<SettleResult>;
  noteStepStarted(clusterId: string, stepId: string, at: string): Promise<boolean>;
  failClusterSteps(cluster: ClusterView): Promise<Record<SettleResult, number>>;
  reconcileSteps(): Promise<ReconcileReport>;
  /** Units leased on the pool's clusters now (the dashboard's "units in use"). */
  unitsInUse(context: PoolContext): Promise<number>;
}

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

export function createJobManager(ports: JobManagerPorts): JobManager {
  const { registry: store, stepTokens, emr, sfn, clock } = ports;
  /** A pool's configuration hash, computed once per definition (a SHA-256 of its JSON, on every dispatch otherwise). */
  const hashes = new WeakMap<PoolDefinition, string>();
  /** Until when batches are held back after a throttled AddJobFlowSteps (ADD_STEPS_BACKOFF_MS). */
  let addStepsBackoffUntil = 0;
  const configHashOf = (pool: PoolDefinition): string => {
    const known = hashes.get(pool);
    if (known !== undefined) return known;
    const hash = poolConfigHash(pool);
    hashes.set(pool, hash);
    return hash;
  };

  async function park(context: PoolContext, request: ParkRequest): Promise<{ entryId: string; dispatch: DispatchReport }> {
    const entryId = leaseId(request.execution, request.attempt);
    await store.park({
      pool: context.pool.name,
      entryId,
      execution: request.execution,
      priority: request.priority,
      units: request.units,
      enqueuedAt: clock.now(),
      heartbeatDue: clock.now() + firstHeartbeatDelay(entryId),
      taskToken: request.taskToken,
      ...(request.holdSeconds === undefined ? {} : { holdSeconds: request.holdSeconds }),
      ...(request.step === undefined ? {} : { step: request.step }),
    });
    return { entryId, dispatch: await dispatch(context) };
  }

  /**
   * Gives a lease back, unless a step of its execution may still run on the cluster (run-job's failure path
   * after RunPooledStep timed out, or any path that gives up on a step EMR still runs): that step is
   * cancelled and the lease kept, because its units are in use until EMR ends it: the lease lapses now, and
   * the sweep takes it back once no step of its execution may still run (see sweep).
   */
  async function release(context: PoolContext, slot: Pick<Slot, 'clusterId' | 'lease'>) {
    const running = await cancelRunningSteps(context.pool.name, slot.clusterId, slot.lease);
    const released = running.length > 0 ? { released: false, units: 0 } : await store.release(context.pool.name, slot.clusterId, slot.lease);
    return { ...released, running, dispatch: await dispatch(context) };
  }

  /** Cancels the steps of a lease's execution that may still run on its cluster (none on an ended cluster); their ids. */
  async function cancelRunningSteps(pool: string, clusterId: string, lease: string): Promise<string[]> {
    const cluster = await store.getCluster(pool, clusterId);
    const held = cluster?.leases[lease];
    if (!cluster || !held) return [];
    return giveUpRunningSteps(cluster, lease, held.execution);
  }

  /**
   * Cancels the steps of `execution` that may still run on `cluster` and, if there are any, lapses the lease
   * now (instead of releasing it): the sweep then takes it back as soon as the steps are seen ended, not at
   * the end of the step's timeout. Their ids (none: the caller releases the lease).
   */
  async function giveUpRunningSteps(cluster: PoolCluster, lease: string, execution: string): Promise<string[]> {
    const running = await stepsStillRunning(cluster, execution);
    if (running.length === 0) return running;
    await emr.cancelSteps(cluster.clusterId, running);
    // TERMINATE_PROCESS usually ends a step within seconds: seen ended, the lease is released at once.
    if (await stepsEnded(cluster.clusterId, running)) return [];
    await store.lapse(cluster.pool, cluster.clusterId, lease, clock.now());
    return running;
  }

  /** Whether EMR shows every one of `stepIds` ended, within a few ListSteps calls spread over CANCEL_CHECK_MS. */
  async function stepsEnded(clusterId: string, stepIds: string[]): Promise<boolean> {
    for (const wait of CANCEL_CHECK_MS) {
      await clock.sleep(wait);
      try {
        const states = new Map<string, string>();
        let marker: string | undefined;
        for (let page = 0; page < CANCEL_CHECK_PAGES && (page === 0 || marker); page += 1) {
          const listed = await emr.listSteps(clusterId, marker);
          for (const step of listed.steps) states.set(step.Id, step.Status.State);
          marker = listed.marker;
          if (stepIds.every((id) => states.has(id))) break;
        }
        if (stepIds.every((id) => STEP_ENDED_STATES.has(states.get(id) ?? ''))) return true;
      } catch {
        return false; // Not seen ended: the lease lapses and the sweep decides once the step is seen ended.
      }
    }
    return false;
  }

  /** Steps of `execution` that may still run on `cluster`: mapped and not yet seen ended (an ended cluster runs none). */
  async function stepsStillRunning(cluster: PoolCluster, execution: string): Promise<string[]> {
    if (CLUSTER_ENDED_STATES.has(cluster.state)) return [];
    return stepTokens.liveSteps(cluster.clusterId, execution);
  }

  async function observeClusterState(context: PoolContext, clusterId: string, state: PoolClusterState) {
    const recorded = await store.setClusterState(context.pool.name, clusterId, state);
    return { recorded, dispatch: await dispatch(context) };
  }

  /**
   * Reads each live registered cluster's state from EMR so a missed state-change event cannot leave a
   * cluster STARTING forever or a terminated one taking leases; and heartbeats the parked executions whose
   * heartbeat is due (read through the queue's heartbeat order, never the whole queue), withdrawing entries
   * whose execution is gone. Under the per-run cap, higher priority levels are served first.
   */
  async function reconcile(context: PoolContext): Promise<PoolReconcileReport> {
    const pool = context.pool.name;
    const result: PoolReconcileReport = { states: {}, heartbeats: 0, withdrawn: [], errors: [] };
    for (const cluster of await store.listClusters(pool)) {
      if (cluster.clusterId.startsWith(PLACEHOLDER_PREFIX) || CLUSTER_ENDED_STATES.has(cluster.state)) continue;
      try {
        const state = await emr.describeClusterState(cluster.clusterId);
        if (state && state !== cluster.state && (await store.setClusterState(pool, cluster.clusterId, state))) result.states[cluster.clusterId] = state;
      } catch (error) {
        result.errors.push(`describe ${cluster.clusterId}: ${(error as Error).name}`);
      }
    }
    const now = clock.now();
    let budget = HEARTBEATS_PER_RECONCILE;
    for (const priority of PRIORITIES) {
      let after: string | undefined;
      while (budget > 0) {
        const page = await store.heartbeatsDue(pool, priority, now, Math.min(HEARTBEAT_PAGE, budget), after);
        budget -= page.entries.length;
        for (let i = 0; i < page.entries.length; i += HEARTBEATS_AT_ONCE) {
          await Promise.all(page.entries.slice(i, i + HEARTBEATS_AT_ONCE).map((entry) => heartbeat(entry, result)));
        }
        if (page.next === undefined) break;
        after = page.next;
      }
    }
    return result;
  }

  async function heartbeat(entry: QueueEntry, result: PoolReconcileReport): Promise<void> {
    try {
      await sfn.sendHeartbeat(entry.taskToken);
    } catch (error) {
      const gone = WAITER_GONE.has((error as Error).name);
      // A gone waiter's entry being granted is left to its grant, whose SendTaskSuccess gives the lease back.
      if (gone && (await store.withdraw(entry))) result.withdrawn.push(entry.entryId);
      else if (!gone) result.errors.push(`heartbeat ${entry.entryId}: ${(error as Error).name}`);
      return;
    }
    result.heartbeats += 1;
    await store.heartbeatSent(entry, clock.now() + HEARTBEAT_INTERVAL_MS);
  }

  async function dispatch(context: PoolContext): Promise<DispatchReport> {
    const report: DispatchReport = {
      pool: context.pool.name,
      granted: [],
      launched: [],
      adopted: [],
      expired: [],
      abandoned: [],
      queued: 0,
      launchFailures: [],
      launchFailed: [],
      errors: [],
    };
    // The first pass plans on the grants in flight the sweep just read; a later pass (after a lost race) re-reads.
    let granting: QueueEntry[] | undefined = await sweep(context, report);
    for (let pass = 0; pass < MAX_PASSES; pass += 1) {
      if (!(await dispatchOnce(context, report, granting))) break;
      granting = undefined;
    }
    return report;
  }

  /**
   * Expired leases, half-done grants, stale placeholders and ended clusters without leases. Returns the
   * grants still in flight (claimed within grantTimeoutSeconds), which the dispatch that follows plans on.
   */
  async function sweep(context: PoolContext, report: DispatchReport): Promise<QueueEntry[]> {
    const pool = context.pool.name;
    const now = clock.now();
    const granting = await store.grantingEntries(pool);
    // A batched grant in flight may have its step on the cluster before it is mapped (liveSteps cannot see it
    // yet): its lease is not expired under it, however long crashes drew the grant out (its claim is renewed
    // by each takeover, not its lease); the grant's sweep below maps the step it finds by name.
    const batchedInFlight = new Set(granting.filter((entry) => entry.step !== undefined).map((entry) => entry.entryId));
    for (const cluster of await store.listClusters(pool)) {
      for (const id of expiredLeaseIds(cluster, now)) {
        if (batchedInFlight.has(id)) continue;
        // A lease outlived by its step keeps its units until the step is seen ended: they are still in use.
        // This is why leases are not renewed: a lease lasts leaseSeconds + the step's timeout from its grant,
        // which covers a live job's wait for its slot and its step; past that, expiry is only for holders that
        // are gone, and it frees nothing a step may still use (a renewal, missed once, would).
        if ((await stepsStillRunning(cluster, cluster.leases[id].execution)).length > 0) continue;
        if (await store.expire(pool, cluster.clusterId, id, cluster.leases[id])) report.expired.push({ clusterId: cluster.clusterId, lease: id });
      }
      const stalePlaceholder = cluster.clusterId.startsWith(PLACEHOLDER_PREFIX) && cluster.launchedAt + LAUNCH_TIMEOUT_MS <= now;
      if (stalePlaceholder) await settleLaunchIntent(context, cluster, report);
      else if (CLUSTER_ENDED_STATES.has(cluster.state) && Object.keys(cluster.leases).length === 0) await store.removeCluster(pool, cluster.clusterId);
    }
    const grantTimeout = context.settings.grantTimeoutSeconds * 1000;
    const inFlight: QueueEntry[] = [];
    const redeliver: Grant[] = [];
    const handedBack: Grant[] = [];
    for (const entry of granting) {
      if ((entry.claimedAt ?? 0) + grantTimeout > now) {
        inFlight.push(entry);
        continue;
      }
      const cluster = entry.grantCluster ? await store.getCluster(pool, entry.grantCluster) : null;
      if (!cluster?.leases[entry.entryId]) {
        await store.unclaim(entry, entry.claimedAt ?? 0);
        continue;
      }
      // Two sweeps may find the same stale claim: only the one that takes it over sends the slot again.
      const reclaimedAt = clock.now();
      if (reclaimedAt === entry.claimedAt || !(await store.reclaim(entry, entry.claimedAt ?? 0, reclaimedAt))) continue;
      (entry.claimedAt === HANDED_BACK ? handedBack : redeliver).push({
        entry: { ...entry, claimedAt: reclaimedAt },
        cluster,
        expiresAt: cluster.leases[entry.entryId].expiresAt,
      });
    }
    // A claim left half done may have had its step submitted (a crash, a lost answer): look it up by name first.
    await deliverGrants(context, redeliver, report, true);
    await deliverGrants(context, handedBack, report, false);
    return inFlight;
  }

  /**
   * A stale placeholder is a launch intent whose launch crashed: before RunJobFlow (nothing to do), or
   * between RunJobFlow and the registry write. RunJobFlow has no ClientToken, so the cluster is found by the
   * launch id its name carries and adopted (registered as it is), not left unknown until its idle timeout.
   * While EMR cannot be asked, the intent stays (it counts as a starting cluster), for at most
   * LAUNCH_INTENT_GIVE_UP_MS, past which an orphan is left to its idle timeout as before.
   */
  async function settleLaunchIntent(context: PoolContext, placeholder: PoolCluster, report: DispatchReport): Promise<void> {
    const pool = context.pool.name;
    try {
      // A minute of slack: EMR's clock and the placeholder's are not the same clock.
      const found = await emr.findLaunch(context.pool, placeholder.clusterId.slice(PLACEHOLDER_PREFIX.length), placeholder.launchedAt - 60_000);
      if (found && !CLUSTER_ENDED_STATES.has(found.state)) {
        const { configHash, capacityUnits, maxJobs, launchedAt } = placeholder;
        if (await store.registerCluster({ pool, clusterId: found.clusterId, state: found.state, configHash, capacityUnits, maxJobs, launchedAt })) {
          report.adopted.push(found.clusterId);
        }
      }
    } catch (error) {
      report.errors.push(`launch intent ${placeholder.clusterId}: ${(error as Error).name}: ${(error as Error).message}`);
      if (placeholder.launchedAt + LAUNCH_INTENT_GIVE_UP_MS > clock.now()) return;
    }
    await store.removeCluster(pool, placeholder.clusterId);
  }

  /**
   * The waiting entries a dispatch needs, in queue order, plus the entries being granted: pages of each
   * level's head until the merged prefix has more entries than the pool has job slots and more units than
   * it can ever hold (then nothing past it can be granted or change how many clusters to launch).
   */
  async function readQueue(context: PoolContext, now: number, granting?: QueueEntry[]): Promise<QueueEntry[]> {
    const { pool, settings } = context;
    const aging = { agingSecondsPerLevel: settings.agingSecondsPerLevel, maxWaitSeconds: settings.maxWaitSeconds };
    const slots = pool.maxClusters * pool.maxJobsPerCluster;
    const units = pool.maxClusters * pool.capacityUnits;
    const pageSize = slots + 1;
    const levels = new Map<Priority, { entries: QueueEntry[]; next?: string; more: boolean }>();
    for (const priority of PRIORITIES) {
      const page = await store.queueHead(pool.name, priority, pageSize);
      levels.set(priority, { entries: page.entries, next: page.next, more: page.next !== undefined });
    }
    for (;;) {
      const { ordered, cut } = mergeQueueHeads([...levels.values()], now, aging);
      const enough = ordered.length > slots && ordered.reduce((sum, entry) => sum + entry.units, 0) > units;
      if (!cut || enough) return [...(granting ?? (await store.grantingEntries(pool.name))), ...ordered];
      for (const [priority, level] of levels) {
        if (!level.more) continue;
        const page = await store.queueHead(pool.name, priority, pageSize, level.next);
        levels.set(priority, { entries: [...level.entries, ...page.entries], next: page.next, more: page.next !== undefined });
      }
    }
  }

  /** One read-plan-apply pass; true when a write lost a race and another pass may grant more. */
  async function dispatchOnce(context: PoolContext, report: DispatchReport, granting?: QueueEntry[]): Promise<boolean> {
    const { pool, settings } = context;
    const configHash = configHashOf(pool);
    const guard = await store.readLaunchGuard(pool.name);
    const clusters = await store.listClusters(pool.name);
    const now = clock.now();
    const queue = await readQueue(context, now, granting);
    const bucket = await store.readBucket(now, settings.runJobFlowBudget);
    const plan = planDispatch({
      pool,
      configHash,
      clusters,
      queue,
      now,
      agingSecondsPerLevel: settings.agingSecondsPerLevel,
      maxWaitSeconds: settings.maxWaitSeconds,
      launchTokens: refillBucket(bucket, now, settings.runJobFlowBudget).tokens,
    });
    report.queued = queue.filter((entry) => entry.state === 'waiting').length;

    const entries = new Map(queue.map((entry) => [entry.entryId, entry]));
    const byId = new Map(clusters.map((cluster) => [cluster.clusterId, cluster]));
    let lostRace = false;
    const grants: Grant[] = [];
    for (const grant of plan.grants) {
      const entry = entries.get(grant.entryId) as QueueEntry;
      const cluster = byId.get(grant.clusterId) as PoolCluster;
      // Parked again while the lapsed lease of its abandoned grant waits for a cancelled step to end: not before that.
      if (entry.state === 'waiting' && clusters.some((held) => (held.leases[entry.entryId]?.expiresAt ?? Number.POSITIVE_INFINITY) <= now)) continue;
      const claimedAt = clock.now();
      if (!(await store.claim(entry, cluster.clusterId, claimedAt))) {
        lostRace = true;
        continue;
      }
      const claimed = { ...entry, state: 'granting' as const, grantCluster: cluster.clusterId, claimedAt };
      const expiresAt = leaseExpiry(entry, claimedAt, settings.leaseSeconds);
      const leased = await store.lease(cluster, entry.entryId, { execution: entry.execution, units: entry.units, grantedAt: claimedAt, expiresAt });
      if (!leased) {
        await store.unclaim(entry, claimedAt);
        lostRace = true;
        // Later entries must not overtake this one on another cluster in this pass: re-plan from fresh reads.
        break;
      }
      grants.push({ entry: claimed, cluster, expiresAt });
      report.queued -= 1;
    }
    // Jobs put back from an ended cluster: another pass grants them elsewhere (or plans the launch they need).
    if (await deliverGrants(context, grants, report, false)) lostRace = true;

    if (plan.launches > 0 && !lostRace) await launch(context, configHash, guard, plan.launches, clusters, report);
    return lostRace;
  }

  /**
   * Delivers a pass's grants: per cluster, the steps of the jobs parked with one go in one AddJobFlowSteps
   * call (see "Batched submission"), then every slot is sent. `resubmission`: the grants are claims taken
   * over from a half-done grant, whose steps may be on the cluster already (looked up by name). True when a
   * cluster had ended and its grants went back to the queue.
   */
  async function deliverGrants(context: PoolContext, grants: Grant[], report: DispatchReport, resubmission: boolean): Promise<boolean> {
    const byCluster = new Map<string, Grant[]>();
    for (const grant of grants) byCluster.set(grant.cluster.clusterId, [...(byCluster.get(grant.cluster.clusterId) ?? []), grant]);
    let requeued = false;
    for (const [clusterId, clusterGrants] of byCluster) {
      let pending: Grant[] = [];
      for (const grant of clusterGrants) {
        if (grant.entry.step) pending.push(grant);
        else await deliver(context, grant.entry, clusterId, grant.expiresAt, report, { redelivery: resubmission });
      }
      if (pending.length === 0) continue;
      if (resubmission) pending = await deliverSubmitted(context, clusterId, pending, report);
      // Each lease held on the cluster besides these runs at most one step: the rest of 256 is this batch's room.
      const others = Object.keys(clusterGrants[0].cluster.leases).filter((id) => !pending.some((grant) => grant.entry.entryId === id)).length;
      const room = Math.max(0, MAX_ACTIVE_STEPS - others);
      // Past the room the entries stay claimed: the sweep delivers them once steps ended.
      if (await submitBatch(context, clusterId, pending.slice(0, room), report)) requeued = true;
    }
    return requeued;
  }

  /** The grants whose step ListSteps shows on the cluster are delivered with that step; returns the rest. */
  async function deliverSubmitted(context: PoolContext, clusterId: string, grants: Grant[], report: DispatchReport): Promise<Grant[]> {
    const wanted = new Map(grants.map((grant) => [String(grant.entry.step?.Name), grant]));
    const found = new Map<string, string>();
    try {
      let marker: string | undefined;
      do {
        const page = await emr.listSteps(clusterId, marker);
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
      if (!(await stepTokens.getStep(clusterId, stepId))) await mapSubmitted(clusterId, stepId, grant.entry);
      await deliver(context, grant.entry, clusterId, grant.expiresAt, report, { redelivery: true, submission: { stepId } });
    }
    return rest;
  }

  async function mapSubmitted(clusterId: string, stepId: string, entry: QueueEntry): Promise<void> {
    await stepTokens.mapStep({ clusterId, stepId, stepName: String(entry.step?.Name ?? ''), execution: entry.execution, submittedAt: clock.now() });
  }

  /**
   * One AddJobFlowSteps for the grants' steps, then each is mapped and its slot sent. A failed call is
   * handled by batchRefused; true when the cluster had ended and the grants went back to the queue.
   */
  async function submitBatch(context: PoolContext, clusterId: string, grants: Grant[], report: DispatchReport): Promise<boolean> {
    if (grants.length === 0) return false;
    if (clock.now() < addStepsBackoffUntil) {
      for (const { entry } of grants) await store.reclaim(entry, entry.claimedAt ?? 0, HANDED_BACK);
      return false;
    }
    let stepIds: string[];
    try {
      report.addJobFlowStepsCalls = (report.addJobFlowStepsCalls ?? 0) + 1;
      stepIds = await emr.addSteps(
        clusterId,
        grants.map((grant) => grant.entry.step as StepDefinition),
      );
      if (stepIds.length !== grants.length) throw new EmrApiError(`AddJobFlowSteps returned ${stepIds.length} step ids for ${grants.length} steps`);
    } catch (error) {
      return batchRefused(context, clusterId, grants, report, error as Error);
    }
    for (const [i, grant] of grants.entries()) {
      await mapSubmitted(clusterId, stepIds[i], grant.entry);
      await deliver(context, grant.entry, clusterId, grant.expiresAt, report, { submission: { stepId: stepIds[i] } });
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
  async function batchRefused(context: PoolContext, clusterId: string, grants: Grant[], report: DispatchReport, error: Error): Promise<boolean> {
    const throttled = error instanceof EmrThrottledError || error.name === EmrThrottledError.errorName;
    if (!(error instanceof EmrApiError) || throttled) {
      report.errors.push(`submit ${clusterId} (${grants.length} steps): ${error.name}: ${error.message}`);
      if (throttled) {
        addStepsBackoffUntil = clock.now() + ADD_STEPS_BACKOFF_MS;
        for (const { entry } of grants) await store.reclaim(entry, entry.claimedAt ?? 0, HANDED_BACK);
      }
      return false;
    }
    if (isClusterEndedRefusal(error)) {
      await requeueFromEndedCluster(context, clusterId, grants, report, error);
      return true;
    }
    if (grants.length > 1) {
      const half = Math.ceil(grants.length / 2);
      const first = await submitBatch(context, clusterId, grants.slice(0, half), report);
      const second = await submitBatch(context, clusterId, grants.slice(half), report);
      return first || second;
    }
    const submitError = { error: error.name, cause: error.message };
    await deliver(context, grants[0].entry, clusterId, grants[0].expiresAt, report, { submission: { submitError } });
    return false;
  }

  /**
   * The granted cluster has ended (its idle timeout or a termination raced the grant, and the registry still
   * listed it): nothing ran, so no attempt is spent. The registry marks it ended at once (no further grant
   * lands on it), each lease is given back and each entry returns to waiting with its place (enqueuedAt) and
   * task token, for the next pass to grant elsewhere. Lease first, then entry: a crash between leaves a claim
   * without a lease, which the sweep puts back to waiting.
   */
  async function requeueFromEndedCluster(context: PoolContext, clusterId: string, grants: Grant[], report: DispatchReport, error: Error): Promise<void> {
    const pool = context.pool.name;
    report.errors.push(`submit ${clusterId}: the cluster has ended (${error.message}); ${grants.length} job(s) back in the queue`);
    await store.setClusterState(pool, clusterId, 'TERMINATED');
    for (const { entry } of grants) {
      await store.release(pool, clusterId, entry.entryId);
      if (await store.unclaim(entry, entry.claimedAt ?? 0)) report.requeued = [...(report.requeued ?? []), entry.entryId];
    }
  }

  /**
   * Sends the waiter its slot and deletes its entry; a waiter that is gone gets its units taken back. A
   * redelivery (the sweep finishing a half-done grant) cannot tell a gone waiter from one the crashed grant
   * already served (its token answers TaskTimedOut either way), so it keeps the lease: the holder's release,
   * its execution's cleanup or the lease's expiry gives it back, never a grant to someone else while it runs.
   */
  async function deliver(
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
      await sfn.sendSlot(entry.taskToken, {
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
      if (!options.redelivery && stepId !== undefined) await abandonSubmittedStep(pool, clusterId, entry.entryId, stepId, report);
      else if (!options.redelivery) await store.release(pool, clusterId, entry.entryId);
      await store.granted(entry, claimedAt);
      report.abandoned.push(entry.entryId);
      return;
    }
    await store.granted(entry, claimedAt);
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
  async function abandonSubmittedStep(pool: string, clusterId: string, lease: string, stepId: string, report: DispatchReport): Promise<void> {
    try {
      await emr.cancelSteps(clusterId, [stepId]);
    } catch (error) {
      report.errors.push(`cancel ${stepId}: ${(error as Error).name}: ${(error as Error).message}`);
    }
    if (await stepsEnded(clusterId, [stepId])) {
      await store.release(pool, clusterId, lease);
      await stepTokens.dropStep(clusterId, stepId);
      return;
    }
    await store.lapse(pool, clusterId, lease, clock.now());
  }

  /**
   * A transient RunJobFlow failure (throttling, EC2 capacity, a 5xx) is tried again within this dispatch, a
   * RunJobFlow token per try, and otherwise left to the next dispatch, which plans the launch again; the jobs
   * stay parked. Any other failure will recur on every try, so the jobs waiting on the launch are failed now.
   */
  async function launch(
    context: PoolContext,
    configHash: string,
    guard: number,
    wanted: number,
    clusters: PoolCluster[],
    report: DispatchReport,
  ): Promise<void> {
    const { pool, settings } = context;
    const now = clock.now();
    const placeholders: string[] = [];
    for (let i = 0; i < wanted; i += 1) {
      const id = `${PLACEHOLDER_PREFIX}${ports.placeholderId()}`;
      await store.registerCluster({
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
    const won = await store.advanceLaunchGuard(pool.name, guard);
    let tokens = won ? await store.takeLaunchTokens(placeholders.length, now, settings.runJobFlowBudget) : 0;
    let failure: { error: string; message: string } | null = null;
    for (const placeholder of placeholders) {
      for (let retry = 0; tokens > 0 && failure === null; retry += 1) {
        tokens -= 1;
        try {
          const clusterId = await emr.launchCluster(pool, configHash, placeholder.slice(PLACEHOLDER_PREFIX.length));
          const registered = await store.registerCluster({
            pool: pool.name,
            clusterId,
            state: 'STARTING',
            configHash,
            capacityUnits: pool.capacityUnits,
            maxJobs: pool.maxJobsPerCluster,
            launchedAt: clock.now(),
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
          await clock.sleep(LAUNCH_RETRY_MS[retry]);
          tokens += await store.takeLaunchTokens(1, clock.now(), settings.runJobFlowBudget);
        }
      }
      await store.removeCluster(pool.name, placeholder);
    }
    if (failure) await failLaunchWaiters(context, configHash, clusters, failure, report);
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
        const page = await store.queueHead(pool, priority, LAUNCH_FAILURE_PAGE, after);
        for (const entry of page.entries) {
          if (holders.some((cluster) => cluster.capacityUnits >= entry.units && cluster.maxJobs >= 1)) continue;
          if (!(await store.withdraw(entry))) continue;
          report.launchFailed.push(entry.entryId);
          try {
            await sfn.sendFailure(entry.taskToken, LaunchFailedError.errorName, cause);
          } catch (error) {
            if (!WAITER_GONE.has((error as Error).name)) report.errors.push(`fail ${entry.entryId}: ${(error as Error).name}: ${(error as Error).message}`);
          }
        }
        after = page.next;
      } while (after !== undefined);
    }
  }

  /**
   * Gives back everything an execution that ended without its teardown (aborted, timed out) still holds:
   * queue entries first, so no new lease is granted to it while its leases are released. Idempotent. The
   * lease of a batched grant in flight is its grant's: the dispatcher submits the step before mapping it, so a
   * crash or a concurrent cleanup between the two would free units a running step uses. Its delivery finds
   * the waiter gone and cancels the step (or, a redelivery, keeps the lease to its expiry, and liveSteps past it).
   */
  async function releaseExecution(pools: readonly string[], execution: string): Promise<ExecutionHoldings> {
    const holdings: ExecutionHoldings = { leases: [], entries: [] };
    const prefix = `${execution}#`;
    for (const pool of pools) {
      // Leases of batched grants in flight: their step may be on the cluster before it is mapped (liveSteps
      // cannot see it yet), so they are left to their grant, which cancels the step of a gone waiter.
      const inFlight = new Set<string>();
      for (const entry of await store.listQueue(pool)) {
        if (entry.execution !== execution && !entry.entryId.startsWith(prefix)) continue;
        const withdrawn = entry.state === 'waiting' && (await store.withdraw(entry));
        holdings.entries.push({ pool, entryId: entry.entryId, state: entry.state, withdrawn });
        if (!withdrawn && entry.step !== undefined) inFlight.add(entry.entryId);
      }
      for (const cluster of await store.listClusters(pool)) {
        for (const [lease, held] of Object.entries(cluster.leases)) {
          if (held.execution !== execution || inFlight.has(lease)) continue;
          // As release: a step still running keeps the lease (cancelled, it lapses once the step is seen ended).
          const running = await giveUpRunningSteps(cluster, lease, execution);
          const { released, units } = running.length > 0 ? { released: false, units: 0 } : await store.release(pool, cluster.clusterId, lease);
          holdings.leases.push({ pool, clusterId: cluster.clusterId, lease, units: released ? units : held.units, released, running });
        }
      }
    }
    return holdings;
  }

  async function submitStep(request: SubmitStepRequest): Promise<{ StepId: string }> {
    const stepId = await emr.addStep(request.clusterId, request.step);
    if (!stepId) throw new EmrApiError('AddJobFlowSteps returned no step id');
    await stepTokens.mapStep({
      clusterId: request.clusterId,
      stepId,
      stepName: request.step.Name ?? '',
      taskToken: request.taskToken,
      execution: request.execution,
      submittedAt: clock.now(),
    });
    return { StepId: stepId };
  }

  /**
   * Tells the token mapped to (clusterId, stepId): 'settled'; 'absent' when no mapping is left (settled
   * already — a duplicate event — or not one of ours); 'gone' when the execution had stopped waiting.
   */
  async function settleStep(clusterId: string, stepId: string, settle: Settlement | ((claimed: StepTokenItem) => Settlement)): Promise<SettleResult> {
    // Taken, not deleted: a settle that dies before telling leaves the mapping, which the sweep takes over.
    const now = clock.now();
    const item = await stepTokens.takeStep(clusterId, stepId, now, now - SETTLE_TAKEOVER_MS);
    if (!item) return 'absent';
    const settlement = item.held ?? (typeof settle === 'function' ? settle(item) : settle);
    const taskToken = item.taskToken ?? (await holdUntilAttached(item, settlement));
    if (taskToken === undefined) return item.held ? 'absent' : 'settled';
    let result: SettleResult = 'settled';
    try {
      if (settlement.outcome === 'success') await sfn.sendSuccess(taskToken, settlement.output);
      else await sfn.sendFailure(taskToken, settlement.error, settlement.cause);
    } catch (error) {
      if (!TASK_TOKEN_GONE.has((error as Error).name)) {
        // Not told: the mapping goes back so a retry of this event, or the sweep, tells it.
        await stepTokens.restoreStep({ ...item, taskToken });
        throw error;
      }
      result = 'gone';
    }
    await stepTokens.dropStep(clusterId, stepId);
    return result;
  }

  /**
   * A taken mapping with no token: the dispatcher submitted the step and RunPooledStep has not attached its
   * token yet, so the mapping keeps how the step ended, for attachStep to tell (undefined). A token attached
   * meanwhile refuses the hold: it is read back, and this settle tells it (the take is still this one's).
   */
  async function holdUntilAttached(item: StepTokenItem, settlement: Settlement): Promise<string | undefined> {
    if (await stepTokens.holdStep(item, settlement, clock.now())) return undefined;
    const now = await stepTokens.getStep(item.clusterId, item.stepId);
    return now?.takenAt === item.takenAt ? now?.taskToken : undefined;
  }

  /**
   * RunPooledStep of a step the dispatcher submitted: attaches its token to the step's mapping, from when
   * SettleSteps tells it. A step that ended before (its settlement held on the mapping) is told at once; a
   * settle that has the mapping taken right now sees the token and tells it instead.
   */
  async function attachStep(request: { clusterId: string; stepId: string; taskToken: string }): Promise<{ StepId: string; settled: boolean }> {
    const { clusterId, stepId, taskToken } = request;
    const item = await stepTokens.attachToken(clusterId, stepId, taskToken);
    if (!item) throw new EmrApiError(`step ${stepId} on ${clusterId} has no mapping to attach RunPooledStep's token to`);
    if (!item.held) return { StepId: stepId, settled: false };
    await settleStep(clusterId, stepId, item.held);
    return { StepId: stepId, settled: true };
  }

  /**
   * A step's RUNNING event: its mapping keeps the start time. A step can start the instant AddJobFlowSteps
   * returns, so its event may overtake submitStep's mapping: a missing mapping is tried again a few times
   * before the event is taken for another cluster's step.
   */
  async function noteStepStarted(clusterId: string, stepId: string, at: string): Promise<boolean> {
    for (let attempt = 0; ; attempt += 1) {
      if (await stepTokens.noteStepStarted(clusterId, stepId, at)) return true;
      if (attempt >= START_RETRY_MS.length) return false;
      await clock.sleep(START_RETRY_MS[attempt]);
    }
  }

  /** A cluster is ending or ended: each token still mapped on it fails with `{ Step, Cluster }`, as `.sync` fails it. */
  async function failClusterSteps(cluster: ClusterView): Promise<Record<SettleResult, number>> {
    const counts: Record<SettleResult, number> = { settled: 0, absent: 0, gone: 0 };
    for (const item of await stepTokens.mappedSteps(cluster.Id)) {
      // What the step did last is not in the event: the step is named by id and name only.
      const cause = JSON.stringify({ Step: { Id: item.stepId, Name: item.stepName }, Cluster: cluster });
      counts[await settleStep(cluster.Id, item.stepId, { outcome: 'failure', error: STATES_ERROR.taskFailed, cause })] += 1;
    }
    return counts;
  }

  /**
   * The safety net for lost events: one ListSteps per cluster that still has mappings (pages are newest
   * first, so paging stops once every waiting step was seen), settling what ended and heartbeating what runs.
   */
  async function reconcileSteps(): Promise<ReconcileReport> {
    const report: ReconcileReport = { clusters: 0, listStepsCalls: 0, settled: 0, heartbeats: 0, cancelled: 0, unseen: 0, errors: [] };
    const byCluster = new Map<string, StepTokenItem[]>();
    for (const item of await stepTokens.allMappedSteps()) {
      // A held end waits for RunPooledStep's token (attachStep tells it): nothing to look up, and dropped once
      // no token came for too long. One with a token is an attach that died before telling it: it is settled
      // below like any other (the held end is told).
      if (item.held && item.taskToken === undefined) {
        if ((item.heldAt ?? 0) + HELD_END_TTL_MS <= clock.now()) await stepTokens.dropStep(item.clusterId, item.stepId);
        continue;
      }
      byCluster.set(item.clusterId, [...(byCluster.get(item.clusterId) ?? []), item]);
    }

    for (const [clusterId, items] of byCluster) {
      report.clusters += 1;
      const waiting = new Map(items.map((item) => [item.stepId, item]));
      const views = new Map<string, StepView>();
      try {
        let marker: string | undefined;
        do {
          const page = await emr.listSteps(clusterId, marker);
          report.listStepsCalls += 1;
          for (const step of page.steps) if (waiting.has(step.Id)) views.set(step.Id, step);
          marker = page.marker;
        } while (marker && views.size < waiting.size);
      } catch (error) {
        report.errors.push(`ListSteps ${clusterId}: ${(error as Error).name}: ${(error as Error).message}`);
        continue;
      }
      for (const [stepId, item] of waiting) {
        const view = views.get(stepId);
        if (!view) {
          report.unseen += 1;
          continue;
        }
        const settlement = stepSettlement(view);
        try {
          if (settlement) {
            if ((await settleStep(clusterId, stepId, settlement)) === 'settled') report.settled += 1;
          } else if (item.taskToken !== undefined) {
            await sfn.sendHeartbeat(item.taskToken);
            report.heartbeats += 1;
          }
        } catch (error) {
          // The execution stopped waiting (its timeout, a stop) while its step runs on: nobody will use its
          // output, so it is cancelled. Its mapping stays until the step is seen ended (this sweep or its
          // event settles it as 'gone'), because it is what holds the step's lease (liveSteps).
          if (TASK_TOKEN_GONE.has((error as Error).name)) await cancelAbandonedStep(clusterId, stepId, report);
          else report.errors.push(`${stepId}: ${(error as Error).name}: ${(error as Error).message}`);
        }
      }
    }
    return report;
  }

  async function cancelAbandonedStep(clusterId: string, stepId: string, report: ReconcileReport): Promise<void> {
    try {
      await emr.cancelSteps(clusterId, [stepId]);
      report.cancelled += 1;
    } catch (error) {
      report.errors.push(`cancel ${stepId}: ${(error as Error).name}: ${(error as Error).message}`);
    }
  }

  async function unitsInUse(context: PoolContext): Promise<number> {
    return (await store.listClusters(context.pool.name)).reduce((sum, cluster) => sum + cluster.unitsInUse, 0);
  }

  return {
    unitsInUse,
    park,
    release,
    dispatch,
    observeClusterState,
    reconcile,
    releaseExecution,
    submitStep,
    attachStep,
    settleStep,
    noteStepStarted,
    failClusterSteps,
    reconcileSteps,
  };
}
