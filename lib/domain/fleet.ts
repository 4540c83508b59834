import type { PriceBook } from '../config/prices';
import type { FleetTemplate } from '../config/pools';
import { instanceHourly, roundCents, unitHourly, unitsOf } from './pricing';
import type { FleetCapacity, InstanceTypeConfig } from './types';

export interface FleetPlan {
  primary: { instanceTypeConfigs: InstanceTypeConfig[] };
  core: FleetCapacity;
  task: FleetCapacity;
  /** Core + task units EMR launches: the sized capacity, rounded up to whole instances (at least one core node). */
  capacityUnits: number;
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
 *
 * Every target is a whole number of its fleet's smallest instance, because that is what EMR launches: it
 * "provisions instances until the target capacity is totally fulfilled, even if this results in an overage"
 * (InstanceFleetConfig, TargetOnDemandCapacity). So a 2-unit job's dedicated cluster asks for, and is priced
 * at, one whole 4xlarge core node (4 units; its core fleet lists only 4xlarge types), not 2 units, and a task
 * fleet of 2xlarge/4xlarge types is split into even On-Demand and Spot targets. `capacityUnits` (core + task)
 * is therefore at least the sized capacity. A fleet mixing weights may still overshoot by part of a larger
 * instance, depending on which types its allocation strategy picks; that is not counted here.
 */
export function planFleets(capacityUnits: number, taskOnDemandShare: number, template: FleetTemplate, prices: PriceBook): FleetPlan {
  const coreStep = smallestWeight(template.core, prices);
  const taskStep = smallestWeight(template.task, prices);
  const wantedCore = roundUp(capacityUnits * template.coreShare, coreStep);
  const coreUnits = Math.max(coreStep, Math.min(wantedCore, Math.floor(template.maxCoreUnits / coreStep) * coreStep));
  const taskUnits = roundUp(Math.max(0, capacityUnits - coreUnits), taskStep);
  // The epsilon keeps float noise (0.29 * 100 = 28.999…) from buying one unit too many.
  const taskOnDemand = Math.min(taskUnits, roundUp(taskOnDemandShare * taskUnits - 1e-9, taskStep));
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
    capacityUnits: coreUnits + taskUnits,
    onDemandShare: Math.round(((coreUnits + taskOnDemand) / (coreUnits + taskUnits)) * 1000) / 1000,
    hourlyCostUsd: roundCents(hourly),
    onDemandHourlyCostUsd: roundCents(primaryHourly + coreUnits * onDemandUnit(template.core) + taskUnits * onDemandUnit(template.task)),
  };
}

/** The fleet's smallest instance in units: no target can be met more finely. */
function smallestWeight(types: string[], prices: PriceBook): number {
  return Math.min(...types.map((t) => unitsOf(prices, t)));
}

/** The smallest multiple of `step` at or above `value` (0 for 0 or less; max(0) also avoids -0). */
function roundUp(value: number, step: number): number {
  return Math.max(0, Math.ceil(value / step) * step);
}

function fleet(types: string[], onDemandUnits: number, spotUnits: number, prices: PriceBook): FleetCapacity {
  return {
    onDemandUnits,
    spotUnits,
    instanceTypeConfigs: types.map((t) => ({ InstanceType: t, WeightedCapacity: unitsOf(prices, t) })),
  };
}
