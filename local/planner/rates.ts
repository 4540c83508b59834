/**
 * Hourly prices of a simulated cluster's parts, split into EC2 and the EMR uplift (from lib/domain/pricing),
 * and the Spot model's mean interruption hazard over a fleet's instance types.
 */
import type { PriceBook } from '../../lib/config/prices';
import { instanceHourly, unitHourly } from '../../lib/domain/pricing';
import type { SpotModel } from './profile';

export interface Rate {
  ec2: number;
  emr: number;
}

/** Hourly EC2 and EMR parts of `units` of a fleet of `types` on `market` (unitHourly's total, split). */
export function unitRate(prices: PriceBook, types: string[], market: 'ON_DEMAND' | 'SPOT'): Rate {
  const total = unitHourly(prices, types, market);
  const emr = unitHourly(prices, types, market) - unitHourly({ ...prices, instanceTypes: withoutEmr(prices, types) }, types, market);
  return { ec2: total - emr, emr };
}

function withoutEmr(prices: PriceBook, types: string[]): PriceBook['instanceTypes'] {
  return Object.fromEntries(types.map((t) => [t, { ...prices.instanceTypes[t], emrHourly: 0 }]));
}

export function addRate(a: Rate, b: Rate, times = 1): Rate {
  return { ec2: a.ec2 + b.ec2 * times, emr: a.emr + b.emr * times };
}

export function primaryRate(prices: PriceBook, types: string[], market: 'ON_DEMAND' | 'SPOT'): Rate {
  const type = types[0];
  if (market === 'ON_DEMAND') return { ec2: instanceHourly(prices, type) - prices.instanceTypes[type].emrHourly, emr: prices.instanceTypes[type].emrHourly };
  return unitRate(prices, [type], 'SPOT');
}

export function meanHazard(spot: SpotModel, types: string[]): number {
  return types.reduce((sum, t) => sum + spot.hazardPerHour(t), 0) / types.length / 3600;
}
