/**
 * Fault injection, from a JSON file whose fields are exactly the ones issue 3 documents. The parser is
 * strict: an unknown field or a bad value is an error naming the file and the field path, because a typo
 * in a fault file would otherwise silently test the happy path.
 */
import { InvalidConfigError } from '../../lib/errors';
import { EMR_OPERATIONS } from './emr/operations';
import type { Random } from './random';

export type SpotInterruptionPhase = 'BOOTSTRAPPING' | 'STEP_RUNNING';

export interface Faults {
  emr: {
    spotInterruption: Array<{ attempt: number; phase: SpotInterruptionPhase }>;
    spotCapacityUnavailable: Array<{ attempt: number }>;
    stepFailure: Array<{ attempt: number }>;
    bootstrapFailure: Array<{ attempt: number }>;
    /** Operation name → probability (0..1) that a call gets ThrottlingException. */
    throttle: Record<string, number>;
  };
  glue: { crawlerAlreadyRunning: boolean; crawlerFails: boolean };
}

export const NO_FAULTS: Faults = Object.freeze({
  emr: { spotInterruption: [], spotCapacityUnavailable: [], stepFailure: [], bootstrapFailure: [], throttle: {} },
  glue: { crawlerAlreadyRunning: false, crawlerFails: false },
}) as Faults;

const PHASES: readonly SpotInterruptionPhase[] = ['BOOTSTRAPPING', 'STEP_RUNNING'];

type Fail = (field: string, message: string) => never;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function onlyKeys(value: Record<string, unknown>, allowed: readonly string[], path: string, fail: Fail): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      fail(path ? `${path}.${key}` : key, `unknown field (allowed: ${allowed.join(', ')})`);
    }
  }
}

function attemptOf(entry: Record<string, unknown>, path: string, fail: Fail): number {
  const attempt = entry.attempt;
  if (!Number.isInteger(attempt) || (attempt as number) < 1) {
    fail(`${path}.attempt`, `must be an integer >= 1 (the job's attempt number), got ${JSON.stringify(attempt)}`);
  }
  return attempt as number;
}

function attemptList(value: unknown, path: string, fail: Fail): Array<{ attempt: number }> {
  if (value === undefined) return [];
  if (!Array.isArray(value)) fail(path, 'must be an array of {"attempt": n}');
  return (value as unknown[]).map((entry, i) => {
    const at = `${path}[${i}]`;
    if (!isPlainObject(entry)) fail(at, 'must be an object like {"attempt": 1}');
    onlyKeys(entry, ['attempt'], at, fail);
    return { attempt: attemptOf(entry, at, fail) };
  });
}

/**
 * Parses and validates a fault file. `input` is the file's text or its already parsed JSON; `sourceName`
 * (usually the file path) prefixes every error message.
 */
export function parseFaults(input: string | unknown, sourceName: string): Faults {
  const fail: Fail = (field, message) => {
    throw new InvalidConfigError(sourceName, field, message);
  };
  let raw: unknown = input;
  if (typeof input === 'string') {
    try {
      raw = JSON.parse(input);
    } catch (error) {
      fail('(file)', `not valid JSON: ${(error as Error).message}`);
    }
  }
  if (!isPlainObject(raw)) fail('(root)', 'must be a JSON object with optional "emr" and "glue" fields');
  onlyKeys(raw, ['emr', 'glue'], '', fail);

  const emr = raw.emr ?? {};
  if (!isPlainObject(emr)) fail('emr', 'must be an object');
  onlyKeys(emr, ['spotInterruption', 'spotCapacityUnavailable', 'stepFailure', 'bootstrapFailure', 'throttle'], 'emr', fail);

  const spotInterruption = (() => {
    if (emr.spotInterruption === undefined) return [];
    if (!Array.isArray(emr.spotInterruption)) fail('emr.spotInterruption', 'must be an array of {"attempt": n, "phase": ...}');
    return (emr.spotInterruption as unknown[]).map((entry, i) => {
      const at = `emr.spotInterruption[${i}]`;
      if (!isPlainObject(entry)) fail(at, 'must be an object like {"attempt": 1, "phase": "STEP_RUNNING"}');
      onlyKeys(entry, ['attempt', 'phase'], at, fail);
      const phase = entry.phase as SpotInterruptionPhase;
      if (!PHASES.includes(phase)) fail(`${at}.phase`, `must be one of ${PHASES.join(', ')}, got ${JSON.stringify(entry.phase)}`);
      return { attempt: attemptOf(entry, at, fail), phase };
    });
  })();

  const throttle: Record<string, number> = {};
  if (emr.throttle !== undefined) {
    if (!isPlainObject(emr.throttle)) fail('emr.throttle', 'must be an object of operation name → probability');
    for (const [operation, probability] of Object.entries(emr.throttle)) {
      const at = `emr.throttle.${operation}`;
      if (!(EMR_OPERATIONS as readonly string[]).includes(operation)) {
        fail(at, `unknown EMR operation (known: ${EMR_OPERATIONS.join(', ')})`);
      }
      if (typeof probability !== 'number' || !(probability >= 0 && probability <= 1)) {
        fail(at, `must be a probability between 0 and 1, got ${JSON.stringify(probability)}`);
      }
      throttle[operation] = probability as number;
    }
  }

  const glue = raw.glue ?? {};
  if (!isPlainObject(glue)) fail('glue', 'must be an object');
  onlyKeys(glue, ['crawlerAlreadyRunning', 'crawlerFails'], 'glue', fail);
  const flag = (name: 'crawlerAlreadyRunning' | 'crawlerFails'): boolean => {
    const value = glue[name];
    if (value === undefined) return false;
    if (typeof value !== 'boolean') fail(`glue.${name}`, `must be true or false, got ${JSON.stringify(value)}`);
    return value as boolean;
  };

  return {
    emr: {
      spotInterruption,
      spotCapacityUnavailable: attemptList(emr.spotCapacityUnavailable, 'emr.spotCapacityUnavailable', fail),
      stepFailure: attemptList(emr.stepFailure, 'emr.stepFailure', fail),
      bootstrapFailure: attemptList(emr.bootstrapFailure, 'emr.bootstrapFailure', fail),
      throttle,
    },
    glue: { crawlerAlreadyRunning: flag('crawlerAlreadyRunning'), crawlerFails: flag('crawlerFails') },
  };
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

  takeSpotInterruption(attempt: number, phase: SpotInterruptionPhase): boolean {
    const list = this.pending.emr.spotInterruption;
    const index = list.findIndex((fault) => fault.attempt === attempt && fault.phase === phase);
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
