import { dynamoClient, emrClient, emrServerlessClient, env, sfnClient } from '../../lib/aws/clients';
import { listAppClusters, terminateClusters } from '../../lib/aws/emr';
import { executionStatuses } from '../../lib/aws/executions';
import { functionLogger } from '../../lib/aws/logger';
import { lambdaHandler } from '../../lib/aws/middleware';
import { registryTables } from '../../lib/aws/poolRuntime';
import { cancelJobRuns, listActiveJobRuns, withJobRunTags } from '../../lib/aws/serverlessJobRuns';
import { planJobRunReap } from '../../lib/domain/serverless';
import { listClusters } from '../../lib/aws/registry';
import { loadPools } from '../../lib/config/pools';
import { loadPrices } from '../../lib/config/prices';
import { now } from '../../lib/clock';
import { TAG } from '../../lib/contract';
import { parseReapOptions, planReap, type PoolClusterView, type ReapPlan } from '../../lib/domain/reaper';

const logger = functionLogger('reap-clusters');
const pools = loadPools(loadPrices()).pools.map((pool) => pool.name);

/** A pool cluster idle this long with no live lease is past any pool's idle timeout: a backstop, not the policy. */
const POOL_IDLE_SECONDS = 3600;

/**
 * On a schedule (or `{ dryRun: true }`): terminates this stage's clusters that no running execution and no
 * live pool lease owns. Every decision is logged with its reason; a dry run only reports them.
 */
export async function reapClusters(event: unknown): Promise<ReapPlan & { dryRun: boolean; jobRuns: ReturnType<typeof planJobRunReap> }> {
  const options = parseReapOptions(event);
  const clusters = await listAppClusters(emrClient(), { stage: env('STAGE') });
  const owners = clusters.map((cluster) => cluster.tags[TAG.execution]).filter((name): name is string => Boolean(name));
  const executions = await executionStatuses(sfnClient(), env('RUN_JOB_STATE_MACHINE_ARN'), owners);
  const registry = await poolRegistry();
  const plan = planReap({ clusters, executions, registry, now: now(), graceSeconds: options.graceSeconds, poolIdleSeconds: POOL_IDLE_SECONDS });
  for (const action of plan.terminate) logger.info(options.dryRun ? 'would terminate' : 'terminating', { ...action });
  for (const action of plan.keep) logger.info('keeping', { ...action });
  if (!options.dryRun)
    await terminateClusters(
      emrClient(),
      plan.terminate.map((action) => action.clusterId),
    );
  const jobRuns = await reapJobRuns(options);
  return { ...plan, dryRun: options.dryRun, jobRuns };
}

/**
 * This app's EMR Serverless job runs that no running execution waits for (their `emrflow:execution` tag):
 * cancelled. EMR Serverless ends each at its executionTimeoutMinutes anyway; this ends them sooner.
 */
async function reapJobRuns(options: { dryRun: boolean; graceSeconds: number }): Promise<ReturnType<typeof planJobRunReap>> {
  const applicationId = process.env.SERVERLESS_APPLICATION_ID;
  if (!applicationId) return { cancel: [], keep: [] };
  const runs = await withJobRunTags(emrServerlessClient(), await listActiveJobRuns(emrServerlessClient(), applicationId));
  const owners = runs.map((run) => run.tags[TAG.execution]).filter((name): name is string => Boolean(name));
  const executions = owners.length ? await executionStatuses(sfnClient(), env('RUN_JOB_STATE_MACHINE_ARN'), owners) : {};
  const plan = planJobRunReap(runs, executions, Date.now(), options.graceSeconds);
  for (const run of plan.cancel) logger.info(options.dryRun ? 'would cancel job run' : 'cancelling job run', { ...run });
  if (options.dryRun) return plan;
  const { deferred } = await cancelJobRuns(emrServerlessClient(), plan.cancel);
  // The reaper runs on a schedule: what CancelJobRun's quota held back is cancelled by the next run.
  if (deferred.length > 0) logger.warn('CancelJobRun throttled: left to the next reaper run', { deferred });
  return plan;
}

/**
 * Every pool cluster the job manager's registry knows (config/pools.json's pools, one Query each), by cluster id.
 * A pool cluster of a pool no longer configured is unknown, so an orphan.
 */
async function poolRegistry(): Promise<Record<string, PoolClusterView>> {
  const registry: Record<string, PoolClusterView> = {};
  for (const pool of pools) {
    for (const cluster of await listClusters(dynamoClient(), registryTables(), pool)) registry[cluster.clusterId] = { leases: cluster.leases };
  }
  return registry;
}

export const handler = lambdaHandler(reapClusters, { logger });
