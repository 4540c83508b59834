import { formatPoolReports, type PoolReport } from '../../local/poolsReport';

const report = (overrides: Partial<PoolReport> = {}): PoolReport => ({
  pool: 'shared',
  maxClusters: 3,
  capacityUnitsPerCluster: 32,
  maxJobsPerCluster: 8,
  clustersAlive: 1,
  clusters: [
    {
      clusterId: 'j-POOL1',
      state: 'RUNNING',
      unitsInUse: 12,
      capacityUnits: 32,
      leases: [{ leaseId: 'exec-1#1', execution: 'exec-1', units: 12, grantedAt: '2026-11-27T02:00:00.000Z', expiresAt: '2026-11-27T02:45:00.000Z' }],
    },
  ],
  queue: { depth: 3, byPriority: { high: 1, normal: 0, low: 2 }, granting: 0, oldestWaitSeconds: 95 },
  unitHourlyUsd: 0.1756,
  leasedHourlyUsd: 2.11,
  recentRuns: { count: 0, queueWaitSeconds: null, costUsd: null },
  ...overrides,
});

describe('emrflow pools', () => {
  it('prints each cluster with its units used of its capacity and its leases, then the queue by priority', () => {
    const lines = formatPoolReports([report()]);

    expect(lines[0]).toBe('pool shared: 1 of at most 3 cluster(s) alive, 32 units and 8 jobs per cluster');
    expect(lines.find((line) => line.includes('j-POOL1'))).toMatch(/RUNNING\s+12\/32\s+1$/);
    expect(lines).toContain('    lease exec-1#1: 12 unit(s), granted 2026-11-27T02:00:00.000Z, expires 2026-11-27T02:45:00.000Z');
    expect(lines).toContain('  queue: 3 waiting (high 1, normal 0, low 2), oldest waiting 95 s');
    expect(lines.at(-2)).toBe('  cost: $0.1756 per unit-hour (blended), leased units $2.11/h now');
  });

  it('says so when a pool has no cluster and nothing waits, and when there is no pool at all', () => {
    expect(
      formatPoolReports([
        report({ clusters: [], clustersAlive: 0, queue: { depth: 0, byPriority: { high: 0, normal: 0, low: 0 }, granting: 0, oldestWaitSeconds: null } }),
      ]).slice(1),
    ).toEqual([
      '  no clusters registered',
      '  queue: empty',
      '  cost: $0.1756 per unit-hour (blended), leased units $2.11/h now',
      '  recent runs: none recorded',
    ]);
    expect(formatPoolReports([])).toEqual(['no pools in config/pools.json: every job gets a dedicated cluster']);
  });
});
