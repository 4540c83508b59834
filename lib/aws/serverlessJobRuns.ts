/**
 * This app's EMR Serverless job runs, for the cleanup and the reaper: the active ones on its application
 * (ListJobRuns, newest first, paged), each with its tags (GetJobRun), and their cancellation (CancelJobRun,
 * idempotent: a job run that has ended meanwhile is not an error).
 */
import { CancelJobRunCommand, GetJobRunCommand, type JobRun, ListJobRunsCommand, type EMRServerlessClient } from '@aws-sdk/client-emr-serverless';
import type { ServerlessJobRunView } from '../domain/serverless';

/** Job run states that hold workers or will: what a cleanup must cancel. */
export const ACTIVE_JOB_RUN_STATES = ['SUBMITTED', 'PENDING', 'SCHEDULED', 'RUNNING', 'QUEUED'] as const;

export async function listActiveJobRuns(
  client: EMRServerlessClient,
  applicationId: string,
  options: { createdAfter?: Date } = {},
): Promise<ServerlessJobRunView[]> {
  const runs: ServerlessJobRunView[] = [];
  let nextToken: string | undefined;
  do {
    const page = await client.send(
      new ListJobRunsCommand({ applicationId, states: [...ACTIVE_JOB_RUN_STATES], createdAtAfter: options.createdAfter, nextToken }),
    );
    for (const run of page.jobRuns ?? []) {
      if (!run.id) continue;
      runs.push({ applicationId, jobRunId: run.id, name: run.name ?? '', state: run.state ?? '', createdAt: run.createdAt?.getTime() ?? 0, tags: {} });
    }
    nextToken = page.nextToken;
  } while (nextToken);
  return runs;
}

/** GetJobRun: one job run as EMR Serverless reports it (its state, tags and billed utilization), or null. */
export async function getJobRun(client: EMRServerlessClient, ids: { applicationId: string; jobRunId: string }): Promise<JobRun | null> {
  return (await client.send(new GetJobRunCommand(ids))).jobRun ?? null;
}

/** The job runs with their tags (ListJobRuns has none: one GetJobRun each). */
export async function withJobRunTags(client: EMRServerlessClient, runs: ServerlessJobRunView[]): Promise<ServerlessJobRunView[]> {
  const tagged: ServerlessJobRunView[] = [];
  for (const run of runs) tagged.push({ ...run, tags: (await getJobRun(client, { applicationId: run.applicationId, jobRunId: run.jobRunId }))?.tags ?? {} });
  return tagged;
}

/**
 * Cancels each job run, in order; returns those whose cancellation was accepted (an ended one answers
 * ValidationException) and those left for the next pass. CancelJobRun's quota is 1/s with a burst of 25
 * (local/planner/quotaQueue.ts models it): when EMR Serverless still throttles after the SDK's own retries,
 * the rest are `deferred` rather than thrown, so a reaper with a backlog cancels what it can each run instead of
 * failing each run at the same place.
 */
export async function cancelJobRuns(
  client: EMRServerlessClient,
  runs: Array<Pick<ServerlessJobRunView, 'applicationId' | 'jobRunId'>>,
): Promise<{ cancelled: string[]; deferred: string[] }> {
  const cancelled: string[] = [];
  for (const [index, run] of runs.entries()) {
    try {
      await client.send(new CancelJobRunCommand({ applicationId: run.applicationId, jobRunId: run.jobRunId }));
      cancelled.push(run.jobRunId);
    } catch (error) {
      const name = (error as Error).name;
      if (name === 'ThrottlingException') return { cancelled, deferred: runs.slice(index).map((rest) => rest.jobRunId) };
      if (name !== 'ValidationException') throw error;
    }
  }
  return { cancelled, deferred: [] };
}
