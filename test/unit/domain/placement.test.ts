import { placeJob, type PlaceJobInput } from '../../../lib/domain/placement';
import { planFleets } from '../../../lib/domain/fleet';
import { decidePlacement } from '../../../lib/domain/rules';
import type { PlacementRule } from '../../../lib/config/rules';
import { job, request, shippedPlacementConfig, sizing } from '../fixtures';

const config = shippedPlacementConfig();

function input(
  overrides: { predictedMinutes?: number; capacityUnits?: number; attempt?: number; priority?: 'low' | 'normal' | 'high'; maxAttempts?: number } = {},
): PlaceJobInput {
  return {
    request: request({ job: job({ priority: overrides.priority ?? 'normal', maxAttempts: overrides.maxAttempts ?? 3 }) }),
    sizing: sizing({ predictedMinutes: overrides.predictedMinutes ?? 12, capacityUnits: overrides.capacityUnits ?? 64 }),
    attempt: overrides.attempt ?? 1,
    executionName: 'denormalize-events-2026-11-26',
  };
}

describe('purchase rules (config/rules.json)', () => {
  it("puts a short job's task fleet on Spot; only the core fleet is On-Demand", async () => {
    const placement = await placeJob(input({ predictedMinutes: 12, capacityUnits: 64 }), config);

    expect(placement.spec?.task).toMatchObject({ onDemandUnits: 0, spotUnits: 56 });
    expect(placement.spec?.core).toMatchObject({ onDemandUnits: 8, spotUnits: 0 });
    expect(placement.onDemandShare).toBe(0.125);
    expect(placement.reasons).toEqual([expect.stringMatching(/^spot-for-short-jobs: /)]);
  });

  it('buys a long job On-Demand', async () => {
    const placement = await placeJob(input({ predictedMinutes: 150, capacityUnits: 64 }), config);
    expect(placement.onDemandShare).toBe(1);
    expect(placement.spec?.task.spotUnits).toBe(0);
  });

  it('buys a high-priority job On-Demand however short', async () => {
    const placement = await placeJob(input({ predictedMinutes: 5, priority: 'high' }), config);
    expect(placement.onDemandShare).toBe(1);
    expect(placement.reasons).toContainEqual(expect.stringMatching(/^on-demand-for-high-priority/));
  });

  it('grows the On-Demand share with the attempt: >= 50% on attempt 2, 100% on attempt 3', async () => {
    const shares = [];
    for (const attempt of [1, 2, 3]) shares.push((await placeJob(input({ attempt, maxAttempts: 5 }), config)).onDemandShare);

    expect(shares[0]).toBeLessThan(0.5);
    expect(shares[1]).toBeGreaterThanOrEqual(0.5);
    expect(shares[1]).toBeLessThan(1);
    expect(shares[2]).toBe(1);
  });

  it('makes the final allowed attempt all On-Demand even when it is the second', async () => {
    expect((await placeJob(input({ attempt: 2, maxAttempts: 2 }), config)).onDemandShare).toBe(1);
  });

  it("buys a quarter of a medium job's task fleet On-Demand", async () => {
    const medium = await placeJob(
      { ...input(), request: request({ job: job({ slaMinutes: 120 }) }), sizing: sizing({ predictedMinutes: 45, capacityUnits: 64 }) },
      config,
    );
    expect(medium.spec?.task).toMatchObject({ onDemandUnits: 14, spotUnits: 42 });
  });

  it('keeps half the task fleet On-Demand when the prediction uses over half the SLA', async () => {
    const placement = await placeJob(input({ predictedMinutes: 35, capacityUnits: 64 }), config);
    expect(placement.spec?.task).toMatchObject({ onDemandUnits: 28, spotUnits: 28 });
    expect(placement.onDemandShare).toBe(0.563);
  });

  it('raises the share on every retry even where the core fleet is already a third of the cluster', async () => {
    const shares = [];
    // A 12-unit job fits the shared pool; with no pool configured it gets its own (small) cluster: one 4-unit core
    // node and an 8-unit task fleet, bought in whole 2xlarge steps (0.5, 0.75, 1 of it On-Demand).
    for (const attempt of [1, 2, 3])
      shares.push((await placeJob(input({ attempt, capacityUnits: 12, predictedMinutes: 35 }), { ...config, pools: [] })).onDemandShare);

    expect(shares).toEqual([0.667, 0.833, 1]);
  });

  it('takes the highest share among the rules that fired, whatever their order', async () => {
    const rules: PlacementRule[] = [
      {
        name: 'b',
        conditions: { all: [{ fact: 'attempt', operator: 'equal', value: 1 }] },
        event: { type: 'onDemandShare', params: { share: 0.7, reason: 'b' } },
      },
      {
        name: 'a',
        conditions: { all: [{ fact: 'attempt', operator: 'equal', value: 1 }] },
        event: { type: 'onDemandShare', params: { share: 0.2, reason: 'a' } },
      },
    ];
    const facts = {
      predictedMinutes: 1,
      slaMinutes: 60,
      slaUsedShare: 0.1,
      priority: 'normal' as const,
      attempt: 1,
      maxAttempts: 3,
      capacityUnits: 8,
      inputGiB: 1,
      slaSlackMinutes: 59,
      predictedWaitMinutes: {},
      predictedCostUsd: {},
      serverlessStartTokens: 1,
    };

    expect((await decidePlacement(rules, facts)).taskOnDemandShare).toBe(0.7);
    expect((await decidePlacement([...rules].reverse(), facts)).taskOnDemandShare).toBe(0.7);
    expect(await decidePlacement(rules, { ...facts, attempt: 2 })).toMatchObject({ taskOnDemandShare: 0, reasons: [expect.stringMatching(/no rule fired/)] });
  });
});

