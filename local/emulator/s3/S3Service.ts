/**
 * S3 REST, path-style (`/<bucket>/<key>`), over LocalS3: the calls the project, the SDK's S3 client and the
 * AWS CLI make (objects, ListObjectsV2/V1, buckets, batch delete, copy, multipart upload). Responses and
 * errors are S3's XML.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AwsChunkedDecoder } from './awsChunked';
import { InvalidKeyError, LocalS3, type LocalObject } from './store';

class S3Error extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    readonly extra: Record<string, string> = {},
  ) {
    super(message);
  }
}

const noSuchBucket = (bucket: string) =>
  new S3Error('NoSuchBucket', 'The specified bucket does not exist', 404, { BucketName: bucket });
const noSuchKey = (key: string) => new S3Error('NoSuchKey', 'The specified key does not exist.', 404, { Key: key });

const XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';

function xmlEscape(value: string): string {
  return value.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}

function xmlUnescape(value: string): string {
  return value.replace(/&(lt|gt|amp|apos|quot);/g, (_, e) => ({ lt: '<', gt: '>', amp: '&', apos: "'", quot: '"' })[e as string]!);
}

function tag(name: string, value: string | number | boolean | undefined): string {
  return value === undefined ? '' : `<${name}>${xmlEscape(String(value))}</${name}>`;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Counts bytes and md5 while a body streams to disk. */
function hashing(hash: ReturnType<typeof createHash>): Transform {
  return new Transform({
    transform(chunk, _encoding, callback) {
      hash.update(chunk);
      callback(null, chunk);
    },
  });
}

export class S3Service {
  private readonly uploadsDir: string;

  constructor(
    private readonly store: LocalS3,
    stateDir: string,
    private readonly region: string,
  ) {
    this.uploadsDir = path.join(stateDir, 's3-multipart-uploads');
  }

