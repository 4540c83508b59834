/**
 * The job manager as a deployed Lambda (or the local runtime) runs it: the DynamoDB store on the tables
 * from the environment, Step Functions' task-token calls through the SFN client (AWS_ENDPOINT_URL_SFN
 * locally), RunJobFlow / DescribeCluster / AddJobFlowSteps / ListSteps through the EMR client with the
 * stack's roles, log bucket and subnets, and the system clock. Each call is its own function and each
 * handler wires only those it makes (awsJobManager), so its bundle, and the role the template test derives
 * from it, reaches no other. Tests build JobManagerPorts themselves.
 */
import { randomUUID } from 'node:crypto';
import {
  AddJobFlowStepsCommand,
  CancelStepsCommand,
  DescribeClusterCommand,
  ListClustersCommand,
  ListStepsCommand,
  PutManagedScalingPolicyCommand,
  RunJobFlowCommand,
  type ClusterState,
  type RunJobFlowCommandInput,
  type StepConfig,
  type StepSummary,
} from '@aws-sdk/client-emr';
import { SendTaskFailureCommand, SendTaskHeartbeatCommand, SendTaskSuccessCommand } from '@aws-sdk/client-sfn';
import type { PoolDefinition } from '../config/pools';
import type { PriceBook } from '../config/prices';
import { CLUSTER_ACTIVE_STATES, CLUSTER_TERMINATING_STATE, poolClusterName } from '../contract';
import { poolClusterSpec, poolScalingPolicy } from '../domain/poolCluster';
import type { PoolClusterState } from '../domain/pools';
import type { StepView } from '../domain/stepCompletion';
import { EmrApiError } from '../errors';
import { createJobManager, type JobManager } from '../jobManager/jobManager';
import { systemClock, type EmrPort, type Slot, type StepFunctionsPort } from '../jobManager/ports';
import type { RegistryStore, StepTokenStore } from '../jobManager/store';
import { unwired } from '../jobManager/unwired';
import { dynamoClient, emrClient, env, sfnClient } from './clients';
import { DynamoRegistry, type RegistryTables } from './registry';
import {
  DynamoStepTokens,
  attachStepToken,
  dropStepToken,
  getStepToken,
  holdStepToken,
  liveStepIds,
  putStepToken,
  restoreStepToken,
  takeStepToken,
} from './stepTokenTable';

export function registryTables(): RegistryTables {
  return { clusters: env('CLUSTER_REGISTRY_TABLE'), queue: env('ADMISSION_QUEUE_TABLE') };
}

export function dynamoRegistry(): DynamoRegistry {
  return new DynamoRegistry(dynamoClient(), registryTables());
}

export function dynamoStepTokens(): DynamoStepTokens {
  return new DynamoStepTokens(dynamoClient(), env('STEP_TOKENS_TABLE'));
}

/**
 * The step-tokens table for the lease keepers only (release, the dispatcher's lease sweep, an execution's
 * cleanup): the one read of an execution's steps that may still run, which holds its lease.
 */
export function liveStepReader(): StepTokenStore {
  return unwired<StepTokenStore>('stepTokens', {
    liveSteps: (clusterId, execution) => liveStepIds(dynamoClient(), env('STEP_TOKENS_TABLE'), clusterId, execution),
  });
}

/** The step-tokens table for a writer of new mappings only (SubmitPooledStep). */
export function stepTokenWriter(): StepTokenStore {
  return unwired<StepTokenStore>('stepTokens', { mapStep: (item) => putStepToken(dynamoClient(), env('STEP_TOKENS_TABLE'), item) });
}

/**
 * The step-tokens table for a dispatcher (acquire-capacity, release-capacity, dispatch-queue): it maps the
 * steps of its batches (PutItem) and, re-delivering a half-done grant, reads whether a step is mapped (GetItem).
 */
export function stepTokenDispatcher(): StepTokenStore {
  const table = () => env('STEP_TOKENS_TABLE');
  return unwired<StepTokenStore>('stepTokens', {
    mapStep: (item) => putStepToken(dynamoClient(), table(), item),
    getStep: (clusterId, stepId) => getStepToken(dynamoClient(), table(), clusterId, stepId),
    dropStep: (clusterId, stepId) => dropStepToken(dynamoClient(), table(), clusterId, stepId),
    liveSteps: (clusterId, execution) => liveStepIds(dynamoClient(), table(), clusterId, execution),
  });
}

/**
 * The step-tokens table for RunPooledStep of a dispatcher-submitted step: attach its token and, when the step
 * ended first, settle its held end (take, tell, drop; a concurrent settle's hold is read back).
 */
