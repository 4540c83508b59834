/**
 * The emulated EMR control plane: clusters with instance fleets (or groups), their instances and steps,
 * moving through EMR's states on the scaled clock, with the faults of a fault file applied by attempt.
 *
 * Durations (simulated seconds): STARTING 60, BOOTSTRAPPING 360, TERMINATING 60; a simulated step runs
 * 120 s plus 1 s per 32 MiB of the s3:// data its arguments name. A real Spark step takes what it takes.
 */
import { CLUSTER_ACTIVE_STATES, CLUSTER_ENDED_STATES, TAG } from '../../../lib/contract';
import { promises as fs, mkdirSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { ScaledClock } from '../clock';
import type { EmitEvent, StepExecutor } from '../events';
import type { FaultInjector } from '../faults';
import { invalidRequest, validation, type JsonOperation } from '../protocol';
import type { IdFactory } from '../random';
import type { LocalS3 } from '../s3/store';
import type { EmrOperation } from './operations';
import { isSparkSubmitStep, localSparkArgs, runSparkSubmit, type SparkRun, type SparkSetup } from './spark';
import { MAX_ACTIVE_STEPS, validateRunJobFlow, validateSteps } from './validate';

type Obj = Record<string, any>;
type Reason = { Code?: string; Message?: string };
interface Timeline {
  CreationDateTime: number;
  ReadyDateTime?: number;
  StartDateTime?: number;
  EndDateTime?: number;
}

const DURATIONS = {
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

const PAGE_SIZE = 50;

const SPOT_RECLAIMED =
  'Instance was terminated by Amazon EC2: Server.SpotInstanceTermination: the Spot capacity was reclaimed (Spot interruption).';

interface Instance {
  Id: string;
  Ec2InstanceId: string;
  PrivateIpAddress: string;
  PrivateDnsName: string;
  Market: 'ON_DEMAND' | 'SPOT';
  InstanceType: string;
  InstanceFleetId?: string;
  InstanceGroupId?: string;
  role: string;
  weight: number;
  state: string;
  reason: Reason;
  timeline: Timeline;
}

interface Fleet {
  Id: string;
  Name?: string;
  InstanceFleetType: string;
  TargetOnDemandCapacity: number;
  TargetSpotCapacity: number;
  InstanceTypeConfigs: Obj[];
  LaunchSpecifications?: Obj;
  state: string;
  reason: Reason;
  timeline: Timeline;
  /** Spot capacity not yet fulfilled (an injected capacity shortage). */
  awaitingSpot: boolean;
}

interface Group {
  Id: string;
  Name?: string;
  InstanceRole: string;
  InstanceType: string;
  Market: 'ON_DEMAND' | 'SPOT';
  RequestedInstanceCount: number;
}

interface Step {
  Id: string;
  Name: string;
  Config: { Jar: string; Args: string[]; MainClass?: string; Properties: Record<string, string> };
  ActionOnFailure: string;
  state: string;
  reason: Reason;
  failureDetails?: { Reason: string; Message: string; LogFile?: string };
  timeline: Timeline;
  executor?: StepExecutor;
  attempt: number;
  timer?: NodeJS.Timeout;
  spark?: SparkRun;
}

interface Cluster {
  Id: string;
  ClusterArn: string;
  Name: string;
  ReleaseLabel: string;
  LogUri?: string;
  ServiceRole?: string;
  JobFlowRole?: string;
  Applications: Obj[];
  Configurations: Obj[];
  Tags: Array<{ Key: string; Value: string }>;
  VisibleToAllUsers: boolean;
  KeepJobFlowAliveWhenNoSteps: boolean;
  TerminationProtected: boolean;
  StepConcurrencyLevel: number;
  AutoTerminationPolicy?: { IdleTimeout: number };
  InstanceCollectionType: 'INSTANCE_FLEET' | 'INSTANCE_GROUP';
  subnetIds: string[];
  state: string;
  reason: Reason;
  timeline: Timeline;
  fleets: Fleet[];
  groups: Group[];
  instances: Instance[];
  steps: Step[];
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
  executor: StepExecutor | null;
}

/** What the programmatic API reports about each cluster. */
export interface ClusterRecord {
  clusterId: string;
  name: string;
  state: string;
  stateChangeReason: Reason;
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

const NORMALIZATION: Record<string, number> = { nano: 0.25, micro: 0.5, small: 1, medium: 2, large: 4, xlarge: 8 };

function normalizationFactor(instanceType: string): number {
  const size = instanceType.split('.')[1] ?? 'xlarge';
  const multiple = /^(\d+)xlarge$/.exec(size);
  return multiple ? Number(multiple[1]) * 8 : (NORMALIZATION[size] ?? 8);
}

/** Spark and Hadoop versions of the release labels the project uses; others report no version. */
const APPLICATION_VERSIONS: Record<string, Record<string, string>> = {
  'emr-7.10.0': { Spark: '3.5.5', Hadoop: '3.4.1', Hive: '3.1.3' },
};

export class EmrService {
  private readonly clusters = new Map<string, Cluster>();
  private ipCounter = 10;
  /** Set by shutdown(): a Spark process that ends afterwards must not start the next step. */
  private stopped = false;

  constructor(private readonly deps: EmrServiceDeps) {}

  readonly operations: Record<EmrOperation, JsonOperation> = {
    RunJobFlow: (input) => this.runJobFlow(input),
    DescribeCluster: (input) => ({ Cluster: this.describe(this.cluster(input.ClusterId)) }),
    ListClusters: (input) => this.listClusters(input),
    TerminateJobFlows: (input) => this.terminateJobFlows(input),
    AddJobFlowSteps: (input) => this.addJobFlowSteps(input),
    DescribeStep: (input) => ({ Step: this.stepView(this.step(this.cluster(input.ClusterId), input.StepId)) }),
    ListSteps: (input) => this.listSteps(input),
    CancelSteps: (input) => this.cancelSteps(input),
    ListInstanceFleets: (input) => this.listInstanceFleets(input),
    ListInstances: (input) => this.listInstances(input),
    AddTags: (input) => this.addTags(input),
    GetAutoTerminationPolicy: (input) => {
      const cluster = this.cluster(input.ClusterId);
      return cluster.AutoTerminationPolicy ? { AutoTerminationPolicy: cluster.AutoTerminationPolicy } : {};
    },
  };

  // ---------------------------------------------------------------- persistence (a kept state directory)

  /** Clusters and steps as JSON, without timers and processes. */
  snapshot(): unknown {
    const drop = new Set(['timers', 'idleTimer', 'timer', 'spark']);
    return JSON.parse(JSON.stringify({ ipCounter: this.ipCounter, clusters: [...this.clusters.values()] }, (key, value) => (drop.has(key) ? undefined : value)));
  }

  /**
   * Loads a snapshot from an earlier emulator. Nothing of that emulator runs any more, so a cluster it
   * left active is ended with INTERNAL_ERROR (and its unfinished steps with it), which is what a reaper or
   * a pool registry must then see.
   */
  restore(snapshot: unknown): void {
    const data = snapshot as { ipCounter: number; clusters: Cluster[] };
    this.ipCounter = Math.max(this.ipCounter, data.ipCounter);
    const now = this.deps.clock.nowSeconds();
    for (const cluster of data.clusters) {
      cluster.timers = new Set();
      if (CLUSTER_ACTIVE_STATES.has(cluster.state) || cluster.state === 'TERMINATING') {
        const ended = cluster.state === 'TERMINATING' && ['USER_REQUEST', 'ALL_STEPS_COMPLETED'].includes(cluster.reason.Code ?? '');
        cluster.state = ended ? 'TERMINATED' : 'TERMINATED_WITH_ERRORS';
        if (!ended) cluster.reason = { Code: 'INTERNAL_ERROR', Message: 'The local emulator that ran this cluster stopped before the cluster terminated.' };
        cluster.timeline.EndDateTime = now;
        for (const fleet of cluster.fleets) fleet.state = 'TERMINATED';
        for (const instance of cluster.instances) {
          if (instance.state !== 'TERMINATED') {
            instance.state = 'TERMINATED';
            instance.reason = { Code: 'CLUSTER_TERMINATED', Message: 'Instance was terminated because the cluster terminated.' };
            instance.timeline.EndDateTime = now;
          }
        }
        for (const step of cluster.steps) {
          if (step.state === 'PENDING' || step.state === 'RUNNING') {
            step.state = step.state === 'PENDING' ? 'CANCELLED' : 'FAILED';
            step.reason = { Message: 'The local emulator stopped while the step was active.' };
            step.timeline.EndDateTime = now;
          }
        }
      }
      this.clusters.set(cluster.Id, cluster);
    }
  }

  // ---------------------------------------------------------------- programmatic view

  clusterRecords(): ClusterRecord[] {
    return [...this.clusters.values()].map((c) => ({
      clusterId: c.Id,
      name: c.Name,
      state: c.state,
      stateChangeReason: { ...c.reason },
      attempt: c.attempt,
      tags: Object.fromEntries(c.Tags.map((t) => [t.Key, t.Value])),
    }));
  }

  stepRecords(): StepRecord[] {
    return [...this.clusters.values()].flatMap((c) =>
      c.steps.map((s) => ({ clusterId: c.Id, stepId: s.Id, name: s.Name, state: s.state, executor: s.executor ?? null })),
    );
  }

  /** Kills every Spark process and lets nothing start afterwards (the emulator is stopping; its clock drops the timers). */
  shutdown(): void {
    this.stopped = true;
    for (const cluster of this.clusters.values()) {
      for (const step of cluster.steps) step.spark?.kill();
    }
  }

  // ---------------------------------------------------------------- lookups

  private cluster(id: unknown): Cluster {
    if (typeof id !== 'string' || !id) throw validation('ClusterId: is required');
    const cluster = this.clusters.get(id);
    if (!cluster) throw invalidRequest(`Cluster id '${id}' is not valid.`);
    return cluster;
  }

  private step(cluster: Cluster, id: unknown): Step {
    if (typeof id !== 'string' || !id) throw validation('StepId: is required');
    const step = cluster.steps.find((s) => s.Id === id);
    if (!step) throw invalidRequest(`Step id '${id}' is not valid.`);
    return step;
  }

  // ---------------------------------------------------------------- RunJobFlow

  private runJobFlow(input: Obj): Obj {
    validateRunJobFlow(input);
    const { clock, ids, faults } = this.deps;
    const now = clock.nowSeconds();
    let id = ids.cluster();
    // A kept state directory holds clusters of earlier runs, whose ids a seeded generator could repeat.
    while (this.clusters.has(id)) id = ids.cluster();
    const tags: Array<{ Key: string; Value: string }> = (input.Tags ?? []).map((t: Obj) => ({ Key: t.Key, Value: t.Value ?? '' }));
    const attemptTag = Number(tags.find((t) => t.Key === TAG.attempt)?.Value);
    const versions = APPLICATION_VERSIONS[input.ReleaseLabel] ?? {};
    const instancesInput = input.Instances as Obj;
    const cluster: Cluster = {
      Id: id,
      ClusterArn: `arn:aws:elasticmapreduce:${this.deps.region}:000000000000:cluster/${id}`,
      Name: input.Name,
      ReleaseLabel: input.ReleaseLabel,
      LogUri: input.LogUri,
      ServiceRole: input.ServiceRole,
      JobFlowRole: input.JobFlowRole,
      Applications: (input.Applications ?? []).map((a: Obj) => ({ Name: a.Name, ...(versions[a.Name] ? { Version: versions[a.Name] } : {}) })),
      Configurations: input.Configurations ?? [],
      Tags: tags,
      VisibleToAllUsers: input.VisibleToAllUsers ?? true,
      KeepJobFlowAliveWhenNoSteps: instancesInput.KeepJobFlowAliveWhenNoSteps ?? false,
      TerminationProtected: instancesInput.TerminationProtected ?? false,
      StepConcurrencyLevel: input.StepConcurrencyLevel ?? 1,
      AutoTerminationPolicy: input.AutoTerminationPolicy?.IdleTimeout ? { IdleTimeout: input.AutoTerminationPolicy.IdleTimeout } : undefined,
      InstanceCollectionType: instancesInput.InstanceFleets ? 'INSTANCE_FLEET' : 'INSTANCE_GROUP',
      subnetIds: instancesInput.Ec2SubnetIds ?? (instancesInput.Ec2SubnetId ? [instancesInput.Ec2SubnetId] : []),
      state: 'STARTING',
      reason: { Message: 'Configuring cluster software' },
      timeline: { CreationDateTime: now },
      fleets: [],
      groups: [],
      instances: [],
      steps: [],
      attempt: Number.isInteger(attemptTag) && attemptTag > 0 ? attemptTag : 1,
      startingElapsed: false,
      timers: new Set(),
    };
    this.clusters.set(id, cluster);

    if (instancesInput.InstanceFleets) {
      for (const spec of instancesInput.InstanceFleets as Obj[]) this.addFleet(cluster, spec, now);
    } else {
      for (const spec of instancesInput.InstanceGroups as Obj[]) this.addGroup(cluster, spec, now);
    }
    if (input.Steps?.length) this.appendSteps(cluster, input.Steps);
    this.deps.emit({ resource: 'cluster', id, state: 'STARTING', message: `attempt ${cluster.attempt}` });

    const hasSpot = cluster.instances.some((i) => i.Market === 'SPOT');
    const noSpotCapacity = hasSpot && faults.take('spotCapacityUnavailable', cluster.attempt);
    const bootstrapFailure = faults.take('bootstrapFailure', cluster.attempt);
    const spotAtBootstrap = hasSpot && faults.takeSpotInterruption(cluster.attempt, 'BOOTSTRAPPING');

    if (noSpotCapacity) this.withholdSpot(cluster);
    this.schedule(cluster, DURATIONS.startingSeconds, () => {
      cluster.startingElapsed = true;
      this.maybeStartBootstrapping(cluster, { bootstrapFailure, spotAtBootstrap });
    });
    if (noSpotCapacity) {
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
            this.switchToOnDemand(cluster, fleet);
            this.maybeStartBootstrapping(cluster, { bootstrapFailure, spotAtBootstrap });
          }
        });
      }
    }
    return { JobFlowId: id, ClusterArn: cluster.ClusterArn };
  }

  private nextIp(): string {
    this.ipCounter += 1;
    return `10.0.${Math.floor(this.ipCounter / 250) % 250}.${(this.ipCounter % 250) + 1}`;
  }

  private addInstance(cluster: Cluster, fields: Omit<Instance, 'Id' | 'Ec2InstanceId' | 'PrivateIpAddress' | 'PrivateDnsName' | 'state' | 'reason' | 'timeline'>, now: number): void {
    const ip = this.nextIp();
    cluster.instances.push({
      ...fields,
      Id: this.deps.ids.clusterInstance(),
      Ec2InstanceId: this.deps.ids.ec2Instance(),
      PrivateIpAddress: ip,
      PrivateDnsName: `ip-${ip.replace(/\./g, '-')}.ec2.internal`,
      state: 'PROVISIONING',
      reason: {},
      timeline: { CreationDateTime: now },
    });
  }

  private addFleet(cluster: Cluster, spec: Obj, now: number): void {
    const fleet: Fleet = {
      Id: this.deps.ids.instanceFleet(),
      Name: spec.Name,
      InstanceFleetType: spec.InstanceFleetType,
      TargetOnDemandCapacity: spec.TargetOnDemandCapacity ?? 0,
      TargetSpotCapacity: spec.TargetSpotCapacity ?? 0,
      InstanceTypeConfigs: spec.InstanceTypeConfigs,
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
        this.addInstance(cluster, { Market: market, InstanceType: config.InstanceType, InstanceFleetId: fleet.Id, role: fleet.InstanceFleetType, weight }, now);
      }
    };
    add(fleet.TargetOnDemandCapacity, 'ON_DEMAND');
    add(fleet.TargetSpotCapacity, 'SPOT');
  }

  private addGroup(cluster: Cluster, spec: Obj, now: number): void {
    const group: Group = {
      Id: this.deps.ids.instanceGroup(),
      Name: spec.Name,
      InstanceRole: spec.InstanceRole,
      InstanceType: spec.InstanceType,
      Market: spec.Market ?? 'ON_DEMAND',
      RequestedInstanceCount: spec.InstanceCount,
    };
    cluster.groups.push(group);
    for (let i = 0; i < group.RequestedInstanceCount; i += 1) {
      this.addInstance(cluster, { Market: group.Market, InstanceType: group.InstanceType, InstanceGroupId: group.Id, role: group.InstanceRole, weight: 1 }, now);
    }
  }

  private schedule(cluster: Cluster, simSeconds: number, fn: () => void): void {
    const timer = this.deps.clock.after(simSeconds, () => {
      cluster.timers.delete(timer);
      fn();
    });
    cluster.timers.add(timer);
  }

  private scheduleRealMs(cluster: Cluster, ms: number, fn: () => void): void {
    const timer = this.deps.clock.afterRealMs(ms, () => {
      cluster.timers.delete(timer);
      fn();
    });
    cluster.timers.add(timer);
  }

  private cancelTimers(cluster: Cluster): void {
    for (const timer of cluster.timers) this.deps.clock.cancel(timer);
    cluster.timers.clear();
    this.deps.clock.cancel(cluster.idleTimer);
    cluster.idleTimer = undefined;
  }

  private setClusterState(cluster: Cluster, state: string, reason: Reason): void {
    if (cluster.state === state && cluster.reason.Code === reason.Code) return;
    cluster.state = state;
    cluster.reason = reason;
    this.deps.emit({ resource: 'cluster', id: cluster.Id, state, message: reason.Message });
  }

  // ---------------------------------------------------------------- Spot capacity faults

  private withholdSpot(cluster: Cluster): void {
    for (const fleet of cluster.fleets) {
      if (fleet.TargetSpotCapacity === 0) continue;
      fleet.awaitingSpot = true;
      fleet.reason = { Message: 'Amazon EC2 has insufficient Spot capacity for the requested instance types; waiting for Spot capacity.' };
      for (const instance of cluster.instances) {
        if (instance.InstanceFleetId === fleet.Id && instance.Market === 'SPOT') instance.state = 'AWAITING_FULFILLMENT';
      }
    }
  }

  private switchToOnDemand(cluster: Cluster, fleet: Fleet): void {
    fleet.awaitingSpot = false;
    fleet.reason = { Message: `Spot capacity was not available within the provisioning timeout; provisioned On-Demand capacity instead (TimeoutAction SWITCH_TO_ON_DEMAND).` };
    for (const instance of cluster.instances) {
      if (instance.InstanceFleetId === fleet.Id && instance.state === 'AWAITING_FULFILLMENT') {
        instance.Market = 'ON_DEMAND';
        instance.state = 'PROVISIONING';
      }
    }
  }

  // ---------------------------------------------------------------- lifecycle

  private maybeStartBootstrapping(cluster: Cluster, faults: { bootstrapFailure: boolean; spotAtBootstrap: boolean }): void {
    if (cluster.state !== 'STARTING' || !cluster.startingElapsed || cluster.fleets.some((f) => f.awaitingSpot)) return;
    this.setClusterState(cluster, 'BOOTSTRAPPING', { Message: 'Running bootstrap actions' });
    for (const fleet of cluster.fleets) fleet.state = 'BOOTSTRAPPING';
    for (const instance of cluster.instances) {
      if (instance.state === 'PROVISIONING') instance.state = 'BOOTSTRAPPING';
    }
    if (faults.spotAtBootstrap) {
      this.schedule(cluster, DURATIONS.bootstrapFaultSeconds, () => this.spotInterruption(cluster));
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
      const ready = this.deps.clock.nowSeconds();
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
      this.pumpSteps(cluster);
    });
  }

  /**
   * EC2 reclaims every live Spot instance of the cluster: the instances end with a Spot reason, their
   * fleets lose that provisioned capacity, running steps fail, and the cluster ends with INSTANCE_FAILURE
   * when it lost its primary node or all core nodes.
   */
  private spotInterruption(cluster: Cluster): void {
    if (!CLUSTER_ACTIVE_STATES.has(cluster.state)) return;
    const now = this.deps.clock.nowSeconds();
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
    this.deps.emit({ resource: 'note', id: cluster.Id, state: 'NOTE', message: `Spot interruption: ${reclaimed.length} Spot instance(s) of ${cluster.Id} reclaimed` });
    for (const step of cluster.steps.filter((s) => s.state === 'RUNNING')) {
      this.finishStep(cluster, step, 'FAILED', {
        Reason: 'Unknown Error.',
        Message: `org.apache.spark.SparkException: Job aborted due to stage failure: ExecutorLostFailure (executor exited caused by one of the running tasks) Reason: Container released on a *lost* node (${reclaimed[0].Ec2InstanceId} was terminated)`,
      });
    }
    const alive = (role: string) => cluster.instances.some((i) => i.role === role && i.state !== 'TERMINATED');
    const hasCore = cluster.instances.some((i) => i.role === 'CORE');
    if (!alive('MASTER') || (hasCore && !alive('CORE'))) {
      this.terminate(cluster, {
        Code: 'INSTANCE_FAILURE',
        Message: !alive('MASTER')
          ? 'The master node was terminated by Amazon EC2.'
          : 'Cluster terminated: all core instances were lost; the cluster cannot continue without core nodes.',
      });
    }
  }

  /** Starts TERMINATING with `reason`; after the teardown delay the cluster is TERMINATED (or _WITH_ERRORS). */
  private terminate(cluster: Cluster, reason: Reason): void {
    if (!CLUSTER_ACTIVE_STATES.has(cluster.state)) return;
    this.cancelTimers(cluster);
    const userOrDone = reason.Code === 'USER_REQUEST' || reason.Code === 'ALL_STEPS_COMPLETED';
    for (const step of cluster.steps) {
      if (step.state === 'PENDING') this.finishStep(cluster, step, 'CANCELLED', undefined, false);
      if (step.state === 'RUNNING') {
        if (userOrDone) this.finishStep(cluster, step, 'CANCELLED', undefined, false);
        else this.finishStep(cluster, step, 'FAILED', { Reason: 'Unknown Error.', Message: `The cluster terminated: ${reason.Message}` }, false);
      }
    }
    this.setClusterState(cluster, 'TERMINATING', reason);
    for (const fleet of cluster.fleets) fleet.state = 'TERMINATING';
    this.schedule(cluster, DURATIONS.terminatingSeconds, () => {
      const now = this.deps.clock.nowSeconds();
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

  // ---------------------------------------------------------------- steps

  private appendSteps(cluster: Cluster, steps: Obj[]): string[] {
    const now = this.deps.clock.nowSeconds();
    const ids: string[] = [];
    for (const spec of steps) {
      const name: string = spec.Name;
      const fromName = /attempt (\d+)\s*$/.exec(name);
      let stepId = this.deps.ids.step();
      while (cluster.steps.some((s) => s.Id === stepId)) stepId = this.deps.ids.step();
      const step: Step = {
        Id: stepId,
        Name: name,
        Config: {
          Jar: spec.HadoopJarStep.Jar,
          Args: spec.HadoopJarStep.Args ?? [],
          ...(spec.HadoopJarStep.MainClass ? { MainClass: spec.HadoopJarStep.MainClass } : {}),
          Properties: Object.fromEntries((spec.HadoopJarStep.Properties ?? []).map((p: Obj) => [p.Key, p.Value ?? ''])),
        },
        ActionOnFailure: spec.ActionOnFailure ?? 'TERMINATE_CLUSTER',
        state: 'PENDING',
        reason: {},
        timeline: { CreationDateTime: now },
        // The step name "<job> <runId> attempt <n>" carries the job's attempt (a pooled cluster serves many).
        attempt: fromName ? Number(fromName[1]) : cluster.attempt,
      };
      cluster.steps.push(step);
      ids.push(step.Id);
      this.deps.emit({ resource: 'step', id: step.Id, clusterId: cluster.Id, state: 'PENDING', message: name });
    }
    return ids;
  }

  private addJobFlowSteps(input: Obj): Obj {
    const cluster = this.cluster(input.JobFlowId);
    if (!CLUSTER_ACTIVE_STATES.has(cluster.state)) {
      throw validation('A job flow that is shutting down, terminated, or finished may not be modified.');
    }
    if (!Array.isArray(input.Steps) || input.Steps.length === 0) throw validation('Steps: at least one step is required');
    validateSteps(input.Steps, 'Steps', cluster.StepConcurrencyLevel);
    const active = cluster.steps.filter((s) => s.state === 'PENDING' || s.state === 'RUNNING').length;
    if (active + input.Steps.length > MAX_ACTIVE_STEPS) {
      throw validation(`Maximum number of active steps (State = 'Running', 'Pending' or 'Cancel_Pending') for cluster exceeded: ${active} active, ${input.Steps.length} requested, limit ${MAX_ACTIVE_STEPS}.`);
    }
    const StepIds = this.appendSteps(cluster, input.Steps);
    this.pumpSteps(cluster);
    return { StepIds };
  }

  /** Starts pending steps up to StepConcurrencyLevel; handles idleness when nothing is left. */
  private pumpSteps(cluster: Cluster): void {
    if (cluster.state !== 'WAITING' && cluster.state !== 'RUNNING') return;
    let running = cluster.steps.filter((s) => s.state === 'RUNNING').length;
    for (const step of cluster.steps) {
      if (running >= cluster.StepConcurrencyLevel) break;
      if (step.state !== 'PENDING') continue;
      this.startStep(cluster, step);
      running += 1;
      if (!CLUSTER_ACTIVE_STATES.has(cluster.state)) return;
    }
    const pending = cluster.steps.some((s) => s.state === 'PENDING');
    if (running > 0) {
      this.deps.clock.cancel(cluster.idleTimer);
      cluster.idleTimer = undefined;
      this.setClusterState(cluster, 'RUNNING', { Message: 'Running step' });
      return;
    }
    this.setClusterState(cluster, 'WAITING', { Message: 'Cluster ready after last step completed.' });
    if (pending) return;
    if (!cluster.KeepJobFlowAliveWhenNoSteps) {
      this.terminate(cluster, { Code: 'ALL_STEPS_COMPLETED', Message: 'Steps completed' });
      return;
    }
    if (cluster.AutoTerminationPolicy && !cluster.idleTimer) {
      const idle = cluster.AutoTerminationPolicy.IdleTimeout;
      cluster.idleTimer = this.deps.clock.after(idle, () => {
        cluster.idleTimer = undefined;
        if (cluster.state !== 'WAITING') return;
        this.terminate(cluster, {
          Code: 'ALL_STEPS_COMPLETED',
          Message: `Cluster was idle for ${idle} seconds and was terminated by its auto-termination policy.`,
        });
      });
    }
  }

  private stepLogDir(cluster: Cluster, step: Step): { uri: string; dir: string } | null {
    if (!cluster.LogUri) return null;
    const base = cluster.LogUri.endsWith('/') ? cluster.LogUri : `${cluster.LogUri}/`;
    const uri = `${base}${cluster.Id}/steps/${step.Id}/`;
    try {
      return { uri, dir: this.deps.s3.uriToPath(uri) };
    } catch {
      // A LogUri that cannot be a local path (say, an upper-case bucket name) gets no logs, as EMR would fail to upload them.
      return null;
    }
  }

  private startStep(cluster: Cluster, step: Step): void {
    const { faults, spark, clock } = this.deps;
    step.state = 'RUNNING';
    step.timeline.StartDateTime = clock.nowSeconds();
    const injectedFailure = faults.take('stepFailure', step.attempt);
    const hasLiveSpot = cluster.instances.some((i) => i.Market === 'SPOT' && i.state !== 'TERMINATED');
    const interrupt = hasLiveSpot && faults.takeSpotInterruption(step.attempt, 'STEP_RUNNING');
    const runsSpark = !injectedFailure && spark !== null && isSparkSubmitStep(step.Config.Jar, step.Config.Args);
    step.executor = runsSpark ? 'spark' : 'simulated';
    this.deps.emit({ resource: 'step', id: step.Id, clusterId: cluster.Id, state: 'RUNNING', executor: step.executor, message: step.Name });

    const logs = this.stepLogDir(cluster, step);
    if (logs) mkdirSync(logs.dir, { recursive: true });

    if (runsSpark) {
      this.startSpark(cluster, step, logs?.dir ?? null);
      if (interrupt && step.spark) {
        let scheduled = false;
        const strike = (ms: number) => {
          if (scheduled) return;
          scheduled = true;
          this.scheduleRealMs(cluster, ms, () => this.spotInterruption(cluster));
        };
        step.spark.onJobStart(() => strike(DURATIONS.sparkInterruptionAfterJobStartMs));
        this.scheduleRealMs(cluster, DURATIONS.sparkInterruptionFallbackMs, () => strike(0));
      }
      return;
    }

    const seconds = this.simulatedSeconds(step);
    const errorLines = injectedFailure ? this.injectedErrorLines(step) : [];
    const note = spark
      ? injectedFailure
        ? 'the fault file injected a step failure, so Spark was not started'
        : 'this is not a command-runner.jar spark-submit step'
      : 'no spark-submit was found';
    this.writeLogs(logs?.dir ?? null, {
      stdout: `emrflow emulator: step ${step.Id} was SIMULATED (${note}); simulated duration ${seconds} s at time scale ${clock.timeScale}.\nArgs: ${JSON.stringify(step.Config.Args)}\n`,
      stderr: errorLines.length ? `${errorLines.join('\n')}\n` : '',
    }).catch((error: Error) => this.deps.emit({ resource: 'note', id: step.Id, state: 'NOTE', message: `step logs not written: ${error.message}` }));
    if (injectedFailure) {
      step.timer = clock.after(Math.min(seconds, 90) * 0.5, () => {
        this.finishStep(cluster, step, 'FAILED', { Reason: 'Unknown Error.', Message: errorLines[errorLines.length - 1] });
      });
    } else {
      step.timer = clock.after(seconds, () => this.finishStep(cluster, step, 'COMPLETED'));
      if (interrupt) this.schedule(cluster, seconds * 0.4, () => this.spotInterruption(cluster));
    }
  }

  private injectedErrorLines(step: Step): string[] {
    // What spark-submit prints last when a cluster-mode application fails.
    return [
      `ERROR Client: Application diagnostics message: User application exited with status 1 (step ${step.Name}, failure injected by the fault file)`,
      `Exception in thread "main" org.apache.spark.SparkException: Application ${this.deps.ids.application()} finished with failed status`,
    ];
  }

  /** 120 s plus 1 s per 32 MiB of the local data behind the step's s3:// arguments. */
  private simulatedSeconds(step: Step): number {
    let bytes = 0;
    const sizeOf = (file: string): number => {
      try {
        const stat = statSync(file);
        if (stat.isFile()) return stat.size;
        if (!stat.isDirectory()) return 0;
        return readdirSync(file).reduce((sum, name) => sum + sizeOf(path.join(file, name)), 0);
      } catch {
        return 0;
      }
    };
    for (const arg of step.Config.Args) {
      if (!/^s3[an]?:\/\//.test(arg)) continue;
      try {
        bytes += sizeOf(this.deps.s3.uriToPath(arg));
      } catch {
        // an s3 uri that cannot be a local path names no local data
      }
    }
    return Math.round(DURATIONS.simulatedStepBaseSeconds + bytes / DURATIONS.simulatedStepBytesPerSecond);
  }

  private startSpark(cluster: Cluster, step: Step, logDir: string | null): void {
    const { spark, s3, stateDir } = this.deps;
    const cwd = path.join(stateDir, 'spark-work', step.Id);
    mkdirSync(cwd, { recursive: true });
    let args: string[];
    try {
      args = localSparkArgs(step.Config.Args, s3);
    } catch (error) {
      // Deferred: this runs inside pumpSteps, which must finish counting before the next step starts.
      this.scheduleRealMs(cluster, 0, () => this.finishStep(cluster, step, 'FAILED', { Reason: 'Unknown Error.', Message: (error as Error).message }));
      return;
    }
    step.spark = runSparkSubmit(spark!, args, {
      cwd,
      stdoutFile: logDir && path.join(logDir, 'stdout'),
      stderrFile: logDir && path.join(logDir, 'stderr'),
    });
    step.spark.done.then(({ exitCode, signal, lastErrorLine }) => {
      if (step.state !== 'RUNNING' || this.stopped) return;
      if (exitCode === 0) {
        this.finishStep(cluster, step, 'COMPLETED');
      } else {
        this.finishStep(cluster, step, 'FAILED', {
          Reason: 'Unknown Error.',
          Message: lastErrorLine || `spark-submit exited with ${signal ? `signal ${signal}` : `code ${exitCode}`}`,
        });
      }
    });
  }

  private async writeLogs(dir: string | null, content: { stdout: string; stderr: string }): Promise<void> {
    if (!dir) return;
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(path.join(dir, 'stdout'), content.stdout);
    await fs.writeFile(path.join(dir, 'stderr'), content.stderr);
  }

  private finishStep(
    cluster: Cluster,
    step: Step,
    state: 'COMPLETED' | 'FAILED' | 'CANCELLED',
    failure?: { Reason: string; Message: string },
    pump = true,
  ): void {
    if (step.state !== 'PENDING' && step.state !== 'RUNNING') return;
    this.deps.clock.cancel(step.timer);
    step.spark?.kill();
    step.state = state;
    if (step.timeline.StartDateTime !== undefined || state !== 'CANCELLED') step.timeline.EndDateTime = this.deps.clock.nowSeconds();
    if (failure) {
      const logs = this.stepLogDir(cluster, step);
      step.failureDetails = { ...failure, ...(logs ? { LogFile: `${logs.uri}stderr` } : {}) };
      step.reason = { Message: failure.Message };
    }
    if (state === 'CANCELLED') step.reason = { Message: 'Cancelled' };
    this.deps.emit({ resource: 'step', id: step.Id, clusterId: cluster.Id, state, executor: step.executor, message: failure?.Message });
    if (!pump) return;
    if (state === 'FAILED') {
      if (step.ActionOnFailure === 'TERMINATE_CLUSTER' || step.ActionOnFailure === 'TERMINATE_JOB_FLOW') {
        this.terminate(cluster, { Code: 'STEP_FAILURE', Message: 'Shut down as step failed' });
        return;
      }
      if (step.ActionOnFailure === 'CANCEL_AND_WAIT') {
        for (const other of cluster.steps) if (other.state === 'PENDING') this.finishStep(cluster, other, 'CANCELLED', undefined, false);
      }
    }
    this.pumpSteps(cluster);
  }

  private cancelSteps(input: Obj): Obj {
    const cluster = this.cluster(input.ClusterId);
    if (!Array.isArray(input.StepIds) || input.StepIds.length === 0) throw validation('StepIds: at least one step id is required');
    const info = (input.StepIds as string[]).map((id) => {
      const step = cluster.steps.find((s) => s.Id === id);
      if (!step) return { StepId: id, Status: 'FAILED', Reason: `Step id '${id}' is not valid.` };
      if (step.state !== 'PENDING' && step.state !== 'RUNNING') {
        return { StepId: id, Status: 'FAILED', Reason: `Step ${id} is ${step.state} and cannot be cancelled.` };
      }
      this.finishStep(cluster, step, 'CANCELLED', undefined, false);
      return { StepId: id, Status: 'SUBMITTED' };
    });
    this.pumpSteps(cluster);
    return { CancelStepsInfoList: info };
  }

  // ---------------------------------------------------------------- other operations

  private terminateJobFlows(input: Obj): Obj {
    if (!Array.isArray(input.JobFlowIds) || input.JobFlowIds.length === 0) throw validation('JobFlowIds: at least one id is required');
    const clusters = (input.JobFlowIds as string[]).map((id) => {
      const cluster = this.clusters.get(id);
      if (!cluster) throw validation(`Specified job flow ID not valid: ${id}`);
      return cluster;
    });
    for (const cluster of clusters) {
      if (cluster.TerminationProtected) throw validation(`Could not shut down one or more job flows since they are termination protected: ${cluster.Id}`);
    }
    for (const cluster of clusters) this.terminate(cluster, { Code: 'USER_REQUEST', Message: 'Terminated by user request' });
    return {};
  }

  private addTags(input: Obj): Obj {
    const cluster = this.cluster(input.ResourceId);
    if (!Array.isArray(input.Tags)) throw validation('Tags: is required');
    for (const tag of input.Tags as Obj[]) {
      const existing = cluster.Tags.find((t) => t.Key === tag.Key);
      if (existing) existing.Value = tag.Value ?? '';
      else cluster.Tags.push({ Key: tag.Key, Value: tag.Value ?? '' });
    }
    return {};
  }

  private page<T>(items: T[], marker: unknown): { items: T[]; Marker?: string } {
    const start = typeof marker === 'string' && marker ? Number(Buffer.from(marker, 'base64url').toString('utf8')) : 0;
    if (!Number.isInteger(start) || start < 0) throw invalidRequest('Marker: is not valid');
    const slice = items.slice(start, start + PAGE_SIZE);
    const next = start + PAGE_SIZE < items.length ? Buffer.from(String(start + PAGE_SIZE)).toString('base64url') : undefined;
    return { items: slice, ...(next ? { Marker: next } : {}) };
  }

  private listClusters(input: Obj): Obj {
    const states: string[] | undefined = input.ClusterStates;
    const after = input.CreatedAfter as number | undefined;
    const before = input.CreatedBefore as number | undefined;
    const matching = [...this.clusters.values()]
      .filter((c) => !states?.length || states.includes(c.state))
      .filter((c) => after === undefined || c.timeline.CreationDateTime >= after)
      .filter((c) => before === undefined || c.timeline.CreationDateTime <= before)
      .reverse();
    const { items, Marker } = this.page(matching, input.Marker);
    return {
      Clusters: items.map((c) => ({
        Id: c.Id,
        Name: c.Name,
        Status: this.clusterStatus(c),
        NormalizedInstanceHours: this.normalizedHours(c),
        ClusterArn: c.ClusterArn,
      })),
      ...(Marker ? { Marker } : {}),
    };
  }

  private listSteps(input: Obj): Obj {
    const cluster = this.cluster(input.ClusterId);
    const states: string[] | undefined = input.StepStates;
    const ids: string[] | undefined = input.StepIds;
    const matching = [...cluster.steps]
      .reverse()
      .filter((s) => !states?.length || states.includes(s.state))
      .filter((s) => !ids?.length || ids.includes(s.Id));
    const { items, Marker } = this.page(matching, input.Marker);
    return { Steps: items.map((s) => this.stepView(s)), ...(Marker ? { Marker } : {}) };
  }

  private listInstanceFleets(input: Obj): Obj {
    const cluster = this.cluster(input.ClusterId);
    if (cluster.InstanceCollectionType !== 'INSTANCE_FLEET') {
      throw invalidRequest('Instance fleets are not supported for clusters created with instance groups.');
    }
    const { items, Marker } = this.page(cluster.fleets, input.Marker);
    return { InstanceFleets: items.map((f) => this.fleetView(cluster, f)), ...(Marker ? { Marker } : {}) };
  }

  private listInstances(input: Obj): Obj {
    const cluster = this.cluster(input.ClusterId);
    const states: string[] | undefined = input.InstanceStates;
    const fleetTypes: string[] | undefined = input.InstanceFleetType ? [input.InstanceFleetType] : undefined;
    const groupTypes: string[] | undefined = input.InstanceGroupTypes;
    const matching = cluster.instances
      .filter((i) => !states?.length || states.includes(i.state))
      .filter((i) => !input.InstanceFleetId || i.InstanceFleetId === input.InstanceFleetId)
      .filter((i) => !input.InstanceGroupId || i.InstanceGroupId === input.InstanceGroupId)
      .filter((i) => !fleetTypes || (i.InstanceFleetId && fleetTypes.includes(i.role)))
      .filter((i) => !groupTypes?.length || (i.InstanceGroupId && groupTypes.includes(i.role)));
    const { items, Marker } = this.page(matching, input.Marker);
    return {
      Instances: items.map((i) => ({
        Id: i.Id,
        Ec2InstanceId: i.Ec2InstanceId,
        PrivateDnsName: i.PrivateDnsName,
        PrivateIpAddress: i.PrivateIpAddress,
        Status: { State: i.state, StateChangeReason: i.reason, Timeline: i.timeline },
        ...(i.InstanceFleetId ? { InstanceFleetId: i.InstanceFleetId } : { InstanceGroupId: i.InstanceGroupId }),
        Market: i.Market,
        InstanceType: i.InstanceType,
        EbsVolumes: [],
      })),
      ...(Marker ? { Marker } : {}),
    };
  }

  // ---------------------------------------------------------------- views

  private clusterStatus(cluster: Cluster): Obj {
    return { State: cluster.state, StateChangeReason: cluster.reason, Timeline: cluster.timeline };
  }

  private normalizedHours(cluster: Cluster): number {
    const end = cluster.timeline.EndDateTime ?? this.deps.clock.nowSeconds();
    return cluster.instances
      .filter((i) => i.timeline.ReadyDateTime !== undefined)
      .reduce((sum, i) => {
        const hours = Math.max(1, Math.ceil(((i.timeline.EndDateTime ?? end) - i.timeline.ReadyDateTime!) / 3600));
        return sum + hours * normalizationFactor(i.InstanceType);
      }, 0);
  }

  private describe(cluster: Cluster): Obj {
    const primary = cluster.instances.find((i) => i.role === 'MASTER');
    const running = cluster.timeline.ReadyDateTime !== undefined;
    return {
      Id: cluster.Id,
      Name: cluster.Name,
      Status: this.clusterStatus(cluster),
      Ec2InstanceAttributes: {
        Ec2SubnetId: cluster.subnetIds[0],
        RequestedEc2SubnetIds: cluster.subnetIds,
        Ec2AvailabilityZone: `${this.deps.region}a`,
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
      NormalizedInstanceHours: this.normalizedHours(cluster),
      ...(running && primary ? { MasterPublicDnsName: primary.PrivateDnsName } : {}),
      Configurations: cluster.Configurations,
      ScaleDownBehavior: 'TERMINATE_AT_TASK_COMPLETION',
      ClusterArn: cluster.ClusterArn,
      StepConcurrencyLevel: cluster.StepConcurrencyLevel,
      PlacementGroups: [],
    };
  }

  private fleetView(cluster: Cluster, fleet: Fleet): Obj {
    const live = cluster.instances.filter((i) => i.InstanceFleetId === fleet.Id && ['BOOTSTRAPPING', 'RUNNING'].includes(i.state));
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

  private stepView(step: Step): Obj {
    const config = {
      Jar: step.Config.Jar,
      Properties: step.Config.Properties,
      ...(step.Config.MainClass ? { MainClass: step.Config.MainClass } : {}),
      Args: step.Config.Args,
    };
    return {
      Id: step.Id,
      Name: step.Name,
      Config: config,
      ActionOnFailure: step.ActionOnFailure,
      Status: {
        State: step.state,
        StateChangeReason: step.reason,
        ...(step.failureDetails ? { FailureDetails: step.failureDetails } : {}),
        Timeline: step.timeline,
      },
    };
  }
}

export function isEndedClusterState(state: string): boolean {
  return CLUSTER_ENDED_STATES.has(state);
}
