import { shippedConfig } from '../../../local/planner';
import {
  EMR_SERVERLESS_QUOTAS,
  SERVERLESS_APPLICATION_MAX_VCPU,
  SERVERLESS_COLD_START_SECONDS,
  SERVERLESS_SPARK_STARTUP_SECONDS,
} from '../../../local/planner/constants';
import { SPARK_STARTUP_SECONDS } from '../../../lib/domain/sizing';
import { sizeDay, trueStepSeconds, type SizedJob } from '../../../local/planner/decisions';
import { EventQueue } from '../../../local/planner/eventQueue';
import { Meter } from '../../../local/planner/meter';
import { generateJobs, readProfile, spotModel, type Profile } from '../../../local/planner/profile';
import { QuotaQueue } from '../../../local/planner/quotaQueue';
import { Random } from '../../../local/planner/random';
import type { JobState, Outcome } from '../../../local/planner/run';
import { demandAtStart, PRE_INITIALIZED_START_TARGET, preInitializedForDemand, throughQuota, warmShareFor } from '../../../local/planner/serverlessPreInit';
import {
  asServerlessSeconds,
  dayWorker,
  driverFor,
  workerFor,
  EXECUTION_ABORTED,
  ServerlessApplicationSim,
  ServerlessRun,
  workerHourly,
  type ServerlessApplication,
  type ServerlessHost,
} from '../../../local/planner/serverlessRun';

const PROFILE = readProfile('examples/planner/day.json');
const config = shippedConfig();

/** `count` jobs of one kind arriving in the nightly spike (`spikeMinutes` long), about `mibEach` MiB of input each. */
function nightlyDay(count: number, spikeMinutes: number, mibEach = 300): SizedJob[] {
  const kind = PROFILE.kinds.find((k) => k.arrival === 'nightly');
  if (!kind) throw new Error('the default profile has no nightly kind');
  const profile: Profile = {
    ...PROFILE,
    jobs: count,
    totalInputTiB: (count * mibEach) / 1024 / 1024,
    kinds: [kind],
    arrivals: { ...PROFILE.arrivals, nightlySpikeMinutes: spikeMinutes },
  };
  return sizeDay(generateJobs(profile, 1), PROFILE.date);
}

