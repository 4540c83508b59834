import { placeJob, type PlaceJobInput } from '../../../lib/domain/placement';
import { checkRulePools, parseRules, type PlacementRule } from '../../../lib/config/rules';
import { loadRules } from '../../../lib/config/rules';
import { job, request, shippedPlacementConfig, sizing } from '../fixtures';

const shipped = shippedPlacementConfig();
const [sharedPool] = shipped.pools;
const always = { all: [{ fact: 'attempt', operator: 'greaterThanInclusive', value: 1 }] } as PlacementRule['conditions'];
const usePool = (pool: string, name = `use-${pool}`): PlacementRule => ({
  name,
  conditions: always,
  event: { type: 'usePool', params: { pool, reason: `to ${pool}` } },
});
const raise = (priority: 'low' | 'normal' | 'high'): PlacementRule => ({
  name: `raise-${priority}`,
  conditions: always,
  event: { type: 'setPriority', params: { priority, reason: priority } },
});

function input(capacityUnits: number, priority: 'low' | 'normal' | 'high' = 'normal'): PlaceJobInput {
  return {
    request: request({ job: job({ priority }) }),
    sizing: sizing({ predictedMinutes: 12, capacityUnits }),
    attempt: 1,
    executionName: 'exec-1',
  };
}

describe('pool placement (usePool, setPriority)', () => {
  it('sends a job that fits a pool cluster to the pool, asking AcquireCapacity for its units and priority', async () => {
    const placement = await placeJob(input(8), { ...shipped, rules: [usePool('shared'), ...shipped.rules] });

    expect(placement).toMatchObject({ mode: 'pool', cluster: {}, slot: null, spec: null, pool: { name: 'shared', units: 8, priority: 'normal' } });
    expect(placement.reasons).toContainEqual('use-shared: to shared');
    expect(placement.hourlyCostUsd).toBeGreaterThan(0);
    expect(placement.hourlyCostUsd).toBeLessThan(placement.onDemandHourlyCostUsd);
  });

  it('gives a job too big for any pool cluster its own cluster, and says why', async () => {
    const placement = await placeJob(input(sharedPool.capacityUnits + 1), { ...shipped, rules: [usePool('shared'), ...shipped.rules] });

    expect(placement.mode).toBe('dedicated');
    expect(placement.pool).toBeNull();
    expect(placement.spec).not.toBeNull();
    expect(placement.reasons).toContainEqual(
      expect.stringMatching(new RegExp(`^too big for pool shared \\(${sharedPool.capacityUnits + 1} units > ${sharedPool.capacityUnits} per cluster\\)`)),
    );
  });

  it('gives a job on another EMR release than the pool its own cluster', async () => {
    const placement = await placeJob(
      { ...input(8), request: request({ job: job({ releaseLabel: 'emr-6.15.0' }) }) },
      { ...shipped, rules: [usePool('shared')] },
    );

    expect(placement.mode).toBe('dedicated');
    expect(placement.reasons).toContainEqual(`pool shared runs ${sharedPool.releaseLabel}, the job needs emr-6.15.0: dedicated cluster`);
  });

  it('keeps the dedicated placement when no usePool rule fires, and skips disabled rules', async () => {
    const withoutPoolRules = shipped.rules.filter((rule) => rule.event.type !== 'usePool');
    expect((await placeJob(input(8), { ...shipped, rules: [{ ...usePool('shared'), enabled: false }, ...withoutPoolRules] })).mode).toBe('dedicated');
    // The shipped use-shared-pool rule sends a job that fits the shared pool there (run-job's pool branch is live).
    expect((await placeJob(input(8), shipped)).mode).toBe('pool');
  });

  it('takes the first usePool rule in file order, and only raises priority', async () => {
    const pools = [...shipped.pools, { ...sharedPool, name: 'other' }];
    const first = await placeJob(input(8), { ...shipped, pools, rules: [usePool('other'), usePool('shared'), ...shipped.rules] });
    expect(first.pool?.name).toBe('other');

    const raised = await placeJob(input(8, 'low'), { ...shipped, rules: [usePool('shared'), raise('normal'), raise('high')] });
    expect(raised.pool?.priority).toBe('high');
    const notLowered = await placeJob(input(8, 'high'), { ...shipped, rules: [usePool('shared'), raise('low')] });
    expect(notLowered.pool?.priority).toBe('high');
  });

  it('rejects a usePool rule naming a pool config/pools.json does not have, naming the rule field', () => {
    expect(() => checkRulePools([...shipped.rules, usePool('nope')], ['shared'])).toThrow(
      `config/rules.json: rules[${shipped.rules.length}].event.params.pool: "nope" is not a pool of config/pools.json (pools: shared)`,
    );
    expect(() =>
      checkRulePools(
        loadRules(),
        shipped.pools.map((pool) => pool.name),
      ),
    ).not.toThrow();
  });

  it('names the event field of a rule whose event is malformed', () => {
    const rule = (event: unknown) => ({ rules: [{ name: 'r', conditions: always, event }] });
    expect(() => parseRules(rule({ type: 'usePool', params: { reason: 'r' } }))).toThrow(/rules\[0\].event.params.pool: is required/);
    expect(() => parseRules(rule({ type: 'setPriority', params: { priority: 'urgent', reason: 'r' } }))).toThrow(
      /rules\[0\].event.params.priority: must be one of low, normal, high/,
    );
    expect(() => parseRules(rule({ type: 'usePools', params: {} }))).toThrow(/rules\[0\].event/);
  });
});
