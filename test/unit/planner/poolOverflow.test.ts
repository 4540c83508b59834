import { shippedConfig } from '../../../local/planner';
import { placeJobInput, placementConfig, sizeDay } from '../../../local/planner/decisions';
import { generateJobs, readProfile } from '../../../local/planner/profile';
import { placeJob } from '../../../lib/domain/placement';

/** The shipped rules (without the Serverless target: the emrflow strategy's) for a small first-attempt job. */
async function placedWith(poolWaits: Record<string, number> | undefined) {
  const profile = readProfile('examples/planner/day.json');
  const job = sizeDay(generateJobs({ ...profile, jobs: 20, totalInputTiB: 0.0002 }, 1), profile.date).find((j) => j.job.slaMinutes === 30);
  if (!job) throw new Error('the profile has no 30-minute-SLA job');
  const slack = job.job.slaMinutes - job.sizing.predictedMinutes;
  const placement = await placeJob({ ...placeJobInput(job, 1), ...(poolWaits ? { poolWaits } : {}) }, placementConfig(shippedConfig()));
  return { mode: placement.mode, slack };
}

describe("the 4-hour wait is a last resort: the shipped pool rule and the pool's predicted wait", () => {
  it('sends a job to a dedicated cluster when the pool would keep it past its SLA slack', async () => {
    // Act
    const { mode, slack } = await placedWith({ shared: 240 });

    // Assess
    expect(slack).toBeLessThan(240);
    expect(mode).toBe('dedicated');
  });

  it('keeps it on the pool when the wait fits its slack, or is shorter than a cluster start, or is unknown (negative controls)', async () => {
    // Act
    const short = await placedWith({ shared: 2 });
    const underClusterStart = await placedWith({ shared: 9 });
    const unknown = await placedWith(undefined);

    // Assess
    expect(short.mode).toBe('pool');
    expect(underClusterStart.mode).toBe('pool');
    expect(unknown.mode).toBe('pool');
  });
});
