/**
 * The EMR adapter: every EMR call of the Lambdas and the local runtime, each over the EMRClient it is given
 * (lib/aws/poolRuntime.ts binds the job manager's EmrPort to these with the stack's client). Reads: a
 * cluster's steps, instances and state for ClassifyFailure and RecordRun; this app's clusters for the reaper,
 * the cleanup and the dispatcher (ListClusters, paged once here, in clusterPages). Writes: launch a pool
 * cluster, add, cancel and find steps, set a pool cluster's scaling minimum, terminate clusters.
 */
import {
  AddJobFlowStepsCommand,
  CancelStepsCommand,
  type ClusterState,
  type ClusterSummary,
  DescribeClusterCommand,
  DescribeStepCommand,
  type EMRClient,
  ListClustersCommand,
  type ListClustersCommandOutput,
  ListStepsCommand,
  PutManagedScalingPolicyCommand,
  paginateListInstanceFleets,
  paginateListInstances,
  paginateListSteps,
  RunJobFlowCommand,
  type RunJobFlowCommandInput,
  type StepConfig,
  type StepSummary,
  TerminateJobFlowsCommand,
} from '@aws-sdk/client-emr';
import type { PoolDefinition } from '../config/pools';
import {
  APP_NAME,
  CLUSTER_ACTIVE_STATES,
  CLUSTER_TERMINATING_STATE,
  isDedicatedClusterName,
  parsePoolClusterName,
  poolClusterName,
  STEP_UNSUCCESSFUL_STATES,
  TAG,
} from '../contract';
import type { AppCluster } from '../domain/cleanup';
import type { Observation } from '../domain/failure';
import { type PoolClusterSpec, poolScalingPolicy } from '../domain/poolCluster';
import type { PoolClusterState } from '../domain/pools';
import type { InstanceUsage } from '../domain/runCost';
import type { StepView } from '../domain/stepCompletion';
import type { ListStepsRequest } from '../jobManager/ports';
import { EmrApiError } from '../errors';

/** EMR list calls page by Marker; a dedicated cluster fits in one or two pages, this bounds a runaway. */
const MAX_PAGES = 5;
/** ListClusters pages are 50 clusters; 20 pages cover the 500-active-cluster default quota twice. */
const MAX_CLUSTER_PAGES = 20;
/** TerminateJobFlows takes at most 10 ids per call. */
const TERMINATE_BATCH = 10;

/** The items of the first MAX_PAGES pages of an SDK paginator. */
async function firstPages<Page, Item>(pages: AsyncIterable<Page>, items: (page: Page) => Item[] | undefined): Promise<Item[]> {
  const all: Item[] = [];
  let count = 0;
  for await (const page of pages) {
    all.push(...(items(page) ?? []));
    if (++count >= MAX_PAGES) break;
  }
  return all;
}

const listSteps = (emr: EMRClient, clusterId: string) => firstPages(paginateListSteps({ client: emr }, { ClusterId: clusterId }), (page) => page.Steps);

/** The cluster's step with this name (newest first, as ListSteps returns them), or null. */
export async function findStep(emr: EMRClient, clusterId: string, name: string): Promise<StepSummary | null> {
  const steps = await listSteps(emr, clusterId);
  return steps.find((s) => s.Name === name) ?? null;
}

/**
 * Everything ClassifyFailure looks at. Never throws: each call that fails (throttling, a cluster id EMR
 * does not know) is named in apiErrors and its part of the observation stays empty.
 */
export async function observeCluster(emr: EMRClient, clusterId: string, stepName: string, options: { sharedCluster?: boolean } = {}): Promise<Observation> {
  const observation: Observation = { apiErrors: [] };
  const attempt = async <T>(operation: string, call: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await call();
    } catch (error) {
      observation.apiErrors.push(`${operation}: ${(error as Error).name}: ${(error as Error).message}`);
      return undefined;
    }
  };

  observation.cluster = await attempt('DescribeCluster', async () => {
    const out = await emr.send(new DescribeClusterCommand({ ClusterId: clusterId }));
    return out.Cluster;
  });
  observation.fleets = await attempt('ListInstanceFleets', () =>
    firstPages(paginateListInstanceFleets({ client: emr }, { ClusterId: clusterId }), (page) => page.InstanceFleets),
  );
  observation.instances = await attempt('ListInstances', () =>
    firstPages(paginateListInstances({ client: emr }, { ClusterId: clusterId }), (page) => page.Instances),
  );
  const summary = await attempt('ListSteps', async () => {
    const steps = await listSteps(emr, clusterId);
    // The attempt's own step; else, on a cluster of its own, the latest one that did not succeed (a step
    // renamed by hand, say). A pool cluster's other steps are other jobs'.
    const own = steps.find((s) => s.Name === stepName);
    return own ?? (options.sharedCluster ? undefined : steps.find((s) => STEP_UNSUCCESSFUL_STATES.has(s.Status?.State ?? '')));
  });
  if (summary?.Id) {
    const stepId = summary.Id;
    observation.step =
      (await attempt('DescribeStep', async () => (await emr.send(new DescribeStepCommand({ ClusterId: clusterId, StepId: stepId }))).Step)) ?? summary;
  }
  return observation;
}

