import {
  CancelStepsCommand,
  DescribeClusterCommand,
  ListClustersCommand,
  ListStepsCommand,
  TerminateJobFlowsCommand,
  type ClusterState,
  type EMRClient,
} from '@aws-sdk/client-emr';
import { APP_NAME, CLUSTER_ACTIVE_STATES, TAG, isDedicatedClusterName, parsePoolClusterName } from '../contract';
import type { AppCluster } from '../domain/cleanup';

/** ListClusters pages are 50 clusters; 20 pages cover the 500-active-cluster default quota twice. */
const MAX_PAGES = 20;
/** TerminateJobFlows takes at most 10 ids per call. */
const TERMINATE_BATCH = 10;

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
  const summaries = [];
  let marker: string | undefined;
  for (let page = 0; page < MAX_PAGES; page += 1) {
    const out = await emr.send(
      new ListClustersCommand({
        ClusterStates: options.includeEnded ? undefined : ([...CLUSTER_ACTIVE_STATES] as ClusterState[]),
        CreatedAfter: options.createdAfter,
        Marker: marker,
      }),
    );
    // A name filter spares a DescribeCluster for every cluster that cannot be wanted.
    summaries.push(...(out.Clusters ?? []).filter((summary) => isAppClusterName(summary.Name ?? '') && (!options.name || options.name(summary.Name ?? ''))));
    marker = out.Marker;
    if (!marker) break;
  }
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
