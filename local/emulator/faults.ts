/**
 * Fault injection, from a JSON file whose fields are exactly the ones issue 3 documents. The schema is
 * strict: an unknown field or a bad value is an error naming the file and the field path, because a typo
 * in a fault file would otherwise silently test the happy path.
 */
import * as z from 'zod';
import { InvalidConfigError } from '../../lib/errors';
import { between, parseConfig, strictObject } from '../../lib/schema';
import { EMR_OPERATIONS } from './emr/operations';
import type { Random } from './random';

const ATTEMPT = between(1, Infinity, { integer: true });
const attemptFaults = <Shape extends z.ZodRawShape>(shape: Shape, example: string) =>
  z
    .array(strictObject({ attempt: ATTEMPT, ...shape }), { error: (issue) => (issue.input === undefined ? undefined : `must be an array like [${example}]`) })
    .default([]);

export const FaultsSchema = strictObject({
  emr: strictObject({
    spotInterruption: attemptFaults(
      {
        phase: z.enum(['BOOTSTRAPPING', 'STEP_RUNNING']),
        /**
         * STEP_RUNNING only: EC2 also takes the cluster's primary node (a pool cluster lost mid-load, as
         * when its primary runs on Spot): every running step fails and the cluster ends INSTANCE_FAILURE.
         */
        withPrimary: z.boolean({ error: 'must be true or false' }).optional(),
      },
      '{"attempt": 1, "phase": "STEP_RUNNING"}',
    ),
    spotCapacityUnavailable: attemptFaults({}, '{"attempt": 1}'),
    stepFailure: attemptFaults({}, '{"attempt": 1}'),
    bootstrapFailure: attemptFaults({}, '{"attempt": 1}'),
    /** Operation name → probability (0..1) that a call gets ThrottlingException. */
    throttle: z
      .record(
        z.string().refine((name) => (EMR_OPERATIONS as readonly string[]).includes(name), `unknown EMR operation (known: ${EMR_OPERATIONS.join(', ')})`),
        between(0, 1),
      )
      .default({}),
  }).prefault({}),
  /**
   * EMR Serverless job runs, by the attempt in their name ("… attempt <n>"): `jobRunFailure` fails the job run
   * while RUNNING; `capacityExceeded` fails it in SCHEDULED as workers that do not fit the maximum capacity do
   * (and makes StartApplication of an application with initial capacity answer ServiceQuotaExceededException).
   */
  emrServerless: strictObject({
    jobRunFailure: attemptFaults({}, '{"attempt": 1}'),
    capacityExceeded: attemptFaults({}, '{"attempt": 1}'),
  }).prefault({}),
  /**
   * EMR's EventBridge events on their way to the runner's rules: the share EventBridge loses (`drop`) and the
   * share it delivers twice (`duplicate`), each drawn per event. EventBridge promises at least once, best effort.
   */
  events: strictObject({
    drop: between(0, 1),
    duplicate: between(0, 1),
  })
    .partial()
    .transform((events) => ({ drop: events.drop ?? 0, duplicate: events.duplicate ?? 0 }))
    .prefault({}),
  glue: strictObject({
    crawlerAlreadyRunning: z.boolean({ error: 'must be true or false' }).default(false),
    crawlerFails: z.boolean({ error: 'must be true or false' }).default(false),
  }).prefault({}),
});
export type Faults = z.output<typeof FaultsSchema>;
export type SpotInterruptionPhase = Faults['emr']['spotInterruption'][number]['phase'];

export const NO_FAULTS: Faults = Object.freeze(FaultsSchema.parse({}));

/**
 * Parses and validates a fault file. `input` is the file's text or its already parsed JSON; `sourceName`
 * (usually the file path) prefixes every error message.
 */
export function parseFaults(input: string | unknown, sourceName: string): Faults {
  let raw: unknown = input;
  if (typeof input === 'string') {
    try {
      raw = JSON.parse(input);
    } catch (error) {
      throw new InvalidConfigError(sourceName, '(file)', `not valid JSON: ${(error as Error).message}`);
    }
  }
  return parseConfig(sourceName, FaultsSchema, raw);
}

type AttemptFault = 'spotCapacityUnavailable' | 'stepFailure' | 'bootstrapFailure';

/**
 * Applies a Faults object. Each listed fault fires once: the first cluster or step of that attempt takes
 * it, so a retried call within the same attempt is not hit twice. Replacing the faults starts afresh.
 */
export class FaultInjector {
  private configured!: Faults;
  private pending!: Faults;
  private crawlerAlreadyRunningUsed = false;

  constructor(
    faults: Faults,
    private readonly random: Random,
  ) {
    this.set(faults);
  }

  set(faults: Faults): void {
    this.configured = structuredClone(faults);
    this.pending = structuredClone(faults);
    this.crawlerAlreadyRunningUsed = false;
  }

  /** The faults as configured, including those already fired. */
  current(): Faults {
    return structuredClone(this.configured);
  }

  take(kind: AttemptFault, attempt: number): boolean {
    const list = this.pending.emr[kind];
    const index = list.findIndex((fault) => fault.attempt === attempt);
    if (index < 0) return false;
    list.splice(index, 1);
    return true;
  }

  /** The interruption that strikes this attempt in this phase (taken: it fires once), or null. */
  takeSpotInterruption(attempt: number, phase: SpotInterruptionPhase): Faults['emr']['spotInterruption'][number] | null {
    const list = this.pending.emr.spotInterruption;
    const index = list.findIndex((fault) => fault.attempt === attempt && fault.phase === phase);
    if (index < 0) return null;
    return list.splice(index, 1)[0];
  }

  /** Whether an EMR Serverless fault strikes this attempt (taken: it fires once). */
  takeServerless(kind: keyof Faults['emrServerless'], attempt: number): boolean {
    const list = this.pending.emrServerless[kind];
    const index = list.findIndex((fault) => fault.attempt === attempt);
    if (index < 0) return false;
    list.splice(index, 1);
    return true;
  }

  throttles(operation: string): boolean {
    const probability = this.pending.emr.throttle[operation] ?? 0;
    return probability > 0 && this.random.next() < probability;
  }

  /** True once: the first StartCrawler finds a crawl that someone else started. */
  takeCrawlerAlreadyRunning(): boolean {
    if (!this.pending.glue.crawlerAlreadyRunning || this.crawlerAlreadyRunningUsed) return false;
    this.crawlerAlreadyRunningUsed = true;
    return true;
  }

  crawlerFails(): boolean {
    return this.pending.glue.crawlerFails;
  }
}
