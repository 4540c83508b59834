/**
 * The local AWS emulator's programmatic API: EMR and Glue (AWS JSON 1.1) and S3 (path-style REST over
 * `<stateDir>/s3/<bucket>/<key>`) on one loopback port, plus an optional in-process DynamoDB (dynalite).
 *
 *   const emu = await startEmulator({ stateDir, timeScale: 0.001, projectRoot });
 *   Object.assign(process.env, emulatorEnv(emu));   // the SDK clients now reach the emulator
 *   …
 *   await emu.stop();
 */
import { randomInt } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, promises as fs, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { EmulatedClock, holdVirtualClock } from './clock';
import { meterDynamo, type DynamoUsage } from './dynamoMeter';
import { EmrService, isEndedClusterState, type ClusterRecord, type StepRecord } from './emr/EmrService';
import { EmrServerlessService, type ServerlessApplicationSeed } from './emr-serverless/EmrServerlessService';
import { findSpark, type SparkSetup } from './emr/spark';
import type { EmulatorEvent } from './events';
import { FaultInjector, NO_FAULTS, type Faults } from './faults';
import { GlueService, type GlueSeed } from './glue/GlueService';
import { IdFactory, Random } from './random';
import { S3Service } from './s3/S3Service';
import { LocalS3 } from './s3/store';
import { createEmulatorServer } from './server';

export { parseFaults, NO_FAULTS, type Faults, type SpotInterruptionPhase } from './faults';
export type { EmulatorEvent, StepExecutor } from './events';
export type { ClusterRecord, StepRecord } from './emr/EmrService';
export type { SparkSetup } from './emr/spark';

/** The account in the ARNs the emulator makes (EMR's cluster ARNs use the same). */
const EMULATOR_ACCOUNT_ID = '000000000000';

export interface EmulatorOptions {
  /**
   * Where local S3 lives (`<stateDir>/s3/<bucket>/<key>`). A given directory also keeps the EMR clusters
   * and the Glue catalog (`emulator-state.json`, written by stop()). Default: a temp dir removed by stop().
   */
  stateDir?: string;
  /** 127.0.0.1 port; 0 (default) picks a free one. */
  port?: number;
  /**
   * Real-time pacing of the virtual clock (local/emulator/clock.ts): a simulated minute takes at least
   * 60 × timeScale real seconds (0.001: a 7-minute bootstrap 420 ms; 0: no pacing). Never changes what happens. Default 1.
   */
  timeScale?: number;
  /** Parsed fault file (see parseFaults). Default: none. */
  faults?: Faults;
  /** Region reported in ARNs and S3 answers. Default us-east-1. */
  region?: string;
  /** Receives every cluster/step/crawler state change and notes, for a timeline. */
  logger?: (event: EmulatorEvent) => void;
  /** Also start dynalite in process; `{ persist: true }` keeps its data under `<stateDir>/dynamodb`. */
  dynamodb?: boolean | { persist?: boolean };
  /**
   * How to find spark-submit for `command-runner.jar spark-submit` steps: `projectRoot` (uses
   * `<root>/.venv/bin/spark-submit` first), or an explicit `sparkSubmit` path; `false` always simulates.
   * Without it, $SPARK_HOME and PATH are searched.
   */
  spark?: false | { projectRoot?: string; sparkSubmit?: string };
  /** Seed for the throttling dice and the resource ids (reproducible tests). Default: random. */
  seed?: number;
  /** Every object written through S3 (PUT, copy, completed multipart upload), as S3 sends "Object Created". */
  onObjectCreated?: (object: { bucket: string; key: string; size: number; etag: string }) => void;
}

export interface EmulatorStats {
  /** Calls per service and operation, throttled ones included. */
  calls: Record<'EMR' | 'Glue' | 'S3' | 'EMRServerless', Record<string, number>>;
  /** Calls that the throttle fault answered with ThrottlingException. */
  throttled: Record<string, number>;
  clustersCreated: number;
  /** Clusters not TERMINATED / TERMINATED_WITH_ERRORS (TERMINATING counts as still running). */
  clustersRunning: number;
  clusters: ClusterRecord[];
  steps: StepRecord[];
  /** EMR Serverless job runs (not kept in a state directory's snapshot). */
  jobRuns: ReturnType<EmrServerlessService['jobRunRecords']>;
  /** EMR Serverless job runs not yet SUCCESS / FAILED / CANCELLED. */
  jobRunsActive: number;
  serverlessApplications: ReturnType<EmrServerlessService['applicationRecords']>;
  /** What dynalite served (requests, items read and written: dynamoMeter.ts), when the emulator runs one. */
  dynamodb: DynamoUsage | null;
}

