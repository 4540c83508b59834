import { InvalidConfigError } from '../../../lib/errors';
import { loadJobs, parseJobs } from '../../../lib/config/jobs';
import { parsePools, loadPools } from '../../../lib/config/pools';
import { loadPrices, parsePrices } from '../../../lib/config/prices';
import { loadRules, parseRules } from '../../../lib/config/rules';
import { job } from '../fixtures';

function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidConfigError);
    expect((error as Error).name).toBe('Config.Invalid');
    return (error as Error).message;
  }
  throw new Error('expected Config.Invalid');
}

describe('shipped configuration', () => {
  it('loads and validates every file', () => {
    expect(loadJobs().map((j) => j.name)).toContain('denormalize-events');
    expect(loadPrices().instanceTypes['r5.4xlarge']).toEqual({ vcpu: 16, memoryGiB: 128, ec2Hourly: 1.008, emrHourly: 0.252 });
    expect(loadPools(loadPrices()).dedicated.task.length).toBeGreaterThanOrEqual(5);
    expect(loadRules().length).toBeGreaterThan(0);
  });
});

describe('config/jobs.json', () => {
  it('names the file, the job and the field', () => {
    expect(configError(() => parseJobs({ jobs: [{ ...job(), slaMinutes: 'soon' }] }))).toBe(
      'config/jobs.json: jobs[0].slaMinutes: must be a number, got "soon"',
    );
    expect(configError(() => parseJobs({ jobs: [{ ...job(), inputPrefix: 'events' }] }))).toMatch(/^config\/jobs.json: jobs\[0\].inputPrefix: /);
    expect(configError(() => parseJobs({ jobs: [{ ...job(), priority: 'urgent' }] }))).toMatch(/priority: must be one of low, normal, high/);
    expect(configError(() => parseJobs({ jobs: [{ ...job(), catalog: { database: 'd', table: 't' } }] }))).toMatch(/jobs\[0\].catalog.crawler/);
  });

  it('rejects two jobs with the same name or prefix', () => {
    expect(configError(() => parseJobs({ jobs: [job(), job({ name: 'other' })] }))).toMatch(/jobs\[0\]: name or inputPrefix repeats jobs\[1\]/);
  });

  it('rejects an empty catalog', () => {
    expect(configError(() => parseJobs({ jobs: [] }))).toMatch(/jobs: must have at least 1/);
  });
});

