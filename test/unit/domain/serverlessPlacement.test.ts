import fc from 'fast-check';
import { loadServerlessConfig } from '../../../lib/config/serverless';
import { classifyFailure } from '../../../lib/domain/failure';
import { placeJob, placeJobWithinStartBudget, type PlaceJobInput, type PlacementConfig } from '../../../lib/domain/placement';
import {
  CLUSTER_START_MINUTES,
  planJobRunReap,
  predictedPoolWaitMinutes,
  predictedPoolWaits,
  serverlessClientToken,
  sparkSubmitParts,
} from '../../../lib/domain/serverless';
import { workerSizeProblem } from '../../../lib/domain/serverlessWorkers';
import type { Placement } from '../../../lib/domain/types';
import { keepsSmallJobsOnThePool, POOL_GROWTH_SERVERLESS_RULE, smallJobsStayOnThePool } from '../../../local/runner/poolRules';
import { job, request, shippedPlacementConfig, sizing } from '../fixtures';

const STEP_ARGS = [
  'spark-submit',
  '--deploy-mode',
  'cluster',
  '--conf',
  'spark.executor.memory=22g',
  '--conf',
  'spark.sql.shuffle.partitions=64',
  's3://artifacts/spark/denormalize.py',
  '--input',
  's3://raw/events/dt=2026-11-26/',
  '--output',
  's3://artifacts/out/',
];
const config: PlacementConfig = { ...shippedPlacementConfig(), serverless: loadServerlessConfig() };

/** A 16-unit job (fits one shared-pool cluster) predicted at 12 of its 30 SLA minutes: 18 minutes of slack. */
function input(poolWaits: Record<string, number> | undefined, overrides: { attempt?: number } = {}): PlaceJobInput {
  return {
    request: request({ job: job({ slaMinutes: 30 }) }),
    sizing: sizing({ capacityUnits: 16, predictedMinutes: 12, stepArgs: STEP_ARGS }),
    attempt: overrides.attempt ?? 1,
    executionName: 'denormalize-events-2026-11-26',
    poolWaits,
  };
}

