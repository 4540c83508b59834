/**
 * run-batch on the local runtime: the real ASL (its Distributed Map run by the runner: ItemReader and
 * ResultWriter on local S3, one child workflow per item), run-job children started with
 * startExecution.sync:2 on the same runtime, the real handlers, dynalite, the emulator; Spark steps
 * SIMULATED. The 200-item batch runs once and its figures are shared by the assertions.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dynamoClient } from '../../lib/aws/clients';
import { listClusters, listQueue } from '../../lib/aws/registry';
import { loadPools } from '../../lib/config/pools';
import { loadPrices } from '../../lib/config/prices';
import { CLUSTER_ENDED_STATES } from '../../lib/contract';
import { runBatch, type BatchReport } from '../../local/batchCommand';
import { startLocalRuntime, type LocalRuntime, type RunSummary } from '../../local/runner';
import { startCpuBurners } from '../support/cpuBurners';

jest.setTimeout(600_000);
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
// The subject is a batch of run-jobs on the pool: small jobs stay on the pool (local/runner/poolRules.ts), or a cold pool
// would send them to EMR Serverless (config/rules.json small-jobs-to-serverless-when-the-pool-must-grow).
jest.mock('../../config/rules.json', () =>
  jest.requireActual('../../local/runner/poolRules').smallJobsStayOnThePoolFile(jest.requireActual('../../config/rules.json')),
);

/** No pacing: the virtual clock jumps from event to event; what happens does not depend on the pace. */
const TIME_SCALE = 0;
const ITEMS = 200;
const RUN_DATE = '2026-11-26';
const quiet = { liveEveryMs: 0, print: () => undefined };

