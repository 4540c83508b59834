import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { returnLease } from '../../lib/aws/jobManager';
import { functionLogger } from '../../lib/aws/logger';
import { stableErrorNames } from '../../lib/aws/middleware';
import { poolContext } from '../../lib/aws/poolContext';
import { jobManagerDeps } from '../../lib/aws/poolRuntime';
import { loadPools } from '../../lib/config/pools';
import { loadPrices } from '../../lib/config/prices';
import { SlotInput } from '../../lib/domain/capacityInput';
import { parseRequestInput } from '../../lib/schema';

const logger = functionLogger('release-capacity');
const prices = loadPrices();
const config = loadPools(prices);

/**
 * `{ pool, clusterId, lease }` (the Slot in `$.placement.slot`) → gives the lease back and dispatches the
 * pool, so the freed units go to the queue at once. Idempotent: a lease already gone (released before,
 * or expired) gives `released: false`, not an error, so every teardown path can call it.
 */
export async function releaseCapacity(event: unknown): Promise<{ released: boolean; units: number; granted: number; launched: number }> {
  const slot = parseRequestInput(SlotInput, event);
  const { released, units, dispatch } = await returnLease(jobManagerDeps(prices), poolContext(config, slot.pool), slot);
  logger.info('released', { ...slot, released, units, dispatch });
  return { released, units, granted: dispatch.granted.length, launched: dispatch.launched.length };
}

export const handler = middy(releaseCapacity).use(injectLambdaContext(logger)).use(stableErrorNames());