describe('config/prices.json and config/pools.json', () => {
  const prices = parsePrices({ region: 'us-east-1', expectedSpotDiscount: 0.6, instanceTypes: { 'r5.4xlarge': { vcpu: 16, memoryGiB: 128, ec2Hourly: 1.008, emrHourly: 0.252 } } });
  const pools = {
    dedicated: { primary: ['r5.4xlarge'], core: ['r5.4xlarge'], task: ['r5.4xlarge'], coreShare: 0.125, maxCoreUnits: 32, spotTimeoutMinutes: 10, idleTimeoutSeconds: 900 },
    pools: [],
  };
  const pool = {
    name: 'shared',
    releaseLabel: 'emr-7.10.0',
    applications: ['Spark'],
    configurations: [{ Classification: 'spark-defaults', Properties: { 'spark.sql.adaptive.enabled': 'true' } }],
    fleets: { primary: ['r5.4xlarge'], core: ['r5.4xlarge'], task: ['r5.4xlarge'], coreUnits: 4 },
    minClusters: 0,
    maxClusters: 3,
    capacityUnits: 32,
    maxJobsPerCluster: 8,
    stepConcurrencyLevel: 8,
    idleTimeoutSeconds: 900,
    managedScaling: { minimumUnits: 8, maximumUnits: 32 },
  };

  it('rejects a negative price and an out-of-range discount', () => {
    expect(configError(() => parsePrices({ region: 'r', expectedSpotDiscount: 0.6, instanceTypes: { 'r5.4xlarge': { vcpu: 16, memoryGiB: 128, ec2Hourly: -1, emrHourly: 0 } } }))).toMatch(
      /^config\/prices.json: instanceTypes.r5.4xlarge.ec2Hourly: must be between 0/,
    );
    expect(configError(() => parsePrices({ region: 'r', expectedSpotDiscount: 1.5, instanceTypes: {} }))).toMatch(/instanceTypes/);
  });

  it('rejects a fleet instance type without a price', () => {
    expect(configError(() => parsePools({ ...pools, dedicated: { ...pools.dedicated, task: ['r5.4xlarge', 'x9.huge'] } }, prices))).toBe(
      'config/pools.json: dedicated.task[1]: "x9.huge" has no price in config/prices.json; add it there',
    );
  });

  it('keeps the Spot timeout and idle timeout within what EMR accepts', () => {
    expect(configError(() => parsePools({ ...pools, dedicated: { ...pools.dedicated, spotTimeoutMinutes: 2 } }, prices))).toMatch(/spotTimeoutMinutes: must be between 5 and 1440/);
    expect(configError(() => parsePools({ ...pools, dedicated: { ...pools.dedicated, idleTimeoutSeconds: 30 } }, prices))).toMatch(/idleTimeoutSeconds: must be between 60 and 604800/);
  });

  it('rejects more than 5 primary types (the primary fleet has no allocation strategy)', () => {
    const six = Array(6).fill('r5.4xlarge');
    expect(configError(() => parsePools({ ...pools, dedicated: { ...pools.dedicated, primary: six } }, prices))).toMatch(/dedicated.primary: EMR allows at most 5/);
  });

  it('validates pool entries', () => {
    expect(configError(() => parsePools({ ...pools, pools: [{ ...pool, stepConcurrencyLevel: 300 }] }, prices))).toMatch(
      /pools\[0\].stepConcurrencyLevel: must be between 1 and 256/,
    );
  });

  it('accepts a complete pool and fills the dispatcher defaults (RunJobFlow budget 0.25/s, burst 5)', () => {
    const config = parsePools({ ...pools, pools: [pool] }, prices);
    expect(config.pools[0]).toEqual(pool);
    expect(config.dispatcher.runJobFlowBudget).toEqual({ ratePerSecond: 0.25, burst: 5 });
  });

  it('rejects a misspelt pool field instead of ignoring it', () => {
    expect(configError(() => parsePools({ ...pools, pools: [{ ...pool, maxClusterz: 3 }] }, prices))).toMatch(/^config\/pools.json: pools\[0\]: .*maxClusterz/);
  });

  it('rejects pool limits that contradict each other, naming the field', () => {
    expect(configError(() => parsePools({ ...pools, pools: [{ ...pool, minClusters: 4 }] }, prices))).toMatch(/pools\[0\].minClusters: must be at most maxClusters/);
    expect(configError(() => parsePools({ ...pools, pools: [{ ...pool, capacityUnits: 64 }] }, prices))).toMatch(/pools\[0\].capacityUnits: must be at most managedScaling.maximumUnits/);
    expect(configError(() => parsePools({ ...pools, pools: [{ ...pool, stepConcurrencyLevel: 2 }] }, prices))).toMatch(/pools\[0\].stepConcurrencyLevel: must be at least maxJobsPerCluster/);
    expect(configError(() => parsePools({ ...pools, pools: [pool, pool] }, prices))).toMatch(/pools\[1\].name: "shared" is used by an earlier pool/);
  });

  it('rejects a pool fleet instance type without a price', () => {
    expect(configError(() => parsePools({ ...pools, pools: [{ ...pool, fleets: { ...pool.fleets, task: ['x9.huge'] } }] }, prices))).toBe(
      'config/pools.json: pools[0].fleets.task[0]: "x9.huge" has no price in config/prices.json; add it there',
    );
  });
});

describe('config/rules.json', () => {
  const rule = (conditions: unknown, params: unknown = { share: 1, reason: 'r' }) => ({ rules: [{ name: 'r1', conditions, event: { type: 'onDemandShare', params } }] });

  it('rejects a fact PlaceJob does not provide, naming the rule path', () => {
    expect(configError(() => parseRules(rule({ all: [{ fact: 'predictedMinute', operator: 'greaterThan', value: 1 }] })))).toMatch(
      /^config\/rules.json: rules\[0\].conditions.all\[0\].fact: must be one of predictedMinutes/,
    );
  });

  it('rejects a fact reference to an unknown fact and an unknown operator', () => {
    expect(configError(() => parseRules(rule({ all: [{ fact: 'attempt', operator: 'equal', value: { fact: 'tries' } }] })))).toMatch(/conditions.all\[0\].value.fact/);
    expect(configError(() => parseRules(rule({ any: [{ fact: 'attempt', operator: 'approx', value: 1 }] })))).toMatch(/conditions.any\[0\].operator/);
  });

  it('rejects a share outside 0..1 and a bare condition at the top', () => {
    expect(configError(() => parseRules(rule({ all: [{ fact: 'attempt', operator: 'equal', value: 1 }] }, { share: 2, reason: 'r' })))).toMatch(/event.params.share/);
    expect(configError(() => parseRules(rule({ fact: 'attempt', operator: 'equal', value: 1 })))).toMatch(/rules\[0\].conditions: must start with "all", "any" or "not"/);
  });
});
