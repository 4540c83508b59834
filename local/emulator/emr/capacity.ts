/**
 * EC2 capacity behind a cluster: the instances its fleets or groups launch, Spot capacity withheld at
 * launch (an injected shortage) and Spot capacity reclaimed afterwards (an injected interruption).
 */
import type { InstanceFleetConfig, InstanceGroupConfig } from '@aws-sdk/client-emr';
import { CLUSTER_ACTIVE_STATES } from '../../../lib/contract';
import { SPOT_RECLAIMED, type EmrCluster, type EmrContext, type EmrFleet, type EmrGroup, type EmrInstance } from './model';

type NewInstance = Omit<EmrInstance, 'Id' | 'Ec2InstanceId' | 'PrivateIpAddress' | 'PrivateDnsName' | 'state' | 'reason' | 'timeline'>;

export class Capacity {
  constructor(private readonly ctx: EmrContext) {}

  addFleet(cluster: EmrCluster, spec: InstanceFleetConfig, now: number): void {
    const fleet: EmrFleet = {
      Id: this.ctx.deps.ids.instanceFleet(),
      Name: spec.Name,
      InstanceFleetType: spec.InstanceFleetType!,
      TargetOnDemandCapacity: spec.TargetOnDemandCapacity ?? 0,
      TargetSpotCapacity: spec.TargetSpotCapacity ?? 0,
      InstanceTypeConfigs: spec.InstanceTypeConfigs!,
      LaunchSpecifications: spec.LaunchSpecifications,
      state: 'PROVISIONING',
      reason: {},
      timeline: { CreationDateTime: now },
      awaitingSpot: false,
    };
    cluster.fleets.push(fleet);
    // EMR picks among the fleet's types; the emulator always takes the first and fills capacity with it.
    const config = fleet.InstanceTypeConfigs[0];
    const weight = config.WeightedCapacity ?? 1;
    const add = (units: number, market: 'ON_DEMAND' | 'SPOT') => {
      for (let i = 0; i < Math.ceil(units / weight); i += 1) {
        this.addInstance(cluster, { Market: market, InstanceType: config.InstanceType!, InstanceFleetId: fleet.Id, role: fleet.InstanceFleetType, weight }, now);
      }
    };
    add(fleet.TargetOnDemandCapacity, 'ON_DEMAND');
    add(fleet.TargetSpotCapacity, 'SPOT');
  }

  addGroup(cluster: EmrCluster, spec: InstanceGroupConfig, now: number): void {
    const group: EmrGroup = {
      Id: this.ctx.deps.ids.instanceGroup(),
      Name: spec.Name,
      InstanceRole: spec.InstanceRole!,
      InstanceType: spec.InstanceType!,
      Market: spec.Market ?? 'ON_DEMAND',
      RequestedInstanceCount: spec.InstanceCount!,
    };
    cluster.groups.push(group);
    for (let i = 0; i < group.RequestedInstanceCount; i += 1) {
      this.addInstance(cluster, { Market: group.Market, InstanceType: group.InstanceType, InstanceGroupId: group.Id, role: group.InstanceRole, weight: 1 }, now);
    }
  }

  private nextIp(): string {
    this.ctx.ipCounter += 1;
    const n = this.ctx.ipCounter;
    return `10.0.${Math.floor(n / 250) % 250}.${(n % 250) + 1}`;
  }

  private addInstance(cluster: EmrCluster, fields: NewInstance, now: number): void {
    const ip = this.nextIp();
    cluster.instances.push({
      ...fields,
      Id: this.ctx.deps.ids.clusterInstance(),
      Ec2InstanceId: this.ctx.deps.ids.ec2Instance(),
      PrivateIpAddress: ip,
      PrivateDnsName: `ip-${ip.replace(/\./g, '-')}.ec2.internal`,
      state: 'PROVISIONING',
      reason: {},
      timeline: { CreationDateTime: now },
    });
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
    fleet.reason = { Message: `Spot capacity was not available within the provisioning timeout; provisioned On-Demand capacity instead (TimeoutAction SWITCH_TO_ON_DEMAND).` };
    for (const instance of cluster.instances) {
      if (instance.InstanceFleetId === fleet.Id && instance.state === 'AWAITING_FULFILLMENT') {
        instance.Market = 'ON_DEMAND';
        instance.state = 'PROVISIONING';
      }
    }
  }

  /**
   * EC2 reclaims every live Spot instance of the cluster: the instances end with a Spot reason, their
   * fleets lose that provisioned capacity, running steps fail, and the cluster ends with INSTANCE_FAILURE
   * when it lost its primary node or all core nodes.
   */
  spotInterruption(cluster: EmrCluster): void {
    if (!CLUSTER_ACTIVE_STATES.has(cluster.state)) return;
    const now = this.ctx.deps.clock.nowSeconds();
    const reclaimed = cluster.instances.filter((i) => i.Market === 'SPOT' && i.state !== 'TERMINATED');
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
    this.ctx.deps.emit({ resource: 'note', id: cluster.Id, state: 'NOTE', message: `Spot interruption: ${reclaimed.length} Spot instance(s) of ${cluster.Id} reclaimed` });
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
    }
  }
}
