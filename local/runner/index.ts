/**
 * The local runtime: the emulator (EMR, Glue, S3, DynamoDB) seeded from serverless.yml, plus a runner of the
 * real statemachines/*.asl.yml whose Tasks call the real Lambda handlers and the emulator.
 *
 * API (what the CLI, the scenario tests, the benchmark and the end-to-end tests use):
 *
 *   const runtime = await startLocalRuntime({
 *     stateDir?,        // kept and reused when given; else a fresh temporary directory, removed by stop()
 *     timeScale?,       // real-time pacing of the virtual clock: 0.01 makes a 7-minute bootstrap take 4.2 s, 0 jumps (default 0.01)
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
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EMRClient } from '@aws-sdk/client-emr';
import { S3Client } from '@aws-sdk/client-s3';
import { resetClients } from '../../lib/aws/clients';
import { type Emulator, type EmulatorEvent, emulatorEnv, parseFaults, startEmulator } from '../emulator';
import { holdVirtualClock } from '../emulator/clock';
import { type LambdaInvoker, lambdaInvoker } from './adapters/lambda';
import { sdkClients } from './adapters/sdk';
import { ExecutionStatuses } from './executionStatuses';
import { Executor } from './executor';
import { EmrEventDelivery, RuleErrors } from './ruleDelivery';
import { runAndSummarize } from './runSummary';
import type { LocalRuntime, LocalRuntimeOptions } from './runtime';
import { startSchedules } from './schedules';
import { seedFromServerless } from './seed';
import { takeTurns, WorkTurns } from './serial';
import { loadServerlessConfig, type ServerlessConfig } from './serverless-config';
import { type ObjectCreated, objectCreatedRules } from './stepFunctionsApi/objectCreatedRules';
import { StepFunctionsApi } from './stepFunctionsApi/service';
import { TaskTokenBroker } from './taskTokens';
import { Uploads } from './uploads';

export type { TimelineEntry } from './execute';
export type { LocalRuntime, LocalRuntimeOptions, PublishedMessage, RuleDelivery, RunOptions, RunSummary, StepSummary } from './runtime';

export const PROJECT_DIR = resolve(__dirname, '..', '..');
export const DEFAULT_TIME_SCALE = 0.01;
/**
 * What the runner's parts (definition, Tasks, tokens, schedules, polling) multiply emulated seconds by: 1,
 * since they all run on the virtual clock (local/emulator/clock.ts); `timeScale` only paces that clock.
 */
const EMULATED_SECONDS = 1;

/** The state directory (a fresh temporary one unless given) and the virtual clock, both held until stop(). */
function openState(given: string | undefined, timeScale: number) {
  const temporary = !given;
  const stateDir = given ? resolve(given) : mkdtempSync(join(tmpdir(), 'emrflow-'));
  // One clock for the emulator, the runner and the Lambdas, held until stop() has drained everything.
  const clockHold = holdVirtualClock(timeScale);
  const discard = () => {
    if (temporary) rmSync(stateDir, { recursive: true, force: true });
    clockHold.release();
  };
  return { stateDir, temporary, discard };
}

/**
 * Where the emulator's EMR state changes and S3 writes go: set once the functions that receive them are known
 * (EventBridge delivers them asynchronously, after the change).
 */
interface EmulatorListeners {
  events: EmulatorEvent[];
  onEmrEvent: (event: EmulatorEvent) => void;
  onObjectCreated: (object: ObjectCreated) => void;
}

async function startRuntimeEmulator(
  options: LocalRuntimeOptions,
  config: ServerlessConfig,
  state: ReturnType<typeof openState>,
  timeScale: number,
  listeners: EmulatorListeners,
): Promise<Emulator> {
  const faults = typeof options.faults === 'string' ? parseFaults(readFileSync(options.faults, 'utf8'), options.faults) : options.faults;
  return startEmulator({
    stateDir: state.stateDir,
    timeScale,
    faults,
    port: options.port,
    seed: options.seed,
    region: config.region,
    // A kept state directory keeps its DynamoDB items too (claims, run history, the pool registry).
    dynamodb: state.temporary ? true : { persist: true },
    spark: options.simulateSteps ? false : { projectRoot: resolve(options.serviceDir ?? PROJECT_DIR) },
    onObjectCreated: options.objectCreatedRules ? (object) => listeners.onObjectCreated(object) : undefined,
    logger: (event: EmulatorEvent) => {
      listeners.events.push(event);
      if (event.resource === 'cluster' || event.resource === 'step' || event.resource === 'jobRun') listeners.onEmrEvent(event);
    },
  }).catch((error) => {
    state.discard();
    throw error;
  });
}

/**
 * The callback pattern's Step Functions endpoint (SendTaskSuccess / Failure / Heartbeat) on loopback, which
 * serves the whole Step Functions API once it is set (why there: local/runner/stepFunctionsApi/service.ts);
 * until then ExecutionStatuses answers DescribeExecution / ListExecutions.
 */
async function startStepFunctionsEndpoint(emulator: Emulator, state: ReturnType<typeof openState>) {
  const taskTokens = new TaskTokenBroker(EMULATED_SECONDS);
  const executionStatuses = new ExecutionStatuses();
  const api: { current: StepFunctionsApi | null } = { current: null };
  taskTokens.serveAlso((operation) => api.current?.operation(operation) ?? executionStatuses.operation(operation));
  const endpoint = await taskTokens.listen().catch(async (error) => {
    await emulator.stop();
    state.discard();
    throw error;
  });
  return { taskTokens, executionStatuses, api, endpoint };
}

