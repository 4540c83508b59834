/**
 * The planner's decisions, exactly as the Lambdas make them: the planner's configuration, the JobRequest a
 * simulated job stands for, SizeJob over the day in arrival order (sizeDay) and PlaceJob's decision
 * (placementOf), plus a step's real duration on its units. Shared by every strategy's run.
 */
import { s3Location } from '../../lib/contract';
import type { PoolsConfig } from '../../lib/config/pools';
import type { PriceBook } from '../../lib/config/prices';
import type { PlacementRule } from '../../lib/config/rules';
import { placeJob, type PlaceJobInput, type PlacementConfig } from '../../lib/domain/placement';
import { DEFAULT_SIZING, sizeJob, type RunSample } from '../../lib/domain/sizing';
import type { JobRequest, Placement, Sizing } from '../../lib/domain/types';
import type { SimJob } from './profile';
import type { StateMachineLimits } from './stateMachineLimits';

const MiB = 1024 * 1024;
const ARTIFACTS_BUCKET = 'emrflow-artifacts';
const RAW_BUCKET = 'emrflow-raw';
/** The stage tag of the clusters the planner simulates (none is real). */
export const PLANNER_STAGE = 'simulated';

export interface PlannerConfig {
  prices: PriceBook;
  pools: PoolsConfig;
  rules: PlacementRule[];
  /** run-job's timeouts and retries and the job manager's schedules; read from the repository's files when absent. */
  limits?: StateMachineLimits;
}

/** A job with what the shared pre-pass decided for it: the request and the first attempt's sizing. */
export interface SizedJob extends SimJob {
  request: JobRequest;
  sizing: Sizing;
  /** Seconds the Spark step really lasts on the sized capacity. */
  stepSeconds: number;
}

export function placementConfig(config: PlannerConfig): PlacementConfig {
  return { rules: config.rules, template: config.pools.dedicated, prices: config.prices, pools: config.pools.pools, stage: PLANNER_STAGE };
}

export function requestFor(job: SimJob, runDate: string): JobRequest {
  const input = s3Location(RAW_BUCKET, `${job.job.inputPrefix}dt=${runDate}/${job.id}.json`);
  return {
    runId: job.id,
    trigger: 's3',
    runDate,
    job: job.job,
    input,
    output: s3Location(ARTIFACTS_BUCKET, job.job.outputPrefix),
    claimExpiresAt: 0,
    crawl: { required: false, crawler: null, reason: 'simulated' },
  };
}

/** The PlaceJob input the run-job state machine would send for this attempt. */
export function placeJobInput(job: SizedJob, attempt: number): PlaceJobInput {
  return { request: job.request, sizing: job.sizing, attempt, executionName: `${job.id}-exec` };
}

/** PlaceJob's decision: the same function, with the same configuration, the place-job handler calls. */
export function placementOf(job: SizedJob, attempt: number, config: PlacementConfig): Promise<Placement> {
  return placeJob(placeJobInput(job, attempt), config);
}

/** The step's real duration: Spark start-up plus the input at the run's real throughput on its units. */
export function trueStepSeconds(job: SimJob, units: number): number {
  return DEFAULT_SIZING.startupMinutes * 60 + job.inputBytes / MiB / (job.throughput * units);
}

/**
 * SizeJob for every job in arrival order, each learning from the runs of its kind that arrived before it
 * (the runs table SizeJob reads; strategies finish runs in different orders, so the simulator shares one
 * learning order between them and every strategy prices the same sized work).
 */
export function sizeDay(jobs: SimJob[], runDate: string): SizedJob[] {
  const history = new Map<string, RunSample[]>();
  return jobs.map((job) => {
    const request = requestFor(job, runDate);
    const past = history.get(job.kind) ?? [];
    const sizing = sizeJob({ request, inputBytes: job.inputBytes, bytesSource: 's3', history: past, artifactsBucket: ARTIFACTS_BUCKET });
    const stepSeconds = trueStepSeconds(job, sizing.capacityUnits);
    past.unshift({ inputBytes: job.inputBytes, stepSeconds, capacityUnits: sizing.capacityUnits });
    if (past.length > DEFAULT_SIZING.historyLimit) past.pop();
    history.set(job.kind, past);
    return { ...job, request, sizing, stepSeconds };
  });
}
