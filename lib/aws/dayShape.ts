/**
 * The day shape prescale reads (lib/domain/prescale.ts), learnt from each pool's recent runs in the runs
 * table. The table is keyed by job, so reading a pool's runs is a bounded Scan (recentPoolRuns): far too dear
 * for every one-minute sweep, so a warm dispatch-queue container keeps the shape for an hour (the shape is a
 * time-of-day average over days; an hour's new runs barely move it).
 */
import type { PoolDefinition } from '../config/pools';
import { learnDayShape, shapeRunsFromRecords, type DayShape } from '../domain/prescale';
import { dynamoClient, env } from './clients';
import { recentPoolRuns } from './runs';

/** Runs read per pool: about a day of a busy pool (the shipped day is 20,000 runs). */
const RUNS_PER_POOL = 20_000;
const SHAPE_TTL_MS = 3_600_000;

let cached: { at: number; shape: DayShape } | undefined;

export async function poolDayShape(pools: PoolDefinition[], now = Date.now()): Promise<DayShape> {
  if (cached && now - cached.at < SHAPE_TTL_MS) return cached.shape;
  const records = await Promise.all(pools.map((pool) => recentPoolRuns(dynamoClient(), env('RUNS_TABLE'), pool.name, RUNS_PER_POOL)));
  const shape = learnDayShape(shapeRunsFromRecords(records.flat()));
  cached = { at: now, shape };
  return shape;
}

/** Drops the kept shape (tests; a new container starts without one). */
export function forgetDayShape(): void {
  cached = undefined;
}
