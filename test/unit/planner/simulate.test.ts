import { lambdaContext } from '../functions/env';
import { handler } from '../../../functions/place-job/handler';
import { plan, shippedConfig } from '../../../local/planner';
import { summaryObject } from '../../../local/planner/command';
import { assertLeaseInvariant, type DecisionLog } from '../../../local/planner/emrflowRun';
import { generateJobs, parseProfile, readProfile, spotModel } from '../../../local/planner/profile';
import { STRATEGIES, simulateDay } from '../../../local/planner/simulate';
import { readFileSync } from 'node:fs';
import { queuedTotalsOf, type PoolCluster } from '../../../lib/domain/pools';
import { applyWhatIf } from '../../../local/planner/whatIf';
import { PLANNER_STAGE } from '../../../local/planner/decisions';

// The handler tags dedicated clusters with its deployment's stage; here it runs as the planner's.
process.env.STAGE = PLANNER_STAGE;

const PROFILE = 'examples/planner/day.json';
const SMALL = 500;
/** The pooled configuration, so the pool code (queue, leases, scaling) runs in these tests. */
const POOLED = 'examples/planner/what-if-pooled.json';

/** Everything but the wall time, which is the one figure that may differ between identical runs. */
function figures(result: Awaited<ReturnType<typeof plan>>) {
  const { wallSeconds: _wall, targets, ...rest } = summaryObject(result);
  return { ...rest, targets: targets.slice(1) };
}

/**
 * lib/aws/registry as place-job reads it (readPool: a pool's clusters and queued totals), over what the
 * simulator's registry held at a decision: the totals derived from its entries, so a replay also checks that
 * the in-memory store kept its totals equal to its waiting entries.
 */
function registryRead(held: () => NonNullable<DecisionLog[number]['registry']>) {
  return {
    readPool: async (_dynamo: unknown, _tables: unknown, pool: string) => ({ clusters: held()[pool].clusters, queued: queuedTotalsOf(held()[pool].queue) }),
  };
}

/** The StartJobRun budget as the simulator's registry answered it at a decision; asked where the simulator did not ask, it fails. */
function budgetRead(answer: () => boolean | undefined) {
  return {
    ...jest.requireActual('../../../lib/aws/apiBudget'),
    takeApiTokens: async () => {
      const token = answer();
      if (token === undefined) throw new Error('the handler asked the StartJobRun budget where the simulator did not');
      return token ? 1 : 0;
    },
  };
}

