/**
 * `emrflow simulate --recommend`: the cheapest pool configuration that meets the SLA targets on a profile (or
 * a history), found by running the emrflow strategy (the job manager on the in-memory store, pre-scaling from
 * an earlier day and pre-launching its clusters, exactly as `emrflow simulate` runs it) over a small grid:
 * cluster count, cluster size (with the jobs a cluster packs and the primary node that can run that many steps),
 * the managed-scaling maximum and the idle timeout. The pool rule's threshold follows the cluster size (use-shared-pool sends a job to the pool
 * when it fits one cluster; placement already gives a job too big for the pool a cluster of its own), so it is
 * not searched apart. Prints the winner as a diff against config/pools.json and writes it as a what-if file
 * (./whatIf.ts) that `emrflow simulate --what-if` replays and a user can copy into config/.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import type { PoolDefinition } from '../../lib/config/pools';
import { DEFAULT_SIZING } from '../../lib/domain/sizing';
import { primaryStepCapacity } from '../../lib/domain/primaryNode';
import { sizeDay, type PlannerConfig } from './decisions';
import { EmrflowRun } from './emrflowRun';
import { shippedConfig } from './index';
import { historyShape } from './prescaleShape';
import { generateJobs, readHistory, readProfile, spotModel, type SimJob } from './profile';
import { Random } from './random';
import { loadStateMachineLimits } from './stateMachineLimits';
import { applyWhatIf, type WhatIf } from './whatIf';

export const RECOMMEND_TARGETS = { failures: 0, slaMisses: 0, startP50Seconds: 60, startP95Seconds: 300 };
/** The what-if file's name in the output directory (--out, default .emrflow/simulate). */
export const RECOMMEND_FILE = 'recommended-what-if.json';

/** The grid: few enough points that a 2,000-job profile takes seconds, wide enough to span the shipped day. */
export const RECOMMEND_GRID = {
  maxClusters: [1, 2, 3, 4, 6, 8],
  capacityUnits: [32, 64, 128, 256],
  // 720 s: the shortest that outlasts a pre-launched cluster's wait for its burst (DEFAULT_PRESCALE.launchLeadSeconds
  // less the shortest cluster start), so the pool can end its clusters between bursts; 3600 s keeps them all hour.
  idleTimeoutSeconds: [720, 3600],
};
/**
 * Jobs a cluster packs: one-unit jobs fill it, up to the 64 concurrent steps a 4xlarge primary runs (32 on a
 * 2xlarge; lib/domain/primaryNode.ts). Fewer, bigger clusters pay fewer primaries and core fleets for the same
 * steps: on the default day 4 clusters of 128 units and 64 steps cost less than 8 of 64 and 32.
 */
const MAX_STEPS_PER_CLUSTER = 64;
const SMALLEST_JOB_UNITS = DEFAULT_SIZING.minCapacityUnits;

export interface Outcome {
  pool: Record<string, unknown>;
  costUsd: number;
  failures: number;
  slaMisses: number;
  startSeconds: { p50: number; p95: number };
  meets: boolean;
}

export interface RecommendOptions {
  profile: string;
  history?: string;
  jobs?: number;
  seed: number;
  /** Where the what-if file goes. */
  out: string;
  /** The grid to search (RECOMMEND_GRID when absent; tests use a small one). */
  grid?: typeof RECOMMEND_GRID;
}

export interface Recommendation {
  best: Outcome;
  tried: number;
  meeting: number;
  shipped: Outcome;
  whatIf: WhatIf;
}

/** The pool fields one grid point changes, with the cheapest primary fleet that runs its steps. */
export function candidatePool(base: PoolDefinition, config: PlannerConfig, point: { maxClusters: number; capacityUnits: number; idleTimeoutSeconds: number }) {
  const steps = Math.min(MAX_STEPS_PER_CLUSTER, Math.max(1, Math.floor(point.capacityUnits / SMALLEST_JOB_UNITS)));
  const types = Object.entries(config.prices.instanceTypes)
    .filter(([, t]) => primaryStepCapacity({ vcpu: t.vcpu, memoryGiB: t.memoryGiB }) >= steps)
    .sort(([, a], [, b]) => a.ec2Hourly + a.emrHourly - (b.ec2Hourly + b.emrHourly));
  const fits = base.fleets.primary.every((type) => primaryStepCapacity(config.prices.instanceTypes[type]) >= steps);
  const primary = fits ? base.fleets.primary : types.slice(0, 2).map(([type]) => type);
  return {
    fleets: { ...base.fleets, primary },
    maxClusters: point.maxClusters,
    capacityUnits: point.capacityUnits,
    maxJobsPerCluster: steps,
    stepConcurrencyLevel: steps,
    idleTimeoutSeconds: point.idleTimeoutSeconds,
    managedScaling: { minimumUnits: base.fleets.coreUnits, maximumUnits: point.capacityUnits },
  };
}

