import { functionLogger } from '../../lib/aws/logger';
import { lambdaHandler } from '../../lib/aws/middleware';
import { functionMetrics } from '../../lib/aws/metrics';
import { poolContext } from '../../lib/aws/poolContext';
import { awsJobManager, cancelSteps, dispatcherCalls, dynamoRegistry, stepTokenDispatcher } from '../../lib/aws/poolRuntime';
import { loadPools } from '../../lib/config/pools';
import { loadPrices } from '../../lib/config/prices';
import { SlotInput } from '../../lib/domain/capacityInput';
import { parseRequestInput } from '../../lib/schema';

const logger = functionLogger('release-capacity');
const metrics = functionMetrics('release-capacity');
const prices = loadPrices();
const config = loadPools(prices);
const dispatcher = dispatcherCalls(prices);
const jobManager = () =>
  awsJobManager({ registry: dynamoRegistry(), stepTokens: stepTokenDispatcher(), emr: { ...dispatcher.emr, cancelSteps }, sfn: dispatcher.sfn });

/**
 * `{ pool, clusterId, lease, stepId? }` (the Slot in `$.placement.slot`) → gives the lease back and dispatches
 * the pool, so the freed units go to the queue at once (a step of the lease that may still run is cancelled
 * and keeps it: with `stepId`, that step's mapping is the one read). Idempotent: a lease already gone
 * (released before, or expired) gives `released: false`, not an error, so every teardown path can call it.
 */
export async function releaseCapacity(event: unknown): Promise<{ released: boolean; units: number; granted: number; launched: number }> {
  const slot = parseRequestInput(SlotInput, event);
  const { released, units, dispatch } = await jobManager().releaseCapacity(poolContext(config, slot.pool), slot);
  // RunJobFlow refusals that will not cure themselves: PoolLaunchFailedAlarm watches their sum.
  if (dispatch.launchFailures.length > 0) metrics.add('LaunchFailures', dispatch.launchFailures.length, {});
  logger.info('released', { ...slot, released, units, dispatch });
  return { released, units, granted: dispatch.granted.length, launched: dispatch.launched.length };
}

export const handler = lambdaHandler(releaseCapacity, { logger, metrics });
