/**
 * The day shape the simulated dispatcher pre-scales from (lib/domain/prescale.ts), learnt as dispatch-queue
 * learns it from the runs table: here from an earlier day's runs (the profile's day with another seed, or the
 * history export itself), never from the day being simulated, so the planner has no foresight AWS lacks.
 * Each run is taken to use the first pool whose clusters fit its units (use-shared-pool's test); its step
 * starts at its arrival and lasts as long as its data says. A strategy that places some jobs elsewhere (the
 * hybrid's EMR Serverless runs) learns from the pooled runs of its own earlier day instead (pooledShape):
 * the runs table holds a pool only for the runs that ran on one.
 */
import { learnDayShape, type DayShape, type ShapeRun } from '../../lib/domain/prescale';
import { sizeDay, type PlannerConfig, type SizedJob } from './decisions';
import type { SimJob } from './profile';

export function historyShape(history: SimJob[], runDate: string, config: Pick<PlannerConfig, 'pools'>): DayShape {
  return learnDayShape(shapeRuns(sizeDay(history, runDate), config, () => true));
}

/** The shape of the runs an earlier day actually pooled: `pooled` says which jobs its strategy put on a pool. */
export function pooledShape(day: SizedJob[], config: Pick<PlannerConfig, 'pools'>, pooled: (job: SizedJob) => boolean): DayShape {
  return learnDayShape(shapeRuns(day, config, pooled));
}

function shapeRuns(jobs: SizedJob[], config: Pick<PlannerConfig, 'pools'>, pooled: (job: SizedJob) => boolean): ShapeRun[] {
  const runs: ShapeRun[] = [];
  for (const job of jobs) {
    const pool = config.pools.pools.find((p) => job.sizing.capacityUnits <= p.capacityUnits);
    if (pool && pooled(job)) runs.push({ pool: pool.name, startedAtMs: job.arrival * 1000, units: job.sizing.capacityUnits, seconds: job.stepSeconds });
  }
  return runs;
}
