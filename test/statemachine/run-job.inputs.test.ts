/**
 * Every shape an execution input can take reaches a clear outcome on the local runtime: JSON that is not an
 * object fails with Request.Invalid (not States.ResultPathMatchFailure), a hostile value is not echoed back
 * at full size, and an input over Step Functions' 256 KiB is refused before an execution exists.
 */
import { ScanCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { MAX_EXECUTION_INPUT_BYTES } from '../../local/runner/execute';
import { startLocalRuntime, type LocalRuntime } from '../../local/runner';

jest.setTimeout(30_000);
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

let runtime: LocalRuntime;
beforeAll(async () => {
  runtime = await startLocalRuntime({ timeScale: 0.001, simulateSteps: true });
});
afterAll(() => runtime.stop());

async function claims(): Promise<number> {
  const out = await new DynamoDBClient({}).send(new ScanCommand({ TableName: runtime.tables.ClaimsTable }));
  return out.Count ?? 0;
}

describe('run-job execution inputs', () => {
  it.each([
    ['an array', [{ job: 'denormalize-events' }], /^\(input\): /],
    ['a string', 'denormalize-events', /^\(input\): /],
    ['a number', 42, /^\(input\): /],
    ['null', null, /^\(input\): /],
    ['a boolean', true, /^\(input\): /],
    ['an empty object', {}, /^job: /],
  ])('fails %s with Request.Invalid naming the field, claiming and creating nothing', async (_what, input, field) => {
    const summary = await runtime.run(input);

    expect({ status: summary.status, error: summary.error }).toEqual({ status: 'FAILED', error: 'Request.Invalid' });
    expect(summary.timeline.map((entry) => entry.state)).toEqual(['NormalizeRequest', 'RequestInvalid']);
    expect(JSON.parse(summary.cause!).errorMessage).toMatch(field);
    expect(summary.clustersCreated).toBe(0);
    expect(await claims()).toBe(0);
  });

  it('does not echo a 200 KB runId back into the cause', async () => {
    const runId = 'r'.repeat(200_000);

    const summary = await runtime.run({ job: 'denormalize-events', date: '2026-11-26', runId });

    expect(summary.error).toBe('Request.Invalid');
    const message: string = JSON.parse(summary.cause!).errorMessage;
    expect(message).toMatch(/^runId: /);
    expect(message.length).toBeLessThan(2_200);
    expect(summary.cause!.length).toBeLessThan(8_000);
  });

  it('refuses an input over 256 KiB as StartExecution does: no execution, no claim', async () => {
    const input = { job: 'denormalize-events', runId: 'x'.repeat(300 * 1024) };

    await expect(runtime.run(input)).rejects.toMatchObject({
      name: 'ValidationException',
      message: expect.stringContaining(String(MAX_EXECUTION_INPUT_BYTES)),
    });
    expect(await claims()).toBe(0);
  });

  it('accepts an input of exactly 256 KiB (the limit is inclusive; negative control)', async () => {
    const padding = MAX_EXECUTION_INPUT_BYTES - JSON.stringify({ job: 'no-such-job', pad: '' }).length;
    const input = { job: 'no-such-job', pad: 'p'.repeat(padding) };
    expect(Buffer.byteLength(JSON.stringify(input))).toBe(MAX_EXECUTION_INPUT_BYTES);

    const summary = await runtime.run(input);

    expect(summary.error).toBe('Request.Invalid');
  });
});
