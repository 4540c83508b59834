/**
 * Prescale: the dispatch schedule's capacity-before-the-burst step, beside the job manager's dispatch (kept
 * apart from lib/jobManager/jobManager.ts: it reads the registry and calls EMR, it never grants, leases or
 * queues). Each minute, per pool, it asks the day shape (lib/domain/prescale.ts) for the managed-scaling
 * minimum to hold now and puts it on every running cluster of the pool with PutManagedScalingPolicy.
 *
 * Stateless on purpose: no registry field remembers the minimum a cluster holds. While a raise is due it is
 * put on every cluster each sweep (a cluster launched mid-burst gets it within a minute; PutManagedScalingPolicy
 * replaces the policy, so a repeat is harmless), and once more on the sweep the raise ends, which puts the
 * pool's own minimum back. Outside a burst it makes no call: at 8 clusters that is at most 8 EMR calls a
 * minute, against ~5 calls/s for the account.
 *
 * Pre-launch: when the shape says the pool needs more clusters within the launch lead (a cluster's start plus
 * the raise's lead) than it has, the sweep asks the job manager to launch the missing ones (its launch
 * protocol: placeholders, the launch guard, the RunJobFlow budget). Nothing ends them here: they end by the
 * pool's idle timeout after the burst, like any pool cluster, so the idle timeout must outlast a pre-launched
 * cluster's wait for the burst (config/pools.json says by how much).
 */
import type { PoolDefinition } from '../config/pools';
import { CLUSTER_STARTING_STATES } from '../contract';
import { DEFAULT_PRESCALE, prescaleMinimum, type DayShape, type PrescalePlan } from '../domain/prescale';
import { isAlive } from '../domain/pools';
import type { DispatchReport } from './jobManager';
import type { Clock, EmrPort } from './ports';
import type { RegistryStore } from './store';

export interface PrescalePorts {
  registry: Pick<RegistryStore, 'listClusters'>;
  emr: Required<Pick<EmrPort, 'setScalingMinimum'>>;
  clock: Pick<Clock, 'now'>;
  /** The job manager's prelaunch for this pool (JobManager.prelaunch); none = raise minimums only. */
  prelaunch?: (wanted: number, leadSeconds: number) => Promise<Pick<DispatchReport, 'launched' | 'errors'>>;
}

export interface PrescaleReport {
  pool: string;
  plan: PrescalePlan;
  /** Clusters given the plan's minimum this sweep (none when nothing changed). */
  applied: string[];
  /** Clusters pre-launched this sweep (plan.clustersWanted more than the pool had). */
  launched: string[];
  errors: string[];
}

/** The schedule's period: a raise that ended on the previous sweep is put back on this one. */
export const PRESCALE_SWEEP_MS = 60_000;

export async function prescalePool(ports: PrescalePorts, pool: PoolDefinition, shape: DayShape): Promise<PrescaleReport> {
  const now = ports.clock.now();
  const clusters = (await ports.registry.listClusters(pool.name)).filter((c) => isAlive(c) && !CLUSTER_STARTING_STATES.has(c.state));
  const options = { ...DEFAULT_PRESCALE, clusters: clusters.length };
  const plan = prescaleMinimum(shape, pool, now, options);
  const previous = prescaleMinimum(shape, pool, now - PRESCALE_SWEEP_MS, options);
  const report: PrescaleReport = { pool: pool.name, plan, applied: [], launched: [], errors: [] };
  if (ports.prelaunch && plan.clustersWanted > 0) {
    const launched = await ports.prelaunch(plan.clustersWanted, options.launchLeadSeconds);
    report.launched.push(...launched.launched);
    report.errors.push(...launched.errors);
  }
  if (!plan.raised && !previous.raised) return report;
  for (const cluster of clusters) {
    try {
      await ports.emr.setScalingMinimum(cluster.clusterId, pool, plan.minimumUnits);
      report.applied.push(cluster.clusterId);
    } catch (error) {
      // One cluster's refusal (ended meanwhile, throttled) must not keep the others from their minimum.
      report.errors.push(`${cluster.clusterId}: ${(error as Error).name}: ${(error as Error).message}`);
    }
  }
  return report;
}
