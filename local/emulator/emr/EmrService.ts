/**
 * The emulated EMR control plane's API: each operation validates its request, acts on the model through
 * the lifecycle (lifecycle.ts), capacity (capacity.ts) and steps (steps.ts), and answers with the views
 * (views.ts). A kept state directory saves and restores the clusters (persistence.ts).
 */
import {
  ClusterState,
  InstanceFleetType,
  InstanceGroupType,
  InstanceState,
  StepState,
  type AddJobFlowStepsInput,
  type AddTagsInput,
  type CancelStepsInput,
  type DescribeClusterInput,
  type DescribeStepInput,
  type GetAutoTerminationPolicyInput,
  type ListClustersInput,
  type ListInstanceFleetsInput,
  type ListInstancesInput,
  type ListStepsInput,
  type TerminateJobFlowsInput,
  type ListBootstrapActionsInput,
  type ListInstanceGroupsInput,
  type PutManagedScalingPolicyInput,
} from '@aws-sdk/client-emr';
import { CLUSTER_ACTIVE_STATES, CLUSTER_ENDED_STATES, EMR_CLUSTER_ENDED_REFUSALS, LIST_STEPS_MAX_IDS, TAG } from '../../../lib/contract';
import { invalidRequest, validation, type JsonOperation, type OnTheWire } from '../protocol';
import { Capacity } from './capacity';
import { Lifecycle } from './lifecycle';
import { APPLICATION_VERSIONS, type ClusterRecord, type EmrCluster, type EmrContext, type EmrServiceDeps, type EmrStep, type StepRecord } from './model';
import type { EmrOperation } from './operations';
import { restoreClusters, snapshotClusters } from './persistence';
import { ManagedScaling, validateManagedScalingPolicy } from './scaling';
import { StepEngine } from './steps';
import { MAX_ACTIVE_STEPS, validated, validateEnum, validateRunJobFlow, validateSteps } from './validate';
import { clusterSummary, clusterView, fleetView, groupView, instanceView, page, stepView } from './views';

export type { ClusterRecord, EmrServiceDeps, StepRecord } from './model';

/** A request as it arrives: the SDK's input shape on the wire, any field possibly missing. */
type Request<T> = Partial<OnTheWire<T>>;

/** "The maximum number of clusters allowed is 10" (TerminateJobFlows; ListSteps' is LIST_STEPS_MAX_IDS). */
const MAX_IDS_PER_REQUEST = 10;
const MAX_CLUSTER_ID_LENGTH = 256;

export class EmrService {
  private readonly ctx: EmrContext;

  constructor(deps: EmrServiceDeps) {
    const ctx = { deps, clusters: new Map(), ipCounter: 10, stopped: false } as Omit<EmrContext, 'lifecycle' | 'steps' | 'capacity' | 'scaling'>;
    this.ctx = Object.assign(ctx, {
      lifecycle: new Lifecycle(ctx as EmrContext),
      steps: new StepEngine(ctx as EmrContext),
      capacity: new Capacity(ctx as EmrContext),
      scaling: new ManagedScaling(ctx as EmrContext),
    });
  }

