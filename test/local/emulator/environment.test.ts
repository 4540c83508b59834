import { CreateTableCommand, DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DescribeClusterCommand, EMRClient, ListClustersCommand, RunJobFlowCommand } from '@aws-sdk/client-emr';
import { GetCrawlerCommand, GetPartitionCommand, GlueClient, StartCrawlerCommand } from '@aws-sdk/client-glue';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { emulatorEnv, startEmulator } from '../../../local/emulator';
import { waitFor } from './helpers';

const exec = promisify(execFile);

describe('emulatorEnv', () => {
  it('gives the standard endpoint variables, a region and dummy credentials', async () => {
    const emu = await startEmulator({ spark: false, dynamodb: true, region: 'eu-west-1' });

    const env = emulatorEnv(emu);
    await emu.stop();

    expect(env).toEqual({
      AWS_ENDPOINT_URL_EMR: emu.endpoint,
      AWS_ENDPOINT_URL_GLUE: emu.endpoint,
      AWS_ENDPOINT_URL_S3: emu.endpoint,
      AWS_ENDPOINT_URL_EMR_SERVERLESS: emu.endpoint,
      AWS_ENDPOINT_URL_DYNAMODB: emu.dynamodbEndpoint,
      AWS_REGION: 'eu-west-1',
      AWS_DEFAULT_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: expect.any(String),
      AWS_SECRET_ACCESS_KEY: expect.any(String),
    });
    expect(emu.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('lets SDK clients made with no configuration reach EMR, S3 (path-style) and DynamoDB', async () => {
    const emu = await startEmulator({ spark: false, dynamodb: true });
    await emu.seed({ buckets: ['raw'] });
    Object.assign(process.env, emulatorEnv(emu));
    const emr = new EMRClient({});
    const s3 = new S3Client({});
    const dynamodb = new DynamoDBClient({});

    const clusters = await emr.send(new ListClustersCommand({}));
    await s3.send(new PutObjectCommand({ Bucket: 'raw', Key: 'k.txt', Body: 'v' }));
    const object = await s3.send(new GetObjectCommand({ Bucket: 'raw', Key: 'k.txt' }));
    await dynamodb.send(
      new CreateTableCommand({
        TableName: 'runs',
        KeySchema: [{ AttributeName: 'runId', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'runId', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    await dynamodb.send(new PutItemCommand({ TableName: 'runs', Item: { runId: { S: 'r1' } } }));
    const item = await dynamodb.send(new GetItemCommand({ TableName: 'runs', Key: { runId: { S: 'r1' } } }));
    for (const client of [emr, s3, dynamodb]) client.destroy();
    await emu.stop();

    expect(clusters.Clusters).toEqual([]);
    expect(await object.Body!.transformToString()).toBe('v');
    expect(item.Item).toEqual({ runId: { S: 'r1' } });
  });
});

describe('stop', () => {
  it('removes a state directory it made, and keeps one it was given', async () => {
    const given = mkdtempSync(path.join(os.tmpdir(), 'emrflow-given-'));
    const own = await startEmulator({ spark: false });
    const kept = await startEmulator({ spark: false, stateDir: given });

    await own.stop();
    await kept.stop();

    expect(existsSync(own.stateDir)).toBe(false);
    expect(existsSync(path.join(given, 's3'))).toBe(true);
    rmSync(given, { recursive: true, force: true });
  });
});

const awsCli = (process.env.PATH ?? '').split(path.delimiter).some((dir) => dir && existsSync(path.join(dir, 'aws')));

// The AWS CLI is optional on a developer machine; when it is there, it must work against the emulator.
(awsCli ? describe : describe.skip)('the AWS CLI against the emulator', () => {
  it('lists clusters and S3 objects', async () => {
    const emu = await startEmulator({ spark: false, timeScale: 0.001 });
    await emu.seed({ buckets: ['raw'] });
    const s3 = new S3Client({ endpoint: emu.endpoint, region: emu.region, credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    await s3.send(new PutObjectCommand({ Bucket: 'raw', Key: 'events/dt=2026-11-27/part-0001.json', Body: '{}\n' }));
    const env = { ...process.env, ...emulatorEnv(emu) };

    const clusters = await exec('aws', ['emr', 'list-clusters'], { env });
    const objects = await exec('aws', ['s3', 'ls', '--recursive', 's3://raw/'], { env });
    s3.destroy();
    await emu.stop();

    expect(JSON.parse(clusters.stdout)).toEqual({ Clusters: [] });
    expect(objects.stdout).toContain('events/dt=2026-11-27/part-0001.json');
  }, 60_000);
});

describe('a kept state directory', () => {
  it('keeps clusters, steps and the Glue catalog across emulators; what was active ends with INTERNAL_ERROR', async () => {
    const stateDir = mkdtempSync(path.join(os.tmpdir(), 'emrflow-kept-'));
    const first = await startEmulator({ spark: false, timeScale: 0.001, seed: 9, stateDir });
    await first.seed({
      buckets: ['raw'],
      crawlers: [{ Name: 'raw-events', DatabaseName: 'emrflow_raw', Targets: { S3Targets: [{ Path: 's3://raw/events/' }] } }],
    });
    const config = (endpoint: string) => ({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 1 });
    const emr1 = new EMRClient(config(first.endpoint));
    const glue1 = new GlueClient(config(first.endpoint));
    const s3 = new S3Client(config(first.endpoint));
    await s3.send(new PutObjectCommand({ Bucket: 'raw', Key: 'events/dt=2026-11-27/part-0001.json', Body: '{"a":1}\n' }));
    const cluster = {
      Name: 'kept',
      ReleaseLabel: 'emr-7.10.0',
      Instances: {
        KeepJobFlowAliveWhenNoSteps: true,
        InstanceGroups: [{ InstanceRole: 'MASTER' as const, InstanceType: 'm5.xlarge', InstanceCount: 1 }],
      },
    };
    const active = (await emr1.send(new RunJobFlowCommand(cluster))).JobFlowId!;
    await glue1.send(new StartCrawlerCommand({ Name: 'raw-events' }));
    await waitFor(
      () => glue1.send(new GetCrawlerCommand({ Name: 'raw-events' })),
      (r) => r.Crawler!.LastCrawl?.Status === 'SUCCEEDED',
    );
    for (const client of [emr1, glue1, s3]) client.destroy();
    await first.stop();

    const second = await startEmulator({ spark: false, timeScale: 0.001, seed: 9, stateDir });
    const emr2 = new EMRClient(config(second.endpoint));
    const glue2 = new GlueClient(config(second.endpoint));
    const restored = (await emr2.send(new DescribeClusterCommand({ ClusterId: active }))).Cluster!;
    const partition = await glue2.send(new GetPartitionCommand({ DatabaseName: 'emrflow_raw', TableName: 'events', PartitionValues: ['2026-11-27'] }));
    const fresh = (await emr2.send(new RunJobFlowCommand(cluster))).JobFlowId!;
    const stats = second.stats();
    for (const client of [emr2, glue2]) client.destroy();
    await second.stop();
    rmSync(stateDir, { recursive: true, force: true });

    expect(restored.Status).toMatchObject({ State: 'TERMINATED_WITH_ERRORS', StateChangeReason: { Code: 'INTERNAL_ERROR' } });
    expect(partition.Partition!.Parameters).toMatchObject({ recordCount: '1' });
    expect(fresh).not.toBe(active);
    expect(stats.clustersCreated).toBe(2);
    expect(stats.clustersRunning).toBe(1);
  });
});

describe('keep-alive connections', () => {
  // A client reuses an idle keep-alive socket whenever it likes; a server that closes idle sockets (Node's default:
  // 5 s, plus a 1 s buffer) races it, and the call fails with ECONNRESET. The emulator's servers leave them open.
  it("keeps an idle keep-alive socket open past Node's default, on both servers", async () => {
    const emu = await startEmulator({ spark: false, dynamodb: true });
    const http = await import('node:http');
    const closedAfterIdle = async (endpoint: string): Promise<boolean> => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      let closed = false;
      await new Promise<void>((resolve, reject) => {
        const request = http.request(`${endpoint}/`, { agent, method: 'POST', headers: { 'content-type': 'application/x-amz-json-1.0' } }, (response) => {
          response.resume();
          response.on('end', resolve);
        });
        request.on('socket', (socket) =>
          socket.once('close', () => {
            closed = true;
          }),
        );
        request.on('error', reject);
        request.end('{}');
      });
      await new Promise((resolve) => setTimeout(resolve, 7_000));
      agent.destroy();
      return closed;
    };
    try {
      expect(await Promise.all([closedAfterIdle(emu.endpoint), closedAfterIdle(emu.dynamodbEndpoint!)])).toEqual([false, false]);
    } finally {
      await emu.stop();
    }
  }, 20_000);
});
