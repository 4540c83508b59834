/**
 * Which instance types a fleet launches to meet a target in units, by its allocation strategy.
 *
 * EMR fills a target with instances of the fleet's types, each counting its WeightedCapacity, "until the
 * target capacity is totally fulfilled, even if this results in an overage" (InstanceFleetConfig,
 * TargetSpotCapacity). The strategy picks the types (EMR API reference, OnDemandProvisioningSpecification
 * and SpotProvisioningSpecification; EC2 User Guide, allocation strategies):
 * - `lowest-price` (the On-Demand default): the lowest price per unit first. Prices are the project's
 *   config/prices.json (EC2 On-Demand per hour; Spot is priced as a fixed discount of it, which keeps the
 *   order), so a type it does not list comes after the priced ones, in the fleet's order.
 * - `prioritized`, `capacity-optimized-prioritized`: by `Priority` (0 first), then the fleet's order.
 * - `capacity-optimized` (the Spot default), `diversified`: the emulator knows no Spot pool depths, so both
 *   spread the instances over all the fleet's types in turn, as diversified does.
 * - `price-capacity-optimized`: spread over the cheaper half of the types (at least one), the pools EC2
 *   weighs as both cheap and deep.
 */
import type { InstanceTypeConfig, MarketType } from '@aws-sdk/client-emr';
import { loadPrices } from '../../../lib/config/prices';
import type { EmrFleet } from './model';
import { validated } from './validate';

export interface PlannedInstance {
  InstanceType: string;
  weight: number;
}

function pricePerUnit(config: InstanceTypeConfig): number {
  const price = loadPrices().instanceTypes[config.InstanceType ?? '']?.ec2Hourly;
  return price === undefined ? Number.POSITIVE_INFINITY : price / (config.WeightedCapacity ?? 1);
}

/** The fleet's strategy for the market: what it names, else EMR's default. */
export function allocationStrategy(fleet: EmrFleet, market: MarketType): string {
  const launch = fleet.LaunchSpecifications;
  if (market === 'ON_DEMAND') return launch?.OnDemandSpecification?.AllocationStrategy ?? 'lowest-price';
  return launch?.SpotSpecification?.AllocationStrategy ?? 'capacity-optimized';
}

/** The types in the order the strategy tries them, and whether it spreads over them or fills the first. */
function ranking(configs: InstanceTypeConfig[], strategy: string): { order: InstanceTypeConfig[]; spread: boolean } {
  const indexed = configs.map((config, index) => ({ config, index }));
  const byPrice = [...indexed].sort((a, b) => pricePerUnit(a.config) - pricePerUnit(b.config) || a.index - b.index).map((e) => e.config);
  switch (strategy) {
    case 'lowest-price':
      return { order: byPrice, spread: false };
    case 'prioritized':
    case 'capacity-optimized-prioritized': {
      const priority = (c: InstanceTypeConfig) => c.Priority ?? Number.POSITIVE_INFINITY;
      const order = [...indexed].sort((a, b) => priority(a.config) - priority(b.config) || a.index - b.index).map((e) => e.config);
      return { order, spread: strategy === 'capacity-optimized-prioritized' && order.every((c) => c.Priority === undefined) };
    }
    case 'price-capacity-optimized':
      return { order: byPrice.slice(0, Math.max(1, Math.ceil(byPrice.length / 2))), spread: true };
    default:
      return { order: configs, spread: true };
  }
}

/** Instances that bring `units` (≥ 0) of the market to the fleet, overshooting by less than one instance. */
export function planInstances(fleet: EmrFleet, units: number, market: MarketType): PlannedInstance[] {
  const { order, spread } = ranking(fleet.InstanceTypeConfigs, allocationStrategy(fleet, market));
  const planned: PlannedInstance[] = [];
  let filled = 0;
  for (let turn = 0; filled < units; turn += 1) {
    const config = spread ? order[turn % order.length] : order[0];
    const weight = config.WeightedCapacity ?? 1;
    planned.push({ InstanceType: validated(config.InstanceType, 'InstanceTypeConfigs[].InstanceType'), weight });
    filled += weight;
  }
  return planned;
}
