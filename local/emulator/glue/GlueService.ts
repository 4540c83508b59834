/**
 * The emulated Glue Data Catalog and crawlers. A crawl runs READY → RUNNING (120 s simulated) →
 * STOPPING (10 s) → READY and, when it succeeds, scans its S3 targets in the local S3 directory: one table
 * per target (named after the target's last path segment) and one partition per Hive-style `key=value`
 * directory, with the statistics a real crawler writes (sizeKey, objectCount, recordCount,
 * averageRecordSize, classification json).
 */
import type {
  BatchGetPartitionRequest,
  CreatePartitionRequest,
  CreateTableRequest,
  DeleteTableRequest,
  GetPartitionRequest,
  GetPartitionsRequest,
  GetTablesRequest,
  UpdatePartitionRequest,
  Column,
  CrawlerState,
  CreateCrawlerRequest,
  GetCrawlersRequest,
  Crawler as GetCrawlerView,
  DatabaseInput,
  LastCrawlInfo,
  LastCrawlStatus,
  S3Target,
  StartCrawlerRequest,
  StopCrawlerRequest,
  StorageDescriptor,
} from '@aws-sdk/client-glue';
import { randomUUID } from 'node:crypto';
import { parseS3Uri, s3Location } from '../../../lib/contract';
import type { EmulatedClock } from '../clock';
import type { EmitEvent } from '../events';
import type { FaultInjector } from '../faults';
import { AwsServiceError, type JsonOperation, type OnTheWire } from '../protocol';
import type { LocalS3 } from '../s3/store';
import {
  alreadyExists,
  entityNotFound,
  GlueTables,
  invalidInput,
  requireString,
  tokenPage,
  type TableRecord,
  type WireDatabase,
  type WirePartition,
} from './catalog';
import { columnsOf, countLines, groupByPartition } from './crawlScan';

const CRAWL_DURATIONS = { runningSeconds: 120, stoppingSeconds: 10 } as const;

/** A crawler as the emulator keeps it: GetCrawler's members (S3 targets only) plus the running crawl. */
interface CrawlerRecord {
  Name: string;
  Role: string;
  DatabaseName: string;
  Targets: { S3Targets: Array<S3Target & { Path: string; Exclusions: string[] }> };
  TablePrefix?: string;
  State: CrawlerState;
  CreationTime: number;
  LastUpdated: number;
  Version: number;
  LastCrawl?: OnTheWire<LastCrawlInfo>;
  crawlStart?: number;
  cancelled?: boolean;
  timer?: NodeJS.Timeout;
}

/** What `seed()` takes: the catalog and buckets that serverless.yml declares. */
export interface GlueSeed {
  crawlers?: Array<{ Name: string; DatabaseName: string; Role?: string; Targets: { S3Targets: Array<{ Path: string }> }; TablePrefix?: string }>;
  databases?: string[];
}

export interface GlueDeps {
  clock: EmulatedClock;
  faults: FaultInjector;
  s3: LocalS3;
  emit: EmitEvent;
}

export class GlueService {
  private readonly databases = new Map<string, WireDatabase>();
  private readonly crawlers = new Map<string, CrawlerRecord>();
  /** Tables and partitions (CreateTable … BatchGetPartition); crawls write into them too. */
  private readonly catalog: GlueTables;
  /** Set by shutdown(): a scan still reading files must not schedule anything afterwards. */
  private stopped = false;

  constructor(private readonly deps: GlueDeps) {
    this.catalog = new GlueTables(deps.clock, (name) => this.database(name));
  }