/**
 * Every instance the cluster held, ended ones included, with its market and lifetime (ListInstances pages
 * through them all: a cluster's cost needs each one). An instance without a creation time never ran.
 */
export async function listInstanceUsage(emr: EMRClient, clusterId: string): Promise<InstanceUsage[]> {
  const usage: InstanceUsage[] = [];
  for await (const page of paginateListInstances({ client: emr }, { ClusterId: clusterId })) {
    for (const instance of page.Instances ?? []) {
      const timeline = instance.Status?.Timeline;
      if (!timeline?.CreationDateTime || !instance.InstanceType) continue;
      usage.push({
        instanceType: instance.InstanceType,
        market: instance.Market === 'SPOT' ? 'SPOT' : 'ON_DEMAND',
        createdAt: new Date(timeline.CreationDateTime),
        endedAt: timeline.EndDateTime ? new Date(timeline.EndDateTime) : null,
      });
    }
  }
  return usage;
}

interface ClusterFilter {
  states?: ClusterState[];
  createdAfter?: Date;
  /** Default: every page. */
  maxPages?: number;
}

/** ListClusters' pages (in `states`, created after `createdAfter`), up to `maxPages`: the one place EMR's ListClusters is paged. */
async function* clusterPages(emr: EMRClient, filter: ClusterFilter): AsyncGenerator<ClusterSummary[]> {
  let marker: string | undefined;
  for (let page = 0; page < (filter.maxPages ?? Number.POSITIVE_INFINITY); page += 1) {
    const out: ListClustersCommandOutput = await emr.send(
      new ListClustersCommand({ ClusterStates: filter.states, CreatedAfter: filter.createdAfter, Marker: marker }),
    );
    yield out.Clusters ?? [];
    marker = out.Marker;
    if (!marker) break;
  }
}

/** The clusters ListClusters gives for `filter`, every page it allows. */
export async function listClusters(emr: EMRClient, filter: ClusterFilter = {}): Promise<ClusterSummary[]> {
  const clusters: ClusterSummary[] = [];
  for await (const page of clusterPages(emr, filter)) clusters.push(...page);
  return clusters;
}

/** The states in which a pool cluster is still listed: active, or terminating (its steps may still end). */
const POOL_LISTED_STATES = [...CLUSTER_ACTIVE_STATES, CLUSTER_TERMINATING_STATE] as ClusterState[];

/** Every listed (active or terminating) cluster's state, by id: a dispatcher sweep's one view of EMR. */
export async function listedClusterStates(emr: EMRClient): Promise<Map<string, PoolClusterState>> {
  const states = new Map<string, PoolClusterState>();
  for (const cluster of await listClusters(emr, { states: POOL_LISTED_STATES })) {
    if (cluster.Id && cluster.Status?.State) states.set(cluster.Id, cluster.Status.State as PoolClusterState);
  }
  return states;
}

/** DescribeCluster's state, or null when EMR gives none. */
export async function describeClusterState(emr: EMRClient, clusterId: string): Promise<PoolClusterState | null> {
  const out = await emr.send(new DescribeClusterCommand({ ClusterId: clusterId }));
  return (out.Cluster?.Status?.State as PoolClusterState | undefined) ?? null;
}

/**
 * The cluster a crashed launch made: RunJobFlow takes no ClientToken, so the launch id rides in the cluster's
 * name (poolClusterName), which ListClusters returns; CreatedAfter keeps the listing to the launch's minutes,
 * and the paging stops at the page that holds it.
 */
export async function findLaunch(
  emr: EMRClient,
  pool: PoolDefinition,
  launchId: string,
  launchedAfter: number,
): Promise<{ clusterId: string; state: PoolClusterState } | null> {
  const name = poolClusterName(pool.name, launchId);
  for await (const page of clusterPages(emr, { states: POOL_LISTED_STATES, createdAfter: new Date(launchedAfter) })) {
    const found = page.find((cluster) => cluster.Name === name && cluster.Id && cluster.Status?.State);
    if (found?.Id) return { clusterId: found.Id, state: found.Status?.State as PoolClusterState };
  }
  return null;
}

