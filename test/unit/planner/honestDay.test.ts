import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { shippedConfig } from '../../../local/planner';
import { SERVERLESS_COLD_START_SECONDS, SERVERLESS_PREINIT_START_SECONDS, SPARK_FIRST_EXECUTOR_SECONDS } from '../../../local/planner/constants';
import { sizeDay, trueStepSeconds, type PlannerConfig } from '../../../local/planner/decisions';
import { PerJobRun } from '../../../local/planner/perAttemptRun';
import { generateJobs, readProfile, spotModel, type Profile } from '../../../local/planner/profile';
import { Random } from '../../../local/planner/random';
import { Run } from '../../../local/planner/run';
import {
  asServerlessSeconds,
  SERVERLESS_QUEUE_TIMEOUT_SECONDS,
  SERVERLESS_RUN_FAILED,
  ServerlessRun,
  workerFor,
  driverFor,
  dayDriver,
  dayWorker,
  workerHourly,
  type ServerlessApplication,
} from '../../../local/planner/serverlessRun';
import { DEFAULT_ASL_PATH, loadStateMachineLimits, SERVERLESS_THROTTLED, type RetryPolicy } from '../../../local/planner/stateMachineLimits';
import { DEFAULT_SIZING } from '../../../lib/domain/sizing';

const PROFILE = readProfile('examples/planner/day.json');
const config = shippedConfig();

/** `count` jobs of one kind arriving together in the nightly spike (`spikeMinutes` long). */
function nightlyDay(count: number, spikeMinutes: number, seed = 1) {
  const kind = PROFILE.kinds.find((k) => k.arrival === 'nightly')!;
  const profile: Profile = {
    ...PROFILE,
    jobs: count,
    totalInputTiB: (count * 300) / 1024 / 1024,
    kinds: [kind],
    arrivals: { ...PROFILE.arrivals, nightlySpikeMinutes: spikeMinutes },
  };
  return sizeDay(generateJobs(profile, seed), PROFILE.date);
}

async function perJob(cfg: PlannerConfig, jobs: ReturnType<typeof nightlyDay>) {
  const run = new PerJobRun('ON_DEMAND', cfg, jobs, spotModel(PROFILE), new Random(7), () => {});
  await run.run();
  return run.meter;
}

/** run-job's limits with CreateClusterRejected's cap edited in a copy of the definition. */
function limitsWithCreateClusterCap(cap: number) {
  const dir = mkdtempSync(join(tmpdir(), 'emrflow-cap-'));
  const asl = join(dir, 'run-job.asl.yml');
  const text = readFileSync(DEFAULT_ASL_PATH, 'utf8');
  const edited = text.replace('NumericLessThan: 4', `NumericLessThan: ${cap}`);
  expect(edited).not.toBe(text);
  writeFileSync(asl, edited);
  return loadStateMachineLimits({ asl });
}

/** run-job's limits with RunServerlessJob's throttling Retry changed (what the ASL would say). */
function withServerlessRetry(change: Partial<RetryPolicy>) {
  const limits = loadStateMachineLimits();
  return { ...limits, runServerlessJob: { throttleRetry: { ...limits.runServerlessJob.throttleRetry, ...change } } };
}

describe("the dedicated path follows run-job's CreateCluster throttling loop", () => {
  // 400 one-cluster-per-job launches within a minute against RunJobFlow's burst of 10 and 0.5/s.
  const jobs = nightlyDay(400, 1);

  it('fails the jobs the loop gives up on, by the error ClassifyFailure gives, and counts each job once', async () => {
    const meter = await perJob(config, jobs);
    expect(meter.failures['Emr.ClusterFailed']).toBeGreaterThan(0);
    expect(meter.completed + meter.failed).toBe(jobs.length);
    expect(Object.values(meter.failures).reduce((a, b) => a + b, 0)).toBe(meter.failed);
  });

  it("changes its failure count when the ASL's cap changes (the definition is read, not copied)", async () => {
    const capped = await perJob({ ...config, limits: limitsWithCreateClusterCap(1) }, jobs);
    const shipped = await perJob(config, jobs);
    const generous = await perJob({ ...config, limits: limitsWithCreateClusterCap(40) }, jobs);
    expect(capped.failures['Emr.ClusterFailed']).toBeGreaterThan(shipped.failures['Emr.ClusterFailed'] ?? 0);
    expect(generous.failures['Emr.ClusterFailed'] ?? 0).toBeLessThan(shipped.failures['Emr.ClusterFailed']);
  });

  it('starts a job at its first executor, after bootstrap, and reports step RUNNING apart', async () => {
    const few = nightlyDay(5, 60);
    const meter = await perJob(config, few);
    expect(meter.startSeconds).toHaveLength(5);
    const running = [...meter.stepRunningSeconds].sort((a, b) => a - b);
    const started = [...meter.startSeconds].sort((a, b) => a - b);
    for (const [i, seconds] of started.entries()) expect(seconds).toBeCloseTo(running[i] + SPARK_FIRST_EXECUTOR_SECONDS, 6);
    // Bootstrap (5-10 minutes) comes before the step: no start sooner than five minutes.
    expect(Math.min(...started)).toBeGreaterThan(300);
  });
});

