import { lookupPartition } from '../../lib/aws/catalog';
import { glueClient, env, s3Client } from '../../lib/aws/clients';
import { functionLogger } from '../../lib/aws/logger';
import { lambdaHandler } from '../../lib/aws/middleware';
import { inputPresence } from '../../lib/aws/storage';
import { loadJobsForStage } from '../../lib/config/jobs';
import { checkInput } from '../../lib/domain/input';
import { crawlPlan, parseTrigger, partitionToCheck } from '../../lib/domain/request';
import { currentDate } from '../../lib/clock';
import type { JobRequest } from '../../lib/domain/types';

const logger = functionLogger('normalize-request');
// The request carries the job with this stage's Glue names; every later state reads them from it.
const jobs = loadJobsForStage(process.env.STAGE);

/**
 * `{ trigger: <execution input> }` → `{ request, attempt: 1 }`; a bad trigger fails with Request.Invalid, a missing or
 * empty input with Input.NotFound / Input.Empty (Schedule.NothingToDo for a scheduled start), before anything is
 * claimed or created.
 */
export async function normalizeRequest(event: { trigger: unknown }): Promise<{ request: JobRequest; attempt: number }> {
  const parsed = parseTrigger(event.trigger, {
    jobs,
    rawBucket: env('RAW_BUCKET'),
    artifactsBucket: env('ARTIFACTS_BUCKET'),
    now: currentDate(),
  });
  const partition = partitionToCheck(parsed);
  const lookup = partition ? await lookupPartition(glueClient(), partition) : null;
  // A registered partition has data (the crawler found it); anything else is listed before a run is claimed.
  if (!lookup?.found) checkInput(parsed.input, await inputPresence(s3Client(), parsed.input), parsed.trigger);
  const request: JobRequest = { ...parsed, crawl: crawlPlan(parsed, lookup) };
  logger.info('normalized', { runId: request.runId, trigger: request.trigger, input: request.input.uri, crawl: request.crawl });
  return { request, attempt: 1 };
}

export const handler = lambdaHandler(normalizeRequest, { logger });
