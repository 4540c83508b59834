/**
 * One cluster per attempt: launch, the step on it, Spot loss and ClassifyFailure's retry policy
 * (PerAttemptRun, which emrflow's dedicated path shares), and the per-job strategies that buy every
 * attempt's cluster the same way: on-demand-per-job and spot-per-job (PerJobRun).
 */
import { classifyFailure, type Observation } from '../../lib/domain/failure';
import { planFleets } from '../../lib/domain/fleet';
import {
  BILLING_MINIMUM_SECONDS,
  CLUSTER_START_SECONDS,
  SCALE_STEP_UNITS,
  SPARK_FIRST_EXECUTOR_SECONDS,
  STEP_SUBMIT_TO_RUNNING_SECONDS,
  SYNC_POLL,
  TERMINATE_SECONDS,
} from './constants';
import { trueStepSeconds, type SizedJob } from './decisions';
import { addRate, meanHazard, primaryRate, unitRate, type Rate } from './rates';
import { lostSpotInstance, Run, type JobState } from './run';

export interface DedicatedPurchase {
  /** Hourly EC2/EMR while the cluster lives. */
  rate: Rate;
  /** Rate once Spot capacity was replaced by On-Demand at launch (SWITCH_TO_ON_DEMAND). */
  switchedRate: Rate;
  spotInstances: number;
  /** Every instance is Spot (primary and core too): losing any ends the step. */
  allSpot: boolean;
  /** SWITCH_TO_ON_DEMAND when Spot is short at launch; otherwise TERMINATE_CLUSTER and a failed attempt. */
  fallback: boolean;
  spotTypes: string[];
  spotTimeoutSeconds: number;
}

export abstract class PerAttemptRun extends Run {
  protected abstract purchase(job: SizedJob, attempt: number): Promise<DedicatedPurchase | null>;

  protected async place(job: SizedJob, attempt: number): Promise<void> {
    const state = this.stateOf(job.id);
    state.attempt = attempt;
    const purchase = await this.purchase(job, attempt);
    this.chargeOrchestration(purchase === null ? 'pooled' : 'dedicated', attempt > 1);
    if (purchase === null) return;
    this.runDedicated(state, purchase);
  }

  protected runDedicated(state: JobState, purchase: DedicatedPurchase): void {
    this.createCluster(state, purchase, 0, 0);
  }

  /**
   * CreateCluster and its throttling loop as run-job declares it (CreateClusterRejected → First/NextCreateThrottle
   * → WaitToCreateCluster): a throttled RunJobFlow is tried again after a jittered, growing wait, at most
   * `maxRetries` times; then ClassifyFailure fails the attempt, and the job with it.
   */
  private createCluster(state: JobState, purchase: DedicatedPurchase, throttles: number, waitSeconds: number): void {
    if (this.tryLaunchNow()) {
      this.launch(state, purchase);
      return;
    }
    this.meter.throttle('RunJobFlow', 1);
    const loop = this.limits.createClusterThrottle;
    if (throttles >= loop.maxRetries) {
      this.meter.call('RunJobFlow', this.now);
      this.fail(state, null, 'NONE', null, 0, {
        Error: loop.errorName,
        Cause: 'Error Code: ThrottlingException (simulated: RunJobFlow quota or 500 active clusters)',
      });
      return;
    }
    const range = throttles === 0 ? loop.firstWaitSeconds : loop.addedWaitSeconds;
    // States.MathRandom(min, max): a whole number of seconds in the range.
    const wait = (throttles === 0 ? 0 : waitSeconds) + Math.min(range.max, Math.floor(this.random.uniform(range.min, range.max + 1)));
    this.launchesRetrying++;
    this.updateQueued();
    this.at(this.now + wait, () => {
      this.launchesRetrying--;
      this.updateQueued();
      this.createCluster(state, purchase, throttles + 1, wait);
    });
  }

