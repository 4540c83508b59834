import { paginateQuery, paginateScan, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { RunSample } from '../domain/sizing';
import type { RunRecord } from '../domain/types';

/** Pages read at most while collecting history: failed runs in between must not make sizing slow. */
const MAX_PAGES = 5;

/** The job's latest successful runs with a known step duration, newest first (the table's key is job + finishedAt). */
export async function recentSuccessfulRuns(dynamo: DynamoDBDocumentClient, table: string, job: string, limit: number): Promise<RunSample[]> {
  const samples: RunSample[] = [];
  const pages = paginateQuery(
    { client: dynamo },
    {
      TableName: table,
      KeyConditionExpression: '#job = :job',
      FilterExpression: '#status = :succeeded',
      ExpressionAttributeNames: { '#job': 'job', '#status': 'status' },
      ExpressionAttributeValues: { ':job': job, ':succeeded': 'SUCCEEDED' },
      ScanIndexForward: false,
      Limit: limit * 2,
    },
  );
  let count = 0;
  for await (const page of pages) {
    for (const item of (page.Items ?? []) as Partial<RunRecord>[]) {
      if (typeof item.inputBytes === 'number' && typeof item.stepSeconds === 'number' && typeof item.capacityUnits === 'number') {
        samples.push({ inputBytes: item.inputBytes, stepSeconds: item.stepSeconds, capacityUnits: item.capacityUnits });
      }
    }
    if (++count >= MAX_PAGES || samples.length >= limit) break;
  }
  return samples.slice(0, limit);
}

export async function putRun(dynamo: DynamoDBDocumentClient, table: string, record: RunRecord): Promise<void> {
  await dynamo.send(new PutCommand({ TableName: table, Item: record }));
}

/**
 * Runs recorded on a pool's leases, newest first, at most `limit`. The runs table is keyed by job, so this
 * scans (with a filter): for reports such as `emrflow pools`, not for anything on a run's path.
 */
export async function recentPoolRuns(dynamo: DynamoDBDocumentClient, table: string, pool: string, limit: number): Promise<RunRecord[]> {
  const runs: RunRecord[] = [];
  const pages = paginateScan(
    { client: dynamo },
    { TableName: table, FilterExpression: '#pool = :pool', ExpressionAttributeNames: { '#pool': 'pool' }, ExpressionAttributeValues: { ':pool': pool } },
  );
  let count = 0;
  for await (const page of pages) {
    runs.push(...((page.Items ?? []) as RunRecord[]));
    if (++count >= MAX_PAGES) break;
  }
  return runs.sort((a, b) => b.finishedAt.localeCompare(a.finishedAt)).slice(0, limit);
}
