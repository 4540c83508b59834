/**
 * The emrflow strategy: place-job's decision for every attempt; a pool decision runs the job manager's own
 * code (lib/jobManager: park, dispatch, release, settle, the sweeps) against the in-memory store under the
 * virtual clock, exactly as the Lambdas run it against DynamoDB; a dedicated decision takes PerAttemptRun's
 * one-cluster path. This file plays only what AWS does around the job manager: the pool clusters EMR starts
 * (start time, managed scaling, idle termination, Spot loss, billing), the steps they run, Step Functions
 * delivering task tokens (and the run-job states between them), and the API calls each of those makes.
 * No grant, lease or queue logic of its own: the job manager's ports (EMR, Step Functions, clock) are the
 * only way it reaches this simulation, and a test swaps in a recording job manager to prove it.
 */
import type { PoolDefinition } from '../../lib/config/pools';
import { EMR_CLUSTER_ENDED_REFUSALS, STATES_ERROR } from '../../lib/contract';
import { classifyFailure } from '../../lib/domain/failure';
import { placeJob, type PlaceJobInput, type PlacementConfig } from '../../lib/domain/placement';
import { predictedPoolWaits } from '../../lib/domain/serverless';
import { EmrApiError, EmrThrottledError, NoCapacityError } from '../../lib/errors';
import { leaseId, type PoolCluster, type PoolClusterState, type QueueEntry } from '../../lib/domain/pools';
import type { StepView } from '../../lib/domain/stepCompletion';
import type { Placement } from '../../lib/domain/types';
import { createJobManager, type JobManager, type JobManagerPorts, type PoolContext } from '../../lib/jobManager/jobManager';
import { MemoryJobStore } from '../../lib/jobManager/memoryStore';
import type { Slot } from '../../lib/jobManager/ports';
import { prescalePool } from '../../lib/jobManager/prescale';
import type { DayShape } from '../../lib/domain/prescale';
import {
  CLUSTER_START_SECONDS,
  GRANT_SECONDS,
  LAMBDA,
  LIST_PAGE_SIZE,
  SCALE_IN_DELAY_SECONDS,
  SCALE_OUT_SECONDS,
  SCALE_STEP_UNITS,
  SPARK_FIRST_EXECUTOR_SECONDS,
  STEP_SUBMIT_TO_RUNNING_SECONDS,
  TERMINATE_SECONDS,
  WAITER_HEARTBEATS,
} from './constants';
import { placeJobInput, placementConfig, trueStepSeconds, type SizedJob } from './decisions';
import { PerAttemptRun, type DedicatedPurchase } from './perAttemptRun';
import { addRate, meanHazard, primaryRate, unitRate, type Rate } from './rates';
import { failedStep, lostSpotInstance, type Run, type JobState } from './run';

/** A pool cluster as EMR runs it: its state, size, steps and bill. The registry's view is the job manager's. */
interface ClusterSim {
  clusterId: string;
  pool: PoolDefinition;
  state: PoolClusterState;
  provisioned: number;
  /** The managed-scaling minimum it holds now: the pool's, or the one prescale put (PutManagedScalingPolicy). */
  minimumUnits: number;
  switchedToOnDemand: boolean;
  running: Map<string, { state: JobState; units: number; startedAt: number; endVersion: number }>;
  waiting: Array<{ stepId: string; state: JobState; units: number; since: number }>;
  /**
   * Slots delivered whose AddJobFlowSteps has not landed yet: the step is on its way, so the cluster is not
   * idle (EMR sees no step yet; the idle timeout, far longer than a submission, would not fire either).
   */
  submitting: number;
  scaleOutPending: boolean;
  scaleInPending: boolean;
  peakSinceScaleIn: number;
  costFrom: number;
  idleSince: number | null;
  interruptVersion: number;
  /** Every step AddJobFlowSteps put on the cluster, oldest first: what ListSteps pages through (newest first). */
  steps: Array<{ id: string; name: string; state: 'PENDING' | 'RUNNING' | 'COMPLETED' | 'FAILED' }>;
  stepIndex: Map<string, number>;
}

/** A run-job execution between AcquireCapacity and ReleaseCapacity: its lease id is its task tokens' key. */
interface PooledAttempt {
  state: JobState;
  units: number;
  pool: PoolDefinition;
  slot?: Slot;
  /** When the slot was delivered (the lease's grant): leased unit-hours run from here to its release. */
  grantedAt?: number;
}

/** RunPooledStep's task token is its lease id with this suffix; AcquireCapacity's is the lease id itself. */
const STEP_TOKEN_SUFFIX = '/step';

