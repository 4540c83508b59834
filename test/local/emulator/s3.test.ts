import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketPolicyCommand,
  GetBucketTaggingCommand,
  GetBucketVersioningCommand,
  GetObjectAclCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  PutBucketVersioningCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Emulator } from '../../../local/emulator';
import { LocalS3 } from '../../../local/emulator/s3/store';
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
        MultipartUpload: {
          Parts: [
            { PartNumber: 1, ETag: a.ETag },
            { PartNumber: 2, ETag: b.ETag },
          ],
        },
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

describe('the flat key space', () => {
  const longSegment = 'l'.repeat(600);
  const keys = ['x', 'x/y', 'k/', 'a//b', `deep/${longSegment}`, 'dot/./seg'];

  beforeAll(async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'flat' }));
    for (const key of keys) await s3.send(new PutObjectCommand({ Bucket: 'flat', Key: key, Body: `body of ${key}` }));
  });

  it('keeps x and x/y, a folder marker k/, a//b, ./ segments and a 600-byte segment as separate objects', async () => {
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: 'flat' }));
    const bodies = await Promise.all(keys.map(async (key) => (await s3.send(new GetObjectCommand({ Bucket: 'flat', Key: key }))).Body!.transformToString()));

    expect(listed.Contents!.map((o) => o.Key).sort()).toEqual([...keys].sort());
    expect(listed.Contents!.find((o) => o.Key === 'k/')!.Size).toBe('body of k/'.length);
    expect(bodies).toEqual(keys.map((key) => `body of ${key}`));
  });

  it('lists a folder marker as a common prefix and as the first key under it', async () => {
    const top = await s3.send(new ListObjectsV2Command({ Bucket: 'flat', Delimiter: '/' }));
    const under = await s3.send(new ListObjectsV2Command({ Bucket: 'flat', Prefix: 'k/' }));

    expect(top.CommonPrefixes!.map((p) => p.Prefix)).toEqual(['a/', 'deep/', 'dot/', 'k/', 'x/']);
    expect(top.Contents!.map((o) => o.Key)).toEqual(['x']);
    expect(under.Contents!.map((o) => o.Key)).toEqual(['k/']);
  });

  it('keeps ordinary keys as plain files, so Spark and the crawler read x/ as a directory of files', () => {
    const plain = path.join(emu.stateDir, 's3', 'flat', 'x', 'y');

    expect(readFileSync(plain, 'utf8')).toBe('body of x/y');
    expect(statSync(path.join(emu.stateDir, 's3', 'flat', 'x')).isDirectory()).toBe(true);
  });

  it('keeps x readable after x/y is deleted, and deletes x itself', async () => {
    await s3.send(new PutObjectCommand({ Bucket: 'flat', Key: 'gone/child', Body: 'c' }));
    await s3.send(new PutObjectCommand({ Bucket: 'flat', Key: 'gone', Body: 'parent' }));
    await s3.send(new DeleteObjectCommand({ Bucket: 'flat', Key: 'gone/child' }));
    const parent = await s3.send(new GetObjectCommand({ Bucket: 'flat', Key: 'gone' }));
    expect(await parent.Body!.transformToString()).toBe('parent');

    await s3.send(new DeleteObjectCommand({ Bucket: 'flat', Key: 'gone' }));
    const left = await s3.send(new ListObjectsV2Command({ Bucket: 'flat', Prefix: 'gone' }));

    expect(left.KeyCount).toBe(0);
  });

  it('maps s3:// URIs for Spark: a prefix to its plain directory (even beside a folder marker), a side-stored key to its file', async () => {
    await s3.send(new PutObjectCommand({ Bucket: 'flat', Key: 'out/' }));
    await s3.send(new PutObjectCommand({ Bucket: 'flat', Key: 'out/part-0', Body: 'row' }));
    // A fresh store on the same directory: the mapping is read back from disk, as the next emulator would.
    const store = new LocalS3(path.join(emu.stateDir, 's3'));

    expect(store.uriToPath('s3://flat/out/')).toBe(path.join(emu.stateDir, 's3', 'flat', 'out'));
    expect(readFileSync(path.join(store.uriToPath('s3://flat/out/'), 'part-0'), 'utf8')).toBe('row');
    expect(readFileSync(store.uriToPath('s3://flat/x'), 'utf8')).toBe('body of x');
    expect(store.uriToPath('s3://flat/x')).not.toBe(path.join(emu.stateDir, 's3', 'flat', 'x'));
  });

  it('refuses a key longer than 1024 bytes with KeyTooLongError (a 1024-byte key is fine)', async () => {
    const atLimit = `limit/${'k'.repeat(1018)}`;
    await s3.send(new PutObjectCommand({ Bucket: 'flat', Key: atLimit, Body: 'ok' }));

    const tooLong = await s3.send(new PutObjectCommand({ Bucket: 'flat', Key: `${atLimit}x`, Body: 'no' })).catch((e) => e);

    expect(tooLong.name).toBe('KeyTooLongError');
    expect(tooLong.$metadata.httpStatusCode).toBe(400);
  });
});