  /** Each operation takes the parsed JSON body as the SDK's request shape (members are still checked at run time). */
  readonly operations: Record<string, JsonOperation> = {
    CreateDatabase: (input) => this.createDatabase(input.DatabaseInput as DatabaseInput | undefined),
    GetDatabase: (input) => ({ Database: this.database(requireString(input.Name, 'Name')) }),
    GetDatabases: () => ({ DatabaseList: [...this.databases.values()] }),
    CreateCrawler: (input) => this.createCrawler(input as OnTheWire<CreateCrawlerRequest>),
    GetCrawler: (input) => ({ Crawler: this.crawlerView(this.crawler(input.Name)) }),
    GetCrawlers: (input) => this.getCrawlers(input as OnTheWire<GetCrawlersRequest>),
    StartCrawler: (input) => this.startCrawler(input as OnTheWire<StartCrawlerRequest>),
    StopCrawler: (input) => this.stopCrawler(input as OnTheWire<StopCrawlerRequest>),
    CreateTable: (input) => this.catalog.createTable(input as OnTheWire<CreateTableRequest>),
    GetTable: (input) => ({ Table: this.catalog.tableView(this.catalog.table(input.DatabaseName, input.Name)) }),
    GetTables: (input) => this.catalog.getTables(input as OnTheWire<GetTablesRequest>),
    DeleteTable: (input) => this.catalog.deleteTable(input as OnTheWire<DeleteTableRequest>),
    CreatePartition: (input) => this.catalog.createPartition(input as OnTheWire<CreatePartitionRequest>),
    GetPartition: (input) => this.catalog.getPartition(input as OnTheWire<GetPartitionRequest>),
    UpdatePartition: (input) => this.catalog.updatePartition(input as OnTheWire<UpdatePartitionRequest>),
    GetPartitions: (input) => this.catalog.getPartitions(input as OnTheWire<GetPartitionsRequest>),
    BatchGetPartition: (input) => this.catalog.batchGetPartition(input as OnTheWire<BatchGetPartitionRequest>),
  };

  /** The catalog and crawlers as JSON, without timers. */
  snapshot(): unknown {
    return {
      databases: [...this.databases.values()],
      crawlers: [...this.crawlers.values()].map(({ timer: _timer, ...crawler }) => crawler),
      tables: [...this.catalog.tables.entries()].map(([key, table]) => ({ key, ...table, partitions: [...table.partitions.entries()] })),
    };
  }

  /** Loads a snapshot; a crawl that was under way when that emulator stopped ends CANCELLED. */
  restore(snapshot: unknown): void {
    const data = snapshot as {
      databases: WireDatabase[];
      crawlers: CrawlerRecord[];
      tables: Array<Omit<TableRecord, 'partitions'> & { key: string; partitions: Array<[string, WirePartition]> }>;
    };
    for (const database of data.databases) this.databases.set(String(database.Name), database);
    for (const crawler of data.crawlers) {
      if (crawler.State !== 'READY') {
        crawler.State = 'READY';
        crawler.LastCrawl = { Status: 'CANCELLED', LogGroup: '/aws-glue/crawlers', LogStream: crawler.Name, StartTime: crawler.crawlStart };
      }
      this.crawlers.set(crawler.Name, crawler);
    }
    for (const { key, partitions, ...table } of data.tables) this.catalog.tables.set(key, { ...table, partitions: new Map(partitions) });
  }

  seed(seed: GlueSeed): void {
    for (const name of seed.databases ?? []) this.ensureDatabase(name);
    for (const crawler of seed.crawlers ?? []) {
      this.ensureDatabase(crawler.DatabaseName);
      if (!this.crawlers.has(crawler.Name)) this.createCrawler({ Role: 'emrflow-local-crawler-role', ...crawler });
    }
  }

  shutdown(): void {
    this.stopped = true;
    for (const crawler of this.crawlers.values()) this.deps.clock.cancel(crawler.timer);
  }

  // ---------------------------------------------------------------- databases

  private ensureDatabase(name: string): void {
    if (!this.databases.has(name)) this.createDatabase({ Name: name });
  }

  private createDatabase(input: DatabaseInput | undefined): Record<string, never> {
    const name = requireString(input?.Name, 'DatabaseInput.Name');
    if (this.databases.has(name)) throw alreadyExists(`Database already exists.`);
    this.databases.set(name, { ...input, Name: name, CreateTime: this.deps.clock.nowSeconds(), CatalogId: '000000000000' });
    return {};
  }

