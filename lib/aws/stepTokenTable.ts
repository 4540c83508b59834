/**
 * The job store's step-token half (lib/jobManager/store.ts StepTokenStore) in DynamoDB: STEP_TOKENS_TABLE,
 * key clusterId (S, HASH) + stepId (S, RANGE), one item per pooled step from its submission until
 * SettleSteps tells its token. Taking a mapping is a conditional update (takenAt), so whoever takes it (an
 * event, a duplicate of it, the sweep) is the only one who tells the token, and a settle that dies before
 * telling leaves the mapping for the sweep to take over; the teller deletes it once told. A step the
 * dispatcher submitted in a batch is mapped without a token until RunPooledStep attaches one; a step that
 * ends before that keeps its settlement on the mapping (`held`) for RunPooledStep to tell.
 */
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, ScanCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Settlement } from '../domain/stepCompletion';
import type { StepTokenItem, StepTokenStore } from '../jobManager/store';
import { conditional, conditionalResult } from './conditional';

/** SubmitPooledStep's one write, a function of its own so its bundle (and role) reaches no other. */
export async function putStepToken(dynamo: DynamoDBDocumentClient, table: string, item: StepTokenItem): Promise<void> {
  await dynamo.send(new PutCommand({ TableName: table, Item: item }));
}

export async function getStepToken(dynamo: DynamoDBDocumentClient, table: string, clusterId: string, stepId: string): Promise<StepTokenItem | null> {
  const out = await dynamo.send(new GetCommand({ TableName: table, Key: { clusterId, stepId }, ConsistentRead: true }));
  return (out.Item as StepTokenItem | undefined) ?? null;
}

/** RunPooledStep's token onto a dispatcher-submitted step's mapping; the mapping as it is now, null when gone. */
export async function attachStepToken(
  dynamo: DynamoDBDocumentClient,
  table: string,
  clusterId: string,
  stepId: string,
  taskToken: string,
): Promise<StepTokenItem | null> {
  const attached = await conditionalResult(() =>
    dynamo.send(
      new UpdateCommand({
        TableName: table,
        Key: { clusterId, stepId },
        UpdateExpression: 'SET taskToken = :t',
        ConditionExpression: 'attribute_exists(stepId)',
        ExpressionAttributeValues: { ':t': taskToken },
        ReturnValues: 'ALL_NEW',
      }),
    ),
  );
  return (attached?.Attributes as StepTokenItem | undefined) ?? null;
}

export async function takeStepToken(
  dynamo: DynamoDBDocumentClient,
  table: string,
  clusterId: string,
  stepId: string,
  takenAt: number,
  staleBefore: number,
): Promise<StepTokenItem | null> {
  const claimed = await conditionalResult(() =>
    dynamo.send(
      new UpdateCommand({
        TableName: table,
        Key: { clusterId, stepId },
        UpdateExpression: 'SET takenAt = :t',
        ConditionExpression: 'attribute_exists(stepId) AND (attribute_not_exists(takenAt) OR takenAt <= :stale)',
        ExpressionAttributeValues: { ':t': takenAt, ':stale': staleBefore },
        ReturnValues: 'ALL_NEW',
      }),
    ),
  );
  return (claimed?.Attributes as StepTokenItem | undefined) ?? null;
}

export async function restoreStepToken(dynamo: DynamoDBDocumentClient, table: string, item: StepTokenItem): Promise<boolean> {
  if (item.takenAt === undefined) return false;
  const { clusterId, stepId } = item;
  return conditional(() =>
    dynamo.send(
      new UpdateCommand({
        TableName: table,
        Key: { clusterId, stepId },
        UpdateExpression: 'REMOVE takenAt',
        ConditionExpression: 'takenAt = :t',
        ExpressionAttributeValues: { ':t': item.takenAt },
      }),
    ),
  );
}

/** Keeps a token-less mapping's settlement and gives the take back, only while no token was attached. */
export async function holdStepToken(
  dynamo: DynamoDBDocumentClient,
  table: string,
  item: StepTokenItem,
  settlement: Settlement,
  heldAt: number,
): Promise<boolean> {
  if (item.takenAt === undefined) return false;
  const { clusterId, stepId } = item;
  return conditional(() =>
    dynamo.send(
      new UpdateCommand({
        TableName: table,
        Key: { clusterId, stepId },
        UpdateExpression: 'SET held = :s, heldAt = :h REMOVE takenAt',
        ConditionExpression: 'takenAt = :t AND attribute_not_exists(taskToken)',
        ExpressionAttributeValues: { ':t': item.takenAt, ':s': settlement, ':h': heldAt },
      }),
    ),
  );
}

