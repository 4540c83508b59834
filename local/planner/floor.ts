/**
 * The floor: the least any strategy could pay for the day's jobs. Each job's data work (its input ÷ its
 * per-unit throughput, the figure sizing learns) plus the smallest Spark start any strategy models, on the
 * smallest capacity a Spark job runs on (a driver and one executor), at the cheapest per-unit price of any
 * priced instance type whose unit holds the job's executor, or that a core or task fleet lists (Spot), or of the job's EMR Serverless worker
 * (either architecture). No bootstrap, idle, queueing, orchestration or lost work.
 */
import { DEFAULT_SIZING } from '../../lib/domain/sizing';
import { unitHourly, unitsOf } from '../../lib/domain/pricing';
import type { PlannerConfig, SizedJob } from './decisions';
import { workerFor, workerHourly } from './serverlessRun';

const MiB = 1024 * 1024;
/** A driver and one executor sharing one unit: sizing's smallest application (DEFAULT_SIZING.minCapacityUnits). */
export const SMALLEST_SPARK_UNITS = DEFAULT_SIZING.minCapacityUnits;
/** Every strategy's step lasts sizing's Spark start-up plus its data work (decisions.trueStepSeconds). */
export const SMALLEST_SPARK_START_SECONDS = DEFAULT_SIZING.startupMinutes * 60;

/**
 * Instance types of the price book whose unit holds the job's executor (heap + Spark's 10% overhead): any
 * fleet could list them, so the floor does not depend on the pools or rules configured.
 */
function executorTypes(config: PlannerConfig, job: Pick<SizedJob, 'sizing'>): string[] {
  const needGiB = job.sizing.spark.executorMemoryGiB * 1.1;
  const holding = Object.entries(config.prices.instanceTypes)
    .filter(([type, price]) => price.memoryGiB / unitsOf(config.prices, type) >= needGiB)
    .map(([type]) => type);
  // A fleet that lists a smaller type is priced per unit all the same: the floor must not sit above it.
  const { dedicated, pools } = config.pools;
  return [...new Set([...holding, ...dedicated.core, ...dedicated.task, ...pools.flatMap((pool) => [...pool.fleets.core, ...pool.fleets.task])])];
}

/** The cheapest USD per unit-hour for this job, and whether EMR Serverless or EC2 (Spot) gives it. */
export function cheapestUnitHourly(config: PlannerConfig, job: Pick<SizedJob, 'sizing'>): { usd: number; on: 'ec2' | 'emrServerless' } {
  const ec2 = Math.min(...executorTypes(config, job).map((type) => unitHourly(config.prices, [type], 'SPOT')));
  const worker = workerFor(job.sizing);
  const architectures =
    config.prices.services?.emrServerlessArm64VcpuHour && config.prices.services.emrServerlessArm64GbHour
      ? (['X86_64', 'ARM64'] as const)
      : (['X86_64'] as const);
  // A worker runs one executor, as a unit does: its price is a unit's, whatever its vCPU.
  const serverless = config.prices.services ? Math.min(...architectures.map((arch) => workerHourly(config.prices, worker, arch))) : Infinity;
  return serverless < ec2 ? { usd: serverless, on: 'emrServerless' } : { usd: ec2, on: 'ec2' };
}

/** Unit-seconds of the job's data work and of its smallest Spark start. */
export function floorUnitSeconds(job: Pick<SizedJob, 'inputBytes' | 'throughput'>): number {
  return job.inputBytes / MiB / job.throughput + SMALLEST_SPARK_START_SECONDS * SMALLEST_SPARK_UNITS;
}

/** The floor's USD for the day, split by where its cheapest unit is (Spot EC2 with EMR, or EMR Serverless). */
export function floorCost(config: PlannerConfig, jobs: SizedJob[]): { usd: number; ec2: number; emrServerless: number } {
  const cost = { usd: 0, ec2: 0, emrServerless: 0 };
  for (const job of jobs) {
    const price = cheapestUnitHourly(config, job);
    const usd = (floorUnitSeconds(job) / 3600) * price.usd;
    cost.usd += usd;
    cost[price.on] += usd;
  }
  return cost;
}