  private database(name: string): WireDatabase {
    const database = this.databases.get(name);
    if (!database) throw entityNotFound(`Database ${name} not found.`);
    return database;
  }

  // ---------------------------------------------------------------- crawlers

  private getCrawlers(input: OnTheWire<GetCrawlersRequest>): { Crawlers: Array<OnTheWire<GetCrawlerView>>; NextToken?: string } {
    const crawlers = [...this.crawlers.values()].sort((a, b) => (a.Name < b.Name ? -1 : 1));
    const { items, NextToken } = tokenPage(crawlers, input.NextToken, input.MaxResults);
    return { Crawlers: items.map((crawler) => this.crawlerView(crawler)), ...(NextToken ? { NextToken } : {}) };
  }

  private crawler(name: unknown): CrawlerRecord {
    const crawler = this.crawlers.get(requireString(name, 'Name'));
    if (!crawler) throw entityNotFound(`Crawler entry with name ${name} does not exist`);
    return crawler;
  }

  private createCrawler(input: OnTheWire<CreateCrawlerRequest>): Record<string, never> {
    const name = requireString(input.Name, 'Name');
    const role = requireString(input.Role, 'Role');
    const database = requireString(input.DatabaseName, 'DatabaseName');
    const targets = input.Targets?.S3Targets;
    if (!Array.isArray(targets) || targets.length === 0) throw invalidInput('Targets.S3Targets: at least one S3 target is required');
    for (const target of targets) {
      if (!parseS3Uri(target?.Path ?? '')) throw invalidInput(`Targets.S3Targets.Path must be an s3:// path, got ${target?.Path}`);
    }
    const s3Targets = targets.map((t) => ({ Path: String(t.Path), Exclusions: t.Exclusions ?? [] }));
    if (this.crawlers.has(name)) throw alreadyExists(`${name} already exists`);
    const now = this.deps.clock.nowSeconds();
    this.crawlers.set(name, {
      Name: name,
      Role: role,
      DatabaseName: database,
      Targets: { S3Targets: s3Targets },
      TablePrefix: input.TablePrefix,
      State: 'READY',
      CreationTime: now,
      LastUpdated: now,
      Version: 1,
    });
    return {};
  }

  private startCrawler(input: OnTheWire<StartCrawlerRequest>): Record<string, never> {
    const crawler = this.crawler(input.Name);
    if (crawler.State !== 'READY') throw new AwsServiceError('CrawlerRunningException', `Crawler with name ${crawler.Name} has already started`);
    this.beginCrawl(crawler);
    if (this.deps.faults.takeCrawlerAlreadyRunning()) {
      // The fault: another client started this crawl a moment ago, so this caller finds it running.
      this.deps.emit({ resource: 'note', id: crawler.Name, state: 'NOTE', message: 'fault: a crawl started elsewhere is already running' });
      throw new AwsServiceError('CrawlerRunningException', `Crawler with name ${crawler.Name} has already started`);
    }
    return {};
  }

  private beginCrawl(crawler: CrawlerRecord): void {
    crawler.State = 'RUNNING';
    crawler.crawlStart = this.deps.clock.nowSeconds();
    crawler.cancelled = false;
    this.deps.emit({ resource: 'crawler', id: crawler.Name, state: 'RUNNING' });
    crawler.timer = this.deps.clock.after(CRAWL_DURATIONS.runningSeconds, () => {
      crawler.State = 'STOPPING';
      this.deps.emit({ resource: 'crawler', id: crawler.Name, state: 'STOPPING' });
      void this.completeCrawl(crawler);
    });
  }

