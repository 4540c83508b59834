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
 *   });
 *   runtime.sparkSubmit               // the spark-submit steps run with, or null: every step is simulated
 *   runtime.env                       // AWS_ENDPOINT_URL_* and friends, for the AWS CLI or child processes
 *   runtime.buckets / runtime.tables  // local physical names by logical id (RawBucket, RunsTable, …)
 *   runtime.stateDir                  // S3 objects are plain files under <stateDir>/s3/<bucket>/<key>
 *   const event = await runtime.upload(file, 's3://<raw bucket>/events/dt=2026-11-27/part-0001.json');
 *   const marker = await runtime.markComplete('s3://<raw bucket>/events/dt=2026-11-27/');  // the job's marker
 *   const summary = await runtime.run(event, { machine?: 'run-job', executionName?, onTimelineEntry? });
 *     // → { status, error, cause, output, transitions, attempts, clustersCreated, clustersRunningAtEnd,
 *     //     steps: [{ clusterId, stepId, state, executor: 'spark' | 'simulated' }], timeline, emulatorCalls, … }
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
import { CLUSTER_ENDED_STATES, parseS3Uri } from '../../lib/contract';
import { emulatorEnv, parseFaults, startEmulator, type EmulatorEvent, type EmulatorStats, type Faults } from '../emulator';
import { lambdaInvoker } from './adapters/lambda';
import { sdkClients } from './adapters/sdk';
import { loadMachine, type MachineDefinition } from './definition';
import { executeMachine, type ExecutionResult, type TimelineEntry } from './execute';
import { objectCreatedEvent, parseS3ObjectUri } from './s3Event';
import { seedFromServerless, type Seeded } from './seed';
import { loadServerlessConfig, type ServerlessConfig } from './serverless-config';
import { taskHandlers } from './tasks';

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
}

export interface StepSummary {
  clusterId: string;
  stepId: string;
  state: string;
  executor: 'spark' | 'simulated' | null;
}

export interface RunSummary extends ExecutionResult {
  machine: string;
  clustersCreated: number;
  clustersRunningAtEnd: number;
  clusters: Array<{ clusterId: string; state: string }>;
  steps: StepSummary[];
  /** Emulator API calls this run made (the Lambdas' and the integrations'), by `Service.Operation` (DynamoDB, served by dynalite, is not counted). */
  emulatorCalls: Record<string, number>;
}

export interface RunOptions {
  machine?: string;
  executionName?: string;
  onTimelineEntry?: (entry: TimelineEntry) => void;
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
  run(input: unknown, options?: RunOptions): Promise<RunSummary>;
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
  const emulator = await startEmulator({
    stateDir,
    timeScale,
    faults,
    port: options.port,
    region: config.region,
    // A kept state directory keeps its DynamoDB items too (claims, run history, the pool registry).
    dynamodb: temporary ? true : { persist: true },
    spark: options.simulateSteps ? false : { projectRoot: serviceDir },
    logger: (event: EmulatorEvent) => events.push(event),
  }).catch((error) => {
    discardState();
    throw error;
  });
  const env: Record<string, string> = { AWS_REGION: config.region, ...emulatorEnv(emulator) };
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
    await emulator.stop();
    discardState();
    throw error;
  });
  const lambda = lambdaInvoker(config, () => env);
  const machines = new Map<string, MachineDefinition>();
  const putObject = async (bucket: string, key: string, body: Buffer) => {
    const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    return objectCreatedEvent(
      { bucket, key, size: body.length, etag: put.ETag ?? '', versionId: put.VersionId },
      { region: config.region, accountId: config.accountId },
    );
  };

  return {
    stateDir,
    keepsState: !temporary,
    timeScale,
    endpoint: emulator.endpoint,
    sparkSubmit: emulator.spark?.sparkSubmit ?? null,
    env,
    config,
    buckets: seeded.buckets,
    tables: seeded.tables,
    seeded,
    events,

    async run(input, runOptions = {}) {
      const machineName = runOptions.machine ?? 'run-job';
      let machine = machines.get(machineName);
      if (!machine) {
        machine = await loadMachine(config, machineName, timeScale);
        machines.set(machineName, machine);
      }
      const executionName = runOptions.executionName ?? `local-${new Date().toISOString().replace(/[-:.TZ]/g, '').slice(0, 14)}-${randomUUID().slice(0, 8)}`;
      const stateMachineArn = `arn:aws:states:${config.region}:${config.accountId}:stateMachine:${config.service}-${config.stage}-${machineName}`;
      const before = new Set(emulator.stats().clusters.map((cluster) => cluster.clusterId));
      const callsBefore = emulator.stats().calls;
      const handlers = taskHandlers(machine, { lambda, emr, sdk, timeScale });

      const result = await executeMachine(machine, input, {
        executionName,
        stateMachineArn,
        handlers,
        onTimelineEntry: runOptions.onTimelineEntry,
      });

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
        ...result,
        clustersCreated: clusters.length,
        clustersRunningAtEnd: clusters.filter((cluster) => !CLUSTER_ENDED_STATES.has(cluster.state)).length,
        clusters,
        steps,
        emulatorCalls: callsMade(stats.calls, callsBefore),
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

    async stop() {
      await emulator.stop();
      discardState();
    },
  };
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

