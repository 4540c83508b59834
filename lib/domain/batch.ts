/**
 * run-batch's pure logic: the batch input, the manifest turned into the Map's items (one per line, each
 * with the deterministic name of the run-job execution it starts), and the summary of the Map's results.
 * No SDK, no environment: the plan-batch and summarize-batch handlers pass everything in.
 */
import { createHash } from 'node:crypto';
import * as z from 'zod';
import { parseS3Uri, s3Location, STATES_ERROR } from '../contract';
import { InvalidRequestError } from '../errors';
import { between, describeValue, matching, parseRequestInput, strictObject } from '../schema';
import type { BatchSettings } from '../config/batch';
import { MAX_BATCH_CONCURRENCY } from '../config/batch';
import { CALENDAR_DATE, INPUTS_README, TIMESTAMP } from './request';
import type { S3Location } from './types';

/** Step Functions execution names: 1–80 characters; these are the ones CloudWatch Logs also accepts. */
export const EXECUTION_NAME_MAX = 80;
const NAME_UNSAFE = /[^A-Za-z0-9_-]+/g;
const BATCH_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$/;

/** What the schedule or a console start passes to run-batch. */
export const BatchInputSchema = strictObject(
  {
    /**
     * The manifest: JSON lines of run-job console inputs, in the artifacts bucket under config/batch.json's
     * manifestPrefix; an s3:// URI, or a key of the artifacts bucket (what the schedule passes).
     */
    manifest: z
      .string({ error: (issue) => (issue.input === undefined ? 'is required: the s3:// URI of the manifest (JSON lines of job requests)' : undefined) })
      .min(1, 'must name the manifest'),
    /** Names the batch; the same batch id again starts nothing that already ran. Default: manifest name + batch date. */
    batchId: matching(BATCH_ID, "must be 1-40 letters, digits, '_' or '-', starting with a letter or digit").optional(),
    trigger: z.enum(['schedule', 'console']).optional(),
    /** The schedule's fire time: the batch is for the day before it. */
    time: TIMESTAMP.optional(),
    /** The day the batch is for (items without a date of their own run for it). */
    date: CALENDAR_DATE.optional(),
    maxConcurrency: between(1, MAX_BATCH_CONCURRENCY, { integer: true }).optional(),
    toleratedFailurePercentage: between(0, 100).optional(),
  },
  { see: INPUTS_README },
);
export type BatchInput = z.infer<typeof BatchInputSchema>;

export interface BatchContext {
  settings: BatchSettings;
  artifactsBucket: string;
  now: Date;
}

/** Where a batch reads and writes, and its limits: run-batch's `$.plan`. */
export interface BatchPlan {
  batchId: string;
  batchDate: string;
  manifest: S3Location;
  /** The items file the Distributed Map's ItemReader reads (JSONL, one BatchItem a line). */
  items: S3Location;
  /** ResultWriter's bucket and prefix. */
  results: { bucket: string; prefix: string };
  summary: S3Location;
  /** Map items (the lines that are JSON objects). */
  itemCount: number;
  /** Lines rejected before the Map (not JSON objects): how many, and the file listing them. */
  rejected: { count: number; location: S3Location };
  maxConcurrency: number;
  toleratedFailurePercentage: number;
}

/** One Map item: the manifest line, the run-job execution name it starts, and that execution's input. */
export interface BatchItem {
  line: number;
  name: string;
  /** The line's JSON object, its date filled in from the batch when it has none. */
  input: Record<string, unknown>;
}