/** One emrflow day on `config`: its cost, failures, SLA misses and start percentiles. */
export async function outcomeOf(
  config: PlannerConfig,
  day: { jobs: SimJob[]; history: SimJob[]; runDate: string; spot: ReturnType<typeof spotModel>; seed: number },
) {
  const withLimits = { ...config, limits: config.limits ?? loadStateMachineLimits() };
  const run = new EmrflowRun(withLimits, sizeDay(day.jobs, day.runDate), day.spot, new Random(day.seed).fork(11), () => undefined);
  run.prescaleShape = historyShape(day.history, day.runDate, withLimits);
  await run.run();
  run.finishBilling();
  const m = run.meter;
  const sorted = [...m.startSeconds].sort((a, b) => a - b);
  const at = (p: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0);
  const costUsd = Math.round(Object.values(m.cost).reduce((a, b) => a + b, 0) * 100) / 100;
  const startSeconds = { p50: at(0.5), p95: at(0.95) };
  const t = RECOMMEND_TARGETS;
  const meets = m.failed <= t.failures && m.slaMisses <= t.slaMisses && startSeconds.p50 <= t.startP50Seconds && startSeconds.p95 <= t.startP95Seconds;
  return { costUsd, failures: m.failed, slaMisses: m.slaMisses, startSeconds, meets };
}

/** Runs the grid; the cheapest point meeting the targets wins, else the one with the fewest SLA misses and failures. */
export async function recommend(options: RecommendOptions, shipped: PlannerConfig = shippedConfig()): Promise<Recommendation> {
  const profile = readProfile(options.profile);
  const sized = options.jobs !== undefined ? { ...profile, jobs: options.jobs, totalInputTiB: (profile.totalInputTiB * options.jobs) / profile.jobs } : profile;
  const jobs = options.history ? readHistory(options.history, DEFAULT_SIZING.defaultThroughputMiBpsPerUnit) : generateJobs(sized, options.seed);
  const day = {
    jobs,
    history: options.history ? jobs : generateJobs(sized, options.seed + 1),
    runDate: profile.date,
    spot: spotModel(profile),
    seed: options.seed,
  };
  const base = shipped.pools.pools[0];
  if (!base) throw new Error('config/pools.json has no pool to size');
  const shippedOutcome = { pool: {}, ...(await outcomeOf(shipped, day)) };
  const outcomes: Outcome[] = [];
  const grid = options.grid ?? RECOMMEND_GRID;
  for (const maxClusters of grid.maxClusters)
    for (const capacityUnits of grid.capacityUnits)
      for (const idleTimeoutSeconds of grid.idleTimeoutSeconds) {
        const pool = candidatePool(base, shipped, { maxClusters, capacityUnits, idleTimeoutSeconds });
        const config = applyWhatIf('recommend', { pools: { [base.name]: pool }, enableRules: [], disableRules: [] }, shipped);
        outcomes.push({ pool, ...(await outcomeOf(config, day)) });
      }
  const meeting = outcomes.filter((o) => o.meets);
  const best = [...(meeting.length > 0 ? meeting : outcomes)].sort((a, b) =>
    meeting.length > 0 ? a.costUsd - b.costUsd : a.slaMisses + a.failures - (b.slaMisses + b.failures) || a.costUsd - b.costUsd,
  )[0];
  const whatIf: WhatIf = {
    description: `emrflow simulate --recommend on ${options.history ?? options.profile} (${jobs.length} jobs, seed ${options.seed}): the cheapest of ${outcomes.length} pool configurations ${best.meets ? 'meeting' : 'closest to'} the SLA targets (0 failures, 0 SLA misses, start p50 <= ${RECOMMEND_TARGETS.startP50Seconds} s, p95 <= ${RECOMMEND_TARGETS.startP95Seconds} s)`,
    pools: { [base.name]: best.pool },
    enableRules: [],
    disableRules: [],
  };
  mkdirSync(dirname(options.out), { recursive: true });
  writeFileSync(options.out, `${JSON.stringify(whatIf, null, 2)}\n`);
  return { best, tried: outcomes.length, meeting: meeting.length, shipped: shippedOutcome, whatIf };
}

/** The recommendation as lines: the diff against config/pools.json, the figures beside the shipped ones, the file. */
export function recommendLines(result: Recommendation, shipped: PlannerConfig, out: string): string[] {
  const base = shipped.pools.pools[0] as unknown as Record<string, unknown>;
  const diff = Object.entries(result.best.pool)
    .filter(([field, value]) => JSON.stringify(base[field]) !== JSON.stringify(value))
    .flatMap(([field, value]) => [`-   ${field}: ${JSON.stringify(base[field])}`, `+   ${field}: ${JSON.stringify(value)}`]);
  const figures = (o: Omit<Outcome, 'pool'>) =>
    `$${o.costUsd}/day, ${o.failures} failed, ${o.slaMisses} SLA misses, start p50/p95 ${o.startSeconds.p50}/${o.startSeconds.p95} s`;
  return [
    `SIMULATED (emrflow strategy): ${result.tried} pool configurations tried, ${result.meeting} meet the targets`,
    `shipped config/:  ${figures(result.shipped)}`,
    `${result.best.meets ? 'recommended:     ' : 'closest (MISSES):'} ${figures(result.best)}`,
    `--- config/pools.json pools[${shipped.pools.pools[0]?.name}]`,
    `+++ recommended`,
    ...(diff.length > 0 ? diff : ['    (no change)']),
    `what-if: ${out}   (emrflow simulate --what-if ${out} replays it; copy its fields into config/pools.json to apply)`,
  ];
}

/** The CLI's `emrflow simulate --recommend`: exit 0 when a configuration meets the targets, 1 when none does. */
export async function recommendCommand(options: Omit<RecommendOptions, 'out' | 'jobs'> & { out: string }, print: (line: string) => void): Promise<number> {
  const shipped = shippedConfig();
  const file = join(options.out, RECOMMEND_FILE);
  const result = await recommend({ ...options, out: file }, shipped);
  for (const line of recommendLines(result, shipped, relative(process.cwd(), file) || file)) print(line);
  return result.best.meets ? 0 : 1;
}
