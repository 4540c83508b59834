import { parsePrices, type PriceBook } from '../../../lib/config/prices';
import { clusterCost, marketHourly, orchestrationCost, pathCounts, poolUnitHourly, poolUsage, runCost, type InstanceUsage } from '../../../lib/domain/runCost';

// A price book of round numbers, so every expected figure below can be checked by hand.
const prices: PriceBook = parsePrices({
  region: 'us-east-1',
  currency: 'USD',
  expectedSpotDiscount: 0.5,
  instanceTypes: {
    'r5.4xlarge': {
      vcpu: 16,
      memoryGiB: 128,
      ec2Hourly: 1.0,
      emrHourly: 0.25,
      spotDiscount: 0.6,
      regions: { 'us-west-2': { ec2Hourly: 2.0, emrHourly: 0.5 } },
    },
    'r5.2xlarge': { vcpu: 8, memoryGiB: 64, ec2Hourly: 0.5, emrHourly: 0.125 },
  },
  services: {
    stepFunctionsPerTransition: { usd: 0.001, source: 'test' },
    lambdaPerGbSecond: { usd: 0.01, source: 'test' },
    glueDpuHour: { usd: 0.44, source: 'test' },
    emrServerlessVcpuHour: { usd: 0.05, source: 'test' },
    emrServerlessGbHour: { usd: 0.005, source: 'test' },
  },
});

const at = (minutes: number) => new Date(Date.UTC(2026, 11, 1, 12, 0) + minutes * 60_000);
const instance = (instanceType: string, market: InstanceUsage['market'], from: number, to: number | null): InstanceUsage => ({
  instanceType,
  market,
  createdAt: at(from),
  endedAt: to === null ? null : at(to),
});

describe('market prices', () => {
  it('charges On-Demand the EC2 price plus the EMR uplift', () => {
    expect(marketHourly(prices, 'r5.4xlarge', 'ON_DEMAND')).toBeCloseTo(1.25, 10);
  });

  it("discounts only the EC2 part on Spot, by the type's own discount, else the book's", () => {
    expect(marketHourly(prices, 'r5.4xlarge', 'SPOT')).toBeCloseTo(1.0 * 0.4 + 0.25, 10);
    expect(marketHourly(prices, 'r5.2xlarge', 'SPOT')).toBeCloseTo(0.5 * 0.5 + 0.125, 10);
  });

  it("uses another region's prices when asked, and has none for a region or type it does not list", () => {
    expect(marketHourly(prices, 'r5.4xlarge', 'ON_DEMAND', 'us-west-2')).toBeCloseTo(2.5, 10);
    expect(marketHourly(prices, 'r5.2xlarge', 'ON_DEMAND', 'us-west-2')).toBeNull();
    expect(marketHourly(prices, 'm5.xlarge', 'ON_DEMAND')).toBeNull();
  });
});

describe('a dedicated cluster', () => {
  it('costs each instance its own lifetime at its own market price', () => {
    const cost = clusterCost(
      prices,
      'j-1',
      [
        instance('r5.4xlarge', 'ON_DEMAND', 0, 120), // primary: 2 h × 1.25
        instance('r5.4xlarge', 'ON_DEMAND', 0, 120), // core: 2 h × 1.25
        instance('r5.4xlarge', 'SPOT', 0, 30), // reclaimed after 30 min: 0.5 h × 0.65
        instance('r5.2xlarge', 'SPOT', 35, 120), // its replacement: 85 min × 0.375
      ],
      at(999),
    );

    expect(cost.onDemand).toEqual({ instances: 2, instanceHours: 4, usd: 5 });
    expect(cost.spot.instances).toBe(2);
    expect(cost.spot.usd).toBeCloseTo(0.5 * 0.65 + (85 / 60) * 0.375, 10);
    expect(cost.usd).toBeCloseTo(5 + 0.325 + 0.53125, 10);
    expect(cost.unpricedTypes).toEqual([]);
  });

  it('bills an instance still running up to now', () => {
    const cost = clusterCost(prices, 'j-1', [instance('r5.4xlarge', 'ON_DEMAND', 0, null)], at(90));
    expect(cost.usd).toBeCloseTo(1.5 * 1.25, 10);
  });

  it('names an instance type it has no price for instead of pricing it at zero silently', () => {
    const cost = clusterCost(prices, 'j-1', [instance('m5.xlarge', 'ON_DEMAND', 0, 60), instance('r5.4xlarge', 'ON_DEMAND', 0, 60)], at(60));
    expect(cost.unpricedTypes).toEqual(['m5.xlarge']);
    expect(cost.onDemand.instanceHours).toBe(2);
    expect(cost.usd).toBeCloseTo(1.25, 10);
  });
});

