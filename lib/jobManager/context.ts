/**
 * What every part of the job manager shares (queue, dispatch, submission, launch, release, steps): its ports,
 * the configuration-hash cache, the AddJobFlowSteps backoff and split-group numbers. One per createJobManager, as its closure was.
 */
import type { PoolDefinition } from '../config/pools';
import { TASK_TOKEN_GONE } from '../contract';
import { poolConfigHash } from '../domain/pools';
import type { DispatchReport, JobManagerPorts } from './jobManager';
import type { Clock, EmrPort, StepFunctionsPort } from './ports';
import type { RegistryStore, StepTokenStore } from './store';

/** SendTaskSuccess errors that mean the waiter is no longer there: its units go back, the entry goes. */
export const WAITER_GONE: ReadonlySet<string> = TASK_TOKEN_GONE;

export interface JobManagerContext {
  store: RegistryStore;
  stepTokens: StepTokenStore;
  emr: EmrPort;
  sfn: StepFunctionsPort;
  clock: Clock;
  /** A launch placeholder's id (random on AWS; the planner numbers them). */
  placeholderId(): string;
  /** A pool's configuration hash, computed once per definition (a SHA-256 of its JSON, on every dispatch otherwise). */
  configHashOf(pool: PoolDefinition): string;
  /** Until when batches are held back after a throttled AddJobFlowSteps (submission.ts, ADD_STEPS_BACKOFF_MS). */
  addStepsBackoffUntil: number;
  /** The last group number given to a refused batch's half (submission.ts, SPLIT_GROUPS). */
  splitGroups: number;
}

export function createContext(ports: JobManagerPorts): JobManagerContext {
  const { registry: store, stepTokens, emr, sfn, clock } = ports;
  const hashes = new WeakMap<PoolDefinition, string>();
  const configHashOf = (pool: PoolDefinition): string => {
    const known = hashes.get(pool);
    if (known !== undefined) return known;
    const hash = poolConfigHash(pool);
    hashes.set(pool, hash);
    return hash;
  };
  return { store, stepTokens, emr, sfn, clock, placeholderId: () => ports.placeholderId(), configHashOf, addStepsBackoffUntil: 0, splitGroups: 0 };
}

/** A dispatch report with nothing in it yet (a dispatch's, or pre-launch's). */
export function emptyReport(pool: string): DispatchReport {
  return { pool, granted: [], launched: [], adopted: [], expired: [], abandoned: [], queued: 0, launchFailures: [], launchFailed: [], errors: [] };
}
