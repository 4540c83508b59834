/**
 * A cluster's life on the scaled clock: STARTING → BOOTSTRAPPING → WAITING ⇄ RUNNING → TERMINATING →
 * TERMINATED (or _WITH_ERRORS), with the timers each phase owns and the faults that cut it short.
 *
 * Durations (simulated seconds, model.ts DURATIONS): STARTING 60, BOOTSTRAPPING 360, TERMINATING 60.
 */
import type { ClusterState, ClusterStateChangeReason } from '@aws-sdk/client-emr';
import { CLUSTER_ACTIVE_STATES } from '../../../lib/contract';
import { DURATIONS, type EmrCluster, type EmrContext } from './model';

/** Faults drawn for a cluster when it is created, which strike during BOOTSTRAPPING. */
export interface BootstrapFaults {
  bootstrapFailure: boolean;
  spotAtBootstrap: boolean;
}

export class Lifecycle {
  constructor(private readonly ctx: EmrContext) {}

  /** Runs `fn` after `simSeconds` unless the cluster's timers are cancelled first (it terminates). */
  schedule(cluster: EmrCluster, simSeconds: number, fn: () => void): void {
    const timer = this.ctx.deps.clock.after(simSeconds, () => {
      cluster.timers.delete(timer);
      fn();
    });
    cluster.timers.add(timer);
  }

  scheduleRealMs(cluster: EmrCluster, ms: number, fn: () => void): void {
    const timer = this.ctx.deps.clock.afterMs(ms, () => {
      cluster.timers.delete(timer);
      fn();
    });
    cluster.timers.add(timer);
  }

  setClusterState(cluster: EmrCluster, state: ClusterState, reason: ClusterStateChangeReason): void {
    if (cluster.state === state && cluster.reason.Code === reason.Code) return;
    cluster.state = state;
    cluster.reason = reason;
    this.ctx.deps.emit({ resource: 'cluster', id: cluster.Id, state, message: reason.Message });
  }

  /**
   * Draws the creation faults and starts the clock: STARTING lasts its duration, and also until every
   * fleet has its Spot capacity (or its Spot timeout acts).
   */
  launch(cluster: EmrCluster): void {
    const { faults } = this.ctx.deps;
    const hasSpot = cluster.instances.some((i) => i.Market === 'SPOT');
    const noSpotCapacity = hasSpot && faults.take('spotCapacityUnavailable', cluster.attempt);
    const bootstrapFaults: BootstrapFaults = {
      bootstrapFailure: faults.take('bootstrapFailure', cluster.attempt),
      spotAtBootstrap: hasSpot && faults.takeSpotInterruption(cluster.attempt, 'BOOTSTRAPPING') !== null,
    };

    if (noSpotCapacity) this.ctx.capacity.withholdSpot(cluster);
    this.schedule(cluster, DURATIONS.startingSeconds, () => {
      cluster.startingElapsed = true;
      this.maybeStartBootstrapping(cluster, bootstrapFaults);
    });
    if (!noSpotCapacity) return;
    for (const fleet of cluster.fleets.filter((f) => f.awaitingSpot)) {
      const spec = fleet.LaunchSpecifications?.SpotSpecification;
      // Without a SpotSpecification EMR waits its default hour and then gives up on the cluster.
      const minutes = spec?.TimeoutDurationMinutes ?? 60;
      const action = spec?.TimeoutAction ?? 'TERMINATE_CLUSTER';
      this.schedule(cluster, minutes * 60, () => {
        if (!CLUSTER_ACTIVE_STATES.has(cluster.state)) return;
        if (action === 'TERMINATE_CLUSTER') {
          this.terminate(cluster, {
            Code: 'INSTANCE_FLEET_TIMEOUT',
            Message: `The ${fleet.InstanceFleetType} instance fleet ${fleet.Id} could not provision its Spot capacity within ${minutes} minutes; TimeoutAction TERMINATE_CLUSTER ended the cluster.`,
          });
        } else {
          this.ctx.capacity.switchToOnDemand(cluster, fleet);
          this.maybeStartBootstrapping(cluster, bootstrapFaults);
        }
      });
    }
  }