describe('object metadata', () => {
  it('stores Content-Type, Cache-Control, Content-Disposition, Content-Encoding and x-amz-meta-* and returns them', async () => {
    await s3.send(
      new PutObjectCommand({
        Bucket: 'raw',
        Key: 'meta/report.json',
        Body: '{}',
        ContentType: 'application/json',
        CacheControl: 'max-age=60',
        ContentDisposition: 'attachment; filename="report.json"',
        ContentEncoding: 'identity',
        Metadata: { owner: 'analytics', run: '42' },
      }),
    );

    const head = await s3.send(new HeadObjectCommand({ Bucket: 'raw', Key: 'meta/report.json' }));

    expect(head).toMatchObject({
      ContentType: 'application/json',
      CacheControl: 'max-age=60',
      ContentDisposition: 'attachment; filename="report.json"',
      ContentEncoding: 'identity',
      Metadata: { owner: 'analytics', run: '42' },
    });
  });

  it("copies metadata with the object (COPY) or takes the request's (REPLACE)", async () => {
    await s3.send(new CopyObjectCommand({ Bucket: 'raw', Key: 'meta/copy.json', CopySource: 'raw/meta/report.json' }));
    await s3.send(
      new CopyObjectCommand({
        Bucket: 'raw',
        Key: 'meta/replaced.json',
        CopySource: 'raw/meta/report.json',
        MetadataDirective: 'REPLACE',
        ContentType: 'text/plain',
        Metadata: { fresh: 'yes' },
      }),
    );

    const copy = await s3.send(new HeadObjectCommand({ Bucket: 'raw', Key: 'meta/copy.json' }));
    const replaced = await s3.send(new HeadObjectCommand({ Bucket: 'raw', Key: 'meta/replaced.json' }));

    expect(copy).toMatchObject({ ContentType: 'application/json', Metadata: { owner: 'analytics', run: '42' } });
    expect(replaced.ContentType).toBe('text/plain');
    expect(replaced.Metadata).toEqual({ fresh: 'yes' });
  });

  it('answers binary/octet-stream for a file written without S3 (Spark output), as S3 does for an untyped object', async () => {
    mkdirSync(path.join(emu.stateDir, 's3', 'raw', 'meta'), { recursive: true });
    writeFileSync(path.join(emu.stateDir, 's3', 'raw', 'meta', 'part-00000.json'), '{}');

    const head = await s3.send(new HeadObjectCommand({ Bucket: 'raw', Key: 'meta/part-00000.json' }));

    expect(head.ContentType).toBe('binary/octet-stream');
    expect(head.Metadata).toEqual({});
  });

  it('drops the stored metadata of an object that something else rewrote', async () => {
    await s3.send(new PutObjectCommand({ Bucket: 'raw', Key: 'meta/rewritten.json', Body: '{}', ContentType: 'application/json', Metadata: { stale: 'yes' } }));
    writeFileSync(path.join(emu.stateDir, 's3', 'raw', 'meta', 'rewritten.json'), '{"new":true}');

    const head = await s3.send(new HeadObjectCommand({ Bucket: 'raw', Key: 'meta/rewritten.json' }));

    expect(head.Metadata).toEqual({});
    expect(head.ETag).toBe(`"${md5('{"new":true}')}"`);
  });
});

