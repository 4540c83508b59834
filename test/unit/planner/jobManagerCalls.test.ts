/**
 * The capacity planner's pooled path runs the job manager the Lambdas run (lib/jobManager), not a copy: the
 * planner's day is run with a recording job manager swapped in, and every pooled attempt must have been
 * parked, granted, submitted, settled and released through it. A planner with a grant loop of its own (the
 * negative control) fails the same check.
 */
import { chooseCluster, leaseId, poolConfigHash } from '../../../lib/domain/pools';
import { createJobManager, type JobManager, type JobManagerPorts } from '../../../lib/jobManager/jobManager';
import type { Slot } from '../../../lib/jobManager/ports';
import { shippedConfig } from '../../../local/planner';
import { sizeDay } from '../../../local/planner/decisions';
import { EmrflowRun, type DecisionLog } from '../../../local/planner/emrflowRun';
import { generateJobs, readProfile, spotModel } from '../../../local/planner/profile';
import { Random } from '../../../local/planner/random';
import { applyWhatIf, readWhatIf } from '../../../local/planner/whatIf';
import { SPARK_FIRST_EXECUTOR_SECONDS, TERMINATE_SECONDS } from '../../../local/planner/constants';
import type { PoolDefinition } from '../../../lib/config/pools';
import type { StateMachineLimits } from '../../../local/planner/stateMachineLimits';

const PROFILE = 'examples/planner/day.json';
const POOLED = 'examples/planner/what-if-pooled.json';
const JOBS = 300;

interface Recording {
  calls: Record<string, number>;
  /** Slots sent to AcquireCapacity's tokens from inside a job-manager operation. */
  slotsFromJobManager: number;
}

/** The real job manager behind a proxy that counts each operation and notes which slots it sent. */
function recordingFactory(recording: Recording): (ports: JobManagerPorts) => JobManager {
  return (ports) => {
    let depth = 0;
    const sendSlot = async (token: string, slot: Slot) => {
      if (depth > 0) recording.slotsFromJobManager += 1;
      await ports.sfn.sendSlot(token, slot);
    };
    const real = createJobManager({ ...ports, sfn: { ...ports.sfn, sendSlot } });
    return new Proxy(real, {
      get(target, name: string) {
        const operation = target[name as keyof JobManager] as (...args: unknown[]) => Promise<unknown>;
        return async (...args: unknown[]) => {
          recording.calls[name] = (recording.calls[name] ?? 0) + 1;
          depth += 1;
          try {
            return await operation(...args);
          } finally {
            depth -= 1;
          }
        };
      },
    });
  };
}

async function plannerDay(
  prepare: (run: EmrflowRun) => void = () => undefined,
  whatIf = readWhatIf(POOLED),
  limits?: StateMachineLimits,
): Promise<{ run: EmrflowRun; recording: Recording; decisions: DecisionLog }> {
  const profile = readProfile(PROFILE);
  const jobs = sizeDay(generateJobs({ ...profile, jobs: JOBS, totalInputTiB: (profile.totalInputTiB * JOBS) / profile.jobs }, 3), profile.date);
  const config = { ...applyWhatIf(POOLED, whatIf, shippedConfig()), ...(limits ? { limits } : {}) };
  const run = new EmrflowRun(config, jobs, spotModel(profile), new Random(3), () => undefined);
  const recording: Recording = { calls: {}, slotsFromJobManager: 0 };
  const decisions: DecisionLog = [];
  run.decisionLog = decisions;
  run.jobManagerFactory = recordingFactory(recording);
  prepare(run);
  await run.run();
  return { run, recording, decisions };
}

