import type { PoolDefinition } from '../../../lib/config/pools';
import { learnDayShape, type ShapeRun } from '../../../lib/domain/prescale';
import type { PoolCluster } from '../../../lib/domain/pools';
import { prescalePool } from '../../../lib/jobManager/prescale';

const DAY = Date.UTC(2026, 0, 5);
const at = (hour: number, minute: number) => DAY + (hour * 60 + minute) * 60_000;
const pool = {
  name: 'shared',
  capacityUnits: 256,
  maxClusters: 8,
  maxJobsPerCluster: 16,
  managedScaling: { minimumUnits: 4, maximumUnits: 256 },
} as PoolDefinition;
const cluster = (clusterId: string, state: PoolCluster['state']) => ({ pool: 'shared', clusterId, state }) as PoolCluster;
const clusters = [cluster('j-A', 'RUNNING'), cluster('j-B', 'WAITING'), cluster('j-C', 'STARTING'), cluster('j-D', 'TERMINATED')];

function shape(startMinute: (i: number) => number) {
  const runs: ShapeRun[] = [];
  for (let hour = 0; hour < 24; hour++)
    for (let i = 0; i < 60; i++) runs.push({ pool: 'shared', startedAtMs: DAY + (hour * 3600 + startMinute(i) * 60) * 1000, units: 2, seconds: 150 });
  return learnDayShape(runs);
}

async function sweep(minute: [number, number], startMinute: (i: number) => number) {
  const calls: Array<[string, number]> = [];
  const prelaunches: number[] = [];
  const report = await prescalePool(
    {
      registry: { listClusters: async () => clusters },
      clock: { now: () => at(...minute) },
      emr: {
        setScalingMinimum: async (clusterId, _pool, units) => {
          calls.push([clusterId, units]);
        },
      },
      prelaunch: async (wanted) => {
        prelaunches.push(wanted);
        return { launched: [`j-new-${wanted}`], errors: [] };
      },
    },
    pool,
    shape(startMinute),
  );
  return { calls, prelaunches, report };
}

describe('prescalePool', () => {
  it('puts the raised minimum on every running cluster before the :00 burst, and the pool minimum back once it ends', async () => {
    // Act
    const before = await sweep([10, 56], (i) => i % 3);
    const quiet = await sweep([10, 30], (i) => i % 3);
    const ended = await sweep([11, 5], (i) => i % 3);

    // Assess: STARTING and ended clusters are left alone (a starting cluster gets its minimum once it runs).
    const raised = before.report.plan.minimumUnits;
    expect(raised).toBeGreaterThan(4);
    expect(before.calls).toEqual([
      ['j-A', raised],
      ['j-B', raised],
    ]);
    expect(quiet.calls).toEqual([]);
    expect(ended.calls).toEqual([
      ['j-A', 4],
      ['j-B', 4],
    ]);
  });

  it('makes no call when the history has no burst (negative control)', async () => {
    // Act
    const sweeps = await Promise.all(
      [[10, 46] as [number, number], [10, 56] as [number, number], [11, 0] as [number, number], [11, 5] as [number, number]].map((m) => sweep(m, (i) => i)),
    );

    // Assess
    for (const { calls, prelaunches } of sweeps) {
      expect(calls).toEqual([]);
      expect(prelaunches).toEqual([]);
    }
  });

  it('asks the job manager to pre-launch the clusters a :00 burst needs a launch lead ahead, and not once it has passed', async () => {
    // Act: 60 runs at once need 4 clusters of 16 jobs; the pool runs 2 (and starts a third, which prelaunch counts).
    const ahead = await sweep([10, 46], (i) => i % 3);
    const after = await sweep([11, 20], (i) => i % 3);

    // Assess
    expect(ahead.prelaunches).toEqual([4]);
    expect(ahead.report.launched).toEqual(['j-new-4']);
    expect(ahead.calls).toEqual([]);
    expect(after.prelaunches).toEqual([]);
  });

  it('reports a cluster that refused the policy and still sets the others', async () => {
    // Act
    const report = await prescalePool(
      {
        registry: { listClusters: async () => clusters },
        clock: { now: () => at(10, 56) },
        emr: {
          setScalingMinimum: async (clusterId) => {
            if (clusterId === 'j-A') throw Object.assign(new Error('cluster is terminating'), { name: 'ValidationException' });
          },
        },
      },
      pool,
      shape((i) => i % 3),
    );

    // Assess
    expect(report.applied).toEqual(['j-B']);
    expect(report.errors).toEqual(['j-A: ValidationException: cluster is terminating']);
  });
});
