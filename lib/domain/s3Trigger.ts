/**
 * What an S3 upload under a job's inputPrefix starts, by the job's `s3Trigger` (config/jobs.json):
 *
 *   marker      `<inputPrefix>dt=YYYY-MM-DD/_SUCCESS` → one run over `<inputPrefix>dt=YYYY-MM-DD/`, id
 *               `<job>-<date>` (the schedule's and the console's id too, so any second start of that day,
 *               a duplicate delivery included, stops at ClaimRun). A marker in another folder runs over
 *               that folder, dated by the event, its id adding a digest of the folder.
 *   per-object  every object → one run over that object alone, id `<job>-<date>-<digest of bucket, key,
 *               sequencer>`, output `<outputPrefix>by-object/<key below inputPrefix>/`: no two objects'
 *               runs write to the same place.
 *
 * The EventBridge rule (infra/job-catalog.js) only passes trigger keys; a key that is not one reaching
 * NormalizeRequest anyway (a hand-made input, a folder key) is a Request.Invalid saying which key would be.
 */
import { createHash } from 'node:crypto';
import { InvalidRequestError } from '../errors';
import { describeValue } from '../schema';
import type { JobDefinition } from './types';

export interface S3Run {
  runDate: string;
  runId: string;
  /** Key (prefix ending in `/`, or one object) in the raw bucket the run reads. */
  inputKey: string;
  /** Prefix in the artifacts bucket the run writes under. */
  outputPrefix: string;
}

export interface S3Upload {
  bucket: string;
  key: string;
  /** The event's sequencer, else its etag: S3 repeats it when it delivers one event twice. */
  identity: string;
  /** YYYY-MM-DD of the event, for keys outside a dt= partition. */
  eventDate: string;
}

const FIELD = 'detail.object.key';
const digest = (...parts: string[]) => createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 16);

/** Whether the job's rule passes this key (the same rule as the EventBridge pattern, for NormalizeRequest). */
export function isTriggerKey(job: JobDefinition, key: string): boolean {
  if (!key.startsWith(job.inputPrefix) || key.endsWith('/')) return false;
  const trigger = job.s3Trigger;
  if (trigger.mode === 'marker') return key.split('/').pop() === trigger.marker;
  return trigger.suffix === undefined || key.endsWith(trigger.suffix);
}

/**
 * The run an upload starts. `checkDate` validates a `dt=` segment (it throws Request.Invalid naming the
 * key); a key outside any partition is dated by the event.
 */
export function s3Run(job: JobDefinition, upload: S3Upload, checkDate: (value: string, what: string) => string): S3Run {
  const { key } = upload;
  if (!isTriggerKey(job, key)) throw new InvalidRequestError(FIELD, notATrigger(job, key));
  const relative = key.slice(job.inputPrefix.length);
  const partition = /^dt=([^/]+)\//.exec(relative);
  const runDate = partition ? checkDate(partition[1], `the dt= segment of ${describeValue(key)}`) : upload.eventDate;

  if (job.s3Trigger.mode === 'marker') {
    const folder = key.slice(0, key.length - job.s3Trigger.marker.length);
    const partitionMarker = partition !== null && folder === `${job.inputPrefix}dt=${partition[1]}/`;
    return {
      runDate,
      runId: partitionMarker ? `${job.name}-${runDate}` : `${job.name}-${runDate}-${digest(upload.bucket, folder)}`,
      inputKey: folder,
      outputPrefix: job.outputPrefix,
    };
  }
  return {
    runDate,
    runId: `${job.name}-${runDate}-${digest(upload.bucket, key, upload.identity)}`,
    inputKey: key,
    outputPrefix: `${job.outputPrefix}by-object/${relative}/`,
  };
}

function notATrigger(job: JobDefinition, key: string): string {
  const trigger = job.s3Trigger;
  if (trigger.mode === 'marker') {
    return (
      `${describeValue(key)} does not start a run of ${job.name}: its s3Trigger is marker mode, so only a "${trigger.marker}" object ` +
      `completes a partition (upload ${job.inputPrefix}dt=YYYY-MM-DD/${trigger.marker} after the data)`
    );
  }
  return `${describeValue(key)} does not start a run of ${job.name}: its s3Trigger is per-object mode for keys ending in "${trigger.suffix}"`;
}

/** The job whose inputPrefix is the longest one above `key` (the most specific owner of an object), if any. */
export function jobOwningKey<J extends Pick<JobDefinition, 'inputPrefix'>>(jobs: readonly J[], key: string): J | undefined {
  return jobs.filter((job) => key.startsWith(job.inputPrefix)).sort((a, b) => b.inputPrefix.length - a.inputPrefix.length)[0];
}
