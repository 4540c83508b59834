/**
 * The local runtime: the emulator (EMR, Glue, S3, DynamoDB) seeded from serverless.yml, plus a runner of the
 * real statemachines/*.asl.yml whose Tasks call the real Lambda handlers and the emulator.
 *
 * API (what the CLI, the scenario tests, the benchmark and the end-to-end tests use):
 *
 *   const runtime = await startLocalRuntime({
 *     stateDir?,        // kept and reused when given; else a fresh temporary directory, removed by stop()
 *     timeScale?,       // emulated seconds → real: 0.01 makes a 7-minute bootstrap 4.2 s (default 0.01)
 *     faults?,          // a Faults object or a fault file's path (issue 3's format)
 *     simulateSteps?,   // true: never run spark-submit, even when .venv has pyspark (scenario tests, bench)
 *     port?,            // emulator port (default: any free port)
 *     schedules?,       // false: no rate() schedules of the Lambdas (default true; see schedules.ts)
 *     seed?,            // the emulator's throttling dice and ids: the same seed throttles the same calls
 *     objectCreatedRules?, // true: objects written through S3 fire serverless.yml's EventBridge rules (emrflow emulator)
 *   });
 *   runtime.sparkSubmit               // the spark-submit steps run with, or null: every step is simulated
 *   runtime.env                       // AWS_ENDPOINT_URL_* and friends, for the AWS CLI or child processes
 *   runtime.buckets / runtime.tables  // local physical names by logical id (RawBucket, RunsTable, …)
 *   runtime.stateDir                  // S3 objects are plain files under <stateDir>/s3/<bucket>/<key>
 *   const event = await runtime.upload(file, 's3://<raw bucket>/events/dt=2026-11-27/part-0001.json');
 *   const marker = await runtime.markComplete('s3://<raw bucket>/events/dt=2026-11-27/');  // the job's marker
 *   const summary = await runtime.run(event, { machine?: 'run-job', executionName?, onTimelineEntry?,
 *     abortAfter?: 'RunSparkStep', executionTimeoutSeconds?, intercept?: { SizeJob: (input, next) => … } });
 *     // an execution that does not succeed is sent, as Step Functions' "Execution Status Change" event, to
 *     // the EventBridge rules serverless.yml declares (cleanup-execution): summary.ruleDeliveries
 *     // → { status, error, cause, output, transitions, attempts, clustersCreated, clustersRunningAtEnd,
 *     //     steps: [{ clusterId, stepId, state, executor: 'spark' | 'simulated' }], timeline, emulatorCalls, … }
 *   // run-batch: its Distributed Map and the run-job executions it starts run on this same runtime
 *   runtime.executions.list('run-job')   // startExecution.sync:2 children, live (status, result)
 *   runtime.notifications                // sns:publish messages (SNS is not emulated)
 *   runtime.setFaults(faults)            // replace the emulator's faults mid-run
 *   await runtime.invoke('reapClusters', { dryRun: true });   // any function of serverless.yml, in process
 *   runtime.executionStatuses            // what DescribeExecution answers for the executions run here
 *   runtime.stepFunctionsApi             // the Step Functions API on env.AWS_ENDPOINT_URL_SFN: StartExecution,
 *                                        // DescribeExecution, GetExecutionHistory, StopExecution, … (stepFunctionsApi/)
 *   await runtime.machine('run-job')     // a state machine as deployed (`deployable`) and as run here (`local`)
 *   await runtime.stop();
 *
 * One runtime at a time per process: it points process.env (and so the in-process Lambdas' SDK clients) at
 * its emulator. Several runs may share a runtime; each fault in `faults` fires once.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EMRClient } from '@aws-sdk/client-emr';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { resetClients } from '../../lib/aws/clients';
import { loadJobs } from '../../lib/config/jobs';
import { CLUSTER_ENDED_STATES, executionArnFor, parseS3Uri } from '../../lib/contract';
import { emulatorEnv, parseFaults, startEmulator, type EmulatorEvent, type EmulatorStats, type Faults } from '../emulator';
import { Random } from '../emulator/random';
import { lambdaInvoker } from './adapters/lambda';
import { sdkClients } from './adapters/sdk';
import { loadMachine, type MachineDefinition } from './definition';
import { executeMachine, type ExecuteOptions, type ExecutionResult, type TimelineEntry } from './execute';
import { objectCreatedEvent, parseS3ObjectUri } from './s3Event';
import { seedFromServerless, type Seeded } from './seed';
import { loadServerlessConfig, type ServerlessConfig } from './serverless-config';
import { startSchedules, type Schedules } from './schedules';
import { taskHandlers, type StepFunctionsContext } from './tasks';
import { clusterStateChangeEvent, functionEventTargets, jobRunStateChangeEvent, stepStatusChangeEvent } from './triggers';
import { TaskTokenBroker } from './taskTokens';
import { ExecutionRegistry } from './executions';
import { ExecutionStatuses } from './executionStatuses';
import { StepFunctionsApi, stateMachineArnPrefix } from './stepFunctionsApi/service';
import { objectCreatedRules, type ObjectCreated } from './stepFunctionsApi/objectCreatedRules';
import { executionStatusChangeEvent, ruleFunctionTargets } from './triggers';

export type { TimelineEntry } from './execute';

export const PROJECT_DIR = resolve(__dirname, '..', '..');
export const DEFAULT_TIME_SCALE = 0.01;

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

export async function startLocalRuntime(options: LocalRuntimeOptions = {}): Promise<LocalRuntime> {
  const serviceDir = resolve(options.serviceDir ?? PROJECT_DIR);
  const timeScale = options.timeScale ?? DEFAULT_TIME_SCALE;
  if (!(timeScale > 0 && Number.isFinite(timeScale))) throw new RangeError(`timeScale must be a positive number, got ${timeScale}`);
  const faults = typeof options.faults === 'string' ? parseFaults(readFileSync(options.faults, 'utf8'), options.faults) : options.faults;
  const config = await loadServerlessConfig({ serviceDir, stage: 'local' });
  const temporary = !options.stateDir;
  const stateDir = options.stateDir ? resolve(options.stateDir) : mkdtempSync(join(tmpdir(), 'emrflow-'));
  const discardState = () => temporary && rmSync(stateDir, { recursive: true, force: true });
  const events: EmulatorEvent[] = [];
  // EMR's "Cluster State Change" and "Step Status Change" events go to the Lambdas whose EventBridge rules
  // match them, as EventBridge delivers them: asynchronously, after the change (set once the functions are known).
  let onEmrEvent: ((event: EmulatorEvent) => void) | null = null;
  let onObjectCreated: (object: ObjectCreated) => void = () => undefined;
  const emulator = await startEmulator({
    stateDir,
    timeScale,
    faults,
    port: options.port,
    seed: options.seed,
    region: config.region,
    // A kept state directory keeps its DynamoDB items too (claims, run history, the pool registry).
    dynamodb: temporary ? true : { persist: true },
    spark: options.simulateSteps ? false : { projectRoot: serviceDir },
    onObjectCreated: options.objectCreatedRules ? (object) => onObjectCreated(object) : undefined,
    logger: (event: EmulatorEvent) => {
      events.push(event);
      if (event.resource === 'cluster' || event.resource === 'step' || event.resource === 'jobRun') onEmrEvent?.(event);
    },
  }).catch((error) => {
    discardState();
    throw error;
  });
  // The callback pattern's Step Functions endpoint (SendTaskSuccess / Failure / Heartbeat) on loopback.
  const taskTokens = new TaskTokenBroker(timeScale, { realTimeouts: !options.simulateSteps });
  const executionStatuses = new ExecutionStatuses();
  // The whole Step Functions API on the runner's endpoint (why there: local/runner/stepFunctionsApi/service.ts);
  // ExecutionStatuses answers DescribeExecution / ListExecutions only until the API is up, below.
  let stepFunctionsApi: StepFunctionsApi | null = null;
  taskTokens.serveAlso((operation) => stepFunctionsApi?.operation(operation) ?? executionStatuses.operation(operation));
  const sfnEndpoint = await taskTokens.listen().catch(async (error) => {
    await emulator.stop();
    discardState();
    throw error;
  });
  // The Lambdas' EMF metrics would go to stdout, where `--json` promises one summary object: off unless asked for.
  const env: Record<string, string> = {
    AWS_REGION: config.region,
    ...emulatorEnv(emulator),
    AWS_ENDPOINT_URL_SFN: sfnEndpoint,
    POWERTOOLS_METRICS_DISABLED: process.env.POWERTOOLS_METRICS_DISABLED ?? 'true',
  };
  // The Lambdas and the integrations find the emulator through the standard variables; clients made for an
  // earlier emulator (another port) are forgotten.
  Object.assign(process.env, env);
  resetClients();

  // Step Functions makes each integration call once; its Retry fields, not SDK retries, handle errors.
  const clientConfig = { region: config.region, maxAttempts: 1 };
  const emr = new EMRClient(clientConfig);
  const s3 = new S3Client({ region: config.region, forcePathStyle: true });
  const sdk = sdkClients(clientConfig);
  const seeded = await seedFromServerless(config, { emulator, s3, dynamodb: new DynamoDBClient({ region: config.region }) }).catch(async (error) => {
    await taskTokens.stop();
    await emulator.stop();
    discardState();
    throw error;
  });
  const lambda = lambdaInvoker(config, () => env);
  const machines = new Map<string, Promise<MachineDefinition>>();
  const ruleErrors: LocalRuntime['ruleErrors'] = [];
  const noteRuleError = (fn: string, error: unknown): void => {
    ruleErrors.push({ function: fn, error: `${(error as Error).name}: ${(error as Error).message}` });
  };
  const schedules =
    options.schedules === false ? null : await startSchedules(config, lambda, { timeScale, onError: (rule, error) => noteRuleError(rule.fn.key, error) });
  const deliveries = new Set<Promise<unknown>>();
  let stopping = false;
  const emrEvents = { delivered: 0, dropped: 0, duplicated: 0 };
  const eventFaults = faults?.events ?? { drop: 0, duplicate: 0 };
  // Its own seeded dice: the same fault file drops and duplicates the same share on every run.
  const eventDice = new Random(EVENT_FAULT_SEED);
  const deliver = async (event: Record<string, unknown>): Promise<void> => {
    for (const key of await functionEventTargets(config, event)) {
      const fn = Object.values(config.functions).find((candidate) => candidate.key === key)!;
      await lambda.invoke(fn, event).catch((error) => noteRuleError(key, error));
    }
  };
  onObjectCreated = objectCreatedRules(
    config,
    () => (stopping ? null : stepFunctionsApi),
    (error) => noteRuleError('(S3 Object Created rule)', error),
  );
  onEmrEvent = (change) => {
    if (stopping) return;
    const event = emrEventOf(change, emulator.stats(), { region: config.region, accountId: config.accountId, id: randomUUID(), time: new Date(change.at) });
    if (!event) return;
    if (eventFaults.drop > 0 && eventDice.next() < eventFaults.drop) {
      emrEvents.dropped += 1;
      return;
    }
    const twice = eventFaults.duplicate > 0 && eventDice.next() < eventFaults.duplicate;
    if (twice) emrEvents.duplicated += 1;
    const delivery = (async () => {
      emrEvents.delivered += 1;
      await deliver(event);
      // A duplicate is the same event (same id) delivered again, later, as EventBridge retries do.
      if (twice) await deliver(event);
    })().catch((error) => noteRuleError('(EMR event delivery)', error));
    deliveries.add(delivery);
    void delivery.finally(() => deliveries.delete(delivery));
  };

  // One load per machine, even when many executions start at once (serverless.yml's resolver is not reentrant).
  const machineNamed = (machineName: string): Promise<MachineDefinition> => {
    let machine = machines.get(machineName);
    if (!machine) {
      machine = loadMachine(config, machineName, timeScale);
      machines.set(machineName, machine);
      machine.catch(() => machines.delete(machineName));
    }
    return machine;
  };
  const machinePrefix = stateMachineArnPrefix(config);
  const machineArn = (machineName: string) => `${machinePrefix}${machineName}`;
  const notifications: PublishedMessage[] = [];
  const mapChildren: Array<{ startedAt: number; result: ExecutionResult | null }> = [];
  const executions = new ExecutionRegistry(
    async (machineName, input, name) => executeOn(await machineNamed(machineName), input, name),
    { machine: machineArn, execution: (machineName, name) => executionArnFor(machineArn(machineName), name) },
    temporary ? null : join(stateDir, 'stepfunctions', 'executions.json'),
  );
  const stepFunctions: StepFunctionsContext = {
    s3,
    region: config.region,
    accountId: config.accountId,
    startSync2: (parameters) => executions.startSync2(parameters, (arn) => (arn.startsWith(machinePrefix) ? arn.slice(machinePrefix.length) : null)),
    async runMapChild(processor, input, name) {
      const entry: { startedAt: number; result: ExecutionResult | null } = { startedAt: Date.now(), result: null };
      mapChildren.push(entry);
      entry.result = await executeOn(processor, input, name);
      return entry.result;
    },
    publish(message) {
      notifications.push({
        topicArn: String(message.TopicArn ?? ''),
        subject: message.Subject ?? null,
        message: String(message.Message ?? ''),
        at: Date.now(),
      });
      return randomUUID();
    },
  };
  async function executeOn(
    machine: MachineDefinition,
    input: unknown,
    executionName: string,
    runOptions: Omit<RunOptions, 'machine' | 'executionName'> = {},
  ): Promise<ExecutionResult> {
    const tokens = taskTokens.forExecution(executionName);
    const abortController = new AbortController();
    const handlers = taskHandlers(machine, {
      lambda,
      emr,
      sdk,
      timeScale,
      signal: abortController.signal,
      tokens: { broker: taskTokens, execution: tokens },
      stepFunctions,
    });
    for (const [state, wrap] of Object.entries(runOptions.intercept ?? {})) {
      const next = handlers[state];
      if (!next) throw new Error(`intercept: ${machine.name} has no Task state ${state}`);
      handlers[state] = (taskInput) => wrap(taskInput, next, abortController.signal);
    }
    const stateMachineArn = machineArn(machine.name);
    const executionArn = executionArnFor(stateMachineArn, executionName);
    const startDate = Date.now();
    executionStatuses.record({ executionArn, stateMachineArn, name: executionName, status: 'RUNNING', startDate });
    const result = await executeMachine(machine, input, {
      executionName,
      stateMachineArn,
      handlers,
      task: tokens.context,
      onTimelineEntry: runOptions.onTimelineEntry,
      abortAfter: runOptions.abortAfter,
      timeoutSeconds: runOptions.executionTimeoutSeconds,
      abortController,
      stopSignal: runOptions.stopSignal,
      onEvent: runOptions.onEvent,
    }).catch((error) => {
      executionStatuses.record({ executionArn, stateMachineArn, name: executionName, status: 'FAILED', startDate, stopDate: Date.now() });
      throw error;
    });
    // A stopped execution's parked Task waits no more: a grant sent to it now answers TaskTimedOut.
    if (result.status === 'ABORTED' || result.status === 'TIMED_OUT') taskTokens.closeExecution(executionName);
    executionStatuses.record({ executionArn, stateMachineArn, name: executionName, status: result.status, startDate, stopDate: Date.now() });
    runOptions.onEnd?.(result);
    return result;
  }

  /** Step Functions' "Execution Status Change" event of an execution that did not succeed, to the rules that match it. */
  async function deliverStatusChange(machineName: string, input: unknown, result: ExecutionResult): Promise<RuleDelivery[]> {
    const stateMachineArn = machineArn(machineName);
    const event = executionStatusChangeEvent({
      executionArn: executionArnFor(stateMachineArn, result.executionName),
      stateMachineArn,
      name: result.executionName,
      status: result.status,
      startDate: result.startedAt,
      stopDate: result.startedAt + result.durationMs,
      input,
      output: result.output,
      error: result.error,
      cause: result.cause,
      region: config.region,
      accountId: config.accountId,
    });
    const delivered: RuleDelivery[] = [];
    for (const target of ruleFunctionTargets(config, event)) {
      const fn = lambda.find(target.functionArn);
      if (!fn) continue;
      try {
        delivered.push({ rule: target.rule, function: fn.key, result: await lambda.invoke(fn, event) });
      } catch (error) {
        delivered.push({ rule: target.rule, function: fn.key, error: `${(error as Error).name}: ${(error as Error).message}` });
      }
    }
    return delivered;
  }
  const putObject = async (bucket: string, key: string, body: Buffer) => {
    const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    return objectCreatedEvent(
      { bucket, key, size: body.length, etag: put.ETag ?? '', versionId: put.VersionId },
      { region: config.region, accountId: config.accountId },
    );
  };

  const runtime: LocalRuntime = {
    stateDir,
    keepsState: !temporary,
    executions,
    notifications,
    setFaults: (faults) => emulator.setFaults(faults),
    mapChildStats: () => ({ started: mapChildren.length, ended: mapChildren.filter((child) => child.result).length }),
    timeScale,
    endpoint: emulator.endpoint,
    sparkSubmit: emulator.spark?.sparkSubmit ?? null,
    env,
    config,
    buckets: seeded.buckets,
    tables: seeded.tables,
    seeded,
    events,
    taskTokens,
    executionStatuses,
    stats: () => emulator.stats(),
    schedules: schedules ?? { rules: [], skipped: [], fire: async () => undefined },
    ruleErrors,
    emrEvents,

    async invoke(functionKey, event) {
      const fn = Object.values(config.functions).find((candidate) => candidate.key === functionKey);
      if (!fn) throw new Error(`serverless.yml has no function ${functionKey}`);
      return lambda.invoke(fn, event);
    },

    async run(input, runOptions = {}) {
      const machineName = runOptions.machine ?? 'run-job';
      const machine = await machineNamed(machineName);
      const executionName =
        runOptions.executionName ??
        `local-${new Date()
          .toISOString()
          .replace(/[-:.TZ]/g, '')
          .slice(0, 14)}-${randomUUID().slice(0, 8)}`;
      const before = new Set(emulator.stats().clusters.map((cluster) => cluster.clusterId));
      const callsBefore = emulator.stats().calls;
      const childrenBefore = new Set(executions.list());
      const mapChildrenBefore = mapChildren.length;

      const result = await executeOn(machine, input, executionName, runOptions);
      const ruleDeliveries = result.status === 'SUCCEEDED' ? [] : await deliverStatusChange(machineName, input, result);
      if (ruleDeliveries.length > 0) await settleTerminations(() => emulator.stats().clusters, before, timeScale);
      await executions.settle();
      const childExecutions = executions
        .list()
        .filter((record) => !childrenBefore.has(record) && record.result)
        .map((record) => ({
          machine: record.machine,
          name: record.name,
          status: record.status,
          error: record.result!.error,
          transitions: record.result!.transitions,
        }));
      const ranMapChildren = mapChildren.slice(mapChildrenBefore).filter((child) => child.result);

      const stats = emulator.stats();
      const clusters = stats.clusters
        .filter((cluster) => !before.has(cluster.clusterId))
        .map((cluster) => ({ clusterId: cluster.clusterId, state: cluster.state }));
      const created = new Set(clusters.map((cluster) => cluster.clusterId));
      const steps = stats.steps
        .filter((step) => created.has(step.clusterId))
        .map((step) => ({ clusterId: step.clusterId, stepId: step.stepId, state: step.state, executor: step.executor }));
      return {
        machine: machineName,
        ruleDeliveries,
        ...result,
        clustersCreated: clusters.length,
        clustersRunningAtEnd: clusters.filter((cluster) => !CLUSTER_ENDED_STATES.has(cluster.state)).length,
        clusters,
        steps,
        emulatorCalls: callsMade(stats.calls, callsBefore),
        childExecutions,
        mapChildren: { executions: ranMapChildren.length, transitions: ranMapChildren.reduce((sum, child) => sum + child.result!.transitions, 0) },
      };
    },

    async upload(file, s3Uri) {
      const { bucket, key } = parseS3ObjectUri(s3Uri);
      return putObject(bucket, key, readFileSync(file));
    },

    async markComplete(partitionUri) {
      const location = parseS3Uri(partitionUri);
      if (!location?.key.endsWith('/')) throw new Error(`markComplete: "${partitionUri}" is not a partition prefix s3://<bucket>/<prefix>/`);
      const job = loadJobs()
        .filter((candidate) => location.key.startsWith(candidate.inputPrefix))
        .sort((a, b) => b.inputPrefix.length - a.inputPrefix.length)[0];
      if (!job) throw new Error(`markComplete: no job in config/jobs.json has an inputPrefix above "${location.key}"`);
      if (job.s3Trigger.mode !== 'marker') throw new Error(`markComplete: ${job.name} is in per-object mode; each upload is its own run`);
      return putObject(location.bucket, `${location.key}${job.s3Trigger.marker}`, Buffer.alloc(0));
    },

    machine: machineNamed,
    get stepFunctionsApi() {
      return stepFunctionsApi!;
    },

    async stop() {
      stopping = true;
      await schedules?.stop();
      await Promise.all(deliveries);
      await lambda.drain();
      await taskTokens.stop();
      await emulator.stop();
      discardState();
    },
  };
  stepFunctionsApi = new StepFunctionsApi({
    config,
    executionStatuses,
    machine: machineNamed,
    run: (input, runOptions) => runtime.run(input, runOptions),
    onTaskParked: (observer) => taskTokens.onPark(observer),
  });
  return runtime;
}

