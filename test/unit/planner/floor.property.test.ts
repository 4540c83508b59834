import fc from 'fast-check';
import type { PriceBook } from '../../../lib/config/prices';
import { unitHourly } from '../../../lib/domain/pricing';
import { shippedConfig } from '../../../local/planner';
import { sizeDay, type PlannerConfig } from '../../../local/planner/decisions';
import { floorCost } from '../../../local/planner/floor';
import { generateJobs, readProfile, spotModel, type Profile } from '../../../local/planner/profile';
import { STRATEGIES, simulateDay } from '../../../local/planner/simulate';

const PROFILE = readProfile('examples/planner/day.json');
const SHIPPED = shippedConfig();

/** A random day: 10-40 jobs, each kind's sizes, throughput and SLA scaled, arrivals bunched or spread. */
const profiles = fc.record({
  jobs: fc.integer({ min: 10, max: 40 }),
  seed: fc.integer({ min: 1, max: 1_000_000 }),
  sizeScale: fc.double({ min: 0.01, max: 50, noNaN: true }),
  throughputScale: fc.double({ min: 0.2, max: 5, noNaN: true }),
  slaScale: fc.double({ min: 0.3, max: 3, noNaN: true }),
  spikeMinutes: fc.integer({ min: 1, max: 120 }),
});

/** A random price book over the shipped types: each type's On-Demand price and Spot discount, and Serverless's prices. */
const priceBooks = fc.record({
  typeScale: fc.array(fc.double({ min: 0.2, max: 3, noNaN: true }), {
    minLength: Object.keys(SHIPPED.prices.instanceTypes).length,
    maxLength: Object.keys(SHIPPED.prices.instanceTypes).length,
  }),
  discounts: fc.array(fc.double({ min: 0, max: 0.9, noNaN: true }), {
    minLength: Object.keys(SHIPPED.prices.instanceTypes).length,
    maxLength: Object.keys(SHIPPED.prices.instanceTypes).length,
  }),
  serverlessScale: fc.double({ min: 0.05, max: 3, noNaN: true }),
});

type ProfileParams = { jobs: number; seed: number; sizeScale: number; throughputScale: number; slaScale: number; spikeMinutes: number };

function profileOf(p: ProfileParams): Profile {
  const kinds = PROFILE.kinds.map((kind) => ({
    ...kind,
    slaMinutes: Math.max(5, Math.min(720, Math.round(kind.slaMinutes * p.slaScale))),
    throughputMiBpsPerUnit: kind.throughputMiBpsPerUnit * p.throughputScale,
  }));
  return {
    ...PROFILE,
    jobs: p.jobs,
    totalInputTiB: (PROFILE.totalInputTiB * p.jobs * p.sizeScale) / PROFILE.jobs,
    kinds,
    arrivals: { ...PROFILE.arrivals, nightlySpikeMinutes: p.spikeMinutes },
  };
}

function configOf(b: { typeScale: number[]; discounts: number[]; serverlessScale: number }): PlannerConfig {
  const types = Object.entries(SHIPPED.prices.instanceTypes).map(([name, price], i) => [
    name,
    { ...price, ec2Hourly: price.ec2Hourly * b.typeScale[i], emrHourly: price.emrHourly * b.typeScale[i], spotDiscount: b.discounts[i] },
  ]);
  const services = SHIPPED.prices.services!;
  const scaled = Object.fromEntries(
    Object.entries(services).map(([key, value]) => [key, key.startsWith('emrServerless') ? { ...value!, usd: value!.usd * b.serverlessScale } : value]),
  );
  const prices: PriceBook = { ...SHIPPED.prices, instanceTypes: Object.fromEntries(types), services: scaled as PriceBook['services'] };
  return { ...SHIPPED, prices };
}

/** The floor as it was computed before: sized units × real step time at the pool task fleet's average Spot unit price. */
function oldFloor(config: PlannerConfig, jobs: ReturnType<typeof sizeDay>): number {
  const types = config.pools.pools[0]?.fleets.task ?? config.pools.dedicated.task;
  const perUnitHour = unitHourly(config.prices, types, 'SPOT');
  return jobs.reduce((sum, j) => sum + ((j.sizing.capacityUnits * j.stepSeconds) / 3600) * perUnitHour, 0);
}

type Floor = (config: PlannerConfig, jobs: ReturnType<typeof sizeDay>) => number;

/** No strategy costs less than `floor` on a random day under random prices. */
function noStrategyBelow(floor: Floor) {
  return fc.asyncProperty(profiles, priceBooks, async (p, b) => {
    const profile = profileOf(p);
    const config = configOf(b);
    const jobs = generateJobs(profile, p.seed);
    const day = await simulateDay({ jobs, runDate: profile.date, config, spot: spotModel(profile), seed: p.seed });
    const least = floor(config, sizeDay(jobs, profile.date));
    for (const name of STRATEGIES) {
      if (name === 'floor') continue;
      // Figures are rounded to cents.
      if (day.strategies[name].costUsd < least - 0.01)
        throw new Error(`${name} costs $${day.strategies[name].costUsd}, below the floor's $${least.toFixed(2)}`);
    }
  });
}

describe('the floor is a lower bound', () => {
  it('no strategy ever costs less than the floor (random profiles and price books)', async () => {
    await fc.assert(
      noStrategyBelow((config, jobs) => floorCost(config, jobs).usd),
      { numRuns: 25, seed: 20 },
    );
  }, 120_000);

  it('the simulated figure is the same floor', async () => {
    const profile = profileOf({ jobs: 20, seed: 3, sizeScale: 1, throughputScale: 1, slaScale: 1, spikeMinutes: 20 });
    const jobs = generateJobs(profile, 3);
    const day = await simulateDay({ jobs, runDate: profile.date, config: SHIPPED, spot: spotModel(profile), seed: 3 });
    expect(day.floorUsd).toBeCloseTo(floorCost(SHIPPED, sizeDay(jobs, profile.date)).usd, 2);
    expect(day.strategies.floor.costUsd).toBeCloseTo(day.floorUsd, 2);
  });

  it('fails when the floor is computed the old way (negative control)', async () => {
    // endOnFailure: the first counterexample is enough (no shrinking, which would rerun many days).
    const result = await fc.check(noStrategyBelow(oldFloor), { numRuns: 25, seed: 20, endOnFailure: true });
    expect(result.failed).toBe(true);
  }, 120_000);
});
