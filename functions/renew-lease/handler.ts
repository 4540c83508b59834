import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { heartbeat } from '../../lib/aws/jobManager';
import { functionLogger } from '../../lib/aws/logger';
import { poolContext } from '../../lib/aws/poolContext';
import { jobManagerDeps } from '../../lib/aws/poolRuntime';
import { loadPools } from '../../lib/config/pools';
import { loadPrices } from '../../lib/config/prices';
import { SlotInput, parseInput } from '../../lib/domain/capacityInput';

const logger = functionLogger('renew-lease');
const prices = loadPrices();
const config = loadPools(prices);

/**
 * `{ pool, clusterId, lease }` → `{ renewed, leaseExpiresAt }`: the running job's heartbeat, pushing its
 * lease's expiry leaseSeconds (config/pools.json dispatcher) from now. `renewed: false` means the lease
 * expired and its units were taken back: the job runs on without a reservation.
 */
export async function renewLease(event: unknown): Promise<{ renewed: boolean; leaseExpiresAt: number }> {
  const slot = parseInput(SlotInput, event);
  const result = await heartbeat(jobManagerDeps(prices), poolContext(config, slot.pool), slot);
  if (!result.renewed) logger.warn('lease already expired', { ...slot });
  return result;
}

export const handler = middy(renewLease).use(injectLambdaContext(logger));
