/**
 * S3 REST, path-style (`/<bucket>/<key>`), over LocalS3: the calls the project, the SDK's S3 client and the
 * AWS CLI make (objects with their metadata, conditional requests and integrity checks, ListObjectsV2/V1,
 * buckets, batch delete, copy, multipart upload with UploadPartCopy). Responses and errors are S3's XML; a
 * sub-resource the emulator does not implement (`?versioning`, `?tagging`, …) answers `NotImplemented` 501,
 * as S3 answers a request for functionality it does not have, never a 200 with the wrong body.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AwsChunkedDecoder } from './awsChunked';
import { CHECKSUM_ALGORITHMS, runningChecksum, type RunningChecksum } from './checksums';
import {
  InvalidKeyError,
  LocalS3,
  MAX_KEY_BYTES,
  type ChecksumAlgorithm,
  type LocalObject,
  type ObjectMetadata,
  type StoredObjectMeta,
} from './store';

class S3Error extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    readonly extra: Record<string, string | number> = {},
  ) {
    super(message);
  }
}

const noSuchBucket = (bucket: string) =>
  new S3Error('NoSuchBucket', 'The specified bucket does not exist', 404, { BucketName: bucket });
const noSuchKey = (key: string) => new S3Error('NoSuchKey', 'The specified key does not exist.', 404, { Key: key });
const notImplemented = (what: string) =>
  new S3Error('NotImplemented', `A header or query you provided implies functionality that is not implemented (the emulator does not implement ${what}).`, 501);
const preconditionFailed = (condition: string) =>
  new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', 412, { Condition: condition });
const malformedXml = () =>
  new S3Error('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema', 400);

/** S3's smallest part, except the last (https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html). */
const MIN_PART_BYTES = 5 * 1024 * 1024;
const XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';

/**
 * S3's sub-resources (the query parameters that name a resource other than the bucket or object itself).
 * A request carrying one the emulator does not serve answers NotImplemented; other unknown query parameters
 * are ignored, as S3 ignores them.
 */
const SUB_RESOURCES = new Set([
  'accelerate', 'acl', 'analytics', 'attributes', 'cors', 'delete', 'encryption', 'intelligent-tiering', 'inventory',
  'legal-hold', 'lifecycle', 'location', 'logging', 'metadataConfiguration', 'metadataTable', 'metrics', 'notification',
  'object-lock', 'ownershipControls', 'partNumber', 'policy', 'policyStatus', 'publicAccessBlock', 'renameObject',
  'replication', 'requestPayment', 'restore', 'retention', 'select', 'session', 'tagging', 'torrent', 'uploadId',
  'uploads', 'versionId', 'versioning', 'versions', 'website',
]);

/** Headers that store object metadata, as PutObject, CopyObject (REPLACE) and CreateMultipartUpload take them. */
const METADATA_HEADERS = {
  contentType: 'content-type',
  contentLanguage: 'content-language',
  contentDisposition: 'content-disposition',
  cacheControl: 'cache-control',
  expires: 'expires',
} as const;

/** GetObject's `response-*` parameters override the stored headers on that one response. */
const RESPONSE_OVERRIDES = {
  'response-content-type': 'content-type',
  'response-content-language': 'content-language',
  'response-content-disposition': 'content-disposition',
  'response-content-encoding': 'content-encoding',
  'response-cache-control': 'cache-control',
  'response-expires': 'expires',
} as const;

function xmlEscape(value: string): string {
  return value.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}

function xmlUnescape(value: string): string {
  return value.replace(/&(lt|gt|amp|apos|quot|#(\d+)|#x([0-9a-fA-F]+));/g, (_, e: string, dec?: string, hex?: string) =>
    dec ? String.fromCodePoint(Number(dec)) : hex ? String.fromCodePoint(parseInt(hex, 16)) : { lt: '<', gt: '>', amp: '&', apos: "'", quot: '"' }[e]!,
  );
}

function tag(name: string, value: string | number | boolean | undefined): string {
  return value === undefined ? '' : `<${name}>${xmlEscape(String(value))}</${name}>`;
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

/** Reads a small XML request body whole, checking Content-MD5 when the request carries one. */
async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks);
  const contentMd5 = header(req.headers, 'content-md5');
  if (contentMd5 !== undefined) {
    const expected = Buffer.from(contentMd5, 'base64');
    if (expected.length !== 16) throw new S3Error('InvalidDigest', 'The Content-MD5 you specified was invalid.', 400);
    if (!createHash('md5').update(body).digest().equals(expected)) {
      throw new S3Error('BadDigest', 'The Content-MD5 you specified did not match what we received.', 400);
    }
  }
  return body.toString('utf8');
}

/** Feeds every chunk that streams past to the running hashes. */
function hashing(hashes: Array<{ update(chunk: Buffer): unknown }>): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      for (const hash of hashes) hash.update(chunk);
      callback(null, chunk);
    },
  });
}

