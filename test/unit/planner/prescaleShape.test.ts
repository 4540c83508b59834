import { shippedConfig } from '../../../local/planner';
import { sizeDay } from '../../../local/planner/decisions';
import { historyShape, pooledShape } from '../../../local/planner/prescaleShape';
import { generateJobs, readProfile } from '../../../local/planner/profile';

const profile = readProfile('examples/planner/day.json');
const history = generateJobs({ ...profile, jobs: 400, totalInputTiB: (profile.totalInputTiB * 400) / profile.jobs }, 2);
const day = sizeDay(history, profile.date);
const config = shippedConfig();
const total = (row: number[]) => row.reduce((sum, value) => sum + value, 0);

describe("the planner's day shape: what the runs table would hold", () => {
  it('learns only the runs a strategy pooled, as the runs table records a pool only for those', () => {
    // Act: the same day, every job pooled, and with the odd jobs placed elsewhere (EMR Serverless in the hybrid).
    const all = pooledShape(day, config, () => true);
    const half = pooledShape(day, config, (job) => day.indexOf(job) % 2 === 0);
    const none = pooledShape(day, config, () => false);

    // Assess
    const pooledUnitSeconds = day.filter((_job, i) => i % 2 === 0).reduce((sum, job) => sum + job.sizing.capacityUnits * job.stepSeconds, 0);
    expect(total(half.units.shared) * half.bucketSeconds).toBeCloseTo(pooledUnitSeconds, 3);
    expect(total(half.units.shared)).toBeLessThan(total(all.units.shared));
    expect(none.units.shared).toBeUndefined();
  });

  it('is the all-pool shape when every job was pooled (historyShape, a first day)', () => {
    expect(pooledShape(day, config, () => true)).toEqual(historyShape(history, profile.date, config));
  });
});
