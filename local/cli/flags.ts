/**
 * The command line: node:util parseArgs declares the options (strict: an unknown one is an error), zod checks
 * their values; and what every command does with the flags it shares (runtime options, output, Lambda logs).
 */
import { parseArgs } from 'node:util';
import * as z from 'zod';
import { MAX_BATCH_CONCURRENCY } from '../../lib/config/batch';
import { matching, parseOrFail } from '../../lib/schema';
import { type LocalRuntime, type LocalRuntimeOptions, startLocalRuntime } from '../runner';
import { type Print, UsageError, existingFileOption, integerOption, numeric } from './options';
import { SIMULATE_FLAGS, SIMULATE_OPTIONS } from './simulate';

const OPTIONS = {
  faults: { type: 'string' },
  'time-scale': { type: 'string' },
  'state-dir': { type: 'string' },
  machine: { type: 'string' },
  port: { type: 'string' },
  events: { type: 'string' },
  concurrency: { type: 'string' },
  ...SIMULATE_OPTIONS,
  json: { type: 'boolean' },
  'simulate-steps': { type: 'boolean' },
  verbose: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  date: { type: 'string' },
  'abort-after': { type: 'string' },
  'execution-timeout': { type: 'string' },
  'dry-run': { type: 'boolean' },
} as const;

const FlagsSchema = z.strictObject({
  faults: existingFileOption().optional(),
  'time-scale': numeric(/^(\d+\.?\d*|\.\d+)$/, z.number().nonnegative('must be a number ≥ 0'), 'must be a number ≥ 0').optional(),
  'state-dir': z.string().min(1, 'must name a directory').optional(),
  machine: matching(/^[a-z0-9-]+$/, 'must be a state machine name: statemachines/<name>.asl.yml').default('run-job'),
  port: integerOption(0, 65535).optional(),
  events: integerOption(1, 10_000_000).default(2000),
  concurrency: integerOption(1, MAX_BATCH_CONCURRENCY).optional(),
  ...SIMULATE_FLAGS,
  json: z.boolean().default(false),
  'simulate-steps': z.boolean().default(false),
  verbose: z.boolean().default(false),
  help: z.boolean().default(false),
  date: matching(/^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/, 'must be a date YYYY-MM-DD').optional(),
  'abort-after': matching(/^[A-Za-z][A-Za-z0-9]*$/, 'must be a state name of the state machine, e.g. RunSparkStep').optional(),
  'execution-timeout': numeric(/^(\d+\.?\d*|\.\d+)$/, z.number().positive('must be a positive number'), 'must be a number of seconds').optional(),
  'dry-run': z.boolean().default(false),
});
export type Flags = z.output<typeof FlagsSchema>;

export function parseCommandLine(argv: string[]): { command: string; positional: string[]; flags: Flags } {
  const parsed = parseStrictly(argv);
  const flags = parseOrFail(FlagsSchema, parsed.values, '(options)', ({ field, message }) => {
    throw new UsageError(`--${field}: ${message}`);
  });
  const [command = 'help', ...positional] = parsed.positionals;
  return { command: flags.help ? 'help' : command, positional, flags };
}

function parseStrictly(argv: string[]) {
  try {
    return parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    const { code, message } = error as { code?: string; message: string };
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(`unknown option ${/'([^']+)'/.exec(message)?.[1] ?? message}`);
    if (code?.startsWith('ERR_PARSE_ARGS_')) throw new UsageError(message.replace(/\n/g, ' '));
    throw error;
  }
}

export function runtimeOptions(flags: Flags): LocalRuntimeOptions {
  return { faults: flags.faults, timeScale: flags['time-scale'], stateDir: flags['state-dir'], simulateSteps: flags['simulate-steps'], port: flags.port };
}

/** Human output goes to stderr with --json, so stdout carries the one JSON object only. */
export function printer(flags: Flags): Print {
  return flags.json ? (line) => process.stderr.write(`${line}\n`) : (line) => process.stdout.write(`${line}\n`);
}

export function quietLambdas(flags: Flags): void {
  // Powertools writes the Lambdas' logs to stdout; locally they drown the timeline unless asked for.
  process.env.POWERTOOLS_LOG_LEVEL ??= flags.json ? 'SILENT' : flags.verbose ? 'INFO' : 'WARN';
  if (flags.json && process.env.POWERTOOLS_LOG_LEVEL !== 'SILENT' && !flags.verbose) process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
}

export async function withRuntime<T>(flags: Flags, body: (runtime: LocalRuntime) => Promise<T>): Promise<T> {
  const runtime = await startLocalRuntime(runtimeOptions(flags));
  try {
    return await body(runtime);
  } finally {
    await runtime.stop();
  }
}