/** What the day must show if every pooled attempt went through the job manager; empty when it did. */
function detours({ recording, decisions }: Awaited<ReturnType<typeof plannerDay>>): string[] {
  const { calls } = recording;
  const pooledAttempts = decisions.filter((d) => d.placement.mode === 'pool').length;
  const problems: string[] = [];
  if (pooledAttempts === 0) problems.push('no pooled attempt: the day does not exercise the pool path');
  if ((calls.acquireCapacity ?? 0) !== pooledAttempts)
    problems.push(`${pooledAttempts} pooled attempts, ${calls.acquireCapacity ?? 0} parked by the job manager`);
  // Each granted slot's RunPooledStep attaches its token to the step the dispatcher submitted (or submits it).
  const stepsWaited = (calls.submitStep ?? 0) + (calls.attachStep ?? 0);
  if (recording.slotsFromJobManager !== stepsWaited)
    problems.push(`${stepsWaited} steps submitted, ${recording.slotsFromJobManager} slots granted by the job manager`);
  if ((calls.settleStep ?? 0) !== (calls.releaseCapacity ?? 0))
    problems.push(`${calls.settleStep ?? 0} steps settled, ${calls.releaseCapacity ?? 0} leases released`);
  for (const sweep of ['dispatch', 'reconcile', 'reconcileSteps', 'observeClusterState'])
    if (!calls[sweep]) problems.push(`the job manager's ${sweep} never ran`);
  return problems;
}

