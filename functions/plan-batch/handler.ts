import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { putText, readText } from '../../lib/aws/batchStore';
import { env, s3Client } from '../../lib/aws/clients';
import { functionLogger } from '../../lib/aws/logger';
import { loadBatchSettings } from '../../lib/config/batch';
import { batchTarget, planItems, type BatchPlan } from '../../lib/domain/batch';
import { currentDate } from '../../lib/clock';
import { InvalidRequestError } from '../../lib/errors';

const logger = functionLogger('plan-batch');

/**
 * `{ input: <run-batch input> }` → the batch's plan. Reads the manifest and writes the Map's items file (one
 * item a line, each with its run-job execution name); a bad input or a missing manifest is Request.Invalid.
 */
export async function planBatch(event: { input: unknown }): Promise<BatchPlan> {
  const target = batchTarget(event.input, { settings: loadBatchSettings(), artifactsBucket: env('ARTIFACTS_BUCKET'), now: currentDate() });
  let text: string;
  try {
    text = await readText(s3Client(), target.manifest);
  } catch (error) {
    if ((error as Error).name !== 'NoSuchKey') throw error;
    throw new InvalidRequestError('manifest', `${target.manifest.uri} does not exist; upload the manifest first`);
  }
  const { items, rejected } = planItems(text, target.batchId, target.batchDate);
  if (items.length === 0) throw new InvalidRequestError('manifest', `${target.manifest.uri} has no job requests (one JSON object a line)`);
  const { rejectedLocation, ...plan } = target;
  await putText(s3Client(), target.items, items.map((item) => JSON.stringify(item)).join('\n') + '\n', 'application/jsonl');
  await putText(s3Client(), rejectedLocation, JSON.stringify(rejected), 'application/json');
  logger.info('planned', { batchId: target.batchId, items: items.length, rejected: rejected.length, manifest: target.manifest.uri });
  return { ...plan, itemCount: items.length, rejected: { count: rejected.length, location: rejectedLocation } };
}

export const handler = middy(planBatch).use(injectLambdaContext(logger));
