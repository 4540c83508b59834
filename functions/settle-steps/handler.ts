import { functionLogger } from '../../lib/aws/logger';
import { lambdaHandler } from '../../lib/aws/middleware';
import { awsJobManager, dynamoStepTokens, listSteps, sendFailure, sendHeartbeat, sendSuccess } from '../../lib/aws/poolRuntime';
import type { ReconcileReport, SettleResult } from '../../lib/jobManager/jobManager';
import { CLUSTER_ENDED_STATES, EMR_EVENT, STEP_CANCELLED_STATES, STEP_ENDED_STATES } from '../../lib/contract';
import { parseRequestInput } from '../../lib/schema';
import { clusterFromEvent, SettleStepsInput, stepFromEvent, stepSettlement } from '../../lib/domain/stepCompletion';

const logger = functionLogger('settle-steps');

export type SettleStepsResult =
  | { step: string; result: SettleResult | 'started' | 'running' | 'deferred' }
  | { cluster: string; failed: Record<SettleResult, number> }
  | { reconciled: ReconcileReport };

/**
 * Tells pooled steps' waiting task tokens how their steps ended:
 *   - "EMR Step Status Change": the step's token, when the step completed or failed (a duplicate finds it
 *     settled), with the step's timeline (its RUNNING event's time is kept on the mapping for that); a
 *     cancelled step is left to its cluster's event or the sweep;
 *   - "EMR Cluster State Change" to TERMINATED / TERMINATED_WITH_ERRORS (EMR sends none for TERMINATING):
 *     every token still on that cluster fails with the cluster's reason;
 *   - the schedule ("Scheduled Event"): the reconciliation sweep for events that never came.
 */
export async function settleSteps(event: unknown): Promise<SettleStepsResult> {
  const input = parseRequestInput(SettleStepsInput, event);
  const jobManager = awsJobManager({ stepTokens: dynamoStepTokens(), emr: { listSteps }, sfn: { sendSuccess, sendFailure, sendHeartbeat } });
  if (input['detail-type'] === EMR_EVENT.stepStatusChange) {
    const { clusterId, stepId, state } = input.detail;
    // Nothing of emrflow cancels a pooled step: a cancelled one went with its cluster, whose event (or the
    // sweep, for a step cancelled by hand) tells the token with the cluster's reason.
    let result: SettleResult | 'started' | 'running' | 'deferred';
    if (STEP_CANCELLED_STATES.has(state)) result = 'deferred';
    else if (STEP_ENDED_STATES.has(state))
      result = await jobManager.settleStep(clusterId, stepId, (claimed) => endedStepSettlement(stepFromEvent(input, claimed)));
    else if (state === 'RUNNING') result = (await jobManager.noteStepStarted(clusterId, stepId, input.time)) ? 'started' : 'absent';
    else result = 'running';
    logger.info('step event', { clusterId: input.detail.clusterId, stepId: input.detail.stepId, state: input.detail.state, result });
    return { step: input.detail.stepId, result };
  }
  if (input['detail-type'] === EMR_EVENT.clusterStateChange) {
    const cluster = clusterFromEvent(input);
    const ending = CLUSTER_ENDED_STATES.has(cluster.Status.State);
    const failed = ending ? await jobManager.failClusterSteps(cluster) : { settled: 0, absent: 0, gone: 0 };
    logger.info('cluster event', { clusterId: cluster.Id, state: cluster.Status.State, failed });
    return { cluster: cluster.Id, failed };
  }
  const reconciled = await jobManager.reconcileSteps();
  logger.info('reconciled', { ...reconciled });
  return { reconciled };
}

export const handler = lambdaHandler(settleSteps, { logger });

/** An ended step's settlement: every ended state has one (lib/domain/stepCompletion.ts). */
function endedStepSettlement(step: Parameters<typeof stepSettlement>[0]): NonNullable<ReturnType<typeof stepSettlement>> {
  const settlement = stepSettlement(step);
  if (!settlement) throw new Error(`step ${step.Id} in state ${step.Status.State} has not ended`);
  return settlement;
}
