import { functionLogger } from '../../lib/aws/logger';
import { lambdaHandler } from '../../lib/aws/middleware';
import { functionMetrics } from '../../lib/aws/metrics';
import { poolContext } from '../../lib/aws/poolContext';
import { awsJobManager, dispatcherCalls, dynamoRegistry, stepTokenDispatcher } from '../../lib/aws/poolRuntime';
import { loadPools } from '../../lib/config/pools';
import { loadPrices } from '../../lib/config/prices';
import { AcquireCapacityInput } from '../../lib/domain/capacityInput';
import { parseRequestInput } from '../../lib/schema';
import { InvalidRequestError } from '../../lib/errors';

const logger = functionLogger('acquire-capacity');
const metrics = functionMetrics('acquire-capacity');
const prices = loadPrices();
const config = loadPools(prices);
const dispatcher = dispatcherCalls(prices);
const jobManager = () => awsJobManager({ registry: dynamoRegistry(), stepTokens: stepTokenDispatcher(), ...dispatcher });

/**
 * `{ pool, units, priority, execution, attempt, taskToken, holdSeconds? }` (a `.waitForTaskToken` task;
 * taskToken is `$$.Task.Token`; holdSeconds, the step timeout, extends the lease beyond leaseSeconds) → parks the job in the pool's queue and dispatches the pool. The execution resumes with
 * a Slot `{ pool, clusterId, lease, units, leaseExpiresAt }` sent to its token, now or when capacity frees.
 * The return value (for logs and tests) is `{ entryId, granted, launched, queued }`.
 */
export async function acquireCapacity(event: unknown): Promise<{ entryId: string; granted: number; launched: number; queued: number }> {
  const input = parseRequestInput(AcquireCapacityInput, event);
  const context = poolContext(config, input.pool);
  if (input.units > context.pool.capacityUnits) {
    throw new InvalidRequestError(
      'units',
      `${input.units} exceeds pool ${input.pool}'s capacityUnits (${context.pool.capacityUnits}); such a job needs a dedicated cluster`,
    );
  }
  const { entryId, dispatch } = await jobManager().acquireCapacity(context, input);
  // RunJobFlow refusals that will not cure themselves: PoolLaunchFailedAlarm watches their sum.
  if (dispatch.launchFailures.length > 0) metrics.add('LaunchFailures', dispatch.launchFailures.length, {});
  logger.info('parked', { entryId, pool: input.pool, units: input.units, priority: input.priority, dispatch });
  return { entryId, granted: dispatch.granted.length, launched: dispatch.launched.length, queued: dispatch.queued };
}

export const handler = lambdaHandler(acquireCapacity, { logger, metrics });
