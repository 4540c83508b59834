/**
 * What a run really cost, from what it held: pure arithmetic over prices and timelines, no SDK, no clock of
 * its own (`now` is an argument).
 *
 *   dedicated cluster  Σ over its instances of lifetime (CreationDateTime → EndDateTime, or now) × the hourly
 *                      price of the instance's market: On-Demand = EC2 + EMR uplift; Spot = EC2 × (1 − the
 *                      type's Spot discount) + EMR uplift, the uplift never discounted (REFERENCE.md).
 *   pooled job         its lease's units × seconds held × the pool cluster's blended hourly price per unit.
 *   orchestration      Step Functions transitions and Lambda GB-seconds of the run's path. Neither is
 *                      reported to the execution, so both are estimates from the path (the fields say so).
 */
import type { PoolDefinition } from '../config/pools';
import type { PriceBook } from '../config/prices';
import { spotDiscountOf, unitHourly } from './pricing';

export type Market = 'ON_DEMAND' | 'SPOT';

/** One EC2 instance of a cluster as ListInstances reports it (Market, InstanceType, Status.Timeline). */
export interface InstanceUsage {
  instanceType: string;
  market: Market;
  createdAt: Date;
  /** Null while the instance still runs: it is billed up to `now`. */
  endedAt: Date | null;
}

export interface MarketCost {
  instances: number;
  instanceHours: number;
  usd: number;
}

export interface ClusterCost {
  clusterId: string;
  onDemand: MarketCost;
  spot: MarketCost;
  /** Instance types without a price in config/prices.json: their hours are not in `usd`. */
  unpricedTypes: string[];
  usd: number;
}

export interface PoolUsage {
  pool: string;
  clusterId: string;
  units: number;
  /** Seconds the lease was held (granted → now). */
  seconds: number;
  /** The pool cluster's blended price of one unit-hour (core On-Demand, the rest Spot). */
  unitHourlyUsd: number;
  usd: number;
}

/** An EMR Serverless job run, priced from GetJobRun's billedResourceUtilization. */
export interface ServerlessUsage {
  applicationId: string;
  jobRunId: string;
  /** vCPU-hours, memory GB-hours and storage GB-hours as EMR Serverless billed them. */
  billed: { vCPUHour: number; memoryGBHour: number; storageGBHour: number };
  usd: number;
}

/** Where a run went, for estimating its Step Functions transitions and Lambda invocations. */
export interface RunPath {
  mode: 'dedicated' | 'pool' | 'serverless';
  attempts: number;
  succeeded: boolean;
  crawled: boolean;
}

export interface OrchestrationCost {
  /** States entered on the run's path, counted from the ASL (crawler polls counted once): an estimate. */
  transitionsEstimate: number;
  /** Lambda invocations on the path × memory × ASSUMED_LAMBDA_SECONDS: an estimate. */
  lambdaGbSecondsEstimate: number;
  usd: number;
}

export interface RunCost {
  /** Everything below, rounded to a hundredth of a cent (a short pooled run costs cents). */
  totalUsd: number;
  /** Clusters of the run's attempts that were its own (a dedicated run's current and previous attempt). */
  clusters: ClusterCost[];
  pool: PoolUsage | null;
  /** The run's EMR Serverless job run, when it was placed there (absent on runs recorded before Serverless). */
  serverless?: ServerlessUsage | null;
  orchestration: OrchestrationCost;
}

/** Average billed seconds assumed per Lambda invocation of the path (the Lambdas are short API calls). */
export const ASSUMED_LAMBDA_SECONDS = 1;

const HOUR_MS = 3_600_000;

/** Hourly price of one instance of the type on its market in `region` (the book's region by default). */
export function marketHourly(prices: PriceBook, instanceType: string, market: Market, region: string = prices.region): number | null {
  const p = prices.instanceTypes[instanceType];
  if (!p) return null;
  const regional = region === prices.region ? p : p.regions?.[region];
  if (!regional) return null;
  return regional.ec2Hourly * (1 - spotDiscountOf(prices, instanceType, market)) + regional.emrHourly;
}

/** A dedicated cluster's cost: every instance it held, each at its own market's price for its own lifetime. */
export function clusterCost(prices: PriceBook, clusterId: string, instances: InstanceUsage[], now: Date, region?: string): ClusterCost {
  const empty = (): MarketCost => ({ instances: 0, instanceHours: 0, usd: 0 });
  const cost: ClusterCost = { clusterId, onDemand: empty(), spot: empty(), unpricedTypes: [], usd: 0 };
  for (const instance of instances) {
    const end = instance.endedAt ?? now;
    const hours = Math.max(0, end.getTime() - instance.createdAt.getTime()) / HOUR_MS;
    const line = instance.market === 'SPOT' ? cost.spot : cost.onDemand;
    line.instances += 1;
    line.instanceHours += hours;
    const hourly = marketHourly(prices, instance.instanceType, instance.market, region);
    if (hourly === null) {
      if (!cost.unpricedTypes.includes(instance.instanceType)) cost.unpricedTypes.push(instance.instanceType);
      continue;
    }
    line.usd += hours * hourly;
  }
  cost.usd = cost.onDemand.usd + cost.spot.usd;
  return cost;
}

