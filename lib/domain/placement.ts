import { APP_NAME, DEDICATED_POOL, TAG, clusterName } from '../contract';
import type { PriceBook } from '../config/prices';
import type { FleetTemplate, PoolDefinition } from '../config/pools';
import type { PlacementRule } from '../config/rules';
import { planFleets } from './fleet';
import { decidePurchase, type PlacementFacts } from './rules';
import { sparkProperties } from './sizing';
import type { JobRequest, Placement, Sizing } from './types';

export interface PlaceJobInput {
  request: JobRequest;
  sizing: Sizing;
  attempt: number;
  executionName: string;
}

export interface PlacementConfig {
  rules: PlacementRule[];
  template: FleetTemplate;
  prices: PriceBook;
  /** config/pools.json's pools; none means every run gets a cluster of its own. */
  pools: Pick<PoolDefinition, 'name' | 'releaseLabel' | 'capacityUnits' | 'fleets'>[];
}

/** Dedicated clusters run one job: parallel steps would only compete for the capacity sized for it. */
const DEDICATED_STEP_CONCURRENCY = 1;
/** EMR cluster names are at most 256 characters. */

export function placementFacts(input: PlaceJobInput): PlacementFacts {
  const { job } = input.request;
  return {
    predictedMinutes: input.sizing.predictedMinutes,
    slaMinutes: job.slaMinutes,
    slaUsedShare: input.sizing.predictedMinutes / job.slaMinutes,
    priority: job.priority,
    attempt: input.attempt,
    maxAttempts: job.maxAttempts,
    capacityUnits: input.sizing.capacityUnits,
    inputGiB: input.sizing.inputBytes / 1024 ** 3,
  };
}

/**
 * The pool a run shares, or null when it needs a cluster of its own: the first pool (in config/pools.json
 * order) on the job's EMR release whose clusters can hold the job's units. A job bigger than any pool
 * cluster's capacity gets a dedicated cluster, as before pools existed.
 */
export function poolFor(pools: PlacementConfig['pools'], releaseLabel: string, units: number): PlacementConfig['pools'][number] | null {
  return pools.find((pool) => pool.releaseLabel === releaseLabel && units <= pool.capacityUnits) ?? null;
}

/**
 * Decides where the run goes: a pool that fits it (AcquireCapacity then parks it for a lease, in the queue
 * order its priority gives), or a cluster of its own, bought as the rules say, with its RunJobFlow fields.
 * The rules still run for a pooled job: their reasons go to the run record, and its cost estimate is the
 * price of its units bought as the rules would buy them.
 */
export async function placeJob(input: PlaceJobInput, config: PlacementConfig): Promise<Placement> {
  const { request, sizing, attempt, executionName } = input;
  const decision = await decidePurchase(config.rules, placementFacts(input));
  const fleets = planFleets(sizing.capacityUnits, decision.taskOnDemandShare, config.template, config.prices);
  const pool = poolFor(config.pools, request.job.releaseLabel, sizing.capacityUnits);
  if (pool) {
    return {
      mode: 'pool',
      cluster: {},
      pool: { name: pool.name, units: sizing.capacityUnits, priority: request.job.priority },
      slot: null,
      // A pool cluster's On-Demand part is its core fleet; managed scaling adds Spot task capacity above it.
      onDemandShare: Math.min(1, pool.fleets.coreUnits / pool.capacityUnits),
      reasons: [
        `pool ${pool.name}: ${sizing.capacityUnits} unit(s) fit its clusters (${pool.capacityUnits} units each); queued as ${request.job.priority} priority`,
        ...decision.reasons,
      ],
      spec: null,
      hourlyCostUsd: fleets.hourlyCostUsd,
      onDemandHourlyCostUsd: fleets.onDemandHourlyCostUsd,
    };
  }
  const tags: Record<string, string> = {
    [TAG.execution]: executionName,
    [TAG.job]: request.job.name,
    [TAG.run]: request.runId,
    [TAG.attempt]: String(attempt),
    [TAG.pool]: DEDICATED_POOL,
    [TAG.app]: APP_NAME,
    [TAG.emrManagedPolicies]: 'true',
  };
  return {
    mode: 'dedicated',
    cluster: {},
    pool: null,
    slot: null,
    onDemandShare: fleets.onDemandShare,
    reasons: decision.reasons,
    spec: {
      name: clusterName(request.runId, attempt),
      releaseLabel: request.job.releaseLabel,
      primary: fleets.primary,
      core: fleets.core,
      task: fleets.task,
      spotTimeoutMinutes: config.template.spotTimeoutMinutes,
      idleTimeoutSeconds: config.template.idleTimeoutSeconds,
      stepConcurrencyLevel: DEDICATED_STEP_CONCURRENCY,
      configurations: [{ Classification: 'spark-defaults', Properties: sparkProperties(sizing.spark) }],
      tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
    },
    hourlyCostUsd: fleets.hourlyCostUsd,
    onDemandHourlyCostUsd: fleets.onDemandHourlyCostUsd,
  };
}
