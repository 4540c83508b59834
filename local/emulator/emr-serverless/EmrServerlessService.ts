/**
 * EMR Serverless (REST-JSON, botocore's `emr-serverless` 2021-07-13 model): applications CREATING → CREATED
 * → STARTING → STARTED → STOPPING → STOPPED, job runs SUBMITTED → PENDING → SCHEDULED → RUNNING → SUCCESS /
 * FAILED, or CANCELLING → CANCELLED. A job run whose entry point is a Python file runs with the real
 * spark-submit when one was found (emulated time then follows real time); otherwise it is SIMULATED (120 s
 * plus 1 s per 32 MiB of the s3:// data its arguments name), and its stateDetails and the timeline say so.
 * billedResourceUtilization is the job's workers (read from its sparkSubmitParameters as EMR Serverless
 * reads them) times the time they ran, each worker billed for at least a minute.
 *
 * Not emulated: Hive jobs, interactive / streaming modes, job run retries (attempt is always 1), queueing
 * under maxConcurrentRuns, networkConfiguration, pre-initialized capacity's own bill (it shortens the start).
 */
import { mkdirSync } from 'node:fs';
import type { CreateApplicationRequest, StartJobRunRequest } from '@aws-sdk/client-emr-serverless';
import type { OnTheWire } from '../protocol';
import path from 'node:path';
import { simulatedSeconds } from '../emr/simulated';
import { localSparkArgs, runSparkSubmit } from '../emr/spark';
import { parseCapacity, workersFromSparkParameters, workerTotals } from '../../../lib/domain/serverlessWorkers';
import { DEFAULT_IDLE_TIMEOUT_MINUTES, required, SERVERLESS_DURATIONS, ServerlessApplications } from './applications';
import { notFound, validation, type RestRequest } from './restJson';

export { SERVERLESS_DURATIONS, type EmrServerlessDeps } from './applications';
import { applicationView, JOB_RUN_ACTIVE, jobRunSummary, jobRunView, paginate, timestampParam, type Application, type JobRunRecord } from './shapes';

/** An application a deployment created (CloudFormation's properties), with the id the local Ref gives it. */
export interface ServerlessApplicationSeed {
  applicationId: string;
  Name?: string;
  ReleaseLabel: string;
  Architecture?: string;
  MaximumCapacity?: { Cpu: string; Memory: string; Disk?: string };
  InitialCapacity?: Array<{ Key: string; Value: { WorkerCount: number; WorkerConfiguration: { Cpu: string; Memory: string; Disk?: string } } }>;
  AutoStopConfiguration?: { Enabled?: boolean; IdleTimeoutMinutes?: number };
  Tags?: Array<{ Key: string; Value: string }>;
  [property: string]: unknown;
}

/** Attempt n of a run, from a job run name "<job> <runId> attempt <n>" (what run-job names them): the fault file's key. */
function attemptOf(name: string | undefined): number {
  const match = /attempt (\d+)\s*$/.exec(name ?? '');
  return match ? Number(match[1]) : 1;
}

export class EmrServerlessService extends ServerlessApplications {
  private readonly jobRuns = new Map<string, JobRunRecord>();
  private stopped = false;

