import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { releaseClaim } from '../../lib/aws/claims';
import { dynamoClient, emrClient, env } from '../../lib/aws/clients';
import { listAppClusters, terminateClusters } from '../../lib/aws/clusters';
import { functionLogger } from '../../lib/aws/logger';
import { isDedicatedClusterName } from '../../lib/contract';
import { stableErrorNames } from '../../lib/aws/middleware';
import { putRun } from '../../lib/aws/runs';
import { abandonedRunRecord, claimToRelease, executionClusters, parseExecutionEnd, type ClusterAction } from '../../lib/domain/cleanup';

const logger = functionLogger('cleanup-execution');

export interface CleanupResult {
  execution: string;
  status: string;
  terminated: ClusterAction[];
  recorded: boolean;
  /** The run id whose claim was released (the run may start again), or null. */
  releasedClaim: string | null;
}

/**
 * EventBridge "Step Functions Execution Status Change" (ABORTED, TIMED_OUT, FAILED) of run-job → terminates
 * the execution's dedicated clusters, which stopping an execution never does, records an abandoned run and
 * releases its claim, so the same trigger can run it again.
 * Delivered at least once: every action is idempotent.
 */
export async function cleanupExecution(event: unknown): Promise<CleanupResult> {
  const end = parseExecutionEnd(event);
  // Dedicated clusters made since the execution started (a minute of slack: two clocks), ended ones too: a
  // cluster its idle policy already ended still names the run whose claim and record are due.
  const clusters = await listAppClusters(emrClient(), {
    createdAfter: new Date(end.startedAt - 60_000),
    includeEnded: true,
    name: isDedicatedClusterName,
  });
  const terminate = executionClusters(end, clusters);
  for (const action of terminate) logger.info('terminating', { execution: end.executionName, ...action });
  await terminateClusters(emrClient(), terminate.map((action) => action.clusterId));
  const record = abandonedRunRecord(end, clusters);
  if (record) await putRun(dynamoClient(), env('RUNS_TABLE'), record);
  const claim = claimToRelease(end, clusters);
  const released = claim ? await releaseClaim(dynamoClient(), env('CLAIMS_TABLE'), claim) : false;
  if (claim) logger.info(released ? 'released claim' : 'claim not ours or gone', { ...claim });
  logger.info('cleaned up', { execution: end.executionName, status: end.status, terminated: terminate.length, recorded: Boolean(record) });
  return { execution: end.executionName, status: end.status, terminated: terminate, recorded: Boolean(record), releasedClaim: released ? claim!.runId : null };
}

export const handler = middy(cleanupExecution).use(injectLambdaContext(logger)).use(stableErrorNames());
