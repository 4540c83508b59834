import { APP_NAME, DEDICATED_POOL, TAG, clusterName } from '../contract';
import type { PriceBook } from '../config/prices';
import type { FleetTemplate, PoolDefinition } from '../config/pools';
import type { PlacementRule } from '../config/rules';
import { planFleets } from './fleet';
import { roundCents, unitHourly } from './pricing';
import { decidePlacement, type PlacementDecision, type PlacementFacts } from './rules';
import { sparkProperties } from './sizing';
import type { JobRequest, Placement, Sizing } from './types';

export interface PlaceJobInput {
  request: JobRequest;
  sizing: Sizing;
  attempt: number;
  executionName: string;
}

/** What placement needs to know of a pool. */
export type PlacementPool = Pick<PoolDefinition, 'name' | 'releaseLabel' | 'capacityUnits' | 'fleets'>;

export interface PlacementConfig {
  rules: PlacementRule[];
  template: FleetTemplate;
  prices: PriceBook;
  /** config/pools.json's pools, which usePool rules may name; none means every run gets a cluster of its own. */
  pools: PlacementPool[];
  /** The deployment's stage, tagged on every dedicated cluster (TAG.stage). */
  stage: string;
}

/** Dedicated clusters run one job: parallel steps would only compete for the capacity sized for it. */
const DEDICATED_STEP_CONCURRENCY = 1;

/** The facts the placement rules (config/rules.json) are evaluated on, from the request, its sizing and the attempt. */
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
 * Decides where the run goes. When a usePool rule fires, the job's sized units fit one cluster of that
 * pool and the pool runs the job's EMR release, it runs pooled: the placement names the pool, units and priority for AcquireCapacity, which parks
 * the job until the dispatcher leases it a slot (`slot` and `cluster` are filled from that grant). A job
 * too big for the pool, on another release, or that no usePool rule sends there, gets its own cluster: the
 * RunJobFlow fields.
 */
export async function placeJob(input: PlaceJobInput, config: PlacementConfig): Promise<Placement> {
  const decision = await decidePlacement(config.rules, placementFacts(input));
  const pool = decision.pool === null ? undefined : config.pools.find((p) => p.name === decision.pool);
  const unfit = pool && poolMismatch(pool, input);
  if (pool && !unfit) return pooled(input, decision, pool, config.prices);
  const reasons = unfit ? [...decision.reasons, `${unfit}: dedicated cluster`] : decision.reasons;
  return dedicated(input, { ...decision, reasons }, config);
}

/** Why a job cannot run on the pool a rule chose (its units exceed a cluster's, or its EMR release differs), or null. */
function poolMismatch(pool: PlacementPool, input: PlaceJobInput): string | null {
  const units = input.sizing.capacityUnits;
  if (units > pool.capacityUnits) return `too big for pool ${pool.name} (${units} units > ${pool.capacityUnits} per cluster)`;
  const release = input.request.job.releaseLabel;
  if (release !== pool.releaseLabel) return `pool ${pool.name} runs ${pool.releaseLabel}, the job needs ${release}`;
  return null;
}

/**
 * A pooled job's share of its cluster: its units at the pool's blended unit price. A pool cluster's
 * On-Demand part is its core fleet; managed scaling adds Spot task capacity above it, so at full load
 * coreUnits of capacityUnits are On-Demand.
 */
function pooled(input: PlaceJobInput, decision: PlacementDecision, pool: PlacementPool, prices: PriceBook): Placement {
  const units = input.sizing.capacityUnits;
  const onDemandShare = Math.min(1, pool.fleets.coreUnits / pool.capacityUnits);
  const blended = onDemandShare * unitHourly(prices, pool.fleets.core, 'ON_DEMAND') + (1 - onDemandShare) * unitHourly(prices, pool.fleets.task, 'SPOT');
  return {
    mode: 'pool',
    cluster: {},
    slot: null,
    pool: { name: pool.name, units, priority: decision.priority },
    onDemandShare: Math.round(onDemandShare * 1000) / 1000,
    reasons: decision.reasons,
    spec: null,
    hourlyCostUsd: roundCents(units * blended),
    onDemandHourlyCostUsd: roundCents(units * unitHourly(prices, pool.fleets.task, 'ON_DEMAND')),
  };
}

function dedicated(input: PlaceJobInput, decision: PlacementDecision, config: PlacementConfig): Placement {
  const { request, sizing, attempt, executionName } = input;
  const fleets = planFleets(sizing.capacityUnits, decision.taskOnDemandShare, config.template, config.prices);
  const tags: Record<string, string> = {
    [TAG.execution]: executionName,
    [TAG.job]: request.job.name,
    [TAG.run]: request.runId,
    [TAG.attempt]: String(attempt),
    [TAG.pool]: DEDICATED_POOL,
    [TAG.app]: APP_NAME,
    [TAG.stage]: config.stage,
    [TAG.emrManagedPolicies]: 'true',
  };
  return {
    mode: 'dedicated',
    cluster: {},
    slot: null,
    pool: null,
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
