/**
 * The fault matrix (local/runner/faultMatrix.ts), run once: every row runs run-job on a fresh local runtime
 * with one fault and must end as expected with nothing left behind: 0 clusters running (after the
 * cleanup-execution rule, as on AWS), 0 pool leases, 0 queue entries, and one run record per run.
 */
import { FAULT_ROWS, formatMatrix, rowPasses, runFaultMatrix, type FaultResult } from '../../local/runner/faultMatrix';

jest.setTimeout(420_000);
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

let results: FaultResult[];
beforeAll(async () => {
  results = await runFaultMatrix(FAULT_ROWS);
});

const resultOf = (fault: string) => results.find((result) => result.row.fault === fault)!;

describe('fault matrix on the local runtime', () => {
  it.each(FAULT_ROWS.map((row) => [row.fault, row] as const))('%s', (fault, row) => {
    const result = resultOf(fault);

    expect({ status: result.status, error: result.error }).toEqual({ status: row.expected.status, error: row.expected.error });
    if (row.expected.attempts !== undefined) expect(result.attempts).toBe(row.expected.attempts);
    expect(result.clustersRunning).toBe(0);
    expect(result.leases ?? 0).toBe(0);
    expect(result.queueEntries ?? 0).toBe(0);
    expect(result.runRecords).toBe(row.expected.runRecords);
  });

  it('meets the transient faults and absorbs them with Retry, not by luck', () => {
    expect(resultOf('AddJobFlowSteps throttled 100% for 3 calls').retries).toBe(3);
    expect(resultOf('Lambda error, once (SizeJob)').retries).toBe(1);
    expect(resultOf("Lambda early timeout, once (middy's, SizeJob)").retries).toBe(1);
    expect(resultOf('none (happy path)').retries).toBe(0);
  });

  it('sends every execution that did not succeed to cleanup-execution, which terminates what an abort or a timeout left', () => {
    for (const result of results.filter((r) => r.status !== 'SUCCEEDED')) expect(result.cleanup).toHaveLength(1);
    expect(resultOf('execution aborted during RunSparkStep').cleanup).toEqual([
      'cleanupExecution: 1 terminated, 0 leases released, 0 queue entries withdrawn, 0 steps cancelled',
    ]);
    expect(resultOf('execution timed out (during RunSparkStep)').cleanup).toEqual([
      'cleanupExecution: 1 terminated, 0 leases released, 0 queue entries withdrawn, 0 steps cancelled',
    ]);
    expect(resultOf('missing input').clustersCreated).toBe(0);
  });

  it('gives back what a stopped pooled run held: its queue entry while parked, its lease and step while running', () => {
    expect(resultOf('pooled: execution aborted while parked (AcquireCapacity)').cleanup).toEqual([
      'cleanupExecution: 0 terminated, 0 leases released, 1 queue entries withdrawn, 0 steps cancelled',
    ]);
    // The simulated step may end between the abort and the cleanup on a loaded machine: then there is nothing to
    // cancel. Either way the row's own check holds that no pool cluster still runs a step of the run.
    const abortedRunning = resultOf('pooled: execution aborted during RunPooledStep');
    expect(abortedRunning.cleanup).toHaveLength(1);
    expect(abortedRunning.cleanup[0]).toMatch(/^cleanupExecution: 0 terminated, 1 leases released, 0 queue entries withdrawn, [01] steps cancelled$/);
    expect(abortedRunning.clustersRunning).toBe(0);
    // Batched submission: the dispatcher absorbs the throttled AddJobFlowSteps (SDK backoff, then a handed-back
    // batch), so the run succeeds without a Retry of RunPooledStep.
    const throttled = resultOf('pooled: AddJobFlowSteps throttled 100% for 3 calls');
    expect(throttled.status).toBe('SUCCEEDED');
    expect(throttled.retries).toBe(0);
  });

  it('runs pooled rows on pool clusters and dedicated rows on clusters of their own', () => {
    for (const result of results.filter((r) => r.row.placement === 'pool' && r.status === 'SUCCEEDED')) expect(result.poolClustersIdle).toBeGreaterThan(0);
    expect(resultOf('none (happy path)').poolClustersIdle).toBe(0);
    expect(resultOf('none (happy path)').clustersCreated).toBe(1);
  });

  it('prints a table with a total line, and marks a row that left a cluster running (negative control)', () => {
    const leaky: FaultResult = { ...results[0], clustersRunning: 1 };
    const leakedLease: FaultResult = { ...results[0], leases: 1 };

    expect(rowPasses(leaky)).toBe(false);
    expect(rowPasses(leakedLease)).toBe(false);
    const table = formatMatrix([...results, leaky]).split('\n');
    expect(table[0]).toMatch(/fault .*expected .*observed .*clusters left running .*leases left .*queue entries left/);
    expect(table.at(-1)).toMatch(/total: \d+ faults/);
    expect(table.at(-2)).toMatch(/^\|-/);
    expect(formatMatrix(results).split('\n').at(-1)).toContain(`${results.length}/${results.length} |`);
  });
});