const scratch = mkdtempSync(join(tmpdir(), 'emrflow-batch-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function freshRuntime(): Promise<{ runtime: LocalRuntime; input: string }> {
  const runtime = await startLocalRuntime({ timeScale: TIME_SCALE, simulateSteps: true, seed: 24 });
  const events = join(scratch, 'part-0001.json');
  writeFileSync(events, `${JSON.stringify({ event_time: `${RUN_DATE}T10:00:00Z`, site: 'news.example.com', visitor_id: 'v1' })}\n`);
  const input = `s3://${runtime.buckets.RawBucket}/loads/batch/part-0001.json`;
  await runtime.upload(events, input);
  return { runtime, input };
}

function manifest(name: string, lines: string[]): string {
  const file = join(scratch, name);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

const aliveClusters = (runtime: LocalRuntime) => runtime.stats().clusters.filter((cluster) => !CLUSTER_ENDED_STATES.has(cluster.state));

/** Pool clusters outlive their last job by the pool's idle timeout (AutoTerminationPolicy): wait for it, in emulated time. */
async function untilNoClusterAlive(runtime: LocalRuntime, emulatedMs: number): Promise<void> {
  const deadline = Date.now() + emulatedMs;
  while (aliveClusters(runtime).length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10_000));
}

/** What the batch did, free of when it ran: the summary, each run-job's outcome and queue wait, the grant order. */
function batchOutcome(runtime: LocalRuntime, batch: { report: BatchReport; grantOrder: string[] }) {
  const { wallSeconds: _wall, summaryLocation: _summary, batchId: _id, ...report } = batch.report;
  const jobs = runtime.executions
    .list('run-job')
    .map((job) => ({
      name: job.name,
      status: job.status,
      error: job.result?.error ?? null,
      attempts: job.result?.attempts ?? null,
      transitions: job.result?.transitions ?? null,
      queueWaitSeconds:
        (job.result?.timeline ?? []).filter((entry) => entry.state === 'AcquireCapacity').reduce((sum, entry) => sum + entry.durationMs, 0) / 1000,
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
  return { report, jobs, grantOrder: batch.grantOrder };
}

const nightly = (input: string) =>
  Array.from({ length: ITEMS }, (_, i) => JSON.stringify({ job: 'denormalize-events', runId: `nightly-${String(i).padStart(3, '0')}`, date: RUN_DATE, input }));

describe(`a ${ITEMS}-item manifest on one pool`, () => {
  let runtime: LocalRuntime;
  let first: { run: RunSummary; report: BatchReport; grantOrder: string[] };
  let rerun: { run: RunSummary; report: BatchReport };
  let stepsAfterFirst: number;
  let wallSeconds: number;

  beforeAll(async () => {
    const started = performance.now();
    const fresh = await freshRuntime();
    runtime = fresh.runtime;
    const file = manifest('nightly.jsonl', nightly(fresh.input));
    first = await runBatch(runtime, file, quiet);
    wallSeconds = (performance.now() - started) / 1000;
    stepsAfterFirst = runtime.stats().steps.length;
    rerun = await runBatch(runtime, file, quiet);
    // The pool's idle timeout (config/pools.json), then teardown: wait for both, with room, in emulated time.
    await untilNoClusterAlive(runtime, (loadPools(loadPrices()).pools[0].idleTimeoutSeconds + 900) * 1000);
    const { report } = first;
    console.log(
      `run-batch, ${ITEMS} items, one pool, steps SIMULATED, no pacing: ${wallSeconds.toFixed(1)} s wall (batch ${report.wallSeconds.toFixed(1)} s, ${report.emulatedSeconds} emulated s, decisions ${report.decisionsHash}), ` +
        `${report.transitions} billed transitions for the batch (run-batch ${first.run.transitions} + ${first.run.mapChildren.executions} map children ${first.run.mapChildren.transitions}), ` +
        `${report.jobTransitionsPerExecution} transitions per run-job, ${report.clustersCreated} clusters created; re-run: ${rerun.report.transitions} transitions, ${rerun.report.duplicates} duplicates`,
    );
  });
  let stopped = false;
  afterAll(async () => {
    if (!stopped) await runtime?.stop();
  });

  it('succeeds with every item, and the summary counts what the run-job executions did', () => {
    const jobs = runtime.executions.list('run-job');
    expect(first.report).toMatchObject({ status: 'SUCCEEDED', items: ITEMS, succeeded: ITEMS, failed: 0, duplicates: 0, notRun: 0, failures: [] });
    expect(jobs).toHaveLength(ITEMS);
    expect(jobs.filter((job) => job.status === 'SUCCEEDED')).toHaveLength(first.report.succeeded);
    expect(new Set(jobs.map((job) => job.name)).size).toBe(ITEMS);
    expect(first.run.mapChildren.executions).toBe(ITEMS);
  });

  it('names each run-job execution after the batch, the job and the run, within 80 allowed characters', () => {
    for (const job of runtime.executions.list('run-job')) {
      expect(job.name).toMatch(/^nightly-\d{4}-\d{2}-\d{2}-denormalize-events-nightly-\d{3}$/);
      expect(job.name.length).toBeLessThanOrEqual(80);
    }
  });

  it('ran every job exactly once on the pool, and leaves no lease, no queue entry and no cluster', async () => {
    const tables = { clusters: runtime.tables.ClusterRegistryTable, queue: runtime.tables.AdmissionQueueTable };
    const [pool] = loadPools(loadPrices()).pools;
    const registry = await listClusters(dynamoClient(), tables, pool.name);
    expect(stepsAfterFirst).toBe(ITEMS);
    expect(runtime.stats().steps.filter((step) => step.state === 'COMPLETED')).toHaveLength(ITEMS);
    expect(registry.reduce((sum, cluster) => sum + Object.keys(cluster.leases).length, 0)).toBe(0);
    expect(await listQueue(dynamoClient(), tables, pool.name)).toEqual([]);
    expect(first.report.clustersCreated).toBeGreaterThan(0);
    expect(first.report.clustersCreated).toBeLessThanOrEqual(pool.maxClusters);
    expect(aliveClusters(runtime)).toEqual([]);
  });

  it('bills the batch about one transition per item beyond its own few states', () => {
    expect(first.run.transitions).toBeLessThanOrEqual(8);
    expect(first.run.mapChildren.transitions).toBe(ITEMS);
    expect(first.report.transitions).toBe(first.run.transitions + ITEMS);
  });

  it('re-run as the same batch starts no job again: every item is a duplicate', () => {
    expect(rerun.report).toMatchObject({ status: 'SUCCEEDED', items: ITEMS, succeeded: 0, failed: 0, duplicates: ITEMS });
    expect(rerun.run.childExecutions).toEqual([]);
    expect(runtime.executions.list('run-job')).toHaveLength(ITEMS);
    expect(runtime.stats().steps).toHaveLength(stepsAfterFirst);
  });

  // Last in this block: it stops the runtime the tests above read (one runtime per process).
  describe('run again on a fresh runtime beside two CPU-burning processes', () => {
    let idle: ReturnType<typeof batchOutcome>;
    let busy: ReturnType<typeof batchOutcome>;
    let busyReport: BatchReport;
    beforeAll(async () => {
      idle = batchOutcome(runtime, first);
      await runtime.stop();
      stopped = true;
      const burners = startCpuBurners(2);
      let again: LocalRuntime | undefined;
      try {
        const fresh = await freshRuntime();
        again = fresh.runtime;
        // The same manifest name: it names the batch and so every run-job execution.
        const batch = await runBatch(again, manifest('nightly.jsonl', nightly(fresh.input)), quiet);
        busy = batchOutcome(again, batch);
        busyReport = batch.report;
      } finally {
        await burners.stop();
        await again?.stop();
      }
      console.log(
        `run-batch beside two burners: ${busyReport.wallSeconds.toFixed(1)} s wall (idle run: ${first.report.wallSeconds.toFixed(1)} s); decisions ${busyReport.decisionsHash} / ${first.report.decisionsHash}`,
      );
    });

    it('does exactly the same: statuses, attempts, clusters created, grant order, emulated queue waits and transitions', () => {
      expect(busy.jobs).toHaveLength(ITEMS);
      expect(busy.grantOrder.length).toBeGreaterThanOrEqual(ITEMS);
      expect(busy).toEqual(idle);
    });

    it('the comparison can fail (negative control): one job waiting a second longer is a different outcome', () => {
      const changed = { ...idle, jobs: idle.jobs.map((job, i) => (i === 0 ? { ...job, queueWaitSeconds: job.queueWaitSeconds + 1 } : job)) };
      expect(changed).not.toEqual(idle);
    });
  });
});

describe('a manifest with repeated and malformed lines', () => {
  let runtime: LocalRuntime;
  let result: { run: RunSummary; report: BatchReport };

  beforeAll(async () => {
    const fresh = await freshRuntime();
    runtime = fresh.runtime;
    const ok = (runId: string) => JSON.stringify({ job: 'denormalize-events', runId, date: RUN_DATE, input: fresh.input });
    const file = manifest('mixed.jsonl', [
      ok('mixed-a'),
      ok('mixed-b'),
      ok('mixed-a'),
      'this line is not JSON',
      '[1, 2, 3]',
      JSON.stringify({ job: 'no-such-job', date: RUN_DATE }),
      '',
      JSON.stringify({ date: RUN_DATE }),
      ok('mixed-c'),
    ]);
    // Six items reach the Map, two of them fail: 33% is within the 50% this batch tolerates.
    result = await runBatch(runtime, file, { ...quiet, toleratedFailurePercentage: 50 });
  });
  afterAll(async () => {
    await runtime?.stop();
  });

  it('fails the malformed lines with Request.Invalid, lists them by line, and runs the rest', () => {
    expect(result.report.failures.map((failure) => [failure.line, failure.error])).toEqual([
      [4, 'Request.Invalid'],
      [5, 'Request.Invalid'],
      [6, 'Request.Invalid'],
      [8, 'Request.Invalid'],
    ]);
    expect(result.report.failures[0].cause).toMatch(/line 4: not JSON/);
    expect(result.report.failures[2].cause).toMatch(/"no-such-job" is not in config\/jobs.json/);
    expect(result.report.failures[3].cause).toMatch(/job: is required/);
    expect(result.report).toMatchObject({ items: 8, succeeded: 3, failed: 4, duplicates: 1 });
  });

  it('runs a repeated line once', () => {
    const started = runtime.executions.list('run-job').map((job) => job.name);
    expect(started.filter((name) => name.endsWith('-mixed-a'))).toHaveLength(1);
    expect(runtime.stats().steps).toHaveLength(3);
  });

  it('publishes the summary to the alarm topic because jobs failed', () => {
    expect(runtime.notifications).toHaveLength(1);
    expect(runtime.notifications[0].message).toMatch(/line 4 .*Request\.Invalid/);
  });
});