/** What RunJobFlow needs of the account beside a pool's spec (the stack's roles, log bucket and subnets). */
export interface ClusterAccount {
  serviceRole: string;
  instanceProfile: string;
  logsBucket: string;
  subnetIds: string[];
}

/** RunJobFlow for a pool cluster: its spec plus the account's roles, log bucket and subnets; resolves to the cluster id. */
export async function runPoolCluster(emr: EMRClient, spec: PoolClusterSpec, account: ClusterAccount): Promise<string> {
  const { InstanceFleets, ...cluster } = spec;
  const input: RunJobFlowCommandInput = {
    ...cluster,
    ServiceRole: account.serviceRole,
    JobFlowRole: account.instanceProfile,
    LogUri: `s3://${account.logsBucket}/emr/`,
    VisibleToAllUsers: true,
    Instances: {
      KeepJobFlowAliveWhenNoSteps: true,
      InstanceFleets,
      ...(account.subnetIds.length > 0 ? { Ec2SubnetIds: account.subnetIds } : {}),
    },
  };
  const out = await emr.send(new RunJobFlowCommand(input));
  if (!out.JobFlowId) throw new Error('RunJobFlow returned no JobFlowId');
  return out.JobFlowId;
}

/** PutManagedScalingPolicy: the pool's limits with a raised (or restored) minimum (lib/jobManager/prescale.ts). */
export async function setScalingMinimum(emr: EMRClient, clusterId: string, pool: PoolDefinition, minimumUnits: number): Promise<void> {
  try {
    await emr.send(new PutManagedScalingPolicyCommand({ ClusterId: clusterId, ManagedScalingPolicy: poolScalingPolicy(pool, minimumUnits) }));
  } catch (error) {
    throw EmrApiError.from(error);
  }
}

/** A name this app gives its clusters (a run's dedicated cluster, a pool cluster); ListClusters shows names, not tags. */
export const isAppClusterName = (name: string): boolean => isDedicatedClusterName(name) || parsePoolClusterName(name) !== null;

/** What IAM answers a DescribeCluster the role's tag conditions do not allow: another app's or another stage's cluster. */
const isAccessDenied = (error: unknown) => ['AccessDeniedException', 'AccessDenied'].includes((error as Error)?.name);

/**
 * This stage's clusters (tagged `emrflow:app` and `emrflow:stage`) with their tags: the active ones, or also
 * those that ended (`includeEnded`). ListClusters gives no tags, so each listed cluster costs a
 * DescribeCluster: only names this app gives are described (`name` narrows further), and `createdAfter` (an
 * execution's start) keeps that to the clusters that can be wanted. The roles may describe only their own
 * stage's clusters, so AccessDenied on one means "not ours", not a failure: a foreign cluster in the account
 * must not stop the reaper or the cleanup.
 */
export async function listAppClusters(
  emr: EMRClient,
  options: { stage: string; createdAfter?: Date; includeEnded?: boolean; name?: (name: string) => boolean },
): Promise<AppCluster[]> {
  const listed = await listClusters(emr, {
    states: options.includeEnded ? undefined : ([...CLUSTER_ACTIVE_STATES] as ClusterState[]),
    createdAfter: options.createdAfter,
    maxPages: MAX_CLUSTER_PAGES,
  });
  // A name filter spares a DescribeCluster for every cluster that cannot be wanted.
  const summaries = listed.filter((summary) => isAppClusterName(summary.Name ?? '') && (!options.name || options.name(summary.Name ?? '')));
  const clusters: AppCluster[] = [];
  for (const summary of summaries) {
    if (!summary.Id) continue;
    const cluster = await emr.send(new DescribeClusterCommand({ ClusterId: summary.Id })).then(
      (out) => out.Cluster,
      (error) => {
        if (isAccessDenied(error)) return null;
        throw error;
      },
    );
    if (!cluster) continue;
    const tags = Object.fromEntries((cluster.Tags ?? []).map((tag) => [tag.Key ?? '', tag.Value ?? '']));
    if (tags[TAG.app] !== APP_NAME || tags[TAG.stage] !== options.stage) continue;
    const timeline = cluster.Status?.Timeline;
    clusters.push({
      id: summary.Id,
      name: summary.Name ?? '',
      state: cluster.Status?.State ?? summary.Status?.State ?? 'UNKNOWN',
      tags,
      createdAt: timeline?.CreationDateTime ? new Date(timeline.CreationDateTime).getTime() : null,
      readyAt: timeline?.ReadyDateTime ? new Date(timeline.ReadyDateTime).getTime() : null,
    });
  }
  return clusters;
}

