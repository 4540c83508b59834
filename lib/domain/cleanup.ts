import { APP_NAME, CLUSTER_ACTIVE_STATES, DEDICATED_POOL, TAG } from '../contract';
import { InvalidRequestError } from '../errors';
import { parseLeaseId } from './pools';
import type { RunRecord } from './types';

/** An EMR cluster as the cleanup and the reaper see it: ListClusters' fields plus DescribeCluster's tags. */
export interface AppCluster {
  id: string;
  name: string;
  state: string;
  tags: Record<string, string>;
  /** Epoch milliseconds. */
  createdAt: number | null;
  /** Epoch milliseconds the cluster became WAITING with no step (idle since), when known. */
  readyAt?: number | null;
}

/** A cluster to terminate and why (every action is logged with its reason). */
export interface ClusterAction {
  clusterId: string;
  reason: string;
}

/** The end of a run-job execution, from EventBridge's "Step Functions Execution Status Change". */
export interface ExecutionEnd {
  executionArn: string;
  stateMachineArn: string;
  executionName: string;
  status: 'ABORTED' | 'TIMED_OUT' | 'FAILED';
  /** Epoch milliseconds. */
  startedAt: number;
  stoppedAt: number;
  error: string | null;
  cause: string | null;
  /** The execution's input (the trigger), when the event includes it; null otherwise. */
  input: unknown;
}

/** The run an execution was for, as NormalizeRequest made it from the same trigger; null when it cannot say. */
export interface RunOfExecution {
  job: string;
  runId: string;
}

/** A pooled run's holdings, as the cleanup found them in the registry and the queue. */
export interface PoolHoldings {
  /** Leases held (entry or lease id `execution#attempt`): the cluster and the attempt. */
  leases: Array<{ pool: string; clusterId: string; lease: string }>;
  entries: Array<{ pool: string; entryId: string }>;
}

export const EXECUTION_STATUS_CHANGE = 'Step Functions Execution Status Change';
export const CLEANUP_STATUSES = ['ABORTED', 'TIMED_OUT', 'FAILED'] as const;

/** Reads the event EventBridge delivers for an execution that ended; anything else is Request.Invalid. */
export function parseExecutionEnd(event: unknown): ExecutionEnd {
  const e = object(event, '(event)');
  if (e.source !== 'aws.states') throw new InvalidRequestError('source', `must be "aws.states", got ${JSON.stringify(e.source)}`);
  if (e['detail-type'] !== EXECUTION_STATUS_CHANGE) throw new InvalidRequestError('detail-type', `must be "${EXECUTION_STATUS_CHANGE}"`);
  const d = object(e.detail, 'detail');
  const status = d.status;
  if (!(CLEANUP_STATUSES as readonly unknown[]).includes(status)) {
    throw new InvalidRequestError('detail.status', `${JSON.stringify(status)}: only ${CLEANUP_STATUSES.join(', ')} executions are cleaned up`);
  }
  const startedAt = Number(d.startDate);
  if (!Number.isFinite(startedAt)) throw new InvalidRequestError('detail.startDate', 'must be epoch milliseconds');
  return {
    executionArn: string(d.executionArn, 'detail.executionArn'),
    stateMachineArn: string(d.stateMachineArn, 'detail.stateMachineArn'),
    executionName: string(d.name, 'detail.name'),
    status: status as ExecutionEnd['status'],
    startedAt,
    stoppedAt: Number.isFinite(Number(d.stopDate)) ? Number(d.stopDate) : startedAt,
    error: typeof d.error === 'string' ? d.error : null,
    cause: typeof d.cause === 'string' ? d.cause : null,
    input: parseInput(d.input),
  };
}

/**
 * The clusters an ended execution leaves running: this app's dedicated clusters tagged with the execution's
 * name that are still active. Pool clusters are never terminated here (their leases are released instead).
 */
export function executionClusters(end: ExecutionEnd, clusters: AppCluster[]): ClusterAction[] {
  return clusters
    .filter((c) => c.tags[TAG.app] === APP_NAME && c.tags[TAG.execution] === end.executionName)
    .filter((c) => c.tags[TAG.pool] === DEDICATED_POOL && CLUSTER_ACTIVE_STATES.has(c.state))
    .map((c) => ({
      clusterId: c.id,
      reason: `dedicated cluster of execution ${end.executionName}, which ended ${end.status}${end.error ? ` (${end.error})` : ''}; ${c.state} since no teardown ran`,
    }));
}

/**
 * An aborted or timed-out run never reaches RecordRun; its cluster's tags still say which run it was, so the
 * runs table keeps one record per run. A FAILED execution recorded itself (RecordFailedRun) or never had a cluster.
 */