describe('placement on EMR Serverless under the shipped rules (config/rules.json)', () => {
  it("overflows to Serverless when the pool's predicted wait exceeds the job's SLA slack", async () => {
    const placement = await placeJob(input({ shared: 19 }), config);

    expect(placement.mode).toBe('serverless');
    expect(placement.reasons).toContainEqual(expect.stringMatching(/^overflow-to-serverless: /));
    expect(placement.pool).toBeNull();
    expect(placement.spec).toBeNull();
    expect(placement.serverless).toMatchObject({
      application: 'spark',
      clientToken: 'denormalize-events-2026-11-26-a1',
      entryPoint: 's3://artifacts/spark/denormalize.py',
      entryPointArguments: ['--input', 's3://raw/events/dt=2026-11-26/', '--output', 's3://artifacts/out/'],
      executionTimeoutMinutes: 36,
    });
    // The job's own tuning goes along; YARN's deploy mode and the executor sizes do not (EMR Serverless sizes workers).
    expect(placement.serverless!.sparkSubmitParameters).toContain('--conf spark.sql.shuffle.partitions=64');
    expect(placement.serverless!.sparkSubmitParameters).not.toMatch(/deploy-mode|spark\.executor\.memory=22g/);
    expect(workerSizeProblem(placement.serverless!.workers.executor)).toBeNull();
    expect(placement.serverless!.predictedCostUsd).toBeGreaterThan(0);
  });

  it("overflows to Serverless past the rule's bound on the predicted wait even when the slack is longer", async () => {
    // The bound as config/rules.json ships it (re-measured with npm run bench:day), not a copy of it.
    const overflow = config.rules.find((rule) => rule.name === 'overflow-to-serverless');
    const conditions = overflow?.conditions as { all?: Array<{ any?: Array<{ value: unknown }> }> } | undefined;
    const any = conditions?.all?.[0]?.any ?? [];
    const bound = any.map((condition) => condition.value).find((value): value is number => typeof value === 'number');
    expect(bound).toBeGreaterThan(0);
    const long = (wait: number) => ({ ...input({ shared: wait }), request: request({ job: job({ slaMinutes: 240 }) }) });
    expect((await placeJob(long((bound ?? 0) + 1), config)).mode).toBe('serverless');
    expect((await placeJob(long(bound ?? 0), config)).mode).toBe('pool');
  });

  it('waits in the pool when the wait fits in the slack, or when nothing is known of the pool', async () => {
    expect((await placeJob(input({ shared: 18 }), config)).mode).toBe('pool');
    expect((await placeJob(input({ shared: 0 }), config)).mode).toBe('pool');
    expect((await placeJob(input(undefined), config)).mode).toBe('pool');
  });

  it('negative control: with the overflow rule disabled, the same job is not sent to Serverless', async () => {
    const withoutOverflow = config.rules.map((rule) => (rule.name === 'overflow-to-serverless' ? { ...rule, enabled: false } : rule));
    // The pool-wait check of use-shared-pool still sees a wait past the slack: the next target is a dedicated cluster.
    expect((await placeJob(input({ shared: 49 }), { ...config, rules: withoutOverflow })).mode).toBe('dedicated');

    // With that check gone too (the rules before either existed), the same job waits in the pool.
    const poolOnly = withoutOverflow.map((rule) =>
      rule.name === 'use-shared-pool'
        ? { ...rule, conditions: { all: (rule.conditions as { all: unknown[] }).all.filter((c) => !JSON.stringify(c).includes('predictedWaitMinutes')) } }
        : rule,
    );
    const placement: Placement = await placeJob(input({ shared: 49 }), { ...config, rules: poolOnly as typeof config.rules });
    expect(placement.mode).toBe('pool');
    expect(placement.pool?.name).toBe('shared');
  });

  it('does not send a small job to Serverless when its share of the pool is cheaper (default prices)', async () => {
    const placement = await placeJob({ ...input({ shared: 0 }), sizing: sizing({ capacityUnits: 4, predictedMinutes: 10, stepArgs: STEP_ARGS }) }, config);
    expect(placement.mode).toBe('pool');
  });

  describe('a small job (2 units, 2 of its 60 SLA minutes: far from any overflow bound)', () => {
    const small = (wait: number): PlaceJobInput => ({
      ...input({ shared: wait }),
      request: request({ job: job({ slaMinutes: 60 }) }),
      sizing: sizing({ capacityUnits: 2, predictedMinutes: 2, stepArgs: STEP_ARGS }),
    });

    it('goes to Serverless under the shipped rules when no ready pool cluster has room for it (a cold pool must grow)', async () => {
      // The shipped file switches the rule on (issue 23: the planner's best day), not this test.
      expect(config.rules.find((rule) => rule.name === POOL_GROWTH_SERVERLESS_RULE)?.enabled).not.toBe(false);

      const coldPool = await placeJob(small(CLUSTER_START_MINUTES), config);

      expect(coldPool.mode).toBe('serverless');
      expect(coldPool.reasons).toContainEqual(expect.stringMatching(new RegExp(`^${POOL_GROWTH_SERVERLESS_RULE}: `)));
      expect(coldPool.serverless?.application).toBe('spark');
    });

    it('goes to Serverless only while the StartJobRun budget gives it a token; without one it waits for the pool to grow', async () => {
      const tokens = [true, false];
      const taken: boolean[] = [];
      const takeStartToken = async () => {
        const token = tokens.shift() ?? false;
        taken.push(token);
        return token;
      };

      const first = await placeJobWithinStartBudget(small(CLUSTER_START_MINUTES), config, takeStartToken);
      const second = await placeJobWithinStartBudget(small(CLUSTER_START_MINUTES), config, takeStartToken);
      const warmPool = await placeJobWithinStartBudget(small(0), config, takeStartToken);

      expect(first.mode).toBe('serverless');
      expect(second.mode).toBe('pool');
      expect(second.reasons.some((reason) => reason.startsWith(POOL_GROWTH_SERVERLESS_RULE))).toBe(false);
      // A pool placement takes no token: the budget was asked twice, for the two Serverless decisions.
      expect(warmPool.mode).toBe('pool');
      expect(taken).toEqual([true, false]);
    });

    it('overflow past the SLA slack still goes to Serverless without a token (its StartJobRun Retry waits a throttle out)', async () => {
      const overflowing = await placeJobWithinStartBudget(input({ shared: 19 }), config, async () => false);

      expect(overflowing.mode).toBe('serverless');
      expect(overflowing.reasons).toContainEqual(expect.stringMatching(/^overflow-to-serverless: /));
    });

    it('stays on the pool under the shipped rules when a ready cluster has room for it (predicted wait 0)', async () => {
      const placement = await placeJob(small(0), config);

      expect(placement.mode).toBe('pool');
      expect(placement.pool?.name).toBe('shared');
    });

    it("negative control: with the pool tests' override (smallJobsStayOnThePool), the same job on the cold pool waits for the pool to grow", async () => {
      const placement = await placeJob(small(CLUSTER_START_MINUTES), { ...config, rules: smallJobsStayOnThePool(config.rules) });

      expect(placement.mode).toBe('pool');
      expect(placement.reasons.some((reason) => reason.startsWith(POOL_GROWTH_SERVERLESS_RULE))).toBe(false);
    });

    it('the override switches that one rule off and leaves the overflow rules on: a wait past the bound still overflows', async () => {
      const rules = smallJobsStayOnThePool(config.rules);

      expect(rules.filter((rule, i) => rule.enabled !== config.rules[i].enabled).map((rule) => rule.name)).toEqual([POOL_GROWTH_SERVERLESS_RULE]);
      expect((await placeJob(small(60), { ...config, rules })).reasons).toContainEqual(expect.stringMatching(/^overflow-to-serverless: /));
    });

    it('the override refuses rules without that rule (a rename would otherwise make it a silent no-op)', () => {
      const renamed = config.rules.map((rule) => (rule.name === POOL_GROWTH_SERVERLESS_RULE ? { ...rule, name: 'renamed' } : rule));

      expect(() => smallJobsStayOnThePool(renamed)).toThrow(new RegExp(`no rule "${POOL_GROWTH_SERVERLESS_RULE}"`));
      expect(keepsSmallJobsOnThePool(config.rules)).toBe(false);
      expect(keepsSmallJobsOnThePool(smallJobsStayOnThePool(config.rules))).toBe(true);
    });
  });

  it('gives each attempt its own client token, and the same one to every retry of an attempt', () => {
    expect(serverlessClientToken('run-1', 1)).toBe(serverlessClientToken('run-1', 1));
    expect(serverlessClientToken('run-1', 2)).not.toBe(serverlessClientToken('run-1', 1));
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 80 }), fc.integer({ min: 1, max: 99 }), (name, attempt) => {
        const token = serverlessClientToken(name, attempt);
        expect(token).toMatch(/^[A-Za-z0-9._-]{1,64}$/);
        expect(token.endsWith(`-a${attempt}`)).toBe(true);
      }),
    );
    // Names that clean up the same still get different tokens (the hash of the real name).
    expect(serverlessClientToken('a b', 1)).not.toBe(serverlessClientToken('a_b', 1));
  });

  it('splits spark-submit arguments into options, script and its arguments', () => {
    expect(sparkSubmitParts(['spark-submit', '--conf', 'a=b', 's3://x/job.py', '--date', 'd'])).toEqual({
      entryPoint: 's3://x/job.py',
      entryPointArguments: ['--date', 'd'],
      options: ['--conf', 'a=b'],
    });
    expect(() => sparkSubmitParts(['spark-submit', '--conf', 'a=b'])).toThrow(/no script/);
  });
});

