import * as z from 'zod';
import pricesJson from '../../config/prices.json';
import { between, matching, nonEmptyString, parseConfig, strictObject } from '../schema';

export const PRICES_FILE = 'config/prices.json';

const ISO_DATE = matching(/^\d{4}-\d{2}-\d{2}$/, 'must be a date such as 2026-12-01');
const REGION = matching(/^[a-z]{2}(-[a-z]+)+-\d$/, 'key must be an AWS region such as us-west-2');

/** A price of a service other than EC2/EMR, with where it comes from. */
const ServicePrice = strictObject({ usd: between(0, Infinity), source: nonEmptyString });

/**
 * Prices the capacity planner needs besides instances: Step Functions transitions, Lambda compute, Glue
 * crawler DPU-hours and EMR Serverless (what a user might pick instead).
 */
export const ServicePricesSchema = strictObject({
  stepFunctionsPerTransition: ServicePrice,
  lambdaPerGbSecond: ServicePrice,
  glueDpuHour: ServicePrice,
  emrServerlessVcpuHour: ServicePrice,
  emrServerlessGbHour: ServicePrice,
  /** EMR Serverless on Graviton (ARM64); the planner runs its Serverless strategies on the cheaper architecture. */
  emrServerlessArm64VcpuHour: ServicePrice.optional(),
  emrServerlessArm64GbHour: ServicePrice.optional(),
  /** Ephemeral storage beyond the free 20 GB per worker; absent = not priced. */
  emrServerlessStorageGbHour: ServicePrice.optional(),
});
export type ServicePrices = z.infer<typeof ServicePricesSchema>;

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
  /** When the figure was read (YYYY-MM-DD). */
  checkedOn: ISO_DATE.optional(),
  /** This type's expected Spot price as a fraction below On-Demand; expectedSpotDiscount when absent. */
  spotDiscount: between(0, 0.95).optional(),
  /** On-Demand prices in other regions (the top-level `region` uses ec2Hourly / emrHourly above). */
  regions: z.record(REGION, strictObject({ ec2Hourly: between(0, Infinity), emrHourly: between(0, Infinity) })).optional(),
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
  /** Needed by `emrflow simulate` only; placement prices instances alone. */
  services: ServicePricesSchema.optional(),
  instanceTypes: z.record(INSTANCE_TYPE, InstancePriceSchema).refine((types) => Object.keys(types).length > 0, 'must list at least one instance type'),
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
