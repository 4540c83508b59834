/**
 * Every error a state machine's Retry/Catch can match, each with a stable dotted name used word for word
 * in `ErrorEquals`. Lambda errors surface in Step Functions under `error.name`, so the class name never
 * matters: `name` does. A test checks that every ErrorEquals in statemachines/ is listed here.
 */
import { STATES_ERROR } from './contract';

export class EmrflowError extends Error {
  constructor(name: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = name;
  }
}

/** The trigger input cannot become a JobRequest. The message names the field and the fix. */
export class InvalidRequestError extends EmrflowError {
  static readonly errorName = 'Request.Invalid';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(InvalidRequestError.errorName, `${field}: ${message}`);
  }
}

/** No pooled slot and no budget for a new cluster right now; the execution retries with backoff. */
export class NoCapacityError extends EmrflowError {
  static readonly errorName = 'Placement.NoCapacity';
  constructor(message: string) {
    super(NoCapacityError.errorName, message);
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
  static readonly errorName = 'EMR.AmazonElasticMapReduceException';
  constructor(message: string, options?: { cause?: unknown }) {
    super(EmrApiError.errorName, message, options);
  }

  static from(error: unknown): EmrApiError {
    const e = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number; requestId?: string } };
    const status = e.$metadata?.httpStatusCode ?? 400;
    return new EmrApiError(
      `${e.message ?? String(error)} (Service: AmazonElasticMapReduce; Status Code: ${status}; Error Code: ${e.name ?? 'Unknown'}; Request ID: ${e.$metadata?.requestId ?? 'unknown'}; Proxy: null)`,
      { cause: error },
    );
  }
}

/** Failure kinds ClassifyFailure reports; the run-job state machine fails with these names. */
export const FailureKind = {
  SpotInterrupted: 'Emr.SpotInterrupted',
  StepFailed: 'Emr.StepFailed',
  StepTimedOut: 'Emr.StepTimedOut',
  ClusterFailed: 'Emr.ClusterFailed',
} as const;
export type FailureKind = (typeof FailureKind)[keyof typeof FailureKind];

/** The last Glue crawl of the job's crawler ended FAILED or CANCELLED. */
export const CRAWL_FAILED = 'Glue.CrawlFailed';

/** Names defined by this project, for the ASL cross-check. */
export const PROJECT_ERROR_NAMES: readonly string[] = [
  InvalidRequestError.errorName,
  NoCapacityError.errorName,
  InvalidConfigError.errorName,
  CRAWL_FAILED,
  ...Object.values(FailureKind),
];

/**
 * Names raised by Step Functions itself or by its service integrations that the state machines match.
 * aws-sdk integrations raise `<Service>.<ExceptionName>`; the Lambda integration raises `Lambda.*`.
 */
export const INTEGRATION_ERROR_NAMES: readonly string[] = [
  ...Object.values(STATES_ERROR),
  'States.HeartbeatTimeout',
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
  'ThrottlingException',
  // run-batch: startExecution's own errors, the Distributed Map's, SNS Publish's.
  'StepFunctions.ExecutionAlreadyExistsException',
  'StepFunctions.ExecutionLimitExceededException',
  'StepFunctions.ThrottlingException',
  'SNS.ThrottledException',
  'SNS.InternalErrorException',
];