describe('EMR Serverless, simulated', () => {
  const app = (overrides: Partial<ServerlessApplication> = {}): ServerlessApplication => ({
    architecture: 'ARM64',
    preInitialized: { drivers: 0, executors: 0 },
    maxVcpu: 4000,
    ...overrides,
  });
  async function serverless(jobs: ReturnType<typeof nightlyDay>, application: ServerlessApplication, cfg: PlannerConfig = config) {
    const run = new ServerlessRun(application, cfg, jobs, spotModel(PROFILE), new Random(9), () => {});
    await run.run();
    run.finishBilling();
    return run;
  }

  it('gives each executor a valid worker configuration with room for its heap and overhead', () => {
    const spark = { executorCores: 4, executorMemoryGiB: DEFAULT_SIZING.executorMemoryGiB, executorInstances: 7, shufflePartitions: 64 };
    expect(workerFor({ spark })).toEqual({ vcpu: 4, memoryGb: 25 });
    // 28 GiB + 10% does not fit a 4-vCPU worker (30 GB at most): the next size, in its 4 GB steps.
    expect(workerFor({ spark: { ...spark, executorMemoryGiB: 28 } })).toEqual({ vcpu: 8, memoryGb: 32 });
    expect(() => workerFor({ spark: { ...spark, executorCores: 32 } })).toThrow(/no EMR Serverless worker/);
  });

  it('bills each worker at least a minute, from ready to the end of its run', async () => {
    const jobs = nightlyDay(3, 600);
    const run = await serverless(jobs, app());
    const expected = jobs.reduce((sum, job) => {
      const workers = 1 + job.sizing.spark.executorInstances;
      // The driver and the executors, each at its own worker's price (a one-unit job's driver is smaller).
      const hourly = workerHourly(config.prices, driverFor(job.sizing), 'ARM64') + (workers - 1) * workerHourly(config.prices, workerFor(job.sizing), 'ARM64');
      return sum + hourly * (Math.max(60, asServerlessSeconds(trueStepSeconds(job, workers))) / 3600);
    }, 0);
    expect(run.meter.cost.emrServerless).toBeCloseTo(expected, 6);
    for (const seconds of run.meter.startSeconds) expect(seconds).toBeGreaterThanOrEqual(SERVERLESS_COLD_START_SECONDS.min);
  });

  it('queues jobs when the application reaches its maximum capacity, and only then', async () => {
    const jobs = nightlyDay(60, 1);
    const roomy = await serverless(jobs, app());
    const tight = await serverless(jobs, app({ maxVcpu: 64 }));
    expect(Math.max(...roomy.queueWaitSeconds)).toBe(0);
    expect(Math.max(...tight.queueWaitSeconds)).toBeGreaterThan(0);
    expect(tight.meter.completed).toBe(60);
  });

  it('starts jobs in seconds on pre-initialized workers and bills them all day, idle included', async () => {
    const jobs = nightlyDay(3, 600);
    const cold = await serverless(jobs, app());
    const warm = await serverless(jobs, app({ preInitialized: { drivers: 4, executors: 200 } }));
    for (const seconds of warm.meter.startSeconds) expect(seconds).toBeLessThan(cold.meter.startSeconds.reduce((a, b) => Math.min(a, b), Infinity));
    expect(Math.min(...warm.meter.startSeconds)).toBeGreaterThanOrEqual(SERVERLESS_PREINIT_START_SECONDS.min);
    const allDay = (4 * workerHourly(config.prices, dayDriver(jobs), 'ARM64') + 200 * workerHourly(config.prices, dayWorker(jobs), 'ARM64')) * 24;
    expect(warm.meter.cost.emrServerless).toBeGreaterThanOrEqual(allDay);
  });

  it('fails a run the application can never hold, and one queued past the queue timeout, as startJobRun.sync would', async () => {
    const jobs = nightlyDay(250, 1);
    // From the sizing, not a constant: right-sizing made the smallest job a driver and one executor (8 vCPU).
    const vcpuOf = (job: (typeof jobs)[number]) => driverFor(job.sizing).vcpu + job.sizing.spark.executorInstances * workerFor(job.sizing).vcpu;
    const smallest = Math.min(...jobs.map(vcpuOf));
    // A generous StartJobRun Retry here: this test is about capacity, not the StartJobRun quota (below).
    const patient = { ...config, limits: withServerlessRetry({ maxAttempts: 40, maxDelaySeconds: 300 }) };
    const never = await serverless(jobs, app({ maxVcpu: smallest / 2 }), patient);
    expect(never.meter.failures).toEqual({ [SERVERLESS_RUN_FAILED]: 250 });
    expect(never.meter.cost.emrServerless).toBe(0);
    // Room for one smallest job at a time: the queue's tail waits past six hours and fails.
    const single = await serverless(jobs, app({ maxVcpu: smallest }), patient);
    const tooBig = jobs.filter((job) => vcpuOf(job) > smallest).length;
    expect(single.meter.failures[SERVERLESS_RUN_FAILED]).toBeGreaterThan(tooBig);
    expect(single.meter.completed + single.meter.failed).toBe(250);
    expect(Math.max(...single.queueWaitSeconds)).toBeLessThanOrEqual(SERVERLESS_QUEUE_TIMEOUT_SECONDS);
  });

  it("starts job runs within StartJobRun's quota (1/s, burst 25); a start whose Retry runs out fails the run", async () => {
    // 250 jobs in one minute: 25 go at once, then one a second. A Retry of 5 tries (5+10+20+40+80 s at most) cannot wait that out.
    const jobs = nightlyDay(250, 1);
    const run = await serverless(jobs, app({}), { ...config, limits: withServerlessRetry({ maxAttempts: 5, maxDelaySeconds: undefined }) });
    const starts = [...(run.meter.calls.get('StartJobRun')?.entries() ?? [])].sort((a, b) => a[0] - b[0]);
    let total = 0;
    for (const [second, count] of starts) {
      total += count;
      expect(total).toBeLessThanOrEqual(25 + (second - starts[0][0]) + 1);
    }
    expect(run.sim.startsThrottledOut).toBeGreaterThan(0);
    expect(run.meter.failures[SERVERLESS_THROTTLED]).toBe(run.sim.startsThrottledOut);
    expect(run.meter.completed + run.meter.failed).toBe(250);
  });

  it("negative control: RunServerlessJob's shipped Retry (up to 100 tries, a minute apart at most) drains the same burst", async () => {
    const jobs = nightlyDay(250, 1);
    const run = await serverless(jobs, app({}));
    expect(config.limits ?? loadStateMachineLimits()).toMatchObject({ runServerlessJob: { throttleRetry: { maxAttempts: 100, maxDelaySeconds: 60 } } });
    expect(run.meter.retriedCalls.StartJobRun).toBeGreaterThan(0);
    expect(run.sim.startsThrottledOut).toBe(0);
    expect(run.meter.failures).toEqual({});
  });

  it('refuses pre-initialized capacity past the account quota of 4,000 vCPU', () => {
    const jobs = nightlyDay(1, 1);
    expect(
      () => new ServerlessRun(app({ preInitialized: { drivers: 1, executors: 1000 } }), config, jobs, spotModel(PROFILE), new Random(1), () => {}),
    ).toThrow(/4000/);
  });
});