export function stepTokenAttacher(): StepTokenStore {
  const table = () => env('STEP_TOKENS_TABLE');
  return unwired<StepTokenStore>('stepTokens', {
    attachToken: (clusterId, stepId, taskToken) => attachStepToken(dynamoClient(), table(), clusterId, stepId, taskToken),
    takeStep: (clusterId, stepId, takenAt, staleBefore) => takeStepToken(dynamoClient(), table(), clusterId, stepId, takenAt, staleBefore),
    holdStep: (item, settlement, heldAt) => holdStepToken(dynamoClient(), table(), item, settlement, heldAt),
    getStep: (clusterId, stepId) => getStepToken(dynamoClient(), table(), clusterId, stepId),
    restoreStep: (item) => restoreStepToken(dynamoClient(), table(), item),
    dropStep: (clusterId, stepId) => dropStepToken(dynamoClient(), table(), clusterId, stepId),
  });
}

/** What a dispatch needs of EMR besides launching: the batch's AddJobFlowSteps and ListSteps (steps by name). */
export const batchSubmission = {
  addSteps: (clusterId: string, steps: Record<string, unknown>[]) => addSteps(clusterId, steps),
  listSteps: (clusterId: string, marker?: string) => listSteps(clusterId, marker),
};

export async function sendSlot(taskToken: string, slot: Slot): Promise<void> {
  await sfnClient().send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(slot) }));
}

export async function sendSuccess(taskToken: string, output: string): Promise<void> {
  await sfnClient().send(new SendTaskSuccessCommand({ taskToken, output }));
}

export async function sendFailure(taskToken: string, error: string, cause: string): Promise<void> {
  await sfnClient().send(new SendTaskFailureCommand({ taskToken, error, cause }));
}

export async function sendHeartbeat(taskToken: string): Promise<void> {
  await sfnClient().send(new SendTaskHeartbeatCommand({ taskToken }));
}

/** RunJobFlow for a pool cluster: the pool's spec plus this account's roles, log bucket and subnets. */
export function poolClusterLauncher(prices: PriceBook): EmrPort['launchCluster'] {
  return async (pool: PoolDefinition, configHash: string, launchId: string) => {
    const spec = poolClusterSpec(pool, configHash, launchId, prices, env('STAGE'));
    const subnets = (process.env.EMR_SUBNET_IDS ?? '')
      .split(',')
      .map((id) => id.trim())
      .filter(Boolean);
    const { InstanceFleets, ...cluster } = spec;
    const input: RunJobFlowCommandInput = {
      ...cluster,
      ServiceRole: env('EMR_SERVICE_ROLE'),
      JobFlowRole: env('EMR_INSTANCE_PROFILE'),
      LogUri: `s3://${env('LOGS_BUCKET')}/emr/`,
      VisibleToAllUsers: true,
      Instances: { KeepJobFlowAliveWhenNoSteps: true, InstanceFleets, ...(subnets.length > 0 ? { Ec2SubnetIds: subnets } : {}) },
    };
    const out = await emrClient().send(new RunJobFlowCommand(input));
    if (!out.JobFlowId) throw new Error('RunJobFlow returned no JobFlowId');
    return out.JobFlowId;
  };
}

/**
 * The dispatcher's per-sweep view of cluster states: one ListClusters of the live states (paginated) for all
 * of a sweep's clusters, instead of a DescribeCluster each. EMR's state-change events keep the registry
 * current; this only catches what an event missed. A registered cluster absent from the live list has ended,
 * and only then does one DescribeCluster say how (TERMINATED or TERMINATED_WITH_ERRORS).
 */
export function clusterStateProbe(): (clusterId: string) => Promise<PoolClusterState | null> {
  let live: Promise<Map<string, PoolClusterState>> | null = null;
  return async (clusterId) => {
    live ??= listLiveClusterStates();
    return (await live).get(clusterId) ?? describeClusterState(clusterId);
  };
}

async function listLiveClusterStates(): Promise<Map<string, PoolClusterState>> {
  const states = new Map<string, PoolClusterState>();
  const ClusterStates = [...CLUSTER_ACTIVE_STATES, CLUSTER_TERMINATING_STATE] as ClusterState[];
  let Marker: string | undefined;
  do {
    const page = await emrClient().send(new ListClustersCommand({ ClusterStates, Marker }));
    for (const cluster of page.Clusters ?? []) if (cluster.Id && cluster.Status?.State) states.set(cluster.Id, cluster.Status.State as PoolClusterState);
    Marker = page.Marker;
  } while (Marker);
  return states;
}

export async function describeClusterState(clusterId: string): Promise<PoolClusterState | null> {
  const out = await emrClient().send(new DescribeClusterCommand({ ClusterId: clusterId }));
  return (out.Cluster?.Status?.State as PoolClusterState | undefined) ?? null;
}

