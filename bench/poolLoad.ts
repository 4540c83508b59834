/**
 * The pool load: N run-job executions started within one emulated minute against the shipped pool, on the
 * local runtime (the real ASL, the real handlers, dynalite, the emulator; Spark steps SIMULATED). Shared by
 * `npm run bench:pool` and test/statemachine/run-job.pool.test.ts, which assert on the same figures.
 * Its subject is the pool, so it runs on the shipped rules with small jobs kept on the pool
 * (local/runner/poolRules.ts): the caller installs them before the Lambdas load, and runPoolLoad refuses otherwise.
 *
 * What it watches while the load runs:
 *   - every write to the pool registry (local/runner/registryObserver.ts): a cluster over its capacity, a
 *     lease sum that is not the units in use, more leases than job slots — and each lease as it is granted;
 *   - the emulator's cluster state changes: how many pool clusters were alive at once, and when each
 *     RunJobFlow happened, against the RunJobFlow token bucket (config/pools.json dispatcher);
 *   - each execution's timeline: its wait in AcquireCapacity (parked), its transitions;
 *   - what dynalite served (items read and written, local/emulator/dynamoMeter.ts) and each Lambda
 *     invocation's real duration (the dispatcher's: how long one dispatch takes as the queue deepens).
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dynamoClient } from '../lib/aws/clients';
import { listClusters, listQueue } from '../lib/aws/registry';
import { loadPools, type PoolDefinition } from '../lib/config/pools';
import { loadPrices } from '../lib/config/prices';
import { loadRules } from '../lib/config/rules';
import { CLUSTER_ENDED_STATES, parsePoolClusterName } from '../lib/contract';
import type { Priority } from '../lib/domain/types';
import type { Faults } from '../local/emulator';
import type { DynamoUsage } from '../local/emulator/dynamoMeter';
import { LAMBDA_INVOCATION_CHANNEL, type LambdaInvocationMessage } from '../local/runner/adapters/lambda';
import { startLocalRuntime, type LocalRuntime, type RunSummary } from '../local/runner';
import { keepsSmallJobsOnThePool, POOL_GROWTH_SERVERLESS_RULE } from '../local/runner/poolRules';
import { decisionsHash, grantSequence, observeRegistry, type LeaseGrant, type RegistryObservation, type Violation } from '../local/runner/registryObserver';

export const DEFAULT_JOBS = 200;
/**
 * 0: no real-time pacing. The runtime's virtual clock (local/emulator/clock.ts) jumps from event to event
 * once the work in flight is done, so the outcome is the same at any pace and on any machine.
 */
export const DEFAULT_TIME_SCALE = 0;
/** The emulator's ids and dice: the same seed names the same clusters. */
export const DEFAULT_SEED = 24;
const SUBMIT_WINDOW_SECONDS = 60;

export interface PoolLoadOptions {
  jobs?: number;
  /**
   * Each job's priority and submission time (emulated seconds from the start), instead of `jobs` spread
   * over one minute with priorityOf's mix.
   */
  submissions?: Array<{ priority: Priority; atSeconds: number }>;
  timeScale?: number;
  faults?: Faults | string;
  seed?: number;
  /** Called with the runtime before the first job starts (the pool tests watch task-token settlements). */
  beforeStart?: (runtime: LocalRuntime) => void | Promise<void>;
}

export interface JobOutcome {
  index: number;
  priority: Priority;
  status: string;
  error: string | null;
  transitions: number;
  attempts: number;
  submittedAt: number;
  /** Emulated seconds parked in AcquireCapacity (all attempts). */
  queueWaitSeconds: number;
  /** Emulated ms (epoch) when its (last) RunPooledStep began, or null. */
  startedStepAt: number | null;
  /** Clusters its RunPooledStep ran on, in order. */
  clusters: string[];
}

export interface ClusterLife {
  clusterId: string;
  name: string;
  pool: string | null;
  startedAt: number;
  /** When it started TERMINATING: from then on it takes no lease and runs no new step. */
  terminatingAt: number | null;
  /** When it was TERMINATED (or _WITH_ERRORS); until then it exists and counts as alive. */
  endedAt: number | null;
  endReason: string | null;
}

