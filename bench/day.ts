/**
 * `npm run bench:day`: the capacity planner on the default 20,000-job profile, with the pooled what-if
 * (examples/planner/what-if-pooled.json): the side-by-side table and the targets, then the JSON summary
 * (what `emrflow simulate --json` prints). The report and the full figures go to .emrflow/simulate/.
 */
import { DEFAULT_OUT_DIR, simulateCommand } from '../local/planner/command';
import { DEFAULT_PROFILE } from '../local/planner';

/** The shipped rules keep pooling off until run-job's pool branch is live; the day is measured with it on. */
const WHAT_IF = 'examples/planner/what-if-pooled.json';

simulateCommand({ profile: DEFAULT_PROFILE, whatIf: WHAT_IF, seed: 1, out: DEFAULT_OUT_DIR, json: true }, (line) => process.stdout.write(`${line}\n`)).then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`bench:day: ${(error as Error).stack ?? error}\n`);
    process.exit(1);
  },
);