describe("a throttled call under the ASL's Retry (callRetrying, for RunPooledStep's AddJobFlowSteps)", () => {
  /** Every job makes one AddJobFlowSteps under `policy`; the ones whose retries run out fail as the Catch would. */
  class OneCallRun extends Run {
    constructor(
      private readonly policy: RetryPolicy,
      ...args: ConstructorParameters<typeof Run>
    ) {
      super(...args);
    }
    protected place(job: ReturnType<typeof nightlyDay>[number]): void {
      const state = this.states.get(job.id)!;
      this.callRetrying(
        'AddJobFlowSteps',
        this.policy,
        () => this.finish(state, 'succeeded', 0),
        () => this.finish(state, 'failed', 0, 'Emr.StepFailed'),
      );
    }
  }
  const jobs = nightlyDay(200, 1);
  async function run(policy: RetryPolicy) {
    const r = new OneCallRun(policy, config, jobs, spotModel(PROFILE), new Random(3), () => {});
    await r.run();
    return r.meter;
  }

  it("gives up after the policy's attempts, and fewer calls give up with more attempts", async () => {
    const shipped = loadStateMachineLimits().runPooledStep.throttleRetry;
    const asShipped = await run(shipped);
    const patient = await run({ ...shipped, maxAttempts: 12 });
    const none = await run({ ...shipped, maxAttempts: 0 });
    expect(asShipped.failures['Emr.StepFailed']).toBeGreaterThan(0);
    expect(patient.failures['Emr.StepFailed'] ?? 0).toBeLessThan(asShipped.failures['Emr.StepFailed']);
    expect(none.failures['Emr.StepFailed']).toBeGreaterThan(asShipped.failures['Emr.StepFailed']);
    for (const meter of [asShipped, patient, none]) expect(meter.completed + meter.failed).toBe(200);
  });
});
