import { DEFAULT_PRESCALE, learnDayShape, prelaunchClusters, prescaleMinimum, shapeRunsFromRecords, type ShapeRun } from '../../../lib/domain/prescale';

const pool = { name: 'shared', capacityUnits: 256, maxClusters: 8, maxJobsPerCluster: 32, managedScaling: { minimumUnits: 4, maximumUnits: 256 } };
const DAY = Date.UTC(2026, 0, 5);
const at = (hour: number, minute: number) => DAY + (hour * 60 + minute) * 60_000;
const options = { ...DEFAULT_PRESCALE, clusters: 2 };

/** Three days of 60 runs of 2 units each hour, started within 3 minutes of `minute` past the hour, 150 s each. */
function history(startMinute: (i: number) => number): ShapeRun[] {
  const runs: ShapeRun[] = [];
  for (let day = 0; day < 3; day++)
    for (let hour = 0; hour < 24; hour++)
      for (let i = 0; i < 60; i++)
        runs.push({ pool: 'shared', startedAtMs: DAY + day * 86_400_000 + (hour * 3600 + startMinute(i) * 60) * 1000, units: 2, seconds: 150 });
  return runs;
}

describe('pre-scaling from the day shape', () => {
  it('raises the minimum shortly before a burst at :00 each hour and lowers it after', () => {
    // Prepare
    const shape = learnDayShape(history((i) => (i % 3) as number));

    // Act
    const before = prescaleMinimum(shape, pool, at(10, 56), options);
    const during = prescaleMinimum(shape, pool, at(11, 1), options);
    const after = prescaleMinimum(shape, pool, at(11, 20), options);
    const long = prescaleMinimum(shape, pool, at(11, 40), options);

    // Assess
    expect(shape.days).toBe(3);
    expect(before.raised).toBe(true);
    expect(before.minimumUnits).toBeGreaterThan(pool.managedScaling.minimumUnits);
    expect(before.minimumUnits % DEFAULT_PRESCALE.unitStep).toBe(0);
    // One-minute buckets: the window ahead reaches the burst's peak (:02-:04) from 10:58 on; it holds through it.
    expect(prescaleMinimum(shape, pool, at(10, 58), options).minimumUnits).toBe(during.minimumUnits);
    expect(during.minimumUnits).toBeGreaterThanOrEqual(before.minimumUnits);
    expect(after).toMatchObject({ raised: false, minimumUnits: pool.managedScaling.minimumUnits });
    expect(long).toMatchObject({ raised: false, minimumUnits: pool.managedScaling.minimumUnits });
  });

  it('never raises it for work spread evenly over the hour (negative control: no burst to prepare for)', () => {
    // Prepare: the same 60 runs an hour, one a minute.
    const shape = learnDayShape(history((i) => i));

    // Act
    const minutes = [0, 10, 20, 30, 40, 50, 56].map((m) => prescaleMinimum(shape, pool, at(10, m), options));

    // Assess: about 4 units in flight all the time, under the burst threshold, so the pool's own minimum holds.
    for (const plan of minutes) expect(plan).toMatchObject({ raised: false, minimumUnits: 4 });
  });

  it('keeps the minimum within the pool limits and leaves other pools alone', () => {
    // Prepare
    const shape = learnDayShape(history((i) => (i % 3) as number));

    // Act
    const capped = prescaleMinimum(shape, { ...pool, managedScaling: { minimumUnits: 4, maximumUnits: 8 } }, at(10, 58), options);
    const other = prescaleMinimum(shape, { ...pool, name: 'other' }, at(10, 58), options);

    // Assess
    expect(capped.minimumUnits).toBe(8);
    expect(other).toMatchObject({ raised: false, predictedUnits: 0 });
  });

  it('wants clusters for a :00 burst a launch lead before it, and none once the burst has ended', () => {
    // Prepare: 60 runs of 2 units at :00-:02 each hour; a pool of 8-unit, 3-job clusters (so 120 units need 15, capped at 8).
    const shape = learnDayShape(history((i) => (i % 3) as number));
    const small = { ...pool, capacityUnits: 8, maxJobsPerCluster: 3 };
    const lead = DEFAULT_PRESCALE.launchLeadSeconds / 60;

    // Act
    const early = prelaunchClusters(shape, small, at(10, 59 - lead - 1), DEFAULT_PRESCALE);
    const ahead = prelaunchClusters(shape, small, at(10, 60 - lead + 1), DEFAULT_PRESCALE);
    const after = prelaunchClusters(shape, small, at(11, 10), DEFAULT_PRESCALE);
    const byRuns = prelaunchClusters(shape, { ...pool, maxJobsPerCluster: 20 }, at(10, 58), DEFAULT_PRESCALE);

    // Assess: 60 runs at once need 3 clusters of 20 jobs even though 120 units fit one 256-unit cluster.
    expect(early).toBe(0);
    expect(ahead).toBe(8);
    expect(after).toBe(0);
    expect(byRuns).toBe(3);
    expect(prescaleMinimum(shape, small, at(10, 58), options).clustersWanted).toBe(8);
  });

  it('wants no pre-launched cluster for work spread evenly over the hour (negative control)', () => {
    // Prepare: 60 runs an hour, one a minute, 150 s each: about 5 units at any time, the day's mean, so no burst.
    const shape = learnDayShape(history((i) => i));

    // Act
    const wanted = [0, 10, 20, 30, 40, 50, 56].map((m) => prelaunchClusters(shape, pool, at(10, m), DEFAULT_PRESCALE));

    // Assess
    expect(wanted).toEqual([0, 0, 0, 0, 0, 0, 0]);
  });

  it('pre-launches for a small burst of one-unit jobs, above one node and twice the day mean', () => {
    // Prepare: 5 one-unit runs at :00 each hour, 150 s each: 5 units for two minutes and a half, a mean of 0.2.
    const runs: ShapeRun[] = [];
    for (let hour = 0; hour < 24; hour++)
      for (let i = 0; i < 5; i++) runs.push({ pool: 'shared', startedAtMs: DAY + hour * 3_600_000, units: 1, seconds: 150 });
    const shape = learnDayShape(runs);

    // Act
    const ahead = prelaunchClusters(shape, pool, at(10, 50), DEFAULT_PRESCALE);
    const tooSmall = prelaunchClusters(shape, pool, at(10, 50), { ...DEFAULT_PRESCALE, minimumBurstUnits: 6 });

    // Assess: the same burst is noise under a 6-unit floor (negative control).
    expect(ahead).toBe(1);
    expect(tooSmall).toBe(0);
  });

  it('reads pooled runs-table records and skips runs with no pool or units', () => {
    // Act
    const runs = shapeRunsFromRecords([
      { pool: 'shared', finishedAt: '2026-01-05T10:02:30.000Z', durationSeconds: 200, stepSeconds: 150, capacityUnits: 2 },
      { pool: null, finishedAt: '2026-01-05T10:02:30.000Z', durationSeconds: 200, capacityUnits: 2 },
      { pool: 'shared', finishedAt: '2026-01-05T10:02:30.000Z', durationSeconds: 200, capacityUnits: null },
    ]);

    // Assess
    expect(runs).toEqual([{ pool: 'shared', startedAtMs: Date.parse('2026-01-05T10:00:00.000Z'), units: 2, seconds: 150 }]);
  });
});
