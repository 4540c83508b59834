import pricesJson from '../../config/prices.json';
import { ConfigReader } from './check';

export const PRICES_FILE = 'config/prices.json';

export interface InstancePrice {
  vcpu: number;
  memoryGiB: number;
  /** EC2 On-Demand, USD per hour. */
  ec2Hourly: number;
  /** EMR uplift, USD per hour; not discounted on Spot. */
  emrHourly: number;
}

export interface PriceBook {
  region: string;
  /** Expected Spot price as a fraction below On-Demand (0.6 = Spot costs 40% of On-Demand). */
  expectedSpotDiscount: number;
  instanceTypes: Record<string, InstancePrice>;
}

export function parsePrices(raw: unknown): PriceBook {
  const r = new ConfigReader(PRICES_FILE);
  const o = r.object(raw, '(root)');
  const types = r.object(o.instanceTypes, 'instanceTypes');
  if (Object.keys(types).length === 0) r.fail('instanceTypes', 'must list at least one instance type');
  const instanceTypes: Record<string, InstancePrice> = {};
  for (const [name, value] of Object.entries(types)) {
    const at = `instanceTypes.${name}`;
    if (!/^[a-z][a-z0-9-]*\.[0-9]*x?large$|^[a-z][a-z0-9-]*\.(metal|medium|small)$/.test(name)) {
      r.fail(at, 'key must be an EC2 instance type such as r5.4xlarge');
    }
    const p = r.object(value, at);
    instanceTypes[name] = {
      vcpu: r.number(p.vcpu, `${at}.vcpu`, { min: 1, integer: true }),
      memoryGiB: r.number(p.memoryGiB, `${at}.memoryGiB`, { min: 1 }),
      ec2Hourly: r.number(p.ec2Hourly, `${at}.ec2Hourly`, { min: 0 }),
      emrHourly: r.number(p.emrHourly, `${at}.emrHourly`, { min: 0 }),
    };
  }
  return {
    region: r.string(o.region, 'region'),
    expectedSpotDiscount: r.number(o.expectedSpotDiscount, 'expectedSpotDiscount', { min: 0, max: 0.95 }),
    instanceTypes,
  };
}

let cached: PriceBook | undefined;

export function loadPrices(): PriceBook {
  cached ??= parsePrices(pricesJson);
  return cached;
}
