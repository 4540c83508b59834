import { DEDICATED_POOL, TAG } from '../contract';
import { InvalidRequestError } from '../errors';
import type { AppCluster, ClusterAction } from './cleanup';

/** A pool lease as the registry keeps it (lib/domain/pools.ts Lease): `expiresAt` in epoch ms, fixed at the grant. */
export interface LeaseView {
  execution: string;
  expiresAt: number;
  grantedAt?: number;
}

/** A pool cluster's registry item, as far as the reaper reads it. */
export interface PoolClusterView {
  leases: Record<string, LeaseView>;
}

export interface ReapInput {
  /** This app's active clusters, with tags. */
  clusters: AppCluster[];
  /** run-job execution name → its status (DescribeExecution; `UNKNOWN` when Step Functions does not know it). */
  executions: Record<string, string>;
  /** Registry items by cluster id, or null when the registry was not read: pool clusters are then left alone. */
  registry: Record<string, PoolClusterView> | null;
  /** Epoch ms. */
  now: number;
  /** A cluster younger than this is never reaped: its execution may be a moment from being visible. */
  graceSeconds: number;
  /** A pool cluster with no live lease, idle longer than this, is terminated. */
  poolIdleSeconds: number;
}

export interface ReapPlan {
  terminate: ClusterAction[];
  keep: ClusterAction[];
}

export interface ReapOptions {
  dryRun: boolean;
  graceSeconds: number;
}

export const DEFAULT_GRACE_SECONDS = 300;

/** The reaper's input: a scheduled event (nothing to read), or `{ dryRun?, graceSeconds? }`. */
export function parseReapOptions(event: unknown): ReapOptions {
  const options: ReapOptions = { dryRun: false, graceSeconds: DEFAULT_GRACE_SECONDS };
  if (event === null || event === undefined || typeof event !== 'object' || Array.isArray(event)) return options;
  const input = event as Record<string, unknown>;
  if ((input as { source?: unknown }).source === 'aws.events') return options;
  const unknown = Object.keys(input).filter((key) => key !== 'dryRun' && key !== 'graceSeconds');
  if (unknown.length > 0) throw new InvalidRequestError(unknown[0], 'unknown field; the reaper takes { "dryRun": boolean, "graceSeconds": number }');
  if (input.dryRun !== undefined && typeof input.dryRun !== 'boolean') throw new InvalidRequestError('dryRun', 'must be true or false');
  if (input.graceSeconds !== undefined && !(typeof input.graceSeconds === 'number' && input.graceSeconds >= 0 && Number.isFinite(input.graceSeconds))) {
    throw new InvalidRequestError('graceSeconds', 'must be a number of seconds, 0 or more');
  }
  return { dryRun: input.dryRun === true, graceSeconds: (input.graceSeconds as number | undefined) ?? DEFAULT_GRACE_SECONDS };
}

/**
 * Which of this app's clusters to terminate, each with its reason: a dedicated cluster whose execution no
 * longer runs (or that names none), a pool cluster the registry does not know, a pool cluster with no live
 * lease idle past its limit. Everything else is kept, also with its reason.
 */
export function planReap(input: ReapInput): ReapPlan {
  const plan: ReapPlan = { terminate: [], keep: [] };
  for (const cluster of input.clusters) {
    const ageSeconds = cluster.createdAt === null ? Infinity : (input.now - cluster.createdAt) / 1000;
    const decide = (terminate: boolean, reason: string) => (terminate ? plan.terminate : plan.keep).push({ clusterId: cluster.id, reason });
    if (ageSeconds < input.graceSeconds) {
      decide(false, `created ${Math.round(ageSeconds)} s ago, within the ${input.graceSeconds} s grace`);
      continue;
    }
    const pool = cluster.tags[TAG.pool];
    if (pool === DEDICATED_POOL || pool === undefined) {
      const execution = cluster.tags[TAG.execution];
      if (!execution) {
        decide(true, 'dedicated cluster without an emrflow:execution tag: no execution owns it');
        continue;
      }
      const status = input.executions[execution] ?? 'UNKNOWN';
      if (status === 'RUNNING') decide(false, `its execution ${execution} is RUNNING`);
      else decide(true, `orphan: its execution ${execution} is ${status === 'UNKNOWN' ? 'unknown to Step Functions' : status}`);
      continue;
    }
    if (input.registry === null) {
      decide(false, `pool ${pool}: the registry was not read, so pool clusters are not judged`);
      continue;
    }
    const item = input.registry[cluster.id];
    if (!item) {
      decide(true, `pool ${pool}: the registry does not know this cluster, so no lease can own it`);
      continue;
    }
    const leases = Object.values(item.leases ?? {});
    const live = leases.filter((lease) => lease.expiresAt > input.now);
    if (live.length > 0) {
      decide(false, `pool ${pool}: ${live.length} live lease(s) (${live.map((lease) => lease.execution).join(', ')})`);
      continue;
    }
    const idleSince = Math.max(cluster.readyAt ?? cluster.createdAt ?? input.now, ...leases.map((lease) => lease.expiresAt));
    const idleSeconds = Math.round((input.now - idleSince) / 1000);
    if (cluster.state === 'WAITING' && idleSeconds > input.poolIdleSeconds) {
      decide(true, `pool ${pool}: no live lease, idle ${idleSeconds} s, past the ${input.poolIdleSeconds} s limit`);
    } else {
      decide(false, `pool ${pool}: no live lease, ${cluster.state}, idle ${idleSeconds} s of ${input.poolIdleSeconds} s`);
    }
  }
  return plan;
}
