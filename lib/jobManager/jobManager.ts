/**
 * The job manager (ARCHITECTURE §5): application logic between the pure domain (lib/domain/pools.ts,
 * lib/domain/stepCompletion.ts) and the outside world. Each operation reads its store, decides with the
 * domain's functions and applies the decision with the store's conditional writes; EMR, Step Functions
 * and the clock are ports. The Lambdas (functions/*) build it on DynamoDB and the SDK
 * (lib/aws/poolRuntime.ts); the capacity planner builds it on the in-memory store, its simulated EMR
 * and its virtual clock, so both run this one copy.
 *
 *   acquireCapacity   AcquireCapacity: park the job in its pool's queue (with its task token), then dispatch its pool. The job is
 *                     never leased directly, even when there is room: a new arrival must not overtake parked
 *                     jobs of higher (or aged) priority, so every grant comes from dispatch in queue order.
 *                     Its dispatch, and release's, is skipped while no AddJobFlowSteps token is there
 *                     (dispatchIfTokens): it could submit nothing, and the next dispatch with one does its work.
 *   releaseCapacity   ReleaseCapacity: give the lease back (idempotent), then dispatch: freed units go to the queue.
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
 * Every AddJobFlowSteps call first takes a token of the registry's AddJobFlowSteps bucket (addJobFlowStepsBudget,
 * shared by every dispatcher of the account, as RunJobFlow's), so the passes every arrival and release trigger
 * stay within EMR's quota by construction. A pass without a token claims no job that comes with its step and
 * takes over no handed-back grant (a batch that lost its token on the way is handed back like a throttled one):
 * the next arrival, release, cluster event or one-minute sweep submits them together, a fuller batch.
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
 * prefix is too short to fill the free job slots of its ready clusters; launches are sized on the pool's
 * queued totals (waiting units per level, kept by the queue's writes and recounted by the sweep once quiet:
 * store.ts), so its work does not grow with the queue. PlaceJob's predicted wait reads the same totals.
 */
import type { DispatcherSettings, PoolDefinition } from '../config/pools';
import type { PoolClusterState } from '../domain/pools';
import type { ClusterView, Settlement } from '../domain/stepCompletion';
import type { Priority } from '../domain/types';
import { createContext } from './context';
import { dispatch, observeClusterState } from './dispatch';
import { prelaunch } from './launch';
import type { Clock, EmrPort, Slot, StepDefinition, StepFunctionsPort } from './ports';
import { acquireCapacity, reconcile, unitsInUse } from './queue';
import { releaseCapacity, releaseExecution } from './release';
import { attachStep, failClusterSteps, noteStepStarted, reconcileSteps, settleStep, submitStep } from './steps';
import type { RegistryStore, StepTokenItem, StepTokenStore } from './store';

export { WAITER_GONE } from './context';
export { PLACEHOLDER_PREFIX } from './launch';
export type { Slot } from './ports';
export { ACQUIRE_HEARTBEAT_SECONDS, HEARTBEAT_INTERVAL_MS, firstHeartbeatDelay } from './queue';

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

export interface AcquireCapacityRequest {
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
  /** Batches held back for want of an AddJobFlowSteps token (submission.ts): handed back for a later dispatch. */
  addJobFlowStepsHeld?: number;
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
  /** Clusters the sweep listed steps of. */
  clusters: number;
  listStepsCalls: number;
  /**
   * Clusters with mapped steps left (wholly or partly) to the next sweep: its ListSteps calls ran out
   * (steps.ts RECONCILE_LIST_STEPS_CALLS, under EMR's ListSteps burst).
   */
  deferred: number;
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
  /**
   * The queued totals' repair (queue.ts recountQueued): unchanged since found right, noted (changed, not yet
   * quiet long enough), recounted (found right), corrected (a writer had died between its two writes), or
   * raced (a change came during the recount: the next sweep tries again).
   */
  queuedTotals: 'unchanged' | 'noted' | 'recounted' | 'corrected' | 'raced';
}

/** The job manager's operations; createJobManager builds the one implementation. */
export interface JobManager {
  acquireCapacity(context: PoolContext, request: AcquireCapacityRequest): Promise<{ entryId: string; dispatch: DispatchReport }>;
  /**
   * `running`: steps of the lease's execution still running, cancelled; the lease is kept until they end (released: false).
   * `slot.stepId` (a batched grant's slot): that step is the lease's only one, read alone (release.ts slotStepStillRunning).
   */
  releaseCapacity(
    context: PoolContext,
    slot: Pick<Slot, 'clusterId' | 'lease' | 'stepId'>,
  ): Promise<{ released: boolean; units: number; running: string[]; dispatch: DispatchReport }>;
  dispatch(context: PoolContext): Promise<DispatchReport>;
  /** Pre-launch: launch clusters until the pool has `wanted` up for a burst within `leadSeconds` (./launch.ts prelaunch; ./prescale.ts decides). */
  prelaunch(context: PoolContext, wanted: number, leadSeconds: number): Promise<DispatchReport>;
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
 * The one implementation of JobManager: each operation is a function of the shared context (context.ts) in
 * the module of its concern (queue, dispatch, submission, launch, release, steps).
 */
export function createJobManager(ports: JobManagerPorts): JobManager {
  const jm = createContext(ports);
  return {
    unitsInUse: (context) => unitsInUse(jm, context),
    acquireCapacity: (context, request) => acquireCapacity(jm, context, request),
    releaseCapacity: (context, slot) => releaseCapacity(jm, context, slot),
    dispatch: (context) => dispatch(jm, context),
    prelaunch: (context, wanted, leadSeconds) => prelaunch(jm, context, wanted, leadSeconds),
    observeClusterState: (context, clusterId, state) => observeClusterState(jm, context, clusterId, state),
    reconcile: (context) => reconcile(jm, context),
    releaseExecution: (pools, execution) => releaseExecution(jm, pools, execution),
    submitStep: (request) => submitStep(jm, request),
    attachStep: (request) => attachStep(jm, request),
    settleStep: (clusterId, stepId, settle) => settleStep(jm, clusterId, stepId, settle),
    noteStepStarted: (clusterId, stepId, at) => noteStepStarted(jm, clusterId, stepId, at),
    failClusterSteps: (cluster) => failClusterSteps(jm, cluster),
    reconcileSteps: () => reconcileSteps(jm),
  };
}
