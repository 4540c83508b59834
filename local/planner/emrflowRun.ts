/**
 * The emrflow strategy: place-job's decision for every attempt; a pool decision runs the job manager's own
 * code (lib/jobManager: park, dispatch, release, settle, the sweeps) against the in-memory store under the
 * virtual clock, exactly as the Lambdas run it against DynamoDB; a dedicated decision takes PerAttemptRun's
 * one-cluster path. This file and ./poolClusters play only what AWS does around the job manager: the pool
 * clusters EMR starts (start time, managed scaling, idle termination, Spot loss, billing) and the steps they run
 * are ./poolClusters; Step Functions delivering task tokens (and the run-job states between them) is here; both
 * meter the API calls each of those makes.
 * No grant, lease or queue logic of its own: the job manager's ports (EMR, Step Functions, clock) are the
 * only way it reaches this simulation, and a test swaps in a recording job manager to prove it.
 */
import type { PoolDefinition } from '../../lib/config/pools';
import { EMR_LIST_PAGE_SIZE, STATES_ERROR } from '../../lib/contract';
import { classifyFailure } from '../../lib/domain/failure';
import { placeJob, type PlacementConfig } from '../../lib/domain/placement';
import { predictedPoolWaits } from '../../lib/domain/serverless';
import { NoCapacityError } from '../../lib/errors';
import { leaseId, type PoolCluster, type QueueEntry } from '../../lib/domain/pools';
import type { Placement } from '../../lib/domain/types';
import { createJobManager, type JobManager, type JobManagerPorts, type PoolContext } from '../../lib/jobManager/jobManager';
import { MemoryJobStore } from '../../lib/jobManager/memoryStore';
import type { Slot } from '../../lib/jobManager/ports';
import { prescalePool } from '../../lib/jobManager/prescale';
import type { DayShape } from '../../lib/domain/prescale';
import { GRANT_SECONDS, LAMBDA, SCALE_STEP_UNITS, WAITER_HEARTBEATS } from './constants';
import { placeJobInput, placementConfig, type SizedJob } from './decisions';
import type { DedicatedPurchase } from './perAttemptRun';
import { PoolClusterRun } from './poolClusters';
import { assertLeaseInvariant, named, slotOf, STEP_TOKEN_SUFFIX, type DecisionLog, type PooledAttempt } from './poolSim';
import { addRate, primaryRate, unitRate } from './rates';
import type { Run, JobState } from './run';

export class EmrflowRun extends PoolClusterRun {
  protected placement: PlacementConfig;
  /** The job manager's registry, queue and step tokens: in memory, as DynamoDB would hold them. */
  readonly store = new MemoryJobStore();
  private placeholderCounter = 0;
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

  protected get jobManager(): JobManager {
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

  protected attemptOf(lease: string): PooledAttempt {
    const attempt = this.attempts.get(lease);
    if (!attempt) throw new Error(`no pooled attempt holds lease ${lease}`);
    return attempt;
  }

  protected context(pool: PoolDefinition): PoolContext {
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
      await this.acquireCapacity(this.stateOf(job.id), pool, decision);
      return null;
    }
    const { prices } = this.config;
    const template = this.config.pools.dedicated;
    const spec = decision.spec;
    if (!spec) throw new Error(`dedicated placement for ${job.id} has no cluster spec`);
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
    await this.jobManager.acquireCapacity(this.context(pool), {
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
  protected async afterJobManager(pool: PoolDefinition): Promise<void> {
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
      const slot = slotOf(attempt);
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
      const slot = slotOf(attempt);
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

  protected startSweeps(): void {
    const lambdaRun = LAMBDA.gbSecondsEach * this.services.lambdaPerGbSecond.usd;
    // dispatch-queue's one-minute schedule: per pool, the job manager's reconcile (cluster states from one
    // ListClusters of the account's live clusters, a SendTaskHeartbeat to each parked execution whose heartbeat
    // is due: about one per execution every 12 minutes), then a dispatch.
    const sweep = async (): Promise<void> => {
      this.meter.cost.lambda += lambdaRun;
      this.heartbeatsThisSweep = 0;
      if (this.sims.size > 0) this.meter.call('ListClusters', this.now, Math.max(1, Math.ceil(this.meter.activeClusters / EMR_LIST_PAGE_SIZE)));
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

  /** dispatch-queue's prescale step (lib/jobManager/prescale.ts: minimums and pre-launch) on this simulation's EMR. */
  private async prescale(pool: PoolDefinition, shape: DayShape): Promise<void> {
    const emr = { setScalingMinimum: async (clusterId: string, _pool: PoolDefinition, units: number) => this.setScalingMinimum(clusterId, units) };
    const prelaunch = (wanted: number, lead: number) => this.jobManager.prelaunch(this.context(pool), wanted, lead);
    await prescalePool({ registry: this.store, clock: { now: () => this.now * 1000 }, emr, prelaunch }, pool, shape);
  }

  /** Every step's RUNNING and end events invoke settle-steps (its EventBridge rule has no cluster filter). */
  protected chargeOrchestration(path: 'dedicated' | 'pooled', retry: boolean): void {
    super.chargeOrchestration(path, retry);
    this.meter.cost.lambda += LAMBDA.settleStepEventsPerStep * LAMBDA.gbSecondsEach * this.services.lambdaPerGbSecond.usd;
  }

  /** ReleaseCapacity: the job manager gives the lease back and dispatches the freed units. */
  protected async releaseCapacity(lease: string, attempt: PooledAttempt): Promise<void> {
    this.attempts.delete(lease);
    if (attempt.grantedAt !== undefined) this.meter.leasedUnitHours += (attempt.slot?.units ?? attempt.units) * ((this.now - attempt.grantedAt) / 3600);
    // The slot as run-job passes it (its step id too): release reads that step's mapping, as on AWS.
    const { clusterId, stepId } = slotOf(attempt);
    await this.jobManager.releaseCapacity(this.context(attempt.pool), { clusterId, lease, stepId });
    await this.afterJobManager(attempt.pool);
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
}

export { assertLeaseInvariant, type DecisionLog } from './poolSim';
