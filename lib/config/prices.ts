import * as z from 'zod';
import pricesJson from '../../config/prices.json';
import { between, matching, nonEmptyString, parseConfig, strictObject } from '../schema';

export const PRICES_FILE = 'config/prices.json';

export const InstancePriceSchema = strictObject({
  vcpu: between(1, Infinity, { integer: true }),
  memoryGiB: between(1, Infinity),
  /** EC2 On-Demand, USD per hour. */
  ec2Hourly: between(0, Infinity),
  /** EMR uplift, USD per hour; not discounted on Spot. */
  emrHourly: between(0, Infinity),
  /** Where the figure comes from, for the reader of the file. */
  source: nonEmptyString.optional(),
  /** True for a price not yet checked against the pricing pages. */
  estimate: z.boolean().optional(),
});
export type InstancePrice = z.infer<typeof InstancePriceSchema>;

const INSTANCE_TYPE = matching(
  /^[a-z][a-z0-9-]*\.[0-9]*x?large$|^[a-z][a-z0-9-]*\.(metal|medium|small)$/,
  'key must be an EC2 instance type such as r5.4xlarge',
);

export const PriceBookSchema = strictObject({
  region: nonEmptyString,
  currency: z.literal('USD').optional(),
  notes: z.string().optional(),
  /** Expected Spot price as a fraction below On-Demand (0.6 = Spot costs 40% of On-Demand). */
  expectedSpotDiscount: between(0, 0.95),
  instanceTypes: z
    .record(INSTANCE_TYPE, InstancePriceSchema)
    .refine((types) => Object.keys(types).length > 0, 'must list at least one instance type'),
});
export type PriceBook = z.infer<typeof PriceBookSchema>;

export function parsePrices(raw: unknown): PriceBook {
  return parseConfig(PRICES_FILE, PriceBookSchema, raw);
}

let cached: PriceBook | undefined;

export function loadPrices(): PriceBook {
  cached ??= parsePrices(pricesJson);
  return cached;
}
