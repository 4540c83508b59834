/**
 * The daily schedules in a fresh account (issue 21): run-job and run-batch start on a day with no data and no
 * manifest yet. A scheduled start with nothing to do ends SUCCEEDED, saying so, with nothing claimed or
 * created, so the executionsFailed alarms stay quiet; the same start from the console still fails, as the
 * README promises (its example table; test/e2e/readme-commands.test.ts).
 */
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { startLocalRuntime, type LocalRuntime } from '../../local/runner';

jest.setTimeout(60_000);
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

let runtime: LocalRuntime;
beforeAll(async () => {
  runtime = await startLocalRuntime({ timeScale: 0.001, simulateSteps: true });
});
afterAll(() => runtime.stop());

const claims = async () => (await new DynamoDBClient({}).send(new ScanCommand({ TableName: runtime.tables.ClaimsTable }))).Count ?? 0;
const cause = (output: any) => JSON.parse(output.Cause ?? output.nothingToDo?.Cause).errorMessage as string;

describe('run-job started by its schedule on a day without data', () => {
  it('ends SUCCEEDED as nothing to do, naming where it looked, with nothing claimed or created', async () => {
    // Act
    const run = await runtime.run({ job: 'denormalize-events', trigger: 'schedule', time: '2026-11-27T02:00:00Z' });

    // Assess
    expect(run.status).toBe('SUCCEEDED');
    expect(run.timeline.map((entry) => entry.state)).toEqual(['NormalizeRequest', 'NothingToDo']);
    expect(cause(run.output)).toMatch(/^nothing to do: no input at s3:\/\/\S+\/events\/dt=2026-11-26\//);
    expect(run.clustersCreated).toBe(0);
    expect(await claims()).toBe(0);
  });

  it('still fails Input.NotFound when the same day is started from the console (negative control)', async () => {
    const run = await runtime.run({ job: 'denormalize-events', date: '2026-11-26' });

    expect({ status: run.status, error: run.error }).toEqual({ status: 'FAILED', error: 'Input.NotFound' });
  });
});

describe('run-batch started by its schedule before any manifest exists', () => {
  it('ends SUCCEEDED as nothing to do, naming the manifest, with no run-job started', async () => {
    // Act
    const run = await runtime.run({ manifest: 'manifests/daily.jsonl', trigger: 'schedule', time: '2026-11-27T02:30:00Z' }, { machine: 'run-batch' });

    // Assess
    expect(run.status).toBe('SUCCEEDED');
    expect(run.timeline.map((entry) => entry.state)).toEqual(['PlanBatch', 'NothingToDo']);
    expect(cause(run.output)).toMatch(/^nothing to do: no manifest at s3:\/\/\S+\/manifests\/daily\.jsonl/);
    expect(runtime.mapChildStats().started).toBe(0);
  });

  it('still fails Request.Invalid when a console start names a manifest that does not exist (negative control)', async () => {
    const run = await runtime.run({ manifest: 'manifests/daily.jsonl' }, { machine: 'run-batch' });

    expect({ status: run.status, error: run.error }).toEqual({ status: 'FAILED', error: 'Request.Invalid' });
  });
});
