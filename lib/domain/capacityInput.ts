/**
 * The inputs of the capacity handlers (acquire-capacity, release-capacity, dispatch-queue),
 * as the run-job state machine and EventBridge send them. One zod schema each; bad input is a
 * Request.Invalid naming the field (lib/schema.ts parseRequestInput), before anything is written.
 */
import * as z from 'zod';
import { between, nonEmptyString, strictObject } from '../schema';
import { PrioritySchema } from './priority';
import { PooledStep } from './stepCompletion';

const name = nonEmptyString;

/** AcquireCapacity (`.waitForTaskToken`): park the job; the slot arrives through the token. */
export const AcquireCapacityInput = strictObject({
  pool: name,
  units: between(1, Infinity, { integer: true }),
  priority: PrioritySchema,
  execution: name,
  attempt: between(1, Infinity, { integer: true }),
  taskToken: name,
  /** The step's timeout: the lease lives this much longer than leaseSeconds (QueueEntry.holdSeconds). */
  holdSeconds: between(1, 7 * 86_400, { integer: true }).optional(),
  /** The job's step: the dispatcher submits it in its cluster's batch and the slot carries its id (QueueEntry.step). */
  step: PooledStep.optional(),
});
export type AcquireCapacityInput = z.infer<typeof AcquireCapacityInput>;

/**
 * ReleaseCapacity: the slot the execution holds (`$.placement.slot`, whole; its other fields are ignored).
 * `stepId` is there when the dispatcher submitted the job's step (a batched grant): release reads that one
 * step's mapping instead of every mapping on the cluster. Absent (a job that submitted its own step, or an
 * execution of an older definition that sent only pool, clusterId and lease), release reads them all.
 */
export const SlotInput = z.object({ pool: name, clusterId: name, lease: name, stepId: name.optional() });
export type SlotInput = z.infer<typeof SlotInput>;

/** DispatchQueue: the one-minute schedule, an EMR Cluster State Change event, or `{ pool }` from a test or the CLI. */
export const DispatchQueueInput = z.union([
  z.object({
    source: z.literal('aws.emr'),
    'detail-type': z.literal('EMR Cluster State Change'),
    detail: z.object({ clusterId: name, name: z.string(), state: name }),
  }),
  z.object({ 'detail-type': z.literal('Scheduled Event') }),
  strictObject({ pool: name.optional() }),
]);
export type DispatchQueueInput = z.infer<typeof DispatchQueueInput>;
