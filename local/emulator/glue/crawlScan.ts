/**
 * What a crawl reads from the objects under its target: Hive partitions, the line count and first record of a
 * file, and the columns Glue's JSON classifier gives that record.
 */
import type { Column } from '@aws-sdk/client-glue';
import { createReadStream } from 'node:fs';
import type { LocalObject } from '../s3/store';

/** Glue's JSON classifier maps values to Hive types; nested values become struct/array, shown as their JSON. */
function hiveType(value: unknown): string {
  if (typeof value === 'boolean') return 'boolean';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'double';
  if (Array.isArray(value)) return `array<${value.length ? hiveType(value[0]) : 'string'}>`;
  if (value && typeof value === 'object') {
    return `struct<${Object.entries(value)
      .map(([k, v]) => `${k}:${hiveType(v)}`)
      .join(',')}>`;
  }
  return 'string';
}

export async function countLines(file: string): Promise<{ lines: number; first: string }> {
  let lines = 0;
  let first = '';
  let collecting = true;
  let pendingPartial = false;
  for await (const chunk of createReadStream(file)) {
    const buffer = chunk as Buffer;
    if (collecting) {
      const text = buffer.toString('utf8');
      const end = text.indexOf('\n');
      first += end >= 0 ? text.slice(0, end) : text;
      if (end >= 0 || first.length > 1_000_000) collecting = false;
    }
    for (let i = buffer.indexOf(10); i >= 0; i = buffer.indexOf(10, i + 1)) lines += 1;
    pendingPartial = buffer.length > 0 && buffer[buffer.length - 1] !== 10;
  }
  return { lines: lines + (pendingPartial ? 1 : 0), first };
}

/** The objects under a crawled prefix by Hive partition (`key=value/` directories); others are skipped. */
export function groupByPartition(objects: LocalObject[], prefix: string): { byPartition: Map<string, LocalObject[]>; partitionKeys: string[] } {
  const byPartition = new Map<string, LocalObject[]>();
  const partitionKeys: string[] = [];
  for (const object of objects) {
    const dirs = object.key.slice(prefix.length).split('/').slice(0, -1);
    const hive = dirs.filter((d) => /^[^=]+=[^=]*$/.test(d));
    if (hive.length !== dirs.length) continue;
    hive.forEach((d, i) => {
      const key = d.split('=')[0];
      if (partitionKeys[i] === undefined) partitionKeys[i] = key;
    });
    const values = hive.map((d) => decodeURIComponent(d.split('=')[1]));
    const group = JSON.stringify(values);
    byPartition.set(group, [...(byPartition.get(group) ?? []), object]);
  }
  return { byPartition, partitionKeys };
}

/** A table's columns from its first JSON record (partition keys apart); none when it is not JSON, as a crawler that cannot classify the data. */
export function columnsOf(first: string, partitionKeys: string[]): Column[] {
  try {
    const record = JSON.parse(first);
    if (!record || typeof record !== 'object' || Array.isArray(record)) return [];
    return Object.entries(record)
      .filter(([name]) => !partitionKeys.includes(name))
      .map(([name, value]) => ({ Name: name.toLowerCase(), Type: hiveType(value) }));
  } catch {
    return [];
  }
}
