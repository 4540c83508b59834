import { APP_NAME, DEDICATED_POOL, TAG, clusterName } from '../contract';
import type { PriceBook } from '../config/prices';
import type { FleetTemplate, PoolDefinition } from '../config/pools';
import type { PlacementRule } from '../config/rules';
import type { ServerlessConfig } from '../config/serverless';
import { planFleets } from './fleet';
import { roundCents, unitHourly } from './pricing';
import { decidePlacement, type PlacementDecision, type PlacementFacts } from './rules';
import { CLUSTER_START_MINUTES, predictedServerlessCostUsd, serverlessPlacement } from './serverless';
import { workersForSpark } from './serverlessWorkers';
import { sparkProperties } from './sizing';
import type { JobRequest, Placement, Sizing } from './types';

export interface PlaceJobInput {
  request: JobRequest;
  sizing: Sizing;
  attempt: number;
  executionName: string;
  /** Per pool, the minutes a lease would take now (place-job reads them from the registry); none = unknown. */
  poolWaits?: Record<string, number>;
  /** Whether the StartJobRun budget has a token (placeJobWithinStartBudget sets it); none = 1, not limited. */
  serverlessStartTokens?: number;
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
  /** config/serverless.json: where useServerless rules send a job; absent = Serverless is not a target. */
  serverless?: ServerlessConfig;
}

/**
 * placeJob under the StartJobRun budget: rules first decide as if a token were there; a Serverless placement
 * then takes one (`takeStartToken`, the registry's bucket), and without it the job is placed again with
 * serverlessStartTokens 0, so the rules that test it send it elsewhere (the ones that do not, overflow past the
 * SLA slack, still send it: its StartJobRun Retry waits out a throttle). Nothing is taken for other placements.
 */
export async function placeJobWithinStartBudget(input: PlaceJobInput, config: PlacementConfig, takeStartToken: () => Promise<boolean>): Promise<Placement> {
  const placement = await placeJob({ ...input, serverlessStartTokens: 1 }, config);
  if (placement.mode !== 'serverless' || (await takeStartToken())) return placement;
  return placeJob({ ...input, serverlessStartTokens: 0 }, config);
}

/** Dedicated clusters run one job: parallel steps would only compete for the capacity sized for it. */
const DEDICATED_STEP_CONCURRENCY = 1;

/** The facts the placement rules (config/rules.json) are evaluated on, from the request, its sizing, the attempt and (with `config`) each target's predicted wait and cost. */
export function placementFacts(input: PlaceJobInput, config?: Pick<PlacementConfig, 'pools' | 'prices' | 'template' | 'serverless'>): PlacementFacts {
  const { job } = input.request;
  return {
    slaSlackMinutes: job.slaMinutes - input.sizing.predictedMinutes,
    predictedWaitMinutes: { ...(input.poolWaits ?? {}) },
    predictedCostUsd: config ? predictedCosts(input, config) : {},
    predictedMinutes: input.sizing.predictedMinutes,
    slaMinutes: job.slaMinutes,
    slaUsedShare: input.sizing.predictedMinutes / job.slaMinutes,
    priority: job.priority,
    attempt: input.attempt,
    maxAttempts: job.maxAttempts,
    capacityUnits: input.sizing.capacityUnits,
    inputGiB: input.sizing.inputBytes / 1024 ** 3,
    serverlessStartTokens: input.serverlessStartTokens ?? 1,
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
  const decision = await decidePlacement(config.rules, placementFacts(input, config));
  if (decision.serverless !== null && config.serverless) return onServerless(input, decision, config.serverless, config.prices);
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

/**
 * What the run is expected to cost on each target, for rules that choose by price: its units for its predicted
 * minutes at the first pool that fits it (blended price), on a dedicated cluster of its own (bootstrap
 * included, task fleet on Spot), and as an EMR Serverless job run (its workers, billed a minute at least).
 */
function predictedCosts(
  input: PlaceJobInput,
  config: Pick<PlacementConfig, 'pools' | 'prices' | 'template' | 'serverless'>,
): PlacementFacts['predictedCostUsd'] {
  const units = input.sizing.capacityUnits;
  const hours = input.sizing.predictedMinutes / 60;
  const costs: PlacementFacts['predictedCostUsd'] = {};
  const pool = config.pools.find((candidate) => candidate.capacityUnits >= units);
  if (pool) costs.pool = roundMicros(units * blendedUnitHourly(pool, config.prices) * hours);
  costs.dedicated = roundMicros(planFleets(units, 0, config.template, config.prices).hourlyCostUsd * (hours + CLUSTER_START_MINUTES / 60));
  const app = config.serverless?.applications[config.serverless.defaultApplication];
  if (app && config.prices.services) {
    costs.serverless = predictedServerlessCostUsd(
      workersForSpark(input.sizing.spark, { diskGb: app.workerDiskGb }),
      input.sizing.predictedMinutes,
      app,
      config.prices,
    );
  }
  return costs;
}

const roundMicros = (value: number) => Math.round(value * 1e6) / 1e6;

function blendedUnitHourly(pool: PlacementPool, prices: PriceBook): number {
  const onDemandShare = Math.min(1, pool.fleets.coreUnits / pool.capacityUnits);
  return onDemandShare * unitHourly(prices, pool.fleets.core, 'ON_DEMAND') + (1 - onDemandShare) * unitHourly(prices, pool.fleets.task, 'SPOT');
}

/** A useServerless rule fired: the job runs as an EMR Serverless job run, nothing to lease or launch. */
function onServerless(input: PlaceJobInput, decision: PlacementDecision, config: ServerlessConfig, prices: PriceBook): Placement {
  const name = decision.serverless || config.defaultApplication;
  const app = config.applications[name];
  if (!app) throw new RangeError(`a useServerless rule names application ${JSON.stringify(name)}, which config/serverless.json does not have`);
  const serverless = serverlessPlacement(input, name, app, prices);
  const hourly = predictedServerlessCostUsd(serverless.workers, 60, app, prices);
  return {
    mode: 'serverless',
    cluster: {},
    slot: null,
    pool: null,
    // EMR Serverless has no Spot: all of it is On-Demand capacity.
    onDemandShare: 1,
    reasons: decision.reasons,
    spec: null,
    serverless,
    hourlyCostUsd: roundCents(hourly),
    onDemandHourlyCostUsd: roundCents(hourly),
  };
}
