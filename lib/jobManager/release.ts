/**
 * Giving leases back (see jobManager.ts, "Lease protocol"): release, cleanup of an ended execution, and the steps that keep a lease held.
 */
import { CLUSTER_ENDED_STATES, STEP_ENDED_STATES } from '../contract';
import type { PoolCluster } from '../domain/pools';
import type { Slot } from './ports';
import type { JobManagerContext } from './context';
import type { ExecutionHoldings, PoolContext } from './jobManager';
import { dispatchIfTokens } from './dispatch';

/** Waits before each ListSteps that looks for a cancelled step's end before its lease is released (the first: none). */
const CANCEL_CHECK_MS = [0, 500, 1_500];
/** ListSteps pages read per look (newest first: a step just cancelled is on the first). */
const CANCEL_CHECK_PAGES = 3;

/**
 * Gives a lease back, unless a step of its execution may still run on the cluster (run-job's failure path
 * after RunPooledStep timed out, or any path that gives up on a step EMR still runs): that step is
 * cancelled and the lease kept, because its units are in use until EMR ends it: the lease lapses now, and
 * the sweep takes it back once no step of its execution may still run (see sweep). A slot that carries its
 * step id (a batched grant) has that step looked up alone (slotStepStillRunning).
 */
export async function releaseCapacity(jm: JobManagerContext, context: PoolContext, slot: Pick<Slot, 'clusterId' | 'lease' | 'stepId'>) {
  const running = await cancelRunningSteps(jm, context.pool.name, slot);
  const released = running.length > 0 ? { released: false, units: 0 } : await jm.store.release(context.pool.name, slot.clusterId, slot.lease);
  return { ...released, running, dispatch: await dispatchIfTokens(jm, context) };
}

/** Cancels the steps of a lease's execution that may still run on its cluster (none on an ended cluster); their ids. */
async function cancelRunningSteps(jm: JobManagerContext, pool: string, slot: Pick<Slot, 'clusterId' | 'lease' | 'stepId'>): Promise<string[]> {
  const cluster = await jm.store.getCluster(pool, slot.clusterId);
  const held = cluster?.leases[slot.lease];
  if (!cluster || !held) return [];
  return giveUpRunningSteps(jm, cluster, slot.lease, held.execution, slot.stepId);
}

/**
 * Cancels the steps of `execution` that may still run on `cluster` and, if there are any, lapses the lease
 * now (instead of releasing it): the sweep then takes it back as soon as the steps are seen ended, not at
 * the end of the step's timeout. Their ids (none: the caller releases the lease). `stepId`: the lease's one
 * step, named by its slot (slotStepStillRunning).
 */
async function giveUpRunningSteps(jm: JobManagerContext, cluster: PoolCluster, lease: string, execution: string, stepId?: string): Promise<string[]> {
  const running = stepId === undefined ? await stepsStillRunning(jm, cluster, execution) : await slotStepStillRunning(jm, cluster, execution, stepId);
  if (running.length === 0) return running;
  await jm.emr.cancelSteps(cluster.clusterId, running);
  // TERMINATE_PROCESS usually ends a step within seconds: seen ended, the lease is released at once.
  if (await stepsEnded(jm, cluster.clusterId, running)) return [];
  await jm.store.lapse(cluster.pool, cluster.clusterId, lease, jm.clock.now());
  return running;
}

/** Whether EMR shows every one of `stepIds` ended, within a few ListSteps calls spread over CANCEL_CHECK_MS. */
export async function stepsEnded(jm: JobManagerContext, clusterId: string, stepIds: string[]): Promise<boolean> {
  for (const wait of CANCEL_CHECK_MS) {
    await jm.clock.sleep(wait);
    try {
      const states = new Map<string, string>();
      let marker: string | undefined;
      for (let page = 0; page < CANCEL_CHECK_PAGES && (page === 0 || marker); page += 1) {
        const listed = await jm.emr.listSteps(clusterId, { marker });
        for (const step of listed.steps) states.set(step.Id, step.Status.State);
        marker = listed.marker;
        if (stepIds.every((id) => states.has(id))) break;
      }
      if (stepIds.every((id) => STEP_ENDED_STATES.has(states.get(id) ?? ''))) return true;
    } catch {
      return false; // Not seen ended: the lease lapses and the sweep decides once the step is seen ended.
    }
  }
  return false;
}