/** Terminates clusters (idempotent: EMR ignores a cluster already terminating). */
export async function terminateClusters(emr: EMRClient, clusterIds: string[]): Promise<void> {
  for (let i = 0; i < clusterIds.length; i += TERMINATE_BATCH) {
    await emr.send(new TerminateJobFlowsCommand({ JobFlowIds: clusterIds.slice(i, i + TERMINATE_BATCH) }));
  }
}

/**
 * Cancels the steps named `name` that are still PENDING or RUNNING on a shared cluster (a pooled run that was
 * stopped: stopping an execution never stops its EMR step, which would keep using units its lease no longer
 * holds). Returns the cancelled step ids. SEND_INTERRUPT is EMR's default for a RUNNING step.
 */
export async function cancelNamedSteps(emr: EMRClient, clusterId: string, name: string): Promise<string[]> {
  const listed = await emr.send(new ListStepsCommand({ ClusterId: clusterId, StepStates: ['PENDING', 'RUNNING'] }));
  const stepIds = (listed.Steps ?? []).flatMap((step) => (step.Name === name && step.Id ? [step.Id] : []));
  if (stepIds.length > 0) await emr.send(new CancelStepsCommand({ ClusterId: clusterId, StepIds: stepIds, StepCancellationOption: 'SEND_INTERRUPT' }));
  return stepIds;
}

/**
 * AddJobFlowSteps with several steps (a dispatcher's batch for one cluster, or RunPooledStep's one); resolves to
 * their step ids in order. Errors keep `.sync`'s names (EmrApiError; throttling as EmrThrottledError).
 */
export async function addSteps(emr: EMRClient, clusterId: string, steps: Record<string, unknown>[]): Promise<string[]> {
  try {
    const added = await emr.send(new AddJobFlowStepsCommand({ JobFlowId: clusterId, Steps: steps as unknown as StepConfig[] }));
    return added.StepIds ?? [];
  } catch (error) {
    throw EmrApiError.from(error);
  }
}

/** `ListSteps`' timestamps are Dates; a settlement carries ISO strings, as a Cause would. */
function stepView(summary: StepSummary): StepView {
  const iso = (date: Date | undefined) => (date ? date.toISOString() : undefined);
  const status = summary.Status;
  const timeline = status?.Timeline;
  return {
    Id: summary.Id ?? '',
    Name: summary.Name,
    Status: {
      State: status?.State ?? '',
      ...(status?.StateChangeReason ? { StateChangeReason: { Code: status.StateChangeReason.Code, Message: status.StateChangeReason.Message } } : {}),
      ...(status?.FailureDetails ? { FailureDetails: status.FailureDetails } : {}),
      ...(timeline
        ? { Timeline: { CreationDateTime: iso(timeline.CreationDateTime), StartDateTime: iso(timeline.StartDateTime), EndDateTime: iso(timeline.EndDateTime) } }
        : {}),
    },
  };
}

/** One ListSteps page (newest first unless filtered), as the job manager reads steps. */
export async function listStepsPage(emr: EMRClient, clusterId: string, request: ListStepsRequest = {}): Promise<{ steps: StepView[]; marker?: string }> {
  const { marker, stepStates, stepIds } = request;
  const page = await emr.send(
    new ListStepsCommand({
      ClusterId: clusterId,
      Marker: marker,
      ...(stepStates ? { StepStates: [...stepStates] } : {}),
      ...(stepIds ? { StepIds: [...stepIds] } : {}),
    }),
  );
  return { steps: (page.Steps ?? []).map(stepView), ...(page.Marker ? { marker: page.Marker } : {}) };
}

/** CancelSteps takes at most 256 step ids. */
const CANCEL_BATCH = 256;

/**
 * CancelSteps with TERMINATE_PROCESS: a step given up on (its wait timed out, its execution ended) must stop
 * using its units, and SEND_INTERRUPT lets the process decide when to exit. EMR answers per step (SUBMITTED or
 * FAILED, e.g. a step that already ended); either way the caller waits to see the step ended before its
 * lease's units go back, so the answer is not needed.
 */
export async function cancelSteps(emr: EMRClient, clusterId: string, stepIds: string[]): Promise<void> {
  for (let i = 0; i < stepIds.length; i += CANCEL_BATCH) {
    await emr.send(new CancelStepsCommand({ ClusterId: clusterId, StepIds: stepIds.slice(i, i + CANCEL_BATCH), StepCancellationOption: 'TERMINATE_PROCESS' }));
  }
}