/** `ListSteps`' timestamps are Dates; a settlement carries ISO strings, as a Cause would. */
function stepView(summary: StepSummary): StepView {
  const iso = (date: Date | undefined) => (date ? date.toISOString() : undefined);
  const timeline = summary.Status?.Timeline;
  return {
    Id: summary.Id ?? '',
    Name: summary.Name,
    Status: {
      State: summary.Status?.State ?? '',
      ...(summary.Status?.StateChangeReason
        ? { StateChangeReason: { Code: summary.Status.StateChangeReason.Code, Message: summary.Status.StateChangeReason.Message } }
        : {}),
      ...(summary.Status?.FailureDetails ? { FailureDetails: summary.Status.FailureDetails } : {}),
      ...(timeline
        ? { Timeline: { CreationDateTime: iso(timeline.CreationDateTime), StartDateTime: iso(timeline.StartDateTime), EndDateTime: iso(timeline.EndDateTime) } }
        : {}),
    },
  };
}

export async function addStep(clusterId: string, step: Record<string, unknown>): Promise<string> {
  try {
    const added = await emrClient().send(new AddJobFlowStepsCommand({ JobFlowId: clusterId, Steps: [step as unknown as StepConfig] }));
    return added.StepIds?.[0] ?? '';
  } catch (error) {
    throw EmrApiError.from(error);
  }
}

export async function addSteps(clusterId: string, steps: Record<string, unknown>[]): Promise<string[]> {
  try {
    const added = await emrClient().send(new AddJobFlowStepsCommand({ JobFlowId: clusterId, Steps: steps as unknown as StepConfig[] }));
    return added.StepIds ?? [];
  } catch (error) {
    throw EmrApiError.from(error);
  }
}

export async function listSteps(clusterId: string, marker?: string): Promise<{ steps: StepView[]; marker?: string }> {
  const page = await emrClient().send(new ListStepsCommand({ ClusterId: clusterId, Marker: marker }));
  return { steps: (page.Steps ?? []).map(stepView), ...(page.Marker ? { marker: page.Marker } : {}) };
}

/**
 * CancelSteps with TERMINATE_PROCESS: a step given up on (its wait timed out, its execution ended) must stop
 * using its units, and SEND_INTERRUPT lets the process decide when to exit. EMR answers per step (SUBMITTED or
 * FAILED, e.g. a step that already ended); either way the caller waits to see the step ended before its
 * lease's units go back, so the answer is not needed.
 */
export async function cancelSteps(clusterId: string, stepIds: string[]): Promise<void> {
  // CancelSteps takes at most 256 step ids.
  for (let i = 0; i < stepIds.length; i += 256) {
    await emrClient().send(new CancelStepsCommand({ ClusterId: clusterId, StepIds: stepIds.slice(i, i + 256), StepCancellationOption: 'TERMINATE_PROCESS' }));
  }
}

/**
 * The cluster a crashed launch made: RunJobFlow takes no ClientToken, so the launch id rides in the cluster's
 * name (poolClusterName), which ListClusters returns; CreatedAfter keeps the listing to the launch's minutes.
 */
export async function findLaunch(
  pool: PoolDefinition,
  launchId: string,
  launchedAfter: number,
): Promise<{ clusterId: string; state: PoolClusterState } | null> {
  const name = poolClusterName(pool.name, launchId);
  const ClusterStates = [...CLUSTER_ACTIVE_STATES, CLUSTER_TERMINATING_STATE] as ClusterState[];
  let Marker: string | undefined;
  do {
    const page = await emrClient().send(new ListClustersCommand({ ClusterStates, CreatedAfter: new Date(launchedAfter), Marker }));
    const found = (page.Clusters ?? []).find((cluster) => cluster.Name === name && cluster.Id && cluster.Status?.State);
    if (found?.Id) return { clusterId: found.Id, state: found.Status?.State as PoolClusterState };
    Marker = page.Marker;
  } while (Marker);
  return null;
}

/** PutManagedScalingPolicy: the pool's limits with a raised (or restored) minimum (lib/jobManager/prescale.ts). */
export async function setScalingMinimum(clusterId: string, pool: PoolDefinition, minimumUnits: number): Promise<void> {
  try {
    await emrClient().send(new PutManagedScalingPolicyCommand({ ClusterId: clusterId, ManagedScalingPolicy: poolScalingPolicy(pool, minimumUnits) }));
  } catch (error) {
    throw EmrApiError.from(error);
  }
}

export interface AwsWiring {
  registry?: RegistryStore;
  stepTokens?: StepTokenStore;
  emr?: Partial<EmrPort>;
  sfn?: Partial<StepFunctionsPort>;
}

/** The job manager with the store halves and the calls a handler gives it; anything else fails, naming itself. */
export function awsJobManager(wiring: AwsWiring): JobManager {
  return createJobManager({
    registry: wiring.registry ?? unwired<RegistryStore>('registry'),
    stepTokens: wiring.stepTokens ?? unwired<StepTokenStore>('stepTokens'),
    emr: unwired<EmrPort>('emr', wiring.emr),
    sfn: unwired<StepFunctionsPort>('sfn', wiring.sfn),
    clock: systemClock,
    placeholderId: randomUUID,
  });
}
