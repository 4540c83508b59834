import {
  BatchGetPartitionCommand,
  CreateDatabaseCommand,
  CreatePartitionCommand,
  CreateTableCommand,
  GetCrawlerCommand,
  GetDatabaseCommand,
  GetPartitionCommand,
  GetPartitionsCommand,
  GetTableCommand,
  GetTablesCommand,
  GlueClient,
  StartCrawlerCommand,
  StopCrawlerCommand,
  UpdatePartitionCommand,
} from '@aws-sdk/client-glue';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseFaults, type Emulator, type EmulatorEvent } from '../../../local/emulator';
import { startTestEmulator, waitFor } from './helpers';

let emu: Emulator;
let timeline: EmulatorEvent[];
let glue: GlueClient;

const events = (n: number, day: string) =>
  `${Array.from({ length: n }, (_, i) =>
    JSON.stringify({ event_time: `${day}T10:00:0${i % 10}Z`, site: 'shop', visitor_id: `v${i}`, screen_width: 1280, consent: true }),
  ).join('\n')}\n`;

function writeRaw(key: string, content: string): void {
  const file = path.join(emu.stateDir, 's3', 'raw', ...key.split('/'));
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, content);
}

beforeAll(async () => {
  // A crawl takes 650 ms here: long enough to see it RUNNING between two calls on a busy machine.
  ({ emu, events: timeline } = await startTestEmulator({ timeScale: 0.005 }));
  glue = new GlueClient({ maxAttempts: 1 });
  await emu.seed({
    buckets: ['raw'],
    crawlers: [
      { Name: 'raw-events', DatabaseName: 'emrflow_raw', Targets: { S3Targets: [{ Path: 's3://raw/events/' }] } },
      { Name: 'other-events', DatabaseName: 'emrflow_raw', Targets: { S3Targets: [{ Path: 's3://raw/other/' }] } },
    ],
  });
  writeRaw('events/dt=2026-11-26/part-0001.json', events(3, '2026-11-26'));
  writeRaw('events/dt=2026-11-27/part-0001.json', events(4, '2026-11-27'));
  writeRaw('events/dt=2026-11-27/part-0002.json', events(6, '2026-11-27'));
  writeRaw('other/dt=2026-11-27/part-0001.json', events(2, '2026-11-27'));
});
afterAll(async () => {
  glue.destroy();
  await emu.stop();
});

const crawler = (name: string) => glue.send(new GetCrawlerCommand({ Name: name })).then((r) => r.Crawler!);
const crawlerStates = (name: string) => timeline.filter((e) => e.resource === 'crawler' && e.id === name).map((e) => e.state);
const crawlDone = (name: string) =>
  waitFor(
    () => crawler(name),
    (c) => c.State === 'READY' && c.LastCrawl !== undefined,
  );