/** Validates the batch input; a bad one is Request.Invalid naming the field, before anything is read or written. */
export function batchTarget(
  raw: unknown,
  ctx: BatchContext,
): Omit<BatchPlan, 'itemCount' | 'rejected'> & { rejectedLocation: S3Location /** Started by the schedule (its `time` or `trigger`). */; scheduled: boolean } {
  const input = parseRequestInput(BatchInputSchema, raw);
  const manifest = input.manifest.startsWith('s3://') ? parseS3Uri(input.manifest) : s3Location(ctx.artifactsBucket, input.manifest);
  if (!manifest?.key || manifest.key.endsWith('/')) {
    throw new InvalidRequestError('manifest', `must be an s3://bucket/key URI of one object, got ${describeValue(input.manifest)}`);
  }
  if (manifest.bucket !== ctx.artifactsBucket || !manifest.key.startsWith(ctx.settings.manifestPrefix)) {
    throw new InvalidRequestError(
      'manifest',
      `must lie in the artifacts bucket under ${ctx.settings.manifestPrefix} (s3://${ctx.artifactsBucket}/${ctx.settings.manifestPrefix}…), got ${describeValue(input.manifest)}`,
    );
  }
  const batchDate = input.date ?? (input.time ? dateOf(new Date(Date.parse(input.time) - 24 * 3600 * 1000)) : dateOf(ctx.now));
  const batchId = input.batchId ?? defaultBatchId(manifest.key, batchDate);
  const prefix = `${ctx.settings.resultsPrefix}${batchId}/`;
  return {
    batchId,
    batchDate,
    manifest,
    items: s3Location(ctx.artifactsBucket, `${prefix}items.jsonl`),
    rejectedLocation: s3Location(ctx.artifactsBucket, `${prefix}rejected.json`),
    scheduled: (input.trigger ?? (input.time ? 'schedule' : 'console')) === 'schedule',
    results: { bucket: ctx.artifactsBucket, prefix: `${prefix}results` },
    summary: s3Location(ctx.artifactsBucket, `${prefix}summary.json`),
    maxConcurrency: input.maxConcurrency ?? ctx.settings.maxConcurrency,
    toleratedFailurePercentage: input.toleratedFailurePercentage ?? ctx.settings.toleratedFailurePercentage,
  };
}

/** `nightly.jsonl` for 2026-11-30 → `nightly-2026-11-30`. */
function defaultBatchId(key: string, batchDate: string): string {
  const base = (key.split('/').pop() ?? 'batch')
    .replace(/\.[^.]*$/, '')
    .replace(NAME_UNSAFE, '_')
    .replace(/^[_-]+/, '');
  return `${(base || 'batch').slice(0, 29)}-${batchDate}`;
}

/** A manifest line that is not a JSON object: it starts nothing and fails as Request.Invalid. */
export interface RejectedLine {
  line: number;
  error: string;
  cause: string;
}

/**
 * Each non-blank manifest line that is a JSON object becomes an item, named `<batchId>-<job>-<run>` (its
 * runId, or the date it runs for, as run-job's run id is `<job>-<date>`), so the same request in the same
 * batch always maps to the same execution. Whether the object is a valid request is run-job's to say
 * (Request.Invalid from NormalizeRequest). A line that is not a JSON object cannot be a run-job input at
 * all: it is rejected here with Request.Invalid and its line number, and the Map never sees it (a JSONL
 * ItemReader would fail the whole Map on it).
 */
export function planItems(text: string, batchId: string, batchDate: string): { items: BatchItem[]; rejected: RejectedLine[] } {
  const items: BatchItem[] = [];
  const rejected: RejectedLine[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = index + 1;
    if (raw.trim() === '') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch (error) {
      rejected.push({ line, error: InvalidRequestError.errorName, cause: `line ${line}: not JSON (${(error as Error).message}): ${describeValue(raw)}` });
      return;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      rejected.push({
        line,
        error: InvalidRequestError.errorName,
        cause: `line ${line}: expected a JSON object such as {"job": "<name>", "date": "YYYY-MM-DD"}, got ${describeValue(parsed)}`,
      });
      return;
    }
    const request = parsed as Record<string, unknown>;
    if (typeof request.job !== 'string' || request.job === '') {
      // run-job will name what is wrong; the line number keeps the name unique and deterministic.
      items.push({ line, name: executionName([batchId, 'line', String(line)]), input: request });
      return;
    }
    const dated = request.date === undefined && request.time === undefined ? { ...request, date: batchDate } : request;
    const job = request.job;
    const run = typeof request.runId === 'string' ? request.runId : typeof dated.date === 'string' ? dated.date : String(dated.time);
    items.push({ line, name: executionName([batchId, job, run.startsWith(`${job}-`) ? run.slice(job.length + 1) : run]), input: dated });
  });
  return { items, rejected };
}

