import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { dynamoClient, emrClient, env, sfnClient } from '../../lib/aws/clients';
import { listAppClusters, terminateClusters } from '../../lib/aws/clusters';
import { executionStatuses } from '../../lib/aws/executions';
import { functionLogger } from '../../lib/aws/logger';
import { stableErrorNames } from '../../lib/aws/middleware';
import { registryTables } from '../../lib/aws/poolRuntime';
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
 * On a schedule (or `{ dryRun: true }`): terminates this app's clusters that no running execution and no
 * live pool lease owns. Every decision is logged with its reason; a dry run only reports them.
 */
export async function reapClusters(event: unknown): Promise<ReapPlan & { dryRun: boolean }> {
  const options = parseReapOptions(event);
  const clusters = await listAppClusters(emrClient());
  const owners = clusters.map((cluster) => cluster.tags[TAG.execution]).filter((name): name is string => Boolean(name));
  const executions = await executionStatuses(sfnClient(), env('RUN_JOB_STATE_MACHINE_ARN'), owners);
  const registry = await poolRegistry();
  const plan = planReap({ clusters, executions, registry, now: now(), graceSeconds: options.graceSeconds, poolIdleSeconds: POOL_IDLE_SECONDS });
  for (const action of plan.terminate) logger.info(options.dryRun ? 'would terminate' : 'terminating', { ...action });
  for (const action of plan.keep) logger.info('keeping', { ...action });
  if (!options.dryRun) await terminateClusters(emrClient(), plan.terminate.map((action) => action.clusterId));
  return { ...plan, dryRun: options.dryRun };
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

export const handler = middy(reapClusters).use(injectLambdaContext(logger)).use(stableErrorNames());
