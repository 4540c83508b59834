/**
 * What the job manager needs from the outside world besides its store: EMR, Step Functions and a clock.
 * lib/aws/jobManagerPorts.ts implements them with the SDK clients (a deployed Lambda, the local runtime);
 * the capacity planner implements them on its simulated EMR and virtual clock; tests use fakes.
 */
import type { PoolDefinition } from '../config/pools';
import type { PoolClusterState } from '../domain/pools';
import type { StepView } from '../domain/stepCompletion';
import { now } from '../clock';

/** A Spark step as AddJobFlowSteps takes it (SubmitPooledStepInput's `step`). */
export type StepDefinition = { Name?: string } & Record<string, unknown>;

export interface EmrPort {
  /** RunJobFlow for a new cluster of `pool`; resolves to its cluster id. */
  launchCluster(pool: PoolDefinition, configHash: string, launchId: string): Promise<string>;
  /** The cluster's state as EMR reports it now, or null when EMR does not know it. */
  describeClusterState(clusterId: string): Promise<PoolClusterState | null>;
  /** AddJobFlowSteps with one step; resolves to its step id. Errors keep `.sync`'s names (EmrApiError). */
  addStep(clusterId: string, step: StepDefinition): Promise<string>;
  /**
   * AddJobFlowSteps with several steps (a dispatcher's batch for one cluster); resolves to their step ids in
   * order. EMR adds all or none: a throttled call (EmrThrottledError) or a rejected one added nothing.
   */
  addSteps(clusterId: string, steps: StepDefinition[]): Promise<string[]>;
  /** One ListSteps page (newest first). */
  listSteps(clusterId: string, marker?: string): Promise<{ steps: StepView[]; marker?: string }>;
  /**
   * CancelSteps (TERMINATE_PROCESS) of PENDING or RUNNING steps. EMR's cancellation is idempotent but
   * asynchronous and not guaranteed, so a caller never takes the call for the step's end: it waits to see it ended.
   */
  cancelSteps(clusterId: string, stepIds: string[]): Promise<void>;
  /**
   * The cluster a launch made, found by the launch id its name carries (poolClusterName), among the clusters
   * created since `launchedAfter` (epoch ms): a RunJobFlow whose registry write never happened. Null when none.
   */
  findLaunch(pool: PoolDefinition, launchId: string, launchedAfter: number): Promise<{ clusterId: string; state: PoolClusterState } | null>;
  /** PutManagedScalingPolicy with `pool`'s limits and `minimumUnits` as MinimumCapacityUnits (./prescale.ts). */
  setScalingMinimum?(clusterId: string, pool: PoolDefinition, minimumUnits: number): Promise<void>;
}

/** What a parked execution receives through its task token (SendTaskSuccess output). */
export interface Slot {
  pool: string;
  clusterId: string;
  /** leaseId(execution, attempt): what release-capacity gives back. */
  lease: string;
  units: number;
  /** Epoch ms; past it the sweep takes the lease back, once no step of its execution may still run on the cluster. */
  leaseExpiresAt: number;
  /** Epoch ms the job was parked and the lease granted: its queue wait, and from when its units are billed. */
  enqueuedAt?: number;
  grantedAt?: number;
  /** The job's step, submitted by the dispatcher in its cluster's batch: RunPooledStep only waits for it. */
  stepId?: string;
  /** The dispatcher's AddJobFlowSteps refused this job's step: RunPooledStep fails with this error. */
  submitError?: { error: string; cause: string };
}

/**
 * Step Functions' task-token calls. Each throws an error whose name is in TASK_TOKEN_GONE when the execution
 * stopped waiting (its timeout, a stop).
 */
export interface StepFunctionsPort {
  /** SendTaskSuccess of AcquireCapacity's token with the slot. */
  sendSlot(taskToken: string, slot: Slot): Promise<void>;
  sendSuccess(taskToken: string, output: string): Promise<void>;
  sendFailure(taskToken: string, error: string, cause: string): Promise<void>;
  sendHeartbeat(taskToken: string): Promise<void>;
}

export interface Clock {
  /** Epoch ms. */
  now(): number;
  /** Waits `ms` (real time on AWS; the planner never needs it). */
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};
