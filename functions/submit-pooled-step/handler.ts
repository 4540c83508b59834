import { functionLogger } from '../../lib/aws/logger';
import { lambdaHandler } from '../../lib/aws/middleware';
import { addStep, awsJobManager, stepTokenWriter } from '../../lib/aws/poolRuntime';
import { parseRequestInput } from '../../lib/schema';
import { SubmitPooledStepInput } from '../../lib/domain/stepCompletion';

const logger = functionLogger('submit-pooled-step');

/**
 * `{ clusterId, step, execution, taskToken }` (a `.waitForTaskToken` task) → AddJobFlowSteps on the leased
 * cluster and the step → token mapping. The execution resumes when SettleSteps tells the token how the step
 * ended (EMR's events, or the reconciliation sweep). Returns `{ StepId }` for logs and tests.
 */
export async function submitPooledStepTask(event: unknown): Promise<{ StepId: string }> {
  const input = parseRequestInput(SubmitPooledStepInput, event);
  const submitted = await awsJobManager({ stepTokens: stepTokenWriter(), emr: { addStep } }).submitStep(input);
  logger.info('submitted', { clusterId: input.clusterId, stepId: submitted.StepId, step: input.step.Name, execution: input.execution });
  return submitted;
}

export const handler = lambdaHandler(submitPooledStepTask, { logger });
