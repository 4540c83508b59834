/**
 * `npm run bench`: what one run-job execution costs, on the local runtime with simulated Spark steps.
 *   - billed state transitions per job: the happy path (partition already catalogued; and with a crawl) and a
 *     run with one Spot retry, with their Step Functions price ($0.025 per 1,000 transitions);
 *   - local wall time of a run-job execution, median over N runs (the scenario tests' time scale);
 *   - emulator API calls per job, by operation (DynamoDB, served by dynalite, is not counted).
 * Usage: npm run bench -- [--runs N] [--time-scale X]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetCrawlerCommand, GlueClient, StartCrawlerCommand } from '@aws-sdk/client-glue';
import { NO_FAULTS, type Faults } from '../local/emulator';
import { startLocalRuntime, type LocalRuntime, type RunSummary } from '../local/runner';
import { s3Location } from '../lib/contract';
import { loadPools, usePools } from '../lib/config/pools';
import { loadPrices } from '../lib/config/prices';
import { loadRules, useRules } from '../lib/config/rules';
import { withSpotAtMinimum } from '../local/runner/faultIntercepts';
import { POOL_GROWTH_SERVERLESS_RULE, smallJobsStayOnThePool } from '../local/runner/poolRules';

const PRICE_PER_TRANSITION_USD = 0.025 / 1000;
const JOBS_PER_DAY = 20_000;
const RUN_DATE = '2026-11-26';

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(name);
  const value = index >= 0 ? Number(process.argv[index + 1]) : fallback;
  if (!(value > 0)) throw new Error(`${name} must be a positive number`);
  return value;
}

const runs = Math.round(option('--runs', 10));
const timeScale = option('--time-scale', 0.001);
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
// The bench's one small job would go to EMR Serverless on a cold pool (the shipped rule), where no Spot retry
// exists: it measures the pool path, so that rule is off, before the Lambdas load, and the output says so.
useRules(smallJobsStayOnThePool(loadRules()));
// The shipped pool scales from its On-Demand core alone: a Spot node at its minimum gives the Spot fault one to
// strike. Set before any handler loads its config (they read it once, at load), so every scenario runs on it.
usePools(withSpotAtMinimum(loadPools(loadPrices())));

const scratch = mkdtempSync(join(tmpdir(), 'emrflow-bench-'));
const eventsFile = join(scratch, 'events.json');
writeFileSync(eventsFile, `${JSON.stringify({ event_time: `${RUN_DATE}T10:00:00Z`, site: 'news.example.com', visitor_id: 'v1' })}\n`);

/** Registers the partition with the crawler, as an earlier run would have, so a run skips its crawl. */
async function catalogue(runtime: LocalRuntime): Promise<void> {
  const glue = new GlueClient({});
  const Name = runtime.seeded.crawlers[0];
  await glue.send(new StartCrawlerCommand({ Name }));
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    const { Crawler } = await glue.send(new GetCrawlerCommand({ Name }));
    if (Crawler?.State === 'READY' && Crawler.LastCrawl?.Status === 'SUCCEEDED') return;
  }
}

let upload = 0;
/** Real (wall) milliseconds of each bench run, by execution name. */
const wallMs = new Map<string, number>();
/**
 * One partition per run: a partition's marker starts one run (id job + date), so each run gets its own day
 * after RUN_DATE, its data, then its `_SUCCESS`.
 */
async function runOnce(runtime: LocalRuntime, options: { catalogueFirst?: boolean } = {}): Promise<RunSummary> {
  const date = new Date(Date.parse(`${RUN_DATE}T00:00:00Z`) + upload++ * 86_400_000).toISOString().slice(0, 10);
  const partition = s3Location(runtime.buckets.RawBucket, `events/dt=${date}/`).uri;
  await runtime.upload(eventsFile, `${partition}part-0001.json`);
  const event = await runtime.markComplete(partition);
  if (options.catalogueFirst) await catalogue(runtime);
  const started = performance.now();
  const summary = await runtime.run(event);
  wallMs.set(summary.executionName, performance.now() - started);
  if (summary.status !== 'SUCCEEDED') throw new Error(`bench run ${summary.executionName} ${summary.status}: ${summary.error} ${summary.cause}`);
  return summary;
}