/** The Lambdas and the integrations find the emulator through the standard variables. */
function pointProcessAt(emulator: Emulator, sfnEndpoint: string, config: ServerlessConfig): Record<string, string> {
  // The Lambdas' EMF metrics would go to stdout, where `--json` promises one summary object: off unless asked for.
  const env: Record<string, string> = {
    AWS_REGION: config.region,
    ...emulatorEnv(emulator),
    AWS_ENDPOINT_URL_SFN: sfnEndpoint,
    POWERTOOLS_METRICS_DISABLED: process.env.POWERTOOLS_METRICS_DISABLED ?? 'true',
  };
  // Clients made for an earlier emulator (another port) are forgotten.
  Object.assign(process.env, env);
  resetClients();
  return env;
}

/** The SDK clients of the Step Functions integrations: one call each (Retry fields handle errors), taking turns. */
function integrationClients(config: ServerlessConfig, turns: WorkTurns) {
  const clientConfig = { region: config.region, maxAttempts: 1 };
  return {
    emr: takeTurns(new EMRClient(clientConfig), turns),
    s3: takeTurns(new S3Client({ region: config.region, forcePathStyle: true }), turns),
    sdk: sdkClients(clientConfig, turns),
  };
}

/** Invokes a function of serverless.yml in process, as Lambda would. */
async function invokeFunction(config: ServerlessConfig, lambda: LambdaInvoker, functionKey: string, event: unknown): Promise<unknown> {
  const fn = Object.values(config.functions).find((candidate) => candidate.key === functionKey);
  if (!fn) throw new Error(`serverless.yml has no function ${functionKey}`);
  return lambda.invoke(fn, event);
}

export async function startLocalRuntime(options: LocalRuntimeOptions = {}): Promise<LocalRuntime> {
  const serviceDir = resolve(options.serviceDir ?? PROJECT_DIR);
  const timeScale = options.timeScale ?? DEFAULT_TIME_SCALE;
  if (!(timeScale >= 0 && Number.isFinite(timeScale))) throw new RangeError(`timeScale must be a number ≥ 0, got ${timeScale}`);
  const config = await loadServerlessConfig({ serviceDir, stage: 'local' });
  const state = openState(options.stateDir, timeScale);
  let stopping = false;
  const listeners: EmulatorListeners = { events: [], onEmrEvent: () => undefined, onObjectCreated: () => undefined };
  const emulator = await startRuntimeEmulator(options, config, state, timeScale, listeners);
  const { taskTokens, executionStatuses, api, endpoint } = await startStepFunctionsEndpoint(emulator, state);
  const env = pointProcessAt(emulator, endpoint, config);
  // Lambdas and integration calls take turns, so events at one emulated instant keep one order (serial.ts).
  const turns = new WorkTurns();
  const { emr, s3, sdk } = integrationClients(config, turns);
  const seeded = await seedFromServerless(config, { emulator, s3, dynamodb: new DynamoDBClient({ region: config.region }) }).catch(async (error) => {
    await taskTokens.stop();
    await emulator.stop();
    state.discard();
    throw error;
  });
  const lambda = lambdaInvoker(config, () => env, undefined, turns);
  const ruleErrors = new RuleErrors();
  const schedules =
    options.schedules === false
      ? null
      : await startSchedules(config, lambda, { timeScale: EMULATED_SECONDS, onError: (rule, error) => ruleErrors.note(rule.fn.key, error) });
  const emrEvents = new EmrEventDelivery(config, lambda, () => emulator.stats(), ruleErrors, emulator.faults);
  listeners.onObjectCreated = objectCreatedRules(
    config,
    () => (stopping ? null : api.current),
    (error) => ruleErrors.note('(S3 Object Created rule)', error),
  );
  listeners.onEmrEvent = (change) => emrEvents.send(change);
  const executionsFile = state.temporary ? null : join(state.stateDir, 'stepfunctions', 'executions.json');
  const executor = new Executor({ config, lambda, emr, s3, sdk, taskTokens, executionStatuses, emulatedSeconds: EMULATED_SECONDS, executionsFile });
  const uploads = new Uploads(s3, config);

  const runtime: LocalRuntime = {
    stateDir: state.stateDir,
    keepsState: !state.temporary,
    executions: executor.executions,
    notifications: executor.notifications,
    setFaults: (faults) => emulator.setFaults(faults),
    mapChildStats: () => executor.mapChildStats(),
    timeScale,
    endpoint: emulator.endpoint,
    sparkSubmit: emulator.spark?.sparkSubmit ?? null,
    env,
    config,
    buckets: seeded.buckets,
    tables: seeded.tables,
    seeded,
    events: listeners.events,
    taskTokens,
    executionStatuses,
    stats: () => emulator.stats(),
    schedules: schedules ?? { rules: [], skipped: [], fire: async () => undefined },
    ruleErrors: ruleErrors.errors,
    emrEvents: emrEvents.counts,
    invoke: (functionKey, event) => invokeFunction(config, lambda, functionKey, event),
    run: (input, runOptions) => runAndSummarize({ config, lambda, emulator, executor }, input, runOptions),
    upload: (file, s3Uri) => uploads.upload(file, s3Uri),
    markComplete: (partitionUri) => uploads.markComplete(partitionUri),
    machine: (name) => executor.machine(name),
    get stepFunctionsApi() {
      if (!api.current) throw new Error('the Step Functions API is not up yet');
      return api.current;
    },
    async stop() {
      stopping = true;
      emrEvents.stopSending();
      await schedules?.stop();
      await emrEvents.drained();
      await lambda.drain();
      await taskTokens.stop();
      await emulator.stop();
      state.discard();
    },
  };
  api.current = new StepFunctionsApi({
    config,
    executionStatuses,
    machine: (name) => executor.machine(name),
    run: (input, runOptions) => runtime.run(input, runOptions),
    onTaskParked: (observer) => taskTokens.onPark(observer),
  });
  return runtime;
}
