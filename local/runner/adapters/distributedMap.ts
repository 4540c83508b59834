/**
 * A Distributed Map (`Map` with `ItemReader`) on the local runtime, which aws-local-stepfunctions cannot run:
 * the runner turns the state into a Task (local/runner/definition.ts) whose handler is this adapter.
 *
 * - ItemReader `arn:aws:states:::s3:getObject` with ReaderConfig InputType JSONL or JSON, from local S3;
 *   a line that is not JSON fails the Map with States.ItemReaderFailed.
 * - Each item runs the ItemProcessor as a child workflow execution (its own transitions, its own name),
 *   at most MaxConcurrency(Path) at once (0 or none: all at once, up to Step Functions' 10,000).
 * - ToleratedFailurePercentage(Path) / ToleratedFailureCount(Path): once more items failed than tolerated, no
 *   further item starts and the Map fails with States.ExceedToleratedFailureThreshold after writing results.
 *   Simplification: items already running finish rather than being aborted.
 * - ResultWriter `arn:aws:states:::s3:putObject`: `<Prefix>/<map run id>/manifest.json` plus SUCCEEDED_0.json,
 *   FAILED_0.json, PENDING_0.json (each a JSON array of the child executions, Input and Output as JSON text),
 *   and the state's result `{ MapRunArn, ResultWriterDetails: { Bucket, Key } }`, as AWS documents them.
 *   Without a ResultWriter the result is the array of the items' outputs.
 * Not supported (an error says so): ItemBatcher, CSV/MANIFEST readers, ItemsPath with an ItemReader.
 */
import { randomUUID } from 'node:crypto';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { executionArnFor } from '../../../lib/contract';
import { TaskError } from './errors';
import type { ExecutionResult } from '../execute';
import type { AslState } from '../../asl/types';

export const STATES_ITEM_READER_FAILED = 'States.ItemReaderFailed';
export const STATES_EXCEED_TOLERATED_FAILURE = 'States.ExceedToleratedFailureThreshold';
const MAX_CONCURRENCY = 10_000;

export interface MapChild {
  name: string;
  arn: string;
  input: unknown;
  startedAt: number;
  result: ExecutionResult;
}

export interface DistributedMapContext {
  s3: S3Client;
  /** The parent's state machine name and its execution's context (for `$$` paths). */
  machineName: string;
  region: string;
  accountId: string;
  /** Runs the ItemProcessor on one item as a child workflow execution named `name`. */
  runChild(input: unknown, name: string): Promise<ExecutionResult>;
}

/** A Distributed Map's reader and writer: an S3 integration with its Parameters. */
interface MapIo {
  Resource?: string;
  Parameters?: Record<string, unknown>;
  ReaderConfig?: { InputType?: string };
}

