/**
 * `emrflow pools`: what the registry says about each pool — its clusters (state, units used / capacity,
 * leases) and its admission queue (depth by priority, oldest wait) — as a table or as JSON.
 * It reads DynamoDB only (lib/aws/registry.ts), never EMR: the registry is what placement decides on.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { listClusters, listQueue, type RegistryTables } from '../lib/aws/registry';
import type { PoolDefinition } from '../lib/config/pools';
import { isAlive } from '../lib/domain/pools';
import type { Priority } from '../lib/domain/types';

const PRIORITIES: Priority[] = ['high', 'normal', 'low'];

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
}

export async function poolReports(dynamo: DynamoDBDocumentClient, tables: RegistryTables, pools: PoolDefinition[], now = Date.now()): Promise<PoolReport[]> {
  return Promise.all(
    pools.map(async (pool) => {
      const [clusters, queue] = await Promise.all([listClusters(dynamo, tables, pool.name), listQueue(dynamo, tables, pool.name)]);
      const byPriority = Object.fromEntries(PRIORITIES.map((priority) => [priority, queue.filter((entry) => entry.priority === priority).length])) as Record<Priority, number>;
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
  }
  return lines;
}
