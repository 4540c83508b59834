import { paginateScan, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { PoolClusterView } from '../domain/reaper';

/** Registry pages read at most: one item per pool cluster, so a few pages cover every pool. */
const MAX_PAGES = 20;

/**
 * The pool registry as the reaper reads it: every item that describes a cluster (a `clusterId` and a `leases`
 * map; bookkeeping items such as the launch guard or the RunJobFlow bucket have none) by cluster id.
 * Read-only, and tolerant of the key schema: only these two attributes are read.
 */
export async function readPoolRegistry(dynamo: DynamoDBDocumentClient, table: string): Promise<Record<string, PoolClusterView>> {
  const registry: Record<string, PoolClusterView> = {};
  let pages = 0;
  for await (const page of paginateScan({ client: dynamo }, { TableName: table })) {
    for (const item of page.Items ?? []) {
      if (typeof item.clusterId !== 'string' || typeof item.leases !== 'object' || item.leases === null) continue;
      registry[item.clusterId] = { leases: item.leases as PoolClusterView['leases'] };
    }
    if (++pages >= MAX_PAGES) break;
  }
  return registry;
}
