import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { dispatchPool, observeClusterState, reconcilePool, type DispatchReport } from '../../lib/aws/jobManager';
import { functionLogger } from '../../lib/aws/logger';
import { functionMetrics, metricsMiddleware } from '../../lib/aws/metrics';
import { listClusters } from '../../lib/aws/registry';
import { poolContext } from '../../lib/aws/poolContext';
import { clusterStateProbe, jobManagerDeps, sendWaiterHeartbeat } from '../../lib/aws/poolRuntime';
import { loadPools } from '../../lib/config/pools';
import { loadPrices } from '../../lib/config/prices';
import { parsePoolClusterName } from '../../lib/contract';
import { DispatchQueueInput } from '../../lib/domain/capacityInput';
import { parseRequestInput } from '../../lib/schema';
import type { PoolClusterState } from '../../lib/domain/pools';

const logger = functionLogger('dispatch-queue');
const metrics = functionMetrics('dispatch-queue');
const prices = loadPrices();
const config = loadPools(prices);

/**
 * Grants queued jobs freed capacity and launches pool clusters within the RunJobFlow budget.
 *   - `{ "detail-type": "Scheduled Event", … }` (the one-minute schedule): every pool, after reconciling
 *     cluster states with EMR (one ListClusters per sweep) and heartbeating parked executions.
 *   - an EMR "Cluster State Change" event for a pool cluster: records the state, dispatches that pool.
 *   - `{ pool? }`: dispatches that pool (all when omitted).
 * → `{ reports: DispatchReport[] }`.
 */
export async function dispatchQueue(event: unknown): Promise<{ reports: DispatchReport[] }> {
  const input = parseRequestInput(DispatchQueueInput, event);
  const deps = jobManagerDeps(prices);
  const reports: DispatchReport[] = [];
  if ('detail' in input) {
    const pool = parsePoolClusterName(input.detail.name);
    if (pool) {
      const { dispatch } = await observeClusterState(deps, poolContext(config, pool), input.detail.clusterId, input.detail.state as PoolClusterState);
      reports.push(dispatch);
    }
  } else {
    const scheduled = 'detail-type' in input;
    const names = 'pool' in input && input.pool ? [input.pool] : config.pools.map((p) => p.name);
    const describeState = clusterStateProbe();
    for (const name of names) {
      const context = poolContext(config, name);
      if (scheduled) {
        const reconciled = await reconcilePool(deps, context, { describeState, heartbeatWaiter: sendWaiterHeartbeat });
        logger.info('reconciled', { pool: name, ...reconciled });
      }
      reports.push(await dispatchPool(deps, context));
      if (scheduled) {
        // Once a minute, each pool's leased units after the dispatch (the dashboard's "units in use").
        const clusters = await listClusters(deps.dynamo, deps.tables, name);
        metrics.add('UnitsInUse', clusters.reduce((sum, cluster) => sum + cluster.unitsInUse, 0), { pool: name });
      }
    }
  }
  logger.info('dispatched', { reports });
  return { reports };
}

export const handler = middy(dispatchQueue).use(injectLambdaContext(logger)).use(metricsMiddleware(metrics));
