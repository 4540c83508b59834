/**
 * Clusters and steps kept in a state directory (`emulator-state.json`): written as JSON without timers
 * and processes, read back by the next emulator on that directory.
 */
import { CLUSTER_ACTIVE_STATES } from '../../../lib/contract';
import type { EmrCluster, EmrContext } from './model';

interface EmrSnapshot {
  ipCounter: number;
  clusters: EmrCluster[];
}

/** Keys that hold live timers or processes, which do not outlive the emulator. */
const RUNTIME_KEYS = new Set(['timers', 'idleTimer', 'timer', 'spark', 'scalingEvaluationPending', 'scalingRecheckPending']);

export function snapshotClusters(ctx: EmrContext): unknown {
  const data: EmrSnapshot = { ipCounter: ctx.ipCounter, clusters: [...ctx.clusters.values()] };
  return JSON.parse(JSON.stringify(data, (key, value) => (RUNTIME_KEYS.has(key) ? undefined : value)));
}

/**
 * Loads a snapshot from an earlier emulator. Nothing of that emulator runs any more, so a cluster it
 * left active is ended with INTERNAL_ERROR (and its unfinished steps with it), which is what a reaper or
 * a pool registry must then see.
 */
export function restoreClusters(ctx: EmrContext, snapshot: unknown): void {
  const data = snapshot as EmrSnapshot;
  ctx.ipCounter = Math.max(ctx.ipCounter, data.ipCounter);
  const now = ctx.deps.clock.nowSeconds();
  for (const cluster of data.clusters) {
    cluster.timers = new Set();
    // Snapshots written before bootstrap actions were kept have none.
    cluster.BootstrapActions ??= [];
    if (CLUSTER_ACTIVE_STATES.has(cluster.state) || cluster.state === 'TERMINATING') {
      const ended = cluster.state === 'TERMINATING' && ['USER_REQUEST', 'ALL_STEPS_COMPLETED'].includes(cluster.reason.Code ?? '');
      cluster.state = ended ? 'TERMINATED' : 'TERMINATED_WITH_ERRORS';
      if (!ended) cluster.reason = { Code: 'INTERNAL_ERROR', Message: 'The local emulator that ran this cluster stopped before the cluster terminated.' };
      cluster.timeline.EndDateTime = now;
      for (const fleet of cluster.fleets) fleet.state = 'TERMINATED';
      for (const instance of cluster.instances) {
        if (instance.state !== 'TERMINATED') {
          instance.state = 'TERMINATED';
          instance.reason = { Code: 'CLUSTER_TERMINATED', Message: 'Instance was terminated because the cluster terminated.' };
          instance.timeline.EndDateTime = now;
        }
      }
      for (const step of cluster.steps) {
        if (step.state === 'PENDING' || step.state === 'RUNNING') {
          step.state = step.state === 'PENDING' ? 'CANCELLED' : 'FAILED';
          step.reason = { Message: 'The local emulator stopped while the step was active.' };
          step.timeline.EndDateTime = now;
        }
      }
    }
    ctx.clusters.set(cluster.Id, cluster);
  }
}
