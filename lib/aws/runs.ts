import { PutCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { RunSample } from '../domain/sizing';
import type { RunRecord } from '../domain/types';

/** Pages read at most while collecting history: failed runs in between must not make sizing slow. */
const MAX_PAGES = 5;

/** The job's latest successful runs with a known step duration, newest first (the table's key is job + finishedAt). */
export async function recentSuccessfulRuns(
  dynamo: DynamoDBDocumentClient,
  table: string,
  job: string,
  limit: number,
): Promise<RunSample[]> {
  const samples: RunSample[] = [];
  let startKey: Record<string, unknown> | undefined;
  for (let page = 0; page < MAX_PAGES && samples.length < limit; page += 1) {
    const out = await dynamo.send(
      new QueryCommand({
        TableName: table,
        KeyConditionExpression: '#job = :job',
        FilterExpression: '#status = :succeeded',
        ExpressionAttributeNames: { '#job': 'job', '#status': 'status' },
        ExpressionAttributeValues: { ':job': job, ':succeeded': 'SUCCEEDED' },
        ScanIndexForward: false,
        Limit: limit * 2,
        ExclusiveStartKey: startKey,
      }),
    );
    for (const item of (out.Items ?? []) as Partial<RunRecord>[]) {
      if (typeof item.inputBytes === 'number' && typeof item.stepSeconds === 'number' && typeof item.capacityUnits === 'number') {
        samples.push({ inputBytes: item.inputBytes, stepSeconds: item.stepSeconds, capacityUnits: item.capacityUnits });
      }
    }
    startKey = out.LastEvaluatedKey;
    if (!startKey) break;
  }
  return samples.slice(0, limit);
}

export async function putRun(dynamo: DynamoDBDocumentClient, table: string, record: RunRecord): Promise<void> {
  await dynamo.send(new PutCommand({ TableName: table, Item: record }));
}
