import { InvalidConfigError } from '../../../lib/errors';
import { loadPrices, parsePrices } from '../../../lib/config/prices';
import { unitHourly } from '../../../lib/domain/pricing';

const price = { vcpu: 16, memoryGiB: 128, ec2Hourly: 1, emrHourly: 0.25 };
const book = (overrides: Record<string, unknown> = {}, type: Record<string, unknown> = {}) => ({
  region: 'us-east-1',
  expectedSpotDiscount: 0.6,
  instanceTypes: { 'r5.4xlarge': { ...price, ...type } },
  ...overrides,
});

function message(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidConfigError);
    return (error as Error).message;
  }
  throw new Error('expected Config.Invalid');
}

describe('config/prices.json: what the capacity planner adds', () => {
  it('ships a Spot discount, a date and a source for every type, and the service prices with theirs', () => {
    const prices = loadPrices();
    for (const [type, entry] of Object.entries(prices.instanceTypes)) {
      expect([type, entry.spotDiscount !== undefined, entry.checkedOn !== undefined]).toEqual([type, true, true]);
    }
    expect(Object.values(prices.services ?? {}).every((s) => s.source.length > 0 && s.usd > 0)).toBe(true);
  });

  it("prices a Spot unit with the type's own discount, the book's when it has none", () => {
    const own = parsePrices(book({}, { spotDiscount: 0.8 }));
    const shared = parsePrices(book());
    // 4 units per 16-vCPU instance: (EC2 × (1 − discount) + EMR) / 4.
    expect(unitHourly(own, ['r5.4xlarge'], 'SPOT')).toBeCloseTo((1 * 0.2 + 0.25) / 4, 10);
    expect(unitHourly(shared, ['r5.4xlarge'], 'SPOT')).toBeCloseTo((1 * 0.4 + 0.25) / 4, 10);
    expect(unitHourly(own, ['r5.4xlarge'], 'ON_DEMAND')).toBeCloseTo(1.25 / 4, 10);
  });

  it('rejects a discount out of range, a region that is not one, a misspelt service and a service without source', () => {
    expect(message(() => parsePrices(book({}, { spotDiscount: 0.99 })))).toMatch(/instanceTypes\.r5\.4xlarge\.spotDiscount: must be between 0 and 0\.95/);
    expect(message(() => parsePrices(book({}, { regions: { europe: { ec2Hourly: 1, emrHourly: 0.2 } } })))).toMatch(/regions.*AWS region/);
    expect(message(() => parsePrices(book({}, { checkedOn: 'yesterday' })))).toMatch(/checkedOn: must be a date/);
    const services = loadPrices().services;
    expect(message(() => parsePrices(book({ services: { ...services, glueDpuHours: services?.glueDpuHour } })))).toMatch(/services/);
    expect(message(() => parsePrices(book({ services: { ...services, glueDpuHour: { usd: 0.44 } } })))).toMatch(/services\.glueDpuHour\.source/);
  });
});
