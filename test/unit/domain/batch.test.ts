import {
  batchTarget,
  EXECUTION_NAME_MAX,
  executionName,
  formatSummaryMessage,
  planItems,
  summarizeBatch,
  type MapResultEntry,
} from '../../../lib/domain/batch';
import { parseBatchSettings } from '../../../lib/config/batch';

const settings = parseBatchSettings({ maxConcurrency: 100, toleratedFailurePercentage: 10, manifestPrefix: 'manifests/', resultsPrefix: 'batches/' });
const ctx = { settings, artifactsBucket: 'artifacts', now: new Date('2026-12-01T08:00:00Z') };
const plan = {
  batchId: 'nightly-2026-11-30',
  itemCount: 4,
  summary: { bucket: 'artifacts', key: 'batches/nightly-2026-11-30/summary.json', uri: 's3://artifacts/batches/nightly-2026-11-30/summary.json' },
};

describe('batchTarget', () => {
  it('dates a scheduled batch the day before it fires and names it after the manifest', () => {
    const target = batchTarget({ manifest: 'manifests/nightly.jsonl', trigger: 'schedule', time: '2026-12-01T02:30:00Z' }, ctx);

    expect(target).toMatchObject({ batchId: 'nightly-2026-11-30', batchDate: '2026-11-30', maxConcurrency: 100, toleratedFailurePercentage: 10 });
    expect(target.manifest.uri).toBe('s3://artifacts/manifests/nightly.jsonl');
    expect(target.items.uri).toBe('s3://artifacts/batches/nightly-2026-11-30/items.jsonl');
    expect(target.results).toEqual({ bucket: 'artifacts', prefix: 'batches/nightly-2026-11-30/results' });
  });

  it('takes the batch id, concurrency and tolerance a console start gives', () => {
    const target = batchTarget({ manifest: 's3://artifacts/manifests/a.jsonl', batchId: 'rerun-7', maxConcurrency: 5, toleratedFailurePercentage: 0 }, ctx);

    expect(target).toMatchObject({ batchId: 'rerun-7', batchDate: '2026-12-01', maxConcurrency: 5, toleratedFailurePercentage: 0 });
  });

  it.each([
    [{}, /manifest: is required/],
    [{ manifest: 's3://other-bucket/manifests/a.jsonl' }, /manifest: must lie in the artifacts bucket under manifests\//],
    [{ manifest: 'uploads/a.jsonl' }, /manifest: must lie in the artifacts bucket/],
    [{ manifest: 'manifests/' }, /manifest: must be an s3:\/\/bucket\/key URI of one object/],
    [{ manifest: 'manifests/a.jsonl', batchId: 'has space' }, /batchId: must be 1-40 letters/],
    [{ manifest: 'manifests/a.jsonl', maxConcurrency: 20000 }, /maxConcurrency: must be between 1 and 10000/],
    [{ manifest: 'manifests/a.jsonl', concurrency: 5 }, /concurrency: unknown field/],
  ])('rejects %j with Request.Invalid naming the field', (input, message) => {
    expect(() => batchTarget(input, ctx)).toThrow(expect.objectContaining({ name: 'Request.Invalid', message: expect.stringMatching(message) }));
  });
});

describe('planItems', () => {
  it('names each request after the batch, the job and the run, and dates undated ones with the batch date', () => {
    const { items, rejected } = planItems(
      [
        '{"job": "denormalize-events"}',
        '{"job": "denormalize-events", "runId": "denormalize-events-backfill"}',
        '',
        '{"job": "denormalize-events", "date": "2026-11-01"}',
      ].join('\n'),
      'b1',
      '2026-11-30',
    );

    expect(rejected).toEqual([]);
    expect(items).toEqual([
      { line: 1, name: 'b1-denormalize-events-2026-11-30', input: { job: 'denormalize-events', date: '2026-11-30' } },
      { line: 2, name: 'b1-denormalize-events-backfill', input: { job: 'denormalize-events', runId: 'denormalize-events-backfill', date: '2026-11-30' } },
      { line: 4, name: 'b1-denormalize-events-2026-11-01', input: { job: 'denormalize-events', date: '2026-11-01' } },
    ]);
  });

  it('gives the same request the same name, so a repeated line starts one execution', () => {
    const { items } = planItems('{"job": "j", "date": "2026-11-01"}\n{"job": "j", "date": "2026-11-01"}', 'b1', '2026-11-30');

    expect(items[0].name).toBe(items[1].name);
  });

  it('rejects a line that is not a JSON object with Request.Invalid and its line number; an object without a job goes on', () => {
    const { items, rejected } = planItems('not json\n[1]\n"text"\n{"date": "2026-11-01"}', 'b1', '2026-11-30');

    expect(rejected.map((r) => [r.line, r.error])).toEqual([
      [1, 'Request.Invalid'],
      [2, 'Request.Invalid'],
      [3, 'Request.Invalid'],
    ]);
    expect(rejected[0].cause).toMatch(/^line 1: not JSON/);
    expect(items).toEqual([{ line: 4, name: 'b1-line-4', input: { date: '2026-11-01' } }]);
  });
});

describe('executionName', () => {
  it('keeps only characters Step Functions and CloudWatch Logs accept', () => {
    expect(executionName(['b 1', 'job/x', 'run:1'])).toBe('b_1-job_x-run_1');
  });

  it('cuts a long name to 80 characters, ending in a hash of the whole so two long names stay apart', () => {
    const long = (suffix: string) => executionName(['batch', 'a'.repeat(100), suffix]);

    expect(long('1')).toHaveLength(EXECUTION_NAME_MAX);
    expect(long('1')).not.toBe(long('2'));
    expect(long('1')).toBe(long('1'));
  });
});

describe('summarizeBatch', () => {
  const item = (line: number, name: string) => JSON.stringify({ line, name, input: {} });
  const ok = (line: number, name: string, cost: number): MapResultEntry => ({
    Status: 'SUCCEEDED',
    Input: item(line, name),
    Output: JSON.stringify({ line, name, job: { execution: `arn:…:${name}`, output: { request: { runId: name }, record: { estimatedCostUsd: cost } } } }),
  });
  const childFailed = (line: number, name: string, error: string, cause: string): MapResultEntry => ({
    Status: 'FAILED',
    Input: item(line, name),
    Error: 'States.TaskFailed',
    Cause: JSON.stringify({ ExecutionArn: `arn:…:${name}`, Status: 'FAILED', Error: error, Cause: cause }),
  });

  it('counts succeeded runs and their cost, and names each failed child by its own error and line', () => {
    const summary = summarizeBatch(plan, [
      ok(1, 'b-a', 1.25),
      childFailed(2, 'b-b', 'Emr.SpotInterrupted', 'lost Spot capacity on attempt 3'),
      childFailed(3, 'b-c', 'Request.Invalid', JSON.stringify({ errorType: 'Request.Invalid', errorMessage: 'job: "x" is not in config/jobs.json' })),
      ok(4, 'b-d', 0.5),
    ]);

    expect(summary).toMatchObject({ status: 'SUCCEEDED', items: 4, succeeded: 2, failed: 2, duplicates: 0, estimatedCostUsd: 1.75 });
    expect(summary.failures).toEqual([
      { line: 2, name: 'b-b', execution: 'arn:…:b-b', error: 'Emr.SpotInterrupted', cause: 'lost Spot capacity on attempt 3' },
      { line: 3, name: 'b-c', execution: 'arn:…:b-c', error: 'Request.Invalid', cause: 'job: "x" is not in config/jobs.json' },
    ]);
  });

  it('counts as duplicates a repeated name, a name already taken and a run already claimed', () => {
    const taken: MapResultEntry = {
      Status: 'SUCCEEDED',
      Input: item(3, 'b-c'),
      Output: JSON.stringify({ line: 3, name: 'b-c', alreadyStarted: { Error: 'StepFunctions.ExecutionAlreadyExistsException' } }),
    };
    const claimed: MapResultEntry = {
      Status: 'SUCCEEDED',
      Input: item(4, 'b-d'),
      Output: JSON.stringify({ job: { output: { request: { runId: 'r' }, error: { Error: 'DynamoDB.ConditionalCheckFailedException' } } } }),
    };
    const summary = summarizeBatch(plan, [taken, ok(2, 'b-a', 1), ok(1, 'b-a', 1), claimed]);

    expect(summary).toMatchObject({ succeeded: 1, failed: 0, duplicates: 3, estimatedCostUsd: 1 });
    expect(summary.duplicateItems.map((d) => d.line).sort()).toEqual([2, 3, 4]);
  });

  it('counts rejected lines as failed items and items the failed Map never ran as not run', () => {
    const summary = summarizeBatch(plan, [ok(1, 'b-a', 0)], {
      mapError: { Error: 'States.ExceedToleratedFailureThreshold' },
      rejected: [{ line: 9, error: 'Request.Invalid', cause: 'line 9: not JSON' }],
    });

    expect(summary).toMatchObject({ status: 'FAILED', error: 'States.ExceedToleratedFailureThreshold', items: 5, succeeded: 1, failed: 1, notRun: 3 });
    expect(formatSummaryMessage(summary)).toMatch(/FAILED: 5 items, 1 succeeded, 1 failed[\s\S]*line 9 : Request.Invalid: line 9: not JSON/);
  });

  it('negative control: an item whose child succeeded is not reported as failed', () => {
    expect(summarizeBatch(plan, [ok(1, 'b-a', 0)]).failures).toEqual([]);
  });
});

describe('config/batch.json', () => {
  it('loads the shipped settings', () => {
    expect(() => parseBatchSettings(require('../../../config/batch.json'))).not.toThrow();
  });

  it.each([
    [{ ...settings, maxConcurency: 5 }, /config\/batch.json: maxConcurency: unknown field; did you mean "maxConcurrency"\?/],
    [{ ...settings, toleratedFailurePercentage: 150 }, /config\/batch.json: toleratedFailurePercentage: must be between 0 and 100/],
    [{ ...settings, resultsPrefix: 'batches' }, /config\/batch.json: resultsPrefix: must be an S3 key prefix ending in "\/"/],
  ])('rejects %j with Config.Invalid naming the file and field', (raw, message) => {
    expect(() => parseBatchSettings(raw)).toThrow(expect.objectContaining({ name: 'Config.Invalid', message: expect.stringMatching(message) }));
  });
});
