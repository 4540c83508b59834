/**
 * EMR Serverless applications: CREATING → CREATED → STARTING → STARTED → STOPPING → STOPPED, started on demand
 * by a job run and stopped by their auto-stop configuration. The job runs on them are ./EmrServerlessService.
 */
import type { CreateApplicationRequest } from '@aws-sdk/client-emr-serverless';
import { parseCapacity } from '../../../lib/domain/serverlessWorkers';
import type { EmulatedClock } from '../clock';
import type { EmitEvent } from '../events';
import type { FaultInjector } from '../faults';
import type { OnTheWire } from '../protocol';
import type { IdFactory } from '../random';
import type { LocalS3 } from '../s3/store';
import type { SparkSetup } from '../emr/spark';
import { conflict, notFound, RestJsonError, validation } from './restJson';
import { applicationSummary, paginate, type Application, type JobRunRecord } from './shapes';

/** Simulated seconds each transition takes (AWS publishes none; a cold start is the AWS sample's ~70 s). */
export const SERVERLESS_DURATIONS = {
  applicationCreate: 5,
  applicationStart: 20,
  applicationStop: 10,
  submittedToPending: 1,
  pendingToScheduled: 2,
  /** Workers from nothing: the AWS sample measured ~70 s to half the executors. */
  coldStart: 60,
  /** Workers from pre-initialized capacity: "in seconds". */
  warmStart: 5,
  cancel: 5,
} as const;

export const DEFAULT_IDLE_TIMEOUT_MINUTES = 15;

const APPLICATION_STATES_LISTED_BY_DEFAULT = ['CREATING', 'CREATED', 'STARTING', 'STARTED', 'STOPPING', 'STOPPED'];

export interface EmrServerlessDeps {
  clock: EmulatedClock;
  ids: IdFactory;
  faults: FaultInjector;
  s3: LocalS3;
  spark: SparkSetup | null;
  stateDir: string;
  region: string;
  accountId: string;
  emit: EmitEvent;
}

/** A member the request must have (a ValidationException naming it otherwise). */
export function required<T>(value: T | undefined | null, field: string): T {
  if (value === undefined || value === null || value === '')
    throw validation(`1 validation error detected: Value null at '${field}' failed to satisfy constraint: Member must not be null`);
  return value;
}

/** The applications and their lifecycle; the service that runs jobs on them says which runs are active. */
export abstract class ServerlessApplications {
  protected readonly applications = new Map<string, Application>();

  constructor(protected readonly deps: EmrServerlessDeps) {}

  /** The job runs submitted, pending, scheduled or running on `app` (an application with any does not stop). */
  protected abstract activeRuns(app: Application): JobRunRecord[];

  /** Gives a SCHEDULED run its workers once its application has started. */
  protected abstract allocate(app: Application, run: JobRunRecord): void;

  protected createApplication(input: OnTheWire<CreateApplicationRequest>): unknown {
    const releaseLabel = required<string>(input.releaseLabel, 'releaseLabel');
    const type = required<string>(input.type, 'type');
    const clientToken = required<string>(input.clientToken, 'clientToken');
    if (!/^emr-\d+\.\d+\.\d+$/.test(releaseLabel)) throw validation(`Release label ${releaseLabel} is not supported.`);
    if (!['SPARK', 'HIVE', 'Spark', 'Hive'].includes(type)) throw validation(`Application type ${type} is not supported.`);
    const existing = [...this.applications.values()].find((app) => app.clientToken === clientToken);
    if (existing) {
      if (existing.releaseLabel !== releaseLabel || existing.name !== input.name)
        throw conflict(`An application with client token ${clientToken} already exists with different parameters.`);
      return { applicationId: existing.applicationId, name: existing.name, arn: existing.arn };
    }
    const architecture = input.architecture ?? 'X86_64';
    if (architecture !== 'X86_64' && architecture !== 'ARM64')
      throw validation(`Value '${architecture}' at 'architecture' failed to satisfy constraint: Member must satisfy enum value set: [ARM64, X86_64]`);
    const idle = input.autoStopConfiguration?.idleTimeoutMinutes ?? DEFAULT_IDLE_TIMEOUT_MINUTES;
    if (!Number.isInteger(idle) || idle < 1 || idle > 10080) throw validation('autoStopConfiguration.idleTimeoutMinutes must be between 1 and 10080.');
    if (input.maximumCapacity && (parseCapacity(input.maximumCapacity.cpu) === undefined || parseCapacity(input.maximumCapacity.memory) === undefined)) {
      throw validation('maximumCapacity needs cpu (e.g. "400 vCPU") and memory (e.g. "3000 GB").');
    }
    const now = this.deps.clock.nowSeconds();
    let applicationId = this.deps.ids.serverlessId();
    while (this.applications.has(applicationId)) applicationId = this.deps.ids.serverlessId();
    const app: Application = {
      applicationId,
      name: input.name,
      arn: `arn:aws:emr-serverless:${this.deps.region}:${this.deps.accountId}:/applications/${applicationId}`,
      releaseLabel,
      type: type.toUpperCase() === 'SPARK' ? 'Spark' : 'Hive',
      state: 'CREATING',
      initialCapacity: input.initialCapacity,
      // cpu and memory checked above
      maximumCapacity: input.maximumCapacity as Application['maximumCapacity'],
      createdAt: now,
      updatedAt: now,
      tags: { ...(input.tags ?? {}) },
      autoStartConfiguration: { enabled: input.autoStartConfiguration?.enabled ?? true },
      autoStopConfiguration: { enabled: input.autoStopConfiguration?.enabled ?? true, idleTimeoutMinutes: idle },
      architecture,
      clientToken,
    };
    this.applications.set(applicationId, app);
    this.emitApplication(app);
    app.timer = this.deps.clock.after(SERVERLESS_DURATIONS.applicationCreate, () => this.setApplicationState(app, 'CREATED'));
    return { applicationId, name: app.name, arn: app.arn };
  }

