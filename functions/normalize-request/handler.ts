import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { lookupPartition } from '../../lib/aws/catalog';
import { glueClient, env } from '../../lib/aws/clients';
import { functionLogger } from '../../lib/aws/logger';
import { loadJobs } from '../../lib/config/jobs';
import { crawlPlan, parseTrigger, partitionToCheck } from '../../lib/domain/request';
import type { JobRequest } from '../../lib/domain/types';

const logger = functionLogger('normalize-request');
const jobs = loadJobs();

/** `{ trigger: <execution input> }` → `{ request, attempt: 1 }`; a bad trigger fails with Request.Invalid before anything is created. */
export async function normalizeRequest(event: { trigger: unknown }): Promise<{ request: JobRequest; attempt: number }> {
  const parsed = parseTrigger(event.trigger, {
    jobs,
    rawBucket: env('RAW_BUCKET'),
    artifactsBucket: env('ARTIFACTS_BUCKET'),
    now: new Date(),
  });
  const partition = partitionToCheck(parsed);
  const lookup = partition ? await lookupPartition(glueClient(), partition) : null;
  const request: JobRequest = { ...parsed, crawl: crawlPlan(parsed, lookup) };
  logger.info('normalized', { runId: request.runId, trigger: request.trigger, input: request.input.uri, crawl: request.crawl });
  return { request, attempt: 1 };
}

export const handler = middy(normalizeRequest).use(injectLambdaContext(logger));
