/**
 * `emrflow pools`: what the registry says about each pool — its clusters (state, units used / capacity,
 * leases) and its admission queue (depth by priority, oldest wait) — as a table or as JSON, with what the
 * leased units cost an hour (the pool's blended unit price, lib/domain/runCost.ts) and the queue wait and
 * cost of the pool's recent runs (the runs table, what RecordRun wrote: the numbers the dashboard shows).
 * It reads DynamoDB only (lib/aws/registry.ts, lib/aws/runs.ts), never EMR: the registry is what placement decides on.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { listClusters, listQueue, type RegistryTables } from '../lib/aws/registry';
import { recentPoolRuns } from '../lib/aws/runs';
import type { PoolDefinition } from '../lib/config/pools';
import type { PriceBook } from '../lib/config/prices';
import { poolUnitHourly } from '../lib/domain/runCost';
import { isAlive, PRIORITIES } from '../lib/domain/pools';
import type { Priority } from '../lib/domain/types';

/** Recent runs a pool's report summarizes. */
export const RECENT_RUNS = 20;

export interface PoolReport {
  pool: string;
  maxClusters: number;
  capacityUnitsPerCluster: number;
  maxJobsPerCluster: number;
  clustersAlive: number;
  clusters: Array<{
    clusterId: string;
    state: string;
    unitsInUse: number;
    capacityUnits: number;
    leases: Array<{ leaseId: string; execution: string; units: number; grantedAt: string; expiresAt: string }>;
  }>;
  queue: {
    depth: number;
    byPriority: Record<Priority, number>;
    /** Entries a dispatcher has claimed and is granting a lease for. */
    granting: number;
    oldestWaitSeconds: number | null;
  };
  /** The pool cluster's blended price of one unit-hour, and what the units leased now cost an hour at it. */
  unitHourlyUsd: number;
  leasedHourlyUsd: number;
  /** The pool's last RECENT_RUNS recorded runs (null averages when none recorded them). */
  recentRuns: {
    count: number;
    queueWaitSeconds: { average: number; max: number } | null;
    costUsd: { average: number; total: number } | null;
  };
}

const round2 = (value: number) => Math.round(value * 100) / 100;
const round4 = (value: number) => Math.round(value * 10_000) / 10_000;
const usd = (value: number) => `$${value.toFixed(value < 1 ? 4 : 2)}`;

function summarize(values: Array<number | null | undefined>): number[] {
  return values.filter((value): value is number => typeof value === 'number');
}