export interface PoolLoadResult {
  pool: PoolDefinition;
  timeScale: number;
  jobs: JobOutcome[];
  registryWrites: number;
  violations: Violation[];
  grants: LeaseGrant[];
  registryStates: RegistryObservation['states'];
  clusters: ClusterLife[];
  maxClustersAlive: number;
  runJobFlowTimes: number[];
  /** Launches beyond the token bucket's allowance at the time they happened (0 = within budget). */
  launchesOverBudget: number;
  leasesAtEnd: number;
  queueAtEnd: number;
  emrCalls: Record<string, number>;
  /** Every step the emulator's clusters were given, by name (a step submitted twice shows twice). */
  stepNames: string[];
  /** What dynalite served from the runtime's start to the last execution's end (the end-of-load reads excluded). */
  dynamodb: DynamoUsage | null;
  /** Real milliseconds of each Lambda invocation that returned, by function key (dispatchQueue, acquireCapacity, …). */
  invocationMillis: Record<string, number[]>;
  sfnCalls: Record<string, number>;
  /** EMR's EventBridge events sent to the rules, and those the `events` fault dropped or duplicated. */
  emrEvents: LocalRuntime['emrEvents'];
  ruleErrors: LocalRuntime['ruleErrors'];
  /** Hash of the grant sequence (execution → cluster by order of creation): equal runs made equal decisions. */
  decisionsHash: string;
  /** The grant sequence itself, `execution>cN`. */
  grantOrder: string[];
  /** Emulated seconds from the first submission to the last execution's end. */
  emulatedSeconds: number;
  /** Real seconds the whole load took (runtime start and stop included). */
  wallSeconds: number;
}

/** First 40% low priority, then normal, the last 20% high: high-priority jobs are submitted last. */
export function priorityOf(index: number, jobs: number): Priority {
  if (index < jobs * 0.4) return 'low';
  if (index < jobs * 0.8) return 'normal';
  return 'high';
}