  private launch(state: JobState, purchase: DedicatedPurchase): void {
    const launchedAt = this.now;
    this.meter.launches++;
    this.meter.call('RunJobFlow', this.now);
    this.meter.changeActive(this.now, 1);
    const startSeconds = this.random.uniform(CLUSTER_START_SECONDS.min, CLUSTER_START_SECONDS.max);
    const noSpot = purchase.spotInstances > 0 && this.random.next() < this.spot.noSpotAtLaunch;
    if (noSpot && !purchase.fallback) {
      const failedAt = launchedAt + purchase.spotTimeoutSeconds;
      this.meter.poll('DescribeCluster', launchedAt, failedAt, SYNC_POLL);
      this.at(failedAt, () => {
        this.chargeInstances(purchase.rate, failedAt - launchedAt);
        this.meter.provisionedUnitHours += (state.job.sizing.capacityUnits + 1) * ((failedAt - launchedAt) / 3600);
        this.clusterEnded();
        this.fail(
          state,
          { Code: 'INSTANCE_FLEET_TIMEOUT', Message: 'The instance fleet could not provision Spot capacity in time (simulated)' },
          'TERMINATED_WITH_ERRORS',
          null,
          0,
        );
      });
      return;
    }
    const readyAt = launchedAt + (noSpot ? purchase.spotTimeoutSeconds + startSeconds / 2 : startSeconds);
    const rate = noSpot ? purchase.switchedRate : purchase.rate;
    const spotInstances = noSpot ? 0 : purchase.spotInstances;
    this.meter.poll('DescribeCluster', launchedAt, readyAt, SYNC_POLL);
    this.at(readyAt, () =>
      this.whenQuotaAllows('AddJobFlowSteps', () => {
        this.meter.call('AddJobFlowSteps', this.now);
        const stepStart = this.now + STEP_SUBMIT_TO_RUNNING_SECONDS;
        this.at(stepStart, () => {
          this.stepRunning(state);
          const duration = trueStepSeconds(state.job, state.job.sizing.capacityUnits);
          const hazard = spotInstances * meanHazard(this.spot, purchase.spotTypes);
          const lostAfter = hazard > 0 ? this.random.exponential(1 / hazard) : Infinity;
          // The nodes are up: the first executor follows the driver by SPARK_FIRST_EXECUTOR_SECONDS.
          if (lostAfter >= SPARK_FIRST_EXECUTOR_SECONDS) this.firstExecutor(state, stepStart + SPARK_FIRST_EXECUTOR_SECONDS);
          const end = stepStart + Math.min(duration, lostAfter);
          this.meter.poll('DescribeStep', stepStart - STEP_SUBMIT_TO_RUNNING_SECONDS, end, SYNC_POLL);
          this.at(end, () => {
            const teardownEnd = end + TERMINATE_SECONDS;
            this.meter.call('TerminateJobFlows', end);
            this.meter.poll('DescribeCluster', end, teardownEnd, SYNC_POLL);
            this.chargeInstances(rate, teardownEnd - launchedAt);
            this.at(teardownEnd, () => this.clusterEnded());
            const units = state.job.sizing.capacityUnits;
            // The primary node counts as one unit, as in the pools' provisioned unit-hours.
            this.meter.provisionedUnitHours += (units + 1) * (Math.max(BILLING_MINIMUM_SECONDS, teardownEnd - launchedAt) / 3600);
            this.meter.busyUnitHours += units * ((end - stepStart) / 3600);
            if (lostAfter >= duration) {
              this.finish(state, 'succeeded', units * duration);
              return;
            }
            this.meter.interruptions++;
            this.meter.lostInstanceHours += (units / SCALE_STEP_UNITS + 1) * (lostAfter / 3600);
            const clusterState = purchase.allSpot ? 'TERMINATED_WITH_ERRORS' : 'RUNNING';
            this.fail(state, { Code: 'INSTANCE_FAILURE', Message: 'Spot instance interrupted (simulated)' }, clusterState, stepStart, end, {
              Error: 'States.TaskFailed',
              Cause: 'simulated',
            });
          });
        });
      }),
    );
  }

  /** ClassifyFailure on what EMR would show, then its retry policy: another attempt after the backoff, or the end. */
  /** `reason` null: no cluster was created (CreateCluster's call itself failed), so ClassifyFailure reads nothing. */
  private fail(
    state: JobState,
    reason: { Code: string; Message: string } | null,
    clusterState: string,
    stepStart: number | null,
    lostAt: number,
    error: { Error: string; Cause: string } = { Error: 'States.TaskFailed', Cause: 'simulated' },
  ): void {
    const clusterId = reason === null ? null : 'j-SIMULATED';
    let observation: Observation = { apiErrors: [] };
    if (reason !== null) {
      this.classifyCalls();
      observation = {
        cluster: { Id: 'j-SIMULATED', Status: { State: clusterState, StateChangeReason: reason } },
        fleets: [{ Name: 'Task', InstanceFleetType: 'TASK', TargetSpotCapacity: 1, ProvisionedSpotCapacity: 0, Status: { State: 'RUNNING' } }],
        instances: stepStart === null ? [] : lostSpotInstance(reason, lostAt),
        apiErrors: [],
      };
    }
    const failure = classifyFailure({
      error,
      attempt: state.attempt,
      maxAttempts: state.job.job.maxAttempts,
      placement: { mode: 'dedicated', cluster: clusterId === null ? {} : { ClusterId: clusterId }, slot: null },
      clusterId,
      observation,
    });
    if (!failure.retry) {
      this.finish(state, 'failed', 0, failure.kind);
      return;
    }
    this.at(this.now + failure.backoffSeconds, () => this.place(state.job, failure.nextAttempt));
  }
}

export class PerJobRun extends PerAttemptRun {
  constructor(
    private readonly market: 'ON_DEMAND' | 'SPOT',
    ...args: ConstructorParameters<typeof Run>
  ) {
    super(...args);
  }

  protected async purchase(job: SizedJob): Promise<DedicatedPurchase> {
    const { prices } = this.config;
    const template = this.config.pools.dedicated;
    const units = job.sizing.capacityUnits;
    if (this.market === 'ON_DEMAND') {
      const fleets = planFleets(units, 1, template, prices);
      const rate = addRate(
        addRate(primaryRate(prices, template.primary, 'ON_DEMAND'), unitRate(prices, template.core, 'ON_DEMAND'), fleets.core.onDemandUnits),
        unitRate(prices, template.task, 'ON_DEMAND'),
        fleets.task.onDemandUnits,
      );
      return {
        rate,
        switchedRate: rate,
        spotInstances: 0,
        allSpot: false,
        fallback: false,
        spotTypes: template.task,
        spotTimeoutSeconds: template.spotTimeoutMinutes * 60,
      };
    }
    const fleets = planFleets(units, 0, template, prices);
    const coreUnits = fleets.core.onDemandUnits;
    const rate = addRate(
      addRate(primaryRate(prices, template.primary, 'SPOT'), unitRate(prices, template.core, 'SPOT'), coreUnits),
      unitRate(prices, template.task, 'SPOT'),
      fleets.task.spotUnits,
    );
    return {
      rate,
      switchedRate: rate,
      spotInstances: 1 + Math.ceil(units / SCALE_STEP_UNITS),
      allSpot: true,
      fallback: false,
      spotTypes: [...template.core, ...template.task],
      spotTimeoutSeconds: template.spotTimeoutMinutes * 60,
    };
  }
}