export async function poolReports(
  dynamo: DynamoDBDocumentClient,
  tables: RegistryTables & { runs: string },
  pools: PoolDefinition[],
  prices: PriceBook,
  now = Date.now(),
): Promise<PoolReport[]> {
  return Promise.all(
    pools.map(async (pool) => {
      const [clusters, queue, runs] = await Promise.all([
        listClusters(dynamo, tables, pool.name),
        listQueue(dynamo, tables, pool.name),
        recentPoolRuns(dynamo, tables.runs, pool.name, RECENT_RUNS),
      ]);
      const unitHourlyUsd = poolUnitHourly(prices, pool);
      const waits = summarize(runs.map((run) => run.queueWaitSeconds));
      const costs = summarize(runs.map((run) => run.costUsd));
      const byPriority = Object.fromEntries(PRIORITIES.map((priority) => [priority, queue.filter((entry) => entry.priority === priority).length])) as Record<
        Priority,
        number
      >;
      const oldest = queue.length > 0 ? Math.min(...queue.map((entry) => entry.enqueuedAt)) : null;
      return {
        pool: pool.name,
        maxClusters: pool.maxClusters,
        capacityUnitsPerCluster: pool.capacityUnits,
        maxJobsPerCluster: pool.maxJobsPerCluster,
        clustersAlive: clusters.filter(isAlive).length,
        clusters: clusters
          .sort((a, b) => a.launchedAt - b.launchedAt || a.clusterId.localeCompare(b.clusterId))
          .map((cluster) => ({
            clusterId: cluster.clusterId,
            state: cluster.state,
            unitsInUse: cluster.unitsInUse,
            capacityUnits: cluster.capacityUnits,
            leases: Object.entries(cluster.leases)
              .sort(([, a], [, b]) => a.grantedAt - b.grantedAt)
              .map(([leaseId, lease]) => ({
                leaseId,
                execution: lease.execution,
                units: lease.units,
                grantedAt: new Date(lease.grantedAt).toISOString(),
                expiresAt: new Date(lease.expiresAt).toISOString(),
              })),
          })),
        queue: {
          depth: queue.length,
          byPriority,
          granting: queue.filter((entry) => entry.state === 'granting').length,
          oldestWaitSeconds: oldest === null ? null : Math.max(0, Math.round((now - oldest) / 1000)),
        },
        unitHourlyUsd: Math.round(unitHourlyUsd * 10_000) / 10_000,
        leasedHourlyUsd: round2(clusters.reduce((sum, cluster) => sum + cluster.unitsInUse, 0) * unitHourlyUsd),
        recentRuns: {
          count: runs.length,
          queueWaitSeconds: waits.length === 0 ? null : { average: Math.round(waits.reduce((a, b) => a + b, 0) / waits.length), max: Math.max(...waits) },
          costUsd:
            costs.length === 0 ? null : { average: round4(costs.reduce((a, b) => a + b, 0) / costs.length), total: round4(costs.reduce((a, b) => a + b, 0)) },
        },
      };
    }),
  );
}

export function formatPoolReports(reports: PoolReport[]): string[] {
  if (reports.length === 0) return ['no pools in config/pools.json: every job gets a dedicated cluster'];
  const lines: string[] = [];
  for (const report of reports) {
    lines.push(
      `pool ${report.pool}: ${report.clustersAlive} of at most ${report.maxClusters} cluster(s) alive, ${report.capacityUnitsPerCluster} units and ${report.maxJobsPerCluster} jobs per cluster`,
    );
    if (report.clusters.length === 0) lines.push('  no clusters registered');
    else {
      lines.push(`  ${'cluster'.padEnd(44)} ${'state'.padEnd(22)} ${'units used'.padStart(10)}  leases`);
      for (const cluster of report.clusters) {
        const used = `${cluster.unitsInUse}/${cluster.capacityUnits}`;
        lines.push(`  ${cluster.clusterId.padEnd(44)} ${cluster.state.padEnd(22)} ${used.padStart(10)}  ${cluster.leases.length}`);
        for (const lease of cluster.leases) {
          lines.push(`    lease ${lease.leaseId}: ${lease.units} unit(s), granted ${lease.grantedAt}, expires ${lease.expiresAt}`);
        }
      }
    }
    const { queue } = report;
    const depth = PRIORITIES.map((priority) => `${priority} ${queue.byPriority[priority]}`).join(', ');
    lines.push(
      queue.depth === 0
        ? '  queue: empty'
        : `  queue: ${queue.depth} waiting (${depth}${queue.granting ? `; ${queue.granting} being granted` : ''}), oldest waiting ${queue.oldestWaitSeconds} s`,
    );
    lines.push(`  cost: $${report.unitHourlyUsd.toFixed(4)} per unit-hour (blended), leased units ${usd(report.leasedHourlyUsd)}/h now`);
    const { recentRuns: recent } = report;
    lines.push(
      recent.count === 0
        ? '  recent runs: none recorded'
        : `  last ${recent.count} run(s): queue wait ${recent.queueWaitSeconds ? `avg ${recent.queueWaitSeconds.average} s, max ${recent.queueWaitSeconds.max} s` : 'unknown'}; cost ${recent.costUsd ? `avg ${usd(recent.costUsd.average)}, total ${usd(recent.costUsd.total)}` : 'unknown'}`,
    );
  }
  return lines;
}
