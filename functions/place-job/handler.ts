import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { dynamoClient } from '../../lib/aws/clients';
import { functionLogger } from '../../lib/aws/logger';
import { stableErrorNames } from '../../lib/aws/middleware';
import { functionMetrics, metricsMiddleware } from '../../lib/aws/metrics';
import { listClusters, listQueue } from '../../lib/aws/registry';
import { loadPools } from '../../lib/config/pools';
import { loadPrices } from '../../lib/config/prices';
import { checkRuleApplications, checkRulePools, loadRules } from '../../lib/config/rules';
import { loadServerlessConfig } from '../../lib/config/serverless';
import { placeJob, type PlaceJobInput } from '../../lib/domain/placement';
import { predictedPoolWaitMinutes } from '../../lib/domain/serverless';
import type { Placement } from '../../lib/domain/types';

const logger = functionLogger('place-job');
const metrics = functionMetrics('place-job');
const prices = loadPrices();
const pools = loadPools(prices);
const rules = loadRules();
checkRulePools(rules, pools.pools.map((pool) => pool.name));
const serverless = loadServerlessConfig();
checkRuleApplications(rules, Object.keys(serverless.applications));
const config = { rules, template: pools.dedicated, prices, pools: pools.pools, serverless };

/**
 * Each pool's predicted wait for this job, from the registry's read API (its clusters and its queue: two
 * Queries per pool). Unknown (absent) when the registry cannot be read: a rule on it then does not fire.
 */
async function poolWaits(event: PlaceJobInput): Promise<Record<string, number>> {
  const tables = { clusters: process.env.CLUSTER_REGISTRY_TABLE, queue: process.env.ADMISSION_QUEUE_TABLE };
  if (!tables.clusters || !tables.queue) return {};
  const waits: Record<string, number> = {};
  try {
    await Promise.all(
      pools.pools.map(async (pool) => {
        const registry = { clusters: tables.clusters!, queue: tables.queue! };
        const [clusters, queue] = await Promise.all([listClusters(dynamoClient(), registry, pool.name), listQueue(dynamoClient(), registry, pool.name)]);
        waits[pool.name] = predictedPoolWaitMinutes({
          clusters,
          queue: queue.filter((entry) => entry.execution !== event.executionName),
          maxClusters: pool.maxClusters,
          clusterCapacityUnits: pool.capacityUnits,
          units: event.sizing.capacityUnits,
          priority: event.request.job.priority,
          typicalJobMinutes: event.sizing.predictedMinutes,
        });
      }),
    );
  } catch (error) {
    logger.warn('pool registry not read: predictedWaitMinutes unknown', { error: error as Error });
    return {};
  }
  return waits;
}

/**
 * `{ request, sizing, attempt, executionName }` → Placement: mode `dedicated` with the cluster's RunJobFlow
 * fields, mode `pool` with `pool: { name, units, priority }` for AcquireCapacity, or mode `serverless` with
 * what RunServerlessJob sends to StartJobRun.
 */
export async function placeJobTask(event: PlaceJobInput): Promise<Placement> {
  const placement = await placeJob({ ...event, poolWaits: await poolWaits(event) }, config);
  logger.info('placed', {
    runId: event.request.runId,
    attempt: event.attempt,
    mode: placement.mode,
    pool: placement.pool,
    serverless: placement.serverless?.application,
    onDemandShare: placement.onDemandShare,
    hourlyCostUsd: placement.hourlyCostUsd,
    reasons: placement.reasons,
  });
  metrics.add('JobsPlaced', 1, { pool: placement.pool?.name ?? (placement.mode === 'serverless' ? 'serverless' : 'dedicated'), priority: event.request.job.priority });
  return placement;
}

export const handler = middy(placeJobTask).use(injectLambdaContext(logger)).use(metricsMiddleware(metrics)).use(stableErrorNames());
