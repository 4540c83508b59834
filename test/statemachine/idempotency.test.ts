/**
 * Idempotent triggers on the local runtime: a trigger delivered twice does its work once (ClaimRun on the
 * deterministic run id), and a run asked for again on purpose (a new runId) runs again.
 */
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalRuntime, type LocalRuntime, type RunSummary } from '../../local/runner';

jest.setTimeout(60_000);
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
// One subject is an abort while the step runs on a pool cluster: small jobs stay on the pool (local/runner/poolRules.ts), or a cold pool
// would send them to EMR Serverless (config/rules.json small-jobs-to-serverless-when-the-pool-must-grow).
jest.mock('../../config/rules.json', () =>
  jest.requireActual('../../local/runner/poolRules').smallJobsStayOnThePoolFile(jest.requireActual('../../config/rules.json')),
);

const DATE = '2026-11-26';
const scratch = mkdtempSync(join(tmpdir(), 'emrflow-idempotency-'));
const file = join(scratch, 'events.json');
writeFileSync(
  file,
  `${JSON.stringify({ event_time: `${DATE}T10:00:00Z`, site: 'news.example.com', visitor_id: 'v1', session_id: 's1', url: 'https://news.example.com/' })}\n`,
);

const marker = join(scratch, '_SUCCESS');
writeFileSync(marker, '');

let runtime: LocalRuntime;
let s3Event: Record<string, any>;
/** Uploads a day's data, then its partition's _SUCCESS marker (the job's S3 trigger); returns the marker's event. */
async function partition(date: string): Promise<Record<string, any>> {
  await runtime.upload(file, `s3://${runtime.buckets.RawBucket}/events/dt=${date}/part-0001.json`);
  return runtime.upload(marker, `s3://${runtime.buckets.RawBucket}/events/dt=${date}/_SUCCESS`);
}
beforeAll(async () => {
  runtime = await startLocalRuntime({ timeScale: 0.001, simulateSteps: true });
  s3Event = await partition(DATE);
});
afterAll(async () => {
  await runtime.stop();
  rmSync(scratch, { recursive: true, force: true });
});

/** A Spark step ran: on a pool cluster (pooled by default) or on a cluster of its own. */
const didWork = (summary: RunSummary) => summary.timeline.some((entry) => entry.state === 'RunPooledStep' || entry.state === 'RunSparkStep');
const endedAt = (summary: RunSummary) => summary.timeline.at(-1)!.state;

describe('duplicate deliveries of each trigger shape', () => {
  // The S3 trigger is the partition's _SUCCESS marker (config/jobs.json s3Trigger, marker mode): run id <job>-<date>.
  it('S3: the same event delivered twice (same sequencer, new event id and time) runs once', async () => {
    const first = await runtime.run(s3Event);
    const again = await runtime.run({ ...s3Event, id: 'redelivered-0001', time: '2026-11-27T09:00:00Z' });

    expect([first.status, didWork(first)]).toEqual(['SUCCEEDED', true]);
    expect([again.status, endedAt(again), didWork(again)]).toEqual(['SUCCEEDED', 'DuplicateRun', false]);
  });

  it("S3: the partition's marker uploaded again (a new sequencer) does not run the partition twice", async () => {
    const reupload = { ...s3Event, detail: { ...s3Event.detail, object: { ...s3Event.detail.object, sequencer: '00FFFFFFFFFFFFFFFF' } } };

    const run = await runtime.run(reupload);

    expect([run.status, endedAt(run), didWork(run)]).toEqual(['SUCCEEDED', 'DuplicateRun', false]);
  });

  it("S3: another partition's marker is a run of its own (negative control)", async () => {
    const run = await runtime.run(await partition('2026-11-25'));

    expect([run.status, didWork(run)]).toEqual(['SUCCEEDED', true]);
  });

  it('schedule: firing twice for one job and date runs once, even when both deliveries race', async () => {
    // Fired on the 25th, the schedule processes the 24th: data with no marker, so no S3 run has taken it.
    await runtime.upload(file, `s3://${runtime.buckets.RawBucket}/events/dt=2026-11-24/part-0001.json`);
    const fire = (minute: string) => ({ job: 'denormalize-events', trigger: 'schedule', time: `2026-11-25T02:${minute}:00Z` });

    const [one, two] = await Promise.all([runtime.run(fire('00')), runtime.run(fire('05'))]);

    expect([one.status, two.status]).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    expect([endedAt(one), endedAt(two)].filter((state) => state === 'DuplicateRun')).toHaveLength(1);
    expect([one, two].filter(didWork)).toHaveLength(1);
  });

  it('console: the same input twice runs once; an explicit new runId runs again', async () => {
    const input = { job: 'denormalize-events', date: DATE, runId: 'denormalize-events-2026-11-26-rerun-1' };
    expect(endedAt(await runtime.run({ job: 'denormalize-events', date: DATE }))).toBe('DuplicateRun');

    const first = await runtime.run(input);
    const duplicate = await runtime.run(input);
    const rerun = await runtime.run({ ...input, runId: 'denormalize-events-2026-11-26-rerun-2' });

    expect(didWork(first)).toBe(true);
    expect([endedAt(duplicate), didWork(duplicate)]).toEqual(['DuplicateRun', false]);
    expect([rerun.status, didWork(rerun)]).toEqual(['SUCCEEDED', true]);
  });

  it('an aborted run gives its claim back (cleanup-execution): the same input then runs again', async () => {
    const input = { job: 'denormalize-events', date: DATE, runId: 'denormalize-events-2026-11-26-aborted-1' };

    // Pooled (config/rules.json): stopped while its step runs on a pool cluster.
    const aborted = await runtime.run(input, { abortAfter: 'RunPooledStep' });
    const again = await runtime.run(input);

    expect([aborted.status, aborted.clustersRunningAtEnd]).toEqual(['ABORTED', 0]);
    expect((aborted.ruleDeliveries[0].result as any).releasedClaim).toBe(input.runId);
    expect((aborted.ruleDeliveries[0].result as any).pools.leases).toHaveLength(1);
    expect([again.status, didWork(again)]).toEqual(['SUCCEEDED', true]);
  });
});
