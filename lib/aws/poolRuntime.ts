/**
 * The job manager's dependencies as a deployed Lambda has them: the DynamoDB tables from the environment,
 * SendTaskSuccess / SendTaskHeartbeat through the SFN client (AWS_ENDPOINT_URL_SFN locally), RunJobFlow
 * and DescribeCluster through the EMR client with the stack's roles, log bucket and subnets.
 * Tests build JobManagerDeps themselves instead.
 */
import { DescribeClusterCommand, ListClustersCommand, RunJobFlowCommand, type ClusterState, type RunJobFlowCommandInput } from '@aws-sdk/client-emr';
import { SendTaskHeartbeatCommand, SendTaskSuccessCommand } from '@aws-sdk/client-sfn';
import type { PriceBook } from '../config/prices';
import { CLUSTER_ACTIVE_STATES, CLUSTER_TERMINATING_STATE } from '../contract';
import type { PoolDefinition } from '../config/pools';
import { poolClusterSpec } from '../domain/poolCluster';
import type { PoolClusterState } from '../domain/pools';
import { dynamoClient, emrClient, env, sfnClient } from './clients';
import { now } from '../clock';
import type { JobManagerDeps, Slot } from './jobManager';
import type { RegistryTables } from './registry';

export function registryTables(): RegistryTables {
  return { clusters: env('CLUSTER_REGISTRY_TABLE'), queue: env('ADMISSION_QUEUE_TABLE') };
}

export async function sendSlot(taskToken: string, slot: Slot): Promise<void> {
  await sfnClient().send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(slot) }));
}

/** Keeps a parked execution's HeartbeatSeconds from firing while its entry is alive in the queue. */
export async function sendWaiterHeartbeat(taskToken: string): Promise<void> {
  await sfnClient().send(new SendTaskHeartbeatCommand({ taskToken }));
}

/** RunJobFlow for a pool cluster: the pool's spec plus this account's roles, log bucket and subnets. */
export function poolClusterLauncher(prices: PriceBook): JobManagerDeps['launchCluster'] {
  return async (pool: PoolDefinition, configHash: string, launchId: string) => {
    const spec = poolClusterSpec(pool, configHash, launchId, prices);
    const subnets = (process.env.EMR_SUBNET_IDS ?? '').split(',').map((id) => id.trim()).filter(Boolean);
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

export function jobManagerDeps(prices: PriceBook): JobManagerDeps {
  return { dynamo: dynamoClient(), tables: registryTables(), sendSlot, launchCluster: poolClusterLauncher(prices), now };
}
