/**
 * `npm run faults`: the fault matrix on the local runtime (simulated steps, time scale 0.001), printed as a
 * table: each fault, what should happen, what happened, and what was left behind. Exit 1 if a row fails.
 */
import { FAULT_ROWS, formatMatrix, rowPasses, runFaultMatrix } from '../local/runner/faultMatrix';

async function main(): Promise<number> {
  process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
  process.stderr.write(`fault matrix: ${FAULT_ROWS.length} runs of run-job on the local runtime (steps SIMULATED, time scale 0.001)\n`);
  const results = await runFaultMatrix(FAULT_ROWS, (result) =>
    process.stderr.write(`  ${rowPasses(result) ? 'ok ' : 'NO '} ${result.row.fault} (${result.durationMs} ms)\n`),
  );
  process.stdout.write(`${formatMatrix(results)}\n`);
  process.stdout.write(
    'clusters left running: dedicated clusters not ended, plus pool clusters holding a lease or running a step; an idle pool cluster (no lease, no step) ends at the pool idle timeout and is counted apart.\n',
  );
  return results.every(rowPasses) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`${(error as Error).stack}\n`);
    process.exit(1);
  },
);
