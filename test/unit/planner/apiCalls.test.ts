import { shippedConfig } from '../../../local/planner';
import { EMR_QUOTAS, sfnQuotas } from '../../../local/planner/constants';
import { Meter } from '../../../local/planner/meter';
import { generateJobs, readProfile, spotModel } from '../../../local/planner/profile';
import { simulateDay } from '../../../local/planner/simulate';
import { applyWhatIf, readWhatIf } from '../../../local/planner/whatIf';

const PROFILE = 'examples/planner/day.json';
const POOLED = 'examples/planner/what-if-pooled.json';

describe('planner API calls: what run-job and the job manager call now', () => {
  it('counts Step Functions SendTask* calls apart from EMR and checks them against their own quotas', () => {
    const quotas = { ...EMR_QUOTAS, ...sfnQuotas('us-east-1') };
    const within = new Meter(quotas);
    within.call('ListSteps', 10);
    within.call('SendTaskHeartbeat', 10, 3000);
    const figures = within.apiFigures();
    expect(figures.peak.AllEmrCalls).toBeCloseTo(1 / 60, 3);
    expect(figures.peak.SendTaskHeartbeat).toBe(50);
    expect(figures.throttled).toEqual({});

    // Past the 3,000 burst in one second: 1,000 throttled; in another Region the bucket is 1,500.
    const past = new Meter(quotas);
    past.call('SendTaskHeartbeat', 10, 4000);
    expect(past.apiFigures().throttled).toEqual({ SendTaskHeartbeat: 1000 });
    const elsewhere = new Meter({ ...EMR_QUOTAS, ...sfnQuotas('eu-central-1') });
    elsewhere.call('SendTaskHeartbeat', 10, 2000);
    expect(elsewhere.apiFigures().throttled).toEqual({ SendTaskHeartbeat: 500 });
  });

  it('pooled steps make no .sync polling calls, one ListClusters a minute and a ListSteps sweep; dedicated clusters still poll', async () => {
    const profile = readProfile(PROFILE);
    const jobs = generateJobs({ ...profile, jobs: 300, totalInputTiB: (profile.totalInputTiB * 300) / profile.jobs }, 7);
    const base = applyWhatIf(POOLED, readWhatIf(POOLED), shippedConfig());
    // Every job fits the pool (256 units), so emrflow runs no dedicated cluster and no Spot loss is classified.
    const rules = base.rules.map((rule) =>
      rule.event.type === 'usePool'
        ? { ...rule, conditions: { all: [{ fact: 'capacityUnits' as const, operator: 'lessThanInclusive' as const, value: 256 }] } }
        : rule,
    );
    const day = await simulateDay({ jobs, runDate: profile.date, config: { ...base, rules }, spot: spotModel(profile, 0), seed: 7 });

    const emrflow = day.strategies.emrflow;
    expect(emrflow.pooledStartSeconds?.jobs).toBe(300);
    const ops = Object.keys(emrflow.peakApiCallsPerSecond);
    for (const op of ['AddJobFlowSteps', 'ListSteps', 'ListClusters', 'SendTaskSuccess', 'SendTaskHeartbeat', 'RunJobFlow']) expect(ops).toContain(op);
    for (const op of ['DescribeStep', 'DescribeCluster']) expect(ops).not.toContain(op);
    // One ListClusters page per one-minute sweep: never more than one call in any 60 s window.
    expect(emrflow.peakApiCallsPerSecond.ListClusters).toBeCloseTo(1 / 60, 3);
    // The control: one cluster per job still watches it with .sync polling.
    expect(Object.keys(day.strategies['on-demand-per-job'].peakApiCallsPerSecond)).toEqual(expect.arrayContaining(['DescribeStep', 'DescribeCluster']));
    expect(day.quotas.SendTaskHeartbeat).toEqual({ burst: 3000, perSecond: 500 });
  });
});