const unquote = (etag: string) => etag.trim().replace(/^W\//, '').replace(/^"|"$/g, '');
const etagMatches = (list: string, etag: string) => list.split(',').some((e) => e.trim() === '*' || unquote(e) === etag);
/** HTTP dates have whole seconds; S3 compares Last-Modified at that precision. */
const httpSeconds = (ms: number) => Math.floor(ms / 1000);

/**
 * The outcome of S3's conditional headers (RFC 7232 precedence: If-Match before If-Unmodified-Since,
 * If-None-Match before If-Modified-Since); `prefix` is `x-amz-copy-source-` for a copy's source, where
 * "not modified" is a failed precondition too.
 */
function checkConditions(headers: IncomingHttpHeaders, etag: string, mtimeMs: number, prefix = ''): void {
  const ifMatch = header(headers, `${prefix}if-match`);
  const ifUnmodified = header(headers, `${prefix}if-unmodified-since`);
  const ifNoneMatch = header(headers, `${prefix}if-none-match`);
  const ifModified = header(headers, `${prefix}if-modified-since`);
  const seconds = httpSeconds(mtimeMs);
  if (ifMatch !== undefined) {
    if (!etagMatches(ifMatch, etag)) throw preconditionFailed(`${prefix ? 'x-amz-copy-source-' : ''}If-Match`);
  } else if (ifUnmodified !== undefined) {
    const at = Date.parse(ifUnmodified);
    if (!Number.isNaN(at) && seconds > httpSeconds(at)) throw preconditionFailed(`${prefix ? 'x-amz-copy-source-' : ''}If-Unmodified-Since`);
  }
  const notModified = prefix
    ? (condition: string) => preconditionFailed(`x-amz-copy-source-${condition}`)
    : () => new S3Error('NotModified', 'Not Modified', 304);
  if (ifNoneMatch !== undefined) {
    if (etagMatches(ifNoneMatch, etag)) throw notModified('If-None-Match');
  } else if (ifModified !== undefined) {
    const at = Date.parse(ifModified);
    if (!Number.isNaN(at) && seconds <= httpSeconds(at)) throw notModified('If-Modified-Since');
  }
}

function metadataFromHeaders(headers: IncomingHttpHeaders): ObjectMetadata {
  const meta: ObjectMetadata = { userMetadata: {} };
  for (const [field, name] of Object.entries(METADATA_HEADERS) as Array<[keyof typeof METADATA_HEADERS, string]>) {
    const value = header(headers, name);
    if (value !== undefined) meta[field] = value;
  }
  // aws-chunked is how the body travelled, not how the object is encoded; S3 does not store it.
  const encoding = (header(headers, 'content-encoding') ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e && e !== 'aws-chunked')
    .join(',');
  if (encoding) meta.contentEncoding = encoding;
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith('x-amz-meta-') && value !== undefined) meta.userMetadata[name.slice('x-amz-meta-'.length)] = String(value);
  }
  return meta;
}

/** The S3 metadata of a stored object (none for a file written without S3). */
function metadataOf(meta: ObjectMetadata | null): ObjectMetadata {
  if (!meta) return { userMetadata: {} };
  const { contentType, contentEncoding, contentLanguage, contentDisposition, cacheControl, expires, userMetadata } = meta;
  return { contentType, contentEncoding, contentLanguage, contentDisposition, cacheControl, expires, userMetadata };
}

function metadataHeaders(meta: ObjectMetadata | null): Record<string, string> {
  const out: Record<string, string> = { 'content-type': meta?.contentType ?? 'binary/octet-stream' };
  if (!meta) return out;
  for (const [field, name] of Object.entries(METADATA_HEADERS) as Array<[keyof typeof METADATA_HEADERS, string]>) {
    if (meta[field] !== undefined) out[name] = meta[field]!;
  }
  if (meta.contentEncoding) out['content-encoding'] = meta.contentEncoding;
  for (const [name, value] of Object.entries(meta.userMetadata)) out[`x-amz-meta-${name}`] = value;
  return out;
}

interface WrittenBody {
  tmp: string;
  etag: string;
  size: number;
  checksum?: { algorithm: ChecksumAlgorithm; value: string };
}

interface UploadTarget extends ObjectMetadata {
  bucket: string;
  key: string;
  initiated: string;
}

