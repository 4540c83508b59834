/**
 * EMR Serverless workers: the sizes AWS documents, the Spark settings that ask for them, and what a set of
 * workers bills. Pure: the run-job placement, the emulator and run cost read the same rules.
 *
 * Worker sizes (EMR Serverless user guide, "Worker configurations"): 1, 2, 4, 8 or 16 vCPU with
 *   1 vCPU: 2–8 GB, 2 vCPU: 4–16 GB, 4 vCPU: 8–30 GB (1 GB steps), 8 vCPU: 16–60 GB (4 GB steps),
 *   16 vCPU: 32–120 GB (8 GB steps); disk 20–200 GB, the first 20 GB of each worker free.
 * The memory of a worker is Spark's memory plus its overhead (10%, at least 384 MiB), which is what EMR
 * Serverless allocates and bills; so the Spark setting is the worker's memory less that overhead.
 */

export const WORKER_VCPUS = [1, 2, 4, 8, 16] as const;
export type WorkerVcpus = (typeof WORKER_VCPUS)[number];

export const WORKER_MEMORY_GB: Readonly<Record<WorkerVcpus, { min: number; max: number; step: number }>> = {
  1: { min: 2, max: 8, step: 1 },
  2: { min: 4, max: 16, step: 1 },
  4: { min: 8, max: 30, step: 1 },
  8: { min: 16, max: 60, step: 4 },
  16: { min: 32, max: 120, step: 8 },
};

export const WORKER_DISK_GB = { min: 20, max: 200, free: 20 } as const;
/** EMR Serverless bills each worker for at least one minute. */
export const MIN_BILLED_SECONDS_PER_WORKER = 60;

export interface WorkerSize {
  vcpu: WorkerVcpus;
  memoryGb: number;
  diskGb: number;
}

export interface JobWorkers {
  driver: WorkerSize;
  executor: WorkerSize;
  executors: number;
}

/** Why a worker size is not one AWS offers, or null when it is. */
export function workerSizeProblem(size: { vcpu: number; memoryGb: number; diskGb?: number }): string | null {
  const range = WORKER_MEMORY_GB[size.vcpu as WorkerVcpus];
  if (!range) return `${size.vcpu} vCPU is not a worker size (use ${WORKER_VCPUS.join(', ')})`;
  const { min, max, step } = range;
  if (size.memoryGb < min || size.memoryGb > max || (size.memoryGb - min) % step !== 0) {
    return `${size.memoryGb} GB is not a valid memory for a ${size.vcpu} vCPU worker (${min}–${max} GB in ${step} GB steps)`;
  }
  const disk = size.diskGb ?? WORKER_DISK_GB.min;
  if (disk < WORKER_DISK_GB.min || disk > WORKER_DISK_GB.max) return `${disk} GB of disk is outside ${WORKER_DISK_GB.min}–${WORKER_DISK_GB.max} GB`;
  return null;
}

/** The Spark memory (MiB) that makes a worker of `memoryGb`: the worker less Spark's overhead. */
export function sparkMemoryMiB(memoryGb: number): number {
  const total = memoryGb * 1024;
  return Math.floor(Math.min(total / 1.1, total - 384));
}

/** The worker memory (GB, rounded up to a valid size for `vcpu`) that Spark memory of `mib` occupies. */
export function workerMemoryGb(vcpu: WorkerVcpus, mib: number): number {
  const needed = (mib + Math.max(384, mib * 0.1)) / 1024;
  const { min, max, step } = WORKER_MEMORY_GB[vcpu];
  const rounded = min + Math.ceil(Math.max(0, needed - min) / step - 1e-9) * step;
  return Math.min(max, rounded);
}

/** The Spark settings a job's workers are sized from (lib/domain/sizing.ts SparkConf). */
export interface ExecutorShape {
  executorCores: number;
  executorMemoryGiB: number;
  executorInstances: number;
  /** A driver sized apart (a one-unit job's small driver); absent, the driver is an executor's size. */
  driverCores?: number;
  driverMemoryGiB?: number;
}

