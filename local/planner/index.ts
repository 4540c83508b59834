/**
 * `emrflow simulate`: reads the job mix and the project's config, runs the day, and returns the figures.
 * The CLI (local/cli.ts) and `npm run bench:day` call this; the report is written by ./report.ts.
 */
import { loadPools } from '../../lib/config/pools';
import { loadPrices } from '../../lib/config/prices';
import { loadRules } from '../../lib/config/rules';
import { DEFAULT_SIZING } from '../../lib/domain/sizing';
import type { PlannerConfig } from './decisions';
import { generateJobs, readHistory, readProfile, spotModel, type Profile } from './profile';
import { simulateDay, type DayResult } from './simulate';
import { applyWhatIf, describeWhatIf, readWhatIf } from './whatIf';

export const DEFAULT_PROFILE = 'examples/planner/day.json';
/** The Spot model of the completion target: 20× the worst Advisor band. */
export const STRESS_MULTIPLIER = 20;

export interface PlanOptions {
  profile: string;
  history?: string;
  /** A what-if overlay on config/pools.json and config/rules.json (./whatIf.ts). */
  whatIf?: string;
  seed: number;
  /** Override the profile's job count (tests use a small day). */
  jobs?: number;
  stress?: boolean;
  onProgress?: (done: number, total: number, phase: string) => void;
}

export interface PlanResult extends DayResult {
  wallSeconds: number;
  seed: number;
  source: string;
  /** The configuration simulated: the shipped files, or what the what-if changed in them. */
  configuration: string;
  targets: Array<{ target: string; value: string; pass: boolean }>;
}

export function shippedConfig(): PlannerConfig {
  const prices = loadPrices();
  return { prices, pools: loadPools(prices), rules: loadRules() };
}

export async function plan(options: PlanOptions, shipped: PlannerConfig = shippedConfig()): Promise<PlanResult> {
  const started = process.hrtime.bigint();
  const whatIf = options.whatIf ? readWhatIf(options.whatIf) : undefined;
  const config = whatIf && options.whatIf ? applyWhatIf(options.whatIf, whatIf, shipped) : shipped;
  const configuration = whatIf && options.whatIf ? `config/ with ${describeWhatIf(options.whatIf, whatIf)}` : 'config/ as shipped';
  const profile: Profile = readProfile(options.profile);
  const sized = options.jobs !== undefined ? { ...profile, jobs: options.jobs, totalInputTiB: (profile.totalInputTiB * options.jobs) / profile.jobs } : profile;
  const jobs = options.history ? readHistory(options.history, DEFAULT_SIZING.defaultThroughputMiBpsPerUnit) : generateJobs(sized, options.seed);
  // What the dispatcher pre-scales from: the history's own runs, or the profile's previous day (another seed).
  const prescaleHistory = options.history ? jobs : generateJobs(sized, options.seed + 1);
  const day = await simulateDay({
    jobs,
    runDate: profile.date,
    config,
    spot: spotModel(profile),
    stressSpot: options.stress === false ? undefined : spotModel(profile, STRESS_MULTIPLIER),
    seed: options.seed,
    onProgress: options.onProgress,
    prescaleHistory,
  });
  const wallSeconds = Math.round(Number(process.hrtime.bigint() - started) / 1e7) / 100;
  return { ...day, wallSeconds, seed: options.seed, source: options.history ?? options.profile, configuration, targets: targets(day, wallSeconds) };
}

/**
 * The day's targets with pass/fail (printed, never asserted on timing in tests): the planner's own (issue 15)
 * and "win the seed's day" (issue 22): no failure or SLA miss, start p50 <= 60 s and p95 <= 300 s, no EMR quota
 * exceeded, cost <= 1.5x the floor, <= 0.1x one On-Demand cluster per job and <= 0.5x the cheaper EMR Serverless run.
 */
