/**
 * The Glue Data Catalog's tables and partitions as the emulator keeps them (CreateTable … BatchGetPartition),
 * the errors and paging Glue answers with, and the records the crawlers write into (./GlueService).
 */
import type {
  BatchGetPartitionRequest,
  BatchGetPartitionResponse,
  CreatePartitionRequest,
  CreateTableRequest,
  Database,
  DeleteTableRequest,
  GetPartitionRequest,
  GetPartitionsRequest,
  GetPartitionsResponse,
  GetTablesRequest,
  GetTablesResponse,
  Partition,
  Table,
  TableInput,
  UpdatePartitionRequest,
} from '@aws-sdk/client-glue';
import type { EmulatedClock } from '../clock';
import { AwsServiceError, type OnTheWire } from '../protocol';
import { parsePartitionExpression } from './partitionExpression';

export type WirePartition = OnTheWire<Partition>;
export type WireDatabase = OnTheWire<Database>;

export const entityNotFound = (message: string) => new AwsServiceError('EntityNotFoundException', message);
export const alreadyExists = (message: string) => new AwsServiceError('AlreadyExistsException', message);
export const invalidInput = (message: string) => new AwsServiceError('InvalidInputException', message);

/** A table as the emulator keeps it: its TableInput and its partitions by their JSON-encoded values. */
export interface TableRecord {
  input: OnTheWire<TableInput> & { Name: string };
  DatabaseName: string;
  CreateTime: number;
  UpdateTime: number;
  partitions: Map<string, WirePartition>;
}

/** Glue's PageSize is 1–1,000 (botocore's model); beyond it the request fails its constraint (ValidationException). */
const MAX_PAGE_SIZE = 1000;

/** One page of `items` from a NextToken (an opaque offset) and a MaxResults within Glue's PageSize. */
export function tokenPage<T>(items: T[], token: unknown, maxResults: unknown): { items: T[]; NextToken?: string } {
  if (maxResults !== undefined && (!Number.isInteger(maxResults) || (maxResults as number) < 1 || (maxResults as number) > MAX_PAGE_SIZE)) {
    throw new AwsServiceError(
      'ValidationException',
      `1 validation error detected: Value '${String(maxResults)}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and ${MAX_PAGE_SIZE}`,
    );
  }
  const start = typeof token === 'string' && token ? Number(Buffer.from(token, 'base64url').toString('utf8')) : 0;
  if (!Number.isInteger(start) || start < 0) throw invalidInput('NextToken is not valid');
  const max = (maxResults as number | undefined) ?? MAX_PAGE_SIZE;
  const end = start + max;
  return { items: items.slice(start, end), ...(end < items.length ? { NextToken: Buffer.from(String(end)).toString('base64url') } : {}) };
}

export function requireString(value: unknown, field: string): string {
  if (typeof value !== 'string' || !value) throw invalidInput(`${field} is required`);
  return value;
}

/** The catalog's tables by `database/table` (lower case), each with its partitions. */
export class GlueTables {
  readonly tables = new Map<string, TableRecord>();

  constructor(
    private readonly clock: EmulatedClock,
    /** The database, or EntityNotFoundException. */
    private readonly database: (name: string) => WireDatabase,
  ) {}

  /** DeleteTable: the table and its partitions go; a crawl may register it again. */
  deleteTable(input: OnTheWire<DeleteTableRequest>): Record<string, never> {
    const table = this.table(input.DatabaseName, input.Name);
    for (const [key, candidate] of this.tables) if (candidate === table) this.tables.delete(key);
    return {};
  }

  table(databaseName: unknown, name: unknown): TableRecord {
    const database = requireString(databaseName, 'DatabaseName');
    const tableName = requireString(name, 'Name');
    this.database(database);
    const table = this.tables.get(`${database}/${tableName.toLowerCase()}`);
    if (!table) throw entityNotFound(`Table ${tableName} not found.`);
    return table;
  }

  tableView(table: TableRecord): OnTheWire<Table> {
    return {
      ...table.input,
      DatabaseName: table.DatabaseName,
      CreateTime: table.CreateTime,
      UpdateTime: table.UpdateTime,
      IsRegisteredWithLakeFormation: false,
      CatalogId: '000000000000',
    };
  }

  createTable(input: OnTheWire<CreateTableRequest>): Record<string, never> {
    const database = requireString(input.DatabaseName, 'DatabaseName');
    this.database(database);
    const name = requireString(input.TableInput?.Name, 'TableInput.Name').toLowerCase();
    const key = `${database}/${name}`;
    if (this.tables.has(key)) throw alreadyExists(`Table already exists.`);
    const now = this.clock.nowSeconds();
    this.tables.set(key, { input: { ...input.TableInput, Name: name }, DatabaseName: database, CreateTime: now, UpdateTime: now, partitions: new Map() });
    return {};
  }