export interface Emulator {
  /** `http://127.0.0.1:<port>`: EMR, Glue and S3. */
  endpoint: string;
  port: number;
  /** `http://127.0.0.1:<port>` of dynalite, when `dynamodb` was asked for. */
  dynamodbEndpoint: string | null;
  stateDir: string;
  region: string;
  clock: EmulatedClock;
  /** The spark-submit that runs Spark steps, or null: every step is simulated. */
  spark: SparkSetup | null;
  /** The faults in force. */
  readonly faults: Faults;
  /** Replaces the faults (each fault fires once again). */
  setFaults(faults: Faults): void;
  /** Creates buckets, Glue databases and crawlers (what serverless.yml declares). Idempotent. */
  seed(seed: EmulatorSeed): Promise<void>;
  stats(): EmulatorStats;
  /** Zeroes the call counters and the DynamoDB meter (e.g. between benchmark jobs); clusters and steps are kept. */
  resetCalls(): void;
  /** Stops timers, kills Spark processes, closes the servers; removes the state dir only if it made it. */
  stop(): Promise<void>;
}

export interface EmulatorSeed extends GlueSeed {
  buckets?: string[];
  /** EMR Serverless applications as serverless.yml declares them (AWS::EMRServerless::Application properties), with their ids. */
  serverlessApplications?: ServerlessApplicationSeed[];
}

