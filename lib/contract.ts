/**
 * The strings that cross components — between the state machine, the Lambdas, the local runtime and the
 * emulator. Each is defined here once and imported everywhere else; a test fails if one is redefined.
 */

/** EMR cluster states (DescribeCluster `Status.State`), in lifecycle order. */
export const CLUSTER_STATES = ['STARTING', 'BOOTSTRAPPING', 'RUNNING', 'WAITING', 'TERMINATING', 'TERMINATED', 'TERMINATED_WITH_ERRORS'] as const;
export type ClusterState = (typeof CLUSTER_STATES)[number];
export const CLUSTER_ENDED_STATES: ReadonlySet<string> = new Set<ClusterState>(['TERMINATED', 'TERMINATED_WITH_ERRORS']);
/** States in which a cluster exists and bills: TERMINATING is neither active nor ended. */
export const CLUSTER_ACTIVE_STATES: ReadonlySet<string> = new Set<ClusterState>(['STARTING', 'BOOTSTRAPPING', 'RUNNING', 'WAITING']);
/** States of a cluster that has been asked for but cannot run steps yet. */
export const CLUSTER_STARTING_STATES: ReadonlySet<string> = new Set<ClusterState>(['STARTING', 'BOOTSTRAPPING']);
/** A cluster on its way out: it still exists but takes no new work. */
export const CLUSTER_TERMINATING_STATE = 'TERMINATING';
/** States in which a cluster accepts and runs steps. */
export const CLUSTER_READY_STATES: ReadonlySet<string> = new Set<ClusterState>(['RUNNING', 'WAITING']);
/**
 * How EMR's AddJobFlowSteps refuses a cluster that can take no step (a ValidationException: it adds steps
 * only in STARTING, BOOTSTRAPPING, RUNNING or WAITING): one shutting down or ended, and one it no longer knows.
 */
export const EMR_CLUSTER_ENDED_REFUSALS = {
  ended: 'A job flow that is shutting down, terminated, or finished may not be modified.',
  unknown: 'Specified job flow ID does not exist.',
} as const;

/** EMR step states (DescribeStep `Status.State`). */
export const STEP_ENDED_STATES: ReadonlySet<string> = new Set(['COMPLETED', 'CANCELLED', 'FAILED', 'INTERRUPTED']);
export const STEP_UNSUCCESSFUL_STATES: ReadonlySet<string> = new Set(['CANCELLED', 'FAILED', 'INTERRUPTED']);
/** Steps that ended without running to their end: cancelled, or interrupted by their cluster. */
export const STEP_CANCELLED_STATES: ReadonlySet<string> = new Set(['CANCELLED', 'INTERRUPTED']);
/** EMR step states as ListSteps' `StepStates` filter takes them. */
export type StepState = 'PENDING' | 'CANCEL_PENDING' | 'RUNNING' | 'COMPLETED' | 'CANCELLED' | 'FAILED' | 'INTERRUPTED';
/** The states of a step EMR has not ended (a cluster holds at most 256 PENDING or RUNNING). */
export const STEP_LIVE_STATES: readonly StepState[] = ['PENDING', 'RUNNING', 'CANCEL_PENDING'];
/** Items per page of EMR's list operations (ListSteps, ListClusters): 50, then a Marker (EMR API Reference). */
export const EMR_LIST_PAGE_SIZE = 50;
/** ListSteps' `StepIds` filter: "You can specify a maximum of ten Step IDs" (EMR API Reference, ListSteps). */
export const LIST_STEPS_MAX_IDS = 10;

/** The value of `emrflow:app` on everything this application creates. */
export const APP_NAME = 'emrflow';

/** Tag keys on clusters this application creates. */
export const TAG = {
  app: 'emrflow:app',
  execution: 'emrflow:execution',
  job: 'emrflow:job',
  run: 'emrflow:run',
  attempt: 'emrflow:attempt',
  pool: 'emrflow:pool',
  /**
   * The stage (serverless --stage) that created the cluster: stages may share an account and region, and one
   * stage's reaper, cleanup and roles act only on its own clusters (IAM conditions on this key too).
   */
  stage: 'emrflow:stage',
  /** poolConfigHash of the pool a cluster was launched for: a cluster joins a pool only with the same hash. */
  configHash: 'emrflow:config-hash',
  /** AmazonEMRServicePolicy_v2 (the service role's policy) acts only on resources carrying this tag. */
  emrManagedPolicies: 'for-use-with-amazon-emr-managed-policies',
} as const;

/** The `emrflow:pool` value of a cluster that belongs to one run, not to a pool. */
export const DEDICATED_POOL = 'dedicated';

/** EMR cluster names are at most 256 characters. */
const MAX_CLUSTER_NAME = 256;

/** The name of a run's dedicated cluster. */
export function clusterName(runId: string, attempt: number): string {
  return `${APP_NAME} ${runId} attempt ${attempt}`.slice(0, MAX_CLUSTER_NAME);
}

/** Whether a cluster name is one clusterName() gives (a run's dedicated cluster): ListClusters shows names, not tags. */
export function isDedicatedClusterName(name: string): boolean {
  return DEDICATED_CLUSTER_NAME.test(name);
}
const DEDICATED_CLUSTER_NAME = new RegExp(`^${APP_NAME} \\S+ attempt [1-9]\\d*$`);

