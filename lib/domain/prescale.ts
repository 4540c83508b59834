/**
 * Capacity before the burst: the day's shape, learnt from the runs table, and the managed-scaling minimum a
 * pool's clusters should hold at a given time. Pure: runs in, numbers out.
 *
 * Why move the managed-scaling minimum (PutManagedScalingPolicy) rather than resize the task fleet
 * (ModifyInstanceFleet): EMR managed scaling owns the fleets' target capacities while a policy is attached and
 * re-evaluates every 5–10 seconds (EMR Management Guide, "Scaling cluster resources"), so a fleet resized by
 * hand is moved back by the next evaluation; the policy's MinimumCapacityUnits is the one input it always
 * honours. Raising it makes EMR provision up to the new minimum at once (only EC2 launch and node bootstrap
 * remain, minutes), and lowering it lets managed scaling decommission the idle nodes again. Managed scaling
 * alone follows YARN's pending containers: it only starts adding nodes once the burst's steps are waiting, so
 * an hourly burst of short jobs waits out a whole scale-out. Raising the minimum a lead time before a burst
 * the history predicts hides that scale-out; lowering it when the predicted work ends keeps the scale-in prompt.
 *
 * A raised minimum cannot help a cluster that does not exist: a pool whose clusters end between bursts (a short
 * idle timeout, so the primaries and core nodes do not sit idle most of every hour) needs its clusters back
 * before the next burst. So the shape also says how many clusters the pool needs within a longer lead (a
 * cluster's start, up to ten minutes, plus the raise's own lead), and the job manager pre-launches the missing
 * ones (lib/jobManager/prescale.ts); they end by their idle timeout once the burst is over.
 */

/** One past run as the shape needs it: when its step started, on which pool, how many units, for how long. */
export interface ShapeRun {
  pool: string;
  startedAtMs: number;
  units: number;
  seconds: number;
}

/** Mean concurrent units and runs per pool in each bucket of the day (UTC), over the days the history covers. */
export interface DayShape {
  bucketSeconds: number;
  days: number;
  units: Record<string, number[]>;
  /** Concurrent runs (steps): a cluster holds at most maxJobsPerCluster of them, whatever their units. */
  steps: Record<string, number[]>;
}

export interface PrescalePool {
  name: string;
  capacityUnits: number;
  maxClusters: number;
  maxJobsPerCluster: number;
  managedScaling: { minimumUnits: number; maximumUnits: number };
}

export interface PrescaleOptions {
  /**
   * How far ahead to look: managed scaling's EC2 launch and node bootstrap (about 4 minutes) plus one
   * dispatch sweep (1 minute), so the nodes are up when the burst's first step lands. A minute's margin more
   * held the raised nodes a minute longer every burst for no start gained (npm run bench:day: p95 177 s both ways).
   */
  leadSeconds: number;
  /**
   * How far ahead pre-launch looks: a cluster's start to WAITING (5-10 minutes reported, REFERENCE.md; the
   * longest taken) plus the minimum's lead, so a cluster launched now is up and raised when the burst lands.
   */
  launchLeadSeconds: number;
  /** Alive clusters of the pool now: the predicted units are spread over them. */
  clusters: number;
  /** The unit step the minimum is rounded up to (a node's units). */
  unitStep: number;
  /** Predicted units below this are noise (a run or two a day), not a burst worth holding nodes for. */
  minimumBurstUnits: number;
  /**
   * A burst stands this many times above the pool's mean units over the day: an even load keeps its clusters
   * busy without help, and holding nodes ahead of it would only add idle ones.
   */
  burstOverMean: number;
}

/**
 * minimumBurstUnits is one 4xlarge node: since a small job holds one unit (lib/domain/sizing.ts), a tenth of the
 * default day peaks at 6-8 units a minute, and 8 (two 2-unit jobs' nodes) took its bursts for noise.
 */
export const DEFAULT_PRESCALE: Omit<PrescaleOptions, 'clusters'> = {
  leadSeconds: 300,
  launchLeadSeconds: 960,
  unitStep: 4,
  minimumBurstUnits: 4,
  burstOverMean: 2,
};
/**
 * One-minute buckets: an hourly upload lands within a few minutes, and its peak is what the clusters must hold.
 * Five-minute buckets averaged the peak away (the default day's :00 burst peaks near 370 units; its five-minute
 * mean was 168), so every burst waited out a managed-scaling scale-out (npm run bench:day).
 */
export const SHAPE_BUCKET_SECONDS = 60;
const DAY_SECONDS = 86_400;

export interface PrescalePlan {
  /** The MinimumCapacityUnits each of the pool's clusters should hold now. */
  minimumUnits: number;
  /** The pool's units the history predicts within the lead time. */
  predictedUnits: number;
  /**
   * Clusters the pool needs within the launch lead: the predicted units over capacityUnits, or the predicted
   * runs over maxJobsPerCluster, whichever is more (capped at maxClusters; 0 below minimumBurstUnits).
   */
  clustersWanted: number;
  raised: boolean;
}

