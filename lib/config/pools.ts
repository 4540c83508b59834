import * as z from 'zod';
import poolsJson from '../../config/pools.json';
import { between, describeValue, matching, nonEmptyString, parseConfig, strictObject } from '../schema';
import type { PriceBook } from './prices';
import { PRICES_FILE } from './prices';

export const POOLS_FILE = 'config/pools.json';

/** EMR accepts up to 30 types per fleet with an allocation strategy, 5 without (the primary fleet has none). */
const instanceTypes = (max: number) =>
  z.array(nonEmptyString).min(1, 'must list at least one instance type').max(max, `EMR allows at most ${max} instance types here`);

const IDLE_TIMEOUT = between(60, 604800, { integer: true });
const RELEASE_LABEL = matching(/^emr-\d+\.\d+\.\d+$/, 'must be an EMR release label such as emr-7.10.0');

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

/** A pool of shared clusters (used by pooled placement; listed here so the file has one schema). */
export const PoolDefinitionSchema = strictObject({
  name: matching(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be 1-63 lowercase letters, digits or "-", starting with a letter or digit'),
  releaseLabel: RELEASE_LABEL,
  maxClusters: between(1, 500, { integer: true }),
  stepConcurrencyLevel: between(1, 256, { integer: true }),
  maxConcurrentJobsPerCluster: between(1, 256, { integer: true }),
  idleTimeoutSeconds: IDLE_TIMEOUT,
});
export type PoolDefinition = z.infer<typeof PoolDefinitionSchema>;

export const PoolsConfigSchema = strictObject({
  dedicated: FleetTemplateSchema,
  pools: z.array(PoolDefinitionSchema),
});
export type PoolsConfig = z.infer<typeof PoolsConfigSchema>;

/** Every fleet instance type needs a price, or placement could not cost the cluster. */
export function parsePools(raw: unknown, prices: PriceBook): PoolsConfig {
  const priced = PoolsConfigSchema.superRefine(({ dedicated }, ctx) => {
    for (const fleet of ['primary', 'core', 'task'] as const) {
      dedicated[fleet].forEach((type, i) => {
        if (!Object.hasOwn(prices.instanceTypes, type)) {
          ctx.addIssue({ code: 'custom', path: ['dedicated', fleet, i], message: `${describeValue(type)} has no price in ${PRICES_FILE}; add it there` });
        }
      });
    }
  });
  return parseConfig(POOLS_FILE, priced, raw);
}

let cached: PoolsConfig | undefined;

export function loadPools(prices: PriceBook): PoolsConfig {
  cached ??= parsePools(poolsJson, prices);
  return cached;
}