describe('capacity planner (simulated day, small profile)', () => {
  let first: Awaited<ReturnType<typeof plan>>;

  beforeAll(async () => {
    first = await plan({ profile: PROFILE, seed: 42, jobs: SMALL, stress: false, whatIf: POOLED });
  });

  it('gives the same figures for the same seed, and different ones for another seed', async () => {
    const again = await plan({ profile: PROFILE, seed: 42, jobs: SMALL, stress: false, whatIf: POOLED });
    const other = await plan({ profile: PROFILE, seed: 43, jobs: SMALL, stress: false, whatIf: POOLED });

    expect(figures(again)).toEqual(figures(first));
    expect(figures(other)).not.toEqual(figures(first));
  });

  it('ends every job exactly once in every strategy and reports each strategy the issue names', () => {
    expect(Object.keys(first.strategies).sort()).toEqual([...STRATEGIES].sort());
    expect(first.strategies.emrflow.pooledStartSeconds?.jobs).toBeGreaterThan(SMALL / 2);
    for (const name of STRATEGIES) {
      const { ended, completion } = first.strategies[name];
      expect([name, ended.succeeded + ended.failed]).toEqual([name, SMALL]);
      expect(completion).toBeCloseTo(ended.succeeded / SMALL, 4);
    }
  });

  it('prices the floor below every strategy that runs clusters, and one On-Demand cluster per job above emrflow', () => {
    const { floor, emrflow } = first.strategies;
    expect(floor.costToFloor).toBe(1);
    for (const name of ['emrflow', 'on-demand-per-job', 'spot-per-job'] as const) expect(first.strategies[name].costUsd).toBeGreaterThan(floor.costUsd);
    expect(first.strategies['on-demand-per-job'].costUsd).toBeGreaterThan(emrflow.costUsd);
    expect(first.strategies['on-demand-per-job'].launches).toBe(SMALL);
  });

  it('makes the same placement decisions as the place-job handler reading the same registry, retries included', async () => {
    // The emrflow strategy is PlaceJob without the Serverless target: the handler runs the shipped rules with the
    // useServerless ones off, and reads each pool's clusters and queue as the simulator's registry held them.
    const rulesFile = JSON.parse(readFileSync('config/rules.json', 'utf8')) as { rules: Array<{ name: string; event: { type: string } }> };
    const noServerless = { ...rulesFile, rules: rulesFile.rules.map((rule) => (rule.event.type === 'useServerless' ? { ...rule, enabled: false } : rule)) };
    let registry: NonNullable<DecisionLog[number]['registry']> = {};
    let startToken: boolean | undefined;
    let registryHandler: typeof handler | undefined;
    jest.isolateModules(() => {
      jest.doMock('../../../config/rules.json', () => noServerless);
      jest.doMock('../../../lib/aws/registry', () => registryRead(() => registry));
      jest.doMock('../../../lib/aws/apiBudget', () => budgetRead(() => startToken));
      registryHandler = (require('../../../functions/place-job/handler') as { handler: typeof handler }).handler;
    });
    const profile = readProfile(PROFILE);
    // 1,000x the profile's bytes per job: right-sized small jobs (2-4 units) run wholly on the On-Demand core fleet
    // and are never interrupted, so only jobs big enough for a Spot task fleet can be retried (15 of these 150).
    const jobs = generateJobs({ ...profile, jobs: 150, totalInputTiB: (1000 * profile.totalInputTiB * 150) / profile.jobs }, 5);
    const decisions: DecisionLog = [];
    // A Spot model far past any Advisor band, so that retries (attempt 2, 3) are among the decisions.
    const shipped = shippedConfig();
    const config = { ...shipped, rules: shipped.rules.map((rule) => (rule.event.type === 'useServerless' ? { ...rule, enabled: false } : rule)) };
    await simulateDay({ jobs, runDate: profile.date, config, spot: spotModel(profile, 400), seed: 5, decisionLog: decisions });

    expect(decisions.length).toBeGreaterThanOrEqual(150);
    expect(decisions.some((d) => d.input.attempt > 1)).toBe(true);
    const env = { clusters: process.env.CLUSTER_REGISTRY_TABLE, queue: process.env.ADMISSION_QUEUE_TABLE };
    process.env.CLUSTER_REGISTRY_TABLE = 'clusters';
    process.env.ADMISSION_QUEUE_TABLE = 'queue';
    // place-job reuses a registry read for two seconds: each replayed decision comes well after the last.
    let clock = Date.now();
    const now = jest.spyOn(Date, 'now').mockImplementation(() => (clock += 10_000));
    try {
      for (const { input, placement, registry: read, startToken: answered } of decisions) {
        registry = read!;
        startToken = answered;
        expect(await registryHandler!(input, lambdaContext)).toEqual(placement);
      }
    } finally {
      now.mockRestore();
      process.env.CLUSTER_REGISTRY_TABLE = env.clusters;
      process.env.ADMISSION_QUEUE_TABLE = env.queue;
      if (env.clusters === undefined) delete process.env.CLUSTER_REGISTRY_TABLE;
      if (env.queue === undefined) delete process.env.ADMISSION_QUEUE_TABLE;
    }
  });

  it('makes the same pooled decisions as the handler when both run with the pool rule on', async () => {
    // As above, the emrflow strategy is PlaceJob without the Serverless target: the useServerless rules are off on
    // both sides (this handler reads no registry, so a rule on the pool's predicted wait would see none).
    const rulesFile = JSON.parse(readFileSync('config/rules.json', 'utf8')) as { rules: Array<{ name: string; enabled?: boolean; event: { type: string } }> };
    const pooledRules = {
      ...rulesFile,
      rules: rulesFile.rules.map((rule) =>
        rule.name === 'use-shared-pool' ? { ...rule, enabled: true } : rule.event.type === 'useServerless' ? { ...rule, enabled: false } : rule,
      ),
    };
    let pooledHandler: typeof handler | undefined;
    jest.isolateModules(() => {
      jest.doMock('../../../config/rules.json', () => pooledRules);
      pooledHandler = (require('../../../functions/place-job/handler') as { handler: typeof handler }).handler;
    });
    const profile = readProfile(PROFILE);
    const jobs = generateJobs({ ...profile, jobs: 100, totalInputTiB: (profile.totalInputTiB * 100) / profile.jobs }, 6);
    const serverlessRules = rulesFile.rules.filter((rule) => rule.event.type === 'useServerless').map((rule) => rule.name);
    const whatIf = { description: 'pool rule on', pools: {}, enableRules: ['use-shared-pool'], disableRules: serverlessRules };
    const decisions: DecisionLog = [];
    await simulateDay({
      jobs,
      runDate: profile.date,
      config: applyWhatIf('test', whatIf, shippedConfig()),
      spot: spotModel(profile, 400),
      seed: 6,
      decisionLog: decisions,
    });

    expect(decisions.some((d) => d.placement.mode === 'pool')).toBe(true);
    for (const { input, placement } of decisions) expect(await pooledHandler!(input, lambdaContext)).toEqual(placement);
  });

  it('makes the same emrflow-hybrid decisions as the place-job handler reading the same registry, Serverless ones included', async () => {
    // The handler reads each pool's clusters and queue from the registry tables: here, what the simulator's registry held at each decision.
    let registry: NonNullable<DecisionLog[number]['registry']> = {};
    let startToken: boolean | undefined;
    let registryHandler: typeof handler | undefined;
    // The handler's pool has the what-if's one cluster at most too (its predicted waits read maxClusters).
    const poolsFile = JSON.parse(readFileSync('config/pools.json', 'utf8')) as { pools: Array<{ name: string; maxClusters: number }> };
    // One small cluster (8 jobs, 32 units): the shipped 64-job cluster takes this 150-job day without a queue.
    const small = { maxClusters: 1, capacityUnits: 32, maxJobsPerCluster: 8, stepConcurrencyLevel: 8, managedScaling: { minimumUnits: 2, maximumUnits: 32 } };
    const onePool = { ...poolsFile, pools: poolsFile.pools.map((pool) => (pool.name === 'shared' ? { ...pool, ...small } : pool)) };
    // The shipped rules: an earlier test's doMock of config/rules.json outlives its isolateModules.
    const shippedRules = JSON.parse(readFileSync('config/rules.json', 'utf8')) as unknown;
    jest.isolateModules(() => {
      jest.doMock('../../../config/rules.json', () => shippedRules);
      jest.doMock('../../../config/pools.json', () => onePool);
      jest.doMock('../../../lib/aws/registry', () => registryRead(() => registry));
      jest.doMock('../../../lib/aws/apiBudget', () => budgetRead(() => startToken));
      registryHandler = (require('../../../functions/place-job/handler') as { handler: typeof handler }).handler;
    });
    const profile = readProfile(PROFILE);
    const jobs = generateJobs({ ...profile, jobs: 150, totalInputTiB: (1000 * profile.totalInputTiB * 150) / profile.jobs }, 5);
    // One small shared-pool cluster at most: its queue soon predicts a wait past some jobs' SLA slack, and the
    // shipped overflow-to-serverless rule sends them to EMR Serverless.
    const whatIf = { description: 'one pool cluster', pools: { shared: small }, enableRules: [], disableRules: [] };
    const config = applyWhatIf('test', whatIf, shippedConfig());
    const decisions: DecisionLog = [];
    await simulateDay({ jobs, runDate: profile.date, config, spot: spotModel(profile, 400), seed: 5, hybridDecisionLog: decisions });

    const modes = new Set(decisions.map((d) => d.placement.mode));
    expect([...modes].sort()).toEqual(['dedicated', 'pool', 'serverless']);
    expect(decisions.some((d) => d.placement.mode === 'serverless' && d.placement.reasons.some((r) => r.startsWith('overflow-to-serverless')))).toBe(true);
    // Its Serverless placements asked the StartJobRun budget: the replay gives the handler the same answers.
    expect(decisions.some((d) => d.startToken !== undefined)).toBe(true);
    const env = { clusters: process.env.CLUSTER_REGISTRY_TABLE, queue: process.env.ADMISSION_QUEUE_TABLE };
    process.env.CLUSTER_REGISTRY_TABLE = 'clusters';
    process.env.ADMISSION_QUEUE_TABLE = 'queue';
    // place-job reuses a registry read for two seconds: each replayed decision comes well after the last.
    let clock = Date.now();
    const now = jest.spyOn(Date, 'now').mockImplementation(() => (clock += 10_000));
    try {
      for (const { input, placement, registry: read, startToken: answered } of decisions) {
        registry = read!;
        startToken = answered;
        expect(await registryHandler!(input, lambdaContext)).toEqual(placement);
      }
    } finally {
      now.mockRestore();
      process.env.CLUSTER_REGISTRY_TABLE = env.clusters;
      process.env.ADMISSION_QUEUE_TABLE = env.queue;
      if (env.clusters === undefined) delete process.env.CLUSTER_REGISTRY_TABLE;
      if (env.queue === undefined) delete process.env.ADMISSION_QUEUE_TABLE;
    }
  });

  it('disagrees with the handler when the simulator is given other rules (negative control)', async () => {
    const profile = readProfile(PROFILE);
    const jobs = generateJobs({ ...profile, jobs: 20, totalInputTiB: 0.01 }, 5);
    const config = shippedConfig();
    // Other rules: no pool, and every dedicated cluster all On-Demand; the handler runs the shipped ones.
    const otherRules = config.rules.map((rule) =>
      rule.event.type === 'usePool'
        ? { ...rule, enabled: false }
        : rule.event.type === 'onDemandShare'
          ? { ...rule, event: { ...rule.event, params: { ...rule.event.params, share: 1 } } }
          : rule,
    );
    const decisions: DecisionLog = [];
    await simulateDay({ jobs, runDate: profile.date, config: { ...config, rules: otherRules }, spot: spotModel(profile), seed: 5, decisionLog: decisions });

    const handled = await Promise.all(decisions.map((d) => handler(d.input, lambdaContext)));
    expect(handled.some((placement, i) => JSON.stringify(placement) !== JSON.stringify(decisions[i].placement))).toBe(true);
  });

  it('refuses a registry state where leases pass a cluster’s units or its job slots (the conservation guard)', () => {
    const cluster = (leases: Record<string, number>, overrides: Partial<PoolCluster> = {}): PoolCluster => ({
      pool: 'shared',
      clusterId: 'j-1',
      state: 'RUNNING',
      configHash: 'h',
      capacityUnits: 32,
      maxJobs: 2,
      unitsInUse: Object.values(leases).reduce((a, b) => a + b, 0),
      leases: Object.fromEntries(Object.entries(leases).map(([id, units]) => [id, { execution: id, units, grantedAt: 0, expiresAt: 1 }])),
      launchedAt: 0,
      version: 1,
      ...overrides,
    });
    expect(() => assertLeaseInvariant(cluster({ a: 16, b: 16 }))).not.toThrow();
    expect(() => assertLeaseInvariant(cluster({ a: 24, b: 16 }))).toThrow('conservation');
    expect(() => assertLeaseInvariant(cluster({ a: 8, b: 8, c: 8 }))).toThrow('conservation');
    expect(() => assertLeaseInvariant(cluster({ a: 8 }, { unitsInUse: 4 }))).toThrow('conservation');
  });

  it('rejects a profile field it does not know, naming the file and the field', () => {
    const raw = { ...readProfile(PROFILE), jobz: 10 };
    expect(() => parseProfile('my-day.json', raw)).toThrow(/my-day\.json.*jobz/);
    expect(() => parseProfile('my-day.json', { ...readProfile(PROFILE), spot: { ...readProfile(PROFILE).spot, defaultBand: '30%' } })).toThrow(
      /spot\.defaultBand/,
    );
  });

  it('generates the profile’s volume with a heavy tail: the biggest tenth of jobs carries most of the bytes', () => {
    const profile = readProfile(PROFILE);
    const jobs = generateJobs({ ...profile, jobs: 2000, totalInputTiB: 0.4 }, 9);
    const bytes = jobs.map((j) => j.inputBytes).sort((a, b) => b - a);
    const total = bytes.reduce((a, b) => a + b, 0);
    expect(total / 1024 ** 4).toBeCloseTo(0.4, 3);
    expect(bytes.slice(0, 200).reduce((a, b) => a + b, 0) / total).toBeGreaterThan(0.5);
    // The nightly spike: the 02:00 hour receives far more jobs than an average hour.
    const at2 = jobs.filter((j) => j.arrival >= 7200 && j.arrival < 10800).length;
    expect(at2).toBeGreaterThan((2 * jobs.length) / 24);
  });
});
