import { InvalidConfigError } from '../errors';

/**
 * Small field checkers for the JSON files in config/. Each failure names the file and the field path
 * (`config/jobs.json: jobs[0].slaMinutes: …`), so a user editing the file sees what to fix.
 */
export class ConfigReader {
  constructor(readonly file: string) {}

  fail(field: string, message: string): never {
    throw new InvalidConfigError(this.file, field, message);
  }

  object(value: unknown, field: string): Record<string, unknown> {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.fail(field, `must be an object, got ${describe(value)}`);
    }
    return value as Record<string, unknown>;
  }

  array(value: unknown, field: string, { minItems = 0 } = {}): unknown[] {
    if (!Array.isArray(value)) this.fail(field, `must be an array, got ${describe(value)}`);
    if (value.length < minItems) this.fail(field, `must have at least ${minItems} item(s)`);
    return value;
  }

  string(value: unknown, field: string, pattern?: RegExp): string {
    if (typeof value !== 'string' || value.length === 0) {
      this.fail(field, `must be a non-empty string, got ${describe(value)}`);
    }
    if (pattern && !pattern.test(value)) this.fail(field, `"${value}" must match ${pattern}`);
    return value;
  }

  number(value: unknown, field: string, { min = -Infinity, max = Infinity, integer = false } = {}): number {
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      this.fail(field, `must be a number, got ${describe(value)}`);
    }
    if (integer && !Number.isInteger(value)) this.fail(field, `must be an integer, got ${value}`);
    if (value < min || value > max) this.fail(field, `must be between ${min} and ${max}, got ${value}`);
    return value;
  }

  oneOf<T extends string>(value: unknown, field: string, allowed: readonly T[]): T {
    if (!allowed.includes(value as T)) {
      this.fail(field, `must be one of ${allowed.join(', ')}, got ${describe(value)}`);
    }
    return value as T;
  }

  strings(value: unknown, field: string): string[] {
    return this.array(value, field).map((item, i) => {
      if (typeof item !== 'string') this.fail(`${field}[${i}]`, `must be a string, got ${describe(item)}`);
      return item;
    });
  }
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? `"${value}"` : `${typeof value} ${JSON.stringify(value)}`;
}