/**
 * The blended price of one unit-hour on a cluster of the pool, at full size: its core fleet's units
 * On-Demand, the rest of its capacity Spot (poolClusterSpec buys it that way).
 */
export function poolUnitHourly(prices: PriceBook, pool: Pick<PoolDefinition, 'fleets' | 'capacityUnits'>): number {
  const coreUnits = Math.min(pool.fleets.coreUnits, pool.capacityUnits);
  const spotUnits = pool.capacityUnits - coreUnits;
  const usd = coreUnits * unitHourly(prices, pool.fleets.core, 'ON_DEMAND') + spotUnits * unitHourly(prices, pool.fleets.task, 'SPOT');
  return usd / pool.capacityUnits;
}

export function poolUsage(pool: string, clusterId: string, units: number, grantedAt: Date, now: Date, unitHourlyUsd: number): PoolUsage {
  const seconds = Math.max(0, Math.round((now.getTime() - grantedAt.getTime()) / 1000));
  return { pool, clusterId, units, seconds, unitHourlyUsd, usd: (units * seconds * unitHourlyUsd) / 3600 };
}

/**
 * States entered and Lambdas invoked on the run-job path (statemachines/run-job.asl.yml):
 *   start      NormalizeRequest, ClaimRun, CheckCatalog (+ StartCrawler, WaitForCrawler, GetCrawler, CrawlFinished)
 *   attempt    PlaceJob, RouteByPlacement (+ SizeJob once), then CreateCluster, RunSparkStep (dedicated)
 *              or AcquireCapacity, RunPooledStep (pool)
 *   retry      ClassifyFailure, RouteFailure, Terminate/ReleaseCapacityBeforeRetry, BackoffBeforeRetry, PrepareRetry
 *   success    TerminateCluster or ReleaseCapacity, RecordRun
 *   failure    ClassifyFailure, RouteFailure, Terminate/ReleaseCapacityAfterFailure, RecordFailedRun, JobFailed
 */
export function pathCounts(path: RunPath): { transitions: number; lambdaInvocations: number } {
  const attempts = Math.max(1, path.attempts);
  const retries = attempts - 1;
  const pooled = path.mode === 'pool' ? 1 : 0;
  // A Serverless attempt is one Task (RunServerlessJob) where a cluster's is two, and it has nothing to tear down.
  const serverless = path.mode === 'serverless' ? 1 : 0;
  let transitions = 3 + (path.crawled ? 4 : 0) + 1 + attempts * (4 - serverless) + retries * 5 - (path.succeeded ? serverless : 0);
  // NormalizeRequest, SizeJob, PlaceJob per attempt, AcquireCapacity per pooled attempt, ClassifyFailure per retry.
  let lambdaInvocations = 2 + attempts + pooled * attempts + retries;
  if (path.succeeded) {
    transitions += 2;
    lambdaInvocations += 1 + pooled;
  } else {
    transitions += 5;
    lambdaInvocations += 2 + pooled;
  }
  // Each release before a retry is a Lambda too.
  lambdaInvocations += pooled * retries;
  return { transitions, lambdaInvocations };
}

export function orchestrationCost(prices: PriceBook, path: RunPath, lambdaMemoryMb: number): OrchestrationCost {
  const { transitions, lambdaInvocations } = pathCounts(path);
  const gbSeconds = lambdaInvocations * (lambdaMemoryMb / 1024) * ASSUMED_LAMBDA_SECONDS;
  const services = prices.services;
  const usd = services ? transitions * services.stepFunctionsPerTransition.usd + gbSeconds * services.lambdaPerGbSecond.usd : 0;
  return { transitionsEstimate: transitions, lambdaGbSecondsEstimate: gbSeconds, usd };
}

export function runCost(clusters: ClusterCost[], pool: PoolUsage | null, orchestration: OrchestrationCost, serverless: ServerlessUsage | null = null): RunCost {
  const usd = clusters.reduce((sum, c) => sum + c.usd, 0) + (pool?.usd ?? 0) + (serverless?.usd ?? 0) + orchestration.usd;
  return { totalUsd: Math.round(usd * 10_000) / 10_000, clusters, pool, ...(serverless ? { serverless } : {}), orchestration };
}
