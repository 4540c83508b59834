import { partitionBytes } from '../../lib/aws/catalog';
import { dynamoClient, env, glueClient, s3Client } from '../../lib/aws/clients';
import { functionLogger } from '../../lib/aws/logger';
import { lambdaHandler } from '../../lib/aws/middleware';
import { recentSuccessfulRuns } from '../../lib/aws/runs';
import { bytesUnder } from '../../lib/aws/storage';
import { DEFAULT_SIZING, sizeJob, usesCatalogSize } from '../../lib/domain/sizing';
import type { JobRequest, Sizing } from '../../lib/domain/types';

const logger = functionLogger('size-job');

/** `{ request }` → Sizing: the crawler's recorded size when the input is the catalogued partition, else an S3 listing. */
export async function sizeJobTask(event: { request: JobRequest }): Promise<Sizing> {
  const { request } = event;
  const catalog = request.job.catalog;
  let fromGlue: number | null = null;
  if (catalog && usesCatalogSize(request)) {
    try {
      fromGlue = await partitionBytes(glueClient(), { database: catalog.database, table: catalog.table, values: [request.runDate] });
    } catch (error) {
      // The listing gives the same answer more slowly; sizing must not fail a run the catalog cannot describe.
      logger.warn('Glue partition size unavailable, listing S3', { error: error as Error });
    }
  }
  const [inputBytes, history] = await Promise.all([
    fromGlue ?? bytesUnder(s3Client(), request.input),
    recentSuccessfulRuns(dynamoClient(), env('RUNS_TABLE'), request.job.name, DEFAULT_SIZING.historyLimit),
  ]);
  const sizing = sizeJob({
    request,
    inputBytes,
    bytesSource: fromGlue === null ? 's3' : 'glue',
    history,
    artifactsBucket: env('ARTIFACTS_BUCKET'),
  });
  logger.info('sized', { runId: request.runId, ...sizing, stepArgs: undefined });
  return sizing;
}

export const handler = lambdaHandler(sizeJobTask, { logger });
