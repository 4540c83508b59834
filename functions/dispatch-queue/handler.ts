import { functionLogger } from '../../lib/aws/logger';
import { lambdaHandler } from '../../lib/aws/middleware';
import { functionMetrics } from '../../lib/aws/metrics';
import { poolContext } from '../../lib/aws/poolContext';
import { poolDayShape } from '../../lib/aws/dayShape';
import {
  awsJobManager,
  clusterStateProbe,
  dispatcherCalls,
  dynamoRegistry,
  sendHeartbeat,
  setScalingMinimum,
  stepTokenDispatcher,
} from '../../lib/aws/poolRuntime';
import { prescalePool } from '../../lib/jobManager/prescale';
import { systemClock } from '../../lib/jobManager/ports';
import type { DispatchReport } from '../../lib/jobManager/jobManager';
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
const dispatcher = dispatcherCalls(prices);

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
  const registry = dynamoRegistry();
  const jobManager = awsJobManager({
    registry,
    stepTokens: stepTokenDispatcher(),
    // One ListClusters per invocation: the probe caches the sweep's view of cluster states.
    emr: { ...dispatcher.emr, describeClusterState: clusterStateProbe() },
    sfn: { ...dispatcher.sfn, sendHeartbeat },
  });
  const reports: DispatchReport[] = [];
  if ('detail' in input) {
    const pool = parsePoolClusterName(input.detail.name);
    if (pool) {
      const { dispatch } = await jobManager.observeClusterState(poolContext(config, pool), input.detail.clusterId, input.detail.state as PoolClusterState);
      reports.push(dispatch);
    }
  } else {
    const scheduled = 'detail-type' in input;
    const names = 'pool' in input && input.pool ? [input.pool] : config.pools.map((p) => p.name);
    for (const name of names) {
      const context = poolContext(config, name);
      if (scheduled) {
        const reconciled = await jobManager.reconcile(context);
        logger.info('reconciled', { pool: name, ...reconciled });
      }
      reports.push(await jobManager.dispatch(context));
      if (scheduled) {
        // Capacity before the burst: the clusters and the managed-scaling minimum the runs table's day shape asks for now.
        // Best effort: without it managed scaling still follows the load, only later, so a failure is logged, not raised.
        try {
          const prelaunch = (wanted: number, lead: number) => jobManager.prelaunch(context, wanted, lead);
          const prescaled = await prescalePool(
            { registry, emr: { setScalingMinimum }, clock: systemClock, prelaunch },
            context.pool,
            await poolDayShape(config.pools),
          );
          if (prescaled.applied.length > 0 || prescaled.launched.length > 0 || prescaled.errors.length > 0) logger.info('prescaled', { ...prescaled });
        } catch (error) {
          logger.warn('prescale skipped', { pool: name, error: error as Error });
        }
        // Once a minute, each pool's leased units after the dispatch (the dashboard's "units in use").
        metrics.add('UnitsInUse', await jobManager.unitsInUse(context), { pool: name });
      }
    }
  }
  // RunJobFlow refusals that will not cure themselves: PoolLaunchFailedAlarm watches their sum.
  const launchFailures = reports.reduce((sum, report) => sum + report.launchFailures.length, 0);
  if (launchFailures > 0) metrics.add('LaunchFailures', launchFailures, {});
  logger.info('dispatched', { reports });
  return { reports };
}

export const handler = lambdaHandler(dispatchQueue, { logger, metrics });
