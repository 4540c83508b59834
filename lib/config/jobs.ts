import * as z from 'zod';
import jobsJson from '../../config/jobs.json';
import { between, matching, nonEmptyString, parseConfig, strictObject } from '../schema';

export const JOBS_FILE = 'config/jobs.json';

const NAME = matching(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be 1-63 lowercase letters, digits or "-", starting with a letter or digit');
const PREFIX = matching(/^[^/].*\/$/, 'must be a key prefix that ends with "/" and does not start with one, such as events/');

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
  priority: z.enum(['low', 'normal', 'high']),
  releaseLabel: matching(/^emr-\d+\.\d+\.\d+$/, 'must be an EMR release label such as emr-7.10.0'),
  maxAttempts: between(1, 10, { integer: true }),
});
export type JobDefinition = z.infer<typeof JobDefinitionSchema>;
export type Priority = JobDefinition['priority'];

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
