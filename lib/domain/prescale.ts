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
 */

/** One past run as the shape needs it: when its step started, on which pool, how many units, for how long. */
export interface ShapeRun {
  pool: string;
  startedAtMs: number;
  units: number;
  seconds: number;
}

/** Mean concurrent units per pool in each bucket of the day (UTC), over the days the history covers. */
export interface DayShape {
  bucketSeconds: number;
  days: number;
  units: Record<string, number[]>;
}

export interface PrescalePool {
  name: string;
  capacityUnits: number;
  maxClusters: number;
  managedScaling: { minimumUnits: number; maximumUnits: number };
}

export interface PrescaleOptions {
  /**
   * How far ahead to look: managed scaling's EC2 launch and node bootstrap (about 4 minutes) plus one
   * dispatch sweep (1 minute) plus a minute's margin, so the nodes are up when the burst's first step lands.
   */
  leadSeconds: number;
  /** Alive clusters of the pool now: the predicted units are spread over them. */
  clusters: number;
  /** The unit step the minimum is rounded up to (a node's units). */
  unitStep: number;
  /** Predicted units below this are noise (a run or two a day), not a burst worth holding nodes for. */
  minimumBurstUnits: number;
}

export const DEFAULT_PRESCALE: Omit<PrescaleOptions, 'clusters'> = { leadSeconds: 360, unitStep: 4, minimumBurstUnits: 8 };
/** Five-minute buckets: an hourly upload lands within a few minutes, and the lead time is about one bucket. */
export const SHAPE_BUCKET_SECONDS = 300;
const DAY_SECONDS = 86_400;

export interface PrescalePlan {
  /** The MinimumCapacityUnits each of the pool's clusters should hold now. */
  minimumUnits: number;
  /** The pool's units the history predicts within the lead time. */
  predictedUnits: number;
  /** Clusters the predicted units would fill (capped at maxClusters): more than are alive means a pre-launch would help. */
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
  for (const run of runs) {
    units[run.pool] ??= new Array<number>(buckets).fill(0);
    const row = units[run.pool];
    let at = (run.startedAtMs / 1000) % DAY_SECONDS;
    let left = run.seconds;
    while (left > 0) {
      const bucket = Math.floor(at / bucketSeconds) % buckets;
      const span = Math.min(left, (bucket + 1) * bucketSeconds - at);
      row[bucket] += (run.units * span) / bucketSeconds / days;
      left -= span;
      at = (at + span) % DAY_SECONDS;
    }
  }
  return { bucketSeconds, days, units };
}

/** The most units the shape predicts for `pool` from `atMs` to `atMs + leadSeconds`. */
export function predictedUnits(shape: DayShape, pool: string, atMs: number, leadSeconds: number): number {
  const row = shape.units[pool];
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
  const clustersWanted = Math.min(pool.maxClusters, Math.ceil(predicted / pool.capacityUnits));
  if (predicted < options.minimumBurstUnits || options.clusters < 1) return { minimumUnits: base, predictedUnits: predicted, clustersWanted, raised: false };
  const perCluster = Math.ceil(predicted / options.clusters / options.unitStep) * options.unitStep;
  const minimumUnits = Math.max(base, Math.min(pool.managedScaling.maximumUnits, pool.capacityUnits, perCluster));
  return { minimumUnits, predictedUnits: predicted, clustersWanted, raised: minimumUnits > base };
}
