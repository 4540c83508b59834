import poolsJson from '../../config/pools.json';
import { ConfigReader } from './check';
import type { PriceBook } from './prices';
import { PRICES_FILE } from './prices';

export const POOLS_FILE = 'config/pools.json';

/** How a dedicated cluster's fleets are built: which instance types each fleet may use, and its timeouts. */
export interface FleetTemplate {
  primary: string[];
  core: string[];
  task: string[];
  /** Share of the sized capacity put in the (On-Demand) core fleet; the rest goes to the task fleet. */
  coreShare: number;
  maxCoreUnits: number;
  spotTimeoutMinutes: number;
  idleTimeoutSeconds: number;
}

/** A pool of shared clusters (used by pooled placement; listed here so the file has one schema). */
export interface PoolDefinition {
  name: string;
  releaseLabel: string;
  maxClusters: number;
  stepConcurrencyLevel: number;
  maxConcurrentJobsPerCluster: number;
  idleTimeoutSeconds: number;
}

export interface PoolsConfig {
  dedicated: FleetTemplate;
  pools: PoolDefinition[];
}

/** EMR accepts up to 30 types per fleet with an allocation strategy, 5 without (the primary fleet has none). */
const MAX_TYPES = { primary: 5, core: 30, task: 30 } as const;

export function parsePools(raw: unknown, prices: PriceBook): PoolsConfig {
  const r = new ConfigReader(POOLS_FILE);
  const o = r.object(raw, '(root)');
  const d = r.object(o.dedicated, 'dedicated');
  const types = (fleet: keyof typeof MAX_TYPES): string[] => {
    const field = `dedicated.${fleet}`;
    const list = r.strings(r.array(d[fleet], field, { minItems: 1 }), field);
    if (list.length > MAX_TYPES[fleet]) r.fail(field, `EMR allows at most ${MAX_TYPES[fleet]} instance types here`);
    list.forEach((type, i) => {
      if (!prices.instanceTypes[type]) r.fail(`${field}[${i}]`, `"${type}" has no price in ${PRICES_FILE}; add it there`);
    });
    return list;
  };
  const dedicated: FleetTemplate = {
    primary: types('primary'),
    core: types('core'),
    task: types('task'),
    coreShare: r.number(d.coreShare, 'dedicated.coreShare', { min: 0.01, max: 1 }),
    maxCoreUnits: r.number(d.maxCoreUnits, 'dedicated.maxCoreUnits', { min: 1, integer: true }),
    spotTimeoutMinutes: r.number(d.spotTimeoutMinutes, 'dedicated.spotTimeoutMinutes', { min: 5, max: 1440, integer: true }),
    idleTimeoutSeconds: r.number(d.idleTimeoutSeconds, 'dedicated.idleTimeoutSeconds', { min: 60, max: 604800, integer: true }),
  };
  const pools = r.array(o.pools, 'pools').map((item, i) => {
    const at = `pools[${i}]`;
    const p = r.object(item, at);
    return {
      name: r.string(p.name, `${at}.name`, /^[a-z0-9][a-z0-9-]{0,62}$/),
      releaseLabel: r.string(p.releaseLabel, `${at}.releaseLabel`, /^emr-\d+\.\d+\.\d+$/),
      maxClusters: r.number(p.maxClusters, `${at}.maxClusters`, { min: 1, max: 500, integer: true }),
      stepConcurrencyLevel: r.number(p.stepConcurrencyLevel, `${at}.stepConcurrencyLevel`, { min: 1, max: 256, integer: true }),
      maxConcurrentJobsPerCluster: r.number(p.maxConcurrentJobsPerCluster, `${at}.maxConcurrentJobsPerCluster`, {
        min: 1,
        max: 256,
        integer: true,
      }),
      idleTimeoutSeconds: r.number(p.idleTimeoutSeconds, `${at}.idleTimeoutSeconds`, { min: 60, max: 604800, integer: true }),
    };
  });
  return { dedicated, pools };
}

let cached: PoolsConfig | undefined;

export function loadPools(prices: PriceBook): PoolsConfig {
  cached ??= parsePools(poolsJson, prices);
  return cached;
}