/** Every job twice, at the same arrival: the same day with double the demand. */
function doubled(jobs: SizedJob[]): SizedJob[] {
  return jobs.flatMap((job) => [job, { ...job, id: `${job.id}-twin` }]);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

describe('emr-serverless-preinit: pre-initialized capacity from the day’s demand model', () => {
  it('needs a third of the jobs warm for start p50 <= 60 s with cold starts over 40-120 s, none when cold starts meet the target', () => {
    expect(PRE_INITIALIZED_START_TARGET).toEqual({ seconds: 60, quantile: 0.5 });
    expect(warmShareFor()).toBeCloseTo(1 / 3, 9);
    expect(warmShareFor({ seconds: SERVERLESS_COLD_START_SECONDS.max, quantile: 0.95 })).toBe(0);
    expect(warmShareFor({ seconds: SERVERLESS_COLD_START_SECONDS.min, quantile: 0.95 })).toBe(0.95);
  });

  it('moves starts through StartJobRun’s quota first come first served: the burst at once, then one a second', () => {
    const asks = Array.from({ length: 30 }, () => 100);
    const through = throughQuota(asks);
    expect(EMR_SERVERLESS_QUOTAS.StartJobRun).toEqual({ burst: 25, perSecond: 1 });
    expect(through.slice(0, 25)).toEqual(Array.from({ length: 25 }, () => 100));
    expect(through.slice(25)).toEqual([101, 102, 103, 104, 105]);
    // Spread asks never wait.
    expect(throughQuota([0, 10, 20])).toEqual([0, 10, 20]);
  });

  it('picks a larger size for doubled demand', () => {
    const jobs = nightlyDay(300, 30);
    const single = preInitializedForDemand(jobs, SERVERLESS_APPLICATION_MAX_VCPU);
    const twice = preInitializedForDemand(doubled(jobs), SERVERLESS_APPLICATION_MAX_VCPU);
    expect(single.drivers).toBeGreaterThan(1);
    expect(twice.drivers).toBeGreaterThan(single.drivers);
    expect(twice.executors).toBeGreaterThan(single.executors);
    // Deterministic: the same jobs give the same size (no simulated run, no random draw).
    expect(preInitializedForDemand(jobs, SERVERLESS_APPLICATION_MAX_VCPU)).toEqual(single);
  });

  it('negative control: a negligible demand (jobs hours apart) picks the smallest size, one job’s driver and executors', () => {
    const jobs = nightlyDay(3, 600);
    for (const seen of demandAtStart(jobs)) expect(seen.drivers).toBe(1);
    const smallest = Math.min(...jobs.map((job) => job.sizing.spark.executorInstances));
    expect(preInitializedForDemand(jobs, SERVERLESS_APPLICATION_MAX_VCPU)).toEqual({ drivers: 1, executors: smallest });
    expect(preInitializedForDemand([], SERVERLESS_APPLICATION_MAX_VCPU)).toEqual({ drivers: 0, executors: 0 });
  });

  it('stays within the application’s maximum capacity', () => {
    const jobs = doubled(doubled(nightlyDay(300, 5)));
    const maxVcpu = 64;
    const size = preInitializedForDemand(jobs, maxVcpu);
    expect((size.drivers + size.executors) * dayWorker(jobs).vcpu).toBeLessThanOrEqual(maxVcpu);
    expect(size.drivers).toBeGreaterThanOrEqual(1);
  });

  it('meets the start target it was sized for on a burst; without pre-initialized capacity the same day misses it', async () => {
    const jobs = nightlyDay(300, 30);
    const run = async (preInitialized: ServerlessApplication['preInitialized']) => {
      const application: ServerlessApplication = { architecture: 'ARM64', preInitialized, maxVcpu: SERVERLESS_APPLICATION_MAX_VCPU };
      const r = new ServerlessRun(application, config, jobs, spotModel(PROFILE), new Random(9), () => {});
      await r.run();
      return r.meter.startSeconds;
    };
    const sized = await run(preInitializedForDemand(jobs, SERVERLESS_APPLICATION_MAX_VCPU));
    expect(median(sized)).toBeLessThanOrEqual(PRE_INITIALIZED_START_TARGET.seconds);
    expect(median(await run({ drivers: 0, executors: 0 }))).toBeGreaterThan(PRE_INITIALIZED_START_TARGET.seconds);
  });
});

/** A bare host for one simulated application: a clock, its events, a meter, and the executions' ends. */
function bareHost() {
  const events = new EventQueue<() => void>();
  const clock = { now: 0 };
  const ended = new Map<string, { outcome: Outcome; error?: string; at: number }>();
  const meter = new Meter(EMR_SERVERLESS_QUOTAS);
  const now = () => clock.now;
  const at = (seconds: number, action: () => void) => events.push(seconds, action);
  const { perSecond, burst } = EMR_SERVERLESS_QUOTAS.CancelJobRun;
  const host: ServerlessHost = {
    now,
    at,
    random: new Random(3),
    meter,
    prices: config.prices,
    firstExecutor: () => {},
    finish: (state, outcome, _work, error) => {
      expect(ended.has(state.job.id)).toBe(false);
      ended.set(state.job.id, { outcome, error, at: clock.now });
    },
    queueChanged: () => {},
    startJobRun: (call) => call(),
    cancelJobRuns: new QuotaQueue('CancelJobRun', { ratePerSecond: perSecond, burst }, { now, at, meter }),
  };
  const runUntil = (until: number) => {
    for (let next = events.pop(); next; next = events.pop()) {
      if (next.at > until) {
        events.push(next.at, next.event);
        break;
      }
      clock.now = next.at;
      next.event();
    }
    clock.now = until;
  };
  return { host, ended, runUntil };
}

describe('CancelJobRun under its documented quota (cleanup-execution and the reaper on abort)', () => {
  // Big enough inputs that each run lasts well past its workers' 1-minute minimum.
  const jobs = nightlyDay(100, 1, 200 * 1024);
  const states = (list: SizedJob[]): JobState[] => list.map((job) => ({ job, attempt: 1, started: false, stepRunning: false, ended: null }));
  const application: ServerlessApplication = { architecture: 'ARM64', preInitialized: { drivers: 0, executors: 0 }, maxVcpu: 4000 };
  const ABORT_AT = 150;

  function abortAt(count: number) {
    const { host, ended, runUntil } = bareHost();
    const sim = new ServerlessApplicationSim(application, dayWorker(jobs), host);
    const all = states(jobs.slice(0, count));
    for (const state of all) sim.submit(state);
    // Every run is up (cold starts take 40-120 s): abort at once those still running (a few small inputs are done).
    runUntil(ABORT_AT);
    const active = all.filter((state) => !ended.has(state.job.id));
    const costBefore = host.meter.cost.emrServerless;
    for (const state of active) expect(sim.abort(state)).toBe(true);
    runUntil(1_000_000);
    return { sim, host, ended, active, costBefore };
  }

  it('cancels 25 job runs at once, then one a second: a mass abort of 60 executions waits a second per cancel past 25', () => {
    expect(EMR_SERVERLESS_QUOTAS.CancelJobRun).toEqual({ burst: 25, perSecond: 1 });
    const { sim, host, ended, active } = abortAt(60);
    expect(active.length).toBeGreaterThan(50);
    const calls = [...(host.meter.calls.get('CancelJobRun')?.entries() ?? [])].sort((a, b) => a[0] - b[0]);
    expect(calls.reduce((sum, [, n]) => sum + n, 0)).toBe(active.length);
    let total = 0;
    for (const [second, count] of calls) {
      total += count;
      expect(total).toBeLessThanOrEqual(25 + (second - ABORT_AT) + 1);
    }
    expect(sim.cancels.throttled).toBe(active.length - 25);
    expect(Math.max(...sim.cancels.waitSeconds)).toBe(active.length - 25);
    // Each aborted execution ended once, when aborted; its job run never finished it again.
    expect(ended.size).toBe(60);
    for (const state of active) expect(ended.get(state.job.id)).toMatchObject({ outcome: 'failed', error: EXECUTION_ABORTED, at: ABORT_AT });
  });

  it('negative control: an abort within the burst cancels every job run at once, nothing throttled', () => {
    const { sim, active } = abortAt(20);
    expect(active.length).toBeGreaterThan(10);
    expect(sim.cancels.throttled).toBe(0);
    expect(Math.max(...sim.cancels.waitSeconds)).toBe(0);
  });

  it('stops billing a cancelled run’s workers when its CancelJobRun gets through, not at its natural end', () => {
    const { host, costBefore, active } = abortAt(1);
    expect(active.length).toBe(1);
    // start() billed the run to its end; the cancel at ABORT_AT takes back what was past it: from ready (40-120 s
    // after the start) to ABORT_AT, at least the 1-minute minimum, stays billed.
    // The run's own workers: its driver and its executors, each at its configuration's price.
    const { sizing } = active[0].job;
    const hourly =
      workerHourly(config.prices, driverFor(sizing), 'ARM64') + sizing.spark.executorInstances * workerHourly(config.prices, workerFor(sizing), 'ARM64');
    expect(costBefore).toBeGreaterThan((hourly * 600) / 3600);
    expect(host.meter.cost.emrServerless).toBeLessThanOrEqual((hourly * (ABORT_AT - SERVERLESS_COLD_START_SECONDS.min)) / 3600 + 1e-9);
    expect(host.meter.cost.emrServerless).toBeGreaterThanOrEqual((hourly * 60) / 3600 - 1e-9);
  });

  it('has nothing to cancel for a job run that already ended: no CancelJobRun, the execution is not ended twice', () => {
    const { host, ended, runUntil } = bareHost();
    const sim = new ServerlessApplicationSim(application, dayWorker(jobs), host);
    const [state] = states(jobs.slice(0, 1));
    sim.submit(state);
    runUntil(100_000);
    expect(ended.get(state.job.id)?.outcome).toBe('succeeded');
    expect(sim.abort(state)).toBe(false);
    runUntil(200_000);
    expect(host.meter.calls.get('CancelJobRun')).toBeUndefined();
  });
});

describe('the Spark start of a Serverless job run is its own figure, not an EMR step’s', () => {
  it('holds (and bills) the workers for the data work plus SERVERLESS_SPARK_STARTUP_SECONDS once they are up', () => {
    expect(SERVERLESS_SPARK_STARTUP_SECONDS).toBeLessThan(SPARK_STARTUP_SECONDS);
    const [job] = nightlyDay(1, 1, 200 * 1024);
    const { host, ended, runUntil } = bareHost();
    const sim = new ServerlessApplicationSim({ architecture: 'ARM64', preInitialized: { drivers: 0, executors: 0 }, maxVcpu: 4000 }, dayWorker([job]), host);
    sim.submit({ job, attempt: 1, started: false, stepRunning: false, ended: null });
    runUntil(1_000_000);
    const workers = 1 + job.sizing.spark.executorInstances;
    const hourly = workerHourly(config.prices, dayWorker([job]), 'ARM64');
    const seconds = asServerlessSeconds(trueStepSeconds(job, workers));
    expect(seconds).toBeGreaterThan(600);
    expect(host.meter.cost.emrServerless).toBeCloseTo((workers * hourly * seconds) / 3600, 9);
    // Negative control: billed as an EMR step (client JVM and YARN included) it would cost more.
    expect(host.meter.cost.emrServerless).toBeLessThan((workers * hourly * trueStepSeconds(job, workers)) / 3600);
    expect(ended.get(job.id)?.outcome).toBe('succeeded');
  });
});
