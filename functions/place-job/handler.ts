import { dynamoClient, env } from '../../lib/aws/clients';
import { functionLogger } from '../../lib/aws/logger';
import { lambdaHandler } from '../../lib/aws/middleware';
import { functionMetrics } from '../../lib/aws/metrics';
import { takeApiTokens } from '../../lib/aws/apiBudget';
import { readPool } from '../../lib/aws/registry';
import { loadPools } from '../../lib/config/pools';
import { loadPrices } from '../../lib/config/prices';
import { checkRuleApplications, checkRulePools, loadRules } from '../../lib/config/rules';
import { loadServerlessConfig, startJobRunBudget } from '../../lib/config/serverless';
import { placeJobWithinStartBudget, type PlaceJobInput } from '../../lib/domain/placement';
import { predictedPoolWaits, type PoolRegistryView } from '../../lib/domain/serverless';
import type { Placement } from '../../lib/domain/types';

const logger = functionLogger('place-job');
const metrics = functionMetrics('place-job');
const prices = loadPrices();
const pools = loadPools(prices);
const rules = loadRules();
checkRulePools(
  rules,
  pools.pools.map((pool) => pool.name),
);
const serverless = loadServerlessConfig();
checkRuleApplications(rules, Object.keys(serverless.applications));
const config = { rules, template: pools.dedicated, prices, pools: pools.pools, serverless };

/** How long a warm PlaceJob reuses what it read of the registry: an estimate may be this stale, not a burst's reads. */
const REGISTRY_SNAPSHOT_MS = 2_000;
type RegistrySnapshot = Record<string, PoolRegistryView>;
let snapshot: { at: number; pools: Promise<RegistrySnapshot> } | null = null;

/**
 * Each pool's clusters and queued totals (one Query of the pool's registry partition, never its queue),
 * shared by the invocations of the next two seconds.
 */
function readRegistry(tables: { clusters: string }): Promise<RegistrySnapshot> {
  if (snapshot && Date.now() - snapshot.at < REGISTRY_SNAPSHOT_MS) return snapshot.pools;
  const pools_ = (async () => {
    const entries = await Promise.all(pools.pools.map(async (pool) => [pool.name, await readPool(dynamoClient(), tables, pool.name)] as const));
    return Object.fromEntries(entries) as RegistrySnapshot;
  })();
  snapshot = { at: Date.now(), pools: pools_ };
  pools_.catch(() => (snapshot = null));
  return pools_;
}

/**
 * Each pool's predicted wait for this job, from the registry's read API (lib/aws/registry.ts readPool: its
 * clusters and queued totals). Unknown (absent) when the registry cannot be read: a rule on it then does not fire.
 */
async function poolWaits(event: PlaceJobInput): Promise<Record<string, number>> {
  const clustersTable = process.env.CLUSTER_REGISTRY_TABLE;
  if (!clustersTable) return {};
  let registry: RegistrySnapshot;
  try {
    registry = await readRegistry({ clusters: clustersTable });
  } catch (error) {
    logger.warn('pool registry not read: predictedWaitMinutes unknown', { error: error as Error });
    return {};
  }
  return predictedPoolWaits(pools.pools, registry, {
    executionName: event.executionName,
    units: event.sizing.capacityUnits,
    priority: event.request.job.priority,
    predictedMinutes: event.sizing.predictedMinutes,
  });
}

/**
 * A StartJobRun token from the registry's budget (config/serverless.json startJobRunBudget), for a job the rules
 * send to EMR Serverless. Without a registry (or if it cannot be written) the job goes anyway: its StartJobRun
 * Retry waits out a throttle, so an unread budget costs latency, never the run.
 */
async function takeStartToken(): Promise<boolean> {
  const clustersTable = process.env.CLUSTER_REGISTRY_TABLE;
  if (!clustersTable) return true;
  try {
    return (await takeApiTokens(dynamoClient(), { clusters: clustersTable }, 'StartJobRun', 1, Date.now(), startJobRunBudget(serverless))) > 0;
  } catch (error) {
    logger.warn('StartJobRun budget not read: placing as if a token were there', { error: error as Error });
    return true;
  }
}

/**
 * `{ request, sizing, attempt, executionName }` → Placement: mode `dedicated` with the cluster's RunJobFlow
 * fields, mode `pool` with `pool: { name, units, priority }` for AcquireCapacity, or mode `serverless` with
 * what RunServerlessJob sends to StartJobRun.
 */
export async function placeJobTask(event: PlaceJobInput): Promise<Placement> {
  const placement = await placeJobWithinStartBudget({ ...event, poolWaits: await poolWaits(event) }, { ...config, stage: env('STAGE') }, takeStartToken);
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
  metrics.add('JobsPlaced', 1, {
    pool: placement.pool?.name ?? (placement.mode === 'serverless' ? 'serverless' : 'dedicated'),
    priority: event.request.job.priority,
  });
  return placement;
}

export const handler = lambdaHandler(placeJobTask, { logger, metrics });
