import { formatPoolReports, type PoolReport } from '../../../local/poolsReport';
import { formatRunCost } from '../../../local/runCostReport';
import type { RunCost } from '../../../lib/domain/runCost';

const orchestration = { transitionsEstimate: 10, lambdaGbSecondsEstimate: 2, usd: 0.0003 };

describe('the run summary’s cost lines', () => {
  it('shows a dedicated run’s instance-hours per market and the emulated-time equivalent of what it held', () => {
    const cost: RunCost = {
      totalUsd: 0.0128,
      clusters: [
        {
          clusterId: 'j-1',
          onDemand: { instances: 3, instanceHours: 0.006, usd: 0.0076 },
          spot: { instances: 2, instanceHours: 0.004, usd: 0.0049 },
          unpricedTypes: [],
          usd: 0.0125,
        },
      ],
      pool: null,
      orchestration,
    };
    const lines = formatRunCost({ costUsd: 0.0128, cost, queueWaitSeconds: null, placementMode: 'dedicated', pool: null }, 0.01);

    expect(lines[0]).toBe('  placement: dedicated cluster');
    expect(lines[1]).toBe('  cost: $0.0128 (capacity held $0.0125 in real seconds; about $1.25 at emulated time, EMULATED clock ×0.01)');
    expect(lines[2]).toBe('    cluster j-1: On-Demand 3 instance(s) 0.006 h $0.0076, Spot 2 instance(s) 0.004 h $0.0049');
    expect(lines[3]).toMatch(/orchestration \(estimated from the path\): ~10 transitions/);
  });

  it('shows a pooled run’s queue wait and lease, and says when the cost is unknown', () => {
    const pool = { pool: 'shared', clusterId: 'j-P', units: 8, seconds: 60, unitHourlyUsd: 0.1756, usd: 0.0234 };
    const lines = formatRunCost({
      costUsd: 0.0237,
      cost: { totalUsd: 0.0237, clusters: [], pool, orchestration },
      queueWaitSeconds: 42,
      placementMode: 'pool',
      pool: 'shared',
    });

    expect(lines).toContain('  placement: pool shared, queue wait 42 s');
    expect(lines).toContain('    pool shared lease on j-P: 8 unit(s) × 60 s at $0.1756/unit-hour = $0.0234');
    expect(formatRunCost({ costUsd: null, cost: null, queueWaitSeconds: null, placementMode: 'dedicated', pool: null })[1]).toMatch(/^ {2}cost: unknown/);
    expect(formatRunCost(undefined)).toEqual([]);
  });

  it('shows a Serverless run’s application, job run and billed utilization', () => {
    const serverless = { applicationId: '00fapp', jobRunId: '00frun', billed: { vCPUHour: 0.5, memoryGBHour: 3.75, storageGBHour: 0 }, usd: 0.0385 };
    const lines = formatRunCost({
      costUsd: 0.0388,
      cost: { totalUsd: 0.0388, clusters: [], pool: null, serverless, orchestration },
      queueWaitSeconds: null,
      placementMode: 'serverless',
      pool: null,
    });

    expect(lines[0]).toBe('  placement: EMR Serverless, application 00fapp, job run 00frun');
    expect(lines).toContain('    job run 00frun billed 0.5000 vCPU-h, 3.7500 GB-h memory, 0.0000 GB-h storage = $0.0385');
  });
});

it('emrflow pools prints each pool’s unit price, leased spend and recent runs’ queue wait and cost', () => {
  const report: PoolReport = {
    pool: 'shared',
    maxClusters: 3,
    capacityUnitsPerCluster: 32,
    maxJobsPerCluster: 8,
    clustersAlive: 1,
    clusters: [{ clusterId: 'j-P', state: 'RUNNING', unitsInUse: 8, capacityUnits: 32, leases: [] }],
    queue: { depth: 0, byPriority: { high: 0, normal: 0, low: 0 }, granting: 0, oldestWaitSeconds: null },
    unitHourlyUsd: 0.1756,
    leasedHourlyUsd: 1.4,
    recentRuns: { count: 3, queueWaitSeconds: { average: 20, max: 45 }, costUsd: { average: 1.5, total: 4.5 } },
  };
  const lines = formatPoolReports([report, { ...report, pool: 'idle', recentRuns: { count: 0, queueWaitSeconds: null, costUsd: null } }]);

  expect(lines).toContain('  cost: $0.1756 per unit-hour (blended), leased units $1.40/h now');
  expect(lines).toContain('  last 3 run(s): queue wait avg 20 s, max 45 s; cost avg $1.50, total $4.50');
  expect(lines).toContain('  recent runs: none recorded');
});