export function distributedMap(stateName: string, map: AslState, ctx: DistributedMapContext): (input: unknown) => Promise<unknown> {
  if (map.ItemBatcher) throw new Error(`Map ${stateName}: ItemBatcher is not supported by the local runner`);
  const reader = (map.ItemReader ?? {}) as MapIo;
  const inputType = String(reader.ReaderConfig?.InputType);
  if (reader.Resource !== 'arn:aws:states:::s3:getObject' || !['JSONL', 'JSON'].includes(inputType)) {
    throw new Error(`Map ${stateName}: the local runner reads only s3:getObject with InputType JSONL or JSON (got ${reader.Resource} ${inputType})`);
  }
  const label = map.Label ?? stateName;
  return async (input) => {
    const { Bucket, Key } = resolveParameters(reader.Parameters ?? {}, input, stateName) as { Bucket: string; Key: string };
    const items = await readItems(ctx.s3, String(Bucket), String(Key), inputType);
    const selector = map.ItemSelector;
    const selected = selector
      ? items.map((value, index) => resolveParameters(selector, input, stateName, { Map: { Item: { Value: value, Index: index } } }))
      : items;
    const concurrency = numberField(map, 'MaxConcurrency', input, stateName) || MAX_CONCURRENCY;
    const toleratedPercentage = numberField(map, 'ToleratedFailurePercentage', input, stateName);
    const toleratedCount = numberField(map, 'ToleratedFailureCount', input, stateName);
    const mapRunId = randomUUID();
    const machine = `${ctx.machineName}/${label}`;
    const arnBase = `arn:aws:states:${ctx.region}:${ctx.accountId}`;
    const children: Array<MapChild | null> = selected.map(() => null);

    let next = 0;
    let failed = 0;
    let exceeded = false;
    const hasPercentage = map.ToleratedFailurePercentage !== undefined || map.ToleratedFailurePercentagePath !== undefined;
    const hasCount = map.ToleratedFailureCount !== undefined || map.ToleratedFailureCountPath !== undefined;
    // Neither set: no failure is tolerated. Both set: the Map fails when either is exceeded.
    const allowed =
      hasPercentage || hasCount ? Math.min(hasCount ? toleratedCount : Infinity, hasPercentage ? (toleratedPercentage / 100) * selected.length : Infinity) : 0;
    const tooMany = () => failed > allowed;
    const worker = async () => {
      while (!exceeded && next < selected.length) {
        const index = next++;
        const name = randomUUID();
        const startedAt = Date.now();
        const result = await ctx.runChild(selected[index], name);
        children[index] = { name, arn: executionArnFor(`${arnBase}:stateMachine:${machine}`, name), input: selected[index], startedAt, result };
        if (result.status !== 'SUCCEEDED') {
          failed++;
          if (tooMany()) exceeded = true;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(selected.length, 1)) }, worker));

    const mapRunArn = `${arnBase}:mapRun:${machine}:${mapRunId}`;
    let output: unknown = children.map((child) => child?.result.output ?? null);
    if (map.ResultWriter)
      output = await writeResults(ctx.s3, map.ResultWriter, input, stateName, {
        mapRunArn,
        mapRunId,
        machineArn: `${arnBase}:stateMachine:${machine}`,
        children,
      });
    if (exceeded) {
      throw new TaskError(
        STATES_EXCEED_TOLERATED_FAILURE,
        `The specified tolerated failure threshold was exceeded: ${failed} of ${selected.length} items failed`,
      );
    }
    return output;
  };
}

async function readItems(s3: S3Client, bucket: string, key: string, inputType: string): Promise<unknown[]> {
  let text: string;
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    text = (await out.Body?.transformToString('utf8')) ?? '';
  } catch (error) {
    throw new TaskError(STATES_ITEM_READER_FAILED, `Attempting to read s3://${bucket}/${key} failed: ${(error as Error).name}: ${(error as Error).message}`);
  }
  if (inputType === 'JSON') {
    const parsed = parseOrFail(text, `s3://${bucket}/${key}`);
    if (!Array.isArray(parsed)) throw new TaskError(STATES_ITEM_READER_FAILED, `s3://${bucket}/${key} is not a JSON array`);
    return parsed;
  }
  return text
    .split(/\r?\n/)
    .map((line, index) => ({ line, index }))
    .filter(({ line }) => line.trim() !== '')
    .map(({ line, index }) => parseOrFail(line, `line ${index + 1} of s3://${bucket}/${key}`));
}

function parseOrFail(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new TaskError(STATES_ITEM_READER_FAILED, `${where} is not valid JSON: ${(error as Error).message}`);
  }
}

