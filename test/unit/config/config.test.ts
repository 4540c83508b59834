import type { z } from 'zod';
import { InvalidConfigError } from '../../../lib/errors';
import { JOBS_FILE, JobDefinitionSchema, loadJobs, parseJobs } from '../../../lib/config/jobs';
import { addStepsBudget, FleetTemplateSchema, POOLS_FILE, parsePools, loadPools } from '../../../lib/config/pools';
import { InstancePriceSchema, PRICES_FILE, loadPrices, parsePrices } from '../../../lib/config/prices';
import { PlacementRuleSchema, RULES_FILE, loadRules, parseRules } from '../../../lib/config/rules';
import { parseConfig } from '../../../lib/schema';
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

const price = { vcpu: 16, memoryGiB: 128, ec2Hourly: 1.008, emrHourly: 0.252 };
const pricesFile = (overrides: Record<string, unknown> = {}) => ({
  region: 'us-east-1',
  expectedSpotDiscount: 0.6,
  instanceTypes: { 'r5.4xlarge': price },
  ...overrides,
});
const prices = parsePrices(pricesFile());
const fleet = (overrides: Record<string, unknown> = {}) => ({
  primary: ['r5.4xlarge'],
  core: ['r5.4xlarge'],
  task: ['r5.4xlarge'],
  coreShare: 0.125,
  maxCoreUnits: 32,
  spotTimeoutMinutes: 10,
  idleTimeoutSeconds: 900,
  ...overrides,
});
const leaf = { fact: 'attempt', operator: 'equal', value: 1 };
const rule = (overrides: Record<string, unknown> = {}) => ({
  name: 'r1',
  conditions: { all: [leaf] },
  event: { type: 'onDemandShare', params: { share: 1, reason: 'r' } },
  ...overrides,
});
const { description: _dropped, ...jobWithoutDescription } = job();
const { spotTimeoutMinutes: _alsoDropped, ...fleetWithoutSpotTimeout } = fleet();

interface Case {
  name: string;
  parse: () => unknown;
  /** The whole message: file, field path, and what to write instead. */
  message: string | RegExp;
}

const parseFleet = (dedicated: unknown) => parsePools({ dedicated, pools: [] }, prices);

