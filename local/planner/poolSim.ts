/**
 * The emrflow strategy's records (./emrflowRun, ./poolClusters): a pool cluster as EMR runs it, a run-job
 * execution between AcquireCapacity and ReleaseCapacity, their checked lookups, and the registry's invariant.
 */
import type { PoolDefinition } from '../../lib/config/pools';
import type { PlaceJobInput } from '../../lib/domain/placement';
import type { PoolCluster, PoolClusterState, QueueEntry } from '../../lib/domain/pools';
import type { Placement } from '../../lib/domain/types';
import type { Slot } from '../../lib/jobManager/ports';
import type { JobState } from './run';

/** A step running on a pool cluster; `endVersion` voids its scheduled end when an interruption ends it first. */
export interface RunningStep {
  state: JobState;
  units: number;
  startedAt: number;
  endVersion: number;
}

/** A pool cluster as EMR runs it: its state, size, steps and bill. The registry's view is the job manager's. */
export interface ClusterSim {
  clusterId: string;
  pool: PoolDefinition;
  state: PoolClusterState;
  provisioned: number;
  /** The managed-scaling minimum it holds now: the pool's, or the one prescale put (PutManagedScalingPolicy). */
  minimumUnits: number;
  switchedToOnDemand: boolean;
  running: Map<string, RunningStep>;
  waiting: Array<{ stepId: string; state: JobState; units: number; since: number }>;
  /**
   * Slots delivered whose AddJobFlowSteps has not landed yet: the step is on its way, so the cluster is not
   * idle (EMR sees no step yet; the idle timeout, far longer than a submission, would not fire either).
   */
  submitting: number;
  scaleOutPending: boolean;
  scaleInPending: boolean;
  peakSinceScaleIn: number;
  costFrom: number;
  idleSince: number | null;
  interruptVersion: number;
  /** Every step AddJobFlowSteps put on the cluster, oldest first: what ListSteps pages through (newest first). */
  steps: Array<{ id: string; name: string; state: 'PENDING' | 'RUNNING' | 'COMPLETED' | 'FAILED' }>;
  stepIndex: Map<string, number>;
}

/** A run-job execution between AcquireCapacity and ReleaseCapacity: its lease id is its task tokens' key. */
export interface PooledAttempt {
  state: JobState;
  units: number;
  pool: PoolDefinition;
  slot?: Slot;
  /** When the slot was delivered (the lease's grant): leased unit-hours run from here to its release. */
  grantedAt?: number;
}

/** RunPooledStep's task token is its lease id with this suffix; AcquireCapacity's is the lease id itself. */
export const STEP_TOKEN_SUFFIX = '/step';

/** The slot a pooled attempt was delivered: it has one from deliverSlot on, and only then runs or releases. */
export function slotOf(attempt: PooledAttempt): Slot {
  if (!attempt.slot) throw new Error(`pooled attempt of ${attempt.state.job.id} has no slot yet`);
  return attempt.slot;
}

export function runningStep(sim: ClusterSim, stepId: string): RunningStep {
  const run = sim.running.get(stepId);
  if (!run) throw new Error(`step ${stepId} is not running on ${sim.clusterId}`);
  return run;
}

export function stepRecord(sim: ClusterSim, stepId: string): ClusterSim['steps'][number] {
  const index = sim.stepIndex.get(stepId);
  if (index === undefined) throw new Error(`step ${stepId} was never added to ${sim.clusterId}`);
  return sim.steps[index];
}

export function named(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

/** `registry`: per pool, the clusters and queue place-job would have read (emrflow-hybrid, whose rules read predictedWaitMinutes). */
export type DecisionLog = Array<{
  input: PlaceJobInput;
  placement: Placement;
  registry?: Record<string, { clusters: PoolCluster[]; queue: QueueEntry[] }>;
  /** The StartJobRun budget's answer, when the placement asked it for a token (emrflow-hybrid). */
  startToken?: boolean;
}>;

/**
 * The registry's invariant after every grant: the leases' units add up to unitsInUse, which never passes the
 * cluster's capacityUnits, and no more jobs than maxJobs hold a lease.
 */
export function assertLeaseInvariant(cluster: PoolCluster): void {
  const leased = Object.values(cluster.leases).reduce((sum, lease) => sum + lease.units, 0);
  const jobs = Object.keys(cluster.leases).length;
  if (leased !== cluster.unitsInUse || cluster.unitsInUse > cluster.capacityUnits || jobs > cluster.maxJobs) {
    throw new Error(
      `conservation: cluster ${cluster.clusterId} leases ${leased} units (unitsInUse ${cluster.unitsInUse}) of ${cluster.capacityUnits} to ${jobs} of ${cluster.maxJobs} jobs`,
    );
  }
}

export function roundUp(value: number, step: number): number {
  return Math.ceil(value / step) * step;
}
