/**
 * run-job's Serverless branch on the local runtime: the real ASL (RunServerlessJob, startJobRun.sync), the real
 * handlers, the emulator's EMR Serverless. Steps are simulated (the emulator says so in the job run's
 * stateDetails). Every run here is placed on Serverless by one rule; which jobs the shipped rules send there is
 * test/unit/domain/serverlessPlacement.test.ts's subject.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EMRServerlessClient, GetJobRunCommand, StartJobRunCommand } from '@aws-sdk/client-emr-serverless';
import { parseFaults, type Faults } from '../../local/emulator';
import { startLocalRuntime, type LocalRuntime, type RunSummary } from '../../local/runner';
import { crawl } from '../../local/runner/faultMatrix';
import { TaskError } from '../../local/runner/adapters/errors';
import { loadPrices } from '../../lib/config/prices';
import { serverlessCostUsd, serverlessRates } from '../../lib/domain/serverless';

jest.setTimeout(60_000);
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
jest.mock('../../config/rules.json', () => ({
  rules: [
    {
      name: 'everything-to-serverless',
      conditions: { all: [{ fact: 'attempt', operator: 'greaterThanInclusive', value: 1 }] },
      event: { type: 'useServerless', params: { reason: 'this test places every run on EMR Serverless' } },
    },
  ],
}));

const RUN_DATE = '2026-11-26';
const scratch = mkdtempSync(join(tmpdir(), 'emrflow-serverless-'));
const eventsFile = join(scratch, 'part-0001.json');
writeFileSync(
  eventsFile,
  `${JSON.stringify({ event_time: `${RUN_DATE}T10:00:00Z`, site: 'news.example.com', visitor_id: 'v1', session_id: 's1', url: 'https://news.example.com/1' })}\n`,
);
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let runtime: LocalRuntime | undefined;
afterEach(async () => {
  await runtime?.stop();
  runtime = undefined;
});

async function start(timeScale: number, faults?: Faults): Promise<{ runtime: LocalRuntime; event: Record<string, unknown> }> {
  runtime = await startLocalRuntime({ timeScale, simulateSteps: true, faults });
  await runtime.upload(eventsFile, `s3://${runtime.buckets.RawBucket}/events/dt=${RUN_DATE}/part-0001.json`);
  const event = await runtime.markComplete(`s3://${runtime.buckets.RawBucket}/events/dt=${RUN_DATE}/`);
  await crawl(runtime.seeded.crawlers[0]);
  return { runtime, event };
}

const path = (summary: RunSummary) => summary.timeline.map((entry) => entry.state);

async function waitUntil(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000 && !check(); i += 1) await new Promise((resolve) => setTimeout(resolve, 10));
  if (!check()) throw new Error(`never happened: ${what}`);
}

describe('run-job placed on EMR Serverless', () => {
  it('runs the job as a job run, creates no cluster, and records its cost from the billed utilization', async () => {
    const { runtime, event } = await start(0.001);
    const summary = await runtime.run(event);

    expect(summary.status).toBe('SUCCEEDED');
    expect(path(summary)).toEqual(['NormalizeRequest', 'ClaimRun', 'CheckCatalog', 'SizeJob', 'PlaceJob', 'RouteByPlacement', 'RunServerlessJob', 'RecordRun']);
    expect(summary.clustersCreated).toBe(0);
    const [jobRun] = runtime.stats().jobRuns;
    expect(runtime.stats().jobRuns).toHaveLength(1);
    expect(jobRun).toMatchObject({ state: 'SUCCESS', executor: 'simulated', stateDetails: expect.stringMatching(/SIMULATED/) });
    // Each job run state change went to EventBridge as "EMR Serverless Job Run State Change": SUBMITTED … SUCCESS.
    expect(runtime.emrEvents.delivered).toBe(5);
    // One StartJobRun; GetJobRun is the local .sync's polling and RecordRun's one read of the bill.
    expect(runtime.stats().calls.EMRServerless.StartJobRun).toBe(1);

    const { record } = summary.output as any;
    const got = await new EMRServerlessClient({}).send(new GetJobRunCommand({ applicationId: jobRun.applicationId, jobRunId: jobRun.jobRunId }));
    const billed = got.jobRun!.billedResourceUtilization!;
    expect(record).toMatchObject({ placementMode: 'serverless', stepId: jobRun.jobRunId, pool: null, clusterId: null });
    expect(record.stepSeconds).toBeGreaterThanOrEqual(0);
    expect(record.cost.serverless).toEqual({
      applicationId: jobRun.applicationId,
      jobRunId: jobRun.jobRunId,
      billed: { vCPUHour: billed.vCPUHour, memoryGBHour: billed.memoryGBHour, storageGBHour: billed.storageGBHour },
      usd: serverlessCostUsd(billed, serverlessRates(loadPrices(), 'ARM64')),
    });
    expect(billed.vCPUHour).toBeGreaterThan(0);
    expect(record.costUsd).toBeCloseTo(record.cost.serverless.usd + record.cost.orchestration.usd, 4);
    // The estimate of the path's transitions is the runner's count (no crawl: the partition was catalogued).
    expect(record.cost.orchestration.transitionsEstimate).toBe(summary.transitions);
  });

  it('an abort while the job run runs: cleanup-execution cancels it and nothing is left running', async () => {
    // Slower time: the simulated job run lasts long enough (seconds) for the cleanup to find it active.
    const { runtime, event } = await start(0.05);
    const summary = await runtime.run(event, { abortAfter: 'RunServerlessJob' });

    expect(summary.status).toBe('ABORTED');
    expect(summary.ruleDeliveries).toEqual([
      expect.objectContaining({ function: 'cleanupExecution', result: expect.objectContaining({ cancelledJobRuns: [runtime.stats().jobRuns[0].jobRunId] }) }),
    ]);
    await waitUntil(() => runtime.stats().jobRunsActive === 0, 'the job run ended');
    expect(runtime.stats().jobRuns.map((run) => run.state)).toEqual(['CANCELLED']);
    expect(runtime.stats().clustersRunning).toBe(0);
  });

  it('a job run that could not get its workers is placed again after a backoff (no Spot retry applies) and succeeds', async () => {
    const { runtime, event } = await start(0.001, parseFaults('{"emrServerless": {"capacityExceeded": [{"attempt": 1}]}}', 'capacity.json'));
    const summary = await runtime.run(event);

    expect(summary.status).toBe('SUCCEEDED');
    expect(summary.attempts).toBe(2);
    expect(path(summary)).toEqual(expect.arrayContaining(['ClassifyFailure', 'RouteFailure', 'BackoffBeforeRetry', 'PrepareRetry']));
    expect(runtime.stats().jobRuns.map((run) => run.state)).toEqual(['FAILED', 'SUCCESS']);
    expect(summary.clustersCreated).toBe(0);
  });

  it('a job run that fails fails the run with EmrServerless.JobRunFailed, without a retry', async () => {
    const { runtime, event } = await start(0.001, parseFaults('{"emrServerless": {"jobRunFailure": [{"attempt": 1}]}}', 'failure.json'));
    const summary = await runtime.run(event);

    expect(summary.status).toBe('FAILED');
    expect(summary.error).toBe('EmrServerless.JobRunFailed');
    expect(summary.cause).toMatch(/injected by the fault file/);
    expect(summary.attempts).toBe(1);
    expect(runtime.stats().jobRunsActive).toBe(0);
  });

  it('a start retried after its response was lost runs one job run, because the client token is the same', async () => {
    const { runtime, event } = await start(0.001);
    let calls = 0;
    const summary = await runtime.run(event, {
      intercept: {
        // The first StartJobRun reaches EMR Serverless, but its answer never comes back: the Task fails and retries.
        RunServerlessJob: async (input: any, next) => {
          calls += 1;
          if (calls > 1) return next(input);
          await startAsTheIntegrationWould(input);
          throw new TaskError('EMRServerless.InternalServerException', 'the response was lost (injected)');
        },
      },
    });

    expect(summary.status).toBe('SUCCEEDED');
    expect(calls).toBe(2);
    expect(runtime.stats().jobRuns).toHaveLength(1);
    expect(runtime.stats().jobRuns[0].state).toBe('SUCCESS');
  });

  it('negative control: the same lost response with a different token on the retry starts a second job run', async () => {
    const { runtime, event } = await start(0.001);
    let calls = 0;
    const summary = await runtime.run(event, {
      intercept: {
        RunServerlessJob: async (input: any, next) => {
          calls += 1;
          if (calls > 1) return next({ ...input, ClientToken: `${input.ClientToken}-other` });
          await startAsTheIntegrationWould(input);
          throw new TaskError('EMRServerless.InternalServerException', 'the response was lost (injected)');
        },
      },
    });

    expect(summary.status).toBe('SUCCEEDED');
    expect(runtime.stats().jobRuns).toHaveLength(2);
  });
});

/** StartJobRun as RunServerlessJob's Parameters ask for it (what reaches EMR Serverless before a response is lost). */
async function startAsTheIntegrationWould(input: any): Promise<void> {
  await new EMRServerlessClient({}).send(
    new StartJobRunCommand({
      applicationId: input.ApplicationId,
      clientToken: input.ClientToken,
      executionRoleArn: input.ExecutionRoleArn,
      name: input.Name,
      tags: input.Tags,
      executionTimeoutMinutes: input.ExecutionTimeoutMinutes,
      jobDriver: {
        sparkSubmit: {
          entryPoint: input.JobDriver.SparkSubmit.EntryPoint,
          entryPointArguments: input.JobDriver.SparkSubmit.EntryPointArguments,
          sparkSubmitParameters: input.JobDriver.SparkSubmit.SparkSubmitParameters,
        },
      },
    }),
  );
}
