import { s3Location } from '../contract';
import { isPartitionInput } from './partition';
import type { JobRequest, SparkConf, Sizing } from './types';

const MiB = 1024 * 1024;

/**
 * The fixed part of every run's step time on a warm cluster (step RUNNING to its end at a near-empty input), paid
 * whatever the run's size: spark-submit's client JVM, YARN's application master (our driver, with Python), the
 * job's planning, an executor container, the output commit and the shutdown. Sizing adds the data work to it
 * (predictedMinutes), subtracts it from past runs to learn throughput, and the planner's floor is this much Spark.
 *
 * Measured locally with `npm run bench:startup` (bench/startup-bench.py: the venv's spark-submit, local[2], of the
 * real job spark/denormalize.py on 100 events and of a one-task app, 5 runs each, 2-core sandbox at load average
 * 1.9-3.0; pyspark 3.5.5, the Spark of emr-7.10.0), p50 / p95 seconds from the process start:
 *   job:     SparkContext up 2.6 / 3.8, first task 7.5 / 12.2, whole run 13.4 / 17.4
 *   trivial: SparkContext up 2.1 / 3.6, first task 3.3 / 4.3, whole run 4.9 / 5.9
 * (the same bench at load 3.4-4.8 gave a whole job run of 18.8 / 22.8 s and derived 46.5 s below; an earlier
 * series at load 11 took about twice as long: a loaded primary node matters, and history corrects the default).
 * EMR documents no figure for a step's start on a running cluster (searched: the EMR Management Guide's steps and
 * quotas pages, the Release Guide's "Add a Spark step"; StepTimeline only reports the times). What is documented are
 * the heartbeats cluster deploy mode waits on: a NodeManager heartbeat per container allocation (Hadoop 3.3's
 * yarn-default.xml: yarn.resourcemanager.nodemanagers.heartbeat-interval-ms 1000) and the application master's
 * allocation polls (Spark 3.5's YARN config: spark.yarn.scheduler.initial-allocation.interval 200ms, doubling up to
 * spark.yarn.scheduler.heartbeat.interval-ms 3s), both read from the jars the venv ships.
 * So at the local p95: the one-JVM whole run 17.4 s, plus the client JVM (3.6 s, the trivial app's SparkContext
 * bounds a JVM start), the AM container (1 s heartbeat + localization, ~2 s), the executor container (up to 3 s of
 * AM polls + 1 s heartbeat + its JVM, 3.6 s) and S3 in place of the local disk for listing and commit (not
 * measured; ~8 s assumed): 38.6 s (`derived.emrStepStartSeconds` in the bench's output), 40 s rounded up. It
 * replaces 60 s (which kept a margin over an unmeasured 30-45 s); a job's history corrects it. This is an EMR
 * step's figure, on pool and dedicated clusters alike; the planner's EMR Serverless runs use their own
 * (local/planner/constants.ts: SERVERLESS_COLD_START_SECONDS / SERVERLESS_PREINIT_START_SECONDS for the workers,
 * SERVERLESS_SPARK_STARTUP_SECONDS for Spark once they are up: no client JVM, no YARN).
 */
export const SPARK_STARTUP_SECONDS = 40;

/**
 * The sizing model. One capacity unit is 4 vCPU / 32 GiB (an r5.xlarge's worth; an r5.4xlarge weighs 4)
 * and runs one Spark executor. Every figure is a default a job's history corrects: throughput is learned
 * from past runs, so the model only has to be right the first time within a factor of a few.
 *
 * The unit stays 4 vCPU / 32 GiB: `capacityUnits` is read with this meaning by the pools (leases, managed-scaling
 * units), the fleets (WeightedCapacity = vCPU / 4), pricing, placement, run cost and the planner; a finer unit
 * would change all of them at once. The minimum is made finer instead: a job whose data fits one unit gets ONE
 * unit holding the whole smallest useful Spark application (cluster deploy mode): a 1-core, 2 GiB driver beside
 * a 3-core, 20 GiB executor. With Spark's overhead (10%, at least 384 MiB) that is 4 vCPU and 24.4 GiB, what
 * one executor of a bigger job takes (4 cores, 22 GiB: 24.2 GiB), so it fits a unit's YARN memory on every fleet
 * type as that executor does. It was 2 units (the driver given a whole unit of its own): for the day's median
 * 40 MiB input that doubled the capacity held through the fixed Spark start, which is most of such a run.
 */
