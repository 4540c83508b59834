/**
 * The EMR adapter: every EMR call of the Lambdas (lib/aws/poolRuntime.ts's too, once it moves here), over an
 * injected EMRClient. Reads: a cluster's steps, instances and state for ClassifyFailure and RecordRun; this
 * app's clusters for the reaper and the cleanup (ListClusters, paged once here). Writes: terminate clusters,
 * cancel a pooled run's steps.
 */
import {
  CancelStepsCommand,
  type ClusterState,
  type ClusterSummary,
  DescribeClusterCommand,
  DescribeStepCommand,
  type EMRClient,
  ListClustersCommand,
  ListStepsCommand,
  paginateListInstanceFleets,
  paginateListInstances,
  paginateListSteps,
  type StepSummary,
  TerminateJobFlowsCommand,
} from '@aws-sdk/client-emr';
import { APP_NAME, CLUSTER_ACTIVE_STATES, isDedicatedClusterName, parsePoolClusterName, STEP_UNSUCCESSFUL_STATES, TAG } from '../contract';
import type { AppCluster } from '../domain/cleanup';
import type { Observation } from '../domain/failure';
import type { InstanceUsage } from '../domain/runCost';

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

/**
 * The clusters ListClusters gives (in `states`, created after `createdAfter`), every page up to `maxPages`
 * (default: all): the one place EMR's ListClusters is paged.
 */
export async function listClusters(
  emr: EMRClient,
  filter: { states?: ClusterState[]; createdAfter?: Date; maxPages?: number } = {},
): Promise<ClusterSummary[]> {
  const clusters: ClusterSummary[] = [];
  let marker: string | undefined;
  for (let page = 0; page < (filter.maxPages ?? Number.POSITIVE_INFINITY); page += 1) {
    const out = await emr.send(new ListClustersCommand({ ClusterStates: filter.states, CreatedAfter: filter.createdAfter, Marker: marker }));
    clusters.push(...(out.Clusters ?? []));
    marker = out.Marker;
    if (!marker) break;
  }
  return clusters;
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