  protected listApplications(query: URLSearchParams): unknown {
    const states = query.getAll('states');
    const wanted = new Set(states.length ? states : APPLICATION_STATES_LISTED_BY_DEFAULT);
    const all = [...this.applications.values()].filter((app) => wanted.has(app.state)).sort((a, b) => b.createdAt - a.createdAt);
    const { page, nextToken } = paginate(all, query);
    return {
      applications: page.map(applicationSummary),
      ...(nextToken ? { nextToken } : {}),
    };
  }

  protected startApplication(applicationId: string): unknown {
    const app = this.application(applicationId);
    if (this.deps.faults.takeServerless('capacityExceeded', 1) && app.initialCapacity) {
      throw new RestJsonError(
        'ServiceQuotaExceededException',
        'The maximum number of concurrent vCPUs for the account would be exceeded by the initial capacity (injected by the fault file).',
        402,
      );
    }
    this.ensureStarted(app);
    return {};
  }

  protected stopApplication(applicationId: string): unknown {
    const app = this.application(applicationId);
    if (this.activeRuns(app).length > 0)
      throw validation(`Application ${applicationId} has running or scheduled job runs; they must complete or be cancelled before it stops.`);
    if (app.state === 'STARTED' || app.state === 'STARTING') this.stop(app, 'Stopped by user request');
    else if (app.state === 'CREATING') throw validation(`Application ${applicationId} is in CREATING state and cannot be stopped.`);
    return {};
  }

  protected ensureStarted(app: Application): void {
    if (app.state === 'STARTED' || app.state === 'STARTING') return;
    if (app.state === 'TERMINATED') throw validation(`Application ${app.applicationId} is TERMINATED.`);
    if (app.state === 'CREATING' || app.state === 'STOPPING') {
      // It starts once it has been created (or stopped): the same wait a caller sees on AWS.
      const previous = app.timer;
      this.deps.clock.cancel(previous);
      const next = app.state === 'CREATING' ? SERVERLESS_DURATIONS.applicationCreate : SERVERLESS_DURATIONS.applicationStop;
      app.timer = this.deps.clock.after(next, () => {
        this.setApplicationState(app, app.state === 'CREATING' ? 'CREATED' : 'STOPPED');
        this.ensureStarted(app);
      });
      return;
    }
    this.setApplicationState(app, 'STARTING');
    app.timer = this.deps.clock.after(SERVERLESS_DURATIONS.applicationStart, () => {
      this.setApplicationState(app, 'STARTED');
      for (const run of this.activeRuns(app)) if (run.state === 'SCHEDULED' && !run.timer) this.allocate(app, run);
      this.armIdleStop(app);
    });
  }

  protected stop(app: Application, details: string): void {
    this.deps.clock.cancel(app.idleTimer);
    app.idleTimer = undefined;
    this.setApplicationState(app, 'STOPPING', details);
    app.timer = this.deps.clock.after(SERVERLESS_DURATIONS.applicationStop, () => this.setApplicationState(app, 'STOPPED', details));
  }

  /** Auto-stop: an application with no job run for its idle timeout stops (and drops pre-initialized capacity). */
  protected armIdleStop(app: Application): void {
    this.deps.clock.cancel(app.idleTimer);
    app.idleTimer = undefined;
    if (!app.autoStopConfiguration.enabled || app.state !== 'STARTED' || this.activeRuns(app).length > 0) return;
    const minutes = app.autoStopConfiguration.idleTimeoutMinutes;
    app.idleTimer = this.deps.clock.after(minutes * 60, () => {
      app.idleTimer = undefined;
      if (app.state === 'STARTED' && this.activeRuns(app).length === 0)
        this.stop(app, `Application was idle for ${minutes} minutes and was stopped by its auto-stop configuration`);
    });
  }

  protected setApplicationState(app: Application, state: string, details?: string): void {
    app.state = state;
    app.stateDetails = details;
    app.updatedAt = this.deps.clock.nowSeconds();
    this.emitApplication(app);
  }

  protected emitApplication(app: Application): void {
    this.deps.emit({ resource: 'application', id: app.applicationId, state: app.state, message: app.stateDetails ?? app.name });
  }

  protected application(applicationId: string): Application {
    const app = this.applications.get(applicationId);
    if (!app) throw notFound(`Application ${applicationId} does not exist.`);
    return app;
  }
}
