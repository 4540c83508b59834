/**
 * run-batch with failing children, on the local runtime (Spark steps SIMULATED): one run-job loses its Spot
 * capacity on every attempt, another's step fails; the batch tolerates both and its summary names them.
 * Items run one at a time so each fault strikes the job it is meant for: faults fire per attempt number,
 * and the Spot faults are armed only once the step-failure job has ended.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBatch, type BatchReport } from '../../local/batchCommand';
import { NO_FAULTS } from '../../local/emulator';
import { startLocalRuntime, type LocalRuntime, type RunSummary } from '../../local/runner';

jest.setTimeout(180_000);
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
// The subject is Spot loss and step failure on pool clusters: small jobs stay on the pool (local/runner/poolRules.ts), or a cold pool
// would send them to EMR Serverless (config/rules.json small-jobs-to-serverless-when-the-pool-must-grow).
jest.mock('../../config/rules.json', () =>
  jest.requireActual('../../local/runner/poolRules').smallJobsStayOnThePoolFile(jest.requireActual('../../config/rules.json')),
);
// Two attempts, both on the pool (the shipped rules move a third attempt to a dedicated On-Demand cluster,
// where no Spot capacity is left to lose).
jest.mock('../../config/jobs.json', () => {
  const actual = jest.requireActual('../../config/jobs.json');
  return { ...actual, jobs: actual.jobs.map((job: any) => ({ ...job, maxAttempts: 2 })) };
});

// The Spot loss needs a Spot node on the idle-sized pool cluster (the shipped pool's minimum is its On-Demand core).
jest.mock('../../config/pools.json', () =>
  jest.requireActual('../../local/runner/faultIntercepts').withSpotAtMinimum(jest.requireActual('../../config/pools.json')),
);

const TIME_SCALE = 0.005;
const RUN_DATE = '2026-11-26';
const scratch = mkdtempSync(join(tmpdir(), 'emrflow-batch-failures-'));

describe('a batch where one job is interrupted on every attempt and another one’s step fails', () => {
  let runtime: LocalRuntime;
  let result: { run: RunSummary; report: BatchReport };

  beforeAll(async () => {
    runtime = await startLocalRuntime({
      timeScale: TIME_SCALE,
      simulateSteps: true,
      faults: { ...NO_FAULTS, emr: { ...NO_FAULTS.emr, stepFailure: [{ attempt: 1 }] } },
    });
    const events = join(scratch, 'part-0001.json');
    writeFileSync(events, `${JSON.stringify({ event_time: `${RUN_DATE}T10:00:00Z`, site: 'news.example.com', visitor_id: 'v1' })}\n`);
    const input = `s3://${runtime.buckets.RawBucket}/loads/batch/part-0001.json`;
    await runtime.upload(events, input);
    const line = (runId: string) => JSON.stringify({ job: 'denormalize-events', runId, date: RUN_DATE, input });
    const manifest = join(scratch, 'faulty.jsonl');
    writeFileSync(manifest, ['step-fails', 'spot-lost', 'ok-1', 'ok-2', 'ok-3', 'ok-4'].map(line).join('\n'));

    const running = runBatch(runtime, manifest, { liveEveryMs: 0, print: () => undefined, concurrency: 1, toleratedFailurePercentage: 40 });
    const first = await until(() => runtime.executions.list('run-job')[0]);
    void first.done.then(() =>
      runtime.setFaults({
        ...NO_FAULTS,
        emr: {
          ...NO_FAULTS.emr,
          spotInterruption: [
            { attempt: 1, phase: 'STEP_RUNNING', withPrimary: true },
            { attempt: 2, phase: 'STEP_RUNNING', withPrimary: true },
          ],
        },
      }),
    );
    result = await running;
  });
  afterAll(async () => {
    await runtime?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('succeeds within its tolerated failures and names both failed jobs with their error names', () => {
    expect(result.report).toMatchObject({ status: 'SUCCEEDED', items: 6, succeeded: 4, failed: 2, duplicates: 0 });
    expect(result.report.failures.map((failure) => [failure.line, failure.name?.replace(/^faulty-\d{4}-\d{2}-\d{2}-/, ''), failure.error])).toEqual([
      [1, 'denormalize-events-step-fails', 'Emr.StepFailed'],
      [2, 'denormalize-events-spot-lost', 'Emr.SpotInterrupted'],
    ]);
  });

  it('reached the failures through run-job as Step Functions reports a failed child', () => {
    const spot = runtime.executions.list('run-job').find((job) => job.name.endsWith('spot-lost'))!;
    expect(spot.status).toBe('FAILED');
    expect(spot.result?.error).toBe('Emr.SpotInterrupted');
    expect(spot.result?.attempts).toBe(2);
  });

  it('publishes the failures to the alarm topic', () => {
    expect(runtime.notifications).toHaveLength(1);
    expect(runtime.notifications[0].message).toMatch(/Emr\.StepFailed[\s\S]*Emr\.SpotInterrupted/);
  });
});

async function until<T>(probe: () => T | undefined): Promise<T> {
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
