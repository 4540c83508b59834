import { parseS3Uri, s3Location } from '../contract';
import { InvalidRequestError } from '../errors';
import { s3Run } from './s3Trigger';
import type { JobDefinition, JobRequest, S3Location, TriggerKind } from './types';

/** What NormalizeRequest needs besides the trigger: the catalog, the buckets, the clock. */
export interface RequestContext {
  jobs: JobDefinition[];
  rawBucket: string;
  artifactsBucket: string;
  now: Date;
}

/** A JobRequest before the catalog check decides `crawl`. */
export type ParsedRequest = Omit<JobRequest, 'crawl'>;

/** Whether the run's Glue partition is registered (GetPartition), as the handler found it. */
export type PartitionLookup = { found: true } | { found: false; missing: 'table' | 'partition' };

/**
 * S3 keeps an event's sequencer across duplicate deliveries, and EventBridge retries a target for up to
 * 24 hours; a week keeps the claim well past both, and past a manual re-drive the next morning.
 */
export const CLAIM_TTL_SECONDS = 7 * 24 * 3600;

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$/;
const JOB_INPUT_FIELDS = ['job', 'date', 'time', 'input', 'runId', 'trigger'] as const;

/** Turns any of the three trigger shapes into a request; anything else is a Request.Invalid naming the field. */
export function parseTrigger(trigger: unknown, ctx: RequestContext): ParsedRequest {
  if (typeof trigger !== 'object' || trigger === null || Array.isArray(trigger)) {
    throw new InvalidRequestError('(input)', 'expected a JSON object: an EventBridge S3 "Object Created" event or {"job": "<name>"}');
  }
  const input = trigger as Record<string, unknown>;
  if ('Records' in input) {
    throw new InvalidRequestError(
      'Records',
      'S3 event notifications are not accepted; enable EventBridge on the bucket and route its "Object Created" events here',
    );
  }
  if ('source' in input || 'detail-type' in input) return fromS3Event(input, ctx);
  if ('job' in input) return fromJobInput(input, ctx);
  throw new InvalidRequestError(
    '(input)',
    `expected an EventBridge S3 "Object Created" event or {"job": "<name>"}; known jobs: ${jobNames(ctx.jobs)}`,
  );
}

/**
 * Crawl when the catalog lacks the run's partition (or the table); never for a job without a catalog entry,
 * nor for an input that is not the job's partition (`lookup` null: nothing was looked up).
 */
export function crawlPlan(request: ParsedRequest, lookup: PartitionLookup | null): JobRequest['crawl'] {
  const catalog = request.job.catalog;
  if (!catalog) return { required: false, crawler: null, reason: 'the job has no catalog entry in config/jobs.json' };
  if (lookup === null) {
    return {
      required: false,
      crawler: catalog.crawler,
      reason: `input ${request.input.uri} is not the job's dt=${request.runDate}/ partition, so the catalog does not describe it`,
    };
  }
  const where = `${catalog.database}.${catalog.table}`;
  if (lookup.found) {
    return { required: false, crawler: catalog.crawler, reason: `partition dt=${request.runDate} is registered in ${where}` };
  }
  return {
    required: true,
    crawler: catalog.crawler,
    reason:
      lookup.missing === 'table'
        ? `table ${where} does not exist yet`
        : `partition dt=${request.runDate} is not registered in ${where}`,
  };
}

/** The Glue partition to look up, or null when the request reads something the catalog does not describe. */
export function partitionToCheck(request: ParsedRequest): { database: string; table: string; values: string[] } | null {
  const catalog = request.job.catalog;
  if (!catalog || !isPartitionInput(request)) return null;
  return { database: catalog.database, table: catalog.table, values: [request.runDate] };
}

/** True when the request's input is the job's own `dt=<runDate>/` partition prefix in the raw bucket. */
export function isPartitionInput(request: Pick<JobRequest, 'input' | 'job' | 'runDate'>): boolean {
  return request.input.key === partitionKey(request.job, request.runDate);
}

function fromS3Event(event: Record<string, unknown>, ctx: RequestContext): ParsedRequest {
  if (event.source !== 'aws.s3') {
    throw new InvalidRequestError('source', `${show(event.source)} is not accepted; only "aws.s3" events start a run`);
  }
  if (event['detail-type'] !== 'Object Created') {
    throw new InvalidRequestError(
      'detail-type',
      `${show(event['detail-type'])} is not accepted; the EventBridge rule must match "Object Created"`,
    );
  }
  const detail = asObject(event.detail, 'detail');
  const bucket = asString(asObject(detail.bucket, 'detail.bucket').name, 'detail.bucket.name');
  const object = asObject(detail.object, 'detail.object');
  const key = asString(object.key, 'detail.object.key');
  if (bucket !== ctx.rawBucket) {
    throw new InvalidRequestError(
      'detail.bucket.name',
      `"${bucket}" is not the raw bucket "${ctx.rawBucket}"; only uploads to the raw bucket start runs`,
    );
  }
  const identity = optionalString(object.sequencer, 'detail.object.sequencer') ?? optionalString(object.etag, 'detail.object.etag');
  if (!identity) {
    throw new InvalidRequestError('detail.object.sequencer', 'missing, and no detail.object.etag either: the run id needs one');
  }
  const job = ctx.jobs
    .filter((j) => key.startsWith(j.inputPrefix))
    .sort((a, b) => b.inputPrefix.length - a.inputPrefix.length)[0];
  if (!job) {
    throw new InvalidRequestError(
      'detail.object.key',
      `"${key}" matches no job's inputPrefix in config/jobs.json (known: ${ctx.jobs.map((j) => j.inputPrefix).join(', ')})`,
    );
  }
  // What the upload starts depends on the job's s3Trigger (lib/domain/s3Trigger.ts).
  const run = s3Run(job, { bucket, key, identity, eventDate: dateOf(asTime(event.time, 'time')) }, (value, what) =>
    checkDate(value, 'detail.object.key', what),
  );
  return {
    ...request(job, 's3', run.runDate, run.runId, s3Location(ctx.rawBucket, run.inputKey), ctx),
    output: s3Location(ctx.artifactsBucket, run.outputPrefix),
  };
}

