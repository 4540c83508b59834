/**
 * `npm run bench:day`: the capacity planner on the default 20,000-job profile: the side-by-side table and
 * the targets on stderr-free stdout, then the JSON summary (what `emrflow simulate --json` prints). The
 * report and the full figures go to .emrflow/simulate/ (git-ignored).
 */
import { DEFAULT_OUT_DIR, simulateCommand } from '../local/planner/command';
import { DEFAULT_PROFILE } from '../local/planner';

simulateCommand({ profile: DEFAULT_PROFILE, seed: 1, out: DEFAULT_OUT_DIR, json: true }, (line) => process.stdout.write(`${line}\n`)).then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`bench:day: ${(error as Error).stack ?? error}\n`);
    process.exit(1);
  },
);
