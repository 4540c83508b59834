/**
 * config/pools.json: how dedicated clusters are built (`dedicated`), the pools of shared clusters (`pools`)
 * and how the dispatcher hands their capacity out (`dispatcher`). One zod schema is the type; unknown keys
 * are errors, and every failure is a `Config.Invalid` naming the file and the field path.
 *
 * Offers: `PoolsConfigSchema`, `parsePools(raw, prices)`, `loadPools(prices)`, `findPool(config, name)` and
 * the inferred types `PoolsConfig`, `FleetTemplate` (dedicated), `PoolDefinition`, `DispatcherSettings`.
 */
import * as z from 'zod';
import poolsJson from '../../config/pools.json';
import { InvalidConfigError } from '../errors';
import { parseConfig, strictObject } from '../schema';
import type { PriceBook } from './prices';
import { PRICES_FILE } from './prices';

export const POOLS_FILE = 'config/pools.json';

/** EMR accepts up to 30 types per fleet with an allocation strategy, 5 without (the primary fleet has none). */
const MAX_TYPES = { primary: 5, core: 30, task: 30 } as const;

const between = (min: number, max: number) => `must be between ${min} and ${max}`;
const int = (min: number, max: number) => z.number().int('must be an integer').min(min, between(min, max)).max(max, between(min, max));
const instanceTypes = (fleet: keyof typeof MAX_TYPES) =>
  z
    .array(z.string().min(1))
    .min(1, 'must list at least one instance type')
    .max(MAX_TYPES[fleet], `EMR allows at most ${MAX_TYPES[fleet]} instance types here`);

export const FleetTemplateSchema = strictObject({
  primary: instanceTypes('primary'),
  core: instanceTypes('core'),
  task: instanceTypes('task'),
  /** Share of the sized capacity put in the (On-Demand) core fleet; the rest goes to the task fleet. */
  coreShare: z.number().min(0.01, between(0.01, 1)).max(1, between(0.01, 1)),
  maxCoreUnits: int(1, 10_000),
  spotTimeoutMinutes: int(5, 1440),
  idleTimeoutSeconds: int(60, 604_800),
});

const PoolSchema = z
  .strictObject({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes, at most 63'),
    releaseLabel: z.string().regex(/^emr-\d+\.\d+\.\d+$/, 'an EMR release label such as emr-7.5.0'),
    /** EMR application names, e.g. ["Spark"]. */
    applications: z.array(z.string().min(1)).min(1),
    /** EMR configuration classifications (spark-defaults, …) every cluster of the pool gets. */
    configurations: z.array(
      strictObject({ Classification: z.string().min(1), Properties: z.record(z.string(), z.string()) }),
    ),
    /** Instance-fleet template: several types per fleet; the core fleet is On-Demand and fixed at coreUnits. */
    fleets: strictObject({
      primary: instanceTypes('primary'),
      core: instanceTypes('core'),
      task: instanceTypes('task'),
      coreUnits: int(1, 10_000),
    }),
    minClusters: int(0, 500),
    maxClusters: int(1, 500),
    /** Units leases may hold on one cluster at once: a hard cap, not a hint. */
    capacityUnits: int(1, 10_000),
    maxJobsPerCluster: int(1, 256),
    stepConcurrencyLevel: int(1, 256),
    idleTimeoutSeconds: int(60, 604_800),
    /** EMR managed scaling limits (InstanceFleetUnits) between which each cluster's size follows its load. */
    managedScaling: strictObject({ minimumUnits: int(1, 10_000), maximumUnits: int(1, 10_000) }),
  })
  .superRefine((pool, ctx) => {
    const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
    if (pool.minClusters > pool.maxClusters) issue(['minClusters'], `must be at most maxClusters (${pool.maxClusters})`);
    if (pool.managedScaling.minimumUnits > pool.managedScaling.maximumUnits) {
      issue(['managedScaling', 'minimumUnits'], `must be at most managedScaling.maximumUnits (${pool.managedScaling.maximumUnits})`);
    }
    if (pool.fleets.coreUnits > pool.managedScaling.minimumUnits) {
      issue(['fleets', 'coreUnits'], `must be at most managedScaling.minimumUnits (${pool.managedScaling.minimumUnits}): core is never scaled in`);
    }
    if (pool.capacityUnits > pool.managedScaling.maximumUnits) {
      issue(['capacityUnits'], `must be at most managedScaling.maximumUnits (${pool.managedScaling.maximumUnits}): leases cannot promise units the cluster can never have`);
    }
    if (pool.stepConcurrencyLevel < pool.maxJobsPerCluster) {
      issue(['stepConcurrencyLevel'], `must be at least maxJobsPerCluster (${pool.maxJobsPerCluster}), or leased jobs would queue behind each other on the cluster`);
    }
  });

const DispatcherSchema = strictObject({
  /** How long a lease lives without a heartbeat; a crashed execution's units come back after it. */
  leaseSeconds: int(60, 86_400).default(900),
  /** A waiting job gains one priority level per this many seconds, so low priority cannot starve. */
  agingSecondsPerLevel: int(1, 86_400).default(300),
  /** A grant a crashed dispatcher left half done is redone or undone after this long. */
  grantTimeoutSeconds: int(31, 3_600).default(120),
  /** RunJobFlow token bucket: default half of EMR's account default (0.5/s, burst 10), so other tools keep headroom. */
  runJobFlowBudget: strictObject({ ratePerSecond: z.number().positive().max(10), burst: int(1, 100) }).default({ ratePerSecond: 0.25, burst: 5 }),
});

export const PoolsConfigSchema = z
  .strictObject({
    dedicated: FleetTemplateSchema,
    pools: z.array(PoolSchema),
    dispatcher: DispatcherSchema.default(DispatcherSchema.parse({})),
  })
  .superRefine((config, ctx) => {
    const seen = new Set<string>();
    config.pools.forEach((pool, i) => {
      if (seen.has(pool.name)) ctx.addIssue({ code: 'custom', path: ['pools', i, 'name'], message: `"${pool.name}" is used by an earlier pool` });
      seen.add(pool.name);
    });
  });

export type PoolsConfig = z.infer<typeof PoolsConfigSchema>;
/** How a dedicated cluster's fleets are built: which instance types each fleet may use, and its timeouts. */
export type FleetTemplate = PoolsConfig['dedicated'];
export type PoolDefinition = PoolsConfig['pools'][number];
export type DispatcherSettings = PoolsConfig['dispatcher'];

export function parsePools(raw: unknown, prices: PriceBook): PoolsConfig {
  const config = parseConfig(POOLS_FILE, PoolsConfigSchema, raw);
  const priced = (types: string[], field: string) =>
    types.forEach((type, i) => {
      if (!prices.instanceTypes[type]) throw new InvalidConfigError(POOLS_FILE, `${field}[${i}]`, `"${type}" has no price in ${PRICES_FILE}; add it there`);
    });
  for (const fleet of ['primary', 'core', 'task'] as const) priced(config.dedicated[fleet], `dedicated.${fleet}`);
  config.pools.forEach((pool, p) => {
    for (const fleet of ['primary', 'core', 'task'] as const) priced(pool.fleets[fleet], `pools[${p}].fleets.${fleet}`);
  });
  return config;
}

let cached: PoolsConfig | undefined;

export function loadPools(prices: PriceBook): PoolsConfig {
  cached ??= parsePools(poolsJson, prices);
  return cached;
}

/** The pool named `name`, or undefined. */
export function findPool(config: Pick<PoolsConfig, 'pools'>, name: string): PoolDefinition | undefined {
  return config.pools.find((pool) => pool.name === name);
}
