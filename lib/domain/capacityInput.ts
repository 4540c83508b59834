/**
 * The inputs of the capacity handlers (acquire-capacity, release-capacity, renew-lease, dispatch-queue),
 * as the run-job state machine and EventBridge send them. One zod schema each; bad input is a
 * Request.Invalid naming the field, before anything is written.
 */
import { z } from 'zod';
import { InvalidRequestError } from '../errors';

const name = z.string().min(1, 'must be a non-empty string');

/** AcquireCapacity (`.waitForTaskToken`): park the job; the slot arrives through the token. */
export const AcquireCapacityInput = z.strictObject({
  pool: name,
  units: z.number().int('must be a whole number of units').min(1, 'must be at least 1'),
  priority: z.enum(['low', 'normal', 'high']),
  execution: name,
  attempt: z.number().int().min(1, 'must be at least 1'),
  taskToken: name,
  /** The step's timeout: the lease lives this much longer than leaseSeconds (QueueEntry.holdSeconds). */
  holdSeconds: z.number().int('must be whole seconds').min(1, 'must be at least 1').optional(),
});
export type AcquireCapacityInput = z.infer<typeof AcquireCapacityInput>;

/** ReleaseCapacity and RenewLease: the slot the execution holds (`$.placement.slot`). */
export const SlotInput = z.object({ pool: name, clusterId: name, lease: name });
export type SlotInput = z.infer<typeof SlotInput>;

/** DispatchQueue: the one-minute schedule, an EMR Cluster State Change event, or `{ pool }` from a test or the CLI. */
export const DispatchQueueInput = z.union([
  z.object({
    source: z.literal('aws.emr'),
    'detail-type': z.literal('EMR Cluster State Change'),
    detail: z.object({ clusterId: name, name: z.string(), state: name }),
  }),
  z.object({ 'detail-type': z.literal('Scheduled Event') }),
  z.strictObject({ pool: name.optional() }),
]);
export type DispatchQueueInput = z.infer<typeof DispatchQueueInput>;

export function parseInput<T>(schema: z.ZodType<T>, raw: unknown): T {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const [issue] = parsed.error.issues;
  const field = issue.path.length > 0 ? issue.path.map(String).join('.') : '(input)';
  throw new InvalidRequestError(field, issue.message);
}
