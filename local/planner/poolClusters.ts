/**
 * What EMR does with emrflow's pool clusters (./emrflowRun runs the job manager and Step Functions around
 * them): RunJobFlow and the cluster's start, the steps AddJobFlowSteps puts on it and ListSteps pages through,
 * managed scaling out and in, idle termination, Spot loss and its failed steps, and the cluster's bill.
 */
import type { PoolDefinition } from '../../lib/config/pools';
import { EMR_CLUSTER_ENDED_REFUSALS, EMR_LIST_PAGE_SIZE, LIST_STEPS_MAX_IDS, STATES_ERROR } from '../../lib/contract';
import { classifyFailure } from '../../lib/domain/failure';
import { leaseId } from '../../lib/domain/pools';
import type { StepView } from '../../lib/domain/stepCompletion';
import { EmrApiError, EmrThrottledError } from '../../lib/errors';
import type { JobManager, PoolContext } from '../../lib/jobManager/jobManager';
import type { ListStepsRequest } from '../../lib/jobManager/ports';
import {
  CLUSTER_START_SECONDS,
  SCALE_IN_DELAY_SECONDS,
  SCALE_OUT_SECONDS,
  SCALE_STEP_UNITS,
  SPARK_FIRST_EXECUTOR_SECONDS,
  STEP_SUBMIT_TO_RUNNING_SECONDS,
  TERMINATE_SECONDS,
} from './constants';
import { trueStepSeconds } from './decisions';
import { PerAttemptRun } from './perAttemptRun';
import { named, roundUp, runningStep, stepRecord, type ClusterSim, type PooledAttempt } from './poolSim';
import { addRate, meanHazard, primaryRate, unitRate, type Rate } from './rates';
import { failedStep, lostSpotInstance, type JobState } from './run';

/** The pool clusters EMR runs for emrflow; the job manager's side (leases, tokens, sweeps) is EmrflowRun's. */
export abstract class PoolClusterRun extends PerAttemptRun {
  protected readonly sims = new Map<string, ClusterSim>();
  private launchCounter = 0;
  private stepCounter = 0;
  /** Lease id (= AcquireCapacity's and RunPooledStep's task-token key) → the execution's attempt. */
  protected readonly attempts = new Map<string, PooledAttempt>();

  /** The job manager that EMR's cluster and step events reach. */
  protected abstract get jobManager(): JobManager;
  protected abstract context(pool: PoolDefinition): PoolContext;
  /** The registry's invariant and the queue depth, after each job-manager call. */
  protected abstract afterJobManager(pool: PoolDefinition): Promise<void>;
  /** ReleaseCapacity of the attempt that held `lease`. */
  protected abstract releaseCapacity(lease: string, attempt: PooledAttempt): Promise<void>;
  protected abstract attemptOf(lease: string): PooledAttempt;

