import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { functionLogger } from '../../lib/aws/logger';
import { loadPools } from '../../lib/config/pools';
import { loadPrices } from '../../lib/config/prices';
import { loadRules } from '../../lib/config/rules';
import { placeJob, type PlaceJobInput } from '../../lib/domain/placement';
import type { Placement } from '../../lib/domain/types';

const logger = functionLogger('place-job');
const prices = loadPrices();
const pools = loadPools(prices);
const config = { rules: loadRules(), template: pools.dedicated, prices, pools: pools.pools };

/** `{ request, sizing, attempt, executionName }` → Placement (a dedicated cluster's RunJobFlow fields). */
export async function placeJobTask(event: PlaceJobInput): Promise<Placement> {
  const placement = await placeJob(event, config);
  logger.info('placed', {
    runId: event.request.runId,
    attempt: event.attempt,
    mode: placement.mode,
    onDemandShare: placement.onDemandShare,
    hourlyCostUsd: placement.hourlyCostUsd,
    reasons: placement.reasons,
  });
  return placement;
}

export const handler = middy(placeJobTask).use(injectLambdaContext(logger));
