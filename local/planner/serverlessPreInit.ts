/**
 * How much pre-initialized capacity the emr-serverless-preinit strategy keeps up, from the day's demand model.
 *
 * It used to be the cheapest of six simulated sizes "with no more SLA misses than without"; but the day's misses
 * come from StartJobRun's quota (1/s: a burst of 600 starts queues for minutes before any worker is asked for),
 * which no pre-initialized worker shortens, so the comparison ranked the sizes by throttling noise and kept the
 * largest. Here the size follows from what pre-initialized capacity can change, the capacity wait, and nothing
 * else: a job starts in seconds when a pre-initialized driver and its executors are free when its StartJobRun
 * gets through, else cold. So the size is the concurrency the target start needs:
 *
 * 1. The warm share the target needs: with a start target T for quantile q of the jobs, and a cold start uniform
 *    over SERVERLESS_COLD_START_SECONDS (share c = P(cold <= T)), warm starts (all under T) must make up
 *    w = (q - c) / (1 - c) of the jobs. Issue 22's target, start p50 <= 60 s, gives c = 0.25 and w = 1/3.
 * 2. The demand model: each job of the pre-initialized worker's configuration holds one driver and its sized
 *    executors from when its StartJobRun gets through (arrival + orchestration, then the documented quota, 1/s
 *    with a burst of 25, first come first served) for a warm start plus sizing's predicted minutes as a Serverless
 *    run (asServerlessSeconds: what the planner knows, not the simulated truth). The quota's wait only moves when workers are asked for: it is not a
 *    capacity wait, and pre-initialized capacity cannot shorten it. The workers in use when a job's StartJobRun
 *    gets through, itself included, is what that job needs pre-initialized to start warm.
 * 3. The size: the w-quantile (nearest rank) over the jobs of the drivers, and of the executors, in use at their
 *    StartJobRun; at least one job's worth; within the application's maximum capacity.
 *
 * It is deterministic (no simulated run, no random draw), grows with the demand and shrinks to one job's worth when
 * the jobs never overlap.
 */
import { EMR_SERVERLESS_QUOTAS, ORCHESTRATION_BEFORE_PLACE_SECONDS, SERVERLESS_COLD_START_SECONDS, SERVERLESS_PREINIT_START_SECONDS } from './constants';
import type { SizedJob } from './decisions';
import { asServerlessSeconds, dayWorker, sameWorker, type ServerlessApplication, workerFor } from './serverlessRun';

/** The start pre-initialized capacity is sized for: issue 22's target, start p50 <= 60 s. */
export const PRE_INITIALIZED_START_TARGET = { seconds: 60, quantile: 0.5 };

/** Share of the jobs that must start on pre-initialized workers for `target` to hold, given the cold start's spread. */
export function warmShareFor(target = PRE_INITIALIZED_START_TARGET, cold = SERVERLESS_COLD_START_SECONDS): number {
  const coldInTime = Math.min(1, Math.max(0, (target.seconds - cold.min) / (cold.max - cold.min)));
  if (coldInTime >= 1) return 0;
  return Math.min(1, Math.max(0, (target.quantile - coldInTime) / (1 - coldInTime)));
}

/** When each of `asks` (seconds, ascending) gets through a token bucket of `quota`, first come first served. */
export function throughQuota(asks: readonly number[], quota = EMR_SERVERLESS_QUOTAS.StartJobRun): number[] {
  let tokens = quota.burst;
  let clock = asks.length > 0 ? asks[0] : 0;
  return asks.map((ask) => {
    const at = Math.max(ask, clock);
    tokens = Math.min(quota.burst, tokens + (at - clock) * quota.perSecond);
    clock = at;
    if (tokens < 1) {
      clock += (1 - tokens) / quota.perSecond;
      tokens = 1;
    }
    tokens -= 1;
    return clock;
  });
}

/** Drivers and executors in use when each job's StartJobRun gets through (itself included), under the demand model above. */
export function demandAtStart(jobs: readonly SizedJob[]): Array<{ drivers: number; executors: number }> {
  const worker = dayWorker(jobs);
  const warm = (SERVERLESS_PREINIT_START_SECONDS.min + SERVERLESS_PREINIT_START_SECONDS.max) / 2;
  const asked = jobs
    .filter((job) => sameWorker(workerFor(job.sizing), worker))
    .map((job) => ({ ask: job.arrival + ORCHESTRATION_BEFORE_PLACE_SECONDS, job }))
    .sort((a, b) => a.ask - b.ask);
  const through = throughQuota(asked.map((a) => a.ask));
  const runs = asked.map(({ job }, i) => ({
    start: through[i],
    end: through[i] + warm + asServerlessSeconds(job.sizing.predictedMinutes * 60),
    executors: job.sizing.spark.executorInstances,
  }));
  // Ends before starts at the same instant: a run that ends frees its workers for one that starts then.
  const events = runs.flatMap((run) => [
    { at: run.start, drivers: 1, executors: run.executors, start: true },
    { at: run.end, drivers: -1, executors: -run.executors, start: false },
  ]);
  events.sort((a, b) => a.at - b.at || Number(a.start) - Number(b.start));
  const seen: Array<{ drivers: number; executors: number }> = [];
  let drivers = 0;
  let executors = 0;
  for (const event of events) {
    drivers += event.drivers;
    executors += event.executors;
    if (event.start) seen.push({ drivers, executors });
  }
  return seen;
}

/** The pre-initialized capacity the day's demand needs for the start target (see the module comment). */
export function preInitializedForDemand(
  jobs: readonly SizedJob[],
  maxVcpu: number,
  target = PRE_INITIALIZED_START_TARGET,
): ServerlessApplication['preInitialized'] {
  const demand = demandAtStart(jobs);
  if (demand.length === 0) return { drivers: 0, executors: 0 };
  const share = warmShareFor(target);
  const quantile = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.max(0, Math.ceil(sorted.length * share) - 1)];
  };
  const smallest = Math.min(...demand.map((d) => d.executors).filter((e) => e > 0), Number.POSITIVE_INFINITY);
  let drivers = Math.max(1, quantile(demand.map((d) => d.drivers)));
  let executors = Math.max(Number.isFinite(smallest) ? smallest : 0, quantile(demand.map((d) => d.executors)));
  // Within the application's maximum capacity, keeping the drivers' share of the workers.
  const room = Math.floor(maxVcpu / dayWorker(jobs).vcpu);
  if (drivers + executors > room) {
    const scale = room / (drivers + executors);
    drivers = Math.max(1, Math.floor(drivers * scale));
    executors = Math.max(0, Math.min(room - drivers, Math.floor(executors * scale)));
  }
  return { drivers, executors };
}