function named(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

export class EmrflowRun extends PerAttemptRun {
  protected placement: PlacementConfig;
  /** The job manager's registry, queue and step tokens: in memory, as DynamoDB would hold them. */
  readonly store = new MemoryJobStore();
  private readonly sims = new Map<string, ClusterSim>();
  private launchCounter = 0;
  private stepCounter = 0;
  private placeholderCounter = 0;
  /** Lease id (= AcquireCapacity's and RunPooledStep's task-token key) → the execution's attempt. */
  private readonly attempts = new Map<string, PooledAttempt>();
  /** Parked executions not yet granted (the queue depth the meter plots). */
  private parked = 0;
  /** Granted executions whose AddJobFlowSteps is throttled, in RunPooledStep's Retry: not started either. */
  private submitsRetrying = 0;
  /** SendTaskHeartbeat calls of the current sweep, spread over it as the batched sends would be. */
  private heartbeatsThisSweep = 0;
  private manager: JobManager | undefined;
  /** Every PlaceJob input and decision, in order, when asked for (the same-decisions test replays them). */
  decisionLog: DecisionLog | undefined;
  /** Each job's target, as its latest attempt was placed (the share of jobs per target). */
  readonly targets = new Map<string, Placement['mode']>();
  /** The day shape prescale reads (learnt from an earlier day's runs); none = managed scaling alone. */
  prescaleShape: DayShape | undefined;
  /** Builds the job manager from the simulation's ports; a test swaps in a recording one. */
  jobManagerFactory: (ports: JobManagerPorts) => JobManager = createJobManager;

  constructor(...args: ConstructorParameters<typeof Run>) {
    super(...args);
    this.placement = placementConfig(this.config);
  }

  private get jobManager(): JobManager {
    this.manager ??= this.jobManagerFactory({
      registry: this.store,
      stepTokens: this.store,
      clock: { now: () => this.now * 1000, sleep: async () => undefined },
      placeholderId: () => `launch-${++this.placeholderCounter}`,
      emr: {
        launchCluster: async (pool) => this.launchPoolCluster(pool),
        describeClusterState: async (clusterId) => this.sims.get(clusterId)?.state ?? null,
        addStep: async (clusterId, step) => this.addStep(clusterId, String(step.Name)),
        addSteps: async (clusterId, steps) =>
          this.addSteps(
            clusterId,
            steps.map((step) => String(step.Name)),
          ),
        listSteps: async (clusterId, marker) => this.listSteps(clusterId, marker),
        // The simulated day releases a lease only after its step was settled, so nothing is left running to
        // cancel; a call is counted, and does not end a simulated step.
        cancelSteps: async () => this.meter.call('CancelSteps', this.now),
        // Simulated launches register in the same call: no crashed launch leaves a cluster to find.
        findLaunch: async () => null,
      },
      sfn: {
        sendSlot: async (taskToken, slot) => this.deliverSlot(taskToken, slot),
        sendSuccess: async () => this.meter.call('SendTaskSuccess', this.now),
        sendFailure: async () => this.meter.call('SendTaskFailure', this.now),
        sendHeartbeat: async (taskToken) => {
          if (!taskToken.endsWith(STEP_TOKEN_SUFFIX) && !this.attempts.has(taskToken)) throw named('TaskTimedOut', `${taskToken} timed out`);
          const perSecond = Math.floor(WAITER_HEARTBEATS.atOnce / WAITER_HEARTBEATS.roundTripSeconds);
          this.meter.call('SendTaskHeartbeat', this.now + this.heartbeatsThisSweep++ / perSecond);
        },
      },
    });
    return this.manager;
  }

  private context(pool: PoolDefinition): PoolContext {
    return { pool, settings: this.config.pools.dispatcher };
  }

  protected async purchase(job: SizedJob, attempt: number): Promise<DedicatedPurchase | null> {
    return this.purchaseFor(job, await this.decide(job, attempt));
  }

  /** PlaceJob for the attempt, logged when asked (emrflow-hybrid adds the facts place-job reads from the registry). */
  protected async decide(job: SizedJob, attempt: number): Promise<Placement> {
    const { poolWaits, registry } = await this.poolWaits(job);
    const input = { ...placeJobInput(job, attempt), poolWaits };
    const decision = await placeJob(input, this.placement);
    this.decisionLog?.push({ input, placement: decision, registry: structuredClone(registry) });
    this.targets.set(job.id, decision.mode);
    return decision;
  }

  /**
   * predictedWaitMinutes per pool, as place-job computes it from the registry (predictedPoolWaits): the rules
   * send a job whose predicted wait exceeds its SLA slack to a dedicated cluster instead of the 4-hour queue.
   */
  protected async poolWaits(job: SizedJob): Promise<{ poolWaits: Record<string, number>; registry: NonNullable<DecisionLog[number]['registry']> }> {
    const registry: Record<string, { clusters: PoolCluster[]; queue: QueueEntry[] }> = {};
    for (const pool of this.config.pools.pools)
      registry[pool.name] = { clusters: await this.store.listClusters(pool.name), queue: await this.store.listQueue(pool.name) };
    const poolWaits = predictedPoolWaits(this.config.pools.pools, registry, {
      executionName: `${job.id}-exec`,
      units: job.sizing.capacityUnits,
      priority: job.request.job.priority,
      predictedMinutes: job.sizing.predictedMinutes,
    });
    return { poolWaits, registry };
  }

  /** A pool decision parks the attempt (null); a dedicated one is the cluster to launch. */
  protected async purchaseFor(job: SizedJob, decision: Placement): Promise<DedicatedPurchase | null> {
    const pool = decision.mode === 'pool' ? this.poolOf(decision) : undefined;
    if (pool) {
      await this.acquireCapacity(this.states.get(job.id)!, pool, decision);
      return null;
    }
    const { prices } = this.config;
    const template = this.config.pools.dedicated;
    const spec = decision.spec!;
    const rate = addRate(
      addRate(
        addRate(primaryRate(prices, template.primary, 'ON_DEMAND'), unitRate(prices, template.core, 'ON_DEMAND'), spec.core.onDemandUnits),
        unitRate(prices, template.task, 'ON_DEMAND'),
        spec.task.onDemandUnits,
      ),
      unitRate(prices, template.task, 'SPOT'),
      spec.task.spotUnits,
    );
    const switchedRate = addRate(
      rate,
      { ec2: unitRate(prices, template.task, 'ON_DEMAND').ec2 - unitRate(prices, template.task, 'SPOT').ec2, emr: 0 },
      spec.task.spotUnits,
    );
    return {
      rate,
      switchedRate,
      spotInstances: Math.ceil(spec.task.spotUnits / SCALE_STEP_UNITS),
      allSpot: false,
      fallback: true,
      spotTypes: template.task,
      spotTimeoutSeconds: spec.spotTimeoutMinutes * 60,
    };
  }

  private poolOf(decision: Placement): PoolDefinition | undefined {
    return this.config.pools.pools.find((pool) => pool.name === decision.pool?.name);
  }

  protected queuedJobs(): number {
    return this.parked + this.submitsRetrying;
  }

  /** AcquireCapacity: the job manager parks the execution on its task token (and dispatches the pool). */
  private async acquireCapacity(state: JobState, pool: PoolDefinition, decision: Placement): Promise<void> {
    const execution = `${state.job.id}-exec`;
    const lease = leaseId(execution, state.attempt);
    this.attempts.set(lease, { state, units: state.job.sizing.capacityUnits, pool });
    this.parked++;
    await this.jobManager.park(this.context(pool), {
      units: state.job.sizing.capacityUnits,
      priority: decision.pool?.priority ?? state.job.job.priority,
      execution,
      attempt: state.attempt,
      taskToken: lease,
      holdSeconds: state.job.sizing.stepTimeoutSeconds,
      // The step goes with the park, as run-job's AcquireCapacity sends it: the dispatcher submits it in its
      // cluster's batch. Its name is the lease (the simulated step's key back to its execution).
      step: { Name: lease },
    });
    this.at(this.now + this.limits.acquireCapacity.timeoutSeconds, () => this.acquireTimedOut(lease));
    await this.afterJobManager(pool);
  }

  /**
   * AcquireCapacity's TimeoutSeconds passed with no slot: Step Functions fails the task (run-job ends with
   * Placement.NoCapacity) and its token is gone, so the job manager's next grant or heartbeat to it is told
   * TaskTimedOut and withdraws the entry, as on AWS.
   */
  private acquireTimedOut(lease: string): void {
    const attempt = this.attempts.get(lease);
    if (!attempt || attempt.slot) return;
    this.attempts.delete(lease);
    this.parked--;
    this.updateQueued();
    this.finish(attempt.state, 'failed', 0, NoCapacityError.errorName);
  }

  /** The registry's invariant after every operation that may have granted, and the queue depth for the meter. */
  private async afterJobManager(pool: PoolDefinition): Promise<void> {
    for (const cluster of await this.store.listClusters(pool.name)) assertLeaseInvariant(cluster);
    this.updateQueued();
  }

  /** SendTaskSuccess on AcquireCapacity's token: the execution moves on to RunPooledStep with its slot. */
  private deliverSlot(taskToken: string, slot: Slot): void {
    const attempt = this.attempts.get(taskToken);
    if (!attempt || attempt.slot) throw named('TaskTimedOut', `no execution waits on ${taskToken}`);
    this.meter.call('SendTaskSuccess', this.now);
    attempt.slot = slot;
    attempt.grantedAt = this.now;
    this.parked--;
    const sim = this.sims.get(slot.clusterId);
    // A step the dispatcher submitted is on the cluster already; otherwise it is on its way.
    if (sim && slot.stepId === undefined) {
      sim.submitting++;
      sim.idleSince = null;
    }
    this.at(this.now + GRANT_SECONDS, () =>
      slot.stepId === undefined && !slot.submitError ? this.runPooledStep(taskToken, attempt) : void this.awaitBatchedStep(taskToken, attempt),
    );
  }

  /**
   * RunPooledStep (`lambda:invoke.waitForTaskToken` on submit-pooled-step): the job manager's submitStep, once
   * AddJobFlowSteps has quota under the state's Retry on Emr.Throttled (read from run-job.asl.yml); when its
   * attempts are spent the Catch takes the execution to ClassifyFailure. EMR's step events then settle its
   * token (stepEnded, interrupt).
   */
  private runPooledStep(lease: string, attempt: PooledAttempt): void {
    const asked = this.now;
    const policy = this.limits.runPooledStep.throttleRetry;
    let settled = false;
    let retrying = false;
    const leaveRetry = () => {
      settled = true;
      if (!retrying) return;
      retrying = false;
      this.submitsRetrying--;
      this.updateQueued();
    };
    const submit = async (): Promise<void> => {
      leaveRetry();
      this.meter.submitWaitSeconds.push(this.now - asked);
      const slot = attempt.slot!;
      try {
        await this.jobManager.submitStep({
          clusterId: slot.clusterId,
          step: { Name: lease },
          taskToken: `${lease}${STEP_TOKEN_SUFFIX}`,
          execution: `${attempt.state.job.id}-exec`,
        });
      } catch {
        // The leased cluster is gone: ClassifyFailure sees it ended, and the job tries again on a new attempt.
        await this.releaseCapacity(lease, attempt);
        this.retryOrFail(attempt.state, 'TERMINATED');
      }
    };
    const giveUp = async (): Promise<void> => {
      leaveRetry();
      const slot = attempt.slot!;
      const sim = this.sims.get(slot.clusterId);
      if (sim) {
        sim.submitting = Math.max(0, sim.submitting - 1);
        if (sim.running.size === 0 && sim.waiting.length === 0 && sim.submitting === 0) {
          sim.idleSince = this.now;
          this.scheduleIdleCheck(sim);
        }
      }
      // The Catch: ClassifyFailure → teardown (ReleaseCapacity) → the failure's policy, as run-job runs it.
      this.classifyCalls();
      const failure = classifyFailure({
        error: { Error: policy.errorEquals[0], Cause: 'Rate exceeded (simulated: AddJobFlowSteps quota)' },
        attempt: attempt.state.attempt,
        maxAttempts: attempt.state.job.job.maxAttempts,
        placement: { mode: 'pool', cluster: {}, slot: { pool: attempt.pool.name, clusterId: slot.clusterId, lease } },
        clusterId: slot.clusterId,
        observation: { cluster: { Id: slot.clusterId, Status: { State: sim?.state ?? 'TERMINATED' } }, instances: [], apiErrors: [] },
      });
      await this.releaseCapacity(lease, attempt);
      if (failure.retry) this.at(this.now + failure.backoffSeconds, () => this.place(attempt.state.job, failure.nextAttempt));
      else this.finish(attempt.state, 'failed', 0, failure.kind);
    };
    this.callRetrying(
      'AddJobFlowSteps',
      policy,
      () => void submit(),
      () => void giveUp(),
    );
    // callRetrying ran the call at once when the quota had a token; otherwise the execution waits in the Retry.
    if (!settled) {
      retrying = true;
      this.submitsRetrying++;
      this.updateQueued();
    }
  }

  /**
   * RunPooledStep of a job whose step the dispatcher submitted in its cluster's batch (slot.stepId): no
   * AddJobFlowSteps, only the token onto the step's mapping. A step the batch refused (slot.submitError)
   * takes the Catch as a refused AddJobFlowSteps of its own would.
   */
  private async awaitBatchedStep(lease: string, attempt: PooledAttempt): Promise<void> {
    const slot = attempt.slot as Slot;
    try {
      if (slot.submitError || slot.stepId === undefined) throw named(slot.submitError?.error ?? 'Emr.NoStep', slot.submitError?.cause ?? 'no step id');
      await this.jobManager.attachStep({ clusterId: slot.clusterId, stepId: slot.stepId, taskToken: `${lease}${STEP_TOKEN_SUFFIX}` });
    } catch {
      await this.releaseCapacity(lease, attempt);
      this.retryOrFail(attempt.state, 'TERMINATED');
    }
  }

  /**
   * The dispatcher's AddJobFlowSteps: one metered call for a cluster's batch, under the account's quota (a
   * call that finds no token is throttled and added nothing: the dispatcher hands the claims back for the
   * next dispatch, which looks the steps up by name first). A cluster that is not running refuses it all.
   */
  private addSteps(clusterId: string, leases: string[]): string[] {
    if (!this.takeQuotaToken('AddJobFlowSteps')) {
      this.meter.throttle('AddJobFlowSteps', 1);
      throw new EmrThrottledError('Rate exceeded (simulated: AddJobFlowSteps quota)');
    }
    this.meter.call('AddJobFlowSteps', this.now);
    const sim = this.sims.get(clusterId);
    // As EMR refuses a cluster that ended (or that it no longer knows): the dispatcher puts the jobs back in the queue.
    if (!sim) throw new EmrApiError(EMR_CLUSTER_ENDED_REFUSALS.unknown);
    if (!this.isRunning(sim)) throw new EmrApiError(EMR_CLUSTER_ENDED_REFUSALS.ended);
    return leases.map((lease) => this.putStep(sim, lease));
  }

  /** AddJobFlowSteps as EMR answers it: a step id, PENDING until the step starts. */
  private addStep(clusterId: string, lease: string): string {
    this.meter.call('AddJobFlowSteps', this.now);
    const sim = this.sims.get(clusterId);
    if (sim) sim.submitting = Math.max(0, sim.submitting - 1);
    if (!sim || !this.isRunning(sim)) throw named('ValidationException', `cluster ${clusterId} is not running`);
    return this.putStep(sim, lease);
  }

  /** A step on the simulated cluster, RUNNING STEP_SUBMIT_TO_RUNNING_SECONDS later. */
  private putStep(sim: ClusterSim, lease: string): string {
    const attempt = this.attempts.get(lease);
    const stepId = `s-${String(++this.stepCounter).padStart(8, '0')}`;
    sim.stepIndex.set(stepId, sim.steps.length);
    if (!attempt) {
      // A batch step whose execution stopped waiting before its slot came (AcquireCapacity's timeout): not
      // simulated as running (the dispatcher's slot is refused and the lease given back).
      sim.steps.push({ id: stepId, name: lease, state: 'COMPLETED' });
      return stepId;
    }
    sim.steps.push({ id: stepId, name: lease, state: 'PENDING' });
    sim.waiting.push({ stepId, state: attempt.state, units: attempt.units, since: this.now + STEP_SUBMIT_TO_RUNNING_SECONDS });
    this.at(this.now + STEP_SUBMIT_TO_RUNNING_SECONDS, () => {
      // The step is RUNNING now (the "submit → step running"); with dynamic allocation its Spark
      // work waits for executors, so until the units are provisioned it makes no progress (capacity wait).
      sim.steps[sim.stepIndex.get(stepId)!].state = 'RUNNING';
      this.stepRunning(attempt.state);
      this.startWaiting(sim);
    });
    return stepId;
  }

  /** One ListSteps page, newest first; the marker is how many steps earlier pages showed. */
  private listSteps(clusterId: string, marker?: string): { steps: StepView[]; marker?: string } {
    this.meter.call('ListSteps', this.now);
    const sim = this.sims.get(clusterId);
    if (!sim) return { steps: [] };
    const shown = marker ? Number(marker) : 0;
    const end = sim.steps.length - shown;
    const page = sim.steps.slice(Math.max(0, end - LIST_PAGE_SIZE), end).reverse();
    const steps = page.map((step) => ({ Id: step.id, Name: step.name, Status: { State: step.state } }));
    return { steps, ...(end - LIST_PAGE_SIZE > 0 ? { marker: String(shown + LIST_PAGE_SIZE) } : {}) };
  }

  protected startSweeps(): void {
    const lambdaRun = LAMBDA.gbSecondsEach * this.services.lambdaPerGbSecond.usd;
    // dispatch-queue's one-minute schedule: per pool, the job manager's reconcile (cluster states from one
    // ListClusters of the account's live clusters, a SendTaskHeartbeat to each parked execution whose heartbeat
    // is due: about one per execution every 12 minutes), then a dispatch.
    const sweep = async (): Promise<void> => {
      this.meter.cost.lambda += lambdaRun;
      this.heartbeatsThisSweep = 0;
      if (this.sims.size > 0) this.meter.call('ListClusters', this.now, Math.max(1, Math.ceil(this.meter.activeClusters / LIST_PAGE_SIZE)));
      for (const pool of this.config.pools.pools) {
        await this.jobManager.reconcile(this.context(pool));
        await this.jobManager.dispatch(this.context(pool));
        await this.afterJobManager(pool);
        if (this.prescaleShape) await this.prescale(pool, this.prescaleShape);
      }
      if (this.ended < this.jobs.length) this.at(this.now + this.limits.dispatchSweepSeconds, sweep);
    };
    this.at(this.limits.dispatchSweepSeconds, sweep);
    // settle-steps' schedule: the job manager's reconcileSteps (ListSteps per cluster with mapped steps, a
    // SendTaskHeartbeat per step still running).
    const reconcile = async (): Promise<void> => {
      this.meter.cost.lambda += lambdaRun;
      this.heartbeatsThisSweep = 0;
      await this.jobManager.reconcileSteps();
      if (this.ended < this.jobs.length) this.at(this.now + this.limits.settleStepsSeconds, reconcile);
    };
    this.at(this.limits.settleStepsSeconds, reconcile);
  }

  /** dispatch-queue's prescale step (lib/jobManager/prescale.ts) on this simulation's EMR. */
  private async prescale(pool: PoolDefinition, shape: DayShape): Promise<void> {
    await prescalePool(
      {
        registry: this.store,
        clock: { now: () => this.now * 1000 },
        emr: { setScalingMinimum: async (clusterId, _pool, units) => this.setScalingMinimum(clusterId, units) },
      },
      pool,
      shape,
    );
  }

  /**
   * PutManagedScalingPolicy with a new minimum: managed scaling provisions up to a raised one (EC2 launch and
   * node bootstrap: SCALE_OUT_SECONDS), and may decommission idle nodes down to a lowered one (its scale-in delay).
   */
  private setScalingMinimum(clusterId: string, units: number): void {
    this.meter.call('PutManagedScalingPolicy', this.now);
    const sim = this.sims.get(clusterId);
    if (!sim || !this.isRunning(sim)) throw named('ValidationException', `cluster ${clusterId} is not running`);
    const lowered = units < sim.minimumUnits;
    sim.minimumUnits = units;
    if (lowered) this.scheduleScaleIn(sim);
    else if (units > sim.provisioned)
      this.at(this.now + SCALE_OUT_SECONDS, () => {
        if (!this.isRunning(sim) || sim.minimumUnits <= sim.provisioned) return;
        this.resize(sim, sim.minimumUnits);
        this.startWaiting(sim);
      });
  }

  /** Every step's RUNNING and end events invoke settle-steps (its EventBridge rule has no cluster filter). */
  protected chargeOrchestration(path: 'dedicated' | 'pooled', retry: boolean): void {
    super.chargeOrchestration(path, retry);
    this.meter.cost.lambda += LAMBDA.settleStepEventsPerStep * LAMBDA.gbSecondsEach * this.services.lambdaPerGbSecond.usd;
  }

  /** RunJobFlow for the dispatcher, as EMR answers it: a cluster id now (or ThrottlingException), ready later. */
  private launchPoolCluster(pool: PoolDefinition): string {
    if (this.accountLaunchTokens() < 1) {
      this.meter.throttle('RunJobFlow', 1);
      throw named('ThrottlingException', 'Rate exceeded');
    }
    this.spendAccountLaunchToken();
    this.meter.launches++;
    this.meter.call('RunJobFlow', this.now);
    this.meter.changeActive(this.now, 1);
    const clusterId = `j-POOL${String(++this.launchCounter).padStart(6, '0')}`;
    const sim: ClusterSim = {
      clusterId,
      pool,
      state: 'STARTING',
      provisioned: pool.managedScaling.minimumUnits,
      minimumUnits: pool.managedScaling.minimumUnits,
      switchedToOnDemand: false,
      running: new Map(),
      waiting: [],
      submitting: 0,
      scaleOutPending: false,
      scaleInPending: false,
      peakSinceScaleIn: 0,
      costFrom: this.now,
      idleSince: null,
      interruptVersion: 0,
      steps: [],
      stepIndex: new Map(),
    };
    this.sims.set(clusterId, sim);
    const noSpot = this.random.next() < this.spot.noSpotAtLaunch;
    const startSeconds = this.random.uniform(CLUSTER_START_SECONDS.min, CLUSTER_START_SECONDS.max);
    // Its Cluster State Change event tells the job manager when it is ready (no DescribeCluster polling).
    this.at(this.now + (noSpot ? 60 * 10 + startSeconds / 2 : startSeconds), async () => {
      sim.switchedToOnDemand = noSpot;
      sim.state = 'WAITING';
      sim.idleSince = this.now;
      this.scheduleIdleCheck(sim);
      this.scheduleInterruption(sim);
      await this.jobManager.observeClusterState(this.context(pool), clusterId, 'WAITING');
      await this.afterJobManager(pool);
    });
    return clusterId;
  }

  private clusterRate(sim: ClusterSim): Rate {
    const { prices } = this.config;
    const { fleets } = sim.pool;
    const taskUnits = Math.max(0, sim.provisioned - fleets.coreUnits);
    return addRate(
      addRate(primaryRate(prices, fleets.primary, 'ON_DEMAND'), unitRate(prices, fleets.core, 'ON_DEMAND'), fleets.coreUnits),
      unitRate(prices, fleets.task, sim.switchedToOnDemand ? 'ON_DEMAND' : 'SPOT'),
      taskUnits,
    );
  }

  /** Bills the cluster up to now at its current size; call before every change of size. */
  private accrue(sim: ClusterSim): void {
    const rate = this.clusterRate(sim);
    const hours = (this.now - sim.costFrom) / 3600;
    this.meter.cost.ec2 += rate.ec2 * hours;
    this.meter.cost.emrUplift += rate.emr * hours;
    this.meter.poolUnitHours += (sim.provisioned + 1) * hours;
    sim.costFrom = this.now;
  }

  private resize(sim: ClusterSim, units: number): void {
    if (units === sim.provisioned) return;
    this.accrue(sim);
    sim.provisioned = units;
    this.scheduleInterruption(sim);
  }

  /** What managed scaling sees: the containers of submitted steps (running, or waiting for nodes). */
  private yarnDemand(sim: ClusterSim): number {
    let units = this.runningUnits(sim);
    for (const w of sim.waiting) if (w.since <= this.now) units += w.units;
    return units;
  }

  private runningUnits(sim: ClusterSim): number {
    let units = 0;
    for (const r of sim.running.values()) units += r.units;
    return units;
  }

  private startWaiting(sim: ClusterSim): void {
    let used = this.runningUnits(sim);
    const still: ClusterSim['waiting'] = [];
    for (const w of sim.waiting) {
      if (w.since > this.now) {
        still.push(w);
      } else if (used + w.units <= sim.provisioned) {
        used += w.units;
        this.meter.capacityWaitSeconds.push(this.now - w.since);
        // Its units are provisioned (after any managed-scaling delay): the driver's first executor follows.
        this.firstExecutor(w.state, Math.max(this.now, w.since + SPARK_FIRST_EXECUTOR_SECONDS), true);
        this.startStep(sim, w.state, w.units, w.stepId);
      } else {
        still.push(w);
      }
    }
    sim.waiting = still;
    sim.peakSinceScaleIn = Math.max(sim.peakSinceScaleIn, this.yarnDemand(sim));
    if (still.some((w) => w.since <= this.now) && !sim.scaleOutPending) {
      // Managed scaling sees the pending YARN containers and adds task nodes.
      sim.scaleOutPending = true;
      this.at(this.now + SCALE_OUT_SECONDS, () => {
        sim.scaleOutPending = false;
        if (!this.isRunning(sim)) return;
        const wanted = Math.min(
          sim.pool.managedScaling.maximumUnits,
          roundUp(this.runningUnits(sim) + sim.waiting.reduce((s, w) => s + w.units, 0), SCALE_STEP_UNITS),
        );
        this.resize(sim, Math.max(sim.provisioned, wanted));
        this.startWaiting(sim);
      });
    }
  }

  private startStep(sim: ClusterSim, state: JobState, units: number, stepId: string): void {
    const duration = trueStepSeconds(state.job, units);
    const startedAt = this.now;
    const endVersion = 0;
    sim.running.set(stepId, { state, units, startedAt, endVersion });
    this.at(startedAt + duration, async () => {
      const run = sim.running.get(stepId);
      if (!run || run.endVersion !== endVersion) return;
      sim.running.delete(stepId);
      sim.steps[sim.stepIndex.get(stepId)!].state = 'COMPLETED';
      // Its COMPLETED event: settle-steps takes the mapping and tells the token; run-job releases the lease.
      await this.jobManager.settleStep(sim.clusterId, stepId, { outcome: 'success', output: '{}' });
      const lease = leaseId(`${state.job.id}-exec`, state.attempt);
      await this.releaseCapacity(lease, this.attempts.get(lease)!);
      this.stepsChanged(sim);
      this.meter.pooledWorkUnitSeconds += units * duration;
      this.finish(state, 'succeeded', units * duration);
    });
  }

  /** ReleaseCapacity: the job manager gives the lease back and dispatches the freed units. */
  private async releaseCapacity(lease: string, attempt: PooledAttempt): Promise<void> {
    this.attempts.delete(lease);
    if (attempt.grantedAt !== undefined) this.meter.leasedUnitHours += (attempt.slot?.units ?? attempt.units) * ((this.now - attempt.grantedAt) / 3600);
    await this.jobManager.release(this.context(attempt.pool), { clusterId: attempt.slot!.clusterId, lease });
    await this.afterJobManager(attempt.pool);
  }

  /** A step ended: an empty cluster starts its idle clock, and managed scaling may scale in. */
  private stepsChanged(sim: ClusterSim): void {
    if (sim.running.size === 0 && sim.waiting.length === 0 && sim.submitting === 0) {
      sim.idleSince = this.now;
      this.scheduleIdleCheck(sim);
    }
    this.scheduleScaleIn(sim);
  }

  private scheduleScaleIn(sim: ClusterSim): void {
    if (sim.scaleInPending) return;
    sim.scaleInPending = true;
    this.at(this.now + SCALE_IN_DELAY_SECONDS, () => {
      sim.scaleInPending = false;
      if (!this.isRunning(sim)) return;
      const needed = Math.max(sim.minimumUnits, roundUp(Math.max(sim.peakSinceScaleIn, this.runningUnits(sim)), SCALE_STEP_UNITS));
      sim.peakSinceScaleIn = this.yarnDemand(sim);
      if (needed < sim.provisioned) this.resize(sim, needed);
      if (sim.provisioned > Math.max(sim.minimumUnits, roundUp(this.yarnDemand(sim), SCALE_STEP_UNITS))) this.scheduleScaleIn(sim);
    });
  }

  /** AutoTerminationPolicy: a cluster with no step for idleTimeoutSeconds terminates itself (no API call). */
  private scheduleIdleCheck(sim: ClusterSim): void {
    const since = sim.idleSince;
    if (since === null) return;
    this.at(since + sim.pool.idleTimeoutSeconds, async () => {
      if (sim.idleSince !== since || !this.isRunning(sim) || sim.running.size > 0 || sim.waiting.length > 0 || sim.submitting > 0) return;
      const running = [...this.sims.values()].filter((s) => s.pool === sim.pool && this.isRunning(s)).length;
      if (running <= sim.pool.minClusters) return;
      await this.terminate(sim);
    });
  }

  /** EMR ends the cluster; its state-change events reach the job manager (TERMINATING, then TERMINATED). */
  private async terminate(sim: ClusterSim): Promise<void> {
    sim.state = 'TERMINATING';
    sim.interruptVersion++;
    await this.jobManager.observeClusterState(this.context(sim.pool), sim.clusterId, 'TERMINATING');
    this.at(this.now + TERMINATE_SECONDS, async () => {
      this.accrue(sim);
      sim.state = 'TERMINATED';
      this.sims.delete(sim.clusterId);
      this.clusterEnded();
      await this.jobManager.observeClusterState(this.context(sim.pool), sim.clusterId, 'TERMINATED');
      await this.afterJobManager(sim.pool);
    });
  }

  /** EMR runs steps and scales it (not TERMINATING or ended); the job manager's `isAlive` is another question. */
  private isRunning(sim: ClusterSim): boolean {
    return sim.state !== 'TERMINATING' && sim.state !== 'TERMINATED';
  }

  /** The next Spot loss among the cluster's task nodes (exponential, the sum of their hazards). */
  private scheduleInterruption(sim: ClusterSim): void {
    const version = ++sim.interruptVersion;
    if (sim.switchedToOnDemand || !this.isRunning(sim)) return;
    const nodes = Math.max(0, sim.provisioned - sim.pool.fleets.coreUnits) / SCALE_STEP_UNITS;
    const hazard = nodes * meanHazard(this.spot, sim.pool.fleets.task);
    if (hazard <= 0) return;
    this.at(this.now + this.random.exponential(1 / hazard), async () => {
      if (version !== sim.interruptVersion || !this.isRunning(sim)) return;
      await this.interrupt(sim);
    });
  }

  /**
   * A task node is reclaimed. Its executors belonged to a running job with the chance that the node was
   * busy; that job's step fails, ClassifyFailure (pool mode) sees a Spot instance lost while its step ran,
   * and its retry policy decides. Managed scaling then replaces the node.
   */
  private async interrupt(sim: ClusterSim): Promise<void> {
    const before = sim.provisioned;
    this.resize(sim, Math.max(sim.pool.fleets.coreUnits, before - SCALE_STEP_UNITS));
    let busy = this.runningUnits(sim);
    const victims: string[] = [];
    const candidates = [...sim.running.keys()].sort();
    if (busy > 0 && this.random.next() < Math.min(1, busy / before)) victims.push(candidates[Math.floor(this.random.next() * candidates.length)]);
    for (const stepId of victims) busy -= sim.running.get(stepId)!.units;
    for (const stepId of candidates) {
      if (busy <= sim.provisioned) break;
      if (victims.includes(stepId)) continue;
      victims.push(stepId);
      busy -= sim.running.get(stepId)!.units;
    }
    for (const stepId of victims) {
      const run = sim.running.get(stepId)!;
      sim.running.delete(stepId);
      sim.steps[sim.stepIndex.get(stepId)!].state = 'FAILED';
      run.endVersion++;
      const elapsed = this.now - run.startedAt;
      this.meter.interruptions++;
      this.meter.lostInstanceHours += (run.units / SCALE_STEP_UNITS) * (elapsed / 3600);
      // Its FAILED event: settle-steps fails the token with `{ Step }`, then ClassifyFailure reads EMR.
      await this.jobManager.settleStep(sim.clusterId, stepId, {
        outcome: 'failure',
        error: STATES_ERROR.taskFailed,
        cause: JSON.stringify({ Step: { Id: stepId } }),
      });
      this.classifyCalls();
      const lease = leaseId(`${run.state.job.id}-exec`, run.state.attempt);
      const failure = classifyFailure({
        error: { Error: STATES_ERROR.taskFailed, Cause: 'simulated' },
        attempt: run.state.attempt,
        maxAttempts: run.state.job.job.maxAttempts,
        placement: { mode: 'pool', cluster: {}, slot: { pool: sim.pool.name, clusterId: sim.clusterId, lease } },
        clusterId: sim.clusterId,
        observation: {
          cluster: { Id: sim.clusterId, Status: { State: 'RUNNING' } },
          instances: lostSpotInstance({ Code: 'INSTANCE_FAILURE', Message: 'Spot instance interrupted (simulated)' }, this.now),
          step: failedStep(run.startedAt, this.now),
          apiErrors: [],
        },
      });
      await this.releaseCapacity(lease, this.attempts.get(lease)!);
      this.stepsChanged(sim);
      if (failure.retry) this.at(this.now + failure.backoffSeconds, () => this.place(run.state.job, failure.nextAttempt));
      else this.finish(run.state, 'failed', 0, failure.kind);
    }
    // Managed scaling replaces the lost node if the remaining work needs it.
    this.startWaiting(sim);
  }

  /** A pooled attempt whose cluster had ended before its step was submitted: ClassifyFailure's policy. */
  private retryOrFail(state: JobState, clusterState: string): void {
    this.classifyCalls();
    const failure = classifyFailure({
      error: { Error: STATES_ERROR.taskFailed, Cause: 'simulated' },
      attempt: state.attempt,
      maxAttempts: state.job.job.maxAttempts,
      placement: { mode: 'pool', cluster: {}, slot: null },
      clusterId: 'j-SIMULATED',
      observation: { cluster: { Id: 'j-SIMULATED', Status: { State: clusterState } }, instances: [], apiErrors: [] },
    });
    if (failure.retry) this.at(this.now + failure.backoffSeconds, () => this.place(state.job, failure.nextAttempt));
    else this.finish(state, 'failed', 0, failure.kind);
  }

  /**
   * Bills the pool clusters still alive when the last job ended: until their idle timeout ends them, or, for
   * the ones minClusters keeps, to the end of the day (the day repeats: they run around the clock).
   */
  finishBilling(): void {
    const end = this.now;
    const byPool = new Map<string, ClusterSim[]>();
    for (const sim of this.sims.values()) byPool.set(sim.pool.name, [...(byPool.get(sim.pool.name) ?? []), sim]);
    for (const sims of byPool.values()) {
      sims.forEach((sim, i) => {
        const kept = i < sim.pool.minClusters;
        // Each cluster from the same end: a kept one to the day's end, the others through idle timeout and teardown.
        this.now = kept ? Math.max(86_400, end) : end + sim.pool.idleTimeoutSeconds + TERMINATE_SECONDS;
        this.accrue(sim);
      });
    }
    this.now = end;
  }
}

/** `registry`: per pool, the clusters and queue place-job would have read (emrflow-hybrid, whose rules read predictedWaitMinutes). */
export type DecisionLog = Array<{ input: PlaceJobInput; placement: Placement; registry?: Record<string, { clusters: PoolCluster[]; queue: QueueEntry[] }> }>;

/**
 * The registry's invariant after every grant: the leases' units add up to unitsInUse, which never passes the
 * cluster's capacityUnits, and no more jobs than maxJobs hold a lease.
 */
export function assertLeaseInvariant(cluster: PoolCluster): void {
  const leased = Object.values(cluster.leases).reduce((sum, lease) => sum + lease.units, 0);
  const jobs = Object.keys(cluster.leases).length;
  if (leased !== cluster.unitsInUse || cluster.unitsInUse > cluster.capacityUnits || jobs > cluster.maxJobs) {
    throw new Error(
      `conservation: cluster ${cluster.clusterId} leases ${leased} units (unitsInUse ${cluster.unitsInUse}) of ${cluster.capacityUnits} to ${jobs} of ${cluster.maxJobs} jobs`,
    );
  }
}

function roundUp(value: number, step: number): number {
  return Math.ceil(value / step) * step;
}