/** Clusters a cleanup terminated pass TERMINATING for a few emulated minutes; the summary reports where they end. */
async function settleTerminations(clusters: () => Array<{ clusterId: string; state: string }>, before: Set<string>, timeScale: number): Promise<void> {
  const deadline = Date.now() + Math.max(2_000, 30 * 60 * 1000 * timeScale);
  while (Date.now() < deadline && clusters().some((cluster) => !before.has(cluster.clusterId) && cluster.state === 'TERMINATING')) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const EVENT_FAULT_SEED = 0x0e7e27;

/** The EventBridge event EMR sends for an emulator state change, or null when it sends none (the cluster is gone). */
function emrEventOf(
  change: EmulatorEvent,
  stats: EmulatorStats,
  where: { region: string; accountId: string; id: string; time: Date },
): Record<string, unknown> | null {
  if (change.resource === 'jobRun') return change.detail ? jobRunStateChangeEvent(change.detail, where) : null;
  if (change.resource === 'cluster') {
    const cluster = stats.clusters.find((c) => c.clusterId === change.id);
    if (!cluster) return null;
    return clusterStateChangeEvent({ clusterId: cluster.clusterId, name: cluster.name, state: change.state, reason: cluster.stateChangeReason }, where);
  }
  const step = stats.steps.find((s) => s.stepId === change.id && s.clusterId === change.clusterId);
  const cluster = stats.clusters.find((c) => c.clusterId === change.clusterId);
  if (!step || !cluster) return null;
  return stepStatusChangeEvent(
    {
      stepId: step.stepId,
      name: step.name,
      clusterId: step.clusterId,
      clusterName: cluster.name,
      state: change.state,
      actionOnFailure: step.actionOnFailure,
      reason: change.state === 'FAILED' ? change.message : undefined,
    },
    where,
  );
}

function callsMade(after: EmulatorStats['calls'], before: EmulatorStats['calls']): Record<string, number> {
  const calls: Record<string, number> = {};
  for (const [service, operations] of Object.entries(after)) {
    for (const [operation, count] of Object.entries(operations)) {
      const made = count - ((before as Record<string, Record<string, number>>)[service]?.[operation] ?? 0);
      if (made > 0) calls[`${service}.${operation}`] = made;
    }
  }
  return calls;
}
