/**
 * EMR Serverless as a placement target: what a job placed there sends to StartJobRun, its deterministic client
 * token, what it is expected to cost, and how long a job would wait in a pool instead (the facts the rules
 * compare). Pure: no SDK, no environment.
 */
import { createHash } from 'node:crypto';
import type { ServerlessApplicationConfig } from '../config/serverless';
import { parseStepName, TAG } from '../contract';
import type { PriceBook } from '../config/prices';
import type { PoolCluster, QueuedTotals, QueueEntry } from './pools';
import { freeUnits, isAlive, isStarting } from './pools';
import { priorityRank } from './priority';
import { billedUtilization, sparkSubmitParameters, workersForSpark, type JobWorkers, type ResourceUtilization } from './serverlessWorkers';
import type { Priority, Sizing } from './types';

/** A new pool cluster takes 5–10 minutes to WAITING (REFERENCE.md): the middle of that range. */
export const CLUSTER_START_MINUTES = 8;
/** A Serverless job run without pre-initialized capacity: the AWS sample's ~70 s to half the executors. */
export const SERVERLESS_COLD_START_MINUTES = 1.5;

/** StartJobRun's clientToken: [A-Za-z0-9._-], at most 64 characters. */
const CLIENT_TOKEN_MAX = 64;

/**
 * The client token of an execution's attempt: the same on every retry of the same start (so EMR Serverless
 * returns the job run it already started), different per attempt (so a retried attempt runs the job again).
 * Readable when the execution name allows it; otherwise the name's hash.
 */
export function serverlessClientToken(executionName: string, attempt: number): string {
  const suffix = `-a${attempt}`;
  const readable = executionName.replace(/[^A-Za-z0-9._-]/g, '_');
  if (readable === executionName && readable.length + suffix.length <= CLIENT_TOKEN_MAX) return `${readable}${suffix}`;
  const hash = createHash('sha256').update(executionName).digest('hex').slice(0, 16);
  return `${readable.slice(0, CLIENT_TOKEN_MAX - suffix.length - hash.length - 1)}-${hash}${suffix}`;
}

/** What run-job's RunServerlessJob state sends (Placement.serverless). */
export interface ServerlessPlacement {
  /** The config/serverless.json application (the deployed one is `ServerlessSparkApplication`). */
  application: string;
  clientToken: string;
  entryPoint: string;
  entryPointArguments: string[];
  sparkSubmitParameters: string;
  /** EMR Serverless cancels the job run itself at this timeout, so a timed-out job never keeps running. */
  executionTimeoutMinutes: number;
  workers: JobWorkers;
  /** Expected bill of the job run at the configured prices (USD). */
  predictedCostUsd: number;
}

/** `spark-submit [options] <script> [args]` (SizeJob's stepArgs) → EMR Serverless's entry point and arguments. */
export function sparkSubmitParts(stepArgs: readonly string[]): { entryPoint: string; entryPointArguments: string[]; options: string[] } {
  const args = stepArgs[0] === 'spark-submit' ? stepArgs.slice(1) : [...stepArgs];
  const options: string[] = [];
  let i = 0;
  while (i < args.length && args[i].startsWith('--')) {
    options.push(args[i], args[i + 1] ?? '');
    i += 2;
  }
  if (i >= args.length) throw new RangeError(`no script in the Spark arguments ${JSON.stringify(stepArgs)}`);
  return { entryPoint: args[i], entryPointArguments: args.slice(i + 1), options };
}

/** Options of an EMR step that mean nothing on EMR Serverless (it has no YARN, no deploy mode, its own resources). */
const EMR_ONLY_OPTIONS = new Set([
  '--deploy-mode',
  '--master',
  '--num-executors',
  '--executor-cores',
  '--executor-memory',
  '--driver-memory',
  '--driver-cores',
]);

