/**
 * A job's input partition in the raw bucket. Apart from lib/domain/request.ts so that sizing can use it without
 * loading the trigger schemas (zod and Powertools' event schemas) into every Lambda that sizes or places.
 */
import type { JobDefinition, JobRequest } from './types';

/** `<inputPrefix>dt=<runDate>/`: where a run's partition lies. */
export function partitionKey(job: Pick<JobDefinition, 'inputPrefix'>, runDate: string): string {
  return `${job.inputPrefix}dt=${runDate}/`;
}

/** True when the request's input is the job's own `dt=<runDate>/` partition prefix in the raw bucket. */
export function isPartitionInput(request: Pick<JobRequest, 'input' | 'job' | 'runDate'>): boolean {
  return request.input.key === partitionKey(request.job, request.runDate);
}