describe("the planner's pooled path", () => {
  it("runs the Lambdas' job manager: park, grant, submit, settle, release and the sweeps, for every pooled attempt", async () => {
    const day = await plannerDay();

    expect(detours(day)).toEqual([]);
    expect(day.run.ended).toBe(JOBS);
    expect(day.recording.calls.acquireCapacity).toBeGreaterThan(JOBS / 2);
  }, 120_000);

  it('negative control: a planner that grants some jobs with a loop of its own fails the check', async () => {
    const day = await plannerDay((run) => {
      // A second copy of the grant (best fit, lease, deliver) that leases straight on the store when a
      // cluster has room, as the old planner did, and parks through the job manager only otherwise.
      const internals = run as unknown as {
        acquireCapacity(
          state: { job: { id: string; sizing: { capacityUnits: number } }; attempt: number },
          pool: { name: string },
          decision: unknown,
        ): Promise<void>;
        attempts: Map<string, unknown>;
        deliverSlot(token: string, slot: Slot): void;
        config: ReturnType<typeof shippedConfig>;
        now: number;
      };
      const parkThroughJobManager = internals.acquireCapacity.bind(run);
      internals.acquireCapacity = async (state, pool, decision) => {
        const definition = internals.config.pools.pools.find((p) => p.name === pool.name)!;
        const units = state.job.sizing.capacityUnits;
        const cluster = chooseCluster(await run.store.listClusters(pool.name), units, poolConfigHash(definition));
        if (!cluster) return parkThroughJobManager(state, pool, decision);
        const lease = leaseId(`${state.job.id}-exec`, state.attempt);
        const nowMs = internals.now * 1000;
        await run.store.lease(cluster, lease, { execution: `${state.job.id}-exec`, units, grantedAt: nowMs, expiresAt: nowMs + 3_600_000 });
        internals.attempts.set(lease, { state, units, pool: definition });
        (run as unknown as { parked: number }).parked += 1;
        internals.deliverSlot(lease, { pool: pool.name, clusterId: cluster.clusterId, lease, units, leaseExpiresAt: nowMs + 3_600_000 });
      };
    });

    expect(detours(day)).toEqual(
      expect.arrayContaining([expect.stringMatching(/parked by the job manager$/), expect.stringMatching(/slots granted by the job manager$/)]),
    );
  }, 120_000);

  it("fails a parked job when AcquireCapacity's timeout passes, instead of letting it wait forever", async () => {
    const shipped = await plannerDay();
    expect(shipped.run.limits.acquireCapacity.timeoutSeconds).toBe(14_400);
    // A timeout shorter than a pool cluster's start (5-10 min): the jobs parked while none is up fail.
    const limits = shipped.run.limits;
    const impatient = await plannerDay(undefined, undefined, { ...limits, acquireCapacity: { ...limits.acquireCapacity, timeoutSeconds: 60 } });
    expect(impatient.run.ended).toBe(JOBS);
    expect(impatient.run.meter.failed).toBeGreaterThan(shipped.run.meter.failed);
    // They failed waiting: parked by the job manager, never granted, so fewer steps than parks.
    expect(impatient.recording.calls.attachStep).toBeLessThan(impatient.recording.calls.acquireCapacity);
    // ...with the error run-job ends with (AcquireCapacity's Catch → Placement.NoCapacity), never unnamed.
    expect(impatient.run.meter.failures['Placement.NoCapacity']).toBeGreaterThan(0);
    expect(Object.values(impatient.run.meter.failures).reduce((a, b) => a + b, 0)).toBe(impatient.run.meter.failed);
  }, 300_000);

  it('takes a nightly spike without a job failing on AddJobFlowSteps: the dispatcher batches each cluster’s grants', async () => {
    // 200 nightly jobs in one minute: one AddJobFlowSteps per job would be past its burst of 10 and 0.5/s
    // (before batching, RunPooledStep's Retry gave some up as Emr.StepFailed).
    const profile = readProfile(PROFILE);
    const kind = profile.kinds.find((k) => k.arrival === 'nightly')!;
    const spike = sizeDay(
      generateJobs(
        { ...profile, jobs: 200, totalInputTiB: (200 * 300) / 1024 / 1024, kinds: [kind], arrivals: { ...profile.arrivals, nightlySpikeMinutes: 1 } },
        1,
      ),
      profile.date,
    );
    const base = applyWhatIf(POOLED, readWhatIf(POOLED), shippedConfig());
    const run = new EmrflowRun(base, spike, spotModel(profile), new Random(3), () => undefined);
    const recording: Recording = { calls: {}, slotsFromJobManager: 0 };
    run.jobManagerFactory = recordingFactory(recording);
    await run.run();

    expect(run.ended).toBe(spike.length);
    expect(run.meter.failed).toBe(0);
    // Every step was submitted by a dispatcher's batch: RunPooledStep only attached its token.
    expect(recording.calls.submitStep ?? 0).toBe(0);
    expect(recording.calls.attachStep).toBe(spike.length);
    const addJobFlowSteps = [...(run.meter.calls.get('AddJobFlowSteps')?.values() ?? [])].reduce((a, b) => a + b, 0);
    expect(addJobFlowSteps).toBeGreaterThan(0);
    // A park that finds room is granted (and submitted) alone; grants that queued go together.
    expect(addJobFlowSteps).toBeLessThan(spike.length / 2);
    for (const pool of base.pools.pools) for (const cluster of await run.store.listClusters(pool.name)) expect(cluster.leases).toEqual({});
  }, 300_000);

  it.each([
    ['the shipped AddJobFlowSteps budget', undefined],
    ['(negative control) a budget that never binds', { ratePerSecond: 10, burst: 100 }],
  ] as const)(
    'a nightly spike with %s: AddJobFlowSteps within EMR’s quota only with the budget',
    async (_name, budget) => {
      // 600 nightly jobs over 20 minutes, most after the clusters are up: every park dispatches, and without
      // the registry's bucket every pass sends its cluster's batch, past EMR's 0.5/s (burst 10).
      const profile = readProfile(PROFILE);
      const kind = profile.kinds.find((k) => k.arrival === 'nightly')!;
      const spike = sizeDay(
        generateJobs(
          { ...profile, jobs: 600, totalInputTiB: (600 * 300) / 1024 / 1024, kinds: [kind], arrivals: { ...profile.arrivals, nightlySpikeMinutes: 20 } },
          1,
        ),
        profile.date,
      );
      const pooled = applyWhatIf(POOLED, readWhatIf(POOLED), shippedConfig());
      const base = budget ? { ...pooled, pools: { ...pooled.pools, dispatcher: { ...pooled.pools.dispatcher, addJobFlowStepsBudget: budget } } } : pooled;
      const run = new EmrflowRun(base, spike, spotModel(profile), new Random(3), () => undefined);
      await run.run();

      expect(run.ended).toBe(spike.length);
      expect(run.meter.failed).toBe(0);
      const throttled = (run.meter.retriedCalls.AddJobFlowSteps ?? 0) + (run.meter.apiFigures().throttled.AddJobFlowSteps ?? 0);
      if (budget) expect(throttled).toBeGreaterThan(0);
      else expect(throttled).toBe(0);
    },
    300_000,
  );

  it('starts a pooled job at its first executor, once its units are provisioned, and reports step RUNNING apart', async () => {
    const { run } = await plannerDay();
    const { startSeconds, stepRunningSeconds } = run.meter;
    expect(startSeconds.length).toBeGreaterThan(0);
    expect(startSeconds).toHaveLength(stepRunningSeconds.length);
    const running = [...stepRunningSeconds].sort((a, b) => a - b);
    const started = [...startSeconds].sort((a, b) => a - b);
    started.forEach((seconds, i) => {
      expect(seconds).toBeGreaterThanOrEqual(running[i] + SPARK_FIRST_EXECUTOR_SECONDS - 1e-9);
    });
  }, 120_000);

  it('counts leased unit-hours from each grant to its release: at least the pooled work they held', async () => {
    const { run } = await plannerDay();
    const work = run.meter.pooledWorkUnitSeconds / 3600;
    expect(work).toBeGreaterThan(0);
    expect(run.meter.leasedUnitHours).toBeGreaterThanOrEqual(work);
  }, 120_000);
});

