/**
 * The pool load (bench/poolLoad.ts) measures the pool: it refuses the shipped rules, whose
 * small-jobs-to-serverless-when-the-pool-must-grow would send its burst on a cold pool to EMR Serverless, and
 * says how to keep small jobs on the pool. The pool tests that mock config/rules.json with
 * smallJobsStayOnThePoolFile (test/statemachine/run-job.pool.test.ts and others) are the positive side.
 */
import { runPoolLoad } from '../../../bench/poolLoad';
import { loadRules } from '../../../lib/config/rules';
import { keepsSmallJobsOnThePool } from '../../../local/runner/poolRules';

process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

it('refuses to run on the shipped rules, before it starts a runtime', async () => {
  expect(keepsSmallJobsOnThePool(loadRules())).toBe(false);

  await expect(runPoolLoad({ jobs: 1 })).rejects.toThrow(
    /rule small-jobs-to-serverless-when-the-pool-must-grow would send its jobs to EMR Serverless: install smallJobsStayOnThePool/,
  );
});
