/**
 * The day shape the simulated dispatcher pre-scales from (lib/domain/prescale.ts), learnt as dispatch-queue
 * learns it from the runs table: here from an earlier day's runs (the profile's day with another seed, or the
 * history export itself), never from the day being simulated, so the planner has no foresight AWS lacks.
 * Each run is taken to use the first pool whose clusters fit its units (use-shared-pool's test); its step
 * starts at its arrival and lasts as long as its data says.
 */
import { learnDayShape, type DayShape, type ShapeRun } from '../../lib/domain/prescale';
import { sizeDay, type PlannerConfig } from './decisions';
import type { SimJob } from './profile';

export function historyShape(history: SimJob[], runDate: string, config: Pick<PlannerConfig, 'pools'>): DayShape {
  const runs: ShapeRun[] = [];
  for (const job of sizeDay(history, runDate)) {
    const pool = config.pools.pools.find((p) => job.sizing.capacityUnits <= p.capacityUnits);
    if (pool) runs.push({ pool: pool.name, startedAtMs: job.arrival * 1000, units: job.sizing.capacityUnits, seconds: job.stepSeconds });
  }
  return learnDayShape(runs);
}
