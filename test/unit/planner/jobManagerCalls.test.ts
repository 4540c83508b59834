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

async function plannerDay(prepare: (run: EmrflowRun) => void = () => undefined, whatIf = readWhatIf(POOLED), limits?: StateMachineLimits): Promise<{ run: EmrflowRun; recording: Recording; decisions: DecisionLog }> {
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
  if ((calls.park ?? 0) !== pooledAttempts) problems.push(`${pooledAttempts} pooled attempts, ${calls.park ?? 0} parked by the job manager`);
  if (recording.slotsFromJobManager !== (calls.submitStep ?? 0)) problems.push(`${calls.submitStep ?? 0} steps submitted, ${recording.slotsFromJobManager} slots granted by the job manager`);
  if ((calls.settleStep ?? 0) !== (calls.release ?? 0)) problems.push(`${calls.settleStep ?? 0} steps settled, ${calls.release ?? 0} leases released`);
  for (const sweep of ['dispatch', 'reconcile', 'reconcileSteps', 'observeClusterState']) if (!calls[sweep]) problems.push(`the job manager's ${sweep} never ran`);
  return problems;
}

describe("the planner's pooled path", () => {
  it("runs the Lambdas' job manager: park, grant, submit, settle, release and the sweeps, for every pooled attempt", async () => {
    const day = await plannerDay();

    expect(detours(day)).toEqual([]);
    expect(day.run.ended).toBe(JOBS);
    expect(day.recording.calls.park).toBeGreaterThan(JOBS / 2);
  }, 120_000);

  it('negative control: a planner that grants some jobs with a loop of its own fails the check', async () => {
    const day = await plannerDay((run) => {
      // A second copy of the grant (best fit, lease, deliver) that leases straight on the store when a
      // cluster has room, as the old planner did, and parks through the job manager only otherwise.
      const internals = run as unknown as {
        acquireCapacity(state: { job: { id: string; sizing: { capacityUnits: number } }; attempt: number }, pool: { name: string }, decision: unknown): Promise<void>;
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

    expect(detours(day)).toEqual(expect.arrayContaining([expect.stringMatching(/parked by the job manager$/), expect.stringMatching(/slots granted by the job manager$/)]));
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
    expect(impatient.recording.calls.submitStep).toBeLessThan(impatient.recording.calls.park);
  }, 300_000);
});
