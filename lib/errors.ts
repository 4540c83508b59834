/**
 * Every error a state machine's Retry/Catch can match, each with a stable dotted name used word for word
 * in `ErrorEquals`. Lambda errors surface in Step Functions under `error.name`, so the class name never
 * matters: `name` does. A test checks that every ErrorEquals in statemachines/ is listed here.
 */
import { EMR_CLUSTER_ENDED_REFUSALS, STATES_ERROR } from './contract';

export class EmrflowError extends Error {
  constructor(name: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = name;
  }
}

/** The trigger input cannot become a JobRequest. The message names the field and the fix. */
export class InvalidRequestError extends EmrflowError {
  static readonly errorName = 'Request.Invalid';
  readonly field: string;
  constructor(field: string, message: string) {
    // Hostile input must not come back at full size: the cause carries the message twice (message, trace).
    const shortField = clip(field, MAX_FIELD_CHARS);
    super(InvalidRequestError.errorName, clip(`${shortField}: ${message}`, MAX_MESSAGE_CHARS));
    this.field = shortField;
  }
}

/** A field path longer than this is someone else's data, not a field name. */
const MAX_FIELD_CHARS = 120;
/** Step Functions keeps 32,768 characters of a Cause; two echoes of this size fit with room to spare. */
const MAX_MESSAGE_CHARS = 2_000;

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more characters)`;
}

/** No pooled slot and no budget for a new cluster right now; the execution retries with backoff. */
export class NoCapacityError extends EmrflowError {
  static readonly errorName = 'Placement.NoCapacity';
  constructor(message: string) {
    super(NoCapacityError.errorName, message);
  }
}

/**
 * A pool cluster the job was waiting on cannot be launched: RunJobFlow answered with an error that trying
 * again will not cure (AccessDenied, a ValidationException such as a bad fleet). The dispatcher fails every
 * parked job no existing cluster of the pool can hold with this name and EMR's message, instead of letting
 * it wait out AcquireCapacity's four hours; the job was given nothing (its queue entry is withdrawn first).
 */
export class LaunchFailedError extends EmrflowError {
  static readonly errorName = 'Placement.LaunchFailed';
  constructor(message: string) {
    super(LaunchFailedError.errorName, message);
  }
}

/**
 * Whether a failed RunJobFlow may succeed if made again: EMR's throttling, a server-side error (5xx), no
 * answer at all, or EC2 out of the capacity asked for. Anything else (a 4xx: AccessDeniedException,
 * ValidationException, InvalidRequestException) fails the same way every time until someone fixes it.
 */
export function isTransientLaunchError(error: unknown): boolean {
  const e = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  if (e?.name === EMR_THROTTLING_CODE || e?.name === 'RequestLimitExceeded' || /insufficient\s*(instance\s*)?capacity/i.test(`${e?.name} ${e?.message}`))
    return true;
  const status = e?.$metadata?.httpStatusCode;
  return status === undefined || status >= 500;
}

/** An error about the run's input at `uri` (an S3 prefix or object); its name is its class's errorName. */
abstract class InputLocationError extends EmrflowError {
  static readonly errorName: string;
  constructor(
    readonly uri: string,
    message: string,
  ) {
    super((new.target as typeof InputLocationError).errorName, message);
  }
}

/**
 * The run's input (an S3 prefix or object) does not exist: nothing to process, so nothing is claimed,
 * crawled, launched or leased. The message names the URI and how to get data there.
 */
export class InputNotFoundError extends InputLocationError {
  static readonly errorName = 'Input.NotFound';
}

/** The run's input exists but holds no bytes (only empty objects or folder markers). */
export class InputEmptyError extends InputLocationError {
  static readonly errorName = 'Input.Empty';
}

/**
 * A scheduled start found nothing to do: its input or its batch manifest does not exist yet, or holds no data
 * (a fresh account's daily schedules fire before any data arrives). Not a failure: run-job and run-batch end
 * such a start as a success that says so, and no alarm fires. A console or S3 start with no input still fails.
 */
export class NothingScheduledError extends InputLocationError {
  static readonly errorName = 'Schedule.NothingToDo';
}

/**
 * The function gave up just before its Lambda deadline (middy's early timeout, `TimeoutError`, mapped by
 * lib/aws/middleware.ts): transient, so the state machines retry it like a Lambda service error.
 */
export class FunctionTimeoutError extends EmrflowError {
  static readonly errorName = 'Function.Timeout';
  constructor(message: string, options?: { cause?: unknown }) {
    super(FunctionTimeoutError.errorName, message, options);
  }
}

/** A configuration file (jobs, pools, rules, prices) does not match its schema. */
export class InvalidConfigError extends EmrflowError {
  static readonly errorName = 'Config.Invalid';
  constructor(file: string, field: string, message: string) {
    super(InvalidConfigError.errorName, `${file}: ${field}: ${message}`);
  }
}

/**
 * An EMR API call a Lambda made on the state machine's behalf failed (SubmitPooledStep's AddJobFlowSteps).
 * It carries the name and the Cause wording Step Functions' own EMR integration gives the same failure, so
 * the Task fails as `addStep.sync` would have.
 */
export class EmrApiError extends EmrflowError {
  static readonly errorName: string = 'EMR.AmazonElasticMapReduceException';
  constructor(message: string, options?: { cause?: unknown }) {
    super(EmrApiError.errorName, message, options);
  }

  /** The SDK's error as the integration would give it; throttling (EMR's ThrottlingException) as EmrThrottledError. */
  static from(error: unknown): EmrApiError {
    const e = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number; requestId?: string } };
    const status = e.$metadata?.httpStatusCode ?? 400;
    const message = `${e.message ?? String(error)} (Service: AmazonElasticMapReduce; Status Code: ${status}; Error Code: ${e.name ?? 'Unknown'}; Request ID: ${e.$metadata?.requestId ?? 'unknown'}; Proxy: null)`;
    return e.name === EMR_THROTTLING_CODE ? new EmrThrottledError(message, { cause: error }) : new EmrApiError(message, { cause: error });
  }
}

/** The error code EMR answers a call over its rate limit with (also what run-job's CreateClusterRejected matches in a Cause). */
export const EMR_THROTTLING_CODE = 'ThrottlingException';

/**
 * AddJobFlowSteps refused the call because its cluster has ended (or is ending): not the steps' fault, and
 * not throttling. A pooled job granted there goes back to the queue without spending an attempt.
 */
export function isClusterEndedRefusal(error: unknown): boolean {
  const message = (error as { message?: unknown } | null)?.message;
  return typeof message === 'string' && Object.values(EMR_CLUSTER_ENDED_REFUSALS).some((refusal) => message.includes(refusal));
}

/**
 * EMR refused a call for its rate only: nothing was done, so the call can be made again. A name of its own,
 * because the integration's EMR.AmazonElasticMapReduceException also covers a terminated cluster's
 * ValidationException and AccessDenied, which a Retry must not treat as throttling.
 */
export class EmrThrottledError extends EmrApiError {
  static readonly errorName = 'Emr.Throttled';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = EmrThrottledError.errorName;
  }
}

/** Failure kinds ClassifyFailure reports; the run-job state machine fails with these names. */
export const FailureKind = {
  SpotInterrupted: 'Emr.SpotInterrupted',
  StepFailed: 'Emr.StepFailed',
  StepTimedOut: 'Emr.StepTimedOut',
  ClusterFailed: 'Emr.ClusterFailed',
  /** An EMR Serverless job run ended FAILED or CANCELLED (its stateDetails say why). */
  JobRunFailed: 'EmrServerless.JobRunFailed',
  /** An EMR Serverless job run could not get its workers (the application's or the account's capacity). */
  CapacityExceeded: 'EmrServerless.CapacityExceeded',
} as const;
export type FailureKind = (typeof FailureKind)[keyof typeof FailureKind];

/** The last Glue crawl of the job's crawler ended FAILED or CANCELLED. */
export const CRAWL_FAILED = 'Glue.CrawlFailed';
/** The crawl run-job waits for has run longer than the state machine waits. */
export const CRAWL_TIMED_OUT = 'Glue.CrawlTimedOut';

/** Names defined by this project, for the ASL cross-check. */
export const PROJECT_ERROR_NAMES: readonly string[] = [
  InvalidRequestError.errorName,
  NoCapacityError.errorName,
  InvalidConfigError.errorName,
  InputNotFoundError.errorName,
  InputEmptyError.errorName,
  NothingScheduledError.errorName,
  FunctionTimeoutError.errorName,
  EmrThrottledError.errorName,
  CRAWL_FAILED,
  CRAWL_TIMED_OUT,
  ...Object.values(FailureKind),
];

/**
 * Names raised by Step Functions itself or by its service integrations that the state machines match.
 * aws-sdk integrations raise `<Service>.<ExceptionName>`; the Lambda integration raises `Lambda.*`.
 */
export const INTEGRATION_ERROR_NAMES: readonly string[] = [
  ...Object.values(STATES_ERROR),
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
  'DynamoDB.ConditionalCheckFailedException',
  'DynamoDB.ProvisionedThroughputExceededException',
  'DynamoDB.ThrottlingException',
  'Glue.CrawlerRunningException',
  'Glue.ThrottlingException',
  'EMR.AmazonElasticMapReduceException',
  // emr-serverless:startJobRun: the optimized integration's API errors, as <Service>.<Exception> (not in its guide: unverified).
  'EMRServerless.ThrottlingException',
  'EMRServerless.InternalServerException',
  'ThrottlingException',
  // run-batch: startExecution's own errors, the Distributed Map's, SNS Publish's.
  'StepFunctions.ExecutionAlreadyExistsException',
  'StepFunctions.ExecutionLimitExceededException',
  'StepFunctions.ThrottlingException',
  'SNS.ThrottledException',
  'SNS.InternalErrorException',
];