async function listen(server: import('node:http').Server, port: number): Promise<number> {
  // Idle keep-alive sockets stay open until the client or close() ends them. Node's default closes them after 5 s
  // idle, and a client that reuses one at that moment gets ECONNRESET: a run-job execution of a 200-item batch
  // failed on it with DynamoDB.Error. AWS endpoints do not fail calls that way, so the local ones must not.
  server.keepAliveTimeout = 0;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

async function close(server: import('node:http').Server): Promise<void> {
  server.closeAllConnections?.();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** What the emulator has done so far: API calls (and those throttled), clusters, steps, job runs. */
function emulatorStats(
  emr: EmrService,
  emrServerless: EmrServerlessService,
  calls: EmulatorStats['calls'],
  throttled: Record<string, number>,
  dynamodbMeter: ReturnType<typeof meterDynamo> | null,
): EmulatorStats {
  const clusters = emr.clusterRecords();
  return {
    calls: structuredClone(calls),
    throttled: { ...throttled },
    clustersCreated: clusters.length,
    clustersRunning: clusters.filter((c) => !isEndedClusterState(c.state)).length,
    clusters,
    steps: emr.stepRecords(),
    jobRuns: emrServerless.jobRunRecords(),
    jobRunsActive: emrServerless.jobRunRecords().filter((run) => !['SUCCESS', 'FAILED', 'CANCELLED'].includes(run.state)).length,
    serverlessApplications: emrServerless.applicationRecords(),
    dynamodb: dynamodbMeter?.usage() ?? null,
  };
}

const SNAPSHOT_FILE = 'emulator-state.json';

/** A state directory the caller keeps also keeps the EMR clusters and the Glue catalog across runs. */
function restoreSnapshot(stateDir: string, emr: EmrService, glue: GlueService): void {
  const snapshotFile = path.join(stateDir, SNAPSHOT_FILE);
  if (!existsSync(snapshotFile)) return;
  const snapshot = JSON.parse(readFileSync(snapshotFile, 'utf8'));
  emr.restore(snapshot.emr);
  glue.restore(snapshot.glue);
}

/** DynamoDB on dynalite, in memory or kept under <stateDir>/dynamodb (`persist`). */
async function startDynalite(
  dynamodb: NonNullable<EmulatorOptions['dynamodb']>,
  stateDir: string,
): Promise<{ server: import('node:http').Server; endpoint: string; meter: ReturnType<typeof meterDynamo> }> {
  // dynalite has no types; its factory returns a plain http.Server.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const dynalite = require('dynalite') as (opts: Record<string, unknown>) => import('node:http').Server;
  const persist = typeof dynamodb === 'object' && dynamodb.persist;
  if (persist) mkdirSync(path.join(stateDir, 'dynamodb'), { recursive: true });
  const server = dynalite({
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
    ...(persist ? { path: path.join(stateDir, 'dynamodb') } : {}),
  });
  // Counted before it serves: what dynalite read and wrote (bench:pool's items per job).
  const meter = meterDynamo(server);
  return { server, endpoint: `http://127.0.0.1:${await listen(server, 0)}`, meter };
}

export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const ownsStateDir = !options.stateDir;
  const stateDir = path.resolve(options.stateDir ?? mkdtempSync(path.join(os.tmpdir(), 'emrflow-state-')));
  mkdirSync(path.join(stateDir, 's3'), { recursive: true });
  const region = options.region ?? 'us-east-1';
  const clock = new EmulatedClock(options.timeScale ?? 1);
  const clockHold = holdVirtualClock(clock.timeScale);
  const random = new Random(options.seed ?? randomInt(2 ** 31));
  const ids = new IdFactory(random);
  const faults = new FaultInjector(options.faults ?? NO_FAULTS, random);
  const s3 = new LocalS3(path.join(stateDir, 's3'));
  s3.onObjectCreated = options.onObjectCreated ?? null;
  const spark = options.spark === false ? null : findSpark(options.spark ?? {});
  const emit = (event: Omit<EmulatorEvent, 'at'>) => options.logger?.({ at: Date.now(), ...event });

  const emr = new EmrService({ clock, ids, faults, s3, spark, stateDir, region, emit });
  const glue = new GlueService({ clock, faults, s3, emit });
  const emrServerless = new EmrServerlessService({ clock, ids, faults, s3, spark, stateDir, region, accountId: EMULATOR_ACCOUNT_ID, emit });
  if (!ownsStateDir) restoreSnapshot(stateDir, emr, glue);
  const calls: EmulatorStats['calls'] = { EMR: {}, Glue: {}, S3: {}, EMRServerless: {} };
  let throttled: Record<string, number> = {};
  const server = createEmulatorServer({
    emr: emr.operations,
    glue: glue.operations,
    s3: new S3Service(s3, stateDir, region),
    emrServerless,
    faults,
    ids,
    emit,
    calls: {
      count(service, operation, wasThrottled) {
        calls[service][operation] = (calls[service][operation] ?? 0) + 1;
        if (wasThrottled) throttled[`${service}.${operation}`] = (throttled[`${service}.${operation}`] ?? 0) + 1;
      },
    },
  });
  const port = await listen(server, options.port ?? 0).catch((error) => {
    clockHold.release();
    throw error;
  });

  const {
    server: dynamodbServer,
    endpoint: dynamodbEndpoint,
    meter: dynamodbMeter,
  } = options.dynamodb ? await startDynalite(options.dynamodb, stateDir) : { server: null, endpoint: null, meter: null };

  emit({
    resource: 'note',
    id: '',
    state: 'NOTE',
    message: spark ? `Spark steps run with real spark-submit (${spark.source}: ${spark.sparkSubmit})` : 'no spark-submit found: Spark steps are simulated',
  });

  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    dynamodbEndpoint,
    stateDir,
    region,
    clock,
    spark,
    get faults() {
      return faults.current();
    },
    setFaults: (next) => faults.set(next),
    async seed(seed) {
      for (const bucket of seed.buckets ?? []) {
        if (!LocalS3.isValidBucketName(bucket)) throw new Error(`seed: invalid bucket name ${JSON.stringify(bucket)}`);
        await s3.createBucket(bucket);
      }
      glue.seed(seed);
      for (const application of seed.serverlessApplications ?? []) emrServerless.seedApplication(application);
    },
    stats: () => emulatorStats(emr, emrServerless, calls, throttled, dynamodbMeter),
    resetCalls() {
      for (const service of Object.keys(calls) as Array<keyof typeof calls>) calls[service] = {};
      throttled = {};
      dynamodbMeter?.reset();
    },
    async stop() {
      clock.stopAll();
      emr.shutdown();
      emrServerless.shutdown();
      glue.shutdown();
      await close(server);
      if (dynamodbServer) await close(dynamodbServer);
      if (ownsStateDir) await fs.rm(stateDir, { recursive: true, force: true });
      else {
        await fs
          .writeFile(path.join(stateDir, SNAPSHOT_FILE), JSON.stringify({ emr: emr.snapshot(), glue: glue.snapshot() }))
          .catch((error: NodeJS.ErrnoException) => {
            // The caller may already have removed its state directory; then there is nothing to keep.
            if (error.code !== 'ENOENT') throw error;
          });
      }
      clockHold.release();
    },
  };
}

/**
 * The environment the AWS SDK v3 and the AWS CLI need to reach the emulator: the standard per-service
 * endpoint variables, a region and dummy credentials. S3 needs no path-style flag: for an IP endpoint
 * both the SDK and the CLI address buckets path-style by themselves.
 */
export function emulatorEnv(emu: Pick<Emulator, 'endpoint' | 'dynamodbEndpoint' | 'region'>): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_EMR: emu.endpoint,
    AWS_ENDPOINT_URL_GLUE: emu.endpoint,
    AWS_ENDPOINT_URL_S3: emu.endpoint,
    AWS_ENDPOINT_URL_EMR_SERVERLESS: emu.endpoint,
    ...(emu.dynamodbEndpoint ? { AWS_ENDPOINT_URL_DYNAMODB: emu.dynamodbEndpoint } : {}),
    AWS_REGION: emu.region,
    AWS_DEFAULT_REGION: emu.region,
    AWS_ACCESS_KEY_ID: 'emrflowlocal',
    AWS_SECRET_ACCESS_KEY: 'emrflowlocal',
  };
}