export interface SizingParams {
  /**
   * Capacity grows in steps of the smallest fleet instance (an r5.2xlarge or r6i.2xlarge weighs 2 units), so a
   * dedicated task fleet is never asked for a fraction of an instance. (A 2-unit dedicated cluster still gets a
   * whole 4xlarge core node: its core fleet lists only 4xlarge types and EMR fulfils a target by rounding up;
   * planFleets asks for and prices that whole node.)
   */
  unitStep: number;
  /**
   * The smallest useful Spark application (a driver and one executor) sharing one unit: see sparkConf. It was 8
   * (19,998 of the day's 20,000 jobs), then 2 (the driver on a unit of its own).
   */
  minCapacityUnits: number;
  /** 1,024 vCPU: beyond this one job should be split, not given a bigger cluster. */
  maxCapacityUnits: number;
  /**
   * MiB/s one unit processes with no history: JSON parse + shuffle + Parquet write, ~6 MiB/s per core.
   * Measured with `npm run bench:spark -- --repeat 3` on 1,000,000 events (530.2 MiB of JSON lines, local[2],
   * a 2-core machine then running about 40% slower than idle): median job time 43.2 s, 6.1 MiB/s per core.
   * Idle, the same machine ran the job in 27.8 s (9.5 MiB/s per core); EMR reads S3, not a warm page cache,
   * so the default keeps the slower figure.
   */
  defaultThroughputMiBpsPerUnit: number;
  /** Spark application start, YARN containers, S3 listing: paid by every run whatever its size (SPARK_STARTUP_SECONDS). */
  startupMinutes: number;
  /** Cluster bootstrap before the step (5-10 min reported): part of the SLA the step cannot use. */
  clusterStartMinutes: number;
  /** Share of what the SLA leaves after bootstrap that the step is sized to use; the rest absorbs one retry. */
  slaBudgetShare: number;
  /** spark.sql.shuffle.partitions aims at this much input per partition (128-256 MiB is the usual advice). */
  targetPartitionMiB: number;
  executorCores: number;
  /** Heap per executor; with Spark's 10% overhead it fits a unit's YARN memory on every fleet type. */
  executorMemoryGiB: number;
  /** Runs of history the estimate learns from. */
  historyLimit: number;
  timeout: { floorMinutes: number; predictionMultiple: number; maxSeconds: number };
}

export const DEFAULT_SIZING: SizingParams = {
  unitStep: 2,
  minCapacityUnits: 1,
  maxCapacityUnits: 256,
  defaultThroughputMiBpsPerUnit: 24, // 4 cores x 6 MiB/s, measured as above
  startupMinutes: SPARK_STARTUP_SECONDS / 60,
  clusterStartMinutes: 10,
  slaBudgetShare: 0.6,
  targetPartitionMiB: 192,
  executorCores: 4,
  executorMemoryGiB: 22,
  historyLimit: 20,
  // Floor: small jobs are dominated by start-up and S3 variance, not size. Multiple: Spark run times have a
  // heavy tail (skew, a slow node). Max: 11 h leaves the run-job execution (12 h) time to tear down and record.
  timeout: { floorMinutes: 20, predictionMultiple: 3, maxSeconds: 11 * 3600 },
};

/** What a past successful run tells sizing. */
export interface RunSample {
  inputBytes: number;
  stepSeconds: number;
  capacityUnits: number;
}

export interface SizeJobInput {
  request: JobRequest;
  inputBytes: number;
  bytesSource: Sizing['bytesSource'];
  /** Successful runs of this job, newest first. */
  history: RunSample[];
  artifactsBucket: string;
}

/** Whether SizeJob may trust the Glue partition's sizeKey: only when the input is that partition. */
export function usesCatalogSize(request: JobRequest): boolean {
  return request.job.catalog !== undefined && isPartitionInput(request);
}

/**
 * Learned throughput (MiB/s per unit): the median of the recent runs' own throughput, so one skewed or
 * interrupted run does not swing the estimate. Kept within 20x of the default against corrupt records.
 */
export function learnThroughput(history: RunSample[], params: SizingParams = DEFAULT_SIZING): { throughput: number; runs: number } {
  const samples = history
    .slice(0, params.historyLimit)
    .filter((r) => r.inputBytes > 0 && r.stepSeconds > 0 && r.capacityUnits > 0)
    .map((r) => r.inputBytes / MiB / Math.max(30, r.stepSeconds - params.startupMinutes * 60) / r.capacityUnits);
  if (samples.length === 0) return { throughput: params.defaultThroughputMiBpsPerUnit, runs: 0 };
  const d = params.defaultThroughputMiBpsPerUnit;
  return { throughput: clamp(median(samples), d / 20, d * 20), runs: samples.length };
}