  /** Serves one request; returns the S3 operation name (for call statistics). */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL, requestId: string): Promise<string> {
    const segments = url.pathname.split('/');
    const bucket = decodeURIComponent(segments[1] ?? '');
    const key = segments.slice(2).map(decodeURIComponent).join('/');
    const q = url.searchParams;
    const method = req.method ?? 'GET';
    let operation = 'Unknown';
    try {
      if (!bucket) {
        operation = 'ListBuckets';
        if (method !== 'GET') throw new S3Error('MethodNotAllowed', 'The specified method is not allowed against this resource.', 405);
        await this.listBuckets(res, requestId);
      } else if (!key) {
        operation = this.bucketOperation(method, q);
        await this.bucketRequest(operation, req, res, bucket, q, requestId);
      } else {
        operation = this.objectOperation(method, q, req);
        await this.objectRequest(operation, req, res, bucket, key, q, requestId);
      }
    } catch (error) {
      req.resume();
      const s3Error =
        error instanceof S3Error
          ? error
          : error instanceof InvalidKeyError
            ? new S3Error('InvalidArgument', error.message, 400)
            : new S3Error('InternalError', (error as Error).message, 500);
      this.sendError(res, method, s3Error, bucket, key, requestId);
    }
    return operation;
  }

  private bucketOperation(method: string, q: URLSearchParams): string {
    if (method === 'GET' && q.has('location')) return 'GetBucketLocation';
    if (method === 'GET' && q.get('list-type') === '2') return 'ListObjectsV2';
    if (method === 'GET' && q.has('uploads')) return 'ListMultipartUploads';
    if (method === 'GET') return 'ListObjects';
    if (method === 'HEAD') return 'HeadBucket';
    if (method === 'PUT' && [...q.keys()].length === 0) return 'CreateBucket';
    if (method === 'DELETE' && [...q.keys()].length === 0) return 'DeleteBucket';
    if (method === 'POST' && q.has('delete')) return 'DeleteObjects';
    return `Unsupported:${method}?${[...q.keys()].join('&')}`;
  }

  private objectOperation(method: string, q: URLSearchParams, req: IncomingMessage): string {
    if (method === 'GET' && !q.has('uploadId')) return 'GetObject';
    if (method === 'HEAD') return 'HeadObject';
    if (method === 'PUT' && q.has('uploadId') && q.has('partNumber')) return 'UploadPart';
    if (method === 'PUT' && req.headers['x-amz-copy-source']) return 'CopyObject';
    if (method === 'PUT' && [...q.keys()].filter((k) => k !== 'x-id').length === 0) return 'PutObject';
    if (method === 'DELETE' && q.has('uploadId')) return 'AbortMultipartUpload';
    if (method === 'DELETE') return 'DeleteObject';
    if (method === 'POST' && q.has('uploads')) return 'CreateMultipartUpload';
    if (method === 'POST' && q.has('uploadId')) return 'CompleteMultipartUpload';
    return `Unsupported:${method}?${[...q.keys()].join('&')}`;
  }

  private async requireBucket(bucket: string): Promise<void> {
    if (!LocalS3.isValidBucketName(bucket) || !(await this.store.bucketExists(bucket))) throw noSuchBucket(bucket);
  }

  private async bucketRequest(
    operation: string,
    req: IncomingMessage,
    res: ServerResponse,
    bucket: string,
    q: URLSearchParams,
    requestId: string,
  ): Promise<void> {
    switch (operation) {
      case 'CreateBucket': {
        req.resume();
        if (!LocalS3.isValidBucketName(bucket)) {
          throw new S3Error('InvalidBucketName', 'The specified bucket is not valid.', 400, { BucketName: bucket });
        }
        // us-east-1 answers 200 to its owner re-creating a bucket; every other region says it already exists.
        if ((await this.store.bucketExists(bucket)) && this.region !== 'us-east-1') {
          throw new S3Error('BucketAlreadyOwnedByYou', 'Your previous request to create the named bucket succeeded and you already own it.', 409, { BucketName: bucket });
        }
        await this.store.createBucket(bucket);
        res.writeHead(200, { location: `/${bucket}`, 'x-amz-request-id': requestId });
        res.end();
        return;
      }
      case 'HeadBucket':
        await this.requireBucket(bucket);
        res.writeHead(200, { 'x-amz-bucket-region': this.region, 'x-amz-request-id': requestId });
        res.end();
        return;
      case 'GetBucketLocation':
        await this.requireBucket(bucket);
        this.sendXml(res, requestId, `<LocationConstraint xmlns="${XMLNS}">${this.region === 'us-east-1' ? '' : this.region}</LocationConstraint>`);
        return;
      case 'DeleteBucket': {
        await this.requireBucket(bucket);
        if ((await this.store.list(bucket)).length > 0) {
          throw new S3Error('BucketNotEmpty', 'The bucket you tried to delete is not empty', 409, { BucketName: bucket });
        }
        await fs.rm(this.store.bucketPath(bucket), { recursive: true, force: true });
        res.writeHead(204, { 'x-amz-request-id': requestId });
        res.end();
        return;
      }
      case 'ListObjectsV2':
      case 'ListObjects':
        await this.requireBucket(bucket);
        await this.listObjects(res, bucket, q, operation === 'ListObjectsV2', requestId);
        return;
      case 'ListMultipartUploads':
        await this.requireBucket(bucket);
        this.sendXml(res, requestId, `<ListMultipartUploadsResult xmlns="${XMLNS}">${tag('Bucket', bucket)}<IsTruncated>false</IsTruncated></ListMultipartUploadsResult>`);
        return;
      case 'DeleteObjects':
        await this.requireBucket(bucket);
        await this.deleteObjects(req, res, bucket, requestId);
        return;
      default:
        req.resume();
        throw new S3Error('NotImplemented', `The emulator does not implement this bucket request (${operation}).`, 501);
    }
  }

  private async objectRequest(
    operation: string,
    req: IncomingMessage,
    res: ServerResponse,
    bucket: string,
    key: string,
    q: URLSearchParams,
    requestId: string,
  ): Promise<void> {
    await this.requireBucket(bucket);
    switch (operation) {
      case 'PutObject':
        return this.putObject(req, res, bucket, key, requestId);
      case 'GetObject':
      case 'HeadObject':
        return this.getObject(req, res, bucket, key, operation === 'HeadObject', requestId);
      case 'DeleteObject': {
        req.resume();
        const file = this.store.objectPath(bucket, key);
        await fs.rm(file, { force: true });
        await this.pruneEmptyDirs(path.dirname(file), this.store.bucketPath(bucket));
        res.writeHead(204, { 'x-amz-request-id': requestId });
        res.end();
        return;
      }
      case 'CopyObject':
        return this.copyObject(req, res, bucket, key, requestId);
      case 'CreateMultipartUpload': {
        req.resume();
        const uploadId = randomUUID().replace(/-/g, '');
        await fs.mkdir(path.join(this.uploadsDir, uploadId), { recursive: true });
        await fs.writeFile(path.join(this.uploadsDir, uploadId, 'target.json'), JSON.stringify({ bucket, key }));
        this.sendXml(res, requestId, `<InitiateMultipartUploadResult xmlns="${XMLNS}">${tag('Bucket', bucket)}${tag('Key', key)}${tag('UploadId', uploadId)}</InitiateMultipartUploadResult>`);
        return;
      }
      case 'UploadPart': {
        const dir = await this.uploadDir(q.get('uploadId')!);
        const partNumber = Number(q.get('partNumber'));
        if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10000) {
          throw new S3Error('InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive', 400);
        }
        const { etag } = await this.writeBody(req, path.join(dir, `part-${partNumber}`));
        res.writeHead(200, { etag: `"${etag}"`, 'x-amz-request-id': requestId });
        res.end();
        return;
      }
      case 'CompleteMultipartUpload':
        return this.completeMultipart(req, res, bucket, key, q.get('uploadId')!, requestId);
      case 'AbortMultipartUpload': {
        req.resume();
        await fs.rm(await this.uploadDir(q.get('uploadId')!), { recursive: true, force: true });
        res.writeHead(204, { 'x-amz-request-id': requestId });
        res.end();
        return;
      }
      default:
        req.resume();
        throw new S3Error('NotImplemented', `The emulator does not implement this object request (${operation}).`, 501);
    }
  }

  /** Streams the request body to `file` through a temp file (so readers never see half an object). */
  private async writeBody(req: IncomingMessage, file: string): Promise<{ etag: string; size: number }> {
    await fs.mkdir(path.dirname(file), { recursive: true });
    // The partial body lives outside the bucket so a listing never shows half an object.
    await fs.mkdir(this.uploadsDir, { recursive: true });
    const tmp = path.join(this.uploadsDir, `body-${randomUUID()}`);
    const hash = createHash('md5');
    const encoding = String(req.headers['content-encoding'] ?? '');
    const stages: NodeJS.ReadWriteStream[] = encoding.split(',').map((e) => e.trim()).includes('aws-chunked')
      ? [new AwsChunkedDecoder()]
      : [];
    try {
      await pipeline(req, ...(stages as [Transform]), hashing(hash), createWriteStream(tmp));
      await fs.rename(tmp, file);
    } catch (error) {
      await fs.rm(tmp, { force: true });
      throw error;
    }
    const etag = hash.digest('hex');
    const stat = await fs.stat(file);
    this.store.rememberEtag(file, stat, etag);
    return { etag, size: stat.size };
  }

  private async putObject(req: IncomingMessage, res: ServerResponse, bucket: string, key: string, requestId: string): Promise<void> {
    if (key.endsWith('/')) {
      // A "folder" marker: a directory here, since a file cannot be named with a trailing slash.
      req.resume();
      await fs.mkdir(this.store.objectPath(bucket, key), { recursive: true });
      res.writeHead(200, { etag: '"d41d8cd98f00b204e9800998ecf8427e"', 'x-amz-request-id': requestId });
      res.end();
      return;
    }
    const { etag } = await this.writeBody(req, this.store.objectPath(bucket, key));
    res.writeHead(200, { etag: `"${etag}"`, 'x-amz-request-id': requestId });
    res.end();
  }

  private async getObject(
    req: IncomingMessage,
    res: ServerResponse,
    bucket: string,
    key: string,
    headOnly: boolean,
    requestId: string,
  ): Promise<void> {
    req.resume();
    const object = await this.store.stat(bucket, key);
    if (!object) throw noSuchKey(key);
    const headers: Record<string, string | number> = {
      etag: `"${await this.store.etag(object)}"`,
      'last-modified': new Date(object.mtimeMs).toUTCString(),
      'content-type': contentType(key),
      'accept-ranges': 'bytes',
      'x-amz-request-id': requestId,
    };
    const range = /^bytes=(\d*)-(\d*)$/.exec(String(req.headers.range ?? ''));
    let start = 0;
    let end = object.size - 1;
    let status = 200;
    if (range && (range[1] || range[2])) {
      if (range[1]) {
        start = Number(range[1]);
        end = range[2] ? Math.min(Number(range[2]), object.size - 1) : object.size - 1;
      } else {
        start = Math.max(0, object.size - Number(range[2]));
      }
      if (start >= object.size || start > end) {
        throw new S3Error('InvalidRange', 'The requested range is not satisfiable', 416);
      }
      status = 206;
      headers['content-range'] = `bytes ${start}-${end}/${object.size}`;
    }
    headers['content-length'] = object.size === 0 ? 0 : end - start + 1;
    res.writeHead(status, headers);
    if (headOnly || object.size === 0) {
      res.end();
      return;
    }
    await pipeline(createReadStream(object.path, { start, end }), res);
  }

  private async copyObject(req: IncomingMessage, res: ServerResponse, bucket: string, key: string, requestId: string): Promise<void> {
    req.resume();
    const source = decodeURIComponent(String(req.headers['x-amz-copy-source']).split('?')[0]).replace(/^\//, '');
    const [sourceBucket, ...rest] = source.split('/');
    await this.requireBucket(sourceBucket);
    const from = await this.store.stat(sourceBucket, rest.join('/'));
    if (!from) throw noSuchKey(rest.join('/'));
    const target = this.store.objectPath(bucket, key);
    await fs.mkdir(path.dirname(target), { recursive: true });
    await fs.copyFile(from.path, target);
    const stat = await fs.stat(target);
    const etag = await this.store.etag({ path: target, size: stat.size, mtimeMs: stat.mtimeMs });
    this.sendXml(res, requestId, `<CopyObjectResult xmlns="${XMLNS}">${tag('LastModified', stat.mtime.toISOString())}${tag('ETag', `"${etag}"`)}</CopyObjectResult>`);
  }

  private async uploadDir(uploadId: string): Promise<string> {
    const dir = path.join(this.uploadsDir, path.basename(uploadId));
    try {
      await fs.access(path.join(dir, 'target.json'));
    } catch {
      throw new S3Error('NoSuchUpload', 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.', 404, { UploadId: uploadId });
    }
    return dir;
  }

  private async completeMultipart(
    req: IncomingMessage,
    res: ServerResponse,
    bucket: string,
    key: string,
    uploadId: string,
    requestId: string,
  ): Promise<void> {
    const dir = await this.uploadDir(uploadId);
    const body = await readBody(req);
    const parts = [...body.matchAll(/<PartNumber>\s*(\d+)\s*<\/PartNumber>/g)].map((m) => Number(m[1]));
    if (parts.length === 0) throw new S3Error('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.', 400);
    const target = this.store.objectPath(bucket, key);
    await fs.mkdir(path.dirname(target), { recursive: true });
    const tmp = path.join(this.uploadsDir, `body-${uploadId}`);
    const out = createWriteStream(tmp);
    const partHashes: Buffer[] = [];
    for (const part of parts) {
      const file = path.join(dir, `part-${part}`);
      try {
        await fs.access(file);
      } catch {
        out.destroy();
        await fs.rm(tmp, { force: true });
        throw new S3Error('InvalidPart', 'One or more of the specified parts could not be found.', 400);
      }
      partHashes.push(createHash('md5').update(await fs.readFile(file)).digest());
      await pipeline(createReadStream(file), out, { end: false });
    }
    await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
    await fs.rename(tmp, target);
    await fs.rm(dir, { recursive: true, force: true });
    // S3's multipart ETag: md5 of the parts' binary md5s, then "-<number of parts>".
    const etag = `${createHash('md5').update(Buffer.concat(partHashes)).digest('hex')}-${parts.length}`;
    this.store.rememberEtag(target, await fs.stat(target), etag);
    this.sendXml(res, requestId, `<CompleteMultipartUploadResult xmlns="${XMLNS}">${tag('Location', `/${bucket}/${key}`)}${tag('Bucket', bucket)}${tag('Key', key)}${tag('ETag', `"${etag}"`)}</CompleteMultipartUploadResult>`);
  }

  private async deleteObjects(req: IncomingMessage, res: ServerResponse, bucket: string, requestId: string): Promise<void> {
    const body = await readBody(req);
    const quiet = /<Quiet>\s*true\s*<\/Quiet>/i.test(body);
    const keys = [...body.matchAll(/<Key>([\s\S]*?)<\/Key>/g)].map((m) => xmlUnescape(m[1]));
    let deleted = '';
    for (const key of keys) {
      const file = this.store.objectPath(bucket, key);
      await fs.rm(file, { force: true });
      await this.pruneEmptyDirs(path.dirname(file), this.store.bucketPath(bucket));
      if (!quiet) deleted += `<Deleted>${tag('Key', key)}</Deleted>`;
    }
    this.sendXml(res, requestId, `<DeleteResult xmlns="${XMLNS}">${deleted}</DeleteResult>`);
  }

  /** S3 has no directories: once the last object under a "folder" goes, the folder goes from listings too. */
  private async pruneEmptyDirs(dir: string, stopAt: string): Promise<void> {
    let current = dir;
    while (current.startsWith(stopAt) && current !== stopAt) {
      try {
        await fs.rmdir(current);
      } catch {
        return;
      }
      current = path.dirname(current);
    }
  }

  private async listBuckets(res: ServerResponse, requestId: string): Promise<void> {
    const buckets = (await this.store.listBuckets())
      .map((b) => `<Bucket>${tag('Name', b.name)}${tag('CreationDate', b.created.toISOString())}</Bucket>`)
      .join('');
    this.sendXml(res, requestId, `<ListAllMyBucketsResult xmlns="${XMLNS}"><Owner><ID>emrflow-local</ID><DisplayName>emrflow</DisplayName></Owner><Buckets>${buckets}</Buckets></ListAllMyBucketsResult>`);
  }

  private async listObjects(res: ServerResponse, bucket: string, q: URLSearchParams, v2: boolean, requestId: string): Promise<void> {
    const prefix = q.get('prefix') ?? '';
    const delimiter = q.get('delimiter') ?? '';
    const maxKeysParam = q.get('max-keys');
    const maxKeys = maxKeysParam === null ? 1000 : Math.min(1000, Number(maxKeysParam));
    if (!Number.isInteger(maxKeys) || maxKeys < 0) throw new S3Error('InvalidArgument', 'Provided max-keys not an integer or within integer range', 400);
    const urlEncode = q.get('encoding-type') === 'url';
    const enc = (value: string) => (urlEncode ? encodeURIComponent(value).replace(/%2F/g, '/') : value);
    const token = q.get('continuation-token');
    const startAfter = v2
      ? token
        ? Buffer.from(token, 'base64url').toString('utf8')
        : (q.get('start-after') ?? '')
      : (q.get('marker') ?? '');

    const objects = await this.store.list(bucket, prefix);
    // Merge objects and common prefixes in key order, then page; both count toward max-keys.
    const entries: Array<{ key: string; object?: LocalObject }> = [];
    const seenPrefixes = new Set<string>();
    for (const object of objects) {
      if (delimiter) {
        const at = object.key.indexOf(delimiter, prefix.length);
        if (at >= 0) {
          const common = object.key.slice(0, at + delimiter.length);
          if (!seenPrefixes.has(common)) {
            seenPrefixes.add(common);
            entries.push({ key: common });
          }
          continue;
        }
      }
      entries.push({ key: object.key, object });
    }
    const remaining = entries.filter((e) => e.key > startAfter);
    const page = remaining.slice(0, maxKeys);
    const truncated = remaining.length > page.length;
    const last = page[page.length - 1]?.key;

    let contents = '';
    let commonPrefixes = '';
    for (const entry of page) {
      if (entry.object) {
        const etag = await this.store.etag(entry.object);
        contents += `<Contents>${tag('Key', enc(entry.key))}${tag('LastModified', new Date(entry.object.mtimeMs).toISOString())}${tag('ETag', `"${etag}"`)}${tag('Size', entry.object.size)}<StorageClass>STANDARD</StorageClass></Contents>`;
      } else {
        commonPrefixes += `<CommonPrefixes>${tag('Prefix', enc(entry.key))}</CommonPrefixes>`;
      }
    }
    const paging = v2
      ? `${tag('KeyCount', page.length)}${token ? tag('ContinuationToken', token) : ''}${truncated && last ? tag('NextContinuationToken', Buffer.from(last, 'utf8').toString('base64url')) : ''}${q.has('start-after') ? tag('StartAfter', enc(q.get('start-after')!)) : ''}`
      : `${tag('Marker', enc(q.get('marker') ?? ''))}${truncated && delimiter && last ? tag('NextMarker', enc(last)) : ''}`;
    this.sendXml(
      res,
      requestId,
      `<ListBucketResult xmlns="${XMLNS}">${tag('Name', bucket)}${tag('Prefix', enc(prefix))}${delimiter ? tag('Delimiter', enc(delimiter)) : ''}${tag('MaxKeys', maxKeys)}${urlEncode ? tag('EncodingType', 'url') : ''}${tag('IsTruncated', truncated)}${paging}${contents}${commonPrefixes}</ListBucketResult>`,
    );
  }

  private sendXml(res: ServerResponse, requestId: string, body: string): void {
    const payload = `<?xml version="1.0" encoding="UTF-8"?>\n${body}`;
    res.writeHead(200, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(payload), 'x-amz-request-id': requestId });
    res.end(payload);
  }

  private sendError(res: ServerResponse, method: string, error: S3Error, bucket: string, key: string, requestId: string): void {
    if (res.headersSent) {
      res.destroy(error);
      return;
    }
    if (method === 'HEAD') {
      // HEAD responses have no body; the SDK maps the bare status (404 → NotFound).
      res.writeHead(error.status, { 'x-amz-request-id': requestId });
      res.end();
      return;
    }
    const extra = Object.entries(error.extra).map(([k, v]) => tag(k, v)).join('');
    const resource = `/${bucket}${key ? `/${key}` : ''}`;
    const payload = `<?xml version="1.0" encoding="UTF-8"?>\n<Error>${tag('Code', error.code)}${tag('Message', error.message)}${extra}${tag('Resource', resource)}${tag('RequestId', requestId)}</Error>`;
    res.writeHead(error.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(payload), 'x-amz-request-id': requestId });
    res.end(payload);
  }
}

function contentType(key: string): string {
  const ext = path.extname(key).toLowerCase();
  return (
    { '.json': 'application/json', '.txt': 'text/plain', '.py': 'text/x-python', '.csv': 'text/csv', '.parquet': 'application/octet-stream' }[ext] ??
    'binary/octet-stream'
  );
}
