import { APP_NAME, DEDICATED_POOL, TAG, clusterName } from '../contract';
import type { PriceBook } from '../config/prices';
import type { FleetTemplate } from '../config/pools';
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
 * Decides how the run's cluster is bought and builds the RunJobFlow fields for it. Every run gets its own
 * cluster here; pooled placement adds a `pool` mode with a slot, in the same shape.
 */
export async function placeJob(input: PlaceJobInput, config: PlacementConfig): Promise<Placement> {
  const { request, sizing, attempt, executionName } = input;
  const decision = await decidePurchase(config.rules, placementFacts(input));
  const fleets = planFleets(sizing.capacityUnits, decision.taskOnDemandShare, config.template, config.prices);
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