/**
 * Joins the parts with '-', characters Step Functions (or CloudWatch Logs) refuses replaced by '_'; a name
 * over 80 characters keeps its head and ends with a hash of the whole, so it stays unique and deterministic.
 */
export function executionName(parts: string[]): string {
  const joined = parts.map((part) => part.replace(NAME_UNSAFE, '_')).join('-');
  if (joined.length <= EXECUTION_NAME_MAX) return joined;
  const digest = createHash('sha256').update(joined).digest('hex').slice(0, 16);
  return `${joined.slice(0, EXECUTION_NAME_MAX - digest.length - 1)}-${digest}`;
}

/** One entry of a ResultWriter results file (SUCCEEDED_n.json, FAILED_n.json, PENDING_n.json). */
export interface MapResultEntry {
  Name?: string;
  ExecutionArn?: string;
  Status: string;
  Input?: string;
  Output?: string;
  Error?: string;
  Cause?: string;
}

/** What of a run-job execution's output the batch summary reads. */
interface RunJobOutput {
  error?: { Error?: string };
  record?: { estimatedCostUsd?: unknown };
  request?: { runId?: string };
}

/** What run-batch's item processor returns for an item (its StartJob task's result or its duplicate catch). */
interface ItemOutput {
  line?: number;
  name?: string;
  job?: { execution?: string; output?: RunJobOutput };
  alreadyStarted?: { Error?: string; Cause?: string };
}

export interface BatchFailure {
  line: number | null;
  name: string | null;
  execution: string | null;
  error: string;
  cause: string;
}

export interface BatchSummary {
  batchId: string;
  status: 'SUCCEEDED' | 'FAILED';
  /** The Map's own error when it failed (tolerated failures exceeded, a reader or writer failure). */
  error: string | null;
  items: number;
  succeeded: number;
  failed: number;
  /** Items that started nothing new: the same execution name again (in the manifest, or a re-run batch) or a run id already claimed. */
  duplicates: number;
  /** Items the Map never ran to an end (it failed first). */
  notRun: number;
  failures: BatchFailure[];
  duplicateItems: Array<{ line: number | null; name: string | null; reason: string }>;
  /** Sum of the succeeded runs' estimated cost (RecordRun's estimate; null where it had no price). */
  estimatedCostUsd: number;
  results: string | null;
  summary: string;
}

const CAUSE_MAX = 300;

/**
 * Counts the Map's results: each execution name once (its first real result), every further item with that
 * name a duplicate, as is an item whose start found the name taken (ExecutionAlreadyExists) or whose run
 * found its run id claimed (run-job's DuplicateRun). A failed child reaches the item as States.TaskFailed
 * whose Cause is the child's DescribeExecution; its own Error is the failure named here.
 */