interface UploadedPart {
  partNumber: number;
  etag: string;
  size: number;
  lastModified: string;
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
    const q = url.searchParams;
    const method = req.method ?? 'GET';
    let operation = 'Unknown';
    let bucket = '';
    let key = '';
    try {
      // The raw path, not url.pathname: WHATWG URL parsing would fold `a/./b` and `a/../b`, which are S3 keys.
      const segments = (req.url ?? '/').split('?')[0].split('/');
      try {
        bucket = decodeURIComponent(segments[1] ?? '');
        key = segments.slice(2).map(decodeURIComponent).join('/');
      } catch {
        throw new S3Error('InvalidURI', "Couldn't parse the specified URI.", 400);
      }
      if (!bucket) {
        operation = method === 'GET' ? 'ListBuckets' : `Unsupported:${method} /`;
        if (method !== 'GET') throw new S3Error('MethodNotAllowed', 'The specified method is not allowed against this resource.', 405);
        await this.listBuckets(res, q, requestId);
      } else if (!key) {
        operation = this.bucketOperation(method, q);
        await this.bucketRequest(operation, req, res, bucket, q, requestId);
      } else {
        if (Buffer.byteLength(key) > MAX_KEY_BYTES) {
          throw new S3Error('KeyTooLongError', 'Your key is too long', 400, { Size: Buffer.byteLength(key), MaxSizeAllowed: MAX_KEY_BYTES });
        }
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

  /** The operation, or `Unsupported:…` naming the sub-resource the emulator does not serve. */
  private static route(method: string, q: URLSearchParams, routes: Array<[string, string | null, string]>): string {
    const subResources = [...q.keys()].filter((k) => SUB_RESOURCES.has(k));
    for (const [routeMethod, subResource, operation] of routes) {
      if (routeMethod !== method) continue;
      if (subResource === null ? subResources.length === 0 : subResources.length === 1 && subResources[0] === subResource) return operation;
    }
    return `Unsupported:${method}${subResources.length ? `?${subResources.join('&')}` : ''}`;
  }

  private bucketOperation(method: string, q: URLSearchParams): string {
    const operation = S3Service.route(method, q, [
      ['GET', 'location', 'GetBucketLocation'],
      ['GET', 'uploads', 'ListMultipartUploads'],
      ['GET', null, 'ListObjects'],
      ['HEAD', null, 'HeadBucket'],
      ['PUT', null, 'CreateBucket'],
      ['DELETE', null, 'DeleteBucket'],
      ['POST', 'delete', 'DeleteObjects'],
    ]);
    return operation === 'ListObjects' && q.get('list-type') === '2' ? 'ListObjectsV2' : operation;
  }

  private objectOperation(method: string, q: URLSearchParams, req: IncomingMessage): string {
    const copy = header(req.headers, 'x-amz-copy-source') !== undefined;
    if (method === 'PUT' && q.has('uploadId') && q.has('partNumber') && [...q.keys()].filter((k) => SUB_RESOURCES.has(k)).length === 2) {
      return copy ? 'UploadPartCopy' : 'UploadPart';
    }
    const operation = S3Service.route(method, q, [
      ['GET', null, 'GetObject'],
      ['GET', 'uploadId', 'ListParts'],
      ['HEAD', null, 'HeadObject'],
      ['PUT', null, 'PutObject'],
      ['DELETE', null, 'DeleteObject'],
      ['DELETE', 'uploadId', 'AbortMultipartUpload'],
      ['POST', 'uploads', 'CreateMultipartUpload'],
      ['POST', 'uploadId', 'CompleteMultipartUpload'],
    ]);
    return operation === 'PutObject' && copy ? 'CopyObject' : operation;
  }

  private async requireBucket(bucket: string): Promise<void> {
    if (!(await this.store.bucketExists(bucket))) throw noSuchBucket(bucket);
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
        await this.store.deleteBucket(bucket);
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
        await this.listMultipartUploads(res, bucket, q, requestId);
        return;
      case 'DeleteObjects':
        await this.requireBucket(bucket);
        await this.deleteObjects(req, res, bucket, requestId);
        return;
      default:
        req.resume();
        await this.requireBucket(bucket);
        throw notImplemented(`bucket request ${operation}`);
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
        return this.getObject(req, res, bucket, key, q, operation === 'HeadObject', requestId);
      case 'DeleteObject':
        req.resume();
        await this.store.delete(bucket, key);
        res.writeHead(204, { 'x-amz-request-id': requestId });
        res.end();
        return;
      case 'CopyObject':
        return this.copyObject(req, res, bucket, key, requestId);
      case 'CreateMultipartUpload':
        return this.createMultipartUpload(req, res, bucket, key, requestId);
      case 'UploadPart':
        return this.uploadPart(req, res, bucket, key, q, requestId);
      case 'UploadPartCopy':
        return this.uploadPartCopy(req, res, bucket, key, q, requestId);
      case 'ListParts':
        return this.listParts(req, res, bucket, key, q, requestId);
      case 'CompleteMultipartUpload':
        return this.completeMultipart(req, res, bucket, key, q.get('uploadId')!, requestId);
      case 'AbortMultipartUpload': {
        req.resume();
        await fs.rm(await this.uploadDir(q.get('uploadId')!, bucket, key), { recursive: true, force: true });
        res.writeHead(204, { 'x-amz-request-id': requestId });
        res.end();
        return;
      }
      default:
        req.resume();
        throw notImplemented(`object request ${operation}`);
    }
  }

  /** The checksum the request asks S3 to verify: a header with its value, or a trailer still to come. */
  private static requestedChecksum(headers: IncomingHttpHeaders): { algorithm: ChecksumAlgorithm; value?: string } | null {
    for (const algorithm of CHECKSUM_ALGORITHMS) {
      const value = header(headers, `x-amz-checksum-${algorithm.toLowerCase()}`);
      if (value !== undefined) return { algorithm, value };
    }
    const named = (header(headers, 'x-amz-trailer') ?? header(headers, 'x-amz-sdk-checksum-algorithm') ?? '').toLowerCase().replace(/^x-amz-checksum-/, '');
    if (!named) return null;
    const algorithm = CHECKSUM_ALGORITHMS.find((a) => a.toLowerCase() === named);
    if (!algorithm) throw notImplemented(`the ${named.toUpperCase()} checksum`);
    return { algorithm };
  }

  /**
   * Streams the request body to a temp file outside the bucket (so readers never see half an object) and
   * checks it against Content-MD5 and any x-amz-checksum-* (header or aws-chunked trailer). A body that
   * fails a check is removed and answered BadDigest, as S3 does.
   */
  private async writeBody(req: IncomingMessage): Promise<WrittenBody> {
    const contentMd5 = header(req.headers, 'content-md5');
    if (contentMd5 !== undefined && Buffer.from(contentMd5, 'base64').length !== 16) {
      throw new S3Error('InvalidDigest', 'The Content-MD5 you specified was invalid.', 400);
    }
    const requested = S3Service.requestedChecksum(req.headers);
    await fs.mkdir(this.uploadsDir, { recursive: true });
    const tmp = path.join(this.uploadsDir, `body-${randomUUID()}`);
    const md5 = createHash('md5');
    const checksum: RunningChecksum | null = requested ? runningChecksum(requested.algorithm) : null;
    const encoding = (header(req.headers, 'content-encoding') ?? '').split(',').map((e) => e.trim());
    const decoder = encoding.includes('aws-chunked') ? new AwsChunkedDecoder() : null;
    try {
      await pipeline(req, ...((decoder ? [decoder] : []) as [Transform]), hashing(checksum ? [md5, checksum] : [md5]), createWriteStream(tmp));
      const digest = md5.digest();
      if (contentMd5 !== undefined && !digest.equals(Buffer.from(contentMd5, 'base64'))) {
        throw new S3Error('BadDigest', 'The Content-MD5 you specified did not match what we received.', 400);
      }
      let verified: WrittenBody['checksum'];
      if (requested && checksum) {
        const name = `x-amz-checksum-${requested.algorithm.toLowerCase()}`;
        const expected = requested.value ?? decoder?.trailers[name];
        if (expected === undefined) throw new S3Error('InvalidRequest', `The request names a ${requested.algorithm} checksum but carries no ${name} value.`, 400);
        const actual = checksum.digest();
        if (actual !== expected) {
          throw new S3Error('BadDigest', `The ${requested.algorithm} you specified did not match the calculated checksum.`, 400);
        }
        verified = { algorithm: requested.algorithm, value: actual };
      }
      return { tmp, etag: digest.toString('hex'), size: (await fs.stat(tmp)).size, checksum: verified };
    } catch (error) {
      await fs.rm(tmp, { force: true });
      throw error;
    }
  }

  /** PutObject / CompleteMultipartUpload conditions: If-None-Match `*` (no object yet) and If-Match (this ETag). */
  private async checkWriteConditions(headers: IncomingHttpHeaders, bucket: string, key: string): Promise<void> {
    const ifNoneMatch = header(headers, 'if-none-match');
    const ifMatch = header(headers, 'if-match');
    if (ifNoneMatch === undefined && ifMatch === undefined) return;
    if (ifNoneMatch !== undefined && ifNoneMatch.trim() !== '*') throw notImplemented('If-None-Match with a value other than *');
    const existing = await this.store.stat(bucket, key);
    if (ifNoneMatch !== undefined && existing) throw preconditionFailed('If-None-Match');
    if (ifMatch !== undefined) {
      if (!existing) throw noSuchKey(key);
      if (!etagMatches(ifMatch, await this.store.etag(bucket, existing))) throw preconditionFailed('If-Match');
    }
  }

  private checksumHeaders(checksum: StoredObjectMeta['checksum']): Record<string, string> {
    return checksum ? { [`x-amz-checksum-${checksum.algorithm.toLowerCase()}`]: checksum.value, 'x-amz-checksum-type': 'FULL_OBJECT' } : {};
  }

  private async putObject(req: IncomingMessage, res: ServerResponse, bucket: string, key: string, requestId: string): Promise<void> {
    const body = await this.writeBody(req);
    try {
      await this.checkWriteConditions(req.headers, bucket, key);
    } catch (error) {
      await fs.rm(body.tmp, { force: true });
      throw error;
    }
    await this.store.put(bucket, key, body.tmp, { ...metadataFromHeaders(req.headers), etag: body.etag, checksum: body.checksum });
    res.writeHead(200, { etag: `"${body.etag}"`, ...this.checksumHeaders(body.checksum), 'x-amz-request-id': requestId });
    res.end();
  }

  private async getObject(
    req: IncomingMessage,
    res: ServerResponse,
    bucket: string,
    key: string,
    q: URLSearchParams,
    headOnly: boolean,
    requestId: string,
  ): Promise<void> {
    req.resume();
    const object = await this.store.stat(bucket, key);
    if (!object) throw noSuchKey(key);
    const etag = await this.store.etag(bucket, object);
    const meta = this.store.metadata(bucket, object);
    const lastModified = new Date(httpSeconds(object.mtimeMs) * 1000).toUTCString();
    try {
      checkConditions(req.headers, etag, object.mtimeMs);
    } catch (error) {
      if (error instanceof S3Error && error.status === 304) {
        res.writeHead(304, { etag: `"${etag}"`, 'last-modified': lastModified, 'x-amz-request-id': requestId });
        res.end();
        return;
      }
      throw error;
    }
    const headers: Record<string, string | number> = {
      ...metadataHeaders(meta),
      etag: `"${etag}"`,
      'last-modified': lastModified,
      'accept-ranges': 'bytes',
      'x-amz-request-id': requestId,
    };
    for (const [param, name] of Object.entries(RESPONSE_OVERRIDES)) {
      const value = q.get(param);
      if (value !== null) headers[name] = value;
    }
    if (meta?.partsCount) headers['x-amz-mp-parts-count'] = meta.partsCount;
    const range = /^bytes=(\d*)-(\d*)$/.exec(header(req.headers, 'range') ?? '');
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
        throw new S3Error('InvalidRange', 'The requested range is not satisfiable', 416, { RangeRequested: header(req.headers, 'range')!, ActualObjectSize: object.size });
      }
      status = 206;
      headers['content-range'] = `bytes ${start}-${end}/${object.size}`;
    } else if (header(req.headers, 'x-amz-checksum-mode')?.toUpperCase() === 'ENABLED') {
      // The whole object's checksum; a range has none of its own.
      Object.assign(headers, this.checksumHeaders(meta?.checksum));
    }
    headers['content-length'] = object.size === 0 ? 0 : end - start + 1;
    res.writeHead(status, headers);
    if (headOnly || object.size === 0) {
      res.end();
      return;
    }
    await pipeline(createReadStream(object.path, { start, end }), res);
  }

  /** The object `x-amz-copy-source` names (`bucket/key`, URL-encoded), after its conditions. */
  private async copySource(headers: IncomingHttpHeaders): Promise<{ bucket: string; object: LocalObject; etag: string }> {
    const raw = header(headers, 'x-amz-copy-source')!;
    const [pathPart, query] = raw.split('?');
    if (query && /(^|&)versionId=/.test(query)) throw notImplemented('copying a version (versionId)');
    const source = decodeURIComponent(pathPart).replace(/^\//, '');
    const slash = source.indexOf('/');
    if (slash <= 0 || slash === source.length - 1) {
      throw new S3Error('InvalidArgument', 'Copy Source must mention the source bucket and key: sourcebucket/sourcekey', 400, { ArgumentName: 'x-amz-copy-source', ArgumentValue: raw });
    }
    const bucket = source.slice(0, slash);
    const key = source.slice(slash + 1);
    await this.requireBucket(bucket);
    const object = await this.store.stat(bucket, key);
    if (!object) throw noSuchKey(key);
    const etag = await this.store.etag(bucket, object);
    checkConditions(headers, etag, object.mtimeMs, 'x-amz-copy-source-');
    return { bucket, object, etag };
  }

  private async copyObject(req: IncomingMessage, res: ServerResponse, bucket: string, key: string, requestId: string): Promise<void> {
    req.resume();
    const source = await this.copySource(req.headers);
    const directive = (header(req.headers, 'x-amz-metadata-directive') ?? 'COPY').toUpperCase();
    if (directive !== 'COPY' && directive !== 'REPLACE') {
      throw new S3Error('InvalidArgument', 'Unknown metadata directive.', 400, { ArgumentName: 'x-amz-metadata-directive', ArgumentValue: directive });
    }
    if (source.bucket === bucket && source.object.key === key && directive === 'COPY') {
      throw new S3Error(
        'InvalidRequest',
        "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
        400,
      );
    }
    const sourceMeta = this.store.metadata(source.bucket, source.object);
    const metadata: ObjectMetadata = directive === 'REPLACE' ? metadataFromHeaders(req.headers) : metadataOf(sourceMeta);
    await fs.mkdir(this.uploadsDir, { recursive: true });
    const tmp = path.join(this.uploadsDir, `copy-${randomUUID()}`);
    await fs.copyFile(source.object.path, tmp);
    // A copy is written in one piece, so a multipart source's copy gets a plain md5 ETag.
    const multipartSource = (sourceMeta?.partsCount ?? 0) > 0;
    const written = await this.store.put(bucket, key, tmp, {
      ...metadata,
      etag: multipartSource ? undefined : source.etag,
      checksum: sourceMeta?.checksum,
      partsCount: undefined,
    });
    const etag = await this.store.etag(bucket, written);
    this.sendXml(
      res,
      requestId,
      `<CopyObjectResult xmlns="${XMLNS}">${tag('LastModified', new Date(written.mtimeMs).toISOString())}${tag('ETag', `"${etag}"`)}</CopyObjectResult>`,
    );
  }

  // ---------------------------------------------------------------- multipart upload

  private async createMultipartUpload(req: IncomingMessage, res: ServerResponse, bucket: string, key: string, requestId: string): Promise<void> {
    req.resume();
    const uploadId = randomUUID().replace(/-/g, '');
    const target: UploadTarget = { bucket, key, initiated: new Date().toISOString(), ...metadataFromHeaders(req.headers) };
    await fs.mkdir(path.join(this.uploadsDir, uploadId), { recursive: true });
    await fs.writeFile(path.join(this.uploadsDir, uploadId, 'target.json'), JSON.stringify(target));
    this.sendXml(res, requestId, `<InitiateMultipartUploadResult xmlns="${XMLNS}">${tag('Bucket', bucket)}${tag('Key', key)}${tag('UploadId', uploadId)}</InitiateMultipartUploadResult>`);
  }

  private async uploadDir(uploadId: string, bucket: string, key: string): Promise<string> {
    const dir = path.join(this.uploadsDir, path.basename(uploadId));
    const target = await this.uploadTarget(dir);
    if (!target || target.bucket !== bucket || target.key !== key) {
      throw new S3Error('NoSuchUpload', 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.', 404, { UploadId: uploadId });
    }
    return dir;
  }

  private async uploadTarget(dir: string): Promise<UploadTarget | null> {
    try {
      return JSON.parse(await fs.readFile(path.join(dir, 'target.json'), 'utf8')) as UploadTarget;
    } catch {
      return null;
    }
  }

  private static partNumber(q: URLSearchParams): number {
    const partNumber = Number(q.get('partNumber'));
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10000) {
      throw new S3Error('InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive', 400, { ArgumentName: 'partNumber', ArgumentValue: q.get('partNumber') ?? '' });
    }
    return partNumber;
  }

  private async savePart(dir: string, partNumber: number, tmp: string, etag: string): Promise<UploadedPart> {
    await fs.rename(tmp, path.join(dir, `part-${partNumber}`));
    const stat = await fs.stat(path.join(dir, `part-${partNumber}`));
    const part: UploadedPart = { partNumber, etag, size: stat.size, lastModified: stat.mtime.toISOString() };
    await fs.writeFile(path.join(dir, `part-${partNumber}.json`), JSON.stringify(part));
    return part;
  }

  private async uploadPart(req: IncomingMessage, res: ServerResponse, bucket: string, key: string, q: URLSearchParams, requestId: string): Promise<void> {
    const dir = await this.uploadDir(q.get('uploadId')!, bucket, key);
    const partNumber = S3Service.partNumber(q);
    const body = await this.writeBody(req);
    await this.savePart(dir, partNumber, body.tmp, body.etag);
    res.writeHead(200, { etag: `"${body.etag}"`, ...this.checksumHeaders(body.checksum), 'x-amz-request-id': requestId });
    res.end();
  }

  /** UploadPartCopy: the part is a byte range (`x-amz-copy-source-range: bytes=first-last`) of an existing object. */
  private async uploadPartCopy(req: IncomingMessage, res: ServerResponse, bucket: string, key: string, q: URLSearchParams, requestId: string): Promise<void> {
    req.resume();
    const dir = await this.uploadDir(q.get('uploadId')!, bucket, key);
    const partNumber = S3Service.partNumber(q);
    const source = await this.copySource(req.headers);
    const rangeHeader = header(req.headers, 'x-amz-copy-source-range');
    let start = 0;
    let end = source.object.size - 1;
    if (rangeHeader !== undefined) {
      const range = /^bytes=(\d+)-(\d+)$/.exec(rangeHeader.trim());
      if (!range || Number(range[1]) > Number(range[2])) {
        throw new S3Error(
          'InvalidArgument',
          'The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy',
          400,
          { ArgumentName: 'x-amz-copy-source-range', ArgumentValue: rangeHeader },
        );
      }
      [start, end] = [Number(range[1]), Number(range[2])];
      if (end >= source.object.size) {
        throw new S3Error('InvalidArgument', `Range specified is not valid for source object of size: ${source.object.size}`, 400, {
          ArgumentName: 'x-amz-copy-source-range',
          ArgumentValue: rangeHeader,
        });
      }
    }
    await fs.mkdir(this.uploadsDir, { recursive: true });
    const tmp = path.join(this.uploadsDir, `part-copy-${randomUUID()}`);
    const md5 = createHash('md5');
    if (source.object.size > 0) {
      await pipeline(createReadStream(source.object.path, { start, end }), hashing([md5]), createWriteStream(tmp));
    } else {
      await fs.writeFile(tmp, '');
    }
    const part = await this.savePart(dir, partNumber, tmp, md5.digest('hex'));
    this.sendXml(res, requestId, `<CopyPartResult xmlns="${XMLNS}">${tag('LastModified', part.lastModified)}${tag('ETag', `"${part.etag}"`)}</CopyPartResult>`);
  }

  private async uploadedParts(dir: string): Promise<UploadedPart[]> {
    const names = (await fs.readdir(dir)).filter((n) => /^part-\d+\.json$/.test(n));
    const parts = await Promise.all(names.map(async (n) => JSON.parse(await fs.readFile(path.join(dir, n), 'utf8')) as UploadedPart));
    return parts.sort((a, b) => a.partNumber - b.partNumber);
  }

  private async listParts(req: IncomingMessage, res: ServerResponse, bucket: string, key: string, q: URLSearchParams, requestId: string): Promise<void> {
    req.resume();
    const uploadId = q.get('uploadId')!;
    const dir = await this.uploadDir(uploadId, bucket, key);
    const marker = Number(q.get('part-number-marker') ?? 0);
    const max = Math.min(Number(q.get('max-parts') ?? 1000), 1000);
    const after = (await this.uploadedParts(dir)).filter((p) => p.partNumber > marker);
    const page = after.slice(0, max);
    const truncated = after.length > page.length;
    const parts = page
      .map((p) => `<Part>${tag('PartNumber', p.partNumber)}${tag('LastModified', p.lastModified)}${tag('ETag', `"${p.etag}"`)}${tag('Size', p.size)}</Part>`)
      .join('');
    this.sendXml(
      res,
      requestId,
      `<ListPartsResult xmlns="${XMLNS}">${tag('Bucket', bucket)}${tag('Key', key)}${tag('UploadId', uploadId)}${tag('PartNumberMarker', marker)}${tag('NextPartNumberMarker', page.at(-1)?.partNumber ?? marker)}${tag('MaxParts', max)}${tag('IsTruncated', truncated)}${parts}<StorageClass>STANDARD</StorageClass></ListPartsResult>`,
    );
  }

  private async listMultipartUploads(res: ServerResponse, bucket: string, q: URLSearchParams, requestId: string): Promise<void> {
    const prefix = q.get('prefix') ?? '';
    let names: string[] = [];
    try {
      names = await fs.readdir(this.uploadsDir);
    } catch {
      // no upload was ever started
    }
    const uploads: Array<UploadTarget & { uploadId: string }> = [];
    for (const uploadId of names) {
      const target = await this.uploadTarget(path.join(this.uploadsDir, uploadId));
      if (target && target.bucket === bucket && target.key.startsWith(prefix)) uploads.push({ ...target, uploadId });
    }
    uploads.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.initiated < b.initiated ? -1 : 1));
    const body = uploads
      .map((u) => `<Upload>${tag('Key', u.key)}${tag('UploadId', u.uploadId)}${tag('Initiated', u.initiated)}<StorageClass>STANDARD</StorageClass></Upload>`)
      .join('');
    this.sendXml(
      res,
      requestId,
      `<ListMultipartUploadsResult xmlns="${XMLNS}">${tag('Bucket', bucket)}${tag('Prefix', prefix)}${tag('MaxUploads', 1000)}<IsTruncated>false</IsTruncated>${body}</ListMultipartUploadsResult>`,
    );
  }

  /**
   * Checks the part list as S3 does (ascending part numbers, each part uploaded with that ETag, every part
   * but the last at least 5 MiB), then concatenates the parts into the object.
   */
  private async completeMultipart(req: IncomingMessage, res: ServerResponse, bucket: string, key: string, uploadId: string, requestId: string): Promise<void> {
    const dir = await this.uploadDir(uploadId, bucket, key);
    const body = await readBody(req);
    const requested = [...body.matchAll(/<Part>([\s\S]*?)<\/Part>/g)].map((m) => ({
      partNumber: Number(/<PartNumber>\s*(\d+)\s*<\/PartNumber>/.exec(m[1])?.[1]),
      etag: xmlUnescape(/<ETag>([\s\S]*?)<\/ETag>/.exec(m[1])?.[1] ?? ''),
    }));
    if (requested.length === 0 || requested.some((p) => !Number.isInteger(p.partNumber))) throw malformedXml();
    for (let i = 1; i < requested.length; i += 1) {
      if (requested[i].partNumber <= requested[i - 1].partNumber) {
        throw new S3Error('InvalidPartOrder', 'The list of parts was not in ascending order. The parts list must be specified in order by part number.', 400, { UploadId: uploadId });
      }
    }
    const uploaded = new Map((await this.uploadedParts(dir)).map((p) => [p.partNumber, p]));
    const parts = requested.map((p) => {
      const part = uploaded.get(p.partNumber);
      if (!part || unquote(p.etag) !== part.etag) {
        throw new S3Error(
          'InvalidPart',
          "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
          400,
          { UploadId: uploadId, PartNumber: p.partNumber, ETag: p.etag },
        );
      }
      return part;
    });
    parts.slice(0, -1).forEach((part) => {
      if (part.size < MIN_PART_BYTES) {
        throw new S3Error('EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed object size.', 400, {
          ProposedSize: part.size,
          MinSizeAllowed: MIN_PART_BYTES,
          PartNumber: part.partNumber,
          ETag: part.etag,
        });
      }
    });
    await this.checkWriteConditions(req.headers, bucket, key);
    const target = (await this.uploadTarget(dir))!;
    const tmp = path.join(this.uploadsDir, `body-${uploadId}`);
    const out = createWriteStream(tmp);
    for (const part of parts) await pipeline(createReadStream(path.join(dir, `part-${part.partNumber}`)), out, { end: false });
    await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
    // S3's multipart ETag: md5 of the parts' binary md5s, then "-<number of parts>".
    const etag = `${createHash('md5').update(Buffer.concat(parts.map((p) => Buffer.from(p.etag, 'hex')))).digest('hex')}-${parts.length}`;
    await this.store.put(bucket, key, tmp, { ...metadataOf(target), etag, partsCount: parts.length });
    await fs.rm(dir, { recursive: true, force: true });
    this.sendXml(res, requestId, `<CompleteMultipartUploadResult xmlns="${XMLNS}">${tag('Location', `/${bucket}/${key}`)}${tag('Bucket', bucket)}${tag('Key', key)}${tag('ETag', `"${etag}"`)}</CompleteMultipartUploadResult>`);
  }

  private async deleteObjects(req: IncomingMessage, res: ServerResponse, bucket: string, requestId: string): Promise<void> {
    const body = await readBody(req);
    if (!/<Delete[\s>]/.test(body)) throw malformedXml();
    const quiet = /<Quiet>\s*true\s*<\/Quiet>/i.test(body);
    const keys = [...body.matchAll(/<Key>([\s\S]*?)<\/Key>/g)].map((m) => xmlUnescape(m[1]));
    if (keys.length > 1000) throw malformedXml();
    let deleted = '';
    for (const key of keys) {
      await this.store.delete(bucket, key);
      if (!quiet) deleted += `<Deleted>${tag('Key', key)}</Deleted>`;
    }
    this.sendXml(res, requestId, `<DeleteResult xmlns="${XMLNS}">${deleted}</DeleteResult>`);
  }

  // ---------------------------------------------------------------- listings

  private async listBuckets(res: ServerResponse, q: URLSearchParams, requestId: string): Promise<void> {
    const prefix = q.get('prefix') ?? '';
    const max = Math.min(Number(q.get('max-buckets') ?? 10000), 10000);
    if (!Number.isInteger(max) || max < 1) throw new S3Error('InvalidArgument', 'max-buckets must be an integer between 1 and 10000', 400);
    const after = q.has('continuation-token') ? Buffer.from(q.get('continuation-token')!, 'base64url').toString('utf8') : '';
    const regionFilter = q.get('bucket-region');
    const all = (await this.store.listBuckets()).filter((b) => b.name.startsWith(prefix) && b.name > after && (!regionFilter || regionFilter === this.region));
    const page = all.slice(0, max);
    const buckets = page
      .map((b) => `<Bucket>${tag('Name', b.name)}${tag('CreationDate', b.created.toISOString())}${tag('BucketRegion', this.region)}</Bucket>`)
      .join('');
    const next = all.length > page.length ? tag('ContinuationToken', Buffer.from(page.at(-1)!.name).toString('base64url')) : '';
    this.sendXml(
      res,
      requestId,
      `<ListAllMyBucketsResult xmlns="${XMLNS}"><Owner><ID>emrflow-local</ID><DisplayName>emrflow</DisplayName></Owner><Buckets>${buckets}</Buckets>${next}${q.has('prefix') ? tag('Prefix', prefix) : ''}</ListAllMyBucketsResult>`,
    );
  }

  private async listObjects(res: ServerResponse, bucket: string, q: URLSearchParams, v2: boolean, requestId: string): Promise<void> {
    const prefix = q.get('prefix') ?? '';
    const delimiter = q.get('delimiter') ?? '';
    const maxKeysParam = q.get('max-keys');
    const maxKeys = maxKeysParam === null ? 1000 : Math.min(1000, Number(maxKeysParam));
    if (!Number.isInteger(maxKeys) || maxKeys < 0) throw new S3Error('InvalidArgument', 'Provided max-keys not an integer or within integer range', 400, { ArgumentName: 'max-keys', ArgumentValue: maxKeysParam ?? '' });
    const encodingType = q.get('encoding-type');
    if (encodingType !== null && encodingType !== 'url') throw new S3Error('InvalidArgument', 'Invalid Encoding Method specified in Request', 400, { ArgumentName: 'encoding-type', ArgumentValue: encodingType });
    const urlEncode = encodingType === 'url';
    const enc = (value: string) => (urlEncode ? encodeURIComponent(value).replace(/%2F/g, '/') : value);
    const token = q.get('continuation-token');
    const startAfter = v2 ? (token ? Buffer.from(token, 'base64url').toString('utf8') : (q.get('start-after') ?? '')) : (q.get('marker') ?? '');
    const fetchOwner = !v2 || q.get('fetch-owner') === 'true';

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
    const after = Buffer.from(startAfter);
    const remaining = entries.filter((e) => Buffer.compare(Buffer.from(e.key), after) > 0);
    const page = remaining.slice(0, maxKeys);
    const truncated = remaining.length > page.length;
    const last = page[page.length - 1]?.key;

    let contents = '';
    let commonPrefixes = '';
    const owner = '<Owner><ID>emrflow-local</ID><DisplayName>emrflow</DisplayName></Owner>';
    for (const entry of page) {
      if (entry.object) {
        const etag = await this.store.etag(bucket, entry.object);
        contents += `<Contents>${tag('Key', enc(entry.key))}${tag('LastModified', new Date(entry.object.mtimeMs).toISOString())}${tag('ETag', `"${etag}"`)}${tag('Size', entry.object.size)}${fetchOwner ? owner : ''}<StorageClass>STANDARD</StorageClass></Contents>`;
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
