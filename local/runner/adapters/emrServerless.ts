/**
 * The optimized EMR Serverless integration (`arn:aws:states:::emr-serverless:<api>[.sync]`), as the Step
 * Functions developer guide describes it: the Task's PascalCase fields are StartJobRun's, and its result is
 * StartJobRun's response ({ ApplicationId, JobRunId, Arn }). `startJobRun.sync` then waits for the job run to
 * end: SUCCESS returns that result, FAILED or CANCELLED fail the Task with States.TaskFailed and the job run
 * (GetJobRun's `jobRun`) as Cause. An API error becomes `EMRServerless.<Exception>`.
 *
 * Stopping the execution stops the waiting, nothing more: whether Step Functions also cancels the job run the
 * guide does not say (its IAM example grants CancelJobRun), so the local runner does not, and run-job's
 * cleanup (cleanup-execution) cancels an aborted execution's job runs itself.
 */
import {
  CancelJobRunCommand,
  EMRServerlessClient,
  GetJobRunCommand,
  type JobRun,
  StartJobRunCommand,
  type StartJobRunCommandInput,
} from '@aws-sdk/client-emr-serverless';
import { serviceErrorParts, stepFunctionsJson, TaskError } from './errors';

export interface EmrServerlessAdapterOptions {
  client?: EMRServerlessClient;
  timeScale: number;
  minPollMs?: number;
  signal?: AbortSignal;
}

const DEFAULT_MIN_POLL_MS = 20;
/** GetJobRun every 30 s of emulated time while a job run is not over. */
const POLL_SECONDS = 30;
const ENDED = new Set(['SUCCESS', 'FAILED', 'CANCELLED']);

let shared: { endpoint: string | undefined; client: EMRServerlessClient } | undefined;
/**
 * Made on first use from AWS_ENDPOINT_URL_EMR_SERVERLESS as the runtime set it (again when a new runtime set
 * another), one attempt per call, as Step Functions makes.
 */
function defaultClient(): EMRServerlessClient {
  const endpoint = process.env.AWS_ENDPOINT_URL_EMR_SERVERLESS;
  if (!shared || shared.endpoint !== endpoint)
    shared = { endpoint, client: new EMRServerlessClient({ region: process.env.AWS_REGION ?? 'us-east-1', maxAttempts: 1 }) };
  return shared.client;
}

export function emrServerlessException(error: unknown): TaskError {
  if (error instanceof TaskError) return error;
  const { code, message, status, requestId } = serviceErrorParts(error);
  return new TaskError(
    `EMRServerless.${code}`,
    `${message} (Service: EmrServerless; Status Code: ${status}; Error Code: ${code}; Request ID: ${requestId}; Proxy: null)`,
  );
}

/** The Task's Parameters of the EMR Serverless integrations, in Step Functions' PascalCase. */
interface EmrServerlessTaskInput {
  ApplicationId: string;
  JobRunId: string;
  ClientToken?: string;
  ExecutionRoleArn: string;
  Name?: string;
  ExecutionTimeoutMinutes?: number;
  Tags?: Record<string, string>;
  ConfigurationOverrides?: StartJobRunCommandInput['configurationOverrides'];
  JobDriver?: { SparkSubmit?: { EntryPoint: string; EntryPointArguments?: string[]; SparkSubmitParameters?: string } };
}

export function emrServerlessIntegration(api: string, sync: boolean, options: EmrServerlessAdapterOptions): (input: unknown) => Promise<unknown> {
  const client = () => options.client ?? defaultClient();
  const call = async <T>(command: object): Promise<T> => {
    try {
      return (await client().send(command as never)) as T;
    } catch (error) {
      throw emrServerlessException(error);
    }
  };
  switch (api) {
    case 'startJobRun':
      return async (parameters) => {
        const input = parameters as EmrServerlessTaskInput;
        const driver = input.JobDriver?.SparkSubmit;
        const started = await call<{ applicationId: string; jobRunId: string; arn: string }>(
          new StartJobRunCommand({
            applicationId: input.ApplicationId,
            clientToken: input.ClientToken,
            executionRoleArn: input.ExecutionRoleArn,
            name: input.Name,
            executionTimeoutMinutes: input.ExecutionTimeoutMinutes,
            tags: input.Tags,
            configurationOverrides: input.ConfigurationOverrides,
            jobDriver: driver
              ? {
                  sparkSubmit: {
                    entryPoint: driver.EntryPoint,
                    entryPointArguments: driver.EntryPointArguments,
                    sparkSubmitParameters: driver.SparkSubmitParameters,
                  },
                }
              : undefined,
          }),
        );
        const result = { ApplicationId: started.applicationId, JobRunId: started.jobRunId, Arn: started.arn };
        if (!sync) return result;
        await poll(options, async () => {
          const run = await readJobRun(client(), started.applicationId, started.jobRunId);
          if (!run || !ENDED.has(run.state ?? '')) return false;
          if (run.state === 'SUCCESS') return true;
          throw new TaskError('States.TaskFailed', JSON.stringify(stepFunctionsJson({ jobRun: run })));
        });
        return result;
      };
    case 'cancelJobRun':
      return async (parameters) => {
        const input = parameters as EmrServerlessTaskInput;
        await call(new CancelJobRunCommand({ applicationId: input.ApplicationId, jobRunId: input.JobRunId }));
        if (sync) await poll(options, async () => ENDED.has((await readJobRun(client(), input.ApplicationId, input.JobRunId))?.state ?? ''));
        return { ApplicationId: input.ApplicationId, JobRunId: input.JobRunId };
      };
    default:
      throw new Error(`emr-serverless:${api} is not supported by the local runner (startJobRun, cancelJobRun are)`);
  }
}

/** A poll error (a throttled GetJobRun) is not a task failure: Step Functions polls again. */
async function readJobRun(client: EMRServerlessClient, applicationId: string, jobRunId: string): Promise<JobRun | undefined> {
  try {
    return (await client.send(new GetJobRunCommand({ applicationId, jobRunId }))).jobRun;
  } catch (error) {
    const { code } = serviceErrorParts(error);
    if (code === 'ThrottlingException' || code === 'InternalServerException') return undefined;
    throw emrServerlessException(error);
  }
}

async function poll({ timeScale, minPollMs = DEFAULT_MIN_POLL_MS, signal }: EmrServerlessAdapterOptions, done: () => Promise<boolean>): Promise<void> {
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, Math.max(minPollMs, POLL_SECONDS * 1000 * timeScale)));
    if (signal?.aborted) throw new TaskError('States.Runtime', 'The execution stopped; the integration no longer waits');
    if (await done()) return;
  }
}
