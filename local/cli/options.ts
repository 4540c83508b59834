/**
 * The CLI's building blocks shared by its commands: the usage error, option-value checks and input files.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import * as z from 'zod';
import { between } from '../../lib/schema';

/** Local: bad usage is the CLI's own concern (exit 2 with the usage text), never a state machine's. */
export class UsageError extends Error {}

/** Where a command's human output goes (stdout, or stderr with --json). */
export type Print = (line: string) => void;

/** A decimal option value within [min, max]. */
export const numeric = (pattern: RegExp, check: z.ZodNumber, fix: string) => z.string().regex(pattern, fix).transform(Number).pipe(check);
export const integerOption = (min: number, max: number) => numeric(/^\d+$/, between(min, max, { integer: true }), `must be an integer from ${min} to ${max}`);

const isFile = (path: string) => existsSync(path) && statSync(path).isFile();

/** An option naming a file that must exist. */
export const existingFileOption = () => z.string().refine(isFile, { error: (issue) => `no such file: ${String(issue.input)}` });

export function existingFile(path: string, what: string): string {
  if (!isFile(path)) throw new UsageError(`${what}: no such file: ${path}`);
  return path;
}

export function readInput(path: string): unknown {
  existingFile(path, 'input');
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new UsageError(`input ${path} is not valid JSON: ${(error as Error).message}`);
  }
}
