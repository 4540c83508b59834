import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Emulator } from '../../local/emulator';
import { startTestEmulator } from './helpers';

let emu: Emulator;
let s3: S3Client;

beforeAll(async () => {
  ({ emu } = await startTestEmulator());
  s3 = new S3Client({ maxAttempts: 1 });
  await s3.send(new CreateBucketCommand({ Bucket: 'raw' }));
});
afterAll(async () => {
  s3.destroy();
  await emu.stop();
});

const md5 = (data: string | Buffer) => createHash('md5').update(data).digest('hex');

describe('objects', () => {
  it('stores a put object as a plain file under <stateDir>/s3/<bucket>/<key> and reads it back', async () => {
    const body = '{"event":"view"}\n{"event":"click"}\n';

    const put = await s3.send(new PutObjectCommand({ Bucket: 'raw', Key: 'events/dt=2026-11-27/part-0001.json', Body: body }));
    const got = await s3.send(new GetObjectCommand({ Bucket: 'raw', Key: 'events/dt=2026-11-27/part-0001.json' }));
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'raw', Key: 'events/dt=2026-11-27/part-0001.json' }));

    expect(put.ETag).toBe(`"${md5(body)}"`);
    expect(await got.Body!.transformToString()).toBe(body);
    expect(head.ContentLength).toBe(Buffer.byteLength(body));
    expect(head.ETag).toBe(`"${md5(body)}"`);
    expect(readFileSync(path.join(emu.stateDir, 's3', 'raw', 'events', 'dt=2026-11-27', 'part-0001.json'), 'utf8')).toBe(body);
  });

  it('takes a streamed upload (aws-chunked with a trailing checksum) byte for byte', async () => {
    const source = path.join(emu.stateDir, 'upload-source.bin');
    const data = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
    writeFileSync(source, data);

    await s3.send(new PutObjectCommand({ Bucket: 'raw', Key: 'big/blob.bin', Body: createReadStream(source), ContentLength: data.length }));
    const stored = path.join(emu.stateDir, 's3', 'raw', 'big', 'blob.bin');

    expect(statSync(stored).size).toBe(data.length);
    expect(md5(readFileSync(stored))).toBe(md5(data));
  });

  it('reads a byte range', async () => {
    await s3.send(new PutObjectCommand({ Bucket: 'raw', Key: 'range.txt', Body: '0123456789' }));

    const part = await s3.send(new GetObjectCommand({ Bucket: 'raw', Key: 'range.txt', Range: 'bytes=2-5' }));

    expect(await part.Body!.transformToString()).toBe('2345');
    expect(part.ContentRange).toBe('bytes 2-5/10');
  });

  it('answers NoSuchKey and NoSuchBucket as S3 does', async () => {
    const missingKey = await s3.send(new GetObjectCommand({ Bucket: 'raw', Key: 'nope.json' })).catch((e) => e);
    const missingBucket = await s3.send(new GetObjectCommand({ Bucket: 'no-such-bucket', Key: 'a' })).catch((e) => e);
    const headMissing = await s3.send(new HeadObjectCommand({ Bucket: 'raw', Key: 'nope.json' })).catch((e) => e);

    expect(missingKey.name).toBe('NoSuchKey');
    expect(missingKey.$metadata.httpStatusCode).toBe(404);
    expect(missingBucket.name).toBe('NoSuchBucket');
    expect(headMissing.name).toBe('NotFound');
  });

  it('deletes objects one by one and in batches, and copies', async () => {
    await s3.send(new PutObjectCommand({ Bucket: 'raw', Key: 'tmp/a', Body: 'a' }));
    await s3.send(new PutObjectCommand({ Bucket: 'raw', Key: 'tmp/b', Body: 'b' }));
    await s3.send(new CopyObjectCommand({ Bucket: 'raw', Key: 'tmp/c', CopySource: 'raw/tmp/a' }));

    const copied = await s3.send(new GetObjectCommand({ Bucket: 'raw', Key: 'tmp/c' }));
    expect(await copied.Body!.transformToString()).toBe('a');
    await s3.send(new DeleteObjectCommand({ Bucket: 'raw', Key: 'tmp/a' }));
    await s3.send(new DeleteObjectsCommand({ Bucket: 'raw', Delete: { Objects: [{ Key: 'tmp/b' }, { Key: 'tmp/c' }] } }));
    const left = await s3.send(new ListObjectsV2Command({ Bucket: 'raw', Prefix: 'tmp/' }));

    expect(left.KeyCount).toBe(0);
    expect(existsSync(path.join(emu.stateDir, 's3', 'raw', 'tmp'))).toBe(false);
  });

  it('assembles a multipart upload and gives it the multipart ETag', async () => {
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'raw', Key: 'multi/object.txt' }));
    const partA = Buffer.alloc(5 * 1024 * 1024, 'a');
    const partB = Buffer.from('tail');
    const a = await s3.send(new UploadPartCommand({ Bucket: 'raw', Key: 'multi/object.txt', UploadId, PartNumber: 1, Body: partA }));
    const b = await s3.send(new UploadPartCommand({ Bucket: 'raw', Key: 'multi/object.txt', UploadId, PartNumber: 2, Body: partB }));

    const done = await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: 'raw',
        Key: 'multi/object.txt',
        UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: a.ETag }, { PartNumber: 2, ETag: b.ETag }] },
      }),
    );
    const stored = readFileSync(path.join(emu.stateDir, 's3', 'raw', 'multi', 'object.txt'));

    expect(stored.equals(Buffer.concat([partA, partB]))).toBe(true);
    expect(done.ETag).toMatch(/^"[0-9a-f]{32}-2"$/);
  });
});

