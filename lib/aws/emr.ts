import { STEP_UNSUCCESSFUL_STATES } from '../contract';
import {
  DescribeClusterCommand,
  DescribeStepCommand,
  type EMRClient,
  type InstanceFleet,
  type Instance,
  ListInstanceFleetsCommand,
  ListInstancesCommand,
  ListStepsCommand,
  type StepSummary,
} from '@aws-sdk/client-emr';
import type { Observation } from '../domain/failure';

/** EMR list calls page by Marker; a dedicated cluster fits in one or two pages, this bounds a runaway. */
const MAX_PAGES = 5;

async function listAll<T>(fetch: (marker?: string) => Promise<{ items?: T[]; marker?: string }>): Promise<T[]> {
  const all: T[] = [];
  let marker: string | undefined;
  for (let page = 0; page < MAX_PAGES; page += 1) {
    const out = await fetch(marker);
    all.push(...(out.items ?? []));
    marker = out.marker;
    if (!marker) break;
  }
  return all;
}

/** The cluster's step with this name (newest first, as ListSteps returns them), or null. */
export async function findStep(emr: EMRClient, clusterId: string, name: string): Promise<StepSummary | null> {
  const steps = await listAll(async (Marker) => {
    const out = await emr.send(new ListStepsCommand({ ClusterId: clusterId, Marker }));
    return { items: out.Steps, marker: out.Marker };
  });
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
    listAll<InstanceFleet>(async (Marker) => {
      const out = await emr.send(new ListInstanceFleetsCommand({ ClusterId: clusterId, Marker }));
      return { items: out.InstanceFleets, marker: out.Marker };
    }),
  );
  observation.instances = await attempt('ListInstances', () =>
    listAll<Instance>(async (Marker) => {
      const out = await emr.send(new ListInstancesCommand({ ClusterId: clusterId, Marker }));
      return { items: out.Instances, marker: out.Marker };
    }),
  );
  const summary = await attempt('ListSteps', async () => {
    const steps = await listAll<StepSummary>(async (Marker) => {
      const out = await emr.send(new ListStepsCommand({ ClusterId: clusterId, Marker }));
      return { items: out.Steps, marker: out.Marker };
    });
    // The attempt's own step; else, on a cluster of its own, the latest one that did not succeed (a step
    // renamed by hand, say). A pool cluster's other steps are other jobs'.
    const own = steps.find((s) => s.Name === stepName);
    return own ?? (options.sharedCluster ? undefined : steps.find((s) => STEP_UNSUCCESSFUL_STATES.has(s.Status?.State ?? '')));
  });
  if (summary?.Id) {
    const stepId = summary.Id;
    observation.step =
      (await attempt('DescribeStep', async () => (await emr.send(new DescribeStepCommand({ ClusterId: clusterId, StepId: stepId }))).Step)) ??
      summary;
  }
  return observation;
}
