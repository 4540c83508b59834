/**
 * EC2 capacity behind a cluster: the instances its fleets or groups launch, Spot capacity withheld at
 * launch (an injected shortage) and Spot capacity reclaimed afterwards (an injected interruption).
 */
import type { InstanceFleetConfig, InstanceGroupConfig, MarketType } from '@aws-sdk/client-emr';
import { CLUSTER_ACTIVE_STATES } from '../../../lib/contract';
import { planInstances } from './allocation';
import { DURATIONS, SPOT_RECLAIMED, type EmrCluster, type EmrContext, type EmrFleet, type EmrGroup, type EmrInstance } from './model';
import { validated } from './validate';

/** How long a replacement (or added) instance takes to count: its EC2 launch plus the node's bootstrap. */
export const SPOT_REPLACEMENT_READY_SECONDS = DURATIONS.startingSeconds + DURATIONS.bootstrappingSeconds;

type NewInstance = Omit<EmrInstance, 'Id' | 'Ec2InstanceId' | 'PrivateIpAddress' | 'PrivateDnsName' | 'state' | 'reason' | 'timeline'>;

export class Capacity {
  constructor(private readonly ctx: EmrContext) {}

  addFleet(cluster: EmrCluster, spec: InstanceFleetConfig, now: number): void {
    const fleet: EmrFleet = {
      Id: this.ctx.deps.ids.instanceFleet(),
      Name: spec.Name,
      InstanceFleetType: validated(spec.InstanceFleetType, 'InstanceFleetType'),
      TargetOnDemandCapacity: spec.TargetOnDemandCapacity ?? 0,
      TargetSpotCapacity: spec.TargetSpotCapacity ?? 0,
      InstanceTypeConfigs: validated(spec.InstanceTypeConfigs, 'InstanceTypeConfigs'),
      LaunchSpecifications: spec.LaunchSpecifications,
      state: 'PROVISIONING',
      reason: {},
      timeline: { CreationDateTime: now },
      awaitingSpot: false,
    };
    cluster.fleets.push(fleet);
    this.launch(cluster, fleet, fleet.TargetOnDemandCapacity, 'ON_DEMAND', now);
    this.launch(cluster, fleet, fleet.TargetSpotCapacity, 'SPOT', now);
  }

  /** Adds PROVISIONING instances bringing `units` of the market to the fleet, as its allocation strategy picks them. */
  launch(cluster: EmrCluster, fleet: EmrFleet, units: number, market: MarketType, now: number): EmrInstance[] {
    return planInstances(fleet, units, market).map((planned) =>
      this.addInstance(
        cluster,
        { Market: market, InstanceType: planned.InstanceType, InstanceFleetId: fleet.Id, role: fleet.InstanceFleetType, weight: planned.weight },
        now,
      ),
    );
  }

  /**
   * Instances added to a running cluster (replacements, scale-out) come up on their own: PROVISIONING for
   * the EC2 launch, BOOTSTRAPPING for the node's bootstrap, then RUNNING, when they count as provisioned.
   */
  bringUp(cluster: EmrCluster, instances: EmrInstance[]): void {
    const { lifecycle } = this.ctx;
    lifecycle.schedule(cluster, DURATIONS.startingSeconds, () => {
      for (const instance of instances) if (instance.state === 'PROVISIONING') instance.state = 'BOOTSTRAPPING';
      lifecycle.schedule(cluster, DURATIONS.bootstrappingSeconds, () => {
        const ready = this.ctx.deps.clock.nowSeconds();
        for (const instance of instances) {
          if (instance.state !== 'BOOTSTRAPPING') continue;
          instance.state = 'RUNNING';
          instance.timeline.ReadyDateTime = ready;
        }
        this.ctx.scaling.capacityChanged(cluster);
      });
    });
  }

  addGroup(cluster: EmrCluster, spec: InstanceGroupConfig, now: number): void {
    const group: EmrGroup = {
      Id: this.ctx.deps.ids.instanceGroup(),
      Name: spec.Name,
      InstanceRole: validated(spec.InstanceRole, 'InstanceRole'),
      InstanceType: validated(spec.InstanceType, 'InstanceType'),
      Market: spec.Market ?? 'ON_DEMAND',
      RequestedInstanceCount: validated(spec.InstanceCount, 'InstanceCount'),
    };
    cluster.groups.push(group);
    for (let i = 0; i < group.RequestedInstanceCount; i += 1) {
      this.addInstance(
        cluster,
        { Market: group.Market, InstanceType: group.InstanceType, InstanceGroupId: group.Id, role: group.InstanceRole, weight: 1 },
        now,
      );
    }
  }

  private nextIp(): string {
    this.ctx.ipCounter += 1;
    const n = this.ctx.ipCounter;
    return `10.0.${Math.floor(n / 250) % 250}.${(n % 250) + 1}`;
  }

  private addInstance(cluster: EmrCluster, fields: NewInstance, now: number): EmrInstance {
    const ip = this.nextIp();
    const instance: EmrInstance = {
      ...fields,
      Id: this.ctx.deps.ids.clusterInstance(),
      Ec2InstanceId: this.ctx.deps.ids.ec2Instance(),
      PrivateIpAddress: ip,
      PrivateDnsName: `ip-${ip.replace(/\./g, '-')}.ec2.internal`,
      state: 'PROVISIONING',
      reason: {},
      timeline: { CreationDateTime: now },
    };
    cluster.instances.push(instance);
    return instance;
  }