describe('ListObjectsV2', () => {
  beforeAll(async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'listing' }));
    for (const key of ['events/dt=2026-11-25/p1.json', 'events/dt=2026-11-26/p1.json', 'events/dt=2026-11-26/p2.json', 'events/readme.txt', 'other/x']) {
      await s3.send(new PutObjectCommand({ Bucket: 'listing', Key: key, Body: key }));
    }
  });

  it('lists keys under a prefix in key order with sizes and ETags', async () => {
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: 'listing', Prefix: 'events/dt=2026-11-26/' }));

    expect(listed.Contents!.map((o) => o.Key)).toEqual(['events/dt=2026-11-26/p1.json', 'events/dt=2026-11-26/p2.json']);
    expect(listed.Contents![0]).toMatchObject({ Size: 28, ETag: `"${md5('events/dt=2026-11-26/p1.json')}"` });
    expect(listed.IsTruncated).toBe(false);
  });

  it('groups keys into common prefixes with a delimiter', async () => {
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: 'listing', Prefix: 'events/', Delimiter: '/' }));

    expect(listed.CommonPrefixes!.map((p) => p.Prefix)).toEqual(['events/dt=2026-11-25/', 'events/dt=2026-11-26/']);
    expect(listed.Contents!.map((o) => o.Key)).toEqual(['events/readme.txt']);
  });

  it('pages with max-keys and continuation tokens', async () => {
    const keys: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: 'listing', MaxKeys: 2, ContinuationToken: token }));
      keys.push(...page.Contents!.map((o) => o.Key!));
      token = page.NextContinuationToken;
      pages += 1;
    } while (token);

    expect(pages).toBe(3);
    expect(keys).toEqual(['events/dt=2026-11-25/p1.json', 'events/dt=2026-11-26/p1.json', 'events/dt=2026-11-26/p2.json', 'events/readme.txt', 'other/x']);
  });

  it('lists files that something else wrote into the directory (e.g. Spark output)', async () => {
    const dir = path.join(emu.stateDir, 's3', 'listing', 'spark-out');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'part-00000.parquet'), 'PAR1');

    const listed = await s3.send(new ListObjectsV2Command({ Bucket: 'listing', Prefix: 'spark-out/' }));

    expect(listed.Contents!.map((o) => o.Key)).toEqual(['spark-out/part-00000.parquet']);
  });
});

describe('buckets', () => {
  it('creates, heads and lists buckets', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'artifacts' }));

    const head = await s3.send(new HeadBucketCommand({ Bucket: 'artifacts' }));
    const missing = await s3.send(new HeadBucketCommand({ Bucket: 'missing-bucket' })).catch((e) => e);
    const { Buckets } = await s3.send(new ListBucketsCommand({}));

    expect(head.$metadata.httpStatusCode).toBe(200);
    expect(missing.$metadata.httpStatusCode).toBe(404);
    expect(Buckets!.map((b) => b.Name)).toEqual(expect.arrayContaining(['artifacts', 'raw']));
  });

  it('creates the seeded buckets', async () => {
    await emu.seed({ buckets: ['seeded-raw', 'seeded-logs'] });

    const { Buckets } = await s3.send(new ListBucketsCommand({}));

    expect(Buckets!.map((b) => b.Name)).toEqual(expect.arrayContaining(['seeded-raw', 'seeded-logs']));
  });

  it('counts S3 calls by operation', () => {
    const { calls } = emu.stats();

    expect(calls.S3.PutObject).toBeGreaterThan(5);
    expect(calls.S3.ListObjectsV2).toBeGreaterThan(3);
    expect(calls.S3.CreateBucket).toBeGreaterThan(1);
  });
});