/** Capacity so the predicted step fits the job's SLA budget, the Spark conf for it, and the step's timeout. */
export function sizeJob(input: SizeJobInput, params: SizingParams = DEFAULT_SIZING): Sizing {
  const { request } = input;
  const { throughput, runs } = learnThroughput(input.history, params);
  const inputMiB = input.inputBytes / MiB;
  const budgetMinutes = Math.max(5, (request.job.slaMinutes - params.clusterStartMinutes) * params.slaBudgetShare);
  const computeSeconds = Math.max(60, (budgetMinutes - params.startupMinutes) * 60);
  const capacityUnits = clamp(unitsFor(inputMiB / (throughput * computeSeconds), params), params.minCapacityUnits, params.maxCapacityUnits);
  const predictedMinutes = round1(params.startupMinutes + inputMiB / (throughput * capacityUnits) / 60);
  const spark = sparkConf(capacityUnits, inputMiB, params);
  return {
    inputBytes: input.inputBytes,
    bytesSource: input.bytesSource,
    historyRuns: runs,
    throughputMiBpsPerUnit: round1(throughput),
    capacityUnits,
    predictedMinutes,
    stepTimeoutSeconds: stepTimeoutSeconds(predictedMinutes, request.job.slaMinutes, params),
    spark,
    stepArgs: stepArgs(request, spark, input.artifactsBucket),
  };
}

/**
 * Whole units for `units` of work: one unit when it fits one (the driver shares it, sparkConf), else whole
 * steps of the smallest fleet instance, so a dedicated task fleet is never asked for a fraction of one.
 */
function unitsFor(units: number, params: SizingParams): number {
  return units <= 1 ? 1 : Math.ceil(units / params.unitStep) * params.unitStep;
}

/**
 * The step may run `predictionMultiple` times the prediction (at least the floor). It is cut at the SLA,
 * since a run past it has already failed its purpose and holds a cluster, unless the prediction itself
 * comes near the SLA (capacity at its cap): then 1.5x the prediction, so a run on track is not killed.
 */
export function stepTimeoutSeconds(predictedMinutes: number, slaMinutes: number, params: SizingParams = DEFAULT_SIZING): number {
  const wanted = Math.max(params.timeout.floorMinutes, params.timeout.predictionMultiple * predictedMinutes);
  const ceiling = Math.max(slaMinutes, 1.5 * predictedMinutes);
  return Math.min(Math.ceil(Math.min(wanted, ceiling) * 60), params.timeout.maxSeconds);
}

/**
 * The smallest application's unit (capacityUnits 1): the driver takes one of its 4 vCPU and a small heap (it
 * only plans and commits a small input), the executor the rest. Both containers with Spark's overhead: 1 + 3
 * vCPU, 2.4 + 22 GiB, no more than a bigger job's executor asks of a unit.
 */
export const SHARED_UNIT_SPARK = { driverCores: 1, driverMemoryGiB: 2, executorCores: 3, executorMemoryGiB: 20 } as const;

/**
 * One executor per unit, less one unit's worth for the driver (cluster deploy mode runs it in YARN); a one-unit
 * job runs its driver and its one executor side by side in that unit (SHARED_UNIT_SPARK).
 */
export function sparkConf(capacityUnits: number, inputMiB: number, params: SizingParams = DEFAULT_SIZING): SparkConf {
  const shared = capacityUnits <= 1;
  const executorInstances = Math.max(1, capacityUnits - 1);
  const executorCores = shared ? SHARED_UNIT_SPARK.executorCores : params.executorCores;
  const cores = executorInstances * executorCores;
  return {
    executorMemoryGiB: shared ? SHARED_UNIT_SPARK.executorMemoryGiB : params.executorMemoryGiB,
    executorCores,
    executorInstances,
    // At least two tasks per core so a slow task does not idle the rest of the cluster.
    shufflePartitions: Math.max(2 * cores, Math.ceil(inputMiB / params.targetPartitionMiB)),
    ...(shared ? { driverCores: SHARED_UNIT_SPARK.driverCores, driverMemoryGiB: SHARED_UNIT_SPARK.driverMemoryGiB } : {}),
  };
}

/** The spark-defaults properties for a Spark conf: the same values go to the cluster and to the step. */
export function sparkProperties(spark: SparkConf): Record<string, string> {
  return {
    ...(spark.driverCores !== undefined ? { 'spark.driver.cores': String(spark.driverCores) } : {}),
    ...(spark.driverMemoryGiB !== undefined ? { 'spark.driver.memory': `${spark.driverMemoryGiB}g` } : {}),
    'spark.executor.memory': `${spark.executorMemoryGiB}g`,
    'spark.executor.cores': String(spark.executorCores),
    'spark.executor.instances': String(spark.executorInstances),
    'spark.sql.shuffle.partitions': String(spark.shufflePartitions),
  };
}

function stepArgs(request: JobRequest, spark: SparkConf, artifactsBucket: string): string[] {
  const conf = Object.entries(sparkProperties(spark)).flatMap(([k, v]) => ['--conf', `${k}=${v}`]);
  return [
    'spark-submit',
    '--deploy-mode',
    'cluster',
    ...conf,
    s3Location(artifactsBucket, request.job.entryPoint).uri,
    '--input',
    request.input.uri,
    '--output',
    request.output.uri,
    '--run-id',
    request.runId,
    '--run-date',
    request.runDate,
    ...request.job.args,
  ];
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}