  /**
   * The dispatcher's AddJobFlowSteps: one metered call for a cluster's batch, under the account's quota (a
   * call that finds no token is throttled and added nothing: the dispatcher hands the claims back for the
   * next dispatch, which looks the steps up by name first). A cluster that is not running refuses it all.
   */
  protected addSteps(clusterId: string, leases: string[]): string[] {
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
  protected addStep(clusterId: string, lease: string): string {
    this.meter.call('AddJobFlowSteps', this.now);
    const sim = this.sims.get(clusterId);
    if (sim) sim.submitting = Math.max(0, sim.submitting - 1);
    if (!sim || !this.isRunning(sim)) throw named('ValidationException', `cluster ${clusterId} is not running`);
    return this.putStep(sim, lease);
  }

  /** A step on the simulated cluster, RUNNING STEP_SUBMIT_TO_RUNNING_SECONDS later. */
  protected putStep(sim: ClusterSim, lease: string): string {
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
      stepRecord(sim, stepId).state = 'RUNNING';
      this.stepRunning(attempt.state);
      this.startWaiting(sim);
    });
    return stepId;
  }

  /**
   * One ListSteps page, newest first (filtered too: EMR documents no order then, and any will do); the marker is
   * how many matching steps earlier pages showed. More than LIST_STEPS_MAX_IDS step ids are refused, as EMR does.
   */
  protected listSteps(clusterId: string, request: ListStepsRequest = {}): { steps: StepView[]; marker?: string } {
    this.meter.call('ListSteps', this.now);
    const { marker, stepStates, stepIds } = request;
    if (stepIds && stepIds.length > LIST_STEPS_MAX_IDS) {
      throw named('ValidationException', `StepIds: you can specify a maximum of ${LIST_STEPS_MAX_IDS} step IDs, got ${stepIds.length}`);
    }
    const sim = this.sims.get(clusterId);
    if (!sim) return { steps: [] };
    const byId = stepIds && [...new Set(stepIds)].flatMap((id) => sim.stepIndex.get(id) ?? []).sort((a, b) => b - a);
    const count = byId ? byId.length : sim.steps.length;
    const shown = marker ? Number(marker) : 0;
    const page: StepView[] = [];
    let matched = 0;
    for (let k = 0; k < count; k += 1) {
      const step = sim.steps[byId ? byId[k] : sim.steps.length - 1 - k];
      if (stepStates && !stepStates.includes(step.state)) continue;
      matched += 1;
      if (matched <= shown) continue;
      if (page.length === EMR_LIST_PAGE_SIZE) return { steps: page, marker: String(shown + EMR_LIST_PAGE_SIZE) };
      page.push({ Id: step.id, Name: step.name, Status: { State: step.state } });
    }
    return { steps: page };
  }

  /**
   * PutManagedScalingPolicy with a new minimum: managed scaling provisions up to a raised one (EC2 launch and
   * node bootstrap: SCALE_OUT_SECONDS), and may decommission idle nodes down to a lowered one (its scale-in delay).
   */
  protected setScalingMinimum(clusterId: string, units: number): void {
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

  /** RunJobFlow for the dispatcher, as EMR answers it: a cluster id now (or ThrottlingException), ready later. */
  protected launchPoolCluster(pool: PoolDefinition): string {
    if (!this.takeQuotaToken('RunJobFlow')) {
      this.meter.throttle('RunJobFlow', 1);
      throw named('ThrottlingException', 'Rate exceeded');
    }
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

  protected clusterRate(sim: ClusterSim): Rate {
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
  protected accrue(sim: ClusterSim): void {
    const rate = this.clusterRate(sim);
    const hours = (this.now - sim.costFrom) / 3600;
    this.meter.cost.ec2 += rate.ec2 * hours;
    this.meter.cost.emrUplift += rate.emr * hours;
    this.meter.poolUnitHours += (sim.provisioned + 1) * hours;
    sim.costFrom = this.now;
  }

  protected resize(sim: ClusterSim, units: number): void {
    if (units === sim.provisioned) return;
    this.accrue(sim);
    sim.provisioned = units;
    this.scheduleInterruption(sim);
  }

  /** What managed scaling sees: the containers of submitted steps (running, or waiting for nodes). */
  protected yarnDemand(sim: ClusterSim): number {
    let units = this.runningUnits(sim);
    for (const w of sim.waiting) if (w.since <= this.now) units += w.units;
    return units;
  }

  protected runningUnits(sim: ClusterSim): number {
    let units = 0;
    for (const r of sim.running.values()) units += r.units;
    return units;
  }

  protected startWaiting(sim: ClusterSim): void {
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

  protected startStep(sim: ClusterSim, state: JobState, units: number, stepId: string): void {
    const duration = trueStepSeconds(state.job, units);
    const startedAt = this.now;
    const endVersion = 0;
    sim.running.set(stepId, { state, units, startedAt, endVersion });
    this.at(startedAt + duration, async () => {
      const run = sim.running.get(stepId);
      if (!run || run.endVersion !== endVersion) return;
      sim.running.delete(stepId);
      stepRecord(sim, stepId).state = 'COMPLETED';
      // Its COMPLETED event: settle-steps takes the mapping and tells the token; run-job releases the lease.
      await this.jobManager.settleStep(sim.clusterId, stepId, { outcome: 'success', output: '{}' });
      const lease = leaseId(`${state.job.id}-exec`, state.attempt);
      await this.releaseCapacity(lease, this.attemptOf(lease));
      this.stepsChanged(sim);
      this.meter.pooledWorkUnitSeconds += units * duration;
      this.finish(state, 'succeeded', units * duration);
    });
  }

  /** A step ended: an empty cluster starts its idle clock, and managed scaling may scale in. */
  protected stepsChanged(sim: ClusterSim): void {
    if (sim.running.size === 0 && sim.waiting.length === 0 && sim.submitting === 0) {
      sim.idleSince = this.now;
      this.scheduleIdleCheck(sim);
    }
    this.scheduleScaleIn(sim);
  }

  protected scheduleScaleIn(sim: ClusterSim): void {
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
  protected scheduleIdleCheck(sim: ClusterSim): void {
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
  protected async terminate(sim: ClusterSim): Promise<void> {
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
  protected isRunning(sim: ClusterSim): boolean {
    return sim.state !== 'TERMINATING' && sim.state !== 'TERMINATED';
  }

  /** The next Spot loss among the cluster's task nodes (exponential, the sum of their hazards). */
  protected scheduleInterruption(sim: ClusterSim): void {
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
  protected async interrupt(sim: ClusterSim): Promise<void> {
    const before = sim.provisioned;
    this.resize(sim, Math.max(sim.pool.fleets.coreUnits, before - SCALE_STEP_UNITS));
    let busy = this.runningUnits(sim);
    const victims: string[] = [];
    const candidates = [...sim.running.keys()].sort();
    if (busy > 0 && this.random.next() < Math.min(1, busy / before)) victims.push(candidates[Math.floor(this.random.next() * candidates.length)]);
    for (const stepId of victims) busy -= runningStep(sim, stepId).units;
    for (const stepId of candidates) {
      if (busy <= sim.provisioned) break;
      if (victims.includes(stepId)) continue;
      victims.push(stepId);
      busy -= runningStep(sim, stepId).units;
    }
    for (const stepId of victims) {
      const run = runningStep(sim, stepId);
      sim.running.delete(stepId);
      stepRecord(sim, stepId).state = 'FAILED';
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
      await this.releaseCapacity(lease, this.attemptOf(lease));
      this.stepsChanged(sim);
      if (failure.retry) this.at(this.now + failure.backoffSeconds, () => this.place(run.state.job, failure.nextAttempt));
      else this.finish(run.state, 'failed', 0, failure.kind);
    }
    // Managed scaling replaces the lost node if the remaining work needs it.
    this.startWaiting(sim);
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
