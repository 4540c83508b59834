/**
 * Pooled steps completed by EMR's events, not by polling (ARCHITECTURE §5, issue 10).
 *
 *   submitPooledStep   AddJobFlowSteps on the leased cluster (the only EMR call a pooled job makes itself),
 *                      then the step → task token mapping in the step-tokens table (PK clusterId, SK stepId).
 *   settleStep         claims the mapping with a conditional delete and tells its token: whoever deletes it
 *                      (an event, a duplicate of it, the sweep) is the only one who sends, so nothing is
 *                      settled twice. A send that fails for another reason than a gone waiter puts it back.
 *   failClusterSteps   a cluster ended: every token still mapped on it fails with the cluster's reason.
 *   reconcileSteps     the safety net for lost events: one ListSteps per cluster that still has mappings
 *                      (pages are newest first, so paging stops once every waiting step was seen), settling
 *                      what ended and heartbeating what still runs.
 */
import { AddJobFlowStepsCommand, ListStepsCommand, type StepConfig, type StepSummary } from '@aws-sdk/client-emr';
import { SendTaskFailureCommand, SendTaskHeartbeatCommand, SendTaskSuccessCommand } from '@aws-sdk/client-sfn';
import { DeleteCommand, PutCommand, QueryCommand, ScanCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { STATES_ERROR, TASK_TOKEN_GONE } from '../contract';
import { stepSettlement, type ClusterView, type Settlement, type StepView } from '../domain/stepCompletion';
import { EmrApiError } from '../errors';
import { dynamoClient, emrClient, env, sfnClient } from './clients';

export interface StepTokenItem {
  clusterId: string;
  stepId: string;
  stepName: string;
  taskToken: string;
  execution: string;
  /** Epoch ms. */
  submittedAt: number;
  /** When its RUNNING event came (the event's time), if it came: the start of the step's timeline. */
  startedAt?: string;
}

export interface SubmitPooledStepInput {
  clusterId: string;
  step: StepConfig;
  taskToken: string;
  execution: string;
}

const stepTokensTable = () => env('STEP_TOKENS_TABLE');

const isConditionFailure = (error: unknown) => (error as Error)?.name === 'ConditionalCheckFailedException';

/** Submits the step and maps it to the token its Task waits on. AddJobFlowSteps errors keep `.sync`'s name. */
export async function submitPooledStep(input: SubmitPooledStepInput, dynamo: DynamoDBDocumentClient = dynamoClient()): Promise<{ StepId: string }> {
  let stepId: string | undefined;
  try {
    const added = await emrClient().send(new AddJobFlowStepsCommand({ JobFlowId: input.clusterId, Steps: [input.step] }));
    stepId = added.StepIds?.[0];
  } catch (error) {
    throw EmrApiError.from(error);
  }
  if (!stepId) throw new EmrApiError('AddJobFlowSteps returned no step id');
  const item: StepTokenItem = {
    clusterId: input.clusterId,
    stepId,
    stepName: input.step.Name ?? '',
    taskToken: input.taskToken,
    execution: input.execution,
    submittedAt: Date.now(),
  };
  await dynamo.send(new PutCommand({ TableName: stepTokensTable(), Item: item }));
  return { StepId: stepId };
}

export type SettleResult = 'settled' | 'absent' | 'gone';

/**
 * Tells the token mapped to (clusterId, stepId): 'settled'; 'absent' when no mapping is left (settled
 * already — a duplicate event — or not one of ours); 'gone' when the execution had stopped waiting.
 */
export async function settleStep(
  clusterId: string,
  stepId: string,
  settle: Settlement | ((claimed: StepTokenItem) => Settlement),
  dynamo: DynamoDBDocumentClient = dynamoClient(),
): Promise<SettleResult> {
  let item: StepTokenItem;
  try {
    const claimed = await dynamo.send(
      new DeleteCommand({
        TableName: stepTokensTable(),
        Key: { clusterId, stepId },
        ConditionExpression: 'attribute_exists(stepId)',
        ReturnValues: 'ALL_OLD',
      }),
    );
    item = claimed.Attributes as StepTokenItem;
  } catch (error) {
    if (isConditionFailure(error)) return 'absent';
    throw error;
  }
  try {
    const settlement = typeof settle === 'function' ? settle(item) : settle;
    if (settlement.outcome === 'success') {
      await sfnClient().send(new SendTaskSuccessCommand({ taskToken: item.taskToken, output: settlement.output }));
    } else {
      await sfnClient().send(new SendTaskFailureCommand({ taskToken: item.taskToken, error: settlement.error, cause: settlement.cause }));
    }
    return 'settled';
  } catch (error) {
    if (TASK_TOKEN_GONE.has((error as Error).name)) return 'gone';
    // Not told: the mapping goes back so a retry of this event, or the sweep, tells it.
    try {
      await dynamo.send(new PutCommand({ TableName: stepTokensTable(), Item: item, ConditionExpression: 'attribute_not_exists(stepId)' }));
    } catch (putError) {
      if (!isConditionFailure(putError)) throw putError;
    }
    throw error;
  }
}

/** Waits before each retry of a RUNNING event that found no mapping yet (real milliseconds). */
const START_RETRY_MS = [50, 150, 400];

/**
 * A step's RUNNING event: its mapping keeps the start time, for the timeline the settlement reports. A step
 * can start the instant AddJobFlowSteps returns, so its event may overtake SubmitPooledStep's PutItem: a
 * missing mapping is tried again a few times before the event is taken for another cluster's step.
 */
export async function noteStepStarted(clusterId: string, stepId: string, at: string, dynamo: DynamoDBDocumentClient = dynamoClient()): Promise<boolean> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      await dynamo.send(
        new UpdateCommand({
          TableName: stepTokensTable(),
          Key: { clusterId, stepId },
          UpdateExpression: 'SET startedAt = :at',
          ConditionExpression: 'attribute_exists(stepId)',
          ExpressionAttributeValues: { ':at': at },
        }),
      );
      return true;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      if (attempt >= START_RETRY_MS.length) return false;
      await new Promise((resolve) => setTimeout(resolve, START_RETRY_MS[attempt]));
    }
  }
}

