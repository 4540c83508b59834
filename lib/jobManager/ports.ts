/**
 * What the job manager needs from the outside world besides its store: EMR, Step Functions and a clock.
 * lib/aws/poolRuntime.ts implements them with the SDK clients (a deployed Lambda, the local runtime);
 * the capacity planner implements them on its simulated EMR and virtual clock; tests use fakes.
 */
import type { PoolDefinition } from '../config/pools';
import type { PoolClusterState } from '../domain/pools';
import type { StepView } from '../domain/stepCompletion';
import type { StepState } from '../contract';
import { now } from '../clock';
import type { Slot } from '../domain/types';

export type { Slot } from '../domain/types';

/** A Spark step as AddJobFlowSteps takes it (SubmitPooledStepInput's `step`). */
export type StepDefinition = { Name?: string } & Record<string, unknown>;

/** ListSteps' paging and filters (EMR API Reference, ListSteps): the marker of the previous page, if any. */
export interface ListStepsRequest {
  marker?: string;
  stepStates?: readonly StepState[];
  stepIds?: readonly string[];
}

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
  /**
   * One ListSteps page: newest first without a filter; in no documented order with `stepStates` or `stepIds`
   * (at most LIST_STEPS_MAX_IDS of them: EMR refuses more).
   */
  listSteps(clusterId: string, request?: ListStepsRequest): Promise<{ steps: StepView[]; marker?: string }>;
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
