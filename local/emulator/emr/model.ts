/**
 * The emulated EMR control plane's model: what a cluster, its fleets or groups, its instances and its steps
 * hold between API calls, typed with the SDK's own shapes and enums. The state sets that mean "active" or
 * "ended" are lib/contract's; this module only adds the emulator's durations and bookkeeping.
 */
import type {
  ActionOnFailure,
  Application,
  ClusterState,
  Command,
  ClusterStateChangeReason,
  Configuration,
  InstanceFleetProvisioningSpecifications,
  InstanceFleetState,
  InstanceFleetStateChangeReason,
  InstanceFleetType,
  InstanceRoleType,
  InstanceState,
  InstanceStateChangeReason,
  InstanceTypeConfig,
  ManagedScalingPolicy,
  MarketType,
  StepState,
  StepStateChangeReason,
  Tag,
} from '@aws-sdk/client-emr';
import type { ScaledClock } from '../clock';
import type { EmitEvent, StepExecutor } from '../events';
import type { FaultInjector } from '../faults';
import type { IdFactory } from '../random';
import type { LocalS3 } from '../s3/store';
import type { Capacity } from './capacity';
import type { Lifecycle } from './lifecycle';
import type { ManagedScaling } from './scaling';
import type { SparkRun, SparkSetup } from './spark';
import type { StepEngine } from './steps';

export const DURATIONS = {
  startingSeconds: 60,
  bootstrappingSeconds: 360,
  terminatingSeconds: 60,
  simulatedStepBaseSeconds: 120,
  simulatedStepBytesPerSecond: 32 * 1024 * 1024,
  /** Into BOOTSTRAPPING when an injected Spot interruption or bootstrap failure strikes. */
  bootstrapFaultSeconds: 120,
  /**
   * A real Spark step is interrupted this long (real time) after its first Spark job starts, so the kill
   * lands mid-job and can leave partial output, as losing nodes does; or after the fallback if no job
   * ever starts.
   */
  sparkInterruptionAfterJobStartMs: 1000,
  sparkInterruptionFallbackMs: 30_000,
} as const;

export const SPOT_RECLAIMED = 'Instance was terminated by Amazon EC2: Server.SpotInstanceTermination: the Spot capacity was reclaimed (Spot interruption).';

/** Spark and Hadoop versions of the release labels the project uses; others report no version. */
export const APPLICATION_VERSIONS: Record<string, Record<string, string>> = {
  'emr-7.10.0': { Spark: '3.5.5', Hadoop: '3.4.1', Hive: '3.1.3' },
};

/** Epoch seconds (with a fraction), as the wire carries them. */
export interface Timeline {
  CreationDateTime: number;
  ReadyDateTime?: number;
  StartDateTime?: number;
  EndDateTime?: number;
}

export interface EmrInstance {
  Id: string;
  Ec2InstanceId: string;
  PrivateIpAddress: string;
  PrivateDnsName: string;
  Market: MarketType;
  InstanceType: string;
  InstanceFleetId?: string;
  InstanceGroupId?: string;
  role: InstanceFleetType | InstanceRoleType;
  /** The WeightedCapacity of the instance type it was launched as: the units it counts for. */
  weight: number;
  state: InstanceState;
  reason: InstanceStateChangeReason;
  timeline: Timeline;
}

export interface EmrFleet {
  Id: string;
  Name?: string;
  InstanceFleetType: InstanceFleetType;
  TargetOnDemandCapacity: number;
  TargetSpotCapacity: number;
  InstanceTypeConfigs: InstanceTypeConfig[];
  LaunchSpecifications?: InstanceFleetProvisioningSpecifications;
  state: InstanceFleetState;
  reason: InstanceFleetStateChangeReason;
  timeline: Timeline;
  /** Spot capacity not yet fulfilled (an injected capacity shortage). */
  awaitingSpot: boolean;
}

export interface EmrGroup {
  Id: string;
  Name?: string;
  InstanceRole: InstanceRoleType;
  InstanceType: string;
  Market: MarketType;
  RequestedInstanceCount: number;
}

export interface EmrStep {
  Id: string;
  Name: string;
  Config: { Jar: string; Args: string[]; MainClass?: string; Properties: Record<string, string> };
  ActionOnFailure: ActionOnFailure;
  state: StepState;
  reason: StepStateChangeReason;
  failureDetails?: { Reason: string; Message: string; LogFile?: string };
  timeline: Timeline;
  executor?: StepExecutor;
  attempt: number;
  timer?: NodeJS.Timeout;
  spark?: SparkRun;
}

export interface EmrCluster {
  Id: string;
  ClusterArn: string;
  Name: string;
  ReleaseLabel: string;
  LogUri?: string;
  ServiceRole?: string;
  JobFlowRole?: string;
  Applications: Application[];
  Configurations: Configuration[];
  BootstrapActions: Command[];
  Tags: Array<Required<Pick<Tag, 'Key' | 'Value'>>>;
  VisibleToAllUsers: boolean;
  KeepJobFlowAliveWhenNoSteps: boolean;
  TerminationProtected: boolean;
  StepConcurrencyLevel: number;
  AutoTerminationPolicy?: { IdleTimeout: number };
  ManagedScalingPolicy?: ManagedScalingPolicy;
  /** When the cluster last had more units than its running steps need (managed scaling's scale-in clock). */
  scalingQuietSince?: number;
  scalingEvaluationPending?: boolean;
  scalingRecheckPending?: boolean;
  InstanceCollectionType: 'INSTANCE_FLEET' | 'INSTANCE_GROUP';
  subnetIds: string[];
  state: ClusterState;
  reason: ClusterStateChangeReason;
  timeline: Timeline;
  fleets: EmrFleet[];
  groups: EmrGroup[];
  instances: EmrInstance[];
  steps: EmrStep[];
  attempt: number;
  startingElapsed: boolean;
  timers: Set<NodeJS.Timeout>;
  idleTimer?: NodeJS.Timeout;
}

/** What the programmatic API reports about each step. */
export interface StepRecord {
  clusterId: string;
  stepId: string;
  name: string;
  state: string;
  actionOnFailure: string;
  executor: StepExecutor | null;
}

/** What the programmatic API reports about each cluster. */
export interface ClusterRecord {
  clusterId: string;
  name: string;
  state: string;
  stateChangeReason: ClusterStateChangeReason;
  attempt: number;
  tags: Record<string, string>;
}

export interface EmrServiceDeps {
  clock: ScaledClock;
  ids: IdFactory;
  faults: FaultInjector;
  s3: LocalS3;
  spark: SparkSetup | null;
  stateDir: string;
  region: string;
  emit: EmitEvent;
}

/**
 * What the parts of the emulated control plane share: the dependencies, the clusters, and each other
 * (a step's failure can end its cluster; a cluster's end ends its steps).
 */
export interface EmrContext {
  readonly deps: EmrServiceDeps;
  readonly clusters: Map<string, EmrCluster>;
  /** The last private IP handed out (kept across a kept state directory). */
  ipCounter: number;
  /** Set by shutdown(): a Spark process that ends afterwards must not start the next step. */
  stopped: boolean;
  readonly lifecycle: Lifecycle;
  readonly steps: StepEngine;
  readonly capacity: Capacity;
  readonly scaling: ManagedScaling;
}