/** USD per vCPU-hour, GB-hour and storage GB-hour of EMR Serverless, from config/prices.json's services; ARM64 bills 20% less. */
export function serverlessRates(prices: PriceBook, architecture: 'X86_64' | 'ARM64'): { vcpuHour: number; gbHour: number; storageGbHour: number } {
  const services = prices.services;
  if (!services) throw new RangeError('config/prices.json has no services prices: EMR Serverless cannot be priced');
  const factor = architecture === 'ARM64' ? 0.8 : 1;
  return {
    vcpuHour: services.emrServerlessVcpuHour.usd * factor,
    gbHour: services.emrServerlessGbHour.usd * factor,
    storageGbHour: services.emrServerlessStorageGbHour?.usd ?? 0,
  };
}

/** The price of billed utilization (GetJobRun's billedResourceUtilization). */
export function serverlessCostUsd(billed: Partial<ResourceUtilization>, rates: ReturnType<typeof serverlessRates>): number {
  const cost = (billed.vCPUHour ?? 0) * rates.vcpuHour + (billed.memoryGBHour ?? 0) * rates.gbHour + (billed.storageGBHour ?? 0) * rates.storageGbHour;
  return Math.round(cost * 1e6) / 1e6;
}

/** What a job placed on `app` sends to StartJobRun, and what it is expected to cost. */
export function serverlessPlacement(
  input: { sizing: Pick<Sizing, 'spark' | 'stepArgs' | 'stepTimeoutSeconds' | 'predictedMinutes'>; executionName: string; attempt: number },
  applicationName: string,
  app: ServerlessApplicationConfig,
  prices: PriceBook,
): ServerlessPlacement {
  const workers = workersForSpark(input.sizing.spark, { diskGb: app.workerDiskGb });
  const { entryPoint, entryPointArguments, options } = sparkSubmitParts(input.sizing.stepArgs);
  const kept: string[] = [];
  for (let i = 0; i < options.length; i += 2) {
    if (EMR_ONLY_OPTIONS.has(options[i])) continue;
    // Resource settings are EMR Serverless's, from the workers below: a sized job's own --conf for them would contradict.
    if (options[i] === '--conf' && /^spark\.(driver|executor)\.(cores|memory|instances)=|^spark\.dynamicAllocation\./.test(options[i + 1])) continue;
    kept.push(options[i], options[i + 1]);
  }
  const extra = kept.join(' ');
  return {
    application: applicationName,
    clientToken: serverlessClientToken(input.executionName, input.attempt),
    entryPoint,
    entryPointArguments,
    sparkSubmitParameters: [sparkSubmitParameters(workers), extra].filter(Boolean).join(' '),
    executionTimeoutMinutes: Math.max(1, Math.ceil(input.sizing.stepTimeoutSeconds / 60)),
    workers,
    predictedCostUsd: predictedServerlessCostUsd(workers, input.sizing.predictedMinutes, app, prices),
  };
}

export function predictedServerlessCostUsd(
  workers: JobWorkers,
  minutes: number,
  app: Pick<ServerlessApplicationConfig, 'architecture'>,
  prices: PriceBook,
): number {
  return serverlessCostUsd(billedUtilization(workers, minutes * 60), serverlessRates(prices, app.architecture));
}

/**
 * Minutes a job of `units` at `priority` would wait for a lease in a pool, from what the registry holds:
 * none when the free units and job slots (maxJobs less leases) of ready clusters cover the queue ahead of
 * it and the job; a cluster start when clusters starting or the pool's room to launch more (maxClusters)
 * cover it; otherwise, on top of that, until running work frees enough units and slots, at the pace of
 * `typicalJobMinutes` per pool-full of work. An estimate for rules, not a promise.
 */
