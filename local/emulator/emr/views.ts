/**
 * What the API answers about the model: the SDK's output shapes (`Cluster`, `InstanceFleet`, `Step`, …)
 * as they cross the wire, and EMR's Marker paging.
 */
import { EMR_LIST_PAGE_SIZE } from '../../../lib/contract';
import type {
  Cluster,
  ClusterStatus,
  ClusterSummary,
  Instance,
  InstanceFleet,
  InstanceGroup,
  InstanceGroupState,
  Step,
  StepSummary,
} from '@aws-sdk/client-emr';
import { invalidRequest } from '../protocol';
import type { EmrCluster, EmrFleet, EmrGroup, EmrInstance, EmrStep } from './model';
import type { OnTheWire } from '../protocol';

export function page<T>(items: T[], marker: unknown): { items: T[]; Marker?: string } {
  const start = typeof marker === 'string' && marker ? Number(Buffer.from(marker, 'base64url').toString('utf8')) : 0;
  if (!Number.isInteger(start) || start < 0) throw invalidRequest('Marker: is not valid');
  const slice = items.slice(start, start + EMR_LIST_PAGE_SIZE);
  const next = start + EMR_LIST_PAGE_SIZE < items.length ? Buffer.from(String(start + EMR_LIST_PAGE_SIZE)).toString('base64url') : undefined;
  return { items: slice, ...(next ? { Marker: next } : {}) };
}

const NORMALIZATION: Record<string, number> = { nano: 0.25, micro: 0.5, small: 1, medium: 2, large: 4, xlarge: 8 };

function normalizationFactor(instanceType: string): number {
  const size = instanceType.split('.')[1] ?? 'xlarge';
  const multiple = /^(\d+)xlarge$/.exec(size);
  return multiple ? Number(multiple[1]) * 8 : (NORMALIZATION[size] ?? 8);
}

/** Hours each instance ran, rounded up, times its size's normalization factor (EMR's billing-like figure). */
export function normalizedHours(cluster: EmrCluster, now: number): number {
  const end = cluster.timeline.EndDateTime ?? now;
  return cluster.instances.reduce((sum, i) => {
    const ready = i.timeline.ReadyDateTime;
    if (ready === undefined) return sum;
    const hours = Math.max(1, Math.ceil(((i.timeline.EndDateTime ?? end) - ready) / 3600));
    return sum + hours * normalizationFactor(i.InstanceType);
  }, 0);
}

export function clusterStatus(cluster: EmrCluster): OnTheWire<ClusterStatus> {
  return { State: cluster.state, StateChangeReason: cluster.reason, Timeline: cluster.timeline };
}

export function clusterSummary(cluster: EmrCluster, now: number): OnTheWire<ClusterSummary> {
  return {
    Id: cluster.Id,
    Name: cluster.Name,
    Status: clusterStatus(cluster),
    NormalizedInstanceHours: normalizedHours(cluster, now),
    ClusterArn: cluster.ClusterArn,
  };
}

export function clusterView(cluster: EmrCluster, now: number, region: string): OnTheWire<Cluster> {
  const primary = cluster.instances.find((i) => i.role === 'MASTER');
  const running = cluster.timeline.ReadyDateTime !== undefined;
  return {
    Id: cluster.Id,
    Name: cluster.Name,
    Status: clusterStatus(cluster),
    Ec2InstanceAttributes: {
      Ec2SubnetId: cluster.subnetIds[0],
      RequestedEc2SubnetIds: cluster.subnetIds,
      Ec2AvailabilityZone: `${region}a`,
      RequestedEc2AvailabilityZones: [],
      IamInstanceProfile: cluster.JobFlowRole,
    },
    InstanceCollectionType: cluster.InstanceCollectionType,
    ...(cluster.LogUri ? { LogUri: cluster.LogUri } : {}),
    ReleaseLabel: cluster.ReleaseLabel,
    AutoTerminate: !cluster.KeepJobFlowAliveWhenNoSteps,
    TerminationProtected: cluster.TerminationProtected,
    VisibleToAllUsers: cluster.VisibleToAllUsers,
    Applications: cluster.Applications,
    Tags: cluster.Tags,
    ...(cluster.ServiceRole ? { ServiceRole: cluster.ServiceRole } : {}),
    NormalizedInstanceHours: normalizedHours(cluster, now),
    ...(running && primary ? { MasterPublicDnsName: primary.PrivateDnsName } : {}),
    Configurations: cluster.Configurations,
    ScaleDownBehavior: 'TERMINATE_AT_TASK_COMPLETION',
    ClusterArn: cluster.ClusterArn,
    StepConcurrencyLevel: cluster.StepConcurrencyLevel,
    PlacementGroups: [],
  };
}

