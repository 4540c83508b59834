import * as z from 'zod';
import jobsJson from '../../config/jobs.json';
import { catalogNamesForStage, DEFAULT_S3_MARKER } from '../contract';
import { between, matching, nonEmptyString, parseConfig, strictObject } from '../schema';
import { PrioritySchema, type Priority } from '../domain/priority';

export type { Priority };

export const JOBS_FILE = 'config/jobs.json';

const NAME = matching(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be 1-63 lowercase letters, digits or "-", starting with a letter or digit');
const PREFIX = matching(/^[^/].*\/$/, 'must be a key prefix that ends with "/" and does not start with one, such as events/');

/** A name within one folder: EventBridge wildcard patterns reserve `*` and `\\`. */
const BASENAME = matching(/^[^/*\\]+$/, 'must be an object name without "/", "*" or "\\", such as _SUCCESS or .json');

/**
 * Which S3 uploads under the job's inputPrefix start a run, and over what (lib/domain/s3Trigger.ts;
 * infra/job-catalog.js builds the EventBridge rule from the same setting):
 *   marker      only `<inputPrefix>[<folder>/]<marker>` starts a run, over that folder (the partition),
 *               with the run id job + date: the partition is complete when its marker lands
 *   per-object  every object (optionally only keys ending in `suffix`) is a run over that object alone,
 *               writing under its own output prefix
 */
export const S3TriggerSchema = z.discriminatedUnion(
  'mode',
  [
    strictObject({ mode: z.literal('marker'), marker: BASENAME.default(DEFAULT_S3_MARKER) }),
    strictObject({ mode: z.literal('per-object'), suffix: BASENAME.optional() }),
  ],
  { error: 'must be {"mode": "marker", "marker": "_SUCCESS"} or {"mode": "per-object", "suffix": ".json"} (marker and suffix optional)' },
);
export type S3Trigger = z.infer<typeof S3TriggerSchema>;

/** One entry of config/jobs.json. */
export const JobDefinitionSchema = strictObject({
  name: NAME,
  description: nonEmptyString,
  /** Script key in the artifacts bucket, e.g. `spark/denormalize.py`. */
  entryPoint: matching(/^[^/].*\.(py|jar)$/, 'must be a key in the artifacts bucket ending in .py or .jar, such as spark/denormalize.py'),
  /** Extra arguments passed to the script after the input and output URIs. */
  args: z.array(z.string()).default([]),
  /** Where its raw input lands in the raw bucket; S3 uploads under this prefix trigger the job. */
  inputPrefix: PREFIX,
  /** Where it writes, in the artifacts bucket. */
  outputPrefix: PREFIX,
  /** Glue catalog entry describing the input; crawled when the run's partition is not registered. */
  catalog: strictObject({ database: nonEmptyString, table: nonEmptyString, crawler: nonEmptyString }).optional(),
  slaMinutes: between(5, 720, { integer: true }),
  priority: PrioritySchema,
  releaseLabel: matching(/^emr-\d+\.\d+\.\d+$/, 'must be an EMR release label such as emr-7.10.0'),
  maxAttempts: between(1, 10, { integer: true }),
  /** Which uploads start a run, and over what (default: marker mode with `_SUCCESS`). */
  s3Trigger: S3TriggerSchema.default({ mode: 'marker', marker: DEFAULT_S3_MARKER }),
});
export type JobDefinition = z.infer<typeof JobDefinitionSchema>;

export const JobsFileSchema = strictObject({
  jobs: z.array(JobDefinitionSchema).min(1, 'must list at least one job'),
}).superRefine(({ jobs }, ctx) => {
  jobs.forEach((job, i) => {
    const other = jobs.findIndex((o, j) => j !== i && (o.name === job.name || o.inputPrefix === job.inputPrefix));
    if (other >= 0) ctx.addIssue({ code: 'custom', path: ['jobs', i], message: `name or inputPrefix repeats jobs[${other}]; each job needs its own` });
  });
});

/** Validates config/jobs.json's content; every error names the job's index and the field. */
export function parseJobs(raw: unknown): JobDefinition[] {
  return parseConfig(JOBS_FILE, JobsFileSchema, raw).jobs;
}

let cached: JobDefinition[] | undefined;

/** The bundled job catalog, validated once per Lambda container. */
export function loadJobs(): JobDefinition[] {
  cached ??= parseJobs(jobsJson);
  return cached;
}

/** The jobs as a stage runs them: each catalog's Glue names scoped to the stage (lib/contract.ts catalogNamesForStage). */
export function loadJobsForStage(stage: string | undefined): JobDefinition[] {
  return loadJobs().map((job) => (job.catalog ? { ...job, catalog: catalogNamesForStage(job.catalog, stage) } : job));
}
