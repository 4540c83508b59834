/**
 * What the EMR Serverless API answers (botocore's emr-serverless 2021-07-13 shapes) for the emulator's
 * applications and job runs: Application / ApplicationSummary and JobRun / JobRunSummary share their fields
 * here, once; pagination and timestamps as the API takes them.
 */
import type { StepExecutor } from '../events';
import type { SparkRun } from '../emr/spark';
import { billedUtilization, type JobWorkers } from '../../../lib/domain/serverlessWorkers';
import { validation } from './restJson';

/** Job run states that are not final (a CancelJobRun applies, the application cannot stop). */
export const JOB_RUN_ACTIVE: ReadonlySet<string> = new Set(['SUBMITTED', 'PENDING', 'SCHEDULED', 'RUNNING', 'CANCELLING', 'QUEUED']);

export interface Application {
  applicationId: string;
  name?: string;
  arn: string;
  releaseLabel: string;
  type: string;
  state: string;
  stateDetails?: string;
  initialCapacity?: Record<string, unknown>;
  maximumCapacity?: { cpu: string; memory: string; disk?: string };
  createdAt: number;
  updatedAt: number;
  tags: Record<string, string>;
  autoStartConfiguration: { enabled: boolean };
  autoStopConfiguration: { enabled: boolean; idleTimeoutMinutes: number };
  architecture: string;
  clientToken: string;
  timer?: NodeJS.Timeout;
  idleTimer?: NodeJS.Timeout;
}

export interface JobRunRecord {
  applicationId: string;
  jobRunId: string;
  name?: string;
  arn: string;
  state: string;
  stateDetails: string;
  executionRole: string;
  releaseLabel: string;
  createdAt: number;
  updatedAt: number;
  startedAt?: number;
  endedAt?: number;
  jobDriver: { sparkSubmit: { entryPoint: string; entryPointArguments?: string[]; sparkSubmitParameters?: string } };
  configurationOverrides?: Record<string, unknown>;
  tags: Record<string, string>;
  executionTimeoutMinutes?: number;
  clientToken: string;
  workers: JobWorkers;
  executor?: StepExecutor;
  billedSeconds: number;
  timer?: NodeJS.Timeout;
  spark?: SparkRun;
}

/** The fields an ApplicationSummary (ListApplications) and an Application (GetApplication) share. */
function applicationCommon(app: Application) {
  return {
    ...(app.name ? { name: app.name } : {}),
    arn: app.arn,
    releaseLabel: app.releaseLabel,
    type: app.type,
    state: app.state,
    ...(app.stateDetails ? { stateDetails: app.stateDetails } : {}),
    createdAt: app.createdAt,
    updatedAt: app.updatedAt,
    architecture: app.architecture,
  };
}

export function applicationSummary(app: Application): unknown {
  return { id: app.applicationId, ...applicationCommon(app) };
}

export function applicationView(app: Application): unknown {
  return {
    applicationId: app.applicationId,
    ...applicationCommon(app),
    ...(app.initialCapacity ? { initialCapacity: app.initialCapacity } : {}),
    ...(app.maximumCapacity ? { maximumCapacity: app.maximumCapacity } : {}),
    tags: app.tags,
    autoStartConfiguration: app.autoStartConfiguration,
    autoStopConfiguration: app.autoStopConfiguration,
  };
}

/** The fields a JobRunSummary (ListJobRuns) and a JobRun (GetJobRun) share; attempt is always 1 (no job run retries). */
function jobRunCommon(run: JobRunRecord, accountId: string) {
  return {
    applicationId: run.applicationId,
    ...(run.name ? { name: run.name } : {}),
    arn: run.arn,
    createdBy: `arn:aws:iam::${accountId}:root`,
    createdAt: run.createdAt,
    updatedAt: run.updatedAt,
    executionRole: run.executionRole,
    state: run.state,
    stateDetails: run.stateDetails || run.state,
    releaseLabel: run.releaseLabel,
    mode: 'BATCH',
    attempt: 1,
    attemptCreatedAt: run.createdAt,
    attemptUpdatedAt: run.updatedAt,
  };
}

export function jobRunSummary(run: JobRunRecord, accountId: string): unknown {
  return { id: run.jobRunId, ...jobRunCommon(run, accountId), type: 'Spark' };
}

export function jobRunView(run: JobRunRecord, accountId: string): unknown {
  const ended = !JOB_RUN_ACTIVE.has(run.state);
  const utilization = billedUtilization(run.workers, run.billedSeconds);
  const ran = run.startedAt !== undefined;
  return {
    jobRunId: run.jobRunId,
    ...jobRunCommon(run, accountId),
    ...(run.configurationOverrides ? { configurationOverrides: run.configurationOverrides } : {}),
    jobDriver: { sparkSubmit: Object.fromEntries(Object.entries(run.jobDriver.sparkSubmit).filter(([, v]) => v !== undefined)) },
    tags: run.tags,
    ...(ended && ran
      ? { totalResourceUtilization: utilization, billedResourceUtilization: utilization, totalExecutionDurationSeconds: Math.round(run.billedSeconds) }
      : {}),
    ...(run.executionTimeoutMinutes !== undefined ? { executionTimeoutMinutes: run.executionTimeoutMinutes } : {}),
    ...(run.startedAt !== undefined ? { startedAt: run.startedAt } : {}),
    ...(run.endedAt !== undefined ? { endedAt: run.endedAt } : {}),
  };
}

export function timestampParam(text: string | null): number | undefined {
  if (!text) return undefined;
  const asNumber = Number(text);
  if (Number.isFinite(asNumber)) return asNumber;
  const parsed = Date.parse(text);
  if (Number.isNaN(parsed)) throw validation(`Invalid timestamp ${text}.`);
  return parsed / 1000;
}

export function paginate<T>(items: T[], query: URLSearchParams): { page: T[]; nextToken?: string } {
  const maxText = query.get('maxResults');
  const max = maxText === null ? 50 : Number(maxText);
  if (!Number.isInteger(max) || max < 1 || max > 50) throw validation('maxResults must be between 1 and 50.');
  const start = Number(query.get('nextToken') ?? 0);
  if (!Number.isInteger(start) || start < 0) throw validation('The nextToken is not valid.');
  const page = items.slice(start, start + max);
  return { page, ...(start + max < items.length ? { nextToken: String(start + max) } : {}) };
}