describe('conditional requests and integrity checks', () => {
  let etag: string;
  beforeAll(async () => {
    etag = (await s3.send(new PutObjectCommand({ Bucket: 'raw', Key: 'cond/object', Body: 'v1' }))).ETag!;
  });

  it('GET: If-Match with another ETag → 412 PreconditionFailed; the right ETag → 200', async () => {
    const wrong = await s3.send(new GetObjectCommand({ Bucket: 'raw', Key: 'cond/object', IfMatch: '"0000"' })).catch((e) => e);
    const right = await s3.send(new GetObjectCommand({ Bucket: 'raw', Key: 'cond/object', IfMatch: etag }));

    expect(wrong.name).toBe('PreconditionFailed');
    expect(wrong.$metadata.httpStatusCode).toBe(412);
    expect(await right.Body!.transformToString()).toBe('v1');
  });

  it('GET: If-None-Match with the ETag, or If-Modified-Since after the write → 304; an older date → 200', async () => {
    const sameEtag = await s3.send(new GetObjectCommand({ Bucket: 'raw', Key: 'cond/object', IfNoneMatch: etag })).catch((e) => e);
    const notModified = await s3
      .send(new HeadObjectCommand({ Bucket: 'raw', Key: 'cond/object', IfModifiedSince: new Date(Date.now() + 60_000) }))
      .catch((e) => e);
    const modified = await s3.send(new HeadObjectCommand({ Bucket: 'raw', Key: 'cond/object', IfModifiedSince: new Date(Date.now() - 3_600_000) }));

    expect(sameEtag.$metadata.httpStatusCode).toBe(304);
    expect(notModified.$metadata.httpStatusCode).toBe(304);
    expect(modified.$metadata.httpStatusCode).toBe(200);
  });

  it('PUT: If-None-Match * on an existing key → 412 and the object is unchanged; If-Match with its ETag → written', async () => {
    const refused = await s3.send(new PutObjectCommand({ Bucket: 'raw', Key: 'cond/object', Body: 'v2', IfNoneMatch: '*' })).catch((e) => e);
    const unchanged = await s3.send(new GetObjectCommand({ Bucket: 'raw', Key: 'cond/object' }));
    expect(refused.name).toBe('PreconditionFailed');
    expect(await unchanged.Body!.transformToString()).toBe('v1');

    const created = await s3.send(new PutObjectCommand({ Bucket: 'raw', Key: 'cond/new', Body: 'n', IfNoneMatch: '*' }));
    const replaced = await s3.send(new PutObjectCommand({ Bucket: 'raw', Key: 'cond/object', Body: 'v3', IfMatch: etag }));
    const missing = await s3.send(new PutObjectCommand({ Bucket: 'raw', Key: 'cond/none', Body: 'x', IfMatch: etag })).catch((e) => e);

    expect(created.ETag).toBe(`"${md5('n')}"`);
    expect(replaced.ETag).toBe(`"${md5('v3')}"`);
    expect(missing.name).toBe('NoSuchKey');
  });

  it('checks Content-MD5: a wrong digest is BadDigest and nothing is stored', async () => {
    const good = await s3.send(
      new PutObjectCommand({ Bucket: 'raw', Key: 'md5/good', Body: 'abc', ContentMD5: createHash('md5').update('abc').digest('base64') }),
    );
    const bad = await s3
      .send(new PutObjectCommand({ Bucket: 'raw', Key: 'md5/bad', Body: 'abc', ContentMD5: createHash('md5').update('abd').digest('base64') }))
      .catch((e) => e);
    const stored = await s3.send(new HeadObjectCommand({ Bucket: 'raw', Key: 'md5/bad' })).catch((e) => e);

    expect(good.ETag).toBe(`"${md5('abc')}"`);
    expect(bad.name).toBe('BadDigest');
    expect(stored.name).toBe('NotFound');
  });

  it('verifies and returns x-amz-checksum-*: SHA-256 and CRC32C uploads read back with their checksums; a wrong CRC32 is BadDigest', async () => {
    const body = 'checksummed body';
    await s3.send(new PutObjectCommand({ Bucket: 'raw', Key: 'sum/sha', Body: body, ChecksumAlgorithm: 'SHA256' }));
    const got = await s3.send(new GetObjectCommand({ Bucket: 'raw', Key: 'sum/sha', ChecksumMode: 'ENABLED' }));
    const wrong = await s3.send(new PutObjectCommand({ Bucket: 'raw', Key: 'sum/crc', Body: body, ChecksumCRC32: 'AAAAAA==' })).catch((e) => e);

    const crc32c = await s3.send(new PutObjectCommand({ Bucket: 'raw', Key: 'sum/crc32c', Body: body, ChecksumAlgorithm: 'CRC32C' }));
    const crc32cBack = await s3.send(new GetObjectCommand({ Bucket: 'raw', Key: 'sum/crc32c', ChecksumMode: 'ENABLED' }));

    expect(crc32cBack.ChecksumCRC32C).toBe(crc32c.ChecksumCRC32C);
    expect(await crc32cBack.Body!.transformToString()).toBe(body);
    expect(got.ChecksumSHA256).toBe(createHash('sha256').update(body).digest('base64'));
    expect(await got.Body!.transformToString()).toBe(body);
    expect(wrong.name).toBe('BadDigest');
  });
});

