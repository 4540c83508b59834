import { DEFAULT_PROFILE, plan, shippedConfig } from '../../../local/planner';
import { applyWhatIf } from '../../../local/planner/whatIf';

/** A 2,000-job slice of the default day (its shape, a tenth of its jobs); `npm run bench:day` runs the whole day. */
const SLICE = { profile: DEFAULT_PROFILE, jobs: 2000, seed: 1, stress: false };
/**
 * A pool too small for the day: one cluster of 32 units, 8 jobs at once on an m5.xlarge primary. (The negative
 * control used the 3-cluster pool shipped before issue 22; since clusters are pre-launched before a predicted
 * burst, that pool meets the start targets on this slice too: p50 43 s, p95 256 s. One such cluster does not.)
 */
const OLD_POOL = {
  fleets: {
    primary: ['m5.xlarge', 'm6i.xlarge', 'm5a.xlarge'],
    core: ['r5.4xlarge', 'r6i.4xlarge', 'r5a.4xlarge'],
    task: ['r5.4xlarge', 'r5a.4xlarge', 'r6i.4xlarge', 'r4.4xlarge', 'r5.2xlarge', 'r6i.2xlarge'],
    coreUnits: 4,
  },
  maxClusters: 1,
  capacityUnits: 32,
  maxJobsPerCluster: 8,
  stepConcurrencyLevel: 8,
  idleTimeoutSeconds: 900,
  managedScaling: { minimumUnits: 8, maximumUnits: 32 },
};

describe('the shipped configuration on a slice of the default day (SIMULATED)', () => {
  it('runs every job, misses no SLA and starts jobs within the targets (p50 <= 60 s, p95 <= 300 s)', async () => {
    // Act
    const { strategies } = await plan(SLICE);

    // Assess
    const emrflow = strategies.emrflow;
    expect(emrflow.ended).toEqual({ succeeded: 2000, failed: 0 });
    expect(emrflow.slaMisses).toBe(0);
    expect(emrflow.startSeconds.p50).toBeLessThanOrEqual(60);
    expect(emrflow.startSeconds.p95).toBeLessThanOrEqual(300);
  }, 120_000);

  it('misses the p95 start target with a pool too small for the day (negative control: the test can fail)', async () => {
    // Prepare
    const old = applyWhatIf('old pool', { pools: { shared: OLD_POOL }, enableRules: [], disableRules: [] }, shippedConfig());

    // Act
    const { strategies } = await plan(SLICE, old);

    // Assess
    // Its p50 meets the target since Spark's start was measured (p50 30 s: most of a slice's jobs find one of its
    // 8 slots free); its p95 (1,726 s) is the queue the burst builds behind 8 slots.
    expect(strategies.emrflow.startSeconds.p95).toBeGreaterThan(300);
  }, 120_000);
});