/** Per file: a misspelt key, a wrong type, a missing required field, an out-of-range value. */
const cases: Record<string, Case[]> = {
  [JOBS_FILE]: [
    {
      name: 'a misspelt key (catalogue) is rejected, naming the key it meant',
      parse: () => parseJobs({ jobs: [{ ...job(), catalog: undefined, catalogue: job().catalog }] }),
      message: /^config\/jobs\.json: jobs\[0\]\.catalogue: unknown field; did you mean "catalog"\? allowed: name, description, /,
    },
    {
      name: 'a wrong type',
      parse: () => parseJobs({ jobs: [{ ...job(), slaMinutes: 'soon' }] }),
      message: 'config/jobs.json: jobs[0].slaMinutes: must be an integer between 5 and 720, got "soon"',
    },
    {
      name: 'a missing required field',
      parse: () => parseJobs({ jobs: [jobWithoutDescription] }),
      message: 'config/jobs.json: jobs[0].description: is required (a string)',
    },
    {
      name: 'an out-of-range value',
      parse: () => parseJobs({ jobs: [{ ...job(), maxAttempts: 11 }] }),
      message: 'config/jobs.json: jobs[0].maxAttempts: must be between 1 and 10, got number 11',
    },
  ],
  [POOLS_FILE]: [
    {
      name: 'a misspelt key (coreshare)',
      parse: () => parseFleet({ ...fleet(), coreShare: undefined, coreshare: 0.1 }),
      message: /^config\/pools\.json: dedicated\.coreshare: unknown field; did you mean "coreShare"\?/,
    },
    {
      name: 'a wrong type',
      parse: () => parseFleet(fleet({ task: 'r5.4xlarge' })),
      message: 'config/pools.json: dedicated.task: must be an array, got "r5.4xlarge"',
    },
    {
      name: 'a missing required field',
      parse: () => parseFleet(fleetWithoutSpotTimeout),
      message: 'config/pools.json: dedicated.spotTimeoutMinutes: is required (a number)',
    },
    {
      name: "an out-of-range value (below EMR's 5-minute Spot timeout)",
      parse: () => parseFleet(fleet({ spotTimeoutMinutes: 2 })),
      message: 'config/pools.json: dedicated.spotTimeoutMinutes: must be between 5 and 1440, got number 2',
    },
  ],
  [PRICES_FILE]: [
    {
      name: 'a misspelt key (emrHourley)',
      parse: () => parsePrices(pricesFile({ instanceTypes: { 'r5.4xlarge': { ...price, emrHourly: undefined, emrHourley: 0.2 } } })),
      message: /^config\/prices\.json: instanceTypes\.r5\.4xlarge\.emrHourley: unknown field; did you mean "emrHourly"\?/,
    },
    {
      name: 'a wrong type',
      parse: () => parsePrices(pricesFile({ expectedSpotDiscount: '60%' })),
      message: 'config/prices.json: expectedSpotDiscount: must be a number between 0 and 0.95, got "60%"',
    },
    {
      name: 'a missing required field',
      parse: () => parsePrices({ expectedSpotDiscount: 0.6, instanceTypes: { 'r5.4xlarge': price } }),
      message: 'config/prices.json: region: is required (a string)',
    },
    {
      name: 'an out-of-range value',
      parse: () => parsePrices(pricesFile({ instanceTypes: { 'r5.4xlarge': { ...price, ec2Hourly: -1 } } })),
      message: 'config/prices.json: instanceTypes.r5.4xlarge.ec2Hourly: must be 0 or more, got number -1',
    },
  ],
  [RULES_FILE]: [
    {
      name: 'a misspelt key (operater)',
      parse: () => parseRules({ rules: [rule({ conditions: { all: [{ fact: 'attempt', operater: 'equal', value: 1 }] } })] }),
      message:
        /^config\/rules\.json: rules\[0\]\.conditions\.all\[0\]\.operater: unknown field; did you mean "operator"\? allowed: fact, path, operator, value$/,
    },
    {
      name: 'a wrong type',
      parse: () => parseRules({ rules: [rule({ name: 7 })] }),
      message: 'config/rules.json: rules[0].name: must be a string, got number 7',
    },
    {
      name: 'a missing required field',
      parse: () => parseRules({ rules: [rule({ event: { type: 'onDemandShare', params: { share: 1 } } })] }),
      message: 'config/rules.json: rules[0].event.params.reason: is required (a string)',
    },
    {
      name: 'an out-of-range value',
      parse: () => parseRules({ rules: [rule({ event: { type: 'onDemandShare', params: { share: 2, reason: 'r' } } })] }),
      message: 'config/rules.json: rules[0].event.params.share: must be between 0 and 1, got number 2',
    },
  ],
};

describe.each(Object.entries(cases))('%s', (_file, table) => {
  it.each(table)('$name', ({ parse, message }) => {
    const actual = configError(parse);
    if (typeof message === 'string') expect(actual).toBe(message);
    else expect(actual).toMatch(message);
  });
});

/**
 * The negative control of the unknown-key cases: the same object, parsed by the same schema made lenient,
 * is accepted. So the errors above come from strictness alone, and would vanish if it were turned off.
 */
describe('unknown keys are rejected because the schemas are strict', () => {
  const controls: Array<[string, string, z.ZodObject, Record<string, unknown>]> = [
    [JOBS_FILE, 'catalogue', JobDefinitionSchema, { ...job(), catalogue: job().catalog }],
    [POOLS_FILE, 'coreshare', FleetTemplateSchema, { ...fleet(), coreshare: 0.1 }],
    [PRICES_FILE, 'emrHourley', InstancePriceSchema, { ...price, emrHourley: 0.2 }],
    [RULES_FILE, 'priorty', PlacementRuleSchema, { ...rule(), priorty: 2 }],
  ];

  it.each(controls)('%s: "%s" fails the strict schema and passes the same schema made lenient', (file, key, schema, value) => {
    expect(configError(() => parseConfig(file, schema, value))).toMatch(new RegExp(`^${file}: ${key}: unknown field`));
    expect(parseConfig(file, schema.strip(), value)).not.toHaveProperty(key);
  });
});