export function fleetView(cluster: EmrCluster, fleet: EmrFleet): OnTheWire<InstanceFleet> {
  // Provisioned: running, or bootstrapping with the fleet's own launch; an instance added later (a Spot
  // replacement, a scale-out) counts once it runs.
  const live = cluster.instances.filter(
    (i) => i.InstanceFleetId === fleet.Id && (i.state === 'RUNNING' || (i.state === 'BOOTSTRAPPING' && fleet.state === 'BOOTSTRAPPING')),
  );
  const units = (market: string) => live.filter((i) => i.Market === market).reduce((sum, i) => sum + i.weight, 0);
  return {
    Id: fleet.Id,
    ...(fleet.Name ? { Name: fleet.Name } : {}),
    Status: { State: fleet.state, StateChangeReason: fleet.reason, Timeline: fleet.timeline },
    InstanceFleetType: fleet.InstanceFleetType,
    TargetOnDemandCapacity: fleet.TargetOnDemandCapacity,
    TargetSpotCapacity: fleet.TargetSpotCapacity,
    ProvisionedOnDemandCapacity: units('ON_DEMAND'),
    ProvisionedSpotCapacity: units('SPOT'),
    InstanceTypeSpecifications: fleet.InstanceTypeConfigs.map((c) => ({
      InstanceType: c.InstanceType,
      WeightedCapacity: c.WeightedCapacity ?? 1,
      ...(c.BidPriceAsPercentageOfOnDemandPrice !== undefined ? { BidPriceAsPercentageOfOnDemandPrice: c.BidPriceAsPercentageOfOnDemandPrice } : {}),
      EbsBlockDevices: [],
      EbsOptimized: true,
    })),
    ...(fleet.LaunchSpecifications ? { LaunchSpecifications: fleet.LaunchSpecifications } : {}),
  };
}

/** An instance group follows its cluster: PROVISIONING while it starts, RUNNING once ready, then ENDED. */
function groupState(cluster: EmrCluster): InstanceGroupState {
  switch (cluster.state) {
    case 'STARTING':
      return 'PROVISIONING';
    case 'BOOTSTRAPPING':
      return 'BOOTSTRAPPING';
    case 'RUNNING':
    case 'WAITING':
      return 'RUNNING';
    case 'TERMINATING':
      return 'TERMINATING';
    default:
      return 'ENDED';
  }
}

export function groupView(cluster: EmrCluster, group: EmrGroup): OnTheWire<InstanceGroup> {
  const state = groupState(cluster);
  const running = cluster.instances.filter((i) => i.InstanceGroupId === group.Id && i.state === 'RUNNING').length;
  return {
    Id: group.Id,
    ...(group.Name ? { Name: group.Name } : {}),
    Market: group.Market,
    InstanceGroupType: group.InstanceRole,
    InstanceType: group.InstanceType,
    RequestedInstanceCount: group.RequestedInstanceCount,
    RunningInstanceCount: running,
    Status: {
      State: state,
      StateChangeReason: state === 'ENDED' ? { Code: 'CLUSTER_TERMINATED', Message: 'The instance group was terminated because the cluster terminated.' } : {},
      Timeline: {
        CreationDateTime: cluster.timeline.CreationDateTime,
        ...(cluster.timeline.ReadyDateTime !== undefined ? { ReadyDateTime: cluster.timeline.ReadyDateTime } : {}),
        ...(cluster.timeline.EndDateTime !== undefined ? { EndDateTime: cluster.timeline.EndDateTime } : {}),
      },
    },
    Configurations: [],
    EbsBlockDevices: [],
    ShrinkPolicy: {},
  };
}

export function instanceView(instance: EmrInstance): OnTheWire<Instance> {
  return {
    Id: instance.Id,
    Ec2InstanceId: instance.Ec2InstanceId,
    PrivateDnsName: instance.PrivateDnsName,
    PrivateIpAddress: instance.PrivateIpAddress,
    Status: { State: instance.state, StateChangeReason: instance.reason, Timeline: instance.timeline },
    ...(instance.InstanceFleetId ? { InstanceFleetId: instance.InstanceFleetId } : { InstanceGroupId: instance.InstanceGroupId }),
    Market: instance.Market,
    InstanceType: instance.InstanceType,
    EbsVolumes: [],
  };
}

export function stepView(step: EmrStep): OnTheWire<Step> & OnTheWire<StepSummary> {
  return {
    Id: step.Id,
    Name: step.Name,
    Config: {
      Jar: step.Config.Jar,
      Properties: step.Config.Properties,
      ...(step.Config.MainClass ? { MainClass: step.Config.MainClass } : {}),
      Args: step.Config.Args,
    },
    ActionOnFailure: step.ActionOnFailure,
    Status: {
      State: step.state,
      StateChangeReason: step.reason,
      ...(step.failureDetails ? { FailureDetails: step.failureDetails } : {}),
      Timeline: step.timeline,
    },
  };
}
