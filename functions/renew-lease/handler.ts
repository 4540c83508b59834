import { functionLogger } from '../../lib/aws/logger';
import { lambdaHandler } from '../../lib/aws/middleware';
import { poolContext } from '../../lib/aws/poolContext';
import { awsJobManager, leaseRenewer } from '../../lib/aws/poolRuntime';
import { loadPools } from '../../lib/config/pools';
import { loadPrices } from '../../lib/config/prices';
import { RenewLeaseInput } from '../../lib/domain/capacityInput';
import { parseRequestInput } from '../../lib/schema';

const logger = functionLogger('renew-lease');
const prices = loadPrices();
const config = loadPools(prices);

/**
 * `{ pool, clusterId, lease, holdSeconds? }` → `{ renewed, leaseExpiresAt }`: the running job's heartbeat,
 * pushing its lease's expiry to now + leaseSeconds (config/pools.json dispatcher) + holdSeconds, never closer. `renewed: false` means the lease
 * expired and its units were taken back: the job runs on without a reservation.
 */
export async function renewLease(event: unknown): Promise<{ renewed: boolean; leaseExpiresAt: number }> {
  const slot = parseRequestInput(RenewLeaseInput, event);
  const result = await awsJobManager({ registry: leaseRenewer() }).renew(poolContext(config, slot.pool), slot, slot.holdSeconds);
  if (!result.renewed) logger.warn('lease already expired', { ...slot });
  return result;
}

export const handler = lambdaHandler(renewLease, { logger });
