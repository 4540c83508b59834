import { DEFAULT_PROFILE, plan, targets } from '../../../local/planner';
import { compareLines } from '../../../local/planner/command';

const PROFILE = 'examples/planner/day.json';
const POOLED = 'examples/planner/what-if-pooled.json';

describe('bench:day comparison (shipped config beside the what-if)', () => {
  it('prints emrflow under both configurations beside the alternatives, and the targets of each', async () => {
    const shipped = await plan({ profile: PROFILE, seed: 3, jobs: 120, stress: false });
    const whatIf = await plan({ profile: PROFILE, seed: 3, jobs: 120, stress: false, whatIf: POOLED });
    const lines = compareLines(shipped, whatIf);
    const header = lines.find((line) => line.includes('emrflow (shipped)'))!;
    expect(header).toMatch(
      /emrflow \(shipped\)\s+emrflow \(what-if\)\s+emrflow-hybrid\s+on-demand-per-job\s+spot-per-job\s+emr-serverless\s+emr-serverless-preinit\s+floor/,
    );
    expect(lines).toContain('targets (shipped):');
    expect(lines).toContain('targets (what-if):');
    const cost = lines.find((line) => line.startsWith('cost (USD/day)'))!;
    expect(cost).toContain(`$${shipped.strategies.emrflow.costUsd.toLocaleString('en-US', { minimumFractionDigits: 2 })}`);
    expect(cost).toContain(`$${whatIf.strategies.emrflow.costUsd.toLocaleString('en-US', { minimumFractionDigits: 2 })}`);
    // The alternatives read neither pools nor rules: the same figures in both runs (the note says so).
    expect(whatIf.strategies['on-demand-per-job']).toEqual(shipped.strategies['on-demand-per-job']);
    expect(lines.some((line) => line.startsWith('The alternatives read neither pools nor rules'))).toBe(true);
  });

  it('says so when the alternatives differ between the runs (negative control)', async () => {
    const shipped = await plan({ profile: PROFILE, seed: 3, jobs: 60, stress: false });
    const other = await plan({ profile: PROFILE, seed: 4, jobs: 60, stress: false, whatIf: POOLED });
    expect(compareLines(shipped, other).some((line) => line.startsWith('NOTE: the alternatives differ between the runs'))).toBe(true);
  });
});

describe("the day's targets (issue 22's beside the planner's own)", () => {
  it('passes a cost target only when the figures meet it, against the cheaper Serverless run', async () => {
    // Prepare: a small day, then the same figures with emrflow's cost moved either side of each bound.
    const day = await plan({ profile: DEFAULT_PROFILE, jobs: 200, seed: 1, stress: false });
    const serverless = Math.min(day.strategies['emr-serverless'].costUsd, day.strategies['emr-serverless-preinit'].costUsd);
    const withCost = (costUsd: number) => ({ ...day, strategies: { ...day.strategies, emrflow: { ...day.strategies.emrflow, costUsd } } });
    const pass = (result: typeof day, name: string) => targets(result, 1).find((t) => t.target === name)?.pass;
    const half = 'emrflow <= 0.5x the cheaper EMR Serverless run';

    // Assess
    expect(pass(withCost(0.5 * serverless), half)).toBe(true);
    expect(pass(withCost(0.5 * serverless + 0.01), half)).toBe(false);
    expect(targets(day, 1).map((t) => t.target)).toEqual(
      expect.arrayContaining([
        'emrflow: no failed job and no SLA miss',
        'emrflow start p50 <= 60 s and p95 <= 300 s',
        'emrflow <= 1.5x floor cost',
        'emrflow <= 0.1x on-demand-per-job cost',
        half,
      ]),
    );
  }, 120_000);
});
