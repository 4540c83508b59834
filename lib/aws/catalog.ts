import { GetPartitionCommand, type GlueClient, type Partition } from '@aws-sdk/client-glue';
import type { PartitionLookup } from '../domain/request';

export interface PartitionRef {
  database: string;
  table: string;
  values: string[];
}

/**
 * GetPartition, with "not found" as an answer rather than an error. Glue raises EntityNotFoundException for
 * a missing database, table or partition alike; only the message tells them apart.
 */
async function getPartition(glue: GlueClient, ref: PartitionRef): Promise<{ partition: Partition } | { missing: 'table' | 'partition' }> {
  try {
    const out = await glue.send(new GetPartitionCommand({ DatabaseName: ref.database, TableName: ref.table, PartitionValues: ref.values }));
    return out.Partition ? { partition: out.Partition } : { missing: 'partition' };
  } catch (error) {
    if ((error as Error).name !== 'EntityNotFoundException') throw error;
    return { missing: /partition/i.test((error as Error).message) ? 'partition' : 'table' };
  }
}

/** Whether the run's partition is registered (NormalizeRequest's crawl decision). */
export async function lookupPartition(glue: GlueClient, ref: PartitionRef): Promise<PartitionLookup> {
  const result = await getPartition(glue, ref);
  return 'partition' in result ? { found: true } : { found: false, missing: result.missing };
}

/** The partition's size as the crawler recorded it (`sizeKey`, bytes), or null when unknown. */
export async function partitionBytes(glue: GlueClient, ref: PartitionRef): Promise<number | null> {
  const result = await getPartition(glue, ref);
  if (!('partition' in result)) return null;
  const size = Number(result.partition.Parameters?.sizeKey);
  return Number.isFinite(size) && size > 0 ? size : null;
}