async function writeResults(
  s3: S3Client,
  writer: MapIo,
  input: unknown,
  stateName: string,
  run: { mapRunArn: string; mapRunId: string; machineArn: string; children: Array<MapChild | null> },
): Promise<unknown> {
  if (writer.Resource !== 'arn:aws:states:::s3:putObject') throw new Error(`Map ${stateName}: ResultWriter ${writer.Resource} is not supported locally`);
  const { Bucket, Prefix } = resolveParameters(writer.Parameters ?? {}, input, stateName) as { Bucket: string; Prefix?: string };
  const base = `${Prefix ? `${String(Prefix).replace(/\/$/, '')}/` : ''}${run.mapRunId}/`;
  const byStatus: Record<string, unknown[]> = { SUCCEEDED: [], FAILED: [], PENDING: [] };
  for (const child of run.children) {
    if (!child) {
      byStatus.PENDING.push({ Status: 'PENDING' });
      continue;
    }
    const { result } = child;
    const status = result.status === 'SUCCEEDED' ? 'SUCCEEDED' : 'FAILED';
    byStatus[status].push({
      ExecutionArn: child.arn,
      Input: JSON.stringify(child.input),
      InputDetails: { Included: true },
      Name: child.name,
      ...(status === 'SUCCEEDED' ? { Output: JSON.stringify(result.output), OutputDetails: { Included: true } } : { Error: result.error, Cause: result.cause }),
      RedriveCount: 0,
      RedriveStatus: status === 'SUCCEEDED' ? 'NOT_REDRIVABLE' : 'REDRIVABLE',
      StartDate: new Date(child.startedAt).toISOString(),
      StateMachineArn: run.machineArn,
      Status: result.status,
      StopDate: new Date(child.startedAt + result.durationMs).toISOString(),
    });
  }
  const resultFiles: Record<string, Array<{ Key: string; Size: number }>> = { FAILED: [], PENDING: [], SUCCEEDED: [] };
  for (const [status, entries] of Object.entries(byStatus)) {
    if (entries.length === 0) continue;
    const key = `${base}${status}_0.json`;
    const body = JSON.stringify(entries);
    await put(s3, String(Bucket), key, body);
    resultFiles[status].push({ Key: key, Size: Buffer.byteLength(body) });
  }
  const manifestKey = `${base}manifest.json`;
  await put(s3, String(Bucket), manifestKey, JSON.stringify({ DestinationBucket: Bucket, MapRunArn: run.mapRunArn, ResultFiles: resultFiles }));
  return { MapRunArn: run.mapRunArn, ResultWriterDetails: { Bucket, Key: manifestKey } };
}

async function put(s3: S3Client, bucket: string, key: string, body: string): Promise<void> {
  try {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/json' }));
  } catch (error) {
    throw new TaskError('States.ResultWriterFailed', `Writing s3://${bucket}/${key} failed: ${(error as Error).name}: ${(error as Error).message}`);
  }
}

function numberField(map: AslState, field: string, input: unknown, stateName: string): number {
  if (map[field] !== undefined) return Number(map[field]);
  if (map[`${field}Path`] !== undefined) return Number(pathValue(input, String(map[`${field}Path`]), stateName, {}));
  return 0;
}

/** A JSONPath Parameters/ItemSelector object: `key.$` fields read `$.…` from the input or `$$.…` from the context. */
function resolveParameters(
  template: Record<string, unknown>,
  input: unknown,
  stateName: string,
  context: Record<string, unknown> = {},
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(template)) {
    if (key.endsWith('.$')) out[key.slice(0, -2)] = pathValue(input, String(value), stateName, context);
    else
      out[key] =
        value && typeof value === 'object' && !Array.isArray(value) ? resolveParameters(value as Record<string, unknown>, input, stateName, context) : value;
  }
  return out;
}

function pathValue(input: unknown, path: string, stateName: string, context: Record<string, unknown>): unknown {
  const [root, rest] = path.startsWith('$$') ? [context, path.slice(2)] : [input, path.slice(1)];
  if (!path.startsWith('$')) throw new Error(`Map ${stateName}: ${path}: only reference paths are supported here`);
  let node: unknown = root;
  for (const part of rest.match(/\.[^.[\]]+|\[\d+\]/g) ?? []) {
    node = node == null ? undefined : (node as Record<string | number, unknown>)[part.startsWith('.') ? part.slice(1) : Number(part.slice(1, -1))];
  }
  if (node === undefined) throw new TaskError('States.Runtime', `State ${stateName}: path ${path} does not point to a value`);
  return node;
}
