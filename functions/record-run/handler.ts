import type { Context } from 'aws-lambda';
import type { JobRun } from '@aws-sdk/client-emr-serverless';
import { dynamoClient, emrClient, emrServerlessClient, env } from '../../lib/aws/clients';
import { findStep, listInstanceUsage } from '../../lib/aws/emr';
import { functionLogger } from '../../lib/aws/logger';
import { lambdaHandler } from '../../lib/aws/middleware';
import { functionMetrics } from '../../lib/aws/metrics';
import { putRun } from '../../lib/aws/runs';
import { getJobRun } from '../../lib/aws/serverlessJobRuns';
import { findPool, loadPools } from '../../lib/config/pools';
import { loadPrices } from '../../lib/config/prices';
import { loadServerlessConfig } from '../../lib/config/serverless';
import {
  clusterCost,
  orchestrationCost,
  poolUnitHourly,
  poolUsage,
  runCost,
  type ClusterCost,
  type PoolUsage,
  type RunCost,
  type ServerlessUsage,
} from '../../lib/domain/runCost';
import { serverlessCostUsd, serverlessJobRunOf, serverlessRates } from '../../lib/domain/serverless';
import { buildRunRecord, runStepName, type RecordRunInput, type StepSummary } from '../../lib/domain/runRecord';
import { currentDate } from '../../lib/clock';
import type { RunRecord } from '../../lib/domain/types';

const logger = functionLogger('record-run');
const metrics = functionMetrics('record-run');
const prices = loadPrices();
const pools = loadPools(prices);
const serverless = loadServerlessConfig();

/** The clusters that were the run's own: this attempt's dedicated cluster and a retried attempt's one. */
function ownClusters(event: RecordRunInput): string[] {
  const { placement, failure } = event.run;
  const ids = [placement?.mode === 'dedicated' ? placement.cluster?.ClusterId : undefined, failure?.teardown === 'terminate' ? failure.clusterId : undefined];
  return [...new Set(ids.filter((id): id is string => typeof id === 'string' && id.length > 0))];
}

/** The run's EMR Serverless job run as GetJobRun reports it, or null (not a Serverless run, or it cannot be read). */
async function serverlessJobRun(event: RecordRunInput): Promise<JobRun | null> {
  const ids = serverlessJobRunOf(event.run);
  if (!ids) return null;
  try {
    return await getJobRun(emrServerlessClient(), ids);
  } catch (error) {
    logger.warn('job run lookup failed: the run is recorded without its Serverless cost', { ...ids, error: error as Error });
    return null;
  }
}

/** A job run's bill: its billedResourceUtilization at config/prices.json's EMR Serverless prices. */
function priceJobRun(event: RecordRunInput, jobRun: JobRun): ServerlessUsage | null {
  const billed = jobRun.billedResourceUtilization;
  if (!billed) return null;
  const app = serverless.applications[event.run.placement?.serverless?.application ?? serverless.defaultApplication];
  const usage = { vCPUHour: billed.vCPUHour ?? 0, memoryGBHour: billed.memoryGBHour ?? 0, storageGBHour: billed.storageGBHour ?? 0 };
  return {
    applicationId: jobRun.applicationId ?? '',
    jobRunId: jobRun.jobRunId ?? '',
    billed: usage,
    usd: serverlessCostUsd(usage, serverlessRates(prices, app?.architecture ?? 'X86_64')),
  };
}

/** What the run held, priced; null when a cluster's instances could not be read (the record says so in the log). */
async function priceRun(event: RecordRunInput, now: Date, lambdaMemoryMb: number, jobRun: JobRun | null = null): Promise<RunCost | null> {
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
  const path = {
    mode: run.placement?.mode ?? 'dedicated',
    attempts: run.attempt ?? 1,
    succeeded: event.outcome === 'succeeded',
    crawled: run.request.crawl?.required ?? false,
  } as const;
  return runCost(clusters, pool, orchestrationCost(prices, path, lambdaMemoryMb), jobRun ? priceJobRun(event, jobRun) : null);
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
  // A Serverless run's "step" is its job run: its timeline teaches sizing as a step's does.
  const jobRun = await serverlessJobRun(event);
  if (jobRun?.startedAt && jobRun.endedAt)
    step = { Id: jobRun.jobRunId, Status: { Timeline: { StartDateTime: jobRun.startedAt, EndDateTime: jobRun.endedAt } } };
  const now = currentDate();
  const cost = await priceRun(event, now, Number(context.memoryLimitInMB) || 512, jobRun);
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

export const handler = lambdaHandler(recordRun, { logger, metrics });
