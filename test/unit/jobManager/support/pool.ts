/** The small pool the job manager's tests run on (2 clusters of 8 units, 3 jobs each), and its dispatcher settings. */
import type { DispatcherSettings, PoolDefinition } from '../../../../lib/config/pools';
import type { PoolContext } from '../../../../lib/jobManager/jobManager';

export const TEST_POOL: PoolDefinition = {
  name: 'shared',
  releaseLabel: 'emr-7.10.0',
  applications: ['Spark'],
  configurations: [],
  fleets: { primary: ['m5.xlarge'], core: ['r5.4xlarge'], task: ['r5.4xlarge'], coreUnits: 4 },
  minClusters: 0,
  maxClusters: 2,
  capacityUnits: 8,
  maxJobsPerCluster: 3,
  stepConcurrencyLevel: 3,
  idleTimeoutSeconds: 900,
  managedScaling: { minimumUnits: 4, maximumUnits: 8 },
};

export const TEST_SETTINGS: DispatcherSettings = {
  leaseSeconds: 120,
  agingSecondsPerLevel: 300,
  maxWaitSeconds: 3_600,
  grantTimeoutSeconds: 60,
  runJobFlowBudget: { ratePerSecond: 0.5, burst: 10 },
};

/** The test pool with `pool` and `settings` overriding its fields. */
export function testContext(overrides: { pool?: Partial<PoolDefinition>; settings?: Partial<DispatcherSettings> } = {}): PoolContext {
  return { pool: { ...TEST_POOL, ...overrides.pool }, settings: { ...TEST_SETTINGS, ...overrides.settings } };
}