export function predictedPoolWaitMinutes(input: {
  clusters: Array<Pick<PoolCluster, 'state' | 'capacityUnits' | 'unitsInUse'> & Partial<Pick<PoolCluster, 'maxJobs' | 'leases'>>>;
  /** The waiting jobs, each entry or a group of `entries` entries (default 1) of `units` in all (a level's totals). */
  queue: Array<Pick<QueueEntry, 'units' | 'priority'> & { entries?: number }>;
  maxClusters: number;
  clusterCapacityUnits: number;
  /** Jobs one cluster runs at once (the pool's maxJobsPerCluster); unknown = units are the only limit. */
  clusterMaxJobs?: number;
  units: number;
  priority: Priority;
  typicalJobMinutes: number;
}): number {
  const live = input.clusters.filter(isAlive);
  const ready = live.filter((cluster) => !isStarting(cluster));
  const slots = (cluster: (typeof live)[number]) => cluster.maxJobs ?? input.clusterMaxJobs ?? Number.POSITIVE_INFINITY;
  const free = ready.reduce((sum, cluster) => sum + freeUnits(cluster), 0);
  const freeSlots = ready.reduce((sum, cluster) => sum + Math.max(0, slots(cluster) - Object.keys(cluster.leases ?? {}).length), 0);
  const ahead = input.queue.filter((entry) => priorityRank(entry.priority) >= priorityRank(input.priority));
  const needed = ahead.reduce((sum, entry) => sum + entry.units, 0) + input.units;
  const neededSlots = ahead.reduce((sum, entry) => sum + (entry.entries ?? 1), 0) + 1;
  if (needed <= free && neededSlots <= freeSlots) return 0;
  // What the pool can hold once the clusters starting and the ones it may still launch are up.
  const launchable = Math.max(0, input.maxClusters - live.length);
  const startingOrNew = [...live.filter(isStarting), ...Array.from({ length: launchable }, () => ({ capacityUnits: input.clusterCapacityUnits }))];
  const laterUnits = free + startingOrNew.reduce((sum, cluster) => sum + cluster.capacityUnits, 0);
  const slotsOfNew = (count: number) => (count === 0 ? 0 : count * (input.clusterMaxJobs ?? Number.POSITIVE_INFINITY));
  const laterSlots = freeSlots + slotsOfNew(startingOrNew.length);
  const start = startingOrNew.length > 0 ? CLUSTER_START_MINUTES : 0;
  if (needed <= laterUnits && neededSlots <= laterSlots) return start;
  // Beyond that, running work drains at the pace of one pool-full (units and job slots) per typical job.
  const poolUnits = Math.max(1, live.reduce((sum, cluster) => sum + cluster.capacityUnits, 0) + launchable * input.clusterCapacityUnits);
  const poolSlots = live.reduce((sum, cluster) => sum + slots(cluster), 0) + slotsOfNew(launchable);
  const byUnits = Math.max(0, needed - laterUnits) / poolUnits;
  const bySlots = Number.isFinite(poolSlots) && poolSlots > 0 ? Math.max(0, neededSlots - laterSlots) / poolSlots : 0;
  return Math.round((start + Math.max(byUnits, bySlots) * input.typicalJobMinutes) * 10) / 10;
}

type RegistryClusters = Array<Pick<PoolCluster, 'state' | 'capacityUnits' | 'unitsInUse'> & Partial<Pick<PoolCluster, 'maxJobs' | 'leases'>>>;

/**
 * What the registry holds of a pool for a predicted wait: its clusters and its queued totals (waiting units and
 * entries per level: what place-job and the planner's hybrid read, one Query or lookup per pool however deep
 * the queue), or, for a caller that holds them, the queue's entries themselves.
 */
export type PoolRegistryView =
  | { clusters: RegistryClusters; queued: QueuedTotals }
  | { clusters: RegistryClusters; queue: Array<Pick<QueueEntry, 'units' | 'priority' | 'execution'> & Partial<Pick<QueueEntry, 'state'>>> };

/**
 * Each pool's predicted wait for a job (predictedPoolWaitMinutes), from what the registry holds of the pool.
 * The totals count waiting entries only, and a PlaceJob runs before its attempt parks (an earlier attempt's
 * entry left `waiting` when it was granted), so the job is never behind itself; given entries, the job's own
 * execution's are left out all the same. Pools whose clusters are smaller than the job are left out.
 * What place-job computes from DynamoDB and the planner from its in-memory registry.
 */
