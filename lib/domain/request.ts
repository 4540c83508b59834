import { S3EventNotificationEventBridgeSchema } from '@aws-lambda-powertools/parser/schemas/s3';
import * as z from 'zod';
import { parseS3Uri, s3Location } from '../contract';
import { InvalidRequestError } from '../errors';
import { describeValue, matching, nonEmptyString, parseRequestInput, strictObject } from '../schema';
import { isPartitionInput, partitionKey } from './partition';
import { jobOwningKey, s3Run } from './s3Trigger';
import type { JobDefinition, JobRequest, S3Location, TriggerKind } from './types';
import { PrioritySchema } from './priority';

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

export const CALENDAR_DATE = z.iso.date({ error: 'must be a calendar date YYYY-MM-DD' });
export const TIMESTAMP = z.iso.datetime({ offset: true, error: 'must be an ISO 8601 timestamp such as 2026-11-27T02:00:00Z' });
export const INPUTS_README = 'examples/inputs/README.md';

const powertoolsDetail = S3EventNotificationEventBridgeSchema.shape.detail;

/**
 * The EventBridge S3 "Object Created" event (Powertools' schema). AWS writes this one, not a person, and adds
 * fields over time, so unknown keys are dropped here, not rejected: rejecting them would stop every upload.
 */
export const S3ObjectCreatedSchema = S3EventNotificationEventBridgeSchema.extend({
  source: z.literal('aws.s3', { error: 'must be "aws.s3": only S3 events start a run' }),
  'detail-type': z.literal('Object Created', { error: 'must be "Object Created": the EventBridge rule must match only that' }),
  time: TIMESTAMP,
  detail: powertoolsDetail.extend({
    object: powertoolsDetail.shape.object.extend({ key: nonEmptyString }),
    // Powertools accepts only IPv4 here; S3 reports IPv6 clients too.
    'source-ip-address': z.string().optional(),
  }),
});
export type S3ObjectCreated = z.infer<typeof S3ObjectCreatedSchema>;

/** The schedule's input (`{"job", "trigger": "schedule", "time"}`) and a console start share these fields. */
export const JobInputSchema = strictObject(
  {
    job: z.string({ error: (issue) => (issue.input === undefined ? `is required: the job to run, from config/jobs.json` : undefined) }).min(1),
    /** Without it, a `time` makes the input a schedule and its absence a console start. */
    trigger: z.enum(['schedule', 'console']).optional(),
    time: TIMESTAMP.optional(),
    date: CALENDAR_DATE.optional(),
    input: z
      .string()
      .transform((uri, ctx): S3Location => {
        const parsed = parseS3Uri(uri);
        if (parsed?.key) return parsed;
        ctx.addIssue({ code: 'custom', message: `must be an s3://bucket/key URI (a prefix ending in / or one object), got ${describeValue(uri)}` });
        return z.NEVER;
      })
      .optional(),
    runId: matching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$/, "must be 1-80 letters, digits, '.', '_' or '-', starting with a letter or digit").optional(),
    /** Overrides the job's catalog priority for this run (an urgent rerun, a backfill that may wait). */
    priority: PrioritySchema.optional(),
  },
  { see: INPUTS_README },
);
export type JobInput = z.infer<typeof JobInputSchema>;

/** Turns any of the three trigger shapes into a request; anything else is a Request.Invalid naming the field. */
export function parseTrigger(trigger: unknown, ctx: RequestContext): ParsedRequest {
  if (typeof trigger !== 'object' || trigger === null || Array.isArray(trigger)) {
    throw new InvalidRequestError(
      '(input)',
      `expected a JSON object: an EventBridge S3 "Object Created" event or {"job": "<name>"}, got ${describeValue(trigger)}`,
    );
  }
  const has = (key: string) => Object.hasOwn(trigger, key);
  if (has('Records')) {
    throw new InvalidRequestError(
      'Records',
      'S3 event notifications are not accepted; enable EventBridge on the bucket and route its "Object Created" events here',
    );
  }
  if (has('source') || has('detail-type')) return fromS3Event(parseRequestInput(S3ObjectCreatedSchema, trigger), ctx);
  return fromJobInput(parseRequestInput(JobInputSchema, trigger), ctx);
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
    reason: lookup.missing === 'table' ? `table ${where} does not exist yet` : `partition dt=${request.runDate} is not registered in ${where}`,
  };
}