/**
 * The smallest worker that holds one of the job's executors: at least its cores, and room for its heap plus
 * Spark's overhead (10%, at least 384 MiB) in the smallest valid memory of that size; a bigger worker when the
 * memory does not fit (a 4-core, 22 GiB executor is a 4 vCPU / 25 GB worker; a 4-core, 28 GiB one 8 vCPU / 32 GB).
 * Sized from the executor, not from a whole sizing unit (4 vCPU / 32 GiB): EMR Serverless bills the worker, so
 * a unit's spare memory would be paid for nothing.
 */
export function workerForExecutor(spark: Pick<ExecutorShape, 'executorCores' | 'executorMemoryGiB'>, diskGb: number = WORKER_DISK_GB.min): WorkerSize {
  const mib = spark.executorMemoryGiB * 1024;
  const neededGb = (mib + Math.max(384, mib * 0.1)) / 1024;
  for (const vcpu of WORKER_VCPUS) {
    if (vcpu < spark.executorCores || neededGb > WORKER_MEMORY_GB[vcpu].max) continue;
    return { vcpu, memoryGb: workerMemoryGb(vcpu, mib), diskGb };
  }
  throw new RangeError(
    `no EMR Serverless worker has ${spark.executorCores} vCPU and ${neededGb.toFixed(1)} GB (executor ${spark.executorMemoryGiB} GiB + overhead); the largest is 16 vCPU / 120 GB`,
  );
}

/**
 * The workers a sized job asks EMR Serverless for: its executors (sizing's executorInstances, at least one),
 * each a workerForExecutor, and a driver of the same configuration, unless sizing gave the driver its own
 * (a one-unit job's 1-core, 2 GiB driver: a 1 vCPU / 3 GB worker). Pre-initialized capacity serves a role only
 * the configuration it was created with, so such a job's driver starts on demand beside pre-initialized executors.
 */
export function workersForSpark(spark: ExecutorShape, options: { diskGb?: number } = {}): JobWorkers {
  const diskGb = options.diskGb ?? WORKER_DISK_GB.min;
  const worker = workerForExecutor(spark, diskGb);
  const driver =
    spark.driverCores !== undefined && spark.driverMemoryGiB !== undefined
      ? workerForExecutor({ executorCores: spark.driverCores, executorMemoryGiB: spark.driverMemoryGiB }, diskGb)
      : { ...worker };
  return { driver, executor: { ...worker }, executors: Math.max(1, Math.ceil(spark.executorInstances)) };
}

/** `--conf` settings that ask EMR Serverless for these workers (sparkSubmitParameters). */
export function sparkSubmitParameters(workers: JobWorkers, extra: Record<string, string> = {}): string {
  const conf: Record<string, string> = {
    'spark.driver.cores': String(workers.driver.vcpu),
    'spark.driver.memory': `${sparkMemoryMiB(workers.driver.memoryGb)}m`,
    'spark.emr-serverless.driver.disk': `${workers.driver.diskGb}G`,
    'spark.executor.cores': String(workers.executor.vcpu),
    'spark.executor.memory': `${sparkMemoryMiB(workers.executor.memoryGb)}m`,
    'spark.emr-serverless.executor.disk': `${workers.executor.diskGb}G`,
    'spark.executor.instances': String(workers.executors),
    'spark.dynamicAllocation.enabled': 'false',
    ...extra,
  };
  return Object.entries(conf)
    .map(([key, value]) => `--conf ${key}=${value}`)
    .join(' ');
}

/** EMR Serverless's Spark defaults: 4 vCPU / 14 GB driver and executors, 3 initial executors, 20 GB disk. */
const SPARK_DEFAULTS = { cores: 4, memoryMiB: 14 * 1024, executors: 3, diskGb: 20 } as const;

