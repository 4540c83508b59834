import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Context } from 'aws-lambda';
import { dynamoClient, emrClient, env } from '../../lib/aws/clients';
import { findStep, listInstanceUsage } from '../../lib/aws/emr';
import { functionLogger } from '../../lib/aws/logger';
import { stableErrorNames } from '../../lib/aws/middleware';
import { functionMetrics, metricsMiddleware } from '../../lib/aws/metrics';
import { putRun } from '../../lib/aws/runs';
import { findPool, loadPools } from '../../lib/config/pools';
import { loadPrices } from '../../lib/config/prices';
import { clusterCost, orchestrationCost, poolUnitHourly, poolUsage, runCost, type ClusterCost, type PoolUsage, type RunCost } from '../../lib/domain/runCost';
import { buildRunRecord, runStepName, type RecordRunInput, type StepSummary } from '../../lib/domain/runRecord';
import { currentDate } from '../../lib/clock';
import type { RunRecord } from '../../lib/domain/types';

const logger = functionLogger('record-run');
const metrics = functionMetrics('record-run');
const prices = loadPrices();
const pools = loadPools(prices);

/** The clusters that were the run's own: this attempt's dedicated cluster and a retried attempt's one. */
function ownClusters(event: RecordRunInput): string[] {
  const { placement, failure } = event.run;
  const ids = [placement?.mode === 'dedicated' ? placement.cluster?.ClusterId : undefined, failure?.teardown === 'terminate' ? failure.clusterId : undefined];
  return [...new Set(ids.filter((id): id is string => typeof id === 'string' && id.length > 0))];
}

/** What the run held, priced; null when a cluster's instances could not be read (the record says so in the log). */
async function priceRun(event: RecordRunInput, now: Date, lambdaMemoryMb: number): Promise<RunCost | null> {
  const { run } = event;
  const region = process.env.AWS_REGION;
  const clusters: ClusterCost[] = [];
  for (const clusterId of ownClusters(event)) {
    try {
      clusters.push(clusterCost(prices, clusterId, await listInstanceUsage(emrClient(), clusterId), now, region));
    } catch (error) {
      logger.warn('instance lookup failed: the run is recorded without its cost', { clusterId, error: error as Error });
      return null;
    }
  }
  let pool: PoolUsage | null = null;
  const slot = run.placement?.slot;
  if (run.placement?.mode === 'pool' && slot && typeof slot.grantedAt === 'number') {
    const definition = findPool(pools, slot.pool);
    const units = slot.units ?? run.placement.pool?.units;
    if (definition && units) pool = poolUsage(slot.pool, slot.clusterId, units, new Date(slot.grantedAt), now, poolUnitHourly(prices, definition));
    else logger.warn('pooled run not priced: its pool or units are unknown', { pool: slot.pool });
  }
  const path = { mode: run.placement?.mode ?? 'dedicated', attempts: run.attempt ?? 1, succeeded: event.outcome === 'succeeded', crawled: run.request.crawl?.required ?? false } as const;
  return runCost(clusters, pool, orchestrationCost(prices, path, lambdaMemoryMb));
}

/** `{ run, executionName, startedAt, outcome }` → the RunRecord it wrote to the runs table. */
export async function recordRun(event: RecordRunInput, context: Pick<Context, 'memoryLimitInMB'>): Promise<RunRecord> {
  const { run } = event;
  const clusterId = run.placement?.cluster?.ClusterId ?? run.placement?.slot?.clusterId;
  // A pooled step's timeline came with its completion event: no EMR call needed.
  const reported = run.pooledStep?.Step;
  let step: StepSummary | null = reported?.Status?.Timeline?.StartDateTime && reported.Status.Timeline.EndDateTime ? reported : null;
  if (clusterId && !step) {
    try {
      step = await findStep(emrClient(), clusterId, runStepName(run.request, run.attempt ?? 1));
    } catch (error) {
      // The record is still worth writing without the step's duration.
      logger.warn('step lookup failed', { clusterId, error: error as Error });
    }
  }
  const now = currentDate();
  const cost = await priceRun(event, now, Number(context.memoryLimitInMB) || 512);
  const record = buildRunRecord(event, step, now, cost);
  await putRun(dynamoClient(), env('RUNS_TABLE'), record);
  logger.info('recorded', { ...record });

  const job = { job: record.job };
  metrics.add('SpotInterruptions', record.interruptions, job);
  if (record.predictedMinutes !== null) metrics.add('PredictedMinutes', record.predictedMinutes, job);
  if (record.stepSeconds !== null) metrics.add('ActualMinutes', record.stepSeconds / 60, job);
  if (record.costUsd !== null) metrics.add('RunCostUsd', record.costUsd, job);
  if (record.queueWaitSeconds !== null && record.pool) metrics.add('QueueWaitSeconds', record.queueWaitSeconds, { pool: record.pool });
  return record;
}

export const handler = middy(recordRun).use(injectLambdaContext(logger)).use(metricsMiddleware(metrics)).use(stableErrorNames());
