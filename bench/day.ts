/**
 * `npm run bench:day`: the capacity planner on the default 20,000-job profile, twice over the same jobs and
 * seed: the configuration as shipped (config/rules.json pools by default) and the pooled what-if
 * (examples/planner/what-if-pooled.json: the pool sized for this day). Prints the two emrflow columns side by
 * side with the alternatives, the targets of each and the wall times, then the JSON summaries. Reports and
 * the full figures go to .emrflow/simulate/shipped and .emrflow/simulate/what-if.
 */
import { compareCommand, DEFAULT_OUT_DIR } from '../local/planner/command';
import { DEFAULT_PROFILE } from '../local/planner';

const WHAT_IF = 'examples/planner/what-if-pooled.json';

compareCommand({ profile: DEFAULT_PROFILE, whatIf: WHAT_IF, seed: 1, out: DEFAULT_OUT_DIR, json: true }, (line) => process.stdout.write(`${line}\n`)).then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`bench:day: ${(error as Error).stack ?? error}\n`);
    process.exit(1);
  },
);