export function predictedPoolWaits(
  pools: Array<{ name: string; maxClusters: number; capacityUnits: number; maxJobsPerCluster?: number }>,
  registry: Record<string, PoolRegistryView>,
  job: { executionName: string; units: number; priority: Priority; predictedMinutes: number },
): Record<string, number> {
  const queueOf = (view: PoolRegistryView) =>
    'queued' in view
      ? Object.entries(view.queued).map(([priority, level]) => ({ priority: priority as Priority, units: level.units, entries: level.entries }))
      : view.queue.filter((entry) => entry.execution !== job.executionName && (entry.state ?? 'waiting') === 'waiting');
  return Object.fromEntries(
    // A job bigger than a pool's clusters never gets a lease there: no wait to predict (the rules see none).
    pools
      .filter((pool) => job.units <= pool.capacityUnits)
      .map((pool) => [
        pool.name,
        predictedPoolWaitMinutes({
          clusters: registry[pool.name].clusters,
          queue: queueOf(registry[pool.name]),
          maxClusters: pool.maxClusters,
          clusterCapacityUnits: pool.capacityUnits,
          clusterMaxJobs: pool.maxJobsPerCluster,
          units: job.units,
          priority: job.priority,
          typicalJobMinutes: job.predictedMinutes,
        }),
      ]),
  );
}

/**
 * The run's job run: RunServerlessJob's result on success, else the job run a failed startJobRun.sync carried
 * in its Cause. Null for a run that was not placed on Serverless or never started one.
 */
export function serverlessJobRunOf(run: {
  placement?: { mode?: string; jobRun?: { ApplicationId?: string; JobRunId?: string } | null } | null;
  error?: { Cause?: string } | null;
}): { applicationId: string; jobRunId: string } | null {
  if (run.placement?.mode !== 'serverless') return null;
  const started = run.placement.jobRun;
  if (started?.ApplicationId && started.JobRunId) return { applicationId: started.ApplicationId, jobRunId: started.JobRunId };
  try {
    const cause = JSON.parse(run.error?.Cause ?? '') as { jobRun?: { applicationId?: string; jobRunId?: string } };
    if (cause.jobRun?.applicationId && cause.jobRun.jobRunId) return { applicationId: cause.jobRun.applicationId, jobRunId: cause.jobRun.jobRunId };
  } catch {
    // not a job run's failure
  }
  return null;
}

/** A job run as the cleanup and the reaper see it. */
export interface ServerlessJobRunView {
  applicationId: string;
  jobRunId: string;
  /** run-job names it "<job> <runId> attempt <n>" (lib/contract.ts stepName). */
  name: string;
  state: string;
  /** Epoch ms. */
  createdAt: number;
  tags: Record<string, string>;
}

/** The job runs of one run (any attempt), by the name run-job gives them. */
export function jobRunsOfRun(runs: ServerlessJobRunView[], run: { job: string; runId: string }): ServerlessJobRunView[] {
  return runs.filter((candidate) => {
    const parsed = parseStepName(candidate.name);
    return parsed !== null && parsed.jobName === run.job && parsed.runId === run.runId;
  });
}

/**
 * The reaper's decision on active job runs: one whose execution (its `emrflow:execution` tag) is known to have
 * ended is cancelled; one younger than the grace period, without the tag, or whose execution still runs is kept.
 */
export function planJobRunReap(
  runs: ServerlessJobRunView[],
  executions: Record<string, string>,
  now: number,
  graceSeconds: number,
): { cancel: Array<ServerlessJobRunView & { reason: string }>; keep: Array<ServerlessJobRunView & { reason: string }> } {
  const cancel: Array<ServerlessJobRunView & { reason: string }> = [];
  const keep: Array<ServerlessJobRunView & { reason: string }> = [];
  for (const run of runs) {
    const execution = run.tags[TAG.execution];
    const status = execution ? executions[execution] : undefined;
    if (now - run.createdAt < graceSeconds * 1000) keep.push({ ...run, reason: 'younger than the grace period' });
    else if (!execution) keep.push({ ...run, reason: `no ${TAG.execution} tag: not run-job's` });
    else if (status === undefined || status === 'RUNNING') keep.push({ ...run, reason: `execution ${execution} is ${status ?? 'not known yet'}` });
    else cancel.push({ ...run, reason: `execution ${execution} is ${status}: nothing waits for this job run` });
  }
  return { cancel, keep };
}
