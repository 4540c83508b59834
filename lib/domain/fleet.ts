import type { PriceBook } from '../config/prices';
import type { FleetTemplate } from '../config/pools';
import { instanceHourly, roundCents, unitHourly, unitsOf } from './pricing';
import type { FleetCapacity, InstanceTypeConfig } from './types';

export interface FleetPlan {
  primary: { instanceTypeConfigs: InstanceTypeConfig[] };
  core: FleetCapacity;
  task: FleetCapacity;
  /** Effective On-Demand share of core+task after the core fleet took its On-Demand units. */
  onDemandShare: number;
  hourlyCostUsd: number;
  onDemandHourlyCostUsd: number;
}

/**
 * Splits the sized capacity into a small core fleet, always On-Demand (it hosts the Spark driver and the
 * YARN application masters: losing it loses the run), and a task fleet of which `taskOnDemandShare` is
 * bought On-Demand and the rest Spot. The share applies to the task fleet, not the whole, so that a higher
 * share always buys more On-Demand even on a small cluster whose core fleet is already half of it.
 * Units are whole numbers and core + task = the sized capacity, On-Demand + Spot = each fleet's size.
 */
export function planFleets(capacityUnits: number, taskOnDemandShare: number, template: FleetTemplate, prices: PriceBook): FleetPlan {
  const coreStep = Math.max(...template.core.map((t) => unitsOf(prices, t)));
  const wantedCore = Math.ceil((capacityUnits * template.coreShare) / coreStep) * coreStep;
  const coreUnits = Math.min(capacityUnits, Math.max(coreStep, Math.min(wantedCore, template.maxCoreUnits)));
  const taskUnits = capacityUnits - coreUnits;
  // The epsilon keeps float noise (0.29 * 100 = 28.999…) from buying one unit too many; max(0) avoids -0.
  const taskOnDemand = Math.min(taskUnits, Math.max(0, Math.ceil(taskOnDemandShare * taskUnits - 1e-9)));
  const core = fleet(template.core, coreUnits, 0, prices);
  const task = fleet(template.task, taskOnDemand, taskUnits - taskOnDemand, prices);
  const primaryHourly = instanceHourly(prices, template.primary[0]);
  const onDemandUnit = (types: string[]) => unitHourly(prices, types, 'ON_DEMAND');
  const hourly =
    primaryHourly +
    coreUnits * onDemandUnit(template.core) +
    taskOnDemand * onDemandUnit(template.task) +
    task.spotUnits * unitHourly(prices, template.task, 'SPOT');
  return {
    primary: { instanceTypeConfigs: template.primary.map((t) => ({ InstanceType: t, WeightedCapacity: 1 })) },
    core,
    task,
    onDemandShare: Math.round(((coreUnits + taskOnDemand) / capacityUnits) * 1000) / 1000,
    hourlyCostUsd: roundCents(hourly),
    onDemandHourlyCostUsd: roundCents(primaryHourly + coreUnits * onDemandUnit(template.core) + taskUnits * onDemandUnit(template.task)),
  };
}

function fleet(types: string[], onDemandUnits: number, spotUnits: number, prices: PriceBook): FleetCapacity {
  return {
    onDemandUnits,
    spotUnits,
    instanceTypeConfigs: types.map((t) => ({ InstanceType: t, WeightedCapacity: unitsOf(prices, t) })),
  };
}
