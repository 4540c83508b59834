/**
 * The example pipeline end to end on the local runtime with real Spark: generated events are uploaded to
 * local S3, the S3 trigger runs run-job, the step runs spark/denormalize.py through spark-submit, and the
 * Parquet it leaves is read back with Spark, as a downstream consumer would.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseFaults } from '../../local/emulator';
import { findSpark } from '../../local/emulator/emr/spark';
import { PROJECT_DIR, startLocalRuntime, type LocalRuntime, type RunSummary } from '../../local/runner';
import { BIG_PARTITION_BYTES, sizedAsPartitionOf } from '../../local/runner/faultMatrix';

// The in-process Lambdas' logs would bury jest's report; the assertions read the run summary instead.
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
// These scenarios are about dedicated clusters (their fleets, Spot fallback, teardown): without the usePool and
// useServerless rules every run gets one, as a job too big for any pool does (pooled runs: run-job.pool.test.ts;
// Serverless runs: run-job.serverless.test.ts).
jest.mock('../../config/rules.json', () => {
  const shipped = jest.requireActual('../../config/rules.json');
  const dedicated = (rule: { event: { type: string } }) => rule.event.type !== 'usePool' && rule.event.type !== 'useServerless';
  return { ...shipped, rules: shipped.rules.filter(dedicated) };
});

const exec = promisify(execFile);
const PYTHON = path.join(PROJECT_DIR, '.venv', 'bin', 'python');
const EVENTS = 2000;

// With CI=true a missing Spark is a failure, not a skip (issue 4).
const spark = findSpark({ projectRoot: PROJECT_DIR });
const withSpark = spark || process.env.CI === 'true' ? describe : describe.skip;

/** Rows, distinct event ids and part files of the Parquet under `dir`, read with Spark itself. */
async function readParquet(dir: string): Promise<{ rows: number; distinctEventIds: number; writeIds: string[] }> {
  const script = [
    'import json, os, re, sys',
    'from pyspark.sql import SparkSession, functions as F',
    "spark = SparkSession.builder.master('local[1]').config('spark.ui.enabled', 'false').getOrCreate()",
    'frame = spark.read.parquet(sys.argv[1])',
    "row = frame.agg(F.count(F.lit(1)).alias('rows'), F.countDistinct('event_id').alias('ids')).first()",
    "names = [n for _, _, files in os.walk(sys.argv[1]) for n in files if n.endswith('.parquet')]",
    // part-<task>-<write uuid>.c000…: one uuid per write, so files left by another attempt would show
    "write_ids = sorted({re.match(r'part-\\d+-(.+?)\\.c\\d+', n).group(1) for n in names})",
    "print(json.dumps({'rows': row['rows'], 'distinctEventIds': row['ids'], 'writeIds': write_ids}))",
  ].join('\n');
  const { stdout } = await exec(PYTHON, ['-c', script, dir], { env: { ...process.env, SPARK_LOCAL_IP: '127.0.0.1' } });
  return JSON.parse(stdout.trim().split('\n').pop()!);
}

function jsonLines(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.json'))
    .flatMap((name) => readFileSync(path.join(dir, name), 'utf8').split('\n').filter(Boolean));
}