async function withRuntime<T>(faults: Faults, body: (runtime: LocalRuntime) => Promise<T>): Promise<T> {
  const runtime = await startLocalRuntime({ timeScale, faults, simulateSteps: true });
  try {
    return await body(runtime);
  } finally {
    await runtime.stop();
  }
}

const percentile = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(p * values.length))];
const median = (values: number[]) => percentile(values, 0.5);
const usd = (transitions: number) =>
  `$${(transitions * PRICE_PER_TRANSITION_USD).toFixed(6)}/job, $${(transitions * PRICE_PER_TRANSITION_USD * JOBS_PER_DAY).toFixed(2)}/day at ${JOBS_PER_DAY.toLocaleString('en-US')} jobs`;

function printCalls(title: string, calls: Record<string, number>): void {
  const total = Object.values(calls).reduce((sum, count) => sum + count, 0);
  console.log(`\n${title}: ${total} calls`);
  for (const [operation, count] of Object.entries(calls).sort(([a], [b]) => a.localeCompare(b)))
    console.log(`  ${operation.padEnd(28)} ${String(count).padStart(4)}`);
}

async function main(): Promise<void> {
  console.log(`run-job benchmark: ${runs} runs, time scale ${timeScale} (a 7-minute bootstrap takes ${(420 * timeScale).toFixed(2)} s), simulated steps`);
  console.log(
    `config: config/rules.json with ${POOL_GROWTH_SERVERLESS_RULE} off (the job runs on the pool), config/pools.json with a Spot node at the minimum (for the Spot fault)\n`,
  );

  const { first, rest } = await withRuntime(NO_FAULTS, async (runtime) => {
    const crawled = await runOnce(runtime);
    const catalogued: RunSummary[] = [];
    for (let i = 0; i < runs; i++) catalogued.push(await runOnce(runtime, { catalogueFirst: true }));
    return { first: crawled, rest: catalogued };
  });
  const spotRetry = await withRuntime(
    { ...NO_FAULTS, emr: { ...NO_FAULTS.emr, spotInterruption: [{ attempt: 1, phase: 'STEP_RUNNING', withPrimary: true }] } },
    (runtime) => runOnce(runtime, { catalogueFirst: true }),
  );

  const happy = rest[0];
  console.log('billed state transitions per job');
  console.log(`  happy path, partition catalogued   ${String(happy.transitions).padStart(3)}   ${usd(happy.transitions)}`);
  console.log(`  happy path, new partition (crawl)  ${String(first.transitions).padStart(3)}   ${usd(first.transitions)}`);
  console.log(`  one Spot retry, catalogued         ${String(spotRetry.transitions).padStart(3)}   ${usd(spotRetry.transitions)}`);

  // The execution's own timestamps are emulated (the virtual clock): wall time is measured around the run.
  const walls = rest.map((summary) => wallMs.get(summary.executionName) ?? Number.NaN);
  const seconds = (values: number[]) =>
    `median ${(median(values) / 1000).toFixed(2)} s   p90 ${(percentile(values, 0.9) / 1000).toFixed(2)} s   min ${(Math.min(...values) / 1000).toFixed(2)} s   max ${(Math.max(...values) / 1000).toFixed(2)} s`;
  console.log(`\nwall time of a run-job execution (happy path, catalogued), ${runs} runs`);
  console.log(`  ${seconds(walls)}   (target <= 3 s)`);
  console.log(`  emulated: ${seconds(rest.map((summary) => summary.durationMs))}`);
  const byState = new Map<string, number[]>();
  for (const summary of rest) for (const entry of summary.timeline) byState.set(entry.state, [...(byState.get(entry.state) ?? []), entry.durationMs]);
  console.log(`  emulated median per state: ${[...byState].map(([state, durations]) => `${state} ${median(durations)} ms`).join(', ')}`);

  printCalls('emulator calls per job, happy path (catalogued)', happy.emulatorCalls);
  printCalls('emulator calls per job, new partition (crawl)', first.emulatorCalls);
  printCalls('emulator calls per job, one Spot retry (catalogued)', spotRetry.emulatorCalls);
}

main()
  .catch((error) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => rmSync(scratch, { recursive: true, force: true }));
