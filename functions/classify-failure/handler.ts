import { emrClient } from '../../lib/aws/clients';
import { observeCluster } from '../../lib/aws/emr';
import { functionLogger } from '../../lib/aws/logger';
import { lambdaHandler } from '../../lib/aws/middleware';
import { classifyFailure, clusterIdOf, type Observation } from '../../lib/domain/failure';
import { runStepName } from '../../lib/domain/runRecord';
import type { Failure, JobRequest, Placement } from '../../lib/domain/types';

const logger = functionLogger('classify-failure');

export interface ClassifyFailureEvent {
  request: JobRequest;
  attempt: number;
  placement?: Placement | null;
  error?: { Error?: string; Cause?: string } | null;
}

/** `{ request, attempt, placement, error }` → Failure. EMR trouble never fails it: it classifies on what it saw. */
export async function classifyFailureTask(event: ClassifyFailureEvent): Promise<Failure> {
  const error = event.error ?? {};
  const placement = event.placement ?? null;
  const clusterId = clusterIdOf(placement, error.Cause);
  const observation: Observation = clusterId
    ? await observeCluster(emrClient(), clusterId, runStepName(event.request, event.attempt), { sharedCluster: placement?.mode === 'pool' })
    : { apiErrors: [] };
  const failure = classifyFailure({
    error,
    attempt: event.attempt,
    maxAttempts: event.request.job.maxAttempts,
    placement,
    clusterId,
    observation,
  });
  logger.info('classified', { runId: event.request.runId, attempt: event.attempt, ...failure });
  return failure;
}

export const handler = lambdaHandler(classifyFailureTask, { logger });