describe('crawlers', () => {
  it('crawls READY → RUNNING → STOPPING → READY and registers the table and one partition per dt= directory', async () => {
    const before = await crawler('raw-events');

    await glue.send(new StartCrawlerCommand({ Name: 'raw-events' }));
    const running = await crawler('raw-events');
    const done = await crawlDone('raw-events');
    const { Table } = await glue.send(new GetTableCommand({ DatabaseName: 'emrflow_raw', Name: 'events' }));
    const { Partition } = await glue.send(new GetPartitionCommand({ DatabaseName: 'emrflow_raw', TableName: 'events', PartitionValues: ['2026-11-27'] }));

    expect(before.State).toBe('READY');
    expect(before.LastCrawl).toBeUndefined();
    expect(running.State).toBe('RUNNING');
    expect(crawlerStates('raw-events')).toEqual(['RUNNING', 'STOPPING', 'READY']);
    expect(done.LastCrawl).toMatchObject({ Status: 'SUCCEEDED', LogGroup: '/aws-glue/crawlers' });
    expect(done.LastCrawl!.StartTime).toBeInstanceOf(Date);
    expect(Table).toMatchObject({
      Name: 'events',
      DatabaseName: 'emrflow_raw',
      PartitionKeys: [{ Name: 'dt', Type: 'string' }],
      Parameters: { classification: 'json', recordCount: '13', objectCount: '3' },
      StorageDescriptor: { Location: 's3://raw/events/' },
    });
    expect(Table!.StorageDescriptor!.Columns).toEqual(
      expect.arrayContaining([
        { Name: 'event_time', Type: 'string' },
        { Name: 'screen_width', Type: 'int' },
        { Name: 'consent', Type: 'boolean' },
      ]),
    );
    const sizeKey = Buffer.byteLength(events(4, '2026-11-27')) + Buffer.byteLength(events(6, '2026-11-27'));
    expect(Partition).toMatchObject({
      Values: ['2026-11-27'],
      StorageDescriptor: { Location: 's3://raw/events/dt=2026-11-27/' },
      Parameters: {
        classification: 'json',
        sizeKey: String(sizeKey),
        objectCount: '2',
        recordCount: '10',
        averageRecordSize: String(Math.round(sizeKey / 10)),
      },
    });
  });

  it('refuses to start a running crawl with CrawlerRunningException', async () => {
    await glue.send(new StartCrawlerCommand({ Name: 'other-events' }));

    const error = await glue.send(new StartCrawlerCommand({ Name: 'other-events' })).catch((e) => e);
    await crawlDone('other-events');

    expect(error.name).toBe('CrawlerRunningException');
  });

  it('ends a stopped crawl CANCELLED', async () => {
    await glue.send(new StartCrawlerCommand({ Name: 'other-events' }));

    await glue.send(new StopCrawlerCommand({ Name: 'other-events' }));
    const done = await waitFor(
      () => crawler('other-events'),
      (c) => c.State === 'READY',
    );

    expect(crawlerStates('other-events').slice(-3)).toEqual(['RUNNING', 'STOPPING', 'READY']);
    expect(done.LastCrawl!.Status).toBe('CANCELLED');
  });

  it('answers EntityNotFoundException for an unknown crawler', async () => {
    const error = await glue.send(new GetCrawlerCommand({ Name: 'nope' })).catch((e) => e);

    expect(error.name).toBe('EntityNotFoundException');
  });
});

describe('crawler faults', () => {
  it('crawlerAlreadyRunning: the first StartCrawler finds a crawl running, which then finishes normally', async () => {
    emu.setFaults(parseFaults({ glue: { crawlerAlreadyRunning: true } }, 'test'));

    const first = await glue.send(new StartCrawlerCommand({ Name: 'raw-events' })).catch((e) => e);
    const running = await crawler('raw-events');
    const done = await crawlDone('raw-events');
    await glue.send(new StartCrawlerCommand({ Name: 'raw-events' }));
    await crawlDone('raw-events');

    expect(first.name).toBe('CrawlerRunningException');
    expect(running.State).toBe('RUNNING');
    expect(done.LastCrawl!.Status).toBe('SUCCEEDED');
  });

  it('crawlerFails: the crawl ends with LastCrawl FAILED and an ErrorMessage', async () => {
    emu.setFaults(parseFaults({ glue: { crawlerFails: true } }, 'test'));

    await glue.send(new StartCrawlerCommand({ Name: 'other-events' }));
    const done = await waitFor(
      () => crawler('other-events'),
      (c) => c.State === 'READY',
    );
    emu.setFaults(parseFaults({}, 'test'));

    expect(done.LastCrawl).toMatchObject({ Status: 'FAILED', ErrorMessage: expect.any(String) });
  });
});