function fromJobInput(input: Record<string, unknown>, ctx: RequestContext): ParsedRequest {
  const unknown = Object.keys(input).filter((k) => !(JOB_INPUT_FIELDS as readonly string[]).includes(k));
  if (unknown.length > 0) {
    throw new InvalidRequestError(unknown[0], `unknown field; allowed: ${JOB_INPUT_FIELDS.join(', ')} (see examples/inputs/README.md)`);
  }
  const name = asString(input.job, 'job');
  const job = ctx.jobs.find((j) => j.name === name);
  if (!job) throw new InvalidRequestError('job', `"${name}" is not in config/jobs.json (known: ${jobNames(ctx.jobs)})`);
  const time = input.time === undefined ? undefined : asTime(input.time, 'time');
  if (input.trigger !== undefined && input.trigger !== 'schedule' && input.trigger !== 'console') {
    throw new InvalidRequestError('trigger', `${show(input.trigger)} must be "schedule" or "console"`);
  }
  const kind: TriggerKind = input.trigger ?? (time ? 'schedule' : 'console');
  const runDate =
    input.date !== undefined
      ? checkDate(asString(input.date, 'date'), 'date', `"${String(input.date)}"`)
      : kind === 'schedule'
        ? previousDay(time ?? ctx.now)
        : dateOf(time ?? ctx.now);
  const source = input.input === undefined ? s3Location(ctx.rawBucket, partitionKey(job, runDate)) : parseInputUri(input.input);
  const runId = input.runId === undefined ? `${job.name}-${runDate}` : asString(input.runId, 'runId');
  if (!RUN_ID.test(runId)) {
    throw new InvalidRequestError('runId', `"${runId}" must be 1-80 letters, digits, '.', '_' or '-', starting with a letter or digit`);
  }
  return request(job, kind, runDate, runId, source, ctx);
}

function parseInputUri(value: unknown): S3Location {
  const uri = asString(value, 'input');
  const parsed = parseS3Uri(uri);
  if (!parsed?.key) throw new InvalidRequestError('input', `"${uri}" must be an s3://bucket/key URI (a prefix ending in / or one object)`);
  return parsed;
}

function request(job: JobDefinition, trigger: TriggerKind, runDate: string, runId: string, input: S3Location, ctx: RequestContext): ParsedRequest {
  return {
    runId,
    trigger,
    runDate,
    job,
    input,
    output: s3Location(ctx.artifactsBucket, job.outputPrefix),
    claimExpiresAt: Math.floor(ctx.now.getTime() / 1000) + CLAIM_TTL_SECONDS,
  };
}

function partitionKey(job: JobDefinition, runDate: string): string {
  return `${job.inputPrefix}dt=${runDate}/`;
}


function checkDate(value: string, field: string, what: string): string {
  const parsed = new Date(`${value}T00:00:00Z`);
  if (!DATE.test(value) || Number.isNaN(parsed.getTime()) || parsed.toISOString().slice(0, 10) !== value) {
    throw new InvalidRequestError(field, `${what} must be a calendar date YYYY-MM-DD`);
  }
  return value;
}

/** A daily schedule fires after its day has ended (02:00 UTC), so it processes the day before it fired. */
function previousDay(time: Date): string {
  return dateOf(new Date(time.getTime() - 24 * 3600 * 1000));
}

function dateOf(time: Date): string {
  return time.toISOString().slice(0, 10);
}

function asTime(value: unknown, field: string): Date {
  const time = typeof value === 'string' ? new Date(value) : undefined;
  if (!time || Number.isNaN(time.getTime())) {
    throw new InvalidRequestError(field, `${show(value)} must be an ISO 8601 timestamp such as 2026-11-27T02:00:00Z`);
  }
  return time;
}

function asObject(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidRequestError(field, `missing or not an object (got ${show(value)})`);
  }
  return value as Record<string, unknown>;
}

function asString(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new InvalidRequestError(field, `must be a non-empty string, got ${show(value)}`);
  return value;
}

function optionalString(value: unknown, field: string): string | undefined {
  return value === undefined || value === '' ? undefined : asString(value, field);
}

function jobNames(jobs: JobDefinition[]): string {
  return jobs.map((j) => j.name).join(', ');
}

function show(value: unknown): string {
  return value === undefined ? 'nothing' : JSON.stringify(value);
}