  /** Routes a REST request to its operation; returns the operation name (for the call counter) and the response body. */
  route(request: RestRequest): { operation: string; run: () => unknown } | null {
    const parts = request.path.split('/').filter(Boolean).map(decodeURIComponent);
    if (parts[0] !== 'applications') return null;
    const [, applicationId, sub, jobRunId, extra] = parts;
    const { method } = request;
    const body = request.body;
    if (parts.length === 1 && method === 'POST')
      return { operation: 'CreateApplication', run: () => this.createApplication(body as OnTheWire<CreateApplicationRequest>) };
    if (parts.length === 1 && method === 'GET') return { operation: 'ListApplications', run: () => this.listApplications(request.query) };
    if (parts.length === 2 && method === 'GET')
      return { operation: 'GetApplication', run: () => ({ application: applicationView(this.application(applicationId)) }) };
    if (parts.length === 3 && sub === 'start' && method === 'POST') return { operation: 'StartApplication', run: () => this.startApplication(applicationId) };
    if (parts.length === 3 && sub === 'stop' && method === 'POST') return { operation: 'StopApplication', run: () => this.stopApplication(applicationId) };
    if (sub === 'jobruns' && extra === undefined) {
      if (parts.length === 3 && method === 'POST')
        return { operation: 'StartJobRun', run: () => this.startJobRun(applicationId, body as OnTheWire<StartJobRunRequest>) };
      if (parts.length === 3 && method === 'GET') return { operation: 'ListJobRuns', run: () => this.listJobRuns(applicationId, request.query) };
      if (parts.length === 4 && method === 'GET')
        return { operation: 'GetJobRun', run: () => ({ jobRun: jobRunView(this.jobRun(applicationId, jobRunId), this.deps.accountId) }) };
      if (parts.length === 4 && method === 'DELETE') return { operation: 'CancelJobRun', run: () => this.cancelJobRun(applicationId, jobRunId) };
    }
    return null;
  }

  /** Every job run so far, for stats and tests. */
  jobRunRecords(): Array<Pick<JobRunRecord, 'applicationId' | 'jobRunId' | 'name' | 'state' | 'stateDetails' | 'executor' | 'clientToken' | 'tags'>> {
    return [...this.jobRuns.values()].map(({ applicationId, jobRunId, name, state, stateDetails, executor, clientToken, tags }) => ({
      applicationId,
      jobRunId,
      name,
      state,
      stateDetails,
      executor,
      clientToken,
      tags: { ...tags },
    }));
  }

  applicationRecords(): Array<{ applicationId: string; name?: string; state: string }> {
    return [...this.applications.values()].map(({ applicationId, name, state }) => ({ applicationId, name, state }));
  }

  /** Creates a deployed application as CREATED (idempotent: a known id is left as it is). */
  seedApplication(seed: ServerlessApplicationSeed): void {
    if (this.applications.has(seed.applicationId)) return;
    const now = this.deps.clock.nowSeconds();
    const lower = (size?: { Cpu: string; Memory: string; Disk?: string }) =>
      size && { cpu: size.Cpu, memory: size.Memory, ...(size.Disk ? { disk: size.Disk } : {}) };
    this.applications.set(seed.applicationId, {
      applicationId: seed.applicationId,
      name: seed.Name,
      arn: `arn:aws:emr-serverless:${this.deps.region}:${this.deps.accountId}:/applications/${seed.applicationId}`,
      releaseLabel: seed.ReleaseLabel,
      type: 'Spark',
      state: 'CREATED',
      initialCapacity:
        seed.InitialCapacity &&
        Object.fromEntries(
          seed.InitialCapacity.map(({ Key, Value }) => [Key, { workerCount: Value.WorkerCount, workerConfiguration: lower(Value.WorkerConfiguration) }]),
        ),
      maximumCapacity: lower(seed.MaximumCapacity),
      createdAt: now,
      updatedAt: now,
      tags: Object.fromEntries((seed.Tags ?? []).map(({ Key, Value }) => [Key, Value])),
      autoStartConfiguration: { enabled: true },
      autoStopConfiguration: {
        enabled: seed.AutoStopConfiguration?.Enabled ?? true,
        idleTimeoutMinutes: seed.AutoStopConfiguration?.IdleTimeoutMinutes ?? DEFAULT_IDLE_TIMEOUT_MINUTES,
      },
      architecture: seed.Architecture ?? 'X86_64',
      clientToken: `seed-${seed.applicationId}`,
    });
  }

  shutdown(): void {
    this.stopped = true;
    for (const run of this.jobRuns.values()) run.spark?.kill();
  }

  // ---- job runs ----