  // ---------------------------------------------------------------- Spot capacity faults

  withholdSpot(cluster: EmrCluster): void {
    for (const fleet of cluster.fleets) {
      if (fleet.TargetSpotCapacity === 0) continue;
      fleet.awaitingSpot = true;
      fleet.reason = { Message: 'Amazon EC2 has insufficient Spot capacity for the requested instance types; waiting for Spot capacity.' };
      for (const instance of cluster.instances) {
        if (instance.InstanceFleetId === fleet.Id && instance.Market === 'SPOT') instance.state = 'AWAITING_FULFILLMENT';
      }
    }
  }

  switchToOnDemand(cluster: EmrCluster, fleet: EmrFleet): void {
    fleet.awaitingSpot = false;
    fleet.reason = {
      Message: `Spot capacity was not available within the provisioning timeout; provisioned On-Demand capacity instead (TimeoutAction SWITCH_TO_ON_DEMAND).`,
    };
    for (const instance of cluster.instances) {
      if (instance.InstanceFleetId === fleet.Id && instance.state === 'AWAITING_FULFILLMENT') {
        instance.Market = 'ON_DEMAND';
        instance.state = 'PROVISIONING';
      }
    }
  }

  /**
   * EC2 reclaims every live Spot instance of the cluster (and its primary node with `withPrimary`): the
   * instances end with a Spot reason, their fleets lose that provisioned capacity, running steps fail, and
   * the cluster ends with INSTANCE_FAILURE when it lost its primary node or all core nodes.
   */
  spotInterruption(cluster: EmrCluster, options: { withPrimary?: boolean } = {}): void {
    if (!CLUSTER_ACTIVE_STATES.has(cluster.state)) return;
    const now = this.ctx.deps.clock.nowSeconds();
    const reclaimed = cluster.instances.filter((i) => (i.Market === 'SPOT' || (options.withPrimary && i.role === 'MASTER')) && i.state !== 'TERMINATED');
    if (reclaimed.length === 0) return;
    for (const instance of reclaimed) {
      instance.state = 'TERMINATED';
      instance.reason = { Code: 'INSTANCE_FAILURE', Message: SPOT_RECLAIMED };
      instance.timeline.EndDateTime = now;
    }
    for (const fleet of cluster.fleets) {
      const lost = reclaimed.filter((i) => i.InstanceFleetId === fleet.Id).length;
      if (lost > 0) {
        fleet.reason = { Code: 'INSTANCE_FAILURE', Message: `${lost} Spot instance(s) in this fleet were interrupted by Amazon EC2.` };
      }
    }
    this.ctx.deps.emit({
      resource: 'note',
      id: cluster.Id,
      state: 'NOTE',
      message: `Spot interruption: ${reclaimed.length} Spot instance(s) of ${cluster.Id} reclaimed`,
    });
    this.ctx.steps.failRunning(
      cluster,
      `org.apache.spark.SparkException: Job aborted due to stage failure: ExecutorLostFailure (executor exited caused by one of the running tasks) Reason: Container released on a *lost* node (${reclaimed[0].Ec2InstanceId} was terminated)`,
    );
    const alive = (role: string) => cluster.instances.some((i) => i.role === role && i.state !== 'TERMINATED');
    const hasCore = cluster.instances.some((i) => i.role === 'CORE');
    if (!alive('MASTER') || (hasCore && !alive('CORE'))) {
      this.ctx.lifecycle.terminate(cluster, {
        Code: 'INSTANCE_FAILURE',
        Message: !alive('MASTER')
          ? 'The master node was terminated by Amazon EC2.'
          : 'Cluster terminated: all core instances were lost; the cluster cannot continue without core nodes.',
      });
      return;
    }
    this.replaceLostSpot(cluster);
  }

  /**
   * A fleet that lost Spot instances after launch provisions replacements toward its TargetSpotCapacity,
   * with any of its instance types ("Amazon EMR tries to replace the instance with any of the instance
   * types that you specify": EMR Management Guide, instance fleets). They become RUNNING after
   * SPOT_REPLACEMENT_READY_SECONDS. Spot lost before the cluster was ready is not replaced: the cluster's
   * own launch is still under way, as EMR reports it (the fault's documented behaviour).
   */
  private replaceLostSpot(cluster: EmrCluster): void {
    if (cluster.timeline.ReadyDateTime === undefined) return;
    const now = this.ctx.deps.clock.nowSeconds();
    for (const fleet of cluster.fleets) {
      const live = cluster.instances
        .filter((i) => i.InstanceFleetId === fleet.Id && i.Market === 'SPOT' && i.state !== 'TERMINATED')
        .reduce((sum, i) => sum + i.weight, 0);
      const missing = fleet.TargetSpotCapacity - live;
      if (missing <= 0) continue;
      const added = this.launch(cluster, fleet, missing, 'SPOT', now);
      this.ctx.deps.emit({
        resource: 'note',
        id: cluster.Id,
        state: 'NOTE',
        message: `fleet ${fleet.Id} re-provisions ${missing} Spot unit(s) lost to the interruption (${added.map((i) => i.InstanceType).join(', ')}), RUNNING in ${SPOT_REPLACEMENT_READY_SECONDS} s`,
      });
      this.bringUp(cluster, added);
    }
  }
}