  readonly operations: Record<EmrOperation, JsonOperation> = {
    RunJobFlow: (input) => this.runJobFlow(input),
    DescribeCluster: (input: Request<DescribeClusterInput>) => ({ Cluster: clusterView(this.cluster(input.ClusterId), this.now(), this.ctx.deps.region) }),
    ListClusters: (input) => this.listClusters(input),
    TerminateJobFlows: (input) => this.terminateJobFlows(input),
    AddJobFlowSteps: (input) => this.addJobFlowSteps(input),
    DescribeStep: (input: Request<DescribeStepInput>) => ({ Step: stepView(this.step(this.cluster(input.ClusterId), input.StepId)) }),
    ListSteps: (input) => this.listSteps(input),
    CancelSteps: (input) => this.cancelSteps(input),
    ListInstanceFleets: (input) => this.listInstanceFleets(input),
    ListInstances: (input) => this.listInstances(input),
    AddTags: (input) => this.addTags(input),
    GetAutoTerminationPolicy: (input: Request<GetAutoTerminationPolicyInput>) => {
      const cluster = this.cluster(input.ClusterId);
      return cluster.AutoTerminationPolicy ? { AutoTerminationPolicy: cluster.AutoTerminationPolicy } : {};
    },
    ListBootstrapActions: (input: Request<ListBootstrapActionsInput>) => {
      const { items, Marker } = page(this.cluster(input.ClusterId).BootstrapActions, input.Marker);
      return { BootstrapActions: items, ...(Marker ? { Marker } : {}) };
    },
    ListInstanceGroups: (input) => this.listInstanceGroups(input),
    PutManagedScalingPolicy: (input: Request<PutManagedScalingPolicyInput>) => {
      const cluster = this.cluster(input.ClusterId);
      this.ctx.scaling.put(cluster, validateManagedScalingPolicy(input.ManagedScalingPolicy, 'ManagedScalingPolicy', cluster.InstanceCollectionType));
      return {};
    },
    GetManagedScalingPolicy: (input: Request<DescribeClusterInput>) => {
      const cluster = this.cluster(input.ClusterId);
      return cluster.ManagedScalingPolicy ? { ManagedScalingPolicy: cluster.ManagedScalingPolicy } : {};
    },
    RemoveManagedScalingPolicy: (input: Request<DescribeClusterInput>) => {
      this.ctx.scaling.remove(this.cluster(input.ClusterId));
      return {};
    },
  };

  // ---------------------------------------------------------------- persistence and the programmatic view

  /** Clusters and steps as JSON, without timers and processes. */
  snapshot(): unknown {
    return snapshotClusters(this.ctx);
  }

  /** Loads a snapshot from an earlier emulator; the clusters it left active read TERMINATED_WITH_ERRORS. */
  restore(snapshot: unknown): void {
    restoreClusters(this.ctx, snapshot);
  }

  clusterRecords(): ClusterRecord[] {
    return [...this.ctx.clusters.values()].map((c) => ({
      clusterId: c.Id,
      name: c.Name,
      state: c.state,
      stateChangeReason: { ...c.reason },
      attempt: c.attempt,
      tags: Object.fromEntries(c.Tags.map((t) => [t.Key, t.Value])),
    }));
  }

  stepRecords(): StepRecord[] {
    return [...this.ctx.clusters.values()].flatMap((c) =>
      c.steps.map((s) => ({ clusterId: c.Id, stepId: s.Id, name: s.Name, state: s.state, actionOnFailure: s.ActionOnFailure, executor: s.executor ?? null })),
    );
  }

  /** Kills every Spark process and lets nothing start afterwards (the emulator is stopping; its clock drops the timers). */
  shutdown(): void {
    this.ctx.stopped = true;
    this.ctx.steps.killAll();
  }

  // ---------------------------------------------------------------- lookups

  private now(): number {
    return this.ctx.deps.clock.nowSeconds();
  }

  private cluster(id: unknown): EmrCluster {
    if (typeof id !== 'string' || !id) throw validation('ClusterId: is required');
    // botocore's EMR model bounds a cluster id at 256 characters where it states a bound (CancelSteps'
    // ClusterId, AddJobFlowSteps' JobFlowId: XmlStringMaxLen256); EMR's front end refuses a longer one as a
    // constraint violation, before looking the cluster up.
    if (id.length > MAX_CLUSTER_ID_LENGTH) {
      throw validation(
        `1 validation error detected: Value '${id}' at 'clusterId' failed to satisfy constraint: Member must have length less than or equal to ${MAX_CLUSTER_ID_LENGTH}`,
      );
    }
    const cluster = this.ctx.clusters.get(id);
    if (!cluster) throw invalidRequest(`Cluster id '${id}' is not valid.`);
    return cluster;
  }