  private async completeCrawl(crawler: CrawlerRecord): Promise<void> {
    let status: LastCrawlStatus = 'SUCCEEDED';
    let errorMessage: string | undefined;
    if (this.deps.faults.crawlerFails()) {
      status = 'FAILED';
      errorMessage = 'Internal Service Exception';
    } else {
      try {
        for (const target of crawler.Targets.S3Targets) await this.crawlTarget(crawler, target.Path);
      } catch (error) {
        status = 'FAILED';
        errorMessage = (error as Error).message;
      }
    }
    if (this.stopped) return;
    crawler.timer = this.deps.clock.after(CRAWL_DURATIONS.stoppingSeconds, () => this.endCrawl(crawler, status, errorMessage));
  }

  private endCrawl(crawler: CrawlerRecord, status: LastCrawlStatus, errorMessage?: string): void {
    const finalStatus: LastCrawlStatus = crawler.cancelled ? 'CANCELLED' : status;
    crawler.State = 'READY';
    crawler.LastCrawl = {
      Status: finalStatus,
      ...(finalStatus === 'FAILED' && errorMessage ? { ErrorMessage: errorMessage } : {}),
      LogGroup: '/aws-glue/crawlers',
      LogStream: crawler.Name,
      MessagePrefix: randomUUID(),
      StartTime: crawler.crawlStart,
    };
    crawler.LastUpdated = this.deps.clock.nowSeconds();
    crawler.timer = undefined;
    this.deps.emit({
      resource: 'crawler',
      id: crawler.Name,
      state: 'READY',
      message: `LastCrawl ${finalStatus}${errorMessage && finalStatus === 'FAILED' ? `: ${errorMessage}` : ''}`,
    });
  }

  private stopCrawler(input: OnTheWire<StopCrawlerRequest>): Record<string, never> {
    const crawler = this.crawler(input.Name);
    if (crawler.State === 'READY') throw new AwsServiceError('CrawlerNotRunningException', `Crawler with name ${crawler.Name} is not running`);
    if (crawler.State === 'STOPPING') throw new AwsServiceError('CrawlerStoppingException', `Crawler with name ${crawler.Name} is stopping`);
    this.deps.clock.cancel(crawler.timer);
    crawler.cancelled = true;
    crawler.State = 'STOPPING';
    this.deps.emit({ resource: 'crawler', id: crawler.Name, state: 'STOPPING' });
    crawler.timer = this.deps.clock.after(CRAWL_DURATIONS.stoppingSeconds, () => this.endCrawl(crawler, 'CANCELLED'));
    return {};
  }

  private crawlerView(crawler: CrawlerRecord): OnTheWire<GetCrawlerView> {
    return {
      Name: crawler.Name,
      Role: crawler.Role,
      Targets: { S3Targets: crawler.Targets.S3Targets, JdbcTargets: [], DynamoDBTargets: [], CatalogTargets: [] },
      DatabaseName: crawler.DatabaseName,
      Classifiers: [],
      SchemaChangePolicy: { UpdateBehavior: 'UPDATE_IN_DATABASE', DeleteBehavior: 'DEPRECATE_IN_DATABASE' },
      RecrawlPolicy: { RecrawlBehavior: 'CRAWL_EVERYTHING' },
      State: crawler.State,
      ...(crawler.TablePrefix ? { TablePrefix: crawler.TablePrefix } : {}),
      ...(crawler.State === 'RUNNING'
        ? { CrawlElapsedTime: Math.round((this.deps.clock.nowSeconds() - (crawler.crawlStart ?? this.deps.clock.nowSeconds())) * 1000) }
        : {}),
      CreationTime: crawler.CreationTime,
      LastUpdated: crawler.LastUpdated,
      ...(crawler.LastCrawl ? { LastCrawl: crawler.LastCrawl } : {}),
      Version: crawler.Version,
    };
  }

