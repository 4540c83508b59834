import { findResultManifest, putText, readMapResults, readText } from '../../lib/aws/batchStore';
import { s3Client } from '../../lib/aws/clients';
import { functionLogger } from '../../lib/aws/logger';
import { lambdaHandler } from '../../lib/aws/middleware';
import { formatSummaryMessage, summarizeBatch, type BatchPlan, type BatchSummary, type RejectedLine } from '../../lib/domain/batch';

const logger = functionLogger('summarize-batch');

export interface SummarizeBatchInput {
  plan: BatchPlan;
  /** The Map's output with ResultWriter (`{ MapRunArn, ResultWriterDetails: { Bucket, Key } }`), or null when it failed. */
  results: { ResultWriterDetails?: { Bucket: string; Key: string } } | null;
  /** The Map's error when it failed. */
  mapError: { Error?: string; Cause?: string } | null;
}

/** Reads the Map's result files, writes the batch summary to S3 and returns it with the alarm message. */
export async function summarizeBatchRun(event: SummarizeBatchInput): Promise<BatchSummary & { message: string }> {
  const s3 = s3Client();
  const details = event.results?.ResultWriterDetails;
  const manifest = details ? { bucket: details.Bucket, key: details.Key } : await findResultManifest(s3, event.plan.results.bucket, event.plan.results.prefix);
  const entries = manifest ? await readMapResults(s3, manifest) : [];
  const rejected = event.plan.rejected.count > 0 ? (JSON.parse(await readText(s3, event.plan.rejected.location)) as RejectedLine[]) : [];
  const summary = summarizeBatch(event.plan, entries, {
    rejected,
    mapError: event.mapError,
    resultsUri: manifest ? `s3://${manifest.bucket}/${manifest.key}` : null,
  });
  await putText(s3, event.plan.summary, JSON.stringify(summary, null, 2), 'application/json');
  logger.info('summarized', {
    batchId: summary.batchId,
    status: summary.status,
    succeeded: summary.succeeded,
    failed: summary.failed,
    duplicates: summary.duplicates,
  });
  return { ...summary, message: formatSummaryMessage(summary) };
}

export const handler = lambdaHandler(summarizeBatchRun, { logger });