describe('a pooled job', () => {
  const pool = { capacityUnits: 16, fleets: { primary: ['r5.4xlarge'], core: ['r5.4xlarge'], task: ['r5.4xlarge'], coreUnits: 4 } };

  it("pays its units × seconds at the pool cluster's blended unit price (core On-Demand, the rest Spot)", () => {
    // r5.4xlarge weighs 4 units: On-Demand 1.25/4 per unit-hour, Spot 0.65/4.
    const blended = (4 * (1.25 / 4) + 12 * (0.65 / 4)) / 16;
    expect(poolUnitHourly(prices, pool)).toBeCloseTo(blended, 10);

    const usage = poolUsage('shared', 'j-P', 8, at(0), at(45), blended);
    expect(usage.seconds).toBe(2700);
    expect(usage.usd).toBeCloseTo(8 * 0.75 * blended, 10);
  });
});

describe('orchestration', () => {
  it('counts the states and Lambdas of the run-job paths', () => {
    // NormalizeRequest ClaimRun CheckCatalog SizeJob PlaceJob RouteByPlacement CreateCluster RunSparkStep TerminateCluster RecordRun
    expect(pathCounts({ mode: 'dedicated', attempts: 1, succeeded: true, crawled: false })).toEqual({ transitions: 10, lambdaInvocations: 4 });
    // + a retry (ClassifyFailure RouteFailure ReleaseCapacityBeforeRetry BackoffBeforeRetry PrepareRetry, then the attempt again) and a crawl.
    expect(pathCounts({ mode: 'pool', attempts: 2, succeeded: true, crawled: true })).toEqual({ transitions: 23, lambdaInvocations: 10 });
    expect(pathCounts({ mode: 'dedicated', attempts: 1, succeeded: false, crawled: false })).toEqual({ transitions: 13, lambdaInvocations: 5 });
  });

  it('prices the transitions and GB-seconds it estimates, and nothing without service prices', () => {
    const cost = orchestrationCost(prices, { mode: 'dedicated', attempts: 1, succeeded: true, crawled: false }, 512);
    expect(cost).toEqual({ transitionsEstimate: 10, lambdaGbSecondsEstimate: 2, usd: expect.any(Number) });
    expect(cost.usd).toBeCloseTo(10 * 0.001 + 2 * 0.01, 10);
    const { services: _omitted, ...withoutServices } = prices;
    expect(orchestrationCost(withoutServices, { mode: 'dedicated', attempts: 1, succeeded: true, crawled: false }, 512).usd).toBe(0);
  });
});

it('totals clusters, pool and orchestration to a hundredth of a cent', () => {
  const cluster = clusterCost(prices, 'j-1', [instance('r5.4xlarge', 'ON_DEMAND', 0, 61)], at(61));
  const total = runCost([cluster], null, { transitionsEstimate: 10, lambdaGbSecondsEstimate: 2, usd: 0.03 });
  expect(total.totalUsd).toBe(Math.round(((61 / 60) * 1.25 + 0.03) * 10_000) / 10_000);
});