describe('shipped configuration', () => {
  it('loads and validates every file (golden: r5.4xlarge at the REFERENCE.md price)', () => {
    expect(loadJobs().map((j) => j.name)).toContain('denormalize-events');
    expect(loadPrices().instanceTypes['r5.4xlarge']).toMatchObject({ vcpu: 16, memoryGiB: 128, ec2Hourly: 1.008, emrHourly: 0.252 });
    expect(loadPools(loadPrices()).dedicated.task.length).toBeGreaterThanOrEqual(5);
    expect(loadRules().length).toBeGreaterThan(0);
  });
});

describe('config/jobs.json', () => {
  it('names the file, the job and the field', () => {
    expect(configError(() => parseJobs({ jobs: [{ ...job(), inputPrefix: 'events' }] }))).toBe(
      'config/jobs.json: jobs[0].inputPrefix: must be a key prefix that ends with "/" and does not start with one, such as events/, got "events"',
    );
    expect(configError(() => parseJobs({ jobs: [{ ...job(), priority: 'urgent' }] }))).toMatch(/priority: must be one of low, normal, high, got "urgent"$/);
    expect(configError(() => parseJobs({ jobs: [{ ...job(), catalog: { database: 'd', table: 't' } }] }))).toBe(
      'config/jobs.json: jobs[0].catalog.crawler: is required (a string)',
    );
  });

  it('rejects two jobs with the same name or prefix', () => {
    expect(configError(() => parseJobs({ jobs: [job(), job({ name: 'other' })] }))).toMatch(/jobs\[0\]: name or inputPrefix repeats jobs\[1\]/);
  });

  it('rejects an empty catalog and a file that is not an object', () => {
    expect(configError(() => parseJobs({ jobs: [] }))).toBe('config/jobs.json: jobs: must list at least one job');
    expect(configError(() => parseJobs([]))).toBe('config/jobs.json: (root): must be an object, got an array');
  });

  it('cuts an echoed value to 80 characters', () => {
    const message = configError(() => parseJobs({ jobs: [{ ...job(), name: 'x'.repeat(300_000) }] }));
    expect(message).toMatch(/got "x+…$/);
    expect(message.length).toBeLessThan(250);
  });

  it('rejects a __proto__ key without polluting any prototype', () => {
    const raw = JSON.parse(`{"jobs": [${JSON.stringify(job())}], "__proto__": {"polluted": true}}`);
    expect(configError(() => parseJobs(raw))).toMatch(/^config\/jobs.json: __proto__: unknown field/);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('config/jobs.json s3Trigger', () => {
  const parsed = (s3Trigger: unknown) => parseJobs({ jobs: [{ ...job(), s3Trigger }] })[0].s3Trigger;

  it('defaults to marker mode with _SUCCESS, and takes a marker name, per-object mode and its suffix', () => {
    expect(parsed(undefined)).toEqual({ mode: 'marker', marker: '_SUCCESS' });
    expect(parsed({ mode: 'marker' })).toEqual({ mode: 'marker', marker: '_SUCCESS' });
    expect(parsed({ mode: 'marker', marker: 'READY' })).toEqual({ mode: 'marker', marker: 'READY' });
    expect(parsed({ mode: 'per-object' })).toEqual({ mode: 'per-object' });
    expect(parsed({ mode: 'per-object', suffix: '.json' })).toEqual({ mode: 'per-object', suffix: '.json' });
  });

  it.each([
    ['an unknown mode', { mode: 'each' }, 'jobs[0].s3Trigger.mode: must be {"mode": "marker", "marker": "_SUCCESS"} or {"mode": "per-object"'],
    ['a misspelt field', { mode: 'marker', maker: 'READY' }, 'jobs[0].s3Trigger.maker: unknown field; did you mean "marker"? allowed: mode, marker'],
    ['a marker with a folder', { mode: 'marker', marker: 'done/_SUCCESS' }, 'jobs[0].s3Trigger.marker: must be an object name without "/"'],
    ['a suffix in marker mode', { mode: 'marker', suffix: '.json' }, 'jobs[0].s3Trigger.suffix: unknown field; allowed: mode, marker'],
    ['a wildcard in a suffix', { mode: 'per-object', suffix: '*.json' }, 'jobs[0].s3Trigger.suffix: must be an object name without "/", "*"'],
    ['no object', 'marker', 'jobs[0].s3Trigger: must be {"mode": "marker"'],
  ])('rejects %s, naming the field', (_, s3Trigger, message) => {
    expect(configError(() => parsed(s3Trigger))).toContain(`config/jobs.json: ${message}`);
  });
});

describe('config/prices.json and config/pools.json', () => {
  it('rejects an empty price list and a key that is not an instance type', () => {
    expect(configError(() => parsePrices(pricesFile({ instanceTypes: {} })))).toBe('config/prices.json: instanceTypes: must list at least one instance type');
    expect(configError(() => parsePrices(pricesFile({ instanceTypes: { huge: price } })))).toBe(
      'config/prices.json: instanceTypes.huge: key must be an EC2 instance type such as r5.4xlarge, got "huge"',
    );
  });

  it('drops a __proto__ instance type instead of letting it replace the prototype', () => {
    const parsed = parsePrices(
      JSON.parse(`{"region": "r", "expectedSpotDiscount": 0.5, "instanceTypes": {"__proto__": {"vcpu": 1}, "r5.4xlarge": ${JSON.stringify(price)}}}`),
    );
    expect(Object.getPrototypeOf(parsed.instanceTypes)).toBe(Object.prototype);
    expect(Object.keys(parsed.instanceTypes)).toEqual(['r5.4xlarge']);
  });

  it('rejects a fleet instance type without a price', () => {
    expect(configError(() => parseFleet(fleet({ task: ['r5.4xlarge', 'x9.huge'] })))).toBe(
      'config/pools.json: dedicated.task[1]: "x9.huge" has no price in config/prices.json; add it there',
    );
  });

  it('keeps the idle timeout within what EMR accepts', () => {
    expect(configError(() => parseFleet(fleet({ idleTimeoutSeconds: 30 })))).toMatch(/idleTimeoutSeconds: must be between 60 and 604800, got number 30$/);
  });

  it('rejects more than 5 primary types (the primary fleet has no allocation strategy)', () => {
    expect(configError(() => parseFleet(fleet({ primary: Array(6).fill('r5.4xlarge') })))).toBe(
      'config/pools.json: dedicated.primary: EMR allows at most 5 instance types here',
    );
  });

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
  const parseWithPools = (pools: unknown[]) => parsePools({ dedicated: fleet(), pools }, prices);

  it('validates pool entries', () => {
    expect(configError(() => parseWithPools([{ ...pool, stepConcurrencyLevel: 300 }]))).toBe(
      'config/pools.json: pools[0].stepConcurrencyLevel: must be between 1 and 256, got number 300',
    );
  });

  it('accepts a complete pool and fills the dispatcher defaults (RunJobFlow budget 0.25/s, burst 5)', () => {
    const config = parseWithPools([pool]);
    expect(config.pools[0]).toEqual(pool);
    expect(config.dispatcher).toEqual({
      leaseSeconds: 900,
      agingSecondsPerLevel: 300,
      maxWaitSeconds: 10800,
      grantTimeoutSeconds: 120,
      runJobFlowBudget: { ratePerSecond: 0.25, burst: 5 },
    });
  });

  it('rejects a misspelt pool field instead of ignoring it', () => {
    expect(configError(() => parseWithPools([{ ...pool, maxClusters: undefined, maxClusterz: 3 }]))).toMatch(
      /^config\/pools.json: pools\[0\].maxClusterz: unknown field; did you mean "maxClusters"\?/,
    );
  });

  it('rejects pool limits that contradict each other, naming the field', () => {
    expect(configError(() => parseWithPools([{ ...pool, minClusters: 4 }]))).toMatch(/pools\[0\].minClusters: must be at most maxClusters/);
    expect(configError(() => parseWithPools([{ ...pool, capacityUnits: 64 }]))).toMatch(
      /pools\[0\].capacityUnits: must be at most managedScaling.maximumUnits/,
    );
    expect(configError(() => parseWithPools([{ ...pool, stepConcurrencyLevel: 2 }]))).toMatch(
      /pools\[0\].stepConcurrencyLevel: must be at least maxJobsPerCluster/,
    );
    expect(configError(() => parseWithPools([{ ...pool, fleets: { ...pool.fleets, coreUnits: 9 } }]))).toMatch(
      /pools\[0\].fleets.coreUnits: must be at most managedScaling.minimumUnits/,
    );
    expect(configError(() => parseWithPools([pool, pool]))).toMatch(/pools\[1\].name: "shared" is used by an earlier pool/);
  });

  it('rejects a pool fleet instance type without a price, and a bad RunJobFlow budget', () => {
    expect(configError(() => parseWithPools([{ ...pool, fleets: { ...pool.fleets, task: ['x9.huge'] } }]))).toBe(
      'config/pools.json: pools[0].fleets.task[0]: "x9.huge" has no price in config/prices.json; add it there',
    );
    expect(
      configError(() => parsePools({ dedicated: fleet(), pools: [], dispatcher: { runJobFlowBudget: { ratePerSecond: 0.25, burst: 0 } } }, prices)),
    ).toMatch(/^config\/pools.json: dispatcher.runJobFlowBudget.burst: must be between 1 and 100, got number 0$/);
  });

  it('reads the AddJobFlowSteps budget, defaults it below EMR quota when absent, and names a bad one', () => {
    const budget = { ratePerSecond: 0.3, burst: 6 };
    const configured = parsePools({ dedicated: fleet(), pools: [], dispatcher: { addJobFlowStepsBudget: budget } }, prices);
    expect(addStepsBudget(configured.dispatcher)).toEqual(budget);
    // Absent: four fifths of EMR's default quota (0.5/s, burst 10), the rest for other callers.
    expect(addStepsBudget(parseWithPools([pool]).dispatcher)).toEqual({ ratePerSecond: 0.4, burst: 8 });
    expect(
      configError(() => parsePools({ dedicated: fleet(), pools: [], dispatcher: { addJobFlowStepsBudget: { ratePerSecond: 0, burst: 8 } } }, prices)),
    ).toMatch(/^config\/pools.json: dispatcher.addJobFlowStepsBudget.ratePerSecond: must be between 0.001 and 10, got number 0$/);
    expect(configError(() => parsePools({ dedicated: fleet(), pools: [], dispatcher: { addJobFlowStepsBudget: { ratePerSecond: 0.4 } } }, prices))).toMatch(
      /dispatcher.addJobFlowStepsBudget.burst/,
    );
  });
});

describe('config/rules.json', () => {
  const rules = (conditions: unknown) => ({ rules: [rule({ conditions })] });

  it('rejects a fact PlaceJob does not provide, naming the rule path', () => {
    expect(configError(() => parseRules(rules({ all: [{ ...leaf, fact: 'predictedMinute' }] })))).toMatch(
      /^config\/rules.json: rules\[0\].conditions.all\[0\].fact: must be one of predictedMinutes, .*, got "predictedMinute"$/,
    );
  });

  it('rejects a fact reference to an unknown fact and an unknown operator', () => {
    expect(configError(() => parseRules(rules({ all: [{ ...leaf, value: { fact: 'tries' } }] })))).toMatch(/conditions.all\[0\].value.fact: must be one of/);
    expect(configError(() => parseRules(rules({ any: [{ ...leaf, operator: 'approx' }] })))).toMatch(/conditions.any\[0\].operator: must be one of equal,/);
  });

  it('rejects a bare condition at the top and a misspelt group', () => {
    expect(configError(() => parseRules(rules(leaf)))).toBe(
      'config/rules.json: rules[0].conditions: must start with "all", "any" or "not", got object {"fact":"attempt","operator":"equal","value":1}',
    );
    expect(configError(() => parseRules(rules({ alll: [leaf] })))).toMatch(/^config\/rules.json: rules\[0\].conditions: must start with "all", "any" or "not"/);
  });

  it('finds a bad leaf however deep it is nested', () => {
    expect(configError(() => parseRules(rules({ all: [{ not: { any: [{ ...leaf, value: undefined }] } }] })))).toMatch(
      /^config\/rules.json: rules\[0\].conditions.all\[0\].not.any\[0\].value: must be a number, string or boolean/,
    );
  });
});
