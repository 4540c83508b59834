import { releaseClaim } from '../../lib/aws/claims';
import { dynamoClient, emrClient, emrServerlessClient, env } from '../../lib/aws/clients';
import { cancelNamedSteps, listAppClusters, terminateClusters } from '../../lib/aws/emr';
import { functionLogger } from '../../lib/aws/logger';
import { lambdaHandler } from '../../lib/aws/middleware';
import { awsJobManager, cancelSteps, dynamoRegistry, listSteps, liveStepReader } from '../../lib/aws/poolRuntime';
import type { ExecutionHoldings } from '../../lib/jobManager/jobManager';
import { cancelJobRuns, listActiveJobRuns } from '../../lib/aws/serverlessJobRuns';
import { jobRunsOfRun } from '../../lib/domain/serverless';
import { putRun } from '../../lib/aws/runs';
import { loadJobsForStage } from '../../lib/config/jobs';
import { loadPools } from '../../lib/config/pools';
import { loadPrices } from '../../lib/config/prices';
import { isDedicatedClusterName, stepName } from '../../lib/contract';
import { parseLeaseId } from '../../lib/domain/pools';
import {
  abandonedRunRecord,
  claimToRelease,
  executionClusters,
  parseExecutionEnd,
  pooledRunRecord,
  type ClusterAction,
  type ExecutionEnd,
  type RunOfExecution,
} from '../../lib/domain/cleanup';
import { parseTrigger } from '../../lib/domain/request';

const logger = functionLogger('cleanup-execution');
const jobs = loadJobsForStage(process.env.STAGE);
const pools = loadPools(loadPrices()).pools.map((pool) => pool.name);

export interface CleanupResult {
  execution: string;
  status: string;
  terminated: ClusterAction[];
  /** Pool leases given back and queue entries withdrawn (found by the execution's name). */
  pools: ExecutionHoldings;
  /** The run's steps still running on a pool cluster, cancelled with its lease. */
  cancelledSteps: Array<{ clusterId: string; stepId: string }>;
  /** The run's EMR Serverless job runs still active, cancelled (found by the name run-job gives them). */
  cancelledJobRuns: string[];
  recorded: boolean;
  /** The run id whose claim was released (the run may start again), or null. */
  releasedClaim: string | null;
}

/**
 * EventBridge "Step Functions Execution Status Change" (ABORTED, TIMED_OUT, FAILED) of run-job → terminates
 * the execution's dedicated clusters, which stopping an execution never does, gives back its pool leases and
 * queue entries (cancelling its step on a pool cluster), records an abandoned run and releases its claim, so the same trigger can run it again.
 * Delivered at least once: every action is idempotent.
 */
export async function cleanupExecution(event: unknown): Promise<CleanupResult> {
  const end = parseExecutionEnd(event);
  // Dedicated clusters made since the execution started (a minute of slack: two clocks), ended ones too: a
  // cluster its idle policy already ended still names the run whose claim and record are due.
  const clusters = await listAppClusters(emrClient(), {
    stage: env('STAGE'),
    createdAfter: new Date(end.startedAt - 60_000),
    includeEnded: true,
    name: isDedicatedClusterName,
  });
  const terminate = executionClusters(end, clusters);
  for (const action of terminate) logger.info('terminating', { execution: end.executionName, ...action });
  await terminateClusters(
    emrClient(),
    terminate.map((action) => action.clusterId),
  );
  // A lease whose step EMR may still run is kept until the step is seen ended (its step is cancelled first).
  const held = await awsJobManager({ registry: dynamoRegistry(), stepTokens: liveStepReader(), emr: { cancelSteps, listSteps } }).releaseExecution(
    pools,
    end.executionName,
  );
  for (const lease of held.leases) logger.info(lease.released ? 'released lease' : 'lease already gone', { execution: end.executionName, ...lease });
  for (const entry of held.entries)
    logger.info(entry.withdrawn ? 'withdrew queue entry' : 'queue entry being granted: its grant gives the lease back', {
      execution: end.executionName,
      ...entry,
    });
  const run = runOf(end);
  const cancelledSteps: CleanupResult['cancelledSteps'] = [];
  for (const lease of run ? held.leases : []) {
    const attempt = parseLeaseId(lease.lease)?.attempt;
    if (!run || attempt === undefined) continue;
    for (const stepId of await cancelNamedSteps(emrClient(), lease.clusterId, stepName(run.job, run.runId, attempt))) {
      logger.info('cancelled step', { execution: end.executionName, clusterId: lease.clusterId, stepId });
      cancelledSteps.push({ clusterId: lease.clusterId, stepId });
    }
  }
  const cancelledJobRuns = run ? await cancelServerlessJobRuns(end, run) : [];
  const claim = claimToRelease(end, clusters, run);
  const released = claim ? await releaseClaim(dynamoClient(), env('CLAIMS_TABLE'), claim) : false;
  if (claim) logger.info(released ? 'released claim' : 'claim not ours or gone', { ...claim });
  const record = abandonedRunRecord(end, clusters) ?? pooledRunRecord(end, run, held, released);
  if (record) await putRun(dynamoClient(), env('RUNS_TABLE'), record);
  logger.info('cleaned up', {
    execution: end.executionName,
    status: end.status,
    terminated: terminate.length,
    leases: held.leases.length,
    entries: held.entries.length,
    recorded: Boolean(record),
  });
  return {
    execution: end.executionName,
    status: end.status,
    terminated: terminate,
    pools: held,
    cancelledSteps,
    cancelledJobRuns,
    recorded: Boolean(record),
    releasedClaim: released && claim ? claim.runId : null,
  };
}

/** Cancels the run's active EMR Serverless job runs (created since the execution started, a minute of slack). */
async function cancelServerlessJobRuns(end: ExecutionEnd, run: RunOfExecution): Promise<string[]> {
  const applicationId = process.env.SERVERLESS_APPLICATION_ID;
  if (!applicationId) return [];
  const active = await listActiveJobRuns(emrServerlessClient(), applicationId, { createdAfter: new Date(end.startedAt - 60_000) });
  const { cancelled, deferred } = await cancelJobRuns(emrServerlessClient(), jobRunsOfRun(active, run));
  for (const jobRunId of cancelled) logger.info('cancelled job run', { execution: end.executionName, applicationId, jobRunId });
  // Throttled: fail the invocation, so that the event's retry (Lambda's asynchronous retries) cancels the rest.
  if (deferred.length > 0)
    throw new Error(`CancelJobRun throttled: ${deferred.length} job run(s) of ${end.executionName} left to the retry: ${deferred.join(', ')}`);
  return cancelled;
}

/** The run the execution's trigger names, as NormalizeRequest made it (same jobs, same buckets, its start time). */
function runOf(end: ExecutionEnd): RunOfExecution | null {
  if (end.input === null) return null;
  try {
    const request = parseTrigger(end.input, { jobs, rawBucket: env('RAW_BUCKET'), artifactsBucket: env('ARTIFACTS_BUCKET'), now: new Date(end.startedAt) });
    return { job: request.job.name, runId: request.runId };
  } catch {
    // A trigger NormalizeRequest refused never claimed anything.
    return null;
  }
}

export const handler = lambdaHandler(cleanupExecution, { logger });