withSpark('run-job with a real Spark step', () => {
  jest.setTimeout(600_000);
  let work: string;
  let runtime: LocalRuntime | undefined;

  beforeAll(() => {
    work = mkdtempSync(path.join(tmpdir(), 'emrflow-e2e-spark-'));
  });
  afterEach(async () => {
    await runtime?.stop();
    runtime = undefined;
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  /** Generates events for `date`, uploads them as the S3 trigger and runs run-job on the upload. */
  /** `big`: SizeJob sizes the run as a big partition (as the Spot rows of the fault matrix do), so its cluster has a Spot task fleet. */
  async function uploadAndRun(date: string, faults?: object, big = false) {
    const file = path.join(work, `events-${date}.json`);
    await exec('python3', [
      path.join(PROJECT_DIR, 'spark', 'generate_events.py'),
      '--events',
      String(EVENTS),
      '--date',
      date,
      '--out',
      file,
      '--seed',
      '11',
      '--malformed-rate',
      '0.02',
    ]);
    runtime = await startLocalRuntime({ timeScale: 0.001, faults: faults && parseFaults(JSON.stringify(faults), 'test faults') });
    await runtime.upload(file, `s3://${runtime.buckets.RawBucket}/events/dt=${date}/part-0001.json`);
    const event = await runtime.markComplete(`s3://${runtime.buckets.RawBucket}/events/dt=${date}/`);
    const summary = await runtime.run(event, big ? { intercept: sizedAsPartitionOf(BIG_PARTITION_BYTES) } : {});
    const request = (summary.output as any)?.request ?? {};
    const local = (uri: string) => path.join(runtime!.stateDir, 's3', uri.replace(/^s3:\/\//, ''));
    return {
      summary,
      request,
      output: local(request.output?.uri ?? 's3://missing/'),
      inputLines: readFileSync(file, 'utf8').split('\n').filter(Boolean).length,
    };
  }

  function sparkSteps(summary: RunSummary) {
    return summary.steps.map(({ state, executor }) => ({ state, executor }));
  }

  it('turns uploaded events into Parquet holding every input row that was not rejected', async () => {
    const date = '2026-11-27';

    const { summary, request, output, inputLines } = await uploadAndRun(date);

    expect(runtime!.sparkSubmit).not.toBeNull();
    expect(summary.status).toBe('SUCCEEDED');
    expect(sparkSteps(summary)).toEqual([{ state: 'COMPLETED', executor: 'spark' }]);
    expect(summary.clustersRunningAtEnd).toBe(0);
    const rejects = jsonLines(path.join(output, '_rejects', `dt=${date}`));
    const parquet = await readParquet(path.join(output, `dt=${date}`));
    expect(inputLines).toBe(EVENTS);
    expect(rejects.length).toBeGreaterThan(0);
    expect(parquet.rows).toBe(inputLines - rejects.length);
    expect(parquet.distinctEventIds).toBe(parquet.rows);
    const metricsDir = path.join(output, '_metrics', `dt=${date}`);
    const metrics = readdirSync(metricsDir)
      .filter((name) => name.endsWith('.json') && !name.startsWith('.'))
      .map((name) => JSON.parse(readFileSync(path.join(metricsDir, name), 'utf8')));
    expect(metrics).toEqual([expect.objectContaining({ runId: request.runId, rowsIn: EVENTS, rowsOut: parquet.rows, rowsRejected: rejects.length })]);
  });

  it('reruns the step after a Spot interruption and leaves no duplicates', async () => {
    const date = '2026-11-28';

    const { summary, output, inputLines } = await uploadAndRun(date, { emr: { spotInterruption: [{ attempt: 1, phase: 'STEP_RUNNING' }] } }, true);

    expect({ status: summary.status, error: summary.error, cause: summary.cause }).toEqual({ status: 'SUCCEEDED', error: null, cause: null });
    expect(summary.attempts).toBe(2);
    expect(sparkSteps(summary)).toEqual([
      { state: 'FAILED', executor: 'spark' },
      { state: 'COMPLETED', executor: 'spark' },
    ]);
    expect(summary.clustersRunningAtEnd).toBe(0);
    const rejects = jsonLines(path.join(output, '_rejects', `dt=${date}`));
    const parquet = await readParquet(path.join(output, `dt=${date}`));
    expect(parquet.rows).toBe(inputLines - rejects.length);
    expect(parquet.distinctEventIds).toBe(parquet.rows);
    expect(parquet.writeIds).toHaveLength(1);
    expect(existsSync(path.join(output, '_metrics', `dt=${date}`))).toBe(true);
  });
});
