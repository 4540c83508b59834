/**
 * Counts what the local DynamoDB (dynalite) served: requests per operation, and the items they read and wrote.
 * dynalite reports no consumed capacity, so the meter reads each request and its response on the server:
 *
 *   items read     GetItem: the item returned; BatchGetItem / TransactGetItems: the items returned;
 *                  Query / Scan: ScannedCount (what DynamoDB reads and bills, before any filter);
 *                  TransactWriteItems: one per ConditionCheck.
 *   items written  PutItem / UpdateItem / DeleteItem: one, also when its condition failed (DynamoDB consumes
 *                  write capacity for a failed conditional write); BatchWriteItem: the requests processed;
 *                  TransactWriteItems: each Put, Update and Delete of a transaction that succeeded.
 *
 * It is the "work per job" figure of `npm run bench:pool`: on a queue DynamoDB serves in order, a job's reads
 * and writes must not grow with the queue's depth.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';

export interface DynamoUsage {
  /** Requests served, by operation (GetItem, Query, …), errors included. */
  requests: Record<string, number>;
  itemsRead: number;
  itemsWritten: number;
  /** The same items by `Operation Table` (or index: `Query Table/Index`), to see where the reads go. */
  itemsBy: Record<string, { read: number; written: number }>;
}

type Json = Record<string, unknown>;

const SINGLE_WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem']);

const count = (value: unknown): number => (Array.isArray(value) ? value.length : 0);
const sumOfLists = (value: unknown): number => Object.values((value ?? {}) as Record<string, unknown>).reduce<number>((sum, list) => sum + count(list), 0);

/** Items one served request read and wrote, from the operation, its request, its status and its response. */
export function itemsOf(operation: string, request: Json, status: number, response: Json): { read: number; written: number } {
  const ok = status === 200;
  if (SINGLE_WRITES.has(operation)) {
    const conditionFailed = String(response.__type ?? '').endsWith('ConditionalCheckFailedException');
    return { read: 0, written: ok || conditionFailed ? 1 : 0 };
  }
  if (!ok) return { read: 0, written: 0 };
  switch (operation) {
    case 'GetItem':
      return { read: response.Item ? 1 : 0, written: 0 };
    case 'Query':
    case 'Scan':
      return { read: Number(response.ScannedCount ?? response.Count ?? 0), written: 0 };
    case 'BatchGetItem':
      return { read: sumOfLists(response.Responses), written: 0 };
    case 'TransactGetItems':
      return { read: count((response.Responses as Json[] | undefined)?.filter((entry) => entry.Item)), written: 0 };
    case 'BatchWriteItem':
      return { read: 0, written: sumOfLists(request.RequestItems) - sumOfLists(response.UnprocessedItems) };
    case 'TransactWriteItems': {
      const items = (request.TransactItems ?? []) as Json[];
      const checks = items.filter((item) => item.ConditionCheck).length;
      return { read: checks, written: items.length - checks };
    }
    default:
      return { read: 0, written: 0 };
  }
}

function parse(text: string): Json {
  try {
    const value = JSON.parse(text) as unknown;
    return value && typeof value === 'object' ? (value as Json) : {};
  } catch {
    return {};
  }
}

/** Meters every request `server` (dynalite) answers from now on. */
export function meterDynamo(server: Server): { usage(): DynamoUsage; reset(): void } {
  const empty = (): DynamoUsage => ({ requests: {}, itemsRead: 0, itemsWritten: 0, itemsBy: {} });
  let usage = empty();
  // Prepended: the meter reads the body alongside dynalite, which registers its own listeners first otherwise.
  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    const operation = String(req.headers['x-amz-target'] ?? '').split('.')[1];
    if (!operation) return;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
    res.end = ((...args: unknown[]) => {
      const [body] = args;
      usage.requests[operation] = (usage.requests[operation] ?? 0) + 1;
      const response = typeof body === 'string' || Buffer.isBuffer(body) ? parse(body.toString()) : {};
      const request = parse(Buffer.concat(chunks).toString());
      const items = itemsOf(operation, request, res.statusCode, response);
      usage.itemsRead += items.read;
      usage.itemsWritten += items.written;
      const where = `${operation} ${request.TableName ?? Object.keys((request.RequestItems ?? {}) as Json).join('+')}${request.IndexName ? `/${request.IndexName}` : ''}`;
      const by = usage.itemsBy[where] ?? { read: 0, written: 0 };
      usage.itemsBy[where] = { read: by.read + items.read, written: by.written + items.written };
      return end(...args);
    }) as ServerResponse['end'];
  });
  return {
    usage: () => structuredClone(usage),
    reset: () => {
      usage = empty();
    },
  };
}
