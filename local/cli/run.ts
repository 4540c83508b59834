/** `emrflow run <input.json>`: one execution of a state machine on an input. */
import { execute, finish, printWhereOutputIs } from './execution';
import { type Flags, withRuntime } from './flags';
import { type Print, UsageError, readInput } from './options';

export function run(positional: string[], flags: Flags, print: Print): Promise<number> {
  if (positional.length !== 1) throw new UsageError('run takes exactly one input file: emrflow run <input.json>');
  const input = readInput(positional[0]);
  return withRuntime(flags, async (runtime) => {
    const summary = await execute(runtime, input, flags, print);
    printWhereOutputIs(runtime, summary, print);
    return finish(summary, flags);
  });
}