describe('fleets', () => {
  it.each([2, 6, 8, 12, 64, 108, 256])(
    '%d units: whole instances, core+task = capacity (or one core node), core never 0/0, share never below the asked one',
    (units) => {
      for (const share of [0, 0.33, 0.5, 0.9, 1]) {
        const plan = planFleets(units, share, config.template, config.prices);
        const all = [plan.core.onDemandUnits, plan.core.spotUnits, plan.task.onDemandUnits, plan.task.spotUnits];

        // Each target is a whole number of its fleet's smallest instance (4xlarge core: 4 units; task: 2 units).
        for (const u of [plan.core.onDemandUnits, plan.core.spotUnits]) expect(u % 4).toBe(0);
        for (const u of [plan.task.onDemandUnits, plan.task.spotUnits]) expect(u % 2).toBe(0);
        for (const u of all) expect(u >= 0).toBe(true);
        expect(all.reduce((a, b) => a + b, 0)).toBe(plan.capacityUnits);
        expect(plan.capacityUnits).toBe(Math.max(units, 4));
        expect(plan.core.onDemandUnits + plan.core.spotUnits).toBeGreaterThan(0);
        expect(plan.core.spotUnits).toBe(0);
        expect(plan.onDemandShare).toBeGreaterThanOrEqual(share - 1e-9);
      }
    },
  );

  it('plans and prices a 2-unit job at the whole 4xlarge core node EMR launches for it', () => {
    const two = planFleets(2, 0, config.template, config.prices);
    const four = planFleets(4, 0, config.template, config.prices);

    // EMR fills a target "even if this results in an overage": TargetOnDemandCapacity 2 of 4-unit types is one node.
    expect(two).toMatchObject({ capacityUnits: 4, onDemandShare: 1, core: { onDemandUnits: 4, spotUnits: 0 }, task: { onDemandUnits: 0, spotUnits: 0 } });
    expect(two.hourlyCostUsd).toBe(four.hourlyCostUsd);
    expect(two.onDemandHourlyCostUsd).toBe(four.onDemandHourlyCostUsd);
  });

  it('splits a task fleet into even On-Demand and Spot targets (an odd unit would launch a whole 2xlarge)', () => {
    // 8 units: one core node and a 4-unit task fleet; three quarters of 4 is 3 units, which EMR fills with two 2xlarge.
    expect(planFleets(8, 0.75, config.template, config.prices).task).toMatchObject({ onDemandUnits: 4, spotUnits: 0 });
    expect(planFleets(8, 0.25, config.template, config.prices).task).toMatchObject({ onDemandUnits: 2, spotUnits: 2 });
  });

  it('keeps the core fleet small: one 4xlarge minimum, an eighth of the cluster, at most 32 units', () => {
    expect(planFleets(8, 0, config.template, config.prices).core.onDemandUnits).toBe(4);
    expect(planFleets(64, 0, config.template, config.prices).core.onDemandUnits).toBe(8);
    expect(planFleets(256, 0, config.template, config.prices).core.onDemandUnits).toBe(32);
  });

  it('prices Spot below On-Demand and the all-On-Demand figure at the On-Demand price', () => {
    const spot = planFleets(64, 0, config.template, config.prices);
    const onDemand = planFleets(64, 1, config.template, config.prices);

    expect(spot.hourlyCostUsd).toBeLessThan(spot.onDemandHourlyCostUsd);
    expect(onDemand.hourlyCostUsd).toBe(onDemand.onDemandHourlyCostUsd);
    expect(spot.onDemandHourlyCostUsd).toBe(onDemand.onDemandHourlyCostUsd);
    // 64 units ~ 16 r5.4xlarge at $1.26/h plus the primary: the order of magnitude must hold.
    expect(onDemand.onDemandHourlyCostUsd).toBeGreaterThan(15);
    expect(onDemand.onDemandHourlyCostUsd).toBeLessThan(25);
  });
});

