/**
 * S3 REST, path-style (`/<bucket>/<key>`), over LocalS3: the calls the project, the SDK's S3 client and the
 * AWS CLI make (objects with their metadata, conditional requests and integrity checks, ListObjectsV2/V1,
 * buckets, batch delete, copy, multipart upload with UploadPartCopy). Responses and errors are S3's XML; a
 * sub-resource the emulator does not implement (`PUT ?versioning`, `?tagging`, …) answers `NotImplemented` 501,
 * as S3 answers a request for functionality it does not have, never a 200 with the wrong body.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { writeBody } from './body';
import { header, malformedXml, noSuchBucket, noSuchKey, notImplemented, readBody, S3Error, sendError, sendXml, tag, XMLNS, xmlUnescape } from './http';
import { listBuckets, listObjects } from './listing';
import { MultipartUploads } from './multipart';
import {
  checkConditions,
  checksumHeaders,
  checkWriteConditions,
  httpSeconds,
  metadataFromHeaders,
  metadataHeaders,
  metadataOf,
  resolveCopySource,
  RESPONSE_OVERRIDES,
} from './objectHeaders';
import { InvalidKeyError, LocalS3, MAX_KEY_BYTES, type ObjectMetadata } from './store';

/**
 * S3's sub-resources (the query parameters that name a resource other than the bucket or object itself).
 * A request carrying one the emulator does not serve answers NotImplemented; other unknown query parameters
 * are ignored, as S3 ignores them.
 */
const SUB_RESOURCES = new Set([
  'accelerate',
  'acl',
  'analytics',
  'attributes',
  'cors',
  'delete',
  'encryption',
  'intelligent-tiering',
  'inventory',
  'legal-hold',
  'lifecycle',
  'location',
  'logging',
  'metadataConfiguration',
  'metadataTable',
  'metrics',
  'notification',
  'object-lock',
  'ownershipControls',
  'partNumber',
  'policy',
  'policyStatus',
  'publicAccessBlock',
  'renameObject',
  'replication',
  'requestPayment',
  'restore',
  'retention',
  'select',
  'session',
  'tagging',
  'torrent',
  'uploadId',
  'uploads',
  'versionId',
  'versioning',
  'versions',
  'website',
]);

export class S3Service {
  /** Scratch space for bodies being written and for multipart uploads, outside every bucket. */
  private readonly uploadsDir: string;
  private readonly multipart: MultipartUploads;

  constructor(
    private readonly store: LocalS3,
    stateDir: string,
    private readonly region: string,
  ) {
    this.uploadsDir = path.join(stateDir, 's3-multipart-uploads');
    this.multipart = new MultipartUploads(store, this.uploadsDir);
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
        await listBuckets(this.store, this.region, res, q, requestId);
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
      sendError(res, method, s3Error, `/${bucket}${key ? `/${key}` : ''}`, requestId);
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
    return `Unsupported:${method}${subResources.length ? ` ?${subResources.join('&')}` : ''}`;
  }

  private bucketOperation(method: string, q: URLSearchParams): string {
    const operation = S3Service.route(method, q, [
      ['GET', 'location', 'GetBucketLocation'],
      ['GET', 'versioning', 'GetBucketVersioning'],
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
          throw new S3Error('BucketAlreadyOwnedByYou', 'Your previous request to create the named bucket succeeded and you already own it.', 409, {
            BucketName: bucket,
          });
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
      case 'GetBucketVersioning':
        // Versioning is never enabled here (PutBucketVersioning answers NotImplemented): S3 answers a bucket
        // that never had it with an empty configuration, no Status.
        await this.requireBucket(bucket);
        sendXml(res, requestId, `<VersioningConfiguration xmlns="${XMLNS}"/>`);
        return;
      case 'GetBucketLocation':
        await this.requireBucket(bucket);
        sendXml(res, requestId, `<LocationConstraint xmlns="${XMLNS}">${this.region === 'us-east-1' ? '' : this.region}</LocationConstraint>`);
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
        await listObjects(this.store, res, bucket, q, operation === 'ListObjectsV2', requestId);
        return;
      case 'ListMultipartUploads':
        await this.requireBucket(bucket);
        await this.multipart.listUploads(res, bucket, q, requestId);
        return;
      case 'DeleteObjects':
        await this.requireBucket(bucket);
        await this.deleteObjects(req, res, bucket, requestId);
        return;
      default:
        req.resume();
        await this.requireBucket(bucket);
        throw notImplemented(`${operation.replace(/^Unsupported:/, '')} on a bucket`);
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
        return this.multipart.create(req, res, bucket, key, requestId);
      case 'UploadPart':
        return this.multipart.uploadPart(req, res, bucket, key, q, requestId);
      case 'UploadPartCopy':
        return this.multipart.uploadPartCopy(req, res, bucket, key, q, requestId);
      case 'ListParts':
        return this.multipart.listParts(req, res, bucket, key, q, requestId);
      case 'CompleteMultipartUpload':
        return this.multipart.complete(req, res, bucket, key, q.get('uploadId') ?? '', requestId);
      case 'AbortMultipartUpload':
        return this.multipart.abort(req, res, bucket, key, q.get('uploadId') ?? '', requestId);
      default:
        req.resume();
        throw notImplemented(`${operation.replace(/^Unsupported:/, '')} on an object`);
    }
  }

  private async putObject(req: IncomingMessage, res: ServerResponse, bucket: string, key: string, requestId: string): Promise<void> {
    const body = await writeBody(req, this.uploadsDir);
    try {
      await checkWriteConditions(this.store, req.headers, bucket, key);
    } catch (error) {
      await fs.rm(body.tmp, { force: true });
      throw error;
    }
    await this.store.put(bucket, key, body.tmp, { ...metadataFromHeaders(req.headers), etag: body.etag, checksum: body.checksum });
    res.writeHead(200, { etag: `"${body.etag}"`, ...checksumHeaders(body.checksum), 'x-amz-request-id': requestId });
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
        throw new S3Error('InvalidRange', 'The requested range is not satisfiable', 416, {
          RangeRequested: header(req.headers, 'range') ?? '',
          ActualObjectSize: object.size,
        });
      }
      status = 206;
      headers['content-range'] = `bytes ${start}-${end}/${object.size}`;
    } else if (header(req.headers, 'x-amz-checksum-mode')?.toUpperCase() === 'ENABLED') {
      // The whole object's checksum; a range has none of its own.
      Object.assign(headers, checksumHeaders(meta?.checksum));
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
    const source = await resolveCopySource(this.store, req.headers);
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
    sendXml(
      res,
      requestId,
      `<CopyObjectResult xmlns="${XMLNS}">${tag('LastModified', new Date(written.mtimeMs).toISOString())}${tag('ETag', `"${etag}"`)}</CopyObjectResult>`,
    );
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
    sendXml(res, requestId, `<DeleteResult xmlns="${XMLNS}">${deleted}</DeleteResult>`);
  }
}