describe("finishBilling: the pool clusters alive at the last job's end", () => {
  interface BillingInternals {
    now: number;
    sims: Map<string, { pool: PoolDefinition; provisioned: number; switchedToOnDemand: boolean; costFrom: number }>;
    clusterRate(sim: unknown): { ec2: number; emr: number };
    config: { pools: { pools: PoolDefinition[] } };
  }

  /** A run whose day ended at `end` with three clusters of one pool alive since `since`; the first one is kept (minClusters 1). */
  function aliveAtEnd(run: EmrflowRun, end: number, since: number): BillingInternals {
    const internals = run as unknown as BillingInternals;
    const pool = { ...internals.config.pools.pools[0], minClusters: 1 };
    internals.now = end;
    for (const id of ['j-A', 'j-B', 'j-C'])
      internals.sims.set(id, { pool, provisioned: pool.managedScaling.minimumUnits, switchedToOnDemand: false, costFrom: since });
    return internals;
  }

  function emptyRun(): EmrflowRun {
    const profile = readProfile(PROFILE);
    const config = applyWhatIf(POOLED, readWhatIf(POOLED), shippedConfig());
    return new EmrflowRun(config, [], spotModel(profile), new Random(3), () => undefined);
  }

  /** What each cluster should cost: the kept one to the day's end, the others idle timeout + teardown past `end`, each from `end`. */
  function expectedUsd(internals: BillingInternals, end: number, since: number): number {
    return [...internals.sims.values()].reduce((sum, sim, i) => {
      const until = i < sim.pool.minClusters ? Math.max(86_400, end) : end + sim.pool.idleTimeoutSeconds + TERMINATE_SECONDS;
      const rate = internals.clusterRate(sim);
      return sum + (rate.ec2 + rate.emr) * ((until - since) / 3600);
    }, 0);
  }

  const billed = (run: EmrflowRun) => run.meter.cost.ec2 + run.meter.cost.emrUplift;

  it('bills every cluster from the same end, and leaves the clock there', () => {
    const end = 80_000;
    const since = 70_000;
    const run = emptyRun();
    const internals = aliveAtEnd(run, end, since);
    const expected = expectedUsd(internals, end, since);
    run.finishBilling();
    expect(billed(run)).toBeCloseTo(expected, 9);
    expect(internals.now).toBe(end);
  });

  it('negative control: the old loop, which moved the clock per cluster, bills each next cluster further and fails the check', () => {
    const end = 80_000;
    const since = 70_000;
    const run = emptyRun();
    const internals = aliveAtEnd(run, end, since);
    const expected = expectedUsd(internals, end, since);
    const accrue = (run as unknown as { accrue(sim: unknown): void }).accrue.bind(run);
    // The code before the fix: `this.now` moved inside the loop, so each cluster's `until` started from the last one's.
    [...internals.sims.values()].forEach((sim, i) => {
      const kept = i < sim.pool.minClusters;
      const until = kept ? Math.max(86_400, internals.now) : internals.now + sim.pool.idleTimeoutSeconds + TERMINATE_SECONDS;
      internals.now = Math.max(internals.now, until);
      accrue(sim);
    });
    expect(billed(run)).toBeGreaterThan(expected + 0.01);
  });
});