describe('predicted wait in a pool (from the registry: queued units vs capacity)', () => {
  const cluster = (unitsInUse: number, state = 'RUNNING') => ({ state: state as never, capacityUnits: 32, unitsInUse });
  const base = { maxClusters: 2, clusterCapacityUnits: 32, units: 8, priority: 'normal' as const, typicalJobMinutes: 20 };

  it('is zero when free units cover the queue ahead and the job', () => {
    expect(predictedPoolWaitMinutes({ ...base, clusters: [cluster(16)], queue: [{ units: 8, priority: 'normal' }] })).toBe(0);
  });

  it('is a cluster start when the pool may still launch one', () => {
    expect(predictedPoolWaitMinutes({ ...base, clusters: [cluster(32)], queue: [] })).toBe(CLUSTER_START_MINUTES);
  });

  it('grows with the queue ahead once the pool is at its maximum; lower-priority entries are not ahead', () => {
    const full = [cluster(32), cluster(32)];
    const short = predictedPoolWaitMinutes({ ...base, clusters: full, queue: [{ units: 8, priority: 'normal' }] });
    const long = predictedPoolWaitMinutes({ ...base, clusters: full, queue: Array.from({ length: 20 }, () => ({ units: 8, priority: 'normal' as const })) });
    const behind = predictedPoolWaitMinutes({ ...base, clusters: full, queue: Array.from({ length: 20 }, () => ({ units: 8, priority: 'low' as const })) });

    expect(short).toBe(5);
    expect(long).toBe(52.5);
    expect(behind).toBe(2.5);
  });

  it('counts job slots too: a cluster with free units but every slot leased (maxJobs) has no room now', () => {
    const leases = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`lease-${i}`, {} as never]));
    const slotsFull = { ...cluster(8), maxJobs: 4, leases: leases(4) };
    expect(predictedPoolWaitMinutes({ ...base, maxClusters: 1, clusters: [slotsFull], queue: [] })).toBe(5);
    // Negative control: the same cluster with a slot free (or with no slot limit known) starts the job now.
    expect(predictedPoolWaitMinutes({ ...base, maxClusters: 1, clusters: [{ ...slotsFull, leases: leases(3) }], queue: [] })).toBe(0);
    expect(predictedPoolWaitMinutes({ ...base, maxClusters: 1, clusters: [cluster(8)], queue: [] })).toBe(0);
  });

  it('predicts no wait for a pool whose clusters are smaller than the job (it never gets a lease there, so no overflow rule fires on it)', () => {
    const pools = [{ name: 'shared', maxClusters: 2, capacityUnits: 32 }];
    const registry = { shared: { clusters: [cluster(32)], queue: [] } };
    const job = { executionName: 'e', priority: 'normal' as const, predictedMinutes: 20 };
    expect(predictedPoolWaits(pools, registry, { ...job, units: 40 })).toEqual({});
    // Negative control: a job that fits a cluster gets the pool's wait.
    expect(predictedPoolWaits(pools, registry, { ...job, units: 32 })).toEqual({ shared: CLUSTER_START_MINUTES });
  });

  it('adds the queue that even the clusters it may launch cannot hold to the cluster start', () => {
    // One cluster full, room for one more (32 units): 40 units queued ahead + 8 → 16 units beyond, over 64 units.
    const queue = Array.from({ length: 5 }, () => ({ units: 8, priority: 'normal' as const }));
    expect(predictedPoolWaitMinutes({ ...base, clusters: [cluster(32)], queue })).toBe(CLUSTER_START_MINUTES + 5);
    // Negative control: a queue the launch covers waits for the launch only.
    expect(predictedPoolWaitMinutes({ ...base, clusters: [cluster(32)], queue: queue.slice(0, 3) })).toBe(CLUSTER_START_MINUTES);
  });
});