async function mappingsOf(clusterId: string, dynamo: DynamoDBDocumentClient): Promise<StepTokenItem[]> {
  const items: StepTokenItem[] = [];
  let ExclusiveStartKey: Record<string, unknown> | undefined;
  do {
    const page = await dynamo.send(
      new QueryCommand({ TableName: stepTokensTable(), KeyConditionExpression: 'clusterId = :c', ExpressionAttributeValues: { ':c': clusterId }, ExclusiveStartKey }),
    );
    items.push(...((page.Items ?? []) as StepTokenItem[]));
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey);
  return items;
}

/** A cluster is ending or ended: each token still mapped on it fails with `{ Step, Cluster }`, as `.sync` fails it. */
export async function failClusterSteps(cluster: ClusterView, dynamo: DynamoDBDocumentClient = dynamoClient()): Promise<Record<SettleResult, number>> {
  const counts: Record<SettleResult, number> = { settled: 0, absent: 0, gone: 0 };
  for (const item of await mappingsOf(cluster.Id, dynamo)) {
    // What the step did last is not in the event: the step is named by id and name only.
    const cause = JSON.stringify({ Step: { Id: item.stepId, Name: item.stepName }, Cluster: cluster });
    counts[await settleStep(cluster.Id, item.stepId, { outcome: 'failure', error: STATES_ERROR.taskFailed, cause }, dynamo)] += 1;
  }
  return counts;
}

export interface ReconcileReport {
  clusters: number;
  listStepsCalls: number;
  settled: number;
  heartbeats: number;
  /** Mapped steps ListSteps did not show (their wait's heartbeat and timeout bound them). */
  unseen: number;
  errors: string[];
}

/** `ListSteps`' timestamps are Dates; a settlement carries ISO strings, as a Cause would. */
function stepView(summary: StepSummary): StepView {
  const iso = (date: Date | undefined) => (date ? date.toISOString() : undefined);
  const timeline = summary.Status?.Timeline;
  return {
    Id: summary.Id ?? '',
    Name: summary.Name,
    Status: {
      State: summary.Status?.State ?? '',
      ...(summary.Status?.StateChangeReason ? { StateChangeReason: { Code: summary.Status.StateChangeReason.Code, Message: summary.Status.StateChangeReason.Message } } : {}),
      ...(summary.Status?.FailureDetails ? { FailureDetails: summary.Status.FailureDetails } : {}),
      ...(timeline
        ? { Timeline: { CreationDateTime: iso(timeline.CreationDateTime), StartDateTime: iso(timeline.StartDateTime), EndDateTime: iso(timeline.EndDateTime) } }
        : {}),
    },
  };
}

/** Settles every mapped step that ended without its event reaching us; heartbeats the ones still running. */
export async function reconcileSteps(dynamo: DynamoDBDocumentClient = dynamoClient()): Promise<ReconcileReport> {
  const report: ReconcileReport = { clusters: 0, listStepsCalls: 0, settled: 0, heartbeats: 0, unseen: 0, errors: [] };
  const byCluster = new Map<string, StepTokenItem[]>();
  let ExclusiveStartKey: Record<string, unknown> | undefined;
  do {
    const page = await dynamo.send(new ScanCommand({ TableName: stepTokensTable(), ExclusiveStartKey }));
    for (const item of (page.Items ?? []) as StepTokenItem[]) byCluster.set(item.clusterId, [...(byCluster.get(item.clusterId) ?? []), item]);
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey);

  for (const [clusterId, items] of byCluster) {
    report.clusters += 1;
    const waiting = new Map(items.map((item) => [item.stepId, item]));
    const seen = new Map<string, StepSummary>();
    try {
      let Marker: string | undefined;
      do {
        const page = await emrClient().send(new ListStepsCommand({ ClusterId: clusterId, Marker }));
        report.listStepsCalls += 1;
        for (const step of page.Steps ?? []) if (step.Id && waiting.has(step.Id)) seen.set(step.Id, step);
        Marker = page.Marker;
      } while (Marker && seen.size < waiting.size);
    } catch (error) {
      report.errors.push(`ListSteps ${clusterId}: ${(error as Error).name}: ${(error as Error).message}`);
      continue;
    }
    for (const [stepId, item] of waiting) {
      const summary = seen.get(stepId);
      if (!summary) {
        report.unseen += 1;
        continue;
      }
      const settlement = stepSettlement(stepView(summary));
      try {
        if (settlement) {
          if ((await settleStep(clusterId, stepId, settlement, dynamo)) === 'settled') report.settled += 1;
        } else {
          await sfnClient().send(new SendTaskHeartbeatCommand({ taskToken: item.taskToken }));
          report.heartbeats += 1;
        }
      } catch (error) {
        // The execution stopped waiting (its timeout, a stop): nobody is left to tell, so the mapping goes.
        if (TASK_TOKEN_GONE.has((error as Error).name)) await dynamo.send(new DeleteCommand({ TableName: stepTokensTable(), Key: { clusterId, stepId } }));
        else report.errors.push(`${stepId}: ${(error as Error).name}: ${(error as Error).message}`);
      }
    }
  }
  return report;
}
