/**
 * config/serverless.json: the EMR Serverless applications jobs can be placed on. Each names its release,
 * architecture (ARM64 bills about 20% less), maximum capacity, optional pre-initialized capacity (workers that
 * start jobs in seconds and bill while the application is up) and auto-stop idle timeout. Worker sizes are
 * checked against the sizes EMR Serverless offers (lib/domain/serverlessWorkers.ts).
 */
import * as z from 'zod';
import serverlessJson from '../../config/serverless.json';
import { WORKER_DISK_GB, workerSizeProblem } from '../domain/serverlessWorkers';
import { between, matching, parseConfig, strictObject } from '../schema';
import { BudgetSchema } from './pools';

export const SERVERLESS_FILE = 'config/serverless.json';

const WorkerSchema = strictObject({
  vcpu: between(1, 16, { integer: true }),
  memoryGb: between(1, 120, { integer: true }),
  diskGb: between(WORKER_DISK_GB.min, WORKER_DISK_GB.max, { integer: true }).optional(),
}).superRefine((worker, ctx) => {
  const problem = workerSizeProblem(worker);
  if (problem) ctx.addIssue({ code: 'custom', message: problem, input: worker });
});

const InitialWorkersSchema = strictObject({
  workers: between(1, 1_000_000, { integer: true }),
  worker: WorkerSchema,
});

export const ServerlessApplicationSchema = strictObject({
  releaseLabel: matching(/^emr-\d+\.\d+\.\d+$/, 'must be an EMR release label such as emr-7.10.0'),
  architecture: z.enum(['X86_64', 'ARM64'], { error: 'must be X86_64 or ARM64' }),
  /** What the application may scale to, all its job runs together (the API's MaximumAllowedResources). */
  maximumCapacity: strictObject({
    vcpu: between(1, Infinity, { integer: true }),
    memoryGb: between(1, Infinity, { integer: true }),
    diskGb: between(1, Infinity, { integer: true }).optional(),
  }),
  /** Pre-initialized capacity: the Spark driver and executor workers kept warm while the application is started. */
  initialCapacity: strictObject({ driver: InitialWorkersSchema, executor: InitialWorkersSchema }).optional(),
  /** Minutes idle before the application stops (and releases pre-initialized capacity): 1–10,080 (7 days). */
  autoStop: strictObject({ idleTimeoutMinutes: between(1, 10_080, { integer: true }) }),
  /** Disk per worker, GB (20 free per worker). */
  workerDiskGb: between(WORKER_DISK_GB.min, WORKER_DISK_GB.max, { integer: true }),
}).superRefine((app, ctx) => {
  if (!app.initialCapacity) return;
  const { driver, executor } = app.initialCapacity;
  const vcpu = driver.workers * driver.worker.vcpu + executor.workers * executor.worker.vcpu;
  const memory = driver.workers * driver.worker.memoryGb + executor.workers * executor.worker.memoryGb;
  if (vcpu > app.maximumCapacity.vcpu || memory > app.maximumCapacity.memoryGb) {
    ctx.addIssue({
      code: 'custom',
      path: ['initialCapacity'],
      message: `needs ${vcpu} vCPU / ${memory} GB, more than maximumCapacity (${app.maximumCapacity.vcpu} vCPU / ${app.maximumCapacity.memoryGb} GB); EMR Serverless rejects it`,
    });
  }
});
export type ServerlessApplicationConfig = z.infer<typeof ServerlessApplicationSchema>;

const APPLICATION_NAME = matching(/^[A-Za-z0-9._#-]{1,40}$/, 'key must be an application name of letters, digits, ".", "_", "#" or "-"');

/** EMR Serverless's StartJobRun quota per account and Region (EMR Serverless User Guide, "Endpoints and quotas"). */
export const START_JOB_RUN_QUOTA = { perSecond: 1, burst: 25 } as const;

/**
 * StartJobRun budget default: EMR Serverless's quota (START_JOB_RUN_QUOTA). PlaceJob takes a token for each job it sends to Serverless
 * by choice, so those choices alone never exceed the quota; runs that must go anyway (overflow past their SLA
 * slack) go without one and their StartJobRun Retry waits a throttle out. Lower it when other workloads of the
 * account start job runs too: on the default day four fifths of the quota (0.8/s, burst 20) made emrflow-hybrid
 * cost $201.73 against $193.82 (npm run bench:day: the jobs it turns away wait for the pool to grow).
 */
export const DEFAULT_START_JOB_RUN_BUDGET = { ratePerSecond: START_JOB_RUN_QUOTA.perSecond, burst: START_JOB_RUN_QUOTA.burst };

export const ServerlessConfigSchema = strictObject({
  notes: z.string().optional(),
  /** The StartJobRun token bucket PlaceJob's choices share (registry item), default DEFAULT_START_JOB_RUN_BUDGET. */
  startJobRunBudget: BudgetSchema.optional(),
  /** The application a job placed on Serverless runs on unless its rule names another. */
  defaultApplication: z.string(),
  applications: z.record(APPLICATION_NAME, ServerlessApplicationSchema).refine((apps) => Object.keys(apps).length > 0, 'must list at least one application'),
}).superRefine((config, ctx) => {
  if (!Object.hasOwn(config.applications, config.defaultApplication)) {
    ctx.addIssue({
      code: 'custom',
      path: ['defaultApplication'],
      message: `names no application in "applications" (${Object.keys(config.applications).join(', ')}), got ${JSON.stringify(config.defaultApplication)}`,
    });
  }
});
export type ServerlessConfig = z.infer<typeof ServerlessConfigSchema>;

export function startJobRunBudget(config: Pick<ServerlessConfig, 'startJobRunBudget'>): { ratePerSecond: number; burst: number } {
  return config.startJobRunBudget ?? DEFAULT_START_JOB_RUN_BUDGET;
}

export function parseServerlessConfig(raw: unknown): ServerlessConfig {
  return parseConfig(SERVERLESS_FILE, ServerlessConfigSchema, raw);
}

let cached: ServerlessConfig | undefined;

export function loadServerlessConfig(): ServerlessConfig {
  cached ??= parseServerlessConfig(serverlessJson);
  return cached;
}
