import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { env } from '../../lib/aws/clients';
import { functionLogger } from '../../lib/aws/logger';
import { stableErrorNames } from '../../lib/aws/middleware';
import { functionMetrics, metricsMiddleware } from '../../lib/aws/metrics';
import { loadPools } from '../../lib/config/pools';
import { loadPrices } from '../../lib/config/prices';
import { checkRulePools, loadRules } from '../../lib/config/rules';
import { placeJob, type PlaceJobInput } from '../../lib/domain/placement';
import type { Placement } from '../../lib/domain/types';

const logger = functionLogger('place-job');
const metrics = functionMetrics('place-job');
const prices = loadPrices();
const pools = loadPools(prices);
const rules = loadRules();
checkRulePools(rules, pools.pools.map((pool) => pool.name));
const config = { rules, template: pools.dedicated, prices, pools: pools.pools };

/**
 * `{ request, sizing, attempt, executionName }` → Placement: mode `dedicated` with the cluster's RunJobFlow
 * fields, or mode `pool` with `pool: { name, units, priority }` for AcquireCapacity.
 */
export async function placeJobTask(event: PlaceJobInput): Promise<Placement> {
  const placement = await placeJob(event, { ...config, stage: env('STAGE') });
  logger.info('placed', {
    runId: event.request.runId,
    attempt: event.attempt,
    mode: placement.mode,
    pool: placement.pool,
    onDemandShare: placement.onDemandShare,
    hourlyCostUsd: placement.hourlyCostUsd,
    reasons: placement.reasons,
  });
  metrics.add('JobsPlaced', 1, { pool: placement.pool?.name ?? 'dedicated', priority: event.request.job.priority });
  return placement;
}

export const handler = middy(placeJobTask).use(injectLambdaContext(logger)).use(metricsMiddleware(metrics)).use(stableErrorNames());