describe('catalog', () => {
  it('reads partitions in bulk and by expression', async () => {
    const all = await glue.send(new GetPartitionsCommand({ DatabaseName: 'emrflow_raw', TableName: 'events' }));
    const one = await glue.send(new GetPartitionsCommand({ DatabaseName: 'emrflow_raw', TableName: 'events', Expression: "dt = '2026-11-26'" }));
    const batch = await glue.send(
      new BatchGetPartitionCommand({
        DatabaseName: 'emrflow_raw',
        TableName: 'events',
        PartitionsToGet: [{ Values: ['2026-11-26'] }, { Values: ['2030-01-01'] }],
      }),
    );

    expect(all.Partitions!.map((p) => p.Values)).toEqual([['2026-11-26'], ['2026-11-27']]);
    expect(one.Partitions!.map((p) => p.Values)).toEqual([['2026-11-26']]);
    expect(batch.Partitions!.map((p) => p.Values)).toEqual([['2026-11-26']]);
  });

  it('answers EntityNotFoundException for a missing partition, table or database', async () => {
    const partition = await glue
      .send(new GetPartitionCommand({ DatabaseName: 'emrflow_raw', TableName: 'events', PartitionValues: ['2030-01-01'] }))
      .catch((e) => e);
    const table = await glue.send(new GetTableCommand({ DatabaseName: 'emrflow_raw', Name: 'missing' })).catch((e) => e);
    const database = await glue.send(new GetDatabaseCommand({ Name: 'missing' })).catch((e) => e);

    expect([partition.name, table.name, database.name]).toEqual(['EntityNotFoundException', 'EntityNotFoundException', 'EntityNotFoundException']);
  });

  it('creates databases, tables and partitions directly', async () => {
    await glue.send(new CreateDatabaseCommand({ DatabaseInput: { Name: 'made_by_test' } }));
    await glue.send(
      new CreateTableCommand({
        DatabaseName: 'made_by_test',
        TableInput: { Name: 'things', PartitionKeys: [{ Name: 'dt', Type: 'string' }], StorageDescriptor: { Location: 's3://raw/things/' } },
      }),
    );
    await glue.send(
      new CreatePartitionCommand({
        DatabaseName: 'made_by_test',
        TableName: 'things',
        PartitionInput: { Values: ['2026-11-27'], Parameters: { sizeKey: '123' } },
      }),
    );

    const { Database } = await glue.send(new GetDatabaseCommand({ Name: 'made_by_test' }));
    const { TableList } = await glue.send(new GetTablesCommand({ DatabaseName: 'made_by_test' }));
    const { Partition } = await glue.send(new GetPartitionCommand({ DatabaseName: 'made_by_test', TableName: 'things', PartitionValues: ['2026-11-27'] }));
    const duplicate = await glue.send(new CreateDatabaseCommand({ DatabaseInput: { Name: 'made_by_test' } })).catch((e) => e);

    expect(Database!.Name).toBe('made_by_test');
    expect(TableList!.map((t) => t.Name)).toEqual(['things']);
    expect(Partition!.Parameters).toEqual({ sizeKey: '123' });
    expect(duplicate.name).toBe('AlreadyExistsException');
  });

  it('updates a partition in place (UpdatePartition), and refuses a missing one with EntityNotFoundException', async () => {
    const ref = { DatabaseName: 'made_by_test', TableName: 'things' };
    await glue.send(new CreatePartitionCommand({ ...ref, PartitionInput: { Values: ['2026-11-28'], Parameters: { sizeKey: '123' } } }));

    await glue.send(
      new UpdatePartitionCommand({ ...ref, PartitionValueList: ['2026-11-28'], PartitionInput: { Values: ['2026-11-28'], Parameters: { sizeKey: '456' } } }),
    );
    const { Partition } = await glue.send(new GetPartitionCommand({ ...ref, PartitionValues: ['2026-11-28'] }));
    const missing = await glue
      .send(new UpdatePartitionCommand({ ...ref, PartitionValueList: ['2030-01-01'], PartitionInput: { Values: ['2030-01-01'], Parameters: {} } }))
      .catch((e) => e);

    expect(Partition).toMatchObject({ Values: ['2026-11-28'], Parameters: { sizeKey: '456' } });
    expect(missing.name).toBe('EntityNotFoundException');
  });
});

