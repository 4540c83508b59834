import { functionLogger } from '../../lib/aws/logger';
import { lambdaHandler } from '../../lib/aws/middleware';
import { addStep, awsJobManager, sendFailure, sendSuccess, stepTokenAttacher, stepTokenWriter } from '../../lib/aws/poolRuntime';
import { parseRequestInput } from '../../lib/schema';
import { SubmitPooledStepInput } from '../../lib/domain/stepCompletion';
import { EmrApiError, EmrThrottledError } from '../../lib/errors';

const logger = functionLogger('submit-pooled-step');

/**
 * `{ clusterId, step, execution, taskToken, slot? }` (a `.waitForTaskToken` task). The execution resumes when
 * SettleSteps tells the token how the step ended (EMR's events, or the reconciliation sweep).
 *   - `slot.stepId`: the dispatcher submitted the step in its cluster's batch (one AddJobFlowSteps for every
 *     job it granted there), so this submits nothing: it attaches the token to the step's mapping (a step
 *     that already ended is told at once).
 *   - `slot.submitError`: that batch refused this job's step; the error is thrown under the name a refused
 *     AddJobFlowSteps of its own would have (RunPooledStep's Catch → ClassifyFailure), so nothing is submitted.
 *   - neither (a job parked without its step): AddJobFlowSteps here, then the step → token mapping.
 * Returns `{ StepId }` for logs and tests.
 */
export async function submitPooledStepTask(event: unknown): Promise<{ StepId: string }> {
  const input = parseRequestInput(SubmitPooledStepInput, event);
  const { stepId, submitError } = input.slot ?? {};
  if (submitError) {
    logger.warn('refused in the dispatcher batch', { clusterId: input.clusterId, step: input.step.Name, execution: input.execution, ...submitError });
    throw submitError.error === EmrThrottledError.errorName ? new EmrThrottledError(submitError.cause) : new EmrApiError(submitError.cause);
  }
  if (stepId) {
    const attached = await awsJobManager({ stepTokens: stepTokenAttacher(), sfn: { sendSuccess, sendFailure } }).attachStep({
      clusterId: input.clusterId,
      stepId,
      taskToken: input.taskToken,
    });
    logger.info(attached.settled ? 'told a step that had ended' : 'attached', {
      clusterId: input.clusterId,
      stepId,
      step: input.step.Name,
      execution: input.execution,
    });
    return { StepId: stepId };
  }
  const submitted = await awsJobManager({ stepTokens: stepTokenWriter(), emr: { addStep } }).submitStep(input);
  logger.info('submitted', { clusterId: input.clusterId, stepId: submitted.StepId, step: input.step.Name, execution: input.execution });
  return submitted;
}

export const handler = lambdaHandler(submitPooledStepTask, { logger });
