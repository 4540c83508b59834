import * as z from 'zod';
import { InvalidConfigError, InvalidRequestError } from './errors';

/**
 * The one place a schema failure becomes a project error: `Config.Invalid` naming the file and the field
 * path, `Request.Invalid` naming the field; both say what to write instead. Schemas declare their fixes
 * as messages (the helpers below); an issue without one gets a message built from its code.
 */

/** Values echoed back in an error are cut to this many characters (a 300 KB runId is not a message). */
const MAX_ECHO = 80;

/** Marks an issue whose schema gave no message of its own; zod's schema-level messages take precedence. */
const NO_MESSAGE = '\u0000';

/** A short, quoted rendering of any value for an error message. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  const text = typeof value === 'string' ? JSON.stringify(value) : `${typeof value} ${JSON.stringify(value)}`;
  return text.length > MAX_ECHO ? `${text.slice(0, MAX_ECHO - 1)}…` : text;
}

/** `jobs[0].catalog.crawler`; the root is `fallback`. */
function fieldPath(path: readonly PropertyKey[], fallback: string): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : `${out ? '.' : ''}${String(part)}`;
  return out || fallback;
}

/** A string matching `pattern`; `fix` says what a valid value looks like. */
export function matching(pattern: RegExp, fix: string) {
  return z.string().regex(pattern, fix);
}

export const nonEmptyString = z.string().min(1, 'must be a non-empty string');

/** A number in [min, max]; `integer` rejects fractions. The message states the whole range. */
export function between(min: number, max: number, { integer = false } = {}) {
  const range = max === Infinity ? `${min} or more` : `between ${min} and ${max}`;
  const kind = integer ? 'an integer' : 'a number';
  const error = (issue: { input?: unknown }) => (issue.input === undefined ? undefined : `must be ${kind} ${range}`);
  const base = integer ? z.int({ error }) : z.number({ error });
  return max === Infinity ? base.gte(min, `must be ${range}`) : base.gte(min, `must be ${range}`).lte(max, `must be ${range}`);
}

/**
 * An object that rejects keys it does not declare, naming the closest declared key: a misspelt field must
 * not silently switch a feature off.
 */
export function strictObject<Shape extends z.ZodRawShape>(shape: Shape, { see }: { see?: string } = {}) {
  const allowed = Object.keys(shape);
  const reference = see ? ` (see ${see})` : '';
  return z.strictObject(shape, {
    error: (issue) => {
      if (issue.code !== 'unrecognized_keys') return undefined;
      const [key] = issue.keys;
      const guess = closest(key, allowed);
      return `unknown field${guess ? `; did you mean "${guess}"?` : ';'} allowed: ${allowed.join(', ')}${reference}`;
    },
  });
}

export interface FieldError {
  field: string;
  message: string;
}

/** The first issue of a failed parse, as a field and a message that says how to fix it. */
function describeIssue(issue: z.core.$ZodIssue, root: string): FieldError {
  const own = issue.message === NO_MESSAGE ? undefined : issue.message;
  const got = issue.input === undefined ? '' : `, got ${describeValue(issue.input)}`;
  const at = fieldPath(issue.path, root);
  switch (issue.code) {
    case 'unrecognized_keys':
      return {
        field: fieldPath([...issue.path, issue.keys[0]], root),
        message: own ?? 'unknown field; remove it or correct its spelling',
      };
    case 'invalid_type':
      if (issue.input === undefined) return { field: at, message: own ?? `is required (${expected(issue.expected)})` };
      return { field: at, message: `${own ?? `must be ${expected(issue.expected)}`}${got}` };
    case 'invalid_value':
      return { field: at, message: `${own ?? `must be one of ${issue.values.map(String).join(', ')}`}${got}` };
    case 'invalid_format':
      return { field: at, message: `${own ?? `must match ${issue.pattern ?? issue.format}`}${got}` };
    case 'too_small':
    case 'too_big': {
      const bound = issue.code === 'too_small' ? `at least ${issue.minimum}` : `at most ${issue.maximum}`;
      if (issue.origin === 'array' || issue.origin === 'set') return { field: at, message: own ?? `must have ${bound} item(s)` };
      if (issue.origin === 'string') return { field: at, message: own ?? `must be ${bound} characters long` };
      return { field: at, message: `${own ?? `must be ${bound}`}${got}` };
    }
    case 'invalid_key': {
      const inner = issue.issues[0];
      const message = inner && inner.message !== NO_MESSAGE ? inner.message : 'is not an accepted key';
      return { field: at, message: `${message}, got ${describeValue(issue.input)}` };
    }
    case 'invalid_union':
      return describeUnion(issue, root, own);
    default:
      return { field: at, message: own ?? `is invalid${got}` };
  }
}

