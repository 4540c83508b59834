import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { dynamoClient, emrClient, env } from '../../lib/aws/clients';
import { findStep } from '../../lib/aws/emr';
import { functionLogger } from '../../lib/aws/logger';
import { putRun } from '../../lib/aws/runs';
import { buildRunRecord, runStepName, type RecordRunInput, type StepSummary } from '../../lib/domain/runRecord';
import type { RunRecord } from '../../lib/domain/types';

const logger = functionLogger('record-run');

/** `{ run, executionName, startedAt, outcome }` → the RunRecord it wrote to the runs table. */
export async function recordRun(event: RecordRunInput): Promise<RunRecord> {
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
  const record = buildRunRecord(event, step, new Date());
  await putRun(dynamoClient(), env('RUNS_TABLE'), record);
  logger.info('recorded', { ...record });
  return record;
}

export const handler = middy(recordRun).use(injectLambdaContext(logger));