describe('multipart validation and UploadPartCopy', () => {
  const MiB = 1024 * 1024;
  const source = Buffer.alloc(11 * MiB);
  for (let i = 0; i < source.length; i += 1) source[i] = i % 251;

  beforeAll(async () => {
    await s3.send(new PutObjectCommand({ Bucket: 'raw', Key: 'mp/source.bin', Body: source }));
  });

  it('builds an object from UploadPartCopy ranges, byte for byte (CopyPartResult carries each part ETag)', async () => {
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'raw', Key: 'mp/copy.bin', ContentType: 'application/x-test' }));
    const first = await s3.send(
      new UploadPartCopyCommand({
        Bucket: 'raw',
        Key: 'mp/copy.bin',
        UploadId,
        PartNumber: 1,
        CopySource: 'raw/mp/source.bin',
        CopySourceRange: `bytes=0-${6 * MiB - 1}`,
      }),
    );
    const second = await s3.send(
      new UploadPartCopyCommand({
        Bucket: 'raw',
        Key: 'mp/copy.bin',
        UploadId,
        PartNumber: 2,
        CopySource: 'raw/mp/source.bin',
        CopySourceRange: `bytes=${6 * MiB}-${source.length - 1}`,
      }),
    );
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: 'raw',
        Key: 'mp/copy.bin',
        UploadId,
        MultipartUpload: {
          Parts: [
            { PartNumber: 1, ETag: first.CopyPartResult!.ETag },
            { PartNumber: 2, ETag: second.CopyPartResult!.ETag },
          ],
        },
      }),
    );

    const copy = await s3.send(new GetObjectCommand({ Bucket: 'raw', Key: 'mp/copy.bin' }));

    expect(first.CopyPartResult!.ETag).toBe(`"${md5(source.subarray(0, 6 * MiB))}"`);
    expect(Buffer.from(await copy.Body!.transformToByteArray()).equals(source)).toBe(true);
    expect(copy.ContentType).toBe('application/x-test');
  });

  it('refuses a copy range past the end of the source with InvalidArgument', async () => {
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'raw', Key: 'mp/range.bin' }));

    const error = await s3
      .send(
        new UploadPartCopyCommand({
          Bucket: 'raw',
          Key: 'mp/range.bin',
          UploadId,
          PartNumber: 1,
          CopySource: 'raw/mp/source.bin',
          CopySourceRange: `bytes=0-${source.length}`,
        }),
      )
      .catch((e) => e);
    await s3.send(new AbortMultipartUploadCommand({ Bucket: 'raw', Key: 'mp/range.bin', UploadId }));

    expect(error.name).toBe('InvalidArgument');
  });

  it('completes only an ascending list of uploaded parts with their ETags, each but the last at least 5 MiB', async () => {
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'raw', Key: 'mp/checked.bin' }));
    const small = await s3.send(new UploadPartCommand({ Bucket: 'raw', Key: 'mp/checked.bin', UploadId, PartNumber: 1, Body: 'small' }));
    const big = await s3.send(new UploadPartCommand({ Bucket: 'raw', Key: 'mp/checked.bin', UploadId, PartNumber: 2, Body: source.subarray(0, 5 * MiB) }));
    const last = await s3.send(new UploadPartCommand({ Bucket: 'raw', Key: 'mp/checked.bin', UploadId, PartNumber: 3, Body: 'tail' }));
    const complete = (Parts: Array<{ PartNumber: number; ETag?: string }>) =>
      s3.send(new CompleteMultipartUploadCommand({ Bucket: 'raw', Key: 'mp/checked.bin', UploadId, MultipartUpload: { Parts } })).catch((e) => e);

    const tooSmall = await complete([
      { PartNumber: 1, ETag: small.ETag },
      { PartNumber: 3, ETag: last.ETag },
    ]);
    const wrongEtag = await complete([
      { PartNumber: 2, ETag: small.ETag },
      { PartNumber: 3, ETag: last.ETag },
    ]);
    const missingPart = await complete([
      { PartNumber: 2, ETag: big.ETag },
      { PartNumber: 4, ETag: last.ETag },
    ]);
    const outOfOrder = await complete([
      { PartNumber: 3, ETag: last.ETag },
      { PartNumber: 2, ETag: big.ETag },
    ]);
    const done = await complete([
      { PartNumber: 2, ETag: big.ETag },
      { PartNumber: 3, ETag: last.ETag },
    ]);

    expect([tooSmall.name, wrongEtag.name, missingPart.name, outOfOrder.name]).toEqual(['EntityTooSmall', 'InvalidPart', 'InvalidPart', 'InvalidPartOrder']);
    expect(tooSmall.$metadata.httpStatusCode).toBe(400);
    expect(done.ETag).toMatch(/^"[0-9a-f]{32}-2"$/);
  });
});