/** The name of a pool cluster; `launchId` tells the clusters of one pool apart. */
export function poolClusterName(pool: string, launchId: string): string {
  return `${APP_NAME} pool ${pool} ${launchId}`.slice(0, MAX_CLUSTER_NAME);
}

/** The pool of a cluster named by poolClusterName (EMR's state-change events carry the name, not the tags), or null. */
export function parsePoolClusterName(name: string): string | null {
  const match = new RegExp(`^${APP_NAME} pool ([a-z0-9][a-z0-9-]*) \\S+$`).exec(name);
  return match ? match[1] : null;
}

/**
 * The step name the run-job state machine gives each attempt (RunSparkStep's `Name`, built with
 * States.Format in the ASL: a test ties the two together). RecordRun and ClassifyFailure find the step by it.
 */
export function stepName(jobName: string, runId: string, attempt: number): string {
  return `${jobName} ${runId} attempt ${attempt}`;
}

/** The parts of a step (or Serverless job run) name stepName made, or null for one emrflow did not name. */
export function parseStepName(name: string): { jobName: string; runId: string; attempt: number } | null {
  const match = /^(\S+) (\S+) attempt ([1-9]\d*)$/.exec(name);
  return match ? { jobName: match[1], runId: match[2], attempt: Number(match[3]) } : null;
}

/** The resource-type part that tells an execution ARN from a state machine's. */
export const EXECUTION_ARN_PART = ':execution:';

/** An execution's ARN: its state machine's ARN with `execution` for `stateMachine`, then the execution's name. */
export function executionArnFor(stateMachineArn: string, executionName: string): string {
  return `${stateMachineArn.replace(':stateMachine:', EXECUTION_ARN_PART)}:${executionName}`;
}

export interface S3Location {
  bucket: string;
  /** Key prefix (ends with `/`) or, for a single object, its key. */
  key: string;
  uri: string;
}

const S3_URI = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/;

/** `s3://bucket/key` (key may be empty or a prefix; `s3://bucket` has the empty key) → its parts, or null. */
export function parseS3Uri(uri: string): S3Location | null {
  const match = S3_URI.exec(uri);
  return match ? s3Location(match[1], match[2] ?? '') : null;
}

export function s3Location(bucket: string, key: string): S3Location {
  return { bucket, key, uri: `s3://${bucket}/${key}` };
}

/** SendTask* errors that mean the execution no longer waits on the token (it timed out, stopped, or never was). */
export const TASK_TOKEN_GONE: ReadonlySet<string> = new Set(['TaskTimedOut', 'TaskDoesNotExist', 'InvalidToken']);

/**
 * The object that marks a partition complete when a job's S3 trigger is in marker mode and names no other
 * (config/jobs.json `s3Trigger`). Hadoop and Spark write it; Spark's readers skip `_`-prefixed files.
 * infra/job-catalog.js, which osls loads as plain JS, repeats it; test/infra/job-catalog.test.ts ties the two.
 */
export const DEFAULT_S3_MARKER = '_SUCCESS';

/** Error names that are Step Functions' own (not emrflow's, which live in lib/errors.ts). */
export const STATES_ERROR = {
  timeout: 'States.Timeout',
  heartbeatTimeout: 'States.HeartbeatTimeout',
  taskFailed: 'States.TaskFailed',
  all: 'States.ALL',
} as const;

/**
 * Glue database and crawler names are per account, so each stage has its own: `<database>_<stage>` and
 * `<crawler>-<stage>` (infra/job-catalog.js names the resources the same way; test/infra ties the two). No
 * stage (unit tests) keeps config/jobs.json's names.
 */
export function catalogNamesForStage<T extends { database: string; crawler: string }>(catalog: T, stage: string | undefined): T {
  if (!stage) return catalog;
  return { ...catalog, database: `${catalog.database}_${stage.replace(/[^A-Za-z0-9]/g, '_').toLowerCase()}`, crawler: `${catalog.crawler}-${stage}` };
}

/** EMR Serverless's EventBridge events (EventBridge events reference, "Amazon EMR Serverless events"). */
export const EMR_SERVERLESS_EVENT = {
  source: 'aws.emr-serverless',
  jobRunStateChange: 'EMR Serverless Job Run State Change',
} as const;

/**
 * EMR's EventBridge events (source `aws.emr`), as the EventBridge events reference names their detail-types.
 * Rules in serverless.yml match on these, and the local runtime emits them in the same shape.
 */
export const EMR_EVENT = {
  source: 'aws.emr',
  stepStatusChange: 'EMR Step Status Change',
  clusterStateChange: 'EMR Cluster State Change',
} as const;

/**
 * States EMR documents no event for (EMR guide, "Monitor CloudWatch events"): a cluster's TERMINATING and a
 * step's INTERRUPTED. No rule may wait for them (test/infra checks the patterns); the sweeps (the dispatcher's
 * ListClusters, SettleSteps' ListSteps) see those states instead. The local runtime still sends a TERMINATING
 * cluster event, which the dispatcher's unfiltered rule takes: the job manager's grant on a cluster that has just
 * ended (issue 21) is fixed before the local runtime stops sending it.
 */
export const EMR_STATES_WITHOUT_EVENT = {
  cluster: new Set(['TERMINATING']) as ReadonlySet<string>,
  step: new Set(['INTERRUPTED']) as ReadonlySet<string>,
} as const;