export async function runPoolLoad(options: PoolLoadOptions = {}): Promise<PoolLoadResult> {
  const jobs = options.jobs ?? DEFAULT_JOBS;
  const submissions =
    options.submissions ??
    Array.from({ length: jobs }, (_, index) => ({ priority: priorityOf(index, jobs), atSeconds: (index * SUBMIT_WINDOW_SECONDS) / jobs }));
  const timeScale = options.timeScale ?? DEFAULT_TIME_SCALE;
  const [pool] = loadPools(loadPrices()).pools;
  if (!pool) throw new Error('config/pools.json has no pool: the pool load needs one');
  if (!keepsSmallJobsOnThePool(loadRules()))
    throw new Error(
      `the pool load measures the pool, but rule ${POOL_GROWTH_SERVERLESS_RULE} would send its jobs to EMR Serverless: install smallJobsStayOnThePool (local/runner/poolRules.ts) before the Lambdas load`,
    );
  // performance.now(): Date is the runtime's virtual clock while it runs.
  const wallStart = performance.now();
  const runtime = await startLocalRuntime({ timeScale, faults: options.faults, simulateSteps: true, seed: options.seed ?? DEFAULT_SEED });
  const scratch = mkdtempSync(join(tmpdir(), 'emrflow-pool-load-'));
  let result: PoolLoadResult;
  const tables = { clusters: runtime.tables.ClusterRegistryTable, queue: runtime.tables.AdmissionQueueTable };
  const observation = observeRegistry(dynamoClient(), tables.clusters);
  const invocationMillis: Record<string, number[]> = {};
  const onInvocation = (message: unknown) => {
    const { function: key, wallMs } = message as LambdaInvocationMessage;
    const times = invocationMillis[key] ?? [];
    times.push(wallMs);
    invocationMillis[key] = times;
  };
  subscribe(LAMBDA_INVOCATION_CHANNEL, onInvocation);
  try {
    const file = join(scratch, 'part-0001.json');
    writeFileSync(file, `${JSON.stringify({ event_time: '2026-11-26T10:00:00Z', site: 'news.example.com', visitor_id: 'v1' })}\n`);
    const input = `s3://${runtime.buckets.RawBucket}/loads/pool/part-0001.json`;
    await runtime.upload(file, input);
    // Warm Lambdas: load every handler module before the burst. On AWS 200 cold starts happen in parallel,
    // in ~0.3 s each; here the first invocation of each would compile its TypeScript while the burst waits.
    for (const fn of Object.values(runtime.config.functions)) require(fn.modulePath);
    await options.beforeStart?.(runtime);

    const loadStart = Date.now();
    const started = submissions.map(async ({ priority, atSeconds }, index): Promise<JobOutcome> => {
      await new Promise((resolve) => setTimeout(resolve, atSeconds * 1000));
      const submittedAt = Date.now();
      const summary = await runtime.run(
        { job: 'denormalize-events', runId: `pool-load-${index}`, input, priority },
        { executionName: `pool-load-${String(index).padStart(3, '0')}` },
      );
      return outcomeOf(summary, index, priority, submittedAt);
    });
    const outcomes = await Promise.all(started);
    const emulatedSeconds = (Date.now() - loadStart) / 1000;

    const stats = runtime.stats();
    const clusterOrder = stats.clusters.map((cluster) => cluster.clusterId);
    const clusters = clusterLives(runtime, stats.clusters);
    const registry = await listClusters(dynamoClient(), tables, pool.name);
    const queue = await listQueue(dynamoClient(), tables, pool.name);
    const runJobFlowTimes = clusters
      .filter((c) => c.pool === pool.name)
      .map((c) => c.startedAt)
      .sort((a, b) => a - b);
    const { ratePerSecond, burst } = loadPools(loadPrices()).dispatcher.runJobFlowBudget;
    result = {
      pool,
      timeScale,
      jobs: outcomes,
      registryWrites: observation.writes,
      violations: observation.violations,
      grants: observation.grants,
      registryStates: observation.states,
      clusters,
      maxClustersAlive: maxAlive(clusters.filter((c) => c.pool === pool.name)),
      runJobFlowTimes,
      launchesOverBudget: runJobFlowTimes.filter((at, i) => i + 1 > burst + (ratePerSecond * (at - loadStart)) / 1000 + 1e-9).length,
      leasesAtEnd: registry.reduce((sum, cluster) => sum + Object.keys(cluster.leases).length, 0),
      queueAtEnd: queue.length,
      emrCalls: stats.calls.EMR,
      stepNames: stats.steps.map((step) => step.name),
      dynamodb: stats.dynamodb,
      invocationMillis,
      sfnCalls: { ...runtime.taskTokens.calls },
      emrEvents: { ...runtime.emrEvents },
      ruleErrors: [...runtime.ruleErrors],
      decisionsHash: decisionsHash(observation.grants, clusterOrder),
      grantOrder: grantSequence(observation.grants, clusterOrder),
      emulatedSeconds,
      wallSeconds: 0,
    };
  } finally {
    unsubscribe(LAMBDA_INVOCATION_CHANNEL, onInvocation);
    observation.detach();
    await runtime.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
  return { ...result, wallSeconds: (performance.now() - wallStart) / 1000 };
}

function outcomeOf(summary: RunSummary, index: number, priority: Priority, submittedAt: number): JobOutcome {
  const parked = summary.timeline.filter((entry) => entry.state === 'AcquireCapacity');
  const steps = summary.timeline.filter((entry) => entry.state === 'RunPooledStep');
  return {
    index,
    priority,
    status: summary.status,
    error: summary.error,
    transitions: summary.transitions,
    attempts: summary.attempts,
    submittedAt,
    queueWaitSeconds: parked.reduce((sum, entry) => sum + entry.durationMs, 0) / 1000,
    startedStepAt: steps.at(-1)?.startedAt ?? null,
    clusters: steps.map((entry) => entry.clusterId ?? '?'),
  };
}

/** Each cluster's life from the emulator's state changes (STARTING → TERMINATED / _WITH_ERRORS). */
function clusterLives(runtime: LocalRuntime, records: Array<{ clusterId: string; name: string }>): ClusterLife[] {
  return records.map((record) => {
    const changes = runtime.events.filter((event) => event.resource === 'cluster' && event.id === record.clusterId);
    const ended = changes.find((event) => CLUSTER_ENDED_STATES.has(event.state));
    const terminating = changes.find((event) => event.state === 'TERMINATING');
    return {
      clusterId: record.clusterId,
      name: record.name,
      pool: parsePoolClusterName(record.name),
      startedAt: changes[0]?.at ?? 0,
      terminatingAt: terminating?.at ?? ended?.at ?? null,
      endedAt: ended?.at ?? null,
      endReason: terminating?.message ?? ended?.message ?? null,
    };
  });
}

/** Most clusters alive at once: from RunJobFlow until TERMINATED (a TERMINATING cluster still exists). */
function maxAlive(clusters: ClusterLife[]): number {
  const edges = clusters.flatMap((c) => [{ at: c.startedAt, delta: 1 }, ...(c.endedAt === null ? [] : [{ at: c.endedAt, delta: -1 }])]);
  edges.sort((a, b) => a.at - b.at || a.delta - b.delta);
  let alive = 0;
  let most = 0;
  for (const edge of edges) {
    alive += edge.delta;
    most = Math.max(most, alive);
  }
  return most;
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export function mean(values: number[]): number | null {
  return values.length === 0 ? null : values.reduce((sum, value) => sum + value, 0) / values.length;
}

/**
 * What a run of the load did, free of when it ran: each job's status, error, attempts, transitions, queue
 * wait and step start (emulated, from the first submission) and clusters (by order of creation), the
 * clusters created and the grant sequence. Two runs on any machine, at any load, must give equal ones.
 */
export function loadOutcome(load: PoolLoadResult) {
  const origin = Math.min(...load.jobs.map((job) => job.submittedAt));
  const ordinal = new Map(load.clusters.map((cluster, index) => [cluster.clusterId, `c${index + 1}`]));
  return {
    jobs: load.jobs.map((job) => ({
      index: job.index,
      status: job.status,
      error: job.error,
      attempts: job.attempts,
      transitions: job.transitions,
      queueWaitSeconds: job.queueWaitSeconds,
      stepStartSeconds: job.startedStepAt === null ? null : (job.startedStepAt - origin) / 1000,
      clusters: job.clusters.map((clusterId) => ordinal.get(clusterId) ?? clusterId),
    })),
    clustersCreated: load.clusters.length,
    grantOrder: load.grantOrder,
    decisionsHash: load.decisionsHash,
    emulatedSeconds: load.emulatedSeconds,
  };
}