/** Runs-table records (RunRecord) as shape runs: pooled runs with units, started at finishedAt − durationSeconds. */
export function shapeRunsFromRecords(
  records: Array<{ pool?: string | null; finishedAt: string; durationSeconds: number; stepSeconds?: number | null; capacityUnits?: number | null }>,
): ShapeRun[] {
  const runs: ShapeRun[] = [];
  for (const record of records) {
    const finished = Date.parse(record.finishedAt);
    if (!record.pool || !record.capacityUnits || Number.isNaN(finished)) continue;
    const seconds = record.stepSeconds ?? record.durationSeconds;
    runs.push({ pool: record.pool, startedAtMs: finished - seconds * 1000, units: record.capacityUnits, seconds: Math.max(1, seconds) });
  }
  return runs;
}

/**
 * Spreads each run's units over the buckets its step overlapped (wrapping past midnight), averaged over the
 * distinct UTC days the history covers: the units a pool held, on a typical day, at each time of day.
 */
export function learnDayShape(runs: ShapeRun[], bucketSeconds = SHAPE_BUCKET_SECONDS): DayShape {
  const buckets = Math.ceil(DAY_SECONDS / bucketSeconds);
  const days = new Set(runs.map((run) => Math.floor(run.startedAtMs / 1000 / DAY_SECONDS))).size || 1;
  const units: Record<string, number[]> = {};
  const steps: Record<string, number[]> = {};
  for (const run of runs) {
    units[run.pool] ??= new Array<number>(buckets).fill(0);
    steps[run.pool] ??= new Array<number>(buckets).fill(0);
    const row = units[run.pool];
    const stepRow = steps[run.pool];
    let at = (run.startedAtMs / 1000) % DAY_SECONDS;
    let left = run.seconds;
    while (left > 0) {
      const bucket = Math.floor(at / bucketSeconds) % buckets;
      const span = Math.min(left, (bucket + 1) * bucketSeconds - at);
      row[bucket] += (run.units * span) / bucketSeconds / days;
      stepRow[bucket] += span / bucketSeconds / days;
      left -= span;
      at = (at + span) % DAY_SECONDS;
    }
  }
  return { bucketSeconds, days, units, steps };
}

/** The most units (or, with `of: 'steps'`, runs) the shape predicts for `pool` from `atMs` to `atMs + leadSeconds`. */
export function predictedUnits(shape: DayShape, pool: string, atMs: number, leadSeconds: number, of: 'units' | 'steps' = 'units'): number {
  const row = shape[of][pool];
  if (!row) return 0;
  const from = Math.floor(((atMs / 1000) % DAY_SECONDS) / shape.bucketSeconds);
  const ahead = Math.ceil(leadSeconds / shape.bucketSeconds);
  let most = 0;
  for (let i = 0; i <= ahead; i++) most = Math.max(most, row[(from + i) % row.length]);
  return most;
}

/**
 * The managed-scaling minimum each alive cluster of `pool` should hold at `atMs`: the predicted units spread
 * over the clusters, rounded up to a node and kept within the pool's scaling limits; the pool's own minimum
 * when no burst is predicted within the lead time (so it falls as soon as the predicted work ends).
 */
export function prescaleMinimum(shape: DayShape, pool: PrescalePool, atMs: number, options: PrescaleOptions): PrescalePlan {
  const base = pool.managedScaling.minimumUnits;
  const predicted = predictedUnits(shape, pool.name, atMs, options.leadSeconds);
  const clustersWanted = prelaunchClusters(shape, pool, atMs, options);
  if (!isBurst(shape, pool.name, predicted, options) || options.clusters < 1)
    return { minimumUnits: base, predictedUnits: predicted, clustersWanted, raised: false };
  const perCluster = Math.ceil(predicted / options.clusters / options.unitStep) * options.unitStep;
  const minimumUnits = Math.max(base, Math.min(pool.managedScaling.maximumUnits, pool.capacityUnits, perCluster));
  return { minimumUnits, predictedUnits: predicted, clustersWanted, raised: minimumUnits > base };
}

/**
 * Clusters `pool` needs within the launch lead: enough for the most units and the most runs the shape predicts
 * in that window, capped at maxClusters; none when the window holds no burst (under minimumBurstUnits).
 */
export function prelaunchClusters(
  shape: DayShape,
  pool: PrescalePool,
  atMs: number,
  options: Pick<PrescaleOptions, 'launchLeadSeconds' | 'minimumBurstUnits' | 'burstOverMean'>,
): number {
  const units = predictedUnits(shape, pool.name, atMs, options.launchLeadSeconds);
  if (!isBurst(shape, pool.name, units, options)) return 0;
  const steps = predictedUnits(shape, pool.name, atMs, options.launchLeadSeconds, 'steps');
  return Math.min(pool.maxClusters, Math.max(Math.ceil(units / pool.capacityUnits), Math.ceil(steps / pool.maxJobsPerCluster)));
}

/** Whether `units` predicted for `pool` are a burst: above the noise floor and well above the day's mean. */
function isBurst(shape: DayShape, pool: string, units: number, options: Pick<PrescaleOptions, 'minimumBurstUnits' | 'burstOverMean'>): boolean {
  const row = shape.units[pool];
  if (!row || units < options.minimumBurstUnits) return false;
  const mean = row.reduce((sum, value) => sum + value, 0) / row.length;
  return units >= options.burstOverMean * mean;
}
