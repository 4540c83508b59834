import { STEP_UNSUCCESSFUL_STATES } from '../contract';
import {
  DescribeClusterCommand,
  DescribeStepCommand,
  type EMRClient,
  paginateListInstanceFleets,
  paginateListInstances,
  paginateListSteps,
  type StepSummary,
} from '@aws-sdk/client-emr';
import type { Observation } from '../domain/failure';
import type { InstanceUsage } from '../domain/runCost';

/** EMR list calls page by Marker; a dedicated cluster fits in one or two pages, this bounds a runaway. */
const MAX_PAGES = 5;

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
