/**
 * config/pools.json: how dedicated clusters are built (`dedicated`), the pools of shared clusters (`pools`)
 * and how the dispatcher hands their capacity out (`dispatcher`). One zod schema is the type; unknown keys
 * are errors, and every failure is a `Config.Invalid` naming the file and the field path (lib/schema.ts).
 *
 * Offers: `PoolsConfigSchema`, `parsePools(raw, prices)`, `loadPools(prices)`, `findPool(config, name)` and
 * the inferred types `PoolsConfig`, `FleetTemplate` (dedicated), `PoolDefinition`, `DispatcherSettings`.
 */
import * as z from 'zod';
import poolsJson from '../../config/pools.json';
import { PRIMARY_NODE, primaryMemoryNeededGiB, primaryStepCapacity } from '../domain/primaryNode';
import { between, describeValue, matching, nonEmptyString, parseConfig, strictObject } from '../schema';
import type { PriceBook } from './prices';
import { PRICES_FILE } from './prices';

export const POOLS_FILE = 'config/pools.json';

/**
 * EMR accepts up to 30 types per fleet with an allocation strategy, 5 without. Every fleet emrflow launches has
 * one (run-job's CreateCluster, poolClusterSpec); the primary stays within 5 all the same: it is one node.
 */
const instanceTypes = (max: number) =>
  z.array(nonEmptyString).min(1, 'must list at least one instance type').max(max, `EMR allows at most ${max} instance types here`);

const IDLE_TIMEOUT = between(60, 604800, { integer: true });
const RELEASE_LABEL = matching(/^emr-\d+\.\d+\.\d+$/, 'must be an EMR release label such as emr-7.10.0');
const UNITS = between(1, 10_000, { integer: true });

/** How a dedicated cluster's fleets are built: which instance types each fleet may use, and its timeouts. */
export const FleetTemplateSchema = strictObject({
  primary: instanceTypes(5),
  core: instanceTypes(30),
  task: instanceTypes(30),
  /** Share of the sized capacity put in the (On-Demand) core fleet; the rest goes to the task fleet. */
  coreShare: between(0.01, 1),
  maxCoreUnits: between(1, Infinity, { integer: true }),
  spotTimeoutMinutes: between(5, 1440, { integer: true }),
  idleTimeoutSeconds: IDLE_TIMEOUT,
});
export type FleetTemplate = z.infer<typeof FleetTemplateSchema>;