export async function dropStepToken(dynamo: DynamoDBDocumentClient, table: string, clusterId: string, stepId: string): Promise<void> {
  await dynamo.send(new DeleteCommand({ TableName: table, Key: { clusterId, stepId } }));
}

export class DynamoStepTokens implements StepTokenStore {
  constructor(
    private readonly dynamo: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async mapStep(item: StepTokenItem): Promise<void> {
    await putStepToken(this.dynamo, this.table, item);
  }

  async getStep(clusterId: string, stepId: string): Promise<StepTokenItem | null> {
    return getStepToken(this.dynamo, this.table, clusterId, stepId);
  }

  async attachToken(clusterId: string, stepId: string, taskToken: string): Promise<StepTokenItem | null> {
    return attachStepToken(this.dynamo, this.table, clusterId, stepId, taskToken);
  }

  async takeStep(clusterId: string, stepId: string, takenAt: number, staleBefore: number): Promise<StepTokenItem | null> {
    return takeStepToken(this.dynamo, this.table, clusterId, stepId, takenAt, staleBefore);
  }

  async restoreStep(item: StepTokenItem): Promise<boolean> {
    return restoreStepToken(this.dynamo, this.table, item);
  }

  async holdStep(item: StepTokenItem, settlement: Settlement, heldAt: number): Promise<boolean> {
    return holdStepToken(this.dynamo, this.table, item, settlement, heldAt);
  }

  async noteStepStarted(clusterId: string, stepId: string, at: string): Promise<boolean> {
    return conditional(() =>
      this.dynamo.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { clusterId, stepId },
          UpdateExpression: 'SET startedAt = :at',
          ConditionExpression: 'attribute_exists(stepId)',
          ExpressionAttributeValues: { ':at': at },
        }),
      ),
    );
  }

  async mappedSteps(clusterId: string): Promise<StepTokenItem[]> {
    const items: StepTokenItem[] = [];
    let ExclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const page = await this.dynamo.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'clusterId = :c',
          ExpressionAttributeValues: { ':c': clusterId },
          ExclusiveStartKey,
        }),
      );
      items.push(...((page.Items ?? []) as StepTokenItem[]));
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    return items;
  }

  async liveSteps(clusterId: string, execution: string): Promise<string[]> {
    return liveStepIds(this.dynamo, this.table, clusterId, execution);
  }

  async allMappedSteps(): Promise<StepTokenItem[]> {
    const items: StepTokenItem[] = [];
    let ExclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const page = await this.dynamo.send(new ScanCommand({ TableName: this.table, ExclusiveStartKey }));
      items.push(...((page.Items ?? []) as StepTokenItem[]));
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    return items;
  }

  async dropStep(clusterId: string, stepId: string): Promise<void> {
    await dropStepToken(this.dynamo, this.table, clusterId, stepId);
  }
}

/** StepTokenStore.liveSteps: one Query of the cluster's mappings, filtered to the execution's untaken ones whose end is not held (a held end was seen ended). */
export async function liveStepIds(dynamo: DynamoDBDocumentClient, table: string, clusterId: string, execution: string): Promise<string[]> {
  const ids: string[] = [];
  let ExclusiveStartKey: Record<string, unknown> | undefined;
  do {
    const page = await dynamo.send(
      new QueryCommand({
        TableName: table,
        KeyConditionExpression: 'clusterId = :c',
        FilterExpression: '#execution = :e AND attribute_not_exists(takenAt) AND attribute_not_exists(held)',
        ExpressionAttributeNames: { '#execution': 'execution' },
        ExpressionAttributeValues: { ':c': clusterId, ':e': execution },
        ProjectionExpression: 'stepId',
        ExclusiveStartKey,
      }),
    );
    for (const item of page.Items ?? []) ids.push(String(item.stepId));
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey);
  return ids;
}
