import { stepName } from '../contract';
import { FailureKind } from '../errors';
import type { RunCost } from './runCost';
import type { Failure, JobRequest, Placement, RunRecord, Sizing } from './types';

/** The run-job execution state as RecordRun / RecordFailedRun pass it (`run.$: $`). */
export interface RunState {
  request: JobRequest;
  attempt?: number;
  sizing?: Sizing;
  placement?: Placement;
  failure?: Failure;
  error?: { Error?: string; Cause?: string };
  /** A pooled step as SettleSteps reported it to RunPooledStep's token (its timeline from EMR's events). */
  pooledStep?: { Step?: StepSummary };
}

export interface RecordRunInput {
  run: RunState;
  executionName: string;
  /** $$.Execution.StartTime, ISO 8601. */
  startedAt: string;
  /** Which path called: the success path may still carry $.failure from an earlier, retried attempt. */
  outcome: 'succeeded' | 'failed';
}

/** The run's Spark step as ListSteps reports it, when it exists. */
export interface StepSummary {
  Id?: string;
  Status?: { Timeline?: { StartDateTime?: Date | string; EndDateTime?: Date | string } };
}

/** The step name the run-job state machine gives each attempt (RunSparkStep's Name). */
export function runStepName(request: Pick<JobRequest, 'job' | 'runId'>, attempt: number): string {
  return stepName(request.job.name, request.runId, attempt);
}

/** Seconds a pooled run waited in its pool's admission queue, from the slot the dispatcher granted. */
export function queueWaitSeconds(placement: Placement | undefined): number | null {
  const slot = placement?.slot;
  if (typeof slot?.enqueuedAt !== 'number' || typeof slot.grantedAt !== 'number') return null;
  return Math.max(0, Math.round((slot.grantedAt - slot.enqueuedAt) / 1000));
}

export function buildRunRecord(input: RecordRunInput, step: StepSummary | null, now: Date, cost: RunCost | null = null): RunRecord {
  const { run } = input;
  const attempts = run.attempt ?? 1;
  const succeeded = input.outcome === 'succeeded';
  // Every retry follows a Spot interruption; a run that failed of one more counts it too.
  const interruptions = attempts - 1 + (!succeeded && run.failure?.kind === FailureKind.SpotInterrupted ? 1 : 0);
  const durationSeconds = Math.max(0, Math.round((now.getTime() - new Date(input.startedAt).getTime()) / 1000));
  const start = step?.Status?.Timeline?.StartDateTime;
  const end = step?.Status?.Timeline?.EndDateTime;
  const stepSeconds = start && end ? Math.max(0, Math.round((new Date(end).getTime() - new Date(start).getTime()) / 1000)) : null;
  const hourly = run.placement?.hourlyCostUsd;
  return {
    job: run.request.job.name,
    finishedAt: now.toISOString(),
    runId: run.request.runId,
    execution: input.executionName,
    status: succeeded ? 'SUCCEEDED' : 'FAILED',
    trigger: run.request.trigger ?? null,
    runDate: run.request.runDate ?? null,
    attempts,
    interruptions,
    inputBytes: run.sizing?.inputBytes ?? null,
    capacityUnits: run.sizing?.capacityUnits ?? null,
    onDemandShare: run.placement?.onDemandShare ?? null,
    predictedMinutes: run.sizing?.predictedMinutes ?? null,
    clusterId: run.placement?.cluster?.ClusterId ?? run.placement?.slot?.clusterId ?? run.failure?.clusterId ?? null,
    stepId: step?.Id ?? null,
    stepSeconds,
    durationSeconds,
    estimatedCostUsd: hourly === undefined ? null : Math.round(hourly * (durationSeconds / 3600) * 100) / 100,
    placementMode: run.placement?.mode ?? null,
    pool: run.placement?.pool?.name ?? run.placement?.slot?.pool ?? null,
    queueWaitSeconds: queueWaitSeconds(run.placement),
    costUsd: cost?.totalUsd ?? null,
    cost,
    failureKind: succeeded ? null : (run.failure?.kind ?? run.error?.Error ?? null),
    failureMessage: succeeded ? null : (run.failure?.message ?? run.error?.Cause ?? null),
  };
}
