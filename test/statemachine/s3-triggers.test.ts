/**
 * S3 trigger semantics on the local runtime (issue 16), in the shipped configuration: the denormalize-events
 * job is in marker mode. Each upload goes through the EventBridge rule serverless.yml declares (the local
 * runner evaluates the rule's own pattern), and every state machine it targets is started, as EventBridge
 * would; executions are counted there. Steps are simulated, time runs a thousand times faster.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalRuntime, type LocalRuntime, type RunSummary } from '../../local/runner';
import { objectCreatedEvent } from '../../local/runner/s3Event';
import { eventBridgeTargets, matchesPattern } from '../../local/runner/triggers';

jest.setTimeout(60_000);
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
// The subject is one execution, and one run, per partition: it counts the run's pool cluster and step. Small jobs stay on the pool (local/runner/poolRules.ts), or a cold pool
// would send them to EMR Serverless (config/rules.json small-jobs-to-serverless-when-the-pool-must-grow).
jest.mock('../../config/rules.json', () =>
  jest.requireActual('../../local/runner/poolRules').smallJobsStayOnThePoolFile(jest.requireActual('../../config/rules.json')),
);

const DATE = '2026-11-26';
const scratch = mkdtempSync(join(tmpdir(), 'emrflow-triggers-'));
const dataFile = join(scratch, 'part.json');
writeFileSync(dataFile, `${JSON.stringify({ event_time: `${DATE}T10:00:00Z`, site: 'news.example.com', visitor_id: 'v1' })}\n`);

let runtime: LocalRuntime;
beforeEach(async () => {
  runtime = await startLocalRuntime({ timeScale: 0.001, simulateSteps: true });
});
afterEach(async () => {
  await runtime?.stop();
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** EventBridge's part: every state machine whose rule matches the event is started with it. */
async function deliver(event: Record<string, unknown>): Promise<RunSummary[]> {
  const executions: RunSummary[] = [];
  for (const machine of await eventBridgeTargets(runtime.config, event)) executions.push(await runtime.run(event, { machine }));
  return executions;
}

const partition = () => `s3://${runtime.buckets.RawBucket}/events/dt=${DATE}/`;

describe('marker mode (denormalize-events, config/jobs.json)', () => {
  it('starts exactly one execution, over the whole partition, for 5 objects and then the _SUCCESS marker', async () => {
    // Act
    const uploads = [];
    for (let n = 1; n <= 5; n++) uploads.push(await runtime.upload(dataFile, `${partition()}part-000${n}.json`));
    uploads.push(await runtime.markComplete(partition()));
    const executions: RunSummary[] = [];
    for (const event of uploads) executions.push(...(await deliver(event)));

    // Assess
    console.log(`5 objects + _SUCCESS into one partition: ${executions.length} execution(s) started`);
    expect(executions).toHaveLength(1);
    const [run] = executions;
    expect(run.status).toBe('SUCCEEDED');
    expect((run.output as any).request).toMatchObject({ runId: `denormalize-events-${DATE}`, input: { uri: partition() } });
    expect(run.steps).toHaveLength(1);
  });

  it('negative control: the prefix-only rule as it was would start one execution per upload', async () => {
    // Prepare
    const before = {
      source: ['aws.s3'],
      'detail-type': ['Object Created'],
      detail: { bucket: { name: [runtime.buckets.RawBucket] }, object: { key: [{ prefix: 'events/' }] } },
    };
    const keys = [1, 2, 3, 4, 5].map((n) => `events/dt=${DATE}/part-000${n}.json`).concat(`events/dt=${DATE}/_SUCCESS`);

    // Act
    const matched = keys.filter((key) =>
      matchesPattern(
        before,
        objectCreatedEvent({ bucket: runtime.buckets.RawBucket, key, size: 1, etag: 'e' }, { region: 'us-east-1', accountId: '000000000000' }),
      ),
    );

    // Assess
    console.log(`the same uploads under the rule before issue 16: ${matched.length} executions`);
    expect(matched).toHaveLength(6);
  });

  it('runs once when the same marker event is delivered twice: the second execution stops at ClaimRun', async () => {
    // Prepare
    await runtime.upload(dataFile, `${partition()}part-0001.json`);
    const marker = await runtime.markComplete(partition());

    // Act
    const [first] = await deliver(marker);
    const [second] = await deliver(marker);

    // Assess
    expect(first).toMatchObject({ status: 'SUCCEEDED', clustersCreated: 1 });
    expect(second).toMatchObject({ status: 'SUCCEEDED', clustersCreated: 0 });
    expect(second.timeline.map((entry) => entry.state)).toEqual(['NormalizeRequest', 'ClaimRun', 'DuplicateRun']);
  });

  it('starts nothing for a folder-marker key (what the S3 console creates: an empty object ending in "/")', async () => {
    // Act
    const folder = objectCreatedEvent(
      { bucket: runtime.buckets.RawBucket, key: `events/dt=${DATE}/`, size: 0, etag: 'd41d8cd98f00b204e9800998ecf8427e' },
      { region: 'us-east-1', accountId: '000000000000' },
    );

    // Assess
    expect(await deliver(folder)).toEqual([]);
  });
});