export function abandonedRunRecord(end: ExecutionEnd, clusters: AppCluster[]): RunRecord | null {
  if (end.status === 'FAILED') return null;
  const own = clusters
    .filter((c) => c.tags[TAG.execution] === end.executionName && c.tags[TAG.run] && c.tags[TAG.job])
    .sort((a, b) => Number(b.tags[TAG.attempt] ?? 0) - Number(a.tags[TAG.attempt] ?? 0));
  const last = own[0];
  if (!last) return null;
  return stoppedRunRecord(end, {
    job: last.tags[TAG.job],
    runId: last.tags[TAG.run],
    attempts: Number(last.tags[TAG.attempt] ?? 1) || 1,
    clusterId: last.id,
    placementMode: 'dedicated',
    pool: null,
    failureMessage: end.cause ?? `the execution ended ${end.status}; the cleanup terminated its cluster`,
  });
}

/** The record of a run its execution's end stopped: what the cleanup knows, null for what only RecordRun measures. */
function stoppedRunRecord(
  end: ExecutionEnd,
  run: Pick<RunRecord, 'job' | 'runId' | 'attempts' | 'clusterId' | 'placementMode' | 'pool' | 'failureMessage'>,
): RunRecord {
  return {
    ...run,
    finishedAt: new Date(end.stoppedAt).toISOString(),
    execution: end.executionName,
    status: 'FAILED',
    trigger: null,
    runDate: null,
    interruptions: run.attempts - 1,
    inputBytes: null,
    capacityUnits: null,
    onDemandShare: null,
    predictedMinutes: null,
    stepId: null,
    stepSeconds: null,
    durationSeconds: Math.max(0, Math.round((end.stoppedAt - end.startedAt) / 1000)),
    estimatedCostUsd: null,
    queueWaitSeconds: null,
    costUsd: null,
    cost: null,
    failureKind: `Execution.${end.status}`,
  };
}

/** EventBridge carries the input as a JSON string (or null when it is too large to include). */
function parseInput(input: unknown): unknown {
  if (typeof input !== 'string') return null;
  try {
    return JSON.parse(input);
  } catch {
    return null;
  }
}

/**
 * An aborted or timed-out pooled run has no cluster of its own whose tags name it: its record comes from the
 * run its trigger names and the attempt its lease or queue entry carries (`execution#attempt`). Only a run
 * this execution claimed (`claimed`) or held pool capacity for is recorded: one stopped before ClaimRun ran nothing.
 */
export function pooledRunRecord(end: ExecutionEnd, run: RunOfExecution | null, holdings: PoolHoldings, claimed: boolean): RunRecord | null {
  if (end.status === 'FAILED' || !run) return null;
  const held = [
    ...holdings.leases.map((l) => ({ pool: l.pool, id: l.lease, clusterId: l.clusterId as string | null })),
    ...holdings.entries.map((e) => ({ pool: e.pool, id: e.entryId, clusterId: null })),
  ];
  if (held.length === 0 && !claimed) return null;
  const attemptOf = (id: string) => parseLeaseId(id)?.attempt ?? 1;
  const last = held.sort((a, b) => attemptOf(b.id) - attemptOf(a.id))[0] ?? null;
  return stoppedRunRecord(end, {
    job: run.job,
    runId: run.runId,
    attempts: last ? attemptOf(last.id) : 1,
    clusterId: last?.clusterId ?? null,
    placementMode: last ? 'pool' : null,
    pool: last?.pool ?? null,
    failureMessage:
      end.cause ??
      `the execution ended ${end.status}; the cleanup ${last ? `gave back its ${last.clusterId ? `lease on ${last.clusterId}` : `place in the ${last.pool} queue`}` : 'released its claim'}`,
  });
}

function object(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidRequestError(field, 'must be an object');
  return value as Record<string, unknown>;
}

function string(value: unknown, field: string): string {
  if (typeof value !== 'string' || value === '') throw new InvalidRequestError(field, 'must be a non-empty string');
  return value;
}

/**
 * The claim an aborted or timed-out run holds, so the cleanup can release it and the same trigger (or a
 * re-drive) runs again instead of stopping as a duplicate. Only the execution that made the claim may
 * release it; the run id comes from its cluster's tags or, failing those, from its trigger.
 */
export function claimToRelease(end: ExecutionEnd, clusters: AppCluster[], run: RunOfExecution | null = null): { runId: string; execution: string } | null {
  if (end.status === 'FAILED') return null;
  // A dedicated cluster's tags first; else (a pooled run, or one stopped before its cluster) the run its trigger
  // names: the claim is deleted only if this execution made it, so naming the wrong run releases nothing.
  const runId = clusters.find((c) => c.tags[TAG.execution] === end.executionName && c.tags[TAG.run])?.tags[TAG.run] ?? run?.runId;
  return runId ? { runId, execution: end.executionName } : null;
}
