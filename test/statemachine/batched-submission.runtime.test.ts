/**
 * Batched submission on the local runtime (issue 22): the real handlers, the run-job state machine, DynamoDB
 * and the EMR emulator. With half of the emulator's AddJobFlowSteps calls throttled, every throttled batch is
 * retried (handed back to the next dispatch, which looks its steps up by name first) and the emulator's step
 * list still holds each job's step exactly once. (run-job.pool.test.ts checks the calls stay at most one per job.)
 */
import { DEFAULT_JOBS, runPoolLoad, type PoolLoadResult } from '../../bench/poolLoad';
import { parseFaults } from '../../local/emulator';

jest.setTimeout(300_000);
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
// The subject is the pool's batched step submission under a burst: small jobs stay on the pool (local/runner/poolRules.ts), or a cold pool
// would send them to EMR Serverless (config/rules.json small-jobs-to-serverless-when-the-pool-must-grow).
jest.mock('../../config/rules.json', () =>
  jest.requireActual('../../local/runner/poolRules').smallJobsStayOnThePoolFile(jest.requireActual('../../config/rules.json')),
);

describe('batched submission under throttling (half of the AddJobFlowSteps calls throttled)', () => {
  let load: PoolLoadResult;
  beforeAll(async () => {
    load = await runPoolLoad({ faults: parseFaults(JSON.stringify({ emr: { throttle: { AddJobFlowSteps: 0.5 } } }), 'throttled AddJobFlowSteps') });
  });

  it('finishes every job, first attempt, one step each', () => {
    expect(load.jobs.filter((job) => job.status !== 'SUCCEEDED')).toEqual([]);
    expect(load.jobs.filter((job) => job.attempts !== 1)).toEqual([]);
  });

  it('submits no step twice: the emulator holds each job’s step exactly once', () => {
    expect(load.stepNames).toHaveLength(DEFAULT_JOBS);
    expect(new Set(load.stepNames).size).toBe(DEFAULT_JOBS);
  });
});