  private maybeStartBootstrapping(cluster: EmrCluster, faults: BootstrapFaults): void {
    if (cluster.state !== 'STARTING' || !cluster.startingElapsed || cluster.fleets.some((f) => f.awaitingSpot)) return;
    this.setClusterState(cluster, 'BOOTSTRAPPING', { Message: 'Running bootstrap actions' });
    for (const fleet of cluster.fleets) fleet.state = 'BOOTSTRAPPING';
    for (const instance of cluster.instances) {
      if (instance.state === 'PROVISIONING') instance.state = 'BOOTSTRAPPING';
    }
    if (faults.spotAtBootstrap) {
      this.schedule(cluster, DURATIONS.bootstrapFaultSeconds, () => this.ctx.capacity.spotInterruption(cluster));
    }
    if (faults.bootstrapFailure) {
      this.schedule(cluster, DURATIONS.bootstrapFaultSeconds + 30, () => {
        const primary = cluster.instances.find((i) => i.role === 'MASTER');
        this.terminate(cluster, {
          Code: 'BOOTSTRAP_FAILURE',
          Message: `On the master instance (${primary?.Ec2InstanceId}), application provisioning failed: bootstrap action 1 returned a non-zero return code`,
        });
      });
    }
    this.schedule(cluster, DURATIONS.bootstrappingSeconds, () => {
      if (cluster.state !== 'BOOTSTRAPPING') return;
      const ready = this.ctx.deps.clock.nowSeconds();
      cluster.timeline.ReadyDateTime = ready;
      for (const fleet of cluster.fleets) {
        fleet.state = 'RUNNING';
        fleet.timeline.ReadyDateTime = ready;
      }
      for (const instance of cluster.instances) {
        if (instance.state === 'BOOTSTRAPPING') {
          instance.state = 'RUNNING';
          instance.timeline.ReadyDateTime = ready;
        }
      }
      this.setClusterState(cluster, 'WAITING', { Message: 'Cluster ready to run steps.' });
      this.ctx.steps.pump(cluster);
      this.ctx.scaling.demandChanged(cluster);
    });
  }

  /** Starts TERMINATING with `reason`; after the teardown delay the cluster is TERMINATED (or _WITH_ERRORS). */
  terminate(cluster: EmrCluster, reason: ClusterStateChangeReason): void {
    if (!CLUSTER_ACTIVE_STATES.has(cluster.state)) return;
    const userOrDone = reason.Code === 'USER_REQUEST' || reason.Code === 'ALL_STEPS_COMPLETED';
    this.ctx.steps.endAll(cluster, userOrDone ? null : `The cluster terminated: ${reason.Message}`);
    // After the steps: their ending asks managed scaling to re-evaluate, which a terminating cluster must not.
    this.cancelTimers(cluster);
    this.setClusterState(cluster, 'TERMINATING', reason);
    for (const fleet of cluster.fleets) fleet.state = 'TERMINATING';
    this.schedule(cluster, DURATIONS.terminatingSeconds, () => {
      const now = this.ctx.deps.clock.nowSeconds();
      cluster.timeline.EndDateTime = now;
      for (const fleet of cluster.fleets) {
        fleet.state = 'TERMINATED';
        fleet.reason = { Code: 'CLUSTER_TERMINATED', Message: 'The instance fleet was terminated because the cluster terminated.' };
        fleet.timeline.EndDateTime = now;
      }
      for (const instance of cluster.instances) {
        if (instance.state === 'TERMINATED') continue;
        instance.state = 'TERMINATED';
        instance.reason = { Code: 'CLUSTER_TERMINATED', Message: 'Instance was terminated because the cluster terminated.' };
        instance.timeline.EndDateTime = now;
      }
      this.setClusterState(cluster, userOrDone ? 'TERMINATED' : 'TERMINATED_WITH_ERRORS', reason);
    });
  }

  private cancelTimers(cluster: EmrCluster): void {
    for (const timer of cluster.timers) this.ctx.deps.clock.cancel(timer);
    cluster.timers.clear();
    this.ctx.deps.clock.cancel(cluster.idleTimer);
    cluster.idleTimer = undefined;
  }
}
