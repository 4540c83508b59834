/**
 * The job manager as a deployed Lambda (or the local runtime) runs it: the DynamoDB store on the tables
 * from the environment, Step Functions' task-token calls through the SFN client (AWS_ENDPOINT_URL_SFN
 * locally), the EMR calls of lib/aws/emr.ts (the one EMR adapter) on the EMR client with the stack's roles,
 * log bucket and subnets, and the system clock. Each call is its own function and each
 * handler wires only those it makes (awsJobManager), so its bundle, and the role the template test derives
 * from it, reaches no other. Tests build JobManagerPorts themselves.
 */
import { randomUUID } from 'node:crypto';
import { SendTaskFailureCommand, SendTaskHeartbeatCommand, SendTaskSuccessCommand } from '@aws-sdk/client-sfn';
import type { PoolDefinition } from '../config/pools';
import type { PriceBook } from '../config/prices';
import { poolClusterSpec } from '../domain/poolCluster';
import type { PoolClusterState } from '../domain/pools';
import { createJobManager, type JobManager } from '../jobManager/jobManager';
import { systemClock, type EmrPort, type Slot, type StepFunctionsPort } from '../jobManager/ports';
import type { RegistryStore, StepTokenStore } from '../jobManager/store';
import { unwired } from '../jobManager/unwired';
import { dynamoClient, emrClient, env, sfnClient } from './clients';
import * as emr from './emr';
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

/** RunJobFlow for a pool cluster: the pool's spec plus this stack's roles, log bucket and subnets. */
export function poolClusterLauncher(prices: PriceBook): EmrPort['launchCluster'] {
  return (pool: PoolDefinition, configHash: string, launchId: string) =>
    emr.runPoolCluster(emrClient(), poolClusterSpec(pool, configHash, launchId, prices, env('STAGE')), {
      serviceRole: env('EMR_SERVICE_ROLE'),
      instanceProfile: env('EMR_INSTANCE_PROFILE'),
      logsBucket: env('LOGS_BUCKET'),
      subnetIds: (process.env.EMR_SUBNET_IDS ?? '')
        .split(',')
        .map((id) => id.trim())
        .filter(Boolean),
    });
}

/**
 * The dispatcher's per-sweep view of cluster states: one ListClusters of the listed states (paginated) for all
 * of a sweep's clusters, instead of a DescribeCluster each. EMR's state-change events keep the registry
 * current; this only catches what an event missed. A registered cluster absent from the live list has ended,
 * and only then does one DescribeCluster say how (TERMINATED or TERMINATED_WITH_ERRORS).
 */
export function clusterStateProbe(): (clusterId: string) => Promise<PoolClusterState | null> {
  let live: Promise<Map<string, PoolClusterState>> | null = null;
  return async (clusterId) => {
    live ??= emr.listedClusterStates(emrClient());
    return (await live).get(clusterId) ?? describeClusterState(clusterId);
  };
}

/** The EmrPort's calls on this stack's EMR client (lib/aws/emr.ts makes them). */
export const describeClusterState: EmrPort['describeClusterState'] = (clusterId) => emr.describeClusterState(emrClient(), clusterId);
export const addStep: EmrPort['addStep'] = async (clusterId, step) => (await emr.addSteps(emrClient(), clusterId, [step]))[0] ?? '';
export const addSteps: EmrPort['addSteps'] = (clusterId, steps) => emr.addSteps(emrClient(), clusterId, steps);
export const listSteps: EmrPort['listSteps'] = (clusterId, request) => emr.listStepsPage(emrClient(), clusterId, request);
export const cancelSteps: EmrPort['cancelSteps'] = (clusterId, stepIds) => emr.cancelSteps(emrClient(), clusterId, stepIds);
export const findLaunch: EmrPort['findLaunch'] = (pool, launchId, launchedAfter) => emr.findLaunch(emrClient(), pool, launchId, launchedAfter);
export const setScalingMinimum: Required<EmrPort>['setScalingMinimum'] = (clusterId, pool, minimumUnits) =>
  emr.setScalingMinimum(emrClient(), clusterId, pool, minimumUnits);

/**
 * What a dispatch calls outside its store, for each handler that dispatches (acquire-capacity, release-capacity,
 * dispatch-queue): RunJobFlow, the batch's AddJobFlowSteps and ListSteps (steps by name), the search for a
 * crashed launch's cluster, and the slot or the failure sent to a waiter's token.
 */
export function dispatcherCalls(prices: PriceBook): { emr: Partial<EmrPort>; sfn: Partial<StepFunctionsPort> } {
  return { emr: { launchCluster: poolClusterLauncher(prices), addSteps, listSteps, findLaunch }, sfn: { sendSlot, sendFailure } };
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
