/**
 * Idempotent triggers on the local runtime: a trigger delivered twice does its work once (ClaimRun on the
 * deterministic run id), and a run asked for again on purpose (a new runId) runs again.
 */
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EMRClient, ListClustersCommand } from '@aws-sdk/client-emr';
import { startLocalRuntime, type LocalRuntime, type RunSummary } from '../../local/runner';

jest.setTimeout(60_000);
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

const DATE = '2026-11-26';
const scratch = mkdtempSync(join(tmpdir(), 'emrflow-idempotency-'));
const file = join(scratch, 'events.json');
writeFileSync(file, `${JSON.stringify({ event_time: `${DATE}T10:00:00Z`, site: 'news.example.com', visitor_id: 'v1', session_id: 's1', url: 'https://news.example.com/' })}\n`);

let runtime: LocalRuntime;
let s3Event: Record<string, any>;
beforeAll(async () => {
  runtime = await startLocalRuntime({ timeScale: 0.001, simulateSteps: true });
  s3Event = await runtime.upload(file, `s3://${runtime.buckets.RawBucket}/events/dt=${DATE}/part-0001.json`);
});
afterAll(async () => {
  await runtime.stop();
  rmSync(scratch, { recursive: true, force: true });
});

const didWork = (summary: RunSummary) => summary.clustersCreated > 0;
const endedAt = (summary: RunSummary) => summary.timeline.at(-1)!.state;
const allClusters = async () => (await new EMRClient({}).send(new ListClustersCommand({}))).Clusters ?? [];

describe('duplicate deliveries of each trigger shape', () => {
  it('S3: the same event delivered twice (same sequencer, new event id and time) runs once', async () => {
    const first = await runtime.run(s3Event);
    const again = await runtime.run({ ...s3Event, id: 'redelivered-0001', time: '2026-11-27T09:00:00Z' });

    expect([first.status, didWork(first)]).toEqual(['SUCCEEDED', true]);
    expect([again.status, endedAt(again), didWork(again)]).toEqual(['SUCCEEDED', 'DuplicateRun', false]);
  });

  it('S3: a new upload of the same key (a new sequencer) is a new run (negative control)', async () => {
    const reupload = { ...s3Event, detail: { ...s3Event.detail, object: { ...s3Event.detail.object, sequencer: '00FFFFFFFFFFFFFFFF' } } };

    const run = await runtime.run(reupload);

    expect([run.status, didWork(run)]).toEqual(['SUCCEEDED', true]);
  });

  it('schedule: firing twice for one job and date runs once, even when both deliveries race', async () => {
    const before = (await allClusters()).length;
    const fire = (minute: string) => ({ job: 'denormalize-events', trigger: 'schedule', time: `2026-11-27T02:${minute}:00Z` });

    const [one, two] = await Promise.all([runtime.run(fire('00')), runtime.run(fire('05'))]);

    expect([one.status, two.status]).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    expect([endedAt(one), endedAt(two)].filter((state) => state === 'DuplicateRun')).toHaveLength(1);
    expect((await allClusters()).length - before).toBe(1);
  });

  it('console: the same input twice runs once; an explicit new runId runs again', async () => {
    const input = { job: 'denormalize-events', date: DATE, runId: 'denormalize-events-2026-11-26-rerun-1' };

    const first = await runtime.run(input);
    const duplicate = await runtime.run(input);
    const rerun = await runtime.run({ ...input, runId: 'denormalize-events-2026-11-26-rerun-2' });

    expect(didWork(first)).toBe(true);
    expect([endedAt(duplicate), didWork(duplicate)]).toEqual(['DuplicateRun', false]);
    expect([rerun.status, didWork(rerun)]).toEqual(['SUCCEEDED', true]);
  });
});