/** The Glue partition to look up, or null when the request reads something the catalog does not describe. */
export function partitionToCheck(request: ParsedRequest): { database: string; table: string; values: string[] } | null {
  const catalog = request.job.catalog;
  if (!catalog || !isPartitionInput(request)) return null;
  return { database: catalog.database, table: catalog.table, values: [request.runDate] };
}

function fromS3Event(event: S3ObjectCreated, ctx: RequestContext): ParsedRequest {
  const bucket = event.detail.bucket.name;
  const { key, sequencer, etag } = event.detail.object;
  if (bucket !== ctx.rawBucket) {
    throw new InvalidRequestError(
      'detail.bucket.name',
      `${describeValue(bucket)} is not the raw bucket "${ctx.rawBucket}"; only uploads to the raw bucket start runs`,
    );
  }
  if (key.endsWith('/')) {
    throw new InvalidRequestError('detail.object.key', `${describeValue(key)} is a folder marker, not data; upload files under it`);
  }
  const job = jobOwningKey(ctx.jobs, key);
  if (!job) {
    throw new InvalidRequestError(
      'detail.object.key',
      `${describeValue(key)} matches no job's inputPrefix in config/jobs.json (known: ${ctx.jobs.map((j) => j.inputPrefix).join(', ')})`,
    );
  }
  const identity = sequencer || etag;
  if (!identity) {
    throw new InvalidRequestError('detail.object.sequencer', 'missing, and no detail.object.etag either: the run id needs one');
  }
  // What the upload starts depends on the job's s3Trigger (lib/domain/s3Trigger.ts).
  const run = s3Run(job, { bucket, key, identity, eventDate: dateOf(new Date(event.time)) }, (value, what) => {
    if (!CALENDAR_DATE.safeParse(value).success) throw new InvalidRequestError('detail.object.key', `${what} must be a calendar date YYYY-MM-DD`);
    return value;
  });
  return {
    ...request(job, 's3', run.runDate, run.runId, s3Location(ctx.rawBucket, run.inputKey), ctx),
    output: s3Location(ctx.artifactsBucket, run.outputPrefix),
  };
}

function fromJobInput(input: JobInput, ctx: RequestContext): ParsedRequest {
  const job = ctx.jobs.find((j) => j.name === input.job);
  if (!job) throw new InvalidRequestError('job', `${describeValue(input.job)} is not in config/jobs.json (known: ${jobNames(ctx.jobs)})`);
  const time = input.time === undefined ? undefined : new Date(input.time);
  const kind: TriggerKind = input.trigger ?? (time ? 'schedule' : 'console');
  const runDate = input.date ?? (kind === 'schedule' ? previousDay(time ?? ctx.now) : dateOf(time ?? ctx.now));
  const source = input.input ?? s3Location(ctx.rawBucket, partitionKey(job, runDate));
  const prioritized = input.priority ? { ...job, priority: input.priority } : job;
  return request(prioritized, kind, runDate, input.runId ?? `${job.name}-${runDate}`, source, ctx);
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

/** A daily schedule fires after its day has ended (02:00 UTC), so it processes the day before it fired. */
function previousDay(time: Date): string {
  return dateOf(new Date(time.getTime() - 24 * 3600 * 1000));
}

function dateOf(time: Date): string {
  return time.toISOString().slice(0, 10);
}

function jobNames(jobs: JobDefinition[]): string {
  return jobs.map((j) => j.name).join(', ');
}