/** A pool of long-lived shared clusters; units are the sizing unit (4 vCPU / 32 GiB, InstanceFleetUnits). */
export const PoolDefinitionSchema = strictObject({
  name: matching(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be 1-63 lowercase letters, digits or "-", starting with a letter or digit'),
  releaseLabel: RELEASE_LABEL,
  /** EMR application names, e.g. ["Spark"]. */
  applications: z.array(nonEmptyString).min(1, 'must list at least one EMR application, e.g. ["Spark"]'),
  /** EMR configuration classifications (spark-defaults, …) every cluster of the pool gets. */
  configurations: z.array(strictObject({ Classification: nonEmptyString, Properties: z.record(z.string(), z.string()) })),
  /** Instance-fleet template: several types per fleet; the core fleet is On-Demand and fixed at coreUnits. */
  fleets: strictObject({ primary: instanceTypes(5), core: instanceTypes(30), task: instanceTypes(30), coreUnits: UNITS }),
  minClusters: between(0, 500, { integer: true }),
  maxClusters: between(1, 500, { integer: true }),
  /** Units leases may hold on one cluster at once: a hard cap, not a hint. */
  capacityUnits: UNITS,
  maxJobsPerCluster: between(1, 256, { integer: true }),
  stepConcurrencyLevel: between(1, 256, { integer: true }),
  idleTimeoutSeconds: IDLE_TIMEOUT,
  /** EMR managed scaling limits between which each cluster's size follows its load. */
  managedScaling: strictObject({ minimumUnits: UNITS, maximumUnits: UNITS }),
}).superRefine((pool, ctx) => {
  const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
  if (pool.minClusters > pool.maxClusters) issue(['minClusters'], `must be at most maxClusters (${pool.maxClusters})`);
  if (pool.managedScaling.minimumUnits > pool.managedScaling.maximumUnits) {
    issue(['managedScaling', 'minimumUnits'], `must be at most managedScaling.maximumUnits (${pool.managedScaling.maximumUnits})`);
  }
  if (pool.fleets.coreUnits > pool.managedScaling.minimumUnits) {
    issue(['fleets', 'coreUnits'], `must be at most managedScaling.minimumUnits (${pool.managedScaling.minimumUnits}): core is never scaled in`);
  }
  if (pool.capacityUnits > pool.managedScaling.maximumUnits) {
    issue(
      ['capacityUnits'],
      `must be at most managedScaling.maximumUnits (${pool.managedScaling.maximumUnits}): leases cannot promise units the cluster can never have`,
    );
  }
  if (pool.stepConcurrencyLevel < pool.maxJobsPerCluster) {
    issue(
      ['stepConcurrencyLevel'],
      `must be at least maxJobsPerCluster (${pool.maxJobsPerCluster}), or leased jobs would queue behind each other on the cluster`,
    );
  }
});
export type PoolDefinition = z.infer<typeof PoolDefinitionSchema>;

/** RunJobFlow budget default: half of EMR's account default (0.5/s, burst 10), so other tools keep headroom. */
export const DEFAULT_RUN_JOB_FLOW_BUDGET = { ratePerSecond: 0.25, burst: 5 };

/**
 * AddJobFlowSteps budget default: four fifths of EMR's account default (0.5/s, burst 10). The dispatcher's
 * batches are the account's main AddJobFlowSteps caller (one call carries a cluster's grants); the fifth left
 * (0.1/s, burst 2) is for run-job's dedicated clusters (RunJobFlow-bound, at most 0.25/s of launches, each
 * adding its step once) and other tools.
 */
export const DEFAULT_ADD_JOB_FLOW_STEPS_BUDGET = { ratePerSecond: 0.4, burst: 8 };

/** A token bucket's policy: a refill rate and a burst, both within what EMR's quota could be raised to. */
export const BudgetSchema = strictObject({ ratePerSecond: between(0.001, 10), burst: between(1, 100, { integer: true }) });

export const DispatcherSettingsSchema = strictObject({
  /** How long a lease lives without a heartbeat; a crashed execution's units come back after it. */
  leaseSeconds: between(60, 86_400, { integer: true }).default(900),
  /** A waiting job gains one priority level per this many seconds, so low priority cannot starve. */
  agingSecondsPerLevel: between(1, 86_400, { integer: true }).default(300),
  /**
   * Aging lifts a job one level at most, so high priority keeps its lead in a deep queue; a job that has
   * waited this long ranks above every job that has not, whatever its priority: low priority's bound. The
   * default sits an hour below AcquireCapacity's TimeoutSeconds (14,400 s), so a low-priority job is put
   * first while it can still start, yet a queue shorter than three hours stays in priority order.
   */
  maxWaitSeconds: between(60, 86_400, { integer: true }).default(10_800),
  /** A grant a crashed dispatcher left half done is redone or undone after this long (above a Lambda's run). */
  grantTimeoutSeconds: between(31, 3_600, { integer: true }).default(120),
  /** The RunJobFlow token bucket shared by all pools. */
  runJobFlowBudget: BudgetSchema.default(DEFAULT_RUN_JOB_FLOW_BUDGET),
  /**
   * The AddJobFlowSteps token bucket shared by all pools: each dispatcher batch takes a token before its call
   * (addStepsBudget gives the default when absent).
   */
  addJobFlowStepsBudget: BudgetSchema.optional(),
});
export type DispatcherSettings = z.infer<typeof DispatcherSettingsSchema>;

/** The AddJobFlowSteps bucket's policy: the configured one, or DEFAULT_ADD_JOB_FLOW_STEPS_BUDGET. */
export function addStepsBudget(settings: Pick<DispatcherSettings, 'addJobFlowStepsBudget'>): { ratePerSecond: number; burst: number } {
  return settings.addJobFlowStepsBudget ?? DEFAULT_ADD_JOB_FLOW_STEPS_BUDGET;
}

export const PoolsConfigSchema = strictObject({
  dedicated: FleetTemplateSchema,
  pools: z.array(PoolDefinitionSchema),
  dispatcher: DispatcherSettingsSchema.default(DispatcherSettingsSchema.parse({})),
});
export type PoolsConfig = z.infer<typeof PoolsConfigSchema>;

/** Pool names are unique, and every fleet instance type needs a price, or placement could not cost the cluster. */
export function parsePools(raw: unknown, prices: PriceBook): PoolsConfig {
  const checked = PoolsConfigSchema.superRefine(({ dedicated, pools }, ctx) => {
    const priced = (types: string[], path: (string | number)[]) =>
      types.forEach((type, i) => {
        if (!Object.hasOwn(prices.instanceTypes, type)) {
          ctx.addIssue({ code: 'custom', path: [...path, i], message: `${describeValue(type)} has no price in ${PRICES_FILE}; add it there` });
        }
      });
    const seen = new Set<string>();
    for (const fleet of ['primary', 'core', 'task'] as const) priced(dedicated[fleet], ['dedicated', fleet]);
    pools.forEach((pool, p) => {
      if (seen.has(pool.name)) ctx.addIssue({ code: 'custom', path: ['pools', p, 'name'], message: `${describeValue(pool.name)} is used by an earlier pool` });
      seen.add(pool.name);
      for (const fleet of ['primary', 'core', 'task'] as const) priced(pool.fleets[fleet], ['pools', p, 'fleets', fleet]);
      const small = primaryTooSmall(pool, prices);
      if (small) {
        ctx.addIssue({
          code: 'custom',
          path: ['pools', p, 'stepConcurrencyLevel'],
          message:
            `${pool.stepConcurrencyLevel} concurrent steps do not fit the primary node: ${small.type} (${small.vcpu} vCPU, ${small.memoryGiB} GiB) ` +
            `runs at most ${small.capacity} (each step runs a step executor and a spark-submit client on the primary); ` +
            `lower stepConcurrencyLevel and maxJobsPerCluster to ${small.capacity} or less, or list only primary types with at least ` +
            `${primaryMemoryNeededGiB(pool.stepConcurrencyLevel)} GiB and ${Math.ceil(pool.stepConcurrencyLevel / PRIMARY_NODE.stepsPerVcpu)} vCPU in fleets.primary`,
        });
      }
    });
  });
  return parseConfig(POOLS_FILE, checked, raw);
}

/**
 * The smallest priced primary type of a pool (EMR may launch any type the fleet lists) when it cannot run the
 * pool's stepConcurrencyLevel concurrent steps (lib/domain/primaryNode.ts), else undefined. StepConcurrencyLevel
 * is at least maxJobsPerCluster (checked above), so this bounds the jobs the dispatcher packs on a cluster too.
 */
function primaryTooSmall(pool: PoolDefinition, prices: PriceBook): { type: string; vcpu: number; memoryGiB: number; capacity: number } | undefined {
  const sized = pool.fleets.primary
    .filter((type) => Object.hasOwn(prices.instanceTypes, type))
    .map((type) => ({ type, vcpu: prices.instanceTypes[type].vcpu, memoryGiB: prices.instanceTypes[type].memoryGiB }))
    .map((spec) => ({ ...spec, capacity: primaryStepCapacity(spec) }))
    .sort((a, b) => a.capacity - b.capacity);
  return sized.length > 0 && sized[0].capacity < pool.stepConcurrencyLevel ? sized[0] : undefined;
}

let cached: PoolsConfig | undefined;

export function loadPools(prices: PriceBook): PoolsConfig {
  cached ??= parsePools(poolsJson, prices);
  return cached;
}

/**
 * What loadPools returns from now on in this process, instead of config/pools.json (undefined: the file again).
 * For local tools that run the Lambdas in process on a what-if (`npm run bench:pool -- --what-if f`): call it
 * before any handler module loads, since each reads its configuration once. Pass a parsePools result.
 */
export function usePools(config: PoolsConfig | undefined): void {
  cached = config;
}

/** The pool named `name`, or undefined. */
export function findPool(config: Pick<PoolsConfig, 'pools'>, name: string): PoolDefinition | undefined {
  return config.pools.find((pool) => pool.name === name);
}