  /** Scans one S3 target: the table's schema from the first record, one partition per key=value directory. */
  private async crawlTarget(crawler: CrawlerRecord, targetPath: string): Promise<void> {
    const target = parseS3Uri(targetPath);
    if (!target) throw new Error(`not an s3:// path: ${targetPath}`);
    const { bucket, key: rawPrefix } = target;
    const prefix = rawPrefix && !rawPrefix.endsWith('/') ? `${rawPrefix}/` : rawPrefix;
    if (!(await this.deps.s3.bucketExists(bucket))) throw new Error(`The specified bucket does not exist: ${bucket}`);
    const objects = (await this.deps.s3.list(bucket, prefix)).filter((o) => !/(^|\/)[_.][^/]*$/.test(o.key));
    if (objects.length === 0) return;
    const tableName = `${crawler.TablePrefix ?? ''}${(prefix.replace(/\/$/, '').split('/').pop() || bucket).toLowerCase().replace(/[^a-z0-9_]/g, '_')}`;
    const { uri: location } = s3Location(bucket, prefix);

    const { byPartition, partitionKeys } = groupByPartition(objects, prefix);

    let columns: Column[] = [];
    let totalBytes = 0;
    let totalRecords = 0;
    const partitionStats = new Map<string, { bytes: number; records: number; count: number }>();
    for (const [group, files] of byPartition) {
      let bytes = 0;
      let records = 0;
      for (const file of files) {
        const { lines, first } = await countLines(file.path);
        bytes += file.size;
        records += lines;
        if (columns.length === 0 && first.trim()) columns = columnsOf(first, partitionKeys);
      }
      totalBytes += bytes;
      totalRecords += records;
      partitionStats.set(group, { bytes, records, count: files.length });
    }

    const statsParameters = (bytes: number, records: number, count: number): Record<string, string> => ({
      classification: 'json',
      compressionType: 'none',
      typeOfData: 'file',
      sizeKey: String(bytes),
      objectCount: String(count),
      recordCount: String(records),
      averageRecordSize: String(records ? Math.round(bytes / records) : 0),
      CrawlerSchemaDeserializerVersion: '1.0',
      CrawlerSchemaSerializerVersion: '1.0',
      UPDATED_BY_CRAWLER: crawler.Name,
    });
    const storage = (where: string): StorageDescriptor => ({
      Columns: columns,
      Location: where,
      InputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
      OutputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
      Compressed: false,
      NumberOfBuckets: -1,
      SerdeInfo: { SerializationLibrary: 'org.openx.data.jsonserde.JsonSerDe', Parameters: { paths: columns.map((c) => c.Name).join(',') } },
      BucketColumns: [],
      SortColumns: [],
      Parameters: statsParameters(totalBytes, totalRecords, objects.length),
      StoredAsSubDirectories: false,
    });

    const now = this.deps.clock.nowSeconds();
    const key = `${crawler.DatabaseName}/${tableName}`;
    const existing = this.catalog.tables.get(key);
    const table: TableRecord = existing ?? {
      input: { Name: tableName },
      DatabaseName: crawler.DatabaseName,
      CreateTime: now,
      UpdateTime: now,
      partitions: new Map(),
    };
    table.input = {
      Name: tableName,
      StorageDescriptor: storage(location),
      PartitionKeys: partitionKeys.map((name) => ({ Name: name, Type: 'string' })),
      TableType: 'EXTERNAL_TABLE',
      Parameters: statsParameters(totalBytes, totalRecords, objects.length),
    };
    table.UpdateTime = now;
    for (const [group, stats] of partitionStats) {
      const values: string[] = JSON.parse(group);
      if (values.length === 0) continue;
      const dir = partitionKeys.map((k, i) => `${k}=${values[i]}`).join('/');
      const previous = table.partitions.get(group);
      table.partitions.set(group, {
        Values: values,
        DatabaseName: crawler.DatabaseName,
        TableName: tableName,
        CreationTime: previous?.CreationTime ?? now,
        LastAnalyzedTime: now,
        StorageDescriptor: { ...storage(`${location}${dir}/`), Parameters: statsParameters(stats.bytes, stats.records, stats.count) },
        Parameters: statsParameters(stats.bytes, stats.records, stats.count),
        CatalogId: '000000000000',
      });
    }
    this.catalog.tables.set(key, table);
  }
}