export function targets(day: DayResult, wallSeconds: number): PlanResult['targets'] {
  const e = day.strategies.emrflow;
  const od = day.strategies['on-demand-per-job'];
  const serverless = cheaperServerless(day);
  const perJob = day.simulatedJobs / 20_000;
  return [
    {
      target: '20,000 jobs simulated in <= 60 s',
      value: `${day.simulatedJobs} jobs in ${wallSeconds} s (${(wallSeconds / perJob).toFixed(1)} s per 20,000)`,
      pass: wallSeconds / perJob <= 60,
    },
    {
      target: 'emrflow: no failed job and no SLA miss',
      value: `${e.ended.failed} failed, ${e.slaMisses} SLA misses`,
      pass: e.ended.failed === 0 && e.slaMisses === 0,
    },
    {
      target: 'emrflow start p50 <= 60 s and p95 <= 300 s',
      value: `${e.startSeconds.p50} / ${e.startSeconds.p95} s`,
      pass: e.startSeconds.p50 <= 60 && e.startSeconds.p95 <= 300,
    },
    { target: 'emrflow <= 1.5x floor cost', value: `${e.costToFloor}x`, pass: e.costToFloor <= 1.5 },
    { target: 'emrflow <= 0.1x on-demand-per-job cost', value: `${(e.costUsd / od.costUsd).toFixed(3)}x`, pass: e.costUsd / od.costUsd <= 0.1 },
    {
      target: 'emrflow <= 0.5x the cheaper EMR Serverless run',
      value: `${(e.costUsd / serverless.costUsd).toFixed(3)}x ($${e.costUsd} vs $${serverless.costUsd})`,
      pass: e.costUsd <= 0.5 * serverless.costUsd,
    },
    { target: '<= 2% of jobs launch a cluster', value: `${(e.launchShare * 100).toFixed(2)}%`, pass: e.launchShare <= 0.02 },
    {
      target: 'p50 start <= 60 s for pooled jobs',
      value: `${e.pooledStartSeconds?.p50 ?? 'n/a'} s over ${e.pooledStartSeconds?.jobs ?? 0} pooled jobs`,
      pass: (e.pooledStartSeconds?.jobs ?? 0) > 0 && (e.pooledStartSeconds?.p50 ?? Infinity) <= 60,
    },
    {
      target: 'no EMR API quota exceeded at the peak',
      value: e.quotaExceeded.length === 0 ? 'none' : e.quotaExceeded.map((op) => `${op} (${e.throttledCalls[op]} throttled)`).join(', '),
      pass: e.quotaExceeded.length === 0,
    },
    {
      target: `100% completion under ${STRESS_MULTIPLIER}x the worst Spot band`,
      value: day.stress ? `${(day.stress.completion * 100).toFixed(2)}% (${day.stress.interruptions} interruptions)` : 'not run',
      pass: day.stress !== null && day.stress.completion === 1,
    },
    ...hybridTargets(day),
  ];
}

/** Issue 23's targets for emrflow-hybrid: cheaper than emrflow and the better Serverless run, start p95 no worse than emrflow's, no SLA miss. */
function hybridTargets(day: DayResult): PlanResult['targets'] {
  const e = day.strategies.emrflow;
  const h = day.strategies['emrflow-hybrid'];
  const serverless = cheaperServerless(day);
  return [
    {
      target: 'emrflow-hybrid costs less than emrflow and the better EMR Serverless run',
      value: `$${h.costUsd} vs emrflow $${e.costUsd}, Serverless $${serverless.costUsd}`,
      pass: h.costUsd < e.costUsd && h.costUsd < serverless.costUsd,
    },
    {
      target: "emrflow-hybrid start p95 <= emrflow's",
      value: `${h.startSeconds.p95} s vs ${e.startSeconds.p95} s`,
      pass: h.startSeconds.p95 <= e.startSeconds.p95,
    },
    { target: 'emrflow-hybrid 0 SLA misses', value: String(h.slaMisses), pass: h.slaMisses === 0 },
  ];
}

/** The cheaper of the two EMR Serverless runs (with and without pre-initialized capacity). */
function cheaperServerless(day: DayResult): DayResult['strategies']['emr-serverless'] {
  return [day.strategies['emr-serverless'], day.strategies['emr-serverless-preinit']].sort((a, b) => a.costUsd - b.costUsd)[0];
}