  private startJobRun(applicationId: string, input: OnTheWire<StartJobRunRequest>): unknown {
    const app = this.application(applicationId);
    const clientToken = required<string>(input.clientToken, 'clientToken');
    const executionRole = required<string>(input.executionRoleArn, 'executionRoleArn');
    if (!/^arn:aws[a-zA-Z0-9-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/.test(executionRole))
      throw validation(`executionRoleArn ${executionRole} is not an IAM role ARN.`);
    const existing = [...this.jobRuns.values()].find((run) => run.applicationId === applicationId && run.clientToken === clientToken);
    if (existing) {
      // Idempotency: the same client token is the same request; its job run, not a second one.
      return { applicationId, jobRunId: existing.jobRunId, arn: existing.arn };
    }
    const sparkSubmit = input.jobDriver?.sparkSubmit;
    if (!sparkSubmit) throw validation('jobDriver.sparkSubmit is required: the emulator runs Spark job runs only.');
    const entryPoint = required<string>(sparkSubmit.entryPoint, 'jobDriver.sparkSubmit.entryPoint');
    if (app.state === 'TERMINATED') throw validation(`Application ${applicationId} is TERMINATED.`);
    if (!app.autoStartConfiguration.enabled && app.state !== 'STARTED')
      throw validation(`Application ${applicationId} is ${app.state}; start it first (auto-start is disabled).`);
    const now = this.deps.clock.nowSeconds();
    let jobRunId = this.deps.ids.serverlessId();
    while (this.jobRuns.has(jobRunId)) jobRunId = this.deps.ids.serverlessId();
    const run: JobRunRecord = {
      applicationId,
      jobRunId,
      name: input.name,
      arn: `${app.arn}/jobruns/${jobRunId}`,
      state: 'SUBMITTED',
      stateDetails: '',
      executionRole,
      releaseLabel: app.releaseLabel,
      createdAt: now,
      updatedAt: now,
      jobDriver: {
        sparkSubmit: {
          entryPoint,
          entryPointArguments: sparkSubmit.entryPointArguments,
          sparkSubmitParameters: sparkSubmit.sparkSubmitParameters,
        },
      },
      configurationOverrides: input.configurationOverrides,
      tags: { ...(input.tags ?? {}) },
      executionTimeoutMinutes: input.executionTimeoutMinutes,
      clientToken,
      workers: workersFromSparkParameters(sparkSubmit.sparkSubmitParameters),
      billedSeconds: 0,
    };
    this.jobRuns.set(jobRunId, run);
    this.deps.clock.cancel(app.idleTimer);
    app.idleTimer = undefined;
    this.setRunState(run, 'SUBMITTED');
    run.timer = this.deps.clock.after(SERVERLESS_DURATIONS.submittedToPending, () => {
      this.setRunState(run, 'PENDING');
      run.timer = this.deps.clock.after(SERVERLESS_DURATIONS.pendingToScheduled, () => {
        run.timer = undefined;
        this.setRunState(run, 'SCHEDULED');
        this.ensureStarted(app);
        if (app.state === 'STARTED') this.allocate(app, run);
      });
    });
    return { applicationId, jobRunId, arn: run.arn };
  }

  /** SCHEDULED → workers allocated → RUNNING, or FAILED when the job does not fit the application's maximum capacity. */
  protected allocate(app: Application, run: JobRunRecord): void {
    const attempt = attemptOf(run.name);
    const totals = workerTotals(run.workers);
    const maxCpu = parseCapacity(app.maximumCapacity?.cpu);
    const maxMemory = parseCapacity(app.maximumCapacity?.memory);
    const inUse = this.activeRuns(app)
      .filter((other) => other !== run && other.state === 'RUNNING')
      .reduce(
        (sum, other) => {
          const t = workerTotals(other.workers);
          return { vcpu: sum.vcpu + t.vcpu, memoryGb: sum.memoryGb + t.memoryGb };
        },
        { vcpu: 0, memoryGb: 0 },
      );
    const injected = this.deps.faults.takeServerless('capacityExceeded', attempt);
    const overCpu = maxCpu !== undefined && inUse.vcpu + totals.vcpu > maxCpu;
    const overMemory = maxMemory !== undefined && inUse.memoryGb + totals.memoryGb > maxMemory;
    if (injected || overCpu || overMemory) {
      const what = injected
        ? 'injected by the fault file'
        : `the job's ${totals.vcpu} vCPU / ${totals.memoryGb} GB with ${inUse.vcpu} vCPU / ${inUse.memoryGb} GB in use exceeds the application's maximum capacity ${app.maximumCapacity?.cpu} / ${app.maximumCapacity?.memory}`;
      this.end(run, 'FAILED', `Job failed: ApplicationMaxCapacityExceeded: workers could not be allocated (${what}).`);
      return;
    }
    const warm = Boolean(app.initialCapacity && Object.keys(app.initialCapacity).length > 0);
    run.timer = this.deps.clock.after(warm ? SERVERLESS_DURATIONS.warmStart : SERVERLESS_DURATIONS.coldStart, () => {
      run.timer = undefined;
      this.runJob(run, attempt);
    });
  }

  private runJob(run: JobRunRecord, attempt: number): void {
    const { spark, clock, s3, stateDir } = this.deps;
    const injectedFailure = this.deps.faults.takeServerless('jobRunFailure', attempt);
    const { entryPoint, entryPointArguments = [], sparkSubmitParameters } = run.jobDriver.sparkSubmit;
    const runsSpark = !injectedFailure && spark !== null && /\.py$/.test(entryPoint);
    run.executor = runsSpark ? 'spark' : 'simulated';
    run.startedAt = clock.nowSeconds();
    this.setRunState(run, 'RUNNING', runsSpark ? 'Running with spark-submit (local mode)' : 'SIMULATED by the emrflow emulator: no spark-submit runs this job');
    if (runsSpark && spark) {
      const cwd = path.join(stateDir, 'spark-work', run.jobRunId);
      mkdirSync(cwd, { recursive: true });
      let args: string[];
      try {
        // localSparkArgs reads EMR step arguments ("spark-submit", options…, script, args…).
        args = localSparkArgs(['spark-submit', ...userSparkOptions(sparkSubmitParameters), entryPoint, ...entryPointArguments], s3);
      } catch (error) {
        run.timer = clock.afterMs(0, () => this.end(run, 'FAILED', `Job failed: ${(error as Error).message}`));
        return;
      }
      const started = Date.now();
      run.spark = runSparkSubmit(spark, args, { cwd, stdoutFile: path.join(cwd, 'stdout'), stderrFile: path.join(cwd, 'stderr') });
      run.spark.done.then(({ exitCode, signal, lastErrorLine }) => {
        if (run.state !== 'RUNNING' || this.stopped) return;
        run.billedSeconds = (Date.now() - started) / 1000;
        if (exitCode === 0) this.end(run, 'SUCCESS', 'Job run completed successfully (spark-submit, local mode).');
        else
          this.end(
            run,
            'FAILED',
            `Job failed, please check complete logs in configured logging destination. ExitCode: ${exitCode ?? signal}. Last few exceptions: ${lastErrorLine}`.slice(
              0,
              256,
            ),
          );
      });
      return;
    }
    const seconds = simulatedSeconds({ Config: { Args: [entryPoint, ...entryPointArguments] } } as never, s3);
    if (injectedFailure) {
      const failAfter = Math.min(seconds, 90) * 0.5;
      run.timer = clock.after(failAfter, () => {
        run.billedSeconds = failAfter;
        this.end(
          run,
          'FAILED',
          'Job failed, please check complete logs in configured logging destination. ExitCode: 1. Last few exceptions: job run failure injected by the fault file',
        );
      });
      return;
    }
    run.timer = clock.after(seconds, () => {
      run.billedSeconds = seconds;
      this.end(run, 'SUCCESS', `SIMULATED job run of ${seconds} s (no spark-submit ran it).`);
    });
  }

  private cancelJobRun(applicationId: string, jobRunId: string): unknown {
    const run = this.jobRun(applicationId, jobRunId);
    if (!JOB_RUN_ACTIVE.has(run.state)) throw validation(`Job run ${jobRunId} is ${run.state} and cannot be cancelled.`);
    if (run.state !== 'CANCELLING') {
      this.deps.clock.cancel(run.timer);
      run.spark?.kill();
      if (run.startedAt !== undefined) run.billedSeconds = this.deps.clock.nowSeconds() - run.startedAt;
      this.setRunState(run, 'CANCELLING', 'Job run cancellation was requested by the user.');
      run.timer = this.deps.clock.after(SERVERLESS_DURATIONS.cancel, () => this.end(run, 'CANCELLED', 'Job run was cancelled by the user.'));
    }
    return { applicationId, jobRunId };
  }

  private end(run: JobRunRecord, state: 'SUCCESS' | 'FAILED' | 'CANCELLED', details: string): void {
    if (!JOB_RUN_ACTIVE.has(run.state)) return;
    this.deps.clock.cancel(run.timer);
    run.timer = undefined;
    run.spark?.kill();
    run.endedAt = this.deps.clock.nowSeconds();
    this.setRunState(run, state, details);
    const app = this.applications.get(run.applicationId);
    if (app) this.armIdleStop(app);
  }

  private setRunState(run: JobRunRecord, state: string, details?: string): void {
    const previousState = run.state;
    run.state = state;
    if (details !== undefined) run.stateDetails = details;
    run.updatedAt = this.deps.clock.nowSeconds();
    this.deps.emit({
      resource: 'jobRun',
      id: run.jobRunId,
      applicationId: run.applicationId,
      state,
      executor: run.executor,
      message: run.stateDetails || run.name,
      detail: {
        jobRunId: run.jobRunId,
        ...(run.name ? { jobRunName: run.name } : {}),
        applicationId: run.applicationId,
        arn: run.arn,
        releaseLabel: run.releaseLabel,
        state,
        previousState,
        createdBy: `arn:aws:iam::${this.deps.accountId}:root`,
        updatedAt: new Date(run.updatedAt * 1000).toISOString(),
        createdAt: new Date(run.createdAt * 1000).toISOString(),
      },
    });
  }

  protected activeRuns(app: Application): JobRunRecord[] {
    return [...this.jobRuns.values()].filter((run) => run.applicationId === app.applicationId && JOB_RUN_ACTIVE.has(run.state));
  }

  private jobRun(applicationId: string, jobRunId: string): JobRunRecord {
    this.application(applicationId);
    const run = this.jobRuns.get(jobRunId);
    if (!run || run.applicationId !== applicationId) throw notFound(`Job run ${jobRunId} does not exist in application ${applicationId}.`);
    return run;
  }

  private listJobRuns(applicationId: string, query: URLSearchParams): unknown {
    this.application(applicationId);
    const states = new Set(query.getAll('states'));
    const after = timestampParam(query.get('createdAtAfter'));
    const before = timestampParam(query.get('createdAtBefore'));
    const all = [...this.jobRuns.values()]
      .filter((run) => run.applicationId === applicationId)
      .filter((run) => states.size === 0 || states.has(run.state))
      .filter((run) => (after === undefined || run.createdAt >= after) && (before === undefined || run.createdAt <= before))
      .sort((a, b) => b.createdAt - a.createdAt);
    const { page, nextToken } = paginate(all, query);
    return {
      jobRuns: page.map((run) => jobRunSummary(run, this.deps.accountId)),
      ...(nextToken ? { nextToken } : {}),
    };
  }
}

/** The options of sparkSubmitParameters that mean something in local mode (`--conf`, `--py-files`, …); resources are EMR Serverless's. */
function userSparkOptions(parameters: string | undefined): string[] {
  const words = (parameters ?? '').split(/\s+/).filter(Boolean);
  const out: string[] = [];
  for (let i = 0; i < words.length; i += 1) {
    const value = words[i + 1];
    if (words[i] === '--conf' && value && !/^spark\.(driver|executor)\.|^spark\.emr-serverless\.|^spark\.dynamicAllocation\./.test(value))
      out.push('--conf', value);
    if (words[i] === '--py-files' && value) out.push('--py-files', value);
    if (words[i].startsWith('--')) i += 1;
  }
  return out;
}
