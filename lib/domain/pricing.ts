import type { PriceBook } from '../config/prices';

/** One capacity unit is 4 vCPU (and 32 GiB on the memory-optimized types the fleets use). */
export const VCPU_PER_UNIT = 4;

/** An instance type's WeightedCapacity in units: an r5.4xlarge (16 vCPU) weighs 4. */
export function unitsOf(prices: PriceBook, instanceType: string): number {
  return Math.max(1, Math.floor(prices.instanceTypes[instanceType].vcpu / VCPU_PER_UNIT));
}

/**
 * Hourly price of one unit in a fleet, averaged over the fleet's types since the allocation strategy picks
 * among them. On Spot only the EC2 part is discounted; EMR's uplift is charged in full.
 */
export function unitHourly(prices: PriceBook, instanceTypes: string[], market: 'ON_DEMAND' | 'SPOT'): number {
  const perUnit = instanceTypes.map((type) => {
    const p = prices.instanceTypes[type];
    return (p.ec2Hourly * (1 - spotDiscountOf(prices, type, market)) + p.emrHourly) / unitsOf(prices, type);
  });
  return perUnit.reduce((a, b) => a + b, 0) / perUnit.length;
}

/** The fraction below On-Demand the type's EC2 part costs on `market`: its own Spot discount, else the book's. */
export function spotDiscountOf(prices: PriceBook, instanceType: string, market: 'ON_DEMAND' | 'SPOT'): number {
  return market === 'SPOT' ? (prices.instanceTypes[instanceType].spotDiscount ?? prices.expectedSpotDiscount) : 0;
}

/** On-Demand price of one instance of the type, EC2 plus EMR. */
export function instanceHourly(prices: PriceBook, instanceType: string): number {
  const p = prices.instanceTypes[instanceType];
  return p.ec2Hourly + p.emrHourly;
}

export function roundCents(value: number): number {
  return Math.round(value * 100) / 100;
}