function memoryMiB(text: string | undefined): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*([kmgt]?)b?$/i.exec((text ?? '').trim());
  if (!match) return undefined;
  const factor = { '': 1 / (1024 * 1024), k: 1 / 1024, m: 1, g: 1024, t: 1024 * 1024 }[match[2].toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Number(match[1]) * factor;
}

/** The `--conf k=v` pairs of sparkSubmitParameters. */
export function sparkConf(parameters: string | undefined): Record<string, string> {
  const conf: Record<string, string> = {};
  const words = (parameters ?? '').split(/\s+/).filter(Boolean);
  for (let i = 0; i < words.length; i += 1) {
    if (words[i] !== '--conf') continue;
    const [key, ...value] = (words[i + 1] ?? '').split('=');
    if (key) conf[key] = value.join('=');
    i += 1;
  }
  return conf;
}

/** The workers a job run asks for, read from its sparkSubmitParameters the way EMR Serverless reads them. */
export function workersFromSparkParameters(parameters: string | undefined): JobWorkers {
  const conf = sparkConf(parameters);
  const worker = (role: 'driver' | 'executor'): WorkerSize => {
    const cores = Number(conf[`spark.${role}.cores`] ?? SPARK_DEFAULTS.cores);
    const vcpu = (WORKER_VCPUS as readonly number[]).includes(cores) ? (cores as WorkerVcpus) : SPARK_DEFAULTS.cores;
    const mib = memoryMiB(conf[`spark.${role}.memory`]) ?? SPARK_DEFAULTS.memoryMiB;
    const disk = Number.parseInt(conf[`spark.emr-serverless.${role}.disk`] ?? '', 10);
    return { vcpu, memoryGb: workerMemoryGb(vcpu, mib), diskGb: Number.isFinite(disk) ? disk : SPARK_DEFAULTS.diskGb };
  };
  const executors = Number.parseInt(conf['spark.executor.instances'] ?? '', 10);
  return {
    driver: worker('driver'),
    executor: worker('executor'),
    executors: Number.isFinite(executors) && executors >= 0 ? executors : SPARK_DEFAULTS.executors,
  };
}

export interface ResourceUtilization {
  vCPUHour: number;
  memoryGBHour: number;
  storageGBHour: number;
}

/** Total vCPU, memory and disk of a job's workers. */
export function workerTotals(workers: JobWorkers): { vcpu: number; memoryGb: number; diskGb: number } {
  return {
    vcpu: workers.driver.vcpu + workers.executor.vcpu * workers.executors,
    memoryGb: workers.driver.memoryGb + workers.executor.memoryGb * workers.executors,
    diskGb: workers.driver.diskGb + workers.executor.diskGb * workers.executors,
  };
}

/**
 * What EMR Serverless bills for workers that ran `seconds` each: vCPU-hours, GB-hours of memory, and
 * GB-hours of disk beyond the free 20 GB per worker, each worker for at least one minute.
 */
export function billedUtilization(workers: JobWorkers, seconds: number): ResourceUtilization {
  const hours = Math.max(MIN_BILLED_SECONDS_PER_WORKER, seconds) / 3600;
  const all = [workers.driver, ...Array.from({ length: workers.executors }, () => workers.executor)];
  const round = (value: number) => Math.round(value * 1e6) / 1e6;
  return {
    vCPUHour: round(all.reduce((sum, w) => sum + w.vcpu, 0) * hours),
    memoryGBHour: round(all.reduce((sum, w) => sum + w.memoryGb, 0) * hours),
    storageGBHour: round(all.reduce((sum, w) => sum + Math.max(0, w.diskGb - WORKER_DISK_GB.free), 0) * hours),
  };
}

/** "4 vCPU" / "16 GB" (the API's CpuSize / MemorySize strings) → numbers. */
export function parseCapacity(text: string | undefined): number | undefined {
  const match = /^\s*(\d+)\s*(vcpu|gb)?\s*$/i.exec(text ?? '');
  return match ? Number(match[1]) : undefined;
}