/** Steps of `execution` that may still run on `cluster`: mapped and not yet seen ended (an ended cluster runs none). */
export async function stepsStillRunning(jm: JobManagerContext, cluster: PoolCluster, execution: string): Promise<string[]> {
  if (CLUSTER_ENDED_STATES.has(cluster.state)) return [];
  return jm.stepTokens.liveSteps(cluster.clusterId, execution);
}

/**
 * Whether the step a batched grant's slot names may still run on `cluster` ([stepId], else none): one
 * consistent GetItem instead of liveSteps' Query of the cluster's whole step-token partition (every running
 * step's mapping), so a release's reads do not grow with the cluster's load. Exact for such a lease: the
 * dispatcher submits one step per grant and maps it before it sends the slot, and RunPooledStep only attaches
 * its token to it, so no other step of the lease exists, and an absent mapping is a step seen ended (a
 * mapping is dropped only then). Its filter is liveSteps', on one item. A mapping of another execution (a
 * slot that does not match its lease) is not trusted: liveSteps decides.
 */
async function slotStepStillRunning(jm: JobManagerContext, cluster: PoolCluster, execution: string, stepId: string): Promise<string[]> {
  if (CLUSTER_ENDED_STATES.has(cluster.state)) return [];
  const item = await jm.stepTokens.getStep(cluster.clusterId, stepId);
  if (!item) return [];
  if (item.execution !== execution) return stepsStillRunning(jm, cluster, execution);
  return item.takenAt === undefined && item.held === undefined ? [stepId] : [];
}

/**
 * Gives back everything an execution that ended without its teardown (aborted, timed out) still holds:
 * queue entries first, so no new lease is granted to it while its leases are released. Idempotent. The
 * lease of a batched grant in flight is its grant's: the dispatcher submits the step before mapping it, so a
 * crash or a concurrent cleanup between the two would free units a running step uses. Its delivery finds
 * the waiter gone and cancels the step (or, a redelivery, keeps the lease to its expiry, and liveSteps past it).
 * It has no slot, so it reads the execution's steps with liveSteps: a cleanup is rare, not once per job.
 */
export async function releaseExecution(jm: JobManagerContext, pools: readonly string[], execution: string): Promise<ExecutionHoldings> {
  const holdings: ExecutionHoldings = { leases: [], entries: [] };
  for (const pool of pools) {
    // Leases of batched grants in flight: their step may be on the cluster before it is mapped (liveSteps
    // cannot see it yet), so they are left to their grant, which cancels the step of a gone waiter.
    const inFlight = new Set<string>();
    for (const entry of await jm.store.executionEntries(pool, execution)) {
      const withdrawn = entry.state === 'waiting' && (await jm.store.withdraw(entry));
      holdings.entries.push({ pool, entryId: entry.entryId, state: entry.state, withdrawn });
      if (!withdrawn && entry.step !== undefined) inFlight.add(entry.entryId);
    }
    for (const cluster of await jm.store.listClusters(pool)) {
      for (const [lease, held] of Object.entries(cluster.leases)) {
        if (held.execution !== execution || inFlight.has(lease)) continue;
        // As release: a step still running keeps the lease (cancelled, it lapses once the step is seen ended).
        const running = await giveUpRunningSteps(jm, cluster, lease, execution);
        const { released, units } = running.length > 0 ? { released: false, units: 0 } : await jm.store.release(pool, cluster.clusterId, lease);
        holdings.leases.push({ pool, clusterId: cluster.clusterId, lease, units: released ? units : held.units, released, running });
      }
    }
  }
  return holdings;
}
