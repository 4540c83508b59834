/**
 * The optimized EMR integrations (`arn:aws:states:::elasticmapreduce:<api>[.sync]`), with the semantics
 * the Step Functions developer guide gives them:
 *   createCluster     RunJobFlow → { ClusterId, ClusterArn }; .sync then waits for WAITING/RUNNING and
 *                     fails States.TaskFailed with the cluster description as Cause if it terminates.
 *   addStep           AddJobFlowSteps with the one `Step` → { StepId }; .sync waits for COMPLETED and
 *                     returns DescribeStep's output, failing States.TaskFailed with the step as Cause when
 *                     it ends FAILED/CANCELLED or its cluster terminates.
 *   terminateCluster  TerminateJobFlows → {}; .sync waits for TERMINATED / TERMINATED_WITH_ERRORS.
 * An API error becomes `EMR.AmazonElasticMapReduceException`, its Cause worded as Step Functions words it.
 * Polling follows AWS (every 60 s for 10 minutes, then every 300 s) on the emulator's compressed clock.
 */
import { CLUSTER_ENDED_STATES, CLUSTER_READY_STATES, STATES_ERROR, STEP_UNSUCCESSFUL_STATES } from '../../../lib/contract';
import {
  AddJobFlowStepsCommand,
  DescribeClusterCommand,
  DescribeStepCommand,
  type EMRClient,
  RunJobFlowCommand,
  TerminateJobFlowsCommand,
  type Cluster,
  type Step,
  type StepConfig,
  type RunJobFlowCommandInput,
} from '@aws-sdk/client-emr';
import { serviceErrorParts, stepFunctionsJson as jsonSafe, TaskError } from './errors';

export interface EmrAdapterOptions {
  client: EMRClient;
  timeScale: number;
  /** Real milliseconds between polls never drop below this, however small the time scale. */
  minPollMs?: number;
  /** The execution stopped (aborted, timed out): stop polling. */
  signal?: AbortSignal;
}

const DEFAULT_MIN_POLL_MS = 20;

/** The Task's Parameters of the EMR integrations (what run-job's states pass). */
interface EmrTaskInput {
  ClusterId: string;
  Step?: StepConfig;
  [field: string]: unknown;
}

export function emrIntegration(api: string, sync: boolean, options: EmrAdapterOptions): (input: unknown) => Promise<unknown> {
  const { client } = options;
  const call = async <T>(command: { input: unknown }): Promise<T> => {
    try {
      return (await client.send(command as never)) as T;
    } catch (error) {
      throw emrException(error);
    }
  };
  const poll = pollerFor(options);

  switch (api) {
    case 'createCluster':
      return async (input) => {
        const created = await call<{ JobFlowId?: string; ClusterArn?: string }>(new RunJobFlowCommand(input as RunJobFlowCommandInput));
        const result = { ClusterId: created.JobFlowId, ClusterArn: created.ClusterArn };
        if (!sync) return result;
        await poll(async () => {
          const cluster = await describeCluster(client, String(created.JobFlowId));
          if (!cluster) return false;
          const state = cluster.Status?.State ?? '';
          if (CLUSTER_READY_STATES.has(state)) return true;
          if (CLUSTER_ENDED_STATES.has(state)) throw new TaskError(STATES_ERROR.taskFailed, JSON.stringify(jsonSafe(cluster)));
          return false;
        });
        return result;
      };
    case 'addStep':
      return async (input) => {
        const { ClusterId, Step: step, ...rest } = input as EmrTaskInput;
        const added = await call<{ StepIds?: string[] }>(new AddJobFlowStepsCommand({ ...rest, JobFlowId: ClusterId, Steps: [step as StepConfig] }));
        const stepId = added.StepIds?.[0];
        if (!sync) return { StepId: stepId };
        let finished: Step | undefined;
        await poll(async () => {
          const step = await describeStep(client, ClusterId, String(stepId));
          const state = step?.Status?.State ?? '';
          if (state === 'COMPLETED') {
            finished = step;
            return true;
          }
          if (STEP_UNSUCCESSFUL_STATES.has(state)) {
            throw new TaskError(STATES_ERROR.taskFailed, JSON.stringify(jsonSafe({ Step: step })));
          }
          const cluster = await describeCluster(client, ClusterId);
          if (cluster && CLUSTER_ENDED_STATES.has(cluster.Status?.State ?? '')) {
            throw new TaskError(STATES_ERROR.taskFailed, JSON.stringify(jsonSafe({ Step: step, Cluster: cluster })));
          }
          return false;
        });
        return jsonSafe({ Step: finished });
      };
    case 'terminateCluster':
      return async (input) => {
        const { ClusterId } = input as EmrTaskInput;
        await call(new TerminateJobFlowsCommand({ JobFlowIds: [ClusterId] }));
        if (sync) {
          await poll(async () => CLUSTER_ENDED_STATES.has((await describeCluster(client, ClusterId))?.Status?.State ?? ''));
        }
        return {};
      };
    default:
      throw new Error(`elasticmapreduce:${api} is not supported by the local runner (createCluster, addStep, terminateCluster are)`);
  }
}

export function emrException(error: unknown): TaskError {
  if (error instanceof TaskError) return error;
  const { code, message, status, requestId } = serviceErrorParts(error);
  return new TaskError(
    'EMR.AmazonElasticMapReduceException',
    `${message} (Service: AmazonElasticMapReduce; Status Code: ${status}; Error Code: ${code}; Request ID: ${requestId}; Proxy: null)`,
  );
}

/** A poll error (a throttled Describe*) is not a task failure: Step Functions just polls again. */
async function tolerant<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (error) {
    const { code } = serviceErrorParts(error);
    if (code === 'ThrottlingException' || code === 'ThrottledException' || code === 'InternalServerError') return undefined;
    throw emrException(error);
  }
}

async function describeCluster(client: EMRClient, clusterId: string): Promise<Cluster | undefined> {
  return (await tolerant(() => client.send(new DescribeClusterCommand({ ClusterId: clusterId }))))?.Cluster;
}

async function describeStep(client: EMRClient, clusterId: string, stepId: string): Promise<Step | undefined> {
  return (await tolerant(() => client.send(new DescribeStepCommand({ ClusterId: clusterId, StepId: stepId }))))?.Step;
}

function pollerFor({ timeScale, minPollMs = DEFAULT_MIN_POLL_MS, signal }: EmrAdapterOptions) {
  return async (done: () => Promise<boolean>): Promise<void> => {
    const started = Date.now();
    for (;;) {
      const simulatedElapsed = (Date.now() - started) / 1000 / timeScale;
      const intervalSeconds = simulatedElapsed < 600 ? 60 : 300;
      await new Promise((resolve) => setTimeout(resolve, Math.max(minPollMs, intervalSeconds * 1000 * timeScale)));
      if (signal?.aborted) throw new TaskError('States.Runtime', 'The execution stopped; the integration no longer waits');
      if (await done()) return;
    }
  };
}
