/**
 * `emrflow simulate`: the capacity planner's options, their checks, its usage lines and the call into
 * local/planner/command.ts. Everything the simulate command accepts is declared here, beside nothing else.
 */
import * as z from 'zod';
import { DEFAULT_PROFILE } from '../planner';
import { DEFAULT_OUT_DIR, simulateCommand } from '../planner/command';
import { recommendCommand } from '../planner/recommend';
import { type Print, UsageError, existingFileOption, integerOption } from './options';

export const SIMULATE_SYNOPSIS = 'emrflow simulate [--profile f] [--history f] [--what-if f] [--seed n] [--out dir] [--json]';

/** The command's lines in the usage text. */
export const SIMULATE_COMMAND_USAGE = `  ${SIMULATE_SYNOPSIS}
  emrflow simulate --recommend [--profile f] [--history f] [--seed n] [--out dir]
                                                capacity planner: a SIMULATED day of jobs through the real decision code,
                                                emrflow beside per-job On-Demand/Spot, EMR Serverless and the floor;
                                                writes <out>/simulation.json and a self-contained <out>/report.html`;

/** Its options' lines in the usage text. */
export const SIMULATE_USAGE = `  --profile <file>       simulate: the day's job mix (default ${DEFAULT_PROFILE})
  --history <file>       simulate: replay a runs-table export (JSON lines of run records) instead of a profile
  --what-if <file>       simulate: changes to config/pools.json and rules.json to try (see examples/planner/)
  --seed <n>             simulate: random seed (default 1); the same seed gives the same figures
  --out <dir>            simulate: where the JSON and the report go (default ${DEFAULT_OUT_DIR})
  --recommend            simulate: search pool counts, sizes and idle timeouts for the cheapest that meets the targets`;

/** node:util parseArgs declarations of simulate's options (--json is shared with the other commands). */
export const SIMULATE_OPTIONS = {
  profile: { type: 'string' },
  history: { type: 'string' },
  'what-if': { type: 'string' },
  seed: { type: 'string' },
  out: { type: 'string' },
  recommend: { type: 'boolean' },
} as const;

/** The checks and defaults of simulate's option values. */
export const SIMULATE_FLAGS = {
  profile: existingFileOption().default(DEFAULT_PROFILE),
  history: existingFileOption().optional(),
  'what-if': existingFileOption().optional(),
  seed: integerOption(0, 2 ** 32 - 1).default(1),
  out: z.string().min(1, 'must name a directory').default(DEFAULT_OUT_DIR),
  recommend: z.boolean().default(false),
};

type SimulateFlags = z.output<z.ZodObject<typeof SIMULATE_FLAGS>> & { json: boolean };

export function simulate(positional: string[], flags: SimulateFlags, print: Print): Promise<number> {
  if (positional.length > 0) throw new UsageError(`simulate takes no arguments: ${SIMULATE_SYNOPSIS}`);
  if (flags.recommend) return recommendCommand({ profile: flags.profile, history: flags.history, seed: flags.seed, out: flags.out }, print);
  return simulateCommand(
    { profile: flags.profile, history: flags.history, whatIf: flags['what-if'], seed: flags.seed, out: flags.out, json: flags.json },
    print,
  );
}