describe('classifying a Serverless failure (no Spot, nothing to tear down)', () => {
  const failedJobRun = (stateDetails: string) => ({
    Error: 'States.TaskFailed',
    Cause: JSON.stringify({ jobRun: { jobRunId: '00fjob', state: 'FAILED', stateDetails } }),
  });
  const serverlessPlacement = { mode: 'serverless', cluster: {}, slot: null } as unknown as Placement;
  const classify = (error: { Error: string; Cause: string }, attempt = 1) =>
    classifyFailure({ error, attempt, maxAttempts: 3, placement: serverlessPlacement, clusterId: null, observation: { apiErrors: [] } });

  it('places a job run that could not get its workers again, after a backoff', () => {
    const failure = classify(failedJobRun('Job failed: ApplicationMaxCapacityExceeded: workers could not be allocated'));
    expect(failure).toMatchObject({
      kind: 'EmrServerless.CapacityExceeded',
      retry: true,
      nextAttempt: 2,
      backoffSeconds: 60,
      teardown: 'none',
      clusterId: null,
    });
  });

  it('fails a job run that ran and failed, without retrying (the control: not every failure is capacity)', () => {
    const failure = classify(failedJobRun('Job failed, ExitCode: 1. Last few exceptions: ValueError: bad row'));
    expect(failure).toMatchObject({ kind: 'EmrServerless.JobRunFailed', retry: false, teardown: 'none' });
    expect(failure.message).toMatch(/00fjob.*ValueError/);
  });

  it('gives up on capacity after the last attempt', () => {
    expect(classify(failedJobRun('ApplicationMaxCapacityExceeded'), 3)).toMatchObject({ kind: 'EmrServerless.CapacityExceeded', retry: false });
  });
});

describe('the reaper and EMR Serverless job runs', () => {
  const run = (jobRunId: string, tags: Record<string, string>, ageSeconds = 3600) => ({
    applicationId: '00fapp',
    jobRunId,
    name: 'job r1 attempt 1',
    state: 'RUNNING',
    createdAt: 10_000_000 - ageSeconds * 1000,
    tags,
  });

  it('cancels a job run whose execution has ended; keeps the young, the untagged and those of running executions', () => {
    const plan = planJobRunReap(
      [
        run('ended', { 'emrflow:execution': 'e1' }),
        run('live', { 'emrflow:execution': 'e2' }),
        run('young', { 'emrflow:execution': 'e1' }, 10),
        run('foreign', {}),
      ],
      { e1: 'ABORTED', e2: 'RUNNING' },
      10_000_000,
      300,
    );

    expect(plan.cancel.map((r) => r.jobRunId)).toEqual(['ended']);
    expect(plan.keep.map((r) => [r.jobRunId, r.reason])).toEqual([
      ['live', 'execution e2 is RUNNING'],
      ['young', 'younger than the grace period'],
      ['foreign', "no emrflow:execution tag: not run-job's"],
    ]);
  });
});
