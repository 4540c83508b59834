/**
 * What the local runtime offers (startLocalRuntime in ./index.ts builds it): its options, the runtime itself and
 * the summary of one run.
 */
import type { EmulatorEvent, EmulatorStats, Faults } from '../emulator';
import type { MachineDefinition } from './definition';
import type { ExecuteOptions, ExecutionResult, TimelineEntry } from './execute';
import type { ExecutionRegistry } from './executions';
import type { ExecutionStatuses } from './executionStatuses';
import type { Schedules } from './schedules';
import type { Seeded } from './seed';
import type { ServerlessConfig } from './serverless-config';
import type { StepFunctionsApi } from './stepFunctionsApi/service';
import type { TaskTokenBroker } from './taskTokens';

export interface LocalRuntimeOptions {
  serviceDir?: string;
  stateDir?: string;
  timeScale?: number;
  faults?: Faults | string;
  simulateSteps?: boolean;
  port?: number;
  /** Run the Lambdas' rate() schedules on the emulated clock (the dispatcher's one-minute sweep). Default true. */
  schedules?: boolean;
  /** Seed of the emulator's throttling dice and ids: the same seed throttles the same calls. */
  seed?: number;
  /** Objects written through S3 fire serverless.yml's EventBridge rules (`emrflow emulator`; see stepFunctionsApi/objectCreatedRules.ts). */
  objectCreatedRules?: boolean;
}

export interface StepSummary {
  clusterId: string;
  stepId: string;
  state: string;
  executor: 'spark' | 'simulated' | null;
}

/** A Lambda an EventBridge rule ran on the execution's status change (cleanup-execution), and its answer. */
export interface RuleDelivery {
  rule: string;
  function: string;
  result?: unknown;
  error?: string;
}

export interface RunSummary extends ExecutionResult {
  machine: string;
  /** What the rules on the execution's end did (an ABORTED, TIMED_OUT or FAILED run-job goes to cleanup-execution). */
  ruleDeliveries: RuleDelivery[];
  clustersCreated: number;
  clustersRunningAtEnd: number;
  clusters: Array<{ clusterId: string; state: string }>;
  steps: StepSummary[];
  /** Emulator API calls this run made (the Lambdas' and the integrations'), by `Service.Operation` (DynamoDB, served by dynalite, is not counted). */
  emulatorCalls: Record<string, number>;
  /** Executions of other state machines this run started and that ended (run-batch's run-job children). */
  childExecutions: Array<{ machine: string; name: string; status: string; error: string | null; transitions: number }>;
  /** Distributed Map child workflow executions this run ran (billed as Standard executions): count and transitions. */
  mapChildren: { executions: number; transitions: number };
}

/** An SNS message a state machine published (SNS is not emulated: the runtime keeps them). */
export interface PublishedMessage {
  topicArn: string;
  subject: string | null;
  message: string;
  at: number;
}

export interface RunOptions {
  machine?: string;
  executionName?: string;
  onTimelineEntry?: (entry: TimelineEntry) => void;
  /** StopExecution once this state has been entered: the execution ends ABORTED (`emrflow run --abort-after`). */
  abortAfter?: string;
  /** The execution's TimeoutSeconds, in real seconds, instead of the definition's (`--execution-timeout`). */
  executionTimeoutSeconds?: number;
  /** Wraps a state's Task handler (fault injection: a Lambda error or timeout in one state). */
  intercept?: Record<string, (input: unknown, next: (input: unknown) => Promise<unknown>, stopped: AbortSignal) => Promise<unknown>>;
  /** StopExecution from outside (the Step Functions API): the execution ends ABORTED once aborted. */
  stopSignal?: AbortSignal;
  /** Every event of the interpreter's log (the Step Functions API's history). */
  onEvent?: ExecuteOptions['onEvent'];
  /** The execution's end, before the rules on its status change run (cleanup-execution). */
  onEnd?: (result: ExecutionResult) => void;
}

export interface LocalRuntime {
  readonly stateDir: string;
  /** False when the state directory is temporary and stop() removes it. */
  readonly keepsState: boolean;
  readonly timeScale: number;
  readonly endpoint: string;
  /** The spark-submit that runs Spark steps, or null when every step is simulated. */
  readonly sparkSubmit: string | null;
  readonly env: Record<string, string>;
  readonly config: ServerlessConfig;
  readonly buckets: Record<string, string>;
  readonly tables: Record<string, string>;
  readonly seeded: Seeded;
  /** Emulator state changes (clusters, steps, crawlers) seen so far. */
  readonly events: EmulatorEvent[];
  /** The Lambdas' rate() schedules running on the emulated clock (empty with `schedules: false`). */
  readonly schedules: Pick<Schedules, 'rules' | 'skipped' | 'fire'>;
  /**
   * EMR's EventBridge events (Cluster State Change, Step Status Change) sent to the rules: delivered, and
   * how many the `events` fault dropped or delivered twice (simulated EventBridge losses and duplicates).
   */
  readonly emrEvents: { delivered: number; dropped: number; duplicated: number };
  /** Lambda invocations by EventBridge rules (schedules and EMR events) that failed, newest last. */
  readonly ruleErrors: Array<{ function: string; error: string }>;
  /** The emulator's clusters, steps and API call counts so far. */
  stats(): EmulatorStats;
  /** The callback pattern's tokens and the local Step Functions endpoint (`env.AWS_ENDPOINT_URL_SFN`). */
  readonly taskTokens: TaskTokenBroker;
  /** What the Step Functions endpoint answers to DescribeExecution: the executions `run` ran, and any recorded. */
  readonly executionStatuses: ExecutionStatuses;
  /** Invokes a function of serverless.yml in process, as Lambda would (e.g. the reaper with `{ dryRun: true }`). */
  invoke(functionKey: string, event: unknown): Promise<unknown>;
  run(input: unknown, options?: RunOptions): Promise<RunSummary>;
  /** Executions started by `states:startExecution` tasks (by machine and name), live while they run. */
  readonly executions: ExecutionRegistry;
  /** Distributed Map children so far: started and ended counts. */
  mapChildStats(): { started: number; ended: number };
  /** Messages published with `sns:publish` tasks. */
  readonly notifications: PublishedMessage[];
  /** A state machine of serverless.yml as deployed (`deployable`) and as run here (`local`), by file name. */
  machine(name: string): Promise<MachineDefinition>;
  /** The Step Functions API on `env.AWS_ENDPOINT_URL_SFN` (StartExecution, DescribeExecution, …). */
  readonly stepFunctionsApi: StepFunctionsApi;
  /** Replaces the emulator's faults (each fires once again): a scenario that strikes one job of many. */
  setFaults(faults: Faults): void;
  /** Puts a file into local S3 and returns the EventBridge "Object Created" event S3 would send. */
  upload(file: string, s3Uri: string): Promise<Record<string, unknown>>;
  /**
   * Puts the (empty) marker object of the job owning a partition prefix (its s3Trigger in config/jobs.json,
   * `_SUCCESS` by default) and returns its event: what a writer does once the partition is complete.
   */
  markComplete(partitionUri: string): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}
