/**
 * The planner's simulated ListSteps takes EMR's filters (StepStates, at most ten StepIds) the way the job
 * manager's settle sweep uses them, and meters one call per page. Read after a short simulated day, on the
 * clusters it ran, through the EmrPort the planner gives the job manager.
 */
import { LIST_STEPS_MAX_IDS, type StepState } from '../../../lib/contract';
import { createJobManager, type JobManagerPorts } from '../../../lib/jobManager/jobManager';
import { shippedConfig } from '../../../local/planner';
import { sizeDay } from '../../../local/planner/decisions';
import { EmrflowRun } from '../../../local/planner/emrflowRun';
import type { ClusterSim } from '../../../local/planner/poolSim';
import { generateJobs, readProfile, spotModel } from '../../../local/planner/profile';
import { Random } from '../../../local/planner/random';
import { applyWhatIf, readWhatIf } from '../../../local/planner/whatIf';

const PROFILE = 'examples/planner/day.json';
const POOLED = 'examples/planner/what-if-pooled.json';
const JOBS = 200;

let run: EmrflowRun;
let emr: JobManagerPorts['emr'];
let sim: ClusterSim;

const listStepsCalls = () => [...(run.meter.calls.get('ListSteps')?.values() ?? [])].reduce((sum, n) => sum + n, 0);

beforeAll(async () => {
  const profile = readProfile(PROFILE);
  const jobs = sizeDay(generateJobs({ ...profile, jobs: JOBS, totalInputTiB: (profile.totalInputTiB * JOBS) / profile.jobs }, 3), profile.date);
  run = new EmrflowRun(applyWhatIf(POOLED, readWhatIf(POOLED), shippedConfig()), jobs, spotModel(profile), new Random(3), () => undefined);
  run.jobManagerFactory = (ports) => {
    emr = ports.emr;
    return createJobManager(ports);
  };
  await run.run();
  const sims = [...(run as unknown as { sims: Map<string, ClusterSim> }).sims.values()];
  sim = sims.reduce((most, s) => (s.steps.length > most.steps.length ? s : most));
  // The day ended every step: one old step still running and one failed give the filters states to tell apart.
  sim.steps[3].state = 'RUNNING';
  sim.steps[60].state = 'FAILED';
}, 120_000);

describe("the planner's ListSteps", () => {
  it('ran a cluster with more than a page of steps', () => {
    expect(sim.steps.length).toBeGreaterThan(50);
  });

  it('shows exactly the steps asked for by id, one metered call', async () => {
    const ids = [sim.steps[0].id, sim.steps[sim.steps.length - 1].id, 's-NOT-THERE'];
    const before = listStepsCalls();

    const page = await emr.listSteps(sim.clusterId, { stepIds: ids });

    expect(page.steps.map((s) => s.Id).sort()).toEqual(ids.slice(0, 2).sort());
    expect(page.marker).toBeUndefined();
    expect(listStepsCalls()).toBe(before + 1);
  });

  it('shows only the live steps to a live-state filter, however old', async () => {
    const page = await emr.listSteps(sim.clusterId, { stepStates: ['PENDING', 'RUNNING', 'CANCEL_PENDING'] });

    expect(page.steps.map((s) => s.Id)).toEqual([sim.steps[3].id]);
  });

  it('pages a state filter to exactly the steps in those states, one metered call a page', async () => {
    const states: StepState[] = ['COMPLETED', 'FAILED'];
    const before = listStepsCalls();
    const seen: string[] = [];
    let marker: string | undefined;
    let pages = 0;
    do {
      const page = await emr.listSteps(sim.clusterId, { stepStates: states, marker });
      expect(page.steps.length).toBeLessThanOrEqual(50);
      seen.push(...page.steps.map((s) => s.Id));
      expect(page.steps.every((s) => states.includes(s.Status.State as StepState))).toBe(true);
      marker = page.marker;
      pages += 1;
    } while (marker);

    const expected = sim.steps.filter((s) => s.state !== 'RUNNING').map((s) => s.id);
    expect(expected).toHaveLength(sim.steps.length - 1);
    expect(expected.length).toBeGreaterThan(50);
    expect(seen.sort()).toEqual(expected.sort());
    expect(listStepsCalls()).toBe(before + pages);
  });

  it('refuses more than ten step ids with ValidationException, as EMR does (negative control: ten pass)', async () => {
    const ids = sim.steps.slice(0, LIST_STEPS_MAX_IDS + 1).map((s) => s.id);

    await expect(emr.listSteps(sim.clusterId, { stepIds: ids })).rejects.toMatchObject({ name: 'ValidationException' });
    await expect(emr.listSteps(sim.clusterId, { stepIds: ids.slice(0, LIST_STEPS_MAX_IDS) })).resolves.toMatchObject({
      steps: expect.arrayContaining([expect.objectContaining({ Id: ids[0] })]),
    });
  });

  it('without a filter, still pages newest first', async () => {
    const first = await emr.listSteps(sim.clusterId);
    const second = await emr.listSteps(sim.clusterId, { marker: first.marker });

    expect(first.steps.map((s) => s.Id)).toEqual(
      sim.steps
        .slice(-50)
        .reverse()
        .map((s) => s.id),
    );
    expect(second.steps[0].Id).toBe(sim.steps[sim.steps.length - 51].id);
  });
});