describe('GetPartitions expressions (the documented grammar)', () => {
  const partitions: Array<[string, string, string]> = [
    ['2026-11-25', 'eu', '9'],
    ['2026-11-26', 'eu', '10'],
    ['2026-11-26', 'us', '2'],
    ['2026-11-27', 'us-east', '100'],
    ['2026-11-28', '__HIVE_DEFAULT_PARTITION__', '7'],
  ];

  beforeAll(async () => {
    await glue.send(new CreateDatabaseCommand({ DatabaseInput: { Name: 'expr_db' } }));
    await glue.send(
      new CreateTableCommand({
        DatabaseName: 'expr_db',
        TableInput: {
          Name: 'sales',
          PartitionKeys: [
            { Name: 'dt', Type: 'string' },
            { Name: 'region', Type: 'string' },
            { Name: 'shard', Type: 'int' },
          ],
        },
      }),
    );
    for (const Values of partitions) await glue.send(new CreatePartitionCommand({ DatabaseName: 'expr_db', TableName: 'sales', PartitionInput: { Values } }));
  });

  const select = async (Expression: string) =>
    (await glue.send(new GetPartitionsCommand({ DatabaseName: 'expr_db', TableName: 'sales', Expression }))).Partitions!.map((p) => p.Values!.join('|')).sort();
  const rows = (...indexes: number[]) => indexes.map((i) => partitions[i].join('|')).sort();

  it.each([
    ["dt = '2026-11-26'", [1, 2]],
    ["dt <> '2026-11-26'", [0, 3, 4]],
    ["dt > '2026-11-26'", [3, 4]],
    ["dt >= '2026-11-26' AND dt < '2026-11-28'", [1, 2, 3]],
    ["dt <= '2026-11-25' OR region = 'us'", [0, 2]],
    ["NOT (region = 'eu' OR region = 'us')", [3]],
    ["region IN ('eu', 'us-east')", [0, 1, 3]],
    ["region NOT IN ('eu')", [2, 3]],
    ["dt BETWEEN '2026-11-26' AND '2026-11-27'", [1, 2, 3]],
    ["dt NOT BETWEEN '2026-11-26' AND '2026-11-27'", [0, 4]],
    ["region LIKE 'us%'", [2, 3]],
    ["region LIKE '_u'", [0, 1]],
    ["NOT region = 'eu'", [2, 3]],
    ["region NOT LIKE 'us%'", [0, 1]],
    ['region IS NULL', [4]],
    ['region IS NOT NULL', [0, 1, 2, 3]],
    ['shard > 9', [1, 3]],
    ['shard IN (2, 7)', [2, 4]],
    ["shard BETWEEN 2 AND '9'", [0, 2, 4]],
    ["(dt = '2026-11-26' AND (shard >= 10 OR region = 'us')) and not shard = 10", [2]],
    ["  dt = 'it''s'  ", []],
    ['', [0, 1, 2, 3, 4]],
  ] as Array<[string, number[]]>)('%s', async (expression, expected) => {
    expect(await select(expression)).toEqual(rows(...expected));
  });

  it('compares an int key as a number and a string key as text', async () => {
    // Negative control for typing: as text, '10' < '9' and '100' < '9'.
    expect(await select('shard < 9')).toEqual(rows(2, 4));
    expect(await select("region < 'eu'")).toEqual([]);
  });

  it.each([
    ["dt = '2026-11-26' AND", "Unsupported expression 'dt = '2026-11-26' AND'"],
    ["dt == '2026-11-26'", "Unsupported expression 'dt == '2026-11-26''"],
    ["(dt = '2026-11-26'", "Unsupported expression '(dt = '2026-11-26''"],
    ["dt = 'open", "Unsupported expression 'dt = 'open'"],
    ['dt IN ()', "Unsupported expression 'dt IN ()'"],
    ["missing = 'x'", 'Invalid partition expression!'],
    ["shard = 'ten'", '"ten" is not an integer.'],
    ["shard LIKE '1%'", "Integral data type doesn't support operation 'LIKE'"],
  ])('refuses %s with InvalidInputException', async (expression, message) => {
    const error = await glue.send(new GetPartitionsCommand({ DatabaseName: 'expr_db', TableName: 'sales', Expression: expression })).catch((e) => e);

    expect(error.name).toBe('InvalidInputException');
    expect(error.$metadata.httpStatusCode).toBe(400);
    expect(error.message).toBe(message);
  });
});