/**
 * A union reports the branch the value was meant to be: the one whose keys it matches best (fewest
 * missing and unknown keys). When no branch stands out, the union's own message says what is accepted.
 */
function describeUnion(issue: z.core.$ZodIssueInvalidUnion, root: string, own: string | undefined): FieldError {
  const scores = issue.errors.map(mismatch);
  const best = Math.min(...scores);
  if (best === Infinity || scores.filter((score) => score === best).length > 1) {
    return { field: fieldPath(issue.path, root), message: `${own ?? 'matches none of the accepted shapes'}, got ${describeValue(issue.input)}` };
  }
  const branch = issue.errors[scores.indexOf(best)];
  const inner = branch.find((i) => i.code === 'unrecognized_keys') ?? branch[0];
  return describeIssue({ ...inner, path: [...issue.path, ...inner.path] } as z.core.$ZodIssue, root);
}

/** How far a value is from a union branch's shape: missing plus unknown keys; Infinity for the wrong type. */
function mismatch(issues: readonly z.core.$ZodIssue[]): number {
  let score = 0;
  for (const issue of issues) {
    if (issue.path.length === 0 && issue.code === 'invalid_type') return Infinity;
    if (issue.path.length === 0 && issue.code === 'invalid_union') score += Math.min(...issue.errors.map(mismatch));
    else if (issue.path.length === 0 && issue.code === 'unrecognized_keys') score += issue.keys.length;
    else if (issue.path.length === 1 && issue.input === undefined) score += 1;
  }
  return score;
}

function expected(type: string): string {
  const article: Record<string, string> = { int: 'an integer', object: 'an object', array: 'an array', undefined: 'nothing' };
  return article[type] ?? `a ${type}`;
}

/** The declared key nearest to a misspelt one (edit distance at most a third of its length), if any. */
function closest(key: string, allowed: readonly string[]): string | undefined {
  let best: { key: string; distance: number } | undefined;
  for (const candidate of allowed) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (distance <= Math.max(1, Math.floor(candidate.length / 3)) && (!best || distance < best.distance)) best = { key: candidate, distance };
  }
  return best?.key;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}

/**
 * Parses `raw`; on failure hands the first issue, as a field and a message, to `fail`. A misspelt key is both
 * unknown and missing: the unknown one is named first, since it points at the typo.
 */
export function parseOrFail<S extends z.ZodType>(schema: S, raw: unknown, root: string, fail: (error: FieldError) => never): z.output<S> {
  const result = schema.safeParse(raw, { reportInput: true, error: () => NO_MESSAGE });
  if (result.success) return result.data;
  const { issues } = result.error;
  return fail(describeIssue(issues.find((issue) => issue.code === 'unrecognized_keys') ?? issues[0], root));
}

/** Parses a config file's content; a failure is `Config.Invalid` naming `file` and the field. */
export function parseConfig<S extends z.ZodType>(file: string, schema: S, raw: unknown): z.output<S> {
  return parseOrFail(schema, raw, '(root)', ({ field, message }) => {
    throw new InvalidConfigError(file, field, message);
  });
}

/** Parses a trigger input; a failure is `Request.Invalid` naming the field. */
export function parseRequestInput<S extends z.ZodType>(schema: S, raw: unknown): z.output<S> {
  return parseOrFail(schema, raw, '(input)', ({ field, message }) => {
    throw new InvalidRequestError(field, message);
  });
}
