/**
 * `emrflow`: the local runtime from the command line. Run with tsx (bin/emrflow does), never compiled.
 * This module dispatches to one module a command in ./cli/ and decides how a failed command ends.
 */
import { InvalidConfigError } from '../lib/errors';
import { batch } from './cli/batch';
import { demo } from './cli/demo';
import { emulator } from './cli/emulator';
import { parseCommandLine, printer, quietLambdas } from './cli/flags';
import { UsageError } from './cli/options';
import { pools } from './cli/pools';
import { reap } from './cli/reap';
import { run } from './cli/run';
import { simulate } from './cli/simulate';
import { upload } from './cli/upload';
import { USAGE } from './cli/usage';

export async function main(argv: string[]): Promise<number> {
  const { command, positional, flags } = parseCommandLine(argv);
  const print = printer(flags);
  quietLambdas(flags);
  switch (command) {
    case 'run':
      return run(positional, flags, print);
    case 'upload':
      return upload(positional, flags, print);
    case 'demo':
      return demo(flags, print);
    case 'reap':
      return reap(positional, flags, print);
    case 'emulator':
      return emulator(flags);
    case 'pools':
      return pools(positional, flags, print);
    case 'batch':
      return batch(positional, flags, print);
    case 'simulate':
      return simulate(positional, flags, print);
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return 0;
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

/**
 * How a failed command ends: bad usage or an input refused before any execution starts (a bad option, a missing
 * or non-JSON input, an invalid config, an input StartExecution would refuse, such as one over 256 KiB) exits 2,
 * anything else 1. With --json, stdout still carries exactly one object, `{ status: "REFUSED" | "ERROR", error, cause }`.
 */
export function reportFailure(
  error: unknown,
  argv: readonly string[],
  write: { stdout(text: string): unknown; stderr(text: string): unknown } = {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
  },
): number {
  const { name = 'Error', message = String(error) } = Object(error) as Partial<Error>;
  const usage = error instanceof UsageError;
  // A bad config, or an input StartExecution itself would refuse (ValidationException): bad input, exit 2.
  const refused = usage || [InvalidConfigError.errorName, 'ValidationException'].includes(name);
  write.stderr(usage ? `emrflow: ${message}\n\n${USAGE}\n` : `emrflow: ${refused ? '' : 'error: '}${message}\n`);
  if (argv.includes('--json'))
    write.stdout(`${JSON.stringify({ status: refused ? 'REFUSED' : 'ERROR', error: usage ? 'Usage.Invalid' : name, cause: message }, null, 2)}\n`);
  return refused ? 2 : 1;
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  main(argv).then(
    (code) => process.exit(code),
    (error) => process.exit(reportFailure(error, argv)),
  );
}
