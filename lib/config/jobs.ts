import jobsJson from '../../config/jobs.json';
import type { JobDefinition } from '../domain/types';
import { ConfigReader } from './check';
import { readS3Trigger } from './s3Trigger';

export const JOBS_FILE = 'config/jobs.json';
const PRIORITIES = ['low', 'normal', 'high'] as const;

/** Validates config/jobs.json's content; every error names the job's index and the field. */
export function parseJobs(raw: unknown): JobDefinition[] {
  const r = new ConfigReader(JOBS_FILE);
  const jobs = r.array(r.object(raw, '(root)').jobs, 'jobs', { minItems: 1 }).map((item, i) => {
    const at = `jobs[${i}]`;
    const o = r.object(item, at);
    const job: JobDefinition = {
      name: r.string(o.name, `${at}.name`, /^[a-z0-9][a-z0-9-]{0,62}$/),
      description: r.string(o.description, `${at}.description`),
      entryPoint: r.string(o.entryPoint, `${at}.entryPoint`, /^[^/].*\.(py|jar)$/),
      args: r.strings(o.args ?? [], `${at}.args`),
      inputPrefix: r.string(o.inputPrefix, `${at}.inputPrefix`, /^[^/].*\/$/),
      outputPrefix: r.string(o.outputPrefix, `${at}.outputPrefix`, /^[^/].*\/$/),
      slaMinutes: r.number(o.slaMinutes, `${at}.slaMinutes`, { min: 5, max: 720, integer: true }),
      priority: r.oneOf(o.priority, `${at}.priority`, PRIORITIES),
      releaseLabel: r.string(o.releaseLabel, `${at}.releaseLabel`, /^emr-\d+\.\d+\.\d+$/),
      maxAttempts: r.number(o.maxAttempts, `${at}.maxAttempts`, { min: 1, max: 10, integer: true }),
      s3Trigger: readS3Trigger(r, o.s3Trigger, `${at}.s3Trigger`),
    };
    if (o.catalog !== undefined) {
      const c = r.object(o.catalog, `${at}.catalog`);
      job.catalog = {
        database: r.string(c.database, `${at}.catalog.database`),
        table: r.string(c.table, `${at}.catalog.table`),
        crawler: r.string(c.crawler, `${at}.catalog.crawler`),
      };
    }
    return job;
  });
  jobs.forEach((job, i) => {
    const other = jobs.findIndex((o, j) => j !== i && (o.name === job.name || o.inputPrefix === job.inputPrefix));
    if (other >= 0) r.fail(`jobs[${i}]`, `name or inputPrefix repeats jobs[${other}]; each job needs its own`);
  });
  return jobs;
}

let cached: JobDefinition[] | undefined;

/** The bundled job catalog, validated once per Lambda container. */
export function loadJobs(): JobDefinition[] {
  cached ??= parseJobs(jobsJson);
  return cached;
}