describe('sub-resources the emulator does not implement', () => {
  it('answers NotImplemented 501 for turning versioning on, bucket tagging and policy, never a listing', async () => {
    const calls = [
      s3.send(new GetBucketTaggingCommand({ Bucket: 'raw' })),
      s3.send(new GetBucketPolicyCommand({ Bucket: 'raw' })),
      s3.send(new PutBucketVersioningCommand({ Bucket: 'raw', VersioningConfiguration: { Status: 'Enabled' } })),
    ];
    const errors = await Promise.all(calls.map((c) => (c as Promise<unknown>).catch((e) => e)));

    expect(errors.map((e: any) => [e.name, e.$metadata?.httpStatusCode])).toEqual(Array(3).fill(['NotImplemented', 501]));
  });

  it('answers GetBucketVersioning of a bucket that never had versioning as S3 does: 200, no Status', async () => {
    const versioning = await s3.send(new GetBucketVersioningCommand({ Bucket: 'raw' }));

    expect(versioning.$metadata.httpStatusCode).toBe(200);
    expect(versioning.Status).toBeUndefined();
    expect(versioning.MFADelete).toBeUndefined();
  });

  it('answers NotImplemented 501 for object tagging and ACLs, never the object bytes', async () => {
    const tagging = await s3.send(new GetObjectTaggingCommand({ Bucket: 'raw', Key: 'range.txt' })).catch((e) => e);
    const acl = await s3.send(new GetObjectAclCommand({ Bucket: 'raw', Key: 'range.txt' })).catch((e) => e);

    expect([tagging.name, acl.name]).toEqual(['NotImplemented', 'NotImplemented']);
    expect(tagging.$metadata.httpStatusCode).toBe(501);
  });

  it('still answers NoSuchBucket first for a missing bucket', async () => {
    const error = await s3.send(new GetBucketVersioningCommand({ Bucket: 'no-such-bucket' })).catch((e) => e);

    expect(error.name).toBe('NoSuchBucket');
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