  getTables(input: OnTheWire<GetTablesRequest>): OnTheWire<GetTablesResponse> {
    const database = requireString(input.DatabaseName, 'DatabaseName');
    this.database(database);
    const pattern = typeof input.Expression === 'string' && input.Expression ? new RegExp(`^(${input.Expression.replace(/\*/g, '.*')})$`) : null;
    const tables = [...this.tables.entries()]
      .filter(([key]) => key.startsWith(`${database}/`))
      .map(([, table]) => table)
      .filter((t) => !pattern || pattern.test(t.input.Name));
    return { TableList: tables.map((t) => this.tableView(t)) };
  }

  partitionValues(values: unknown, field: string): string[] {
    if (!Array.isArray(values) || values.some((v) => typeof v !== 'string')) throw invalidInput(`${field} must be a list of strings`);
    return values as string[];
  }

  createPartition(input: OnTheWire<CreatePartitionRequest>): Record<string, never> {
    const table = this.table(input.DatabaseName, input.TableName);
    const values = this.partitionValues(input.PartitionInput?.Values, 'PartitionInput.Values');
    const group = JSON.stringify(values);
    if (table.partitions.has(group)) throw alreadyExists('Partition already exists.');
    table.partitions.set(group, {
      ...input.PartitionInput,
      DatabaseName: table.DatabaseName,
      TableName: table.input.Name,
      CreationTime: this.clock.nowSeconds(),
      CatalogId: '000000000000',
    });
    return {};
  }

  /** Replaces the partition's definition (values, storage, Parameters such as sizeKey), as Glue's UpdatePartition does. */
  updatePartition(input: OnTheWire<UpdatePartitionRequest>): Record<string, never> {
    const table = this.table(input.DatabaseName, input.TableName);
    const group = JSON.stringify(this.partitionValues(input.PartitionValueList, 'PartitionValueList'));
    const existing = table.partitions.get(group);
    if (!existing) throw entityNotFound('Cannot find partition.');
    const values = this.partitionValues(input.PartitionInput?.Values, 'PartitionInput.Values');
    if (JSON.stringify(values) !== group && table.partitions.has(JSON.stringify(values))) throw alreadyExists('Partition already exists.');
    const updated = { ...existing, ...input.PartitionInput, Values: values };
    table.partitions.delete(group);
    table.partitions.set(JSON.stringify(values), updated);
    return {};
  }

  getPartition(input: OnTheWire<GetPartitionRequest>): { Partition: WirePartition } {
    const table = this.table(input.DatabaseName, input.TableName);
    const values = this.partitionValues(input.PartitionValues, 'PartitionValues');
    const partition = table.partitions.get(JSON.stringify(values));
    if (!partition) throw entityNotFound('Cannot find partition.');
    return { Partition: partition };
  }

  getPartitions(input: OnTheWire<GetPartitionsRequest>): OnTheWire<GetPartitionsResponse> {
    const table = this.table(input.DatabaseName, input.TableName);
    if (input.Expression !== undefined && typeof input.Expression !== 'string') throw invalidInput('Expression must be a string');
    const keys = (table.input.PartitionKeys ?? []).map((k) => ({ Name: String(k.Name), Type: k.Type }));
    const matches = parsePartitionExpression(input.Expression, keys);
    const all = [...table.partitions.values()]
      .filter((p) => matches(p.Values ?? []))
      .sort((a, b) => (JSON.stringify(a.Values) < JSON.stringify(b.Values) ? -1 : 1));
    const { items, NextToken } = tokenPage(all, input.NextToken, input.MaxResults);
    return { Partitions: items, ...(NextToken ? { NextToken } : {}) };
  }

  batchGetPartition(input: OnTheWire<BatchGetPartitionRequest>): OnTheWire<BatchGetPartitionResponse> {
    const table = this.table(input.DatabaseName, input.TableName);
    if (!Array.isArray(input.PartitionsToGet)) throw invalidInput('PartitionsToGet is required');
    const Partitions: WirePartition[] = [];
    for (const entry of input.PartitionsToGet) {
      const partition = table.partitions.get(JSON.stringify(this.partitionValues(entry?.Values, 'PartitionsToGet.Values')));
      if (partition) Partitions.push(partition);
    }
    return { Partitions, UnprocessedKeys: [] };
  }
}