  private step(cluster: EmrCluster, id: unknown): EmrStep {
    if (typeof id !== 'string' || !id) throw validation('StepId: is required');
    const step = cluster.steps.find((s) => s.Id === id);
    if (!step) throw invalidRequest(`Step id '${id}' is not valid.`);
    return step;
  }

  // ---------------------------------------------------------------- operations

  private runJobFlow(input: Record<string, unknown>) {
    validateRunJobFlow(input);
    const collection = input.Instances.InstanceFleets ? 'INSTANCE_FLEET' : 'INSTANCE_GROUP';
    const scalingPolicy =
      input.ManagedScalingPolicy === undefined ? undefined : validateManagedScalingPolicy(input.ManagedScalingPolicy, 'ManagedScalingPolicy', collection);
    const { ids, region, emit } = this.ctx.deps;
    const now = this.now();
    let id = ids.cluster();
    // A kept state directory holds clusters of earlier runs, whose ids a seeded generator could repeat.
    while (this.ctx.clusters.has(id)) id = ids.cluster();
    const tags = (input.Tags ?? []).map((t) => ({ Key: validated(t.Key, 'Tags[].Key'), Value: t.Value ?? '' }));
    const attemptTag = Number(tags.find((t) => t.Key === TAG.attempt)?.Value);
    const versions = APPLICATION_VERSIONS[input.ReleaseLabel] ?? {};
    const instancesInput = input.Instances;
    const cluster: EmrCluster = {
      Id: id,
      ClusterArn: `arn:aws:elasticmapreduce:${region}:000000000000:cluster/${id}`,
      Name: input.Name,
      ReleaseLabel: input.ReleaseLabel,
      LogUri: input.LogUri,
      ServiceRole: input.ServiceRole,
      JobFlowRole: input.JobFlowRole,
      Applications: (input.Applications ?? []).map((a) => ({ Name: a.Name, ...(a.Name && versions[a.Name] ? { Version: versions[a.Name] } : {}) })),
      Configurations: input.Configurations ?? [],
      BootstrapActions: (input.BootstrapActions ?? []).map((a) => ({
        Name: a.Name,
        ScriptPath: a.ScriptBootstrapAction?.Path,
        Args: a.ScriptBootstrapAction?.Args ?? [],
      })),
      Tags: tags,
      VisibleToAllUsers: input.VisibleToAllUsers ?? true,
      KeepJobFlowAliveWhenNoSteps: instancesInput.KeepJobFlowAliveWhenNoSteps ?? false,
      TerminationProtected: instancesInput.TerminationProtected ?? false,
      StepConcurrencyLevel: input.StepConcurrencyLevel ?? 1,
      AutoTerminationPolicy: input.AutoTerminationPolicy?.IdleTimeout ? { IdleTimeout: input.AutoTerminationPolicy.IdleTimeout } : undefined,
      ManagedScalingPolicy: scalingPolicy,
      InstanceCollectionType: collection,
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
    this.ctx.clusters.set(id, cluster);

    if (instancesInput.InstanceFleets) {
      for (const spec of instancesInput.InstanceFleets) this.ctx.capacity.addFleet(cluster, spec, now);
    } else {
      for (const spec of instancesInput.InstanceGroups ?? []) this.ctx.capacity.addGroup(cluster, spec, now);
    }
    if (input.Steps?.length) this.ctx.steps.append(cluster, input.Steps);
    emit({ resource: 'cluster', id, state: 'STARTING', message: `attempt ${cluster.attempt}` });
    this.ctx.lifecycle.launch(cluster);
    return { JobFlowId: id, ClusterArn: cluster.ClusterArn };
  }

  private addJobFlowSteps(input: Request<AddJobFlowStepsInput>) {
    if (typeof input.JobFlowId !== 'string' || !input.JobFlowId) throw validation('JobFlowId: is required');
    const cluster = this.ctx.clusters.get(input.JobFlowId);
    // EMR answers an unknown job flow here with ValidationException, not DescribeCluster's InvalidRequestException.
    if (!cluster) throw validation(EMR_CLUSTER_ENDED_REFUSALS.unknown);
    if (!CLUSTER_ACTIVE_STATES.has(cluster.state)) {
      throw validation(EMR_CLUSTER_ENDED_REFUSALS.ended);
    }
    if (!Array.isArray(input.Steps) || input.Steps.length === 0) throw validation('Steps: at least one step is required');
    validateSteps(input.Steps, 'Steps', cluster.StepConcurrencyLevel);
    const active = cluster.steps.filter((s) => s.state === 'PENDING' || s.state === 'RUNNING').length;
    if (active + input.Steps.length > MAX_ACTIVE_STEPS) {
      throw validation(
        `Maximum number of active steps (State = 'Running', 'Pending' or 'Cancel_Pending') for cluster exceeded: ${active} active, ${input.Steps.length} requested, limit ${MAX_ACTIVE_STEPS}.`,
      );
    }
    const StepIds = this.ctx.steps.append(cluster, input.Steps);
    this.ctx.steps.pump(cluster);
    return { StepIds };
  }

  private cancelSteps(input: Request<CancelStepsInput>) {
    const cluster = this.cluster(input.ClusterId);
    if (!Array.isArray(input.StepIds) || input.StepIds.length === 0) throw validation('StepIds: at least one step id is required');
    return { CancelStepsInfoList: this.ctx.steps.cancel(cluster, input.StepIds) };
  }

  private terminateJobFlows(input: Request<TerminateJobFlowsInput>) {
    if (!Array.isArray(input.JobFlowIds) || input.JobFlowIds.length === 0) throw validation('JobFlowIds: at least one id is required');
    // TerminateJobFlows documents only InternalServerError, so a broken limit is the common ValidationException.
    if (input.JobFlowIds.length > MAX_IDS_PER_REQUEST) {
      throw validation(`JobFlowIds: the maximum number of clusters allowed is ${MAX_IDS_PER_REQUEST}, got ${input.JobFlowIds.length}`);
    }
    const clusters = input.JobFlowIds.map((id) => {
      const cluster = this.ctx.clusters.get(id);
      if (!cluster) throw validation(`Specified job flow ID not valid: ${id}`);
      return cluster;
    });
    for (const cluster of clusters) {
      if (cluster.TerminationProtected) throw validation(`Could not shut down one or more job flows since they are termination protected: ${cluster.Id}`);
    }
    for (const cluster of clusters) this.ctx.lifecycle.terminate(cluster, { Code: 'USER_REQUEST', Message: 'Terminated by user request' });
    return {};
  }

  private addTags(input: Request<AddTagsInput>) {
    const cluster = this.cluster(input.ResourceId);
    if (!Array.isArray(input.Tags)) throw validation('Tags: is required');
    // A terminated cluster's tags are frozen: EMR refuses AddTags on it (InvalidRequestException).
    if (isEndedClusterState(cluster.state)) throw invalidRequest(`Tags cannot be added to cluster ${cluster.Id}: it is ${cluster.state}.`);
    for (const tag of input.Tags) {
      const existing = cluster.Tags.find((t) => t.Key === tag.Key);
      if (existing) existing.Value = tag.Value ?? '';
      else cluster.Tags.push({ Key: validated(tag.Key, 'Tags[].Key'), Value: tag.Value ?? '' });
    }
    return {};
  }

  private listClusters(input: Request<ListClustersInput>) {
    validateEnum(input.ClusterStates, 'clusterStates', ClusterState);
    const states = input.ClusterStates;
    const after = input.CreatedAfter;
    const before = input.CreatedBefore;
    const matching = [...this.ctx.clusters.values()]
      .filter((c) => !states?.length || states.includes(c.state))
      .filter((c) => after === undefined || c.timeline.CreationDateTime >= after)
      .filter((c) => before === undefined || c.timeline.CreationDateTime <= before)
      .reverse();
    const { items, Marker } = page(matching, input.Marker);
    return { Clusters: items.map((c) => clusterSummary(c, this.now())), ...(Marker ? { Marker } : {}) };
  }

  private listSteps(input: Request<ListStepsInput>) {
    const cluster = this.cluster(input.ClusterId);
    validateEnum(input.StepStates, 'stepStates', StepState);
    // "You can specify a maximum of ten Step IDs" (ListSteps reference): a request constraint, which EMR's front
    // end answers ValidationException as it does TerminateJobFlows' eleventh id.
    if (Array.isArray(input.StepIds) && input.StepIds.length > LIST_STEPS_MAX_IDS) {
      throw validation(`StepIds: you can specify a maximum of ${LIST_STEPS_MAX_IDS} step IDs, got ${input.StepIds.length}`);
    }
    const states = input.StepStates;
    const ids = input.StepIds;
    const matching = [...cluster.steps]
      .reverse()
      .filter((s) => !states?.length || states.includes(s.state))
      .filter((s) => !ids?.length || ids.includes(s.Id));
    const { items, Marker } = page(matching, input.Marker);
    return { Steps: items.map(stepView), ...(Marker ? { Marker } : {}) };
  }

  private listInstanceFleets(input: Request<ListInstanceFleetsInput>) {
    const cluster = this.cluster(input.ClusterId);
    if (cluster.InstanceCollectionType !== 'INSTANCE_FLEET') {
      throw invalidRequest('Instance fleets are not supported for clusters created with instance groups.');
    }
    const { items, Marker } = page(cluster.fleets, input.Marker);
    return { InstanceFleets: items.map((f) => fleetView(cluster, f)), ...(Marker ? { Marker } : {}) };
  }

  private listInstanceGroups(input: Request<ListInstanceGroupsInput>) {
    const cluster = this.cluster(input.ClusterId);
    if (cluster.InstanceCollectionType !== 'INSTANCE_GROUP') {
      throw invalidRequest('Instance groups are not supported for clusters created with instance fleets.');
    }
    const { items, Marker } = page(cluster.groups, input.Marker);
    return { InstanceGroups: items.map((g) => groupView(cluster, g)), ...(Marker ? { Marker } : {}) };
  }

  private listInstances(input: Request<ListInstancesInput>) {
    const cluster = this.cluster(input.ClusterId);
    validateEnum(input.InstanceStates, 'instanceStates', InstanceState);
    validateEnum(input.InstanceGroupTypes, 'instanceGroupTypes', InstanceGroupType);
    validateEnum(input.InstanceFleetType, 'instanceFleetType', InstanceFleetType);
    const states = input.InstanceStates;
    const fleetTypes = input.InstanceFleetType ? [input.InstanceFleetType] : undefined;
    const groupTypes = input.InstanceGroupTypes;
    const matching = cluster.instances
      .filter((i) => !states?.length || states.includes(i.state))
      .filter((i) => !input.InstanceFleetId || i.InstanceFleetId === input.InstanceFleetId)
      .filter((i) => !input.InstanceGroupId || i.InstanceGroupId === input.InstanceGroupId)
      .filter((i) => !fleetTypes || (i.InstanceFleetId && (fleetTypes as string[]).includes(i.role)))
      .filter((i) => !groupTypes?.length || (i.InstanceGroupId && (groupTypes as string[]).includes(i.role)));
    const { items, Marker } = page(matching, input.Marker);
    return { Instances: items.map(instanceView), ...(Marker ? { Marker } : {}) };
  }
}

export function isEndedClusterState(state: string): boolean {
  return CLUSTER_ENDED_STATES.has(state);
}