describe('the dedicated cluster spec', () => {
  it('fills every RunJobFlow field the state machine reads', async () => {
    const placement = await placeJob(input({ attempt: 2 }), config);

    expect(placement).toMatchObject({ mode: 'dedicated', cluster: {}, slot: null });
    expect(placement.spec).toMatchObject({
      name: 'emrflow denormalize-events-2026-11-26 attempt 2',
      releaseLabel: 'emr-7.10.0',
      spotTimeoutMinutes: 10,
      idleTimeoutSeconds: 900,
      stepConcurrencyLevel: 1,
      configurations: [
        {
          Classification: 'spark-defaults',
          Properties: {
            'spark.executor.memory': '22g',
            'spark.executor.cores': '4',
            'spark.executor.instances': '15',
            'spark.sql.shuffle.partitions': '267',
          },
        },
      ],
    });
    expect(placement.spec?.primary.instanceTypeConfigs).toEqual([
      { InstanceType: 'm5.xlarge', WeightedCapacity: 1 },
      { InstanceType: 'm6i.xlarge', WeightedCapacity: 1 },
      { InstanceType: 'm5a.xlarge', WeightedCapacity: 1 },
    ]);
    expect(placement.spec?.task.instanceTypeConfigs).toContainEqual({ InstanceType: 'r6g.4xlarge', WeightedCapacity: 4 });
    expect(placement.spec?.task.instanceTypeConfigs).toContainEqual({ InstanceType: 'r5.2xlarge', WeightedCapacity: 2 });
    expect(placement.hourlyCostUsd).toBeGreaterThan(0);
  });

  it('tags the cluster for cleanup, the reaper (its stage only) and the EMR v2 managed service policy', async () => {
    const placement = await placeJob(input({ attempt: 2 }), config);

    expect(placement.spec?.tags).toEqual([
      { Key: 'emrflow:execution', Value: 'denormalize-events-2026-11-26' },
      { Key: 'emrflow:job', Value: 'denormalize-events' },
      { Key: 'emrflow:run', Value: 'denormalize-events-2026-11-26' },
      { Key: 'emrflow:attempt', Value: '2' },
      { Key: 'emrflow:pool', Value: 'dedicated' },
      { Key: 'emrflow:app', Value: 'emrflow' },
      { Key: 'emrflow:stage', Value: 'test' },
      { Key: 'for-use-with-amazon-emr-managed-policies', Value: 'true' },
    ]);
  });
});