export function summarizeBatch(
  plan: Pick<BatchPlan, 'batchId' | 'itemCount' | 'summary'>,
  entries: MapResultEntry[],
  options: { mapError?: { Error?: string; Cause?: string } | null; resultsUri?: string | null; rejected?: RejectedLine[] } = {},
): BatchSummary {
  const rejected = options.rejected ?? [];
  const summary: BatchSummary = {
    batchId: plan.batchId,
    status: options.mapError ? 'FAILED' : 'SUCCEEDED',
    error: options.mapError?.Error ?? null,
    items: plan.itemCount + rejected.length,
    succeeded: 0,
    failed: rejected.length,
    duplicates: 0,
    notRun: 0,
    failures: rejected.map((r) => ({ line: r.line, name: null, execution: null, error: r.error, cause: r.cause })),
    duplicateItems: [],
    estimatedCostUsd: 0,
    results: options.resultsUri ?? null,
    summary: plan.summary.uri,
  };
  const seen = new Set<string>();
  // Real results first, so a name's counted outcome is a run, not a "name already taken".
  const ordered = entries
    .map((entry) => ({ entry, item: itemOf(entry) }))
    .sort((a, b) => Number(Boolean(a.item.output?.alreadyStarted)) - Number(Boolean(b.item.output?.alreadyStarted)) || (a.item.line ?? 0) - (b.item.line ?? 0));
  for (const { entry, item } of ordered) {
    if (entry.Status !== 'SUCCEEDED' && entry.Status !== 'FAILED') {
      summary.notRun++;
      continue;
    }
    const duplicate = (reason: string) => {
      summary.duplicates++;
      summary.duplicateItems.push({ line: item.line, name: item.name, reason });
    };
    if (item.name !== null && seen.has(item.name)) {
      duplicate('the same execution name as an earlier item of this batch');
      continue;
    }
    if (item.name !== null) seen.add(item.name);
    if (entry.Status === 'FAILED') {
      summary.failed++;
      summary.failures.push({ line: item.line, name: item.name, ...childFailure(entry) });
      continue;
    }
    if (item.output?.alreadyStarted) {
      duplicate('an execution of this name already exists (a re-run batch or a repeated line)');
      continue;
    }
    const runOutput = item.output?.job?.output;
    if (runOutput?.error?.Error === 'DynamoDB.ConditionalCheckFailedException' && !runOutput?.record) {
      duplicate(`run ${runOutput?.request?.runId ?? '?'} was already claimed by another execution`);
      continue;
    }
    summary.succeeded++;
    const cost = runOutput?.record?.estimatedCostUsd;
    if (typeof cost === 'number') summary.estimatedCostUsd += cost;
  }
  summary.estimatedCostUsd = Math.round(summary.estimatedCostUsd * 100) / 100;
  summary.notRun += Math.max(0, plan.itemCount - entries.length);
  summary.failures.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  return summary;
}

function itemOf(entry: MapResultEntry): { line: number | null; name: string | null; output: ItemOutput | null } {
  const input = parseJson(entry.Input) as Partial<BatchItem> | null;
  const output = parseJson(entry.Output) as ItemOutput | null;
  return {
    line: typeof input?.line === 'number' ? input.line : null,
    name: typeof input?.name === 'string' ? input.name : null,
    output,
  };
}

function childFailure(entry: MapResultEntry): Omit<BatchFailure, 'line' | 'name'> {
  // A failed startExecution.sync:2 carries the child's DescribeExecution as its Cause.
  const child = entry.Error === STATES_ERROR.taskFailed ? (parseJson(entry.Cause) as { Error?: unknown; ExecutionArn?: string; Cause?: unknown } | null) : null;
  if (child && typeof child.Error === 'string') {
    return { execution: child.ExecutionArn ?? null, error: child.Error, cause: cut(lambdaMessage(child.Cause)) };
  }
  return { execution: null, error: entry.Error ?? 'States.Runtime', cause: cut(lambdaMessage(entry.Cause)) };
}

/** A Lambda error's Cause is its JSON (errorType, errorMessage, trace): the message is what a reader needs. */
function lambdaMessage(cause: unknown): string {
  const parsed = parseJson(typeof cause === 'string' ? cause : undefined) as { errorMessage?: unknown } | null;
  return typeof parsed?.errorMessage === 'string' ? parsed.errorMessage : String(cause ?? '');
}

/** The alarm message: counts, then each failure with its line and error name. */
export function formatSummaryMessage(summary: BatchSummary): string {
  const head = `emrflow batch ${summary.batchId} ${summary.status}: ${summary.items} items, ${summary.succeeded} succeeded, ${summary.failed} failed, ${summary.duplicates} duplicate(s), ${summary.notRun} not run; estimated cost $${summary.estimatedCostUsd.toFixed(2)}`;
  const lines = summary.failures.map((f) => `line ${f.line ?? '?'} ${f.name ?? ''}: ${f.error}: ${f.cause}`);
  return [head, ...(summary.error ? [`batch error: ${summary.error}`] : []), ...lines, `summary: ${summary.summary}`].join('\n');
}

function parseJson(text: string | undefined): unknown {
  if (typeof text !== 'string') return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function cut(text: string): string {
  return text.length > CAUSE_MAX ? `${text.slice(0, CAUSE_MAX - 1)}…` : text;
}

function dateOf(time: Date): string {
  return time.toISOString().slice(0, 10);
}
