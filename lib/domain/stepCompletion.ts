/**
 * Event-driven completion of pooled steps (no SDK, no env): what EMR's EventBridge events say, and what a
 * step's waiting task token must be told so that the execution sees exactly what `addStep.sync` would have
 * given it — success with `{ Step }`, or `States.TaskFailed` with `{ Step }` (the step ended badly) or
 * `{ Step, Cluster }` (its cluster ended) as the JSON Cause. ClassifyFailure and the retry policy then work
 * unchanged.
 */
import * as z from 'zod';
import { EMR_EVENT, STATES_ERROR, STEP_ENDED_STATES } from '../contract';

/** The parts of an EMR step (DescribeStep / ListSteps shape) a settlement reports. */
export interface StepView {
  Id: string;
  Name?: string;
  Status: {
    State: string;
    StateChangeReason?: { Code?: string; Message?: string };
    FailureDetails?: { Reason?: string; Message?: string; LogFile?: string };
    Timeline?: { CreationDateTime?: string; StartDateTime?: string; EndDateTime?: string };
  };
}

/** The parts of an EMR cluster (DescribeCluster shape) a settlement reports when the cluster ended. */
export interface ClusterView {
  Id: string;
  Name?: string;
  Status: { State: string; StateChangeReason?: { Code?: string; Message?: string } };
}

export type Settlement = { outcome: 'success'; output: string } | { outcome: 'failure'; error: string; cause: string };

/** What a waiting token is told about its step, or null while the step has not ended. */
export function stepSettlement(step: StepView): Settlement | null {
  const state = step.Status.State;
  if (state === 'COMPLETED') return { outcome: 'success', output: JSON.stringify({ Step: step }) };
  if (STEP_ENDED_STATES.has(state)) return { outcome: 'failure', error: STATES_ERROR.taskFailed, cause: JSON.stringify({ Step: step }) };
  return null;
}

const EventEnvelope = {
  version: z.string(),
  id: z.string().min(1),
  source: z.literal(EMR_EVENT.source),
  account: z.string(),
  time: z.string(),
  region: z.string(),
  resources: z.array(z.string()),
};

/** "EMR Step Status Change" (EventBridge events reference: severity, actionOnFailure, stepId, name, clusterId, state, message). */
export const StepStatusChangeEvent = z.object({
  ...EventEnvelope,
  'detail-type': z.literal(EMR_EVENT.stepStatusChange),
  detail: z.object({
    severity: z.string(),
    actionOnFailure: z.string(),
    stepId: z.string().min(1),
    name: z.string(),
    clusterId: z.string().min(1),
    state: z.string().min(1),
    message: z.string(),
  }),
});
export type StepStatusChangeEvent = z.infer<typeof StepStatusChangeEvent>;

/** "EMR Cluster State Change" (severity, stateChangeReason as a JSON string, name, clusterId, state, message). */
export const ClusterStateChangeEvent = z.object({
  ...EventEnvelope,
  'detail-type': z.literal(EMR_EVENT.clusterStateChange),
  detail: z.object({
    severity: z.string(),
    stateChangeReason: z.string(),
    name: z.string(),
    clusterId: z.string().min(1),
    state: z.string().min(1),
    message: z.string(),
  }),
});
export type ClusterStateChangeEvent = z.infer<typeof ClusterStateChangeEvent>;

/**
 * The step an "EMR Step Status Change" event describes, in DescribeStep's shape: what the event carries, and
 * the timeline the step's mapping recorded (submitted, started — from its RUNNING event), ended at the event.
 */
export function stepFromEvent(event: StepStatusChangeEvent, recorded: { submittedAt?: number; startedAt?: string } = {}): StepView {
  const { stepId, name, state, message } = event.detail;
  const ended = STEP_ENDED_STATES.has(state);
  const timeline = {
    ...(recorded.submittedAt ? { CreationDateTime: new Date(recorded.submittedAt).toISOString() } : {}),
    ...(recorded.startedAt ? { StartDateTime: recorded.startedAt } : {}),
    ...(ended ? { EndDateTime: event.time } : {}),
  };
  return {
    Id: stepId,
    Name: name,
    Status: {
      State: state,
      ...(message ? { StateChangeReason: { Message: message } } : {}),
      ...(Object.keys(timeline).length > 0 ? { Timeline: timeline } : {}),
    },
  };
}

/** The cluster an "EMR Cluster State Change" event describes, in DescribeCluster's shape; its reason parsed. */
export function clusterFromEvent(event: ClusterStateChangeEvent): ClusterView {
  const { clusterId, name, state, stateChangeReason } = event.detail;
  let reason: { code?: unknown; message?: unknown } = {};
  try {
    reason = JSON.parse(stateChangeReason || '{}') as typeof reason;
  } catch {
    reason = { message: stateChangeReason };
  }
  const code = typeof reason.code === 'string' && reason.code ? reason.code : undefined;
  const message = typeof reason.message === 'string' && reason.message ? reason.message : undefined;
  return {
    Id: clusterId,
    Name: name,
    Status: { State: state, StateChangeReason: { ...(code ? { Code: code } : {}), ...(message ? { Message: message } : {}) } },
  };
}

/** A pooled job's Spark step, as AcquireCapacity (for the dispatcher's batch) and SubmitPooledStep take it. */
export const PooledStep = z.object({
  Name: z.string().min(1, 'must be the step name'),
  ActionOnFailure: z.literal('CONTINUE', { error: 'must be CONTINUE: a pool cluster runs several steps at once' }),
  HadoopJarStep: z.object({ Jar: z.string().min(1), Args: z.array(z.string()) }),
});

/** SubmitPooledStep (`lambda:invoke.waitForTaskToken`): the step for the leased cluster, and the token it settles. */
export const SubmitPooledStepInput = z.strictObject({
  clusterId: z.string().min(1, 'must be the leased cluster id ($.placement.slot.clusterId)'),
  step: PooledStep,
  /**
   * The slot from AcquireCapacity ($.placement.slot): when the dispatcher submitted the step in its cluster's
   * batch (`stepId`) or its batch refused it (`submitError`), RunPooledStep submits nothing.
   */
  slot: z.object({ stepId: z.string().min(1).optional(), submitError: z.object({ error: z.string(), cause: z.string() }).optional() }).optional(),
  execution: z.string().min(1, 'must be $$.Execution.Name'),
  taskToken: z.string().min(1, 'must be $$.Task.Token'),
});
export type SubmitPooledStepInput = z.infer<typeof SubmitPooledStepInput>;

/** SettleSteps: an EMR step or cluster event (its EventBridge rules), or the reconciliation schedule. */
export const SettleStepsInput = z.union([StepStatusChangeEvent, ClusterStateChangeEvent, z.object({ 'detail-type': z.literal('Scheduled Event') })]);
export type SettleStepsInput = z.infer<typeof SettleStepsInput>;
