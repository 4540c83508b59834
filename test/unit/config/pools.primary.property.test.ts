/**
 * Right-sized jobs pack densely, but never beyond what a cluster's primary node can run: each running step
 * holds a step executor and a spark-submit client there (lib/domain/primaryNode.ts). The property: whatever pool
 * config the loader accepts, the packing it allows (StepConcurrencyLevel, maxJobsPerCluster, capacityUnits over
 * the smallest sized job) puts no more concurrent steps on a cluster than any primary type its fleet lists can
 * run; and every config that oversubscribes its primary is rejected, naming the field.
 */
import fc from 'fast-check';
import { InvalidConfigError } from '../../../lib/errors';
import { loadPools, parsePools } from '../../../lib/config/pools';
import { loadPrices, parsePrices } from '../../../lib/config/prices';
import { DEFAULT_SIZING } from '../../../lib/domain/sizing';
import { poolConcurrentSteps, primaryStepCapacity } from '../../../lib/domain/primaryNode';
import poolsJson from '../../../config/pools.json';

const worker = { vcpu: 16, memoryGiB: 128, ec2Hourly: 1, emrHourly: 0.25 };

const primaryType = fc.record({
  vcpu: fc.constantFrom(2, 4, 8, 16, 32, 64),
  memoryGiB: fc.constantFrom(4, 8, 16, 32, 64, 128, 256),
});

const poolCase = fc
  .record({
    primaries: fc.array(primaryType, { minLength: 1, maxLength: 3 }),
    stepConcurrencyLevel: fc.integer({ min: 1, max: 256 }),
    jobsShare: fc.double({ min: 0, max: 1, noNaN: true }),
    capacityUnits: fc.integer({ min: 4, max: 512 }),
  })
  .map(({ primaries, stepConcurrencyLevel, jobsShare, capacityUnits }) => {
    const types = primaries.map((spec, i) => ({ name: `p${i}-c${spec.vcpu}-m${spec.memoryGiB}.xlarge`, spec }));
    const prices = parsePrices({
      region: 'us-east-1',
      expectedSpotDiscount: 0.6,
      instanceTypes: { 'r5.4xlarge': worker, ...Object.fromEntries(types.map((t) => [t.name, { ...t.spec, ec2Hourly: 0.2, emrHourly: 0.05 }])) },
    });
    const pool = {
      name: 'shared',
      releaseLabel: 'emr-7.10.0',
      applications: ['Spark'],
      configurations: [],
      fleets: { primary: types.map((t) => t.name), core: ['r5.4xlarge'], task: ['r5.4xlarge'], coreUnits: 4 },
      minClusters: 0,
      maxClusters: 3,
      capacityUnits,
      maxJobsPerCluster: Math.max(1, Math.round(jobsShare * stepConcurrencyLevel)),
      stepConcurrencyLevel,
      idleTimeoutSeconds: 900,
      managedScaling: { minimumUnits: 4, maximumUnits: capacityUnits },
    };
    const dedicated = { ...poolsJson.dedicated, primary: ['r5.4xlarge'], core: ['r5.4xlarge'], task: ['r5.4xlarge'] };
    return { prices, pool, types, raw: { dedicated, pools: [pool] } };
  });

function tryParse(raw: unknown, prices: ReturnType<typeof parsePrices>): { ok: true } | { ok: false; message: string } {
  try {
    parsePools(raw, prices);
    return { ok: true };
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidConfigError);
    return { ok: false, message: (error as Error).message };
  }
}

describe('pool packing against the primary node', () => {
  it('never lets an accepted pool run more concurrent steps on a cluster than its smallest primary can; rejects every pool that would', () => {
    fc.assert(
      fc.property(poolCase, ({ prices, pool, types, raw }) => {
        const smallest = Math.min(...types.map((t) => primaryStepCapacity(t.spec)));
        const result = tryParse(raw, prices);
        if (result.ok) {
          for (const t of types) expect(poolConcurrentSteps(pool, DEFAULT_SIZING.minCapacityUnits)).toBeLessThanOrEqual(primaryStepCapacity(t.spec));
        } else {
          expect(pool.stepConcurrencyLevel).toBeGreaterThan(smallest);
          expect(result.message).toMatch(/pools\[0\]\.stepConcurrencyLevel: \d+ concurrent steps do not fit the primary node/);
        }
        expect(result.ok).toBe(pool.stepConcurrencyLevel <= smallest);
      }),
      { numRuns: 300 },
    );
  });

  it('negative control: 32 concurrent spark-submits on an m5.xlarge primary are rejected, naming the field and the fix', () => {
    const shipped = poolsJson.pools[0];
    const oversubscribed = {
      ...poolsJson,
      pools: [{ ...shipped, fleets: { ...shipped.fleets, primary: ['m5.xlarge'] }, maxJobsPerCluster: 32, stepConcurrencyLevel: 32 }],
    };
    let message = '';
    try {
      parsePools(oversubscribed, loadPrices());
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toBe(
      'config/pools.json: pools[0].stepConcurrencyLevel: 32 concurrent steps do not fit the primary node: m5.xlarge (4 vCPU, 16 GiB) runs at most 10 ' +
        '(each step runs a step executor and a spark-submit client on the primary); lower stepConcurrencyLevel and maxJobsPerCluster to 10 or less, ' +
        'or list only primary types with at least 38 GiB and 8 vCPU in fleets.primary',
    );
  });

  it('an m5.xlarge runs 10 cluster-mode steps (fewer in client mode, where the driver runs there too); 32 need a 38 GiB primary', () => {
    expect(primaryStepCapacity({ vcpu: 4, memoryGiB: 16 })).toBe(10);
    expect(primaryStepCapacity({ vcpu: 4, memoryGiB: 16 }, 'client')).toBe(4);
    expect(primaryStepCapacity({ vcpu: 8, memoryGiB: 32 })).toBeGreaterThanOrEqual(26);
  });

  it('accepts the shipped pools, whose concurrency fits every primary type they list', () => {
    const prices = loadPrices();
    const config = loadPools(prices);
    for (const pool of config.pools) {
      for (const type of pool.fleets.primary) {
        expect(poolConcurrentSteps(pool, DEFAULT_SIZING.minCapacityUnits)).toBeLessThanOrEqual(primaryStepCapacity(prices.instanceTypes[type]));
      }
    }
  });
});
