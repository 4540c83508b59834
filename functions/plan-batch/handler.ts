import { putText, readText } from '../../lib/aws/batchStore';
import { env, s3Client } from '../../lib/aws/clients';
import { functionLogger } from '../../lib/aws/logger';
import { lambdaHandler } from '../../lib/aws/middleware';
import { loadBatchSettings } from '../../lib/config/batch';
import { batchTarget, planItems, type BatchPlan } from '../../lib/domain/batch';
import { currentDate } from '../../lib/clock';
import { InvalidRequestError, NothingScheduledError } from '../../lib/errors';

const logger = functionLogger('plan-batch');

/**
 * `{ input: <run-batch input> }` → the batch's plan. Reads the manifest and writes the Map's items file (one
 * item a line, each with its run-job execution name); a bad input or a missing manifest is Request.Invalid,
 * but a scheduled batch whose manifest is missing or empty has nothing to do (Schedule.NothingToDo, a success).
 */
export async function planBatch(event: { input: unknown }): Promise<BatchPlan> {
  const target = batchTarget(event.input, { settings: loadBatchSettings(), artifactsBucket: env('ARTIFACTS_BUCKET'), now: currentDate() });
  let text: string;
  try {
    text = await readText(s3Client(), target.manifest);
  } catch (error) {
    if ((error as Error).name !== 'NoSuchKey') throw error;
    if (target.scheduled)
      throw new NothingScheduledError(
        target.manifest.uri,
        `nothing to do: no manifest at ${target.manifest.uri} for batch ${target.batchId}; nothing was started.`,
      );
    throw new InvalidRequestError('manifest', `${target.manifest.uri} does not exist; upload the manifest first`);
  }
  const { items, rejected } = planItems(text, target.batchId, target.batchDate);
  if (items.length === 0 && target.scheduled) {
    throw new NothingScheduledError(
      target.manifest.uri,
      `nothing to do: the manifest ${target.manifest.uri} has no job requests for batch ${target.batchId}; nothing was started.`,
    );
  }
  if (items.length === 0) throw new InvalidRequestError('manifest', `${target.manifest.uri} has no job requests (one JSON object a line)`);
  const { rejectedLocation, scheduled: _scheduled, ...plan } = target;
  await putText(s3Client(), target.items, `${items.map((item) => JSON.stringify(item)).join('\n')}\n`, 'application/jsonl');
  await putText(s3Client(), rejectedLocation, JSON.stringify(rejected), 'application/json');
  logger.info('planned', { batchId: target.batchId, items: items.length, rejected: rejected.length, manifest: target.manifest.uri });
  return { ...plan, itemCount: items.length, rejected: { count: rejected.length, location: rejectedLocation } };
}

export const handler = lambdaHandler(planBatch, { logger });
