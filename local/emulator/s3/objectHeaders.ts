/**
 * What an object request's headers ask of S3 beyond the bytes: the metadata it stores and returns, the
 * conditions (If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since, and their
 * x-amz-copy-source-* forms) with S3's answers (412 PreconditionFailed, 304), and the copy source.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { header, noSuchBucket, noSuchKey, notImplemented, preconditionFailed, S3Error } from './http';
import type { LocalObject, LocalS3, ObjectMetadata, StoredObjectMeta } from './store';

/** Headers that store object metadata, as PutObject, CopyObject (REPLACE) and CreateMultipartUpload take them. */
const METADATA_HEADERS = {
  contentType: 'content-type',
  contentLanguage: 'content-language',
  contentDisposition: 'content-disposition',
  cacheControl: 'cache-control',
  expires: 'expires',
} as const;

/** GetObject's `response-*` parameters override the stored headers on that one response. */
export const RESPONSE_OVERRIDES = {
  'response-content-type': 'content-type',
  'response-content-language': 'content-language',
  'response-content-disposition': 'content-disposition',
  'response-content-encoding': 'content-encoding',
  'response-cache-control': 'cache-control',
  'response-expires': 'expires',
} as const;

export const unquote = (etag: string) => etag.trim().replace(/^W\//, '').replace(/^"|"$/g, '');
export const etagMatches = (list: string, etag: string) => list.split(',').some((e) => e.trim() === '*' || unquote(e) === etag);
/** HTTP dates have whole seconds; S3 compares Last-Modified at that precision. */
export const httpSeconds = (ms: number) => Math.floor(ms / 1000);

/**
 * The outcome of S3's conditional headers (RFC 7232 precedence: If-Match before If-Unmodified-Since,
 * If-None-Match before If-Modified-Since); `prefix` is `x-amz-copy-source-` for a copy's source, where
 * "not modified" is a failed precondition too.
 */
export function checkConditions(headers: IncomingHttpHeaders, etag: string, mtimeMs: number, prefix = ''): void {
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

export function metadataFromHeaders(headers: IncomingHttpHeaders): ObjectMetadata {
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
export function metadataOf(meta: ObjectMetadata | null): ObjectMetadata {
  if (!meta) return { userMetadata: {} };
  const { contentType, contentEncoding, contentLanguage, contentDisposition, cacheControl, expires, userMetadata } = meta;
  return { contentType, contentEncoding, contentLanguage, contentDisposition, cacheControl, expires, userMetadata };
}

export function metadataHeaders(meta: ObjectMetadata | null): Record<string, string> {
  const out: Record<string, string> = { 'content-type': meta?.contentType ?? 'binary/octet-stream' };
  if (!meta) return out;
  for (const [field, name] of Object.entries(METADATA_HEADERS) as Array<[keyof typeof METADATA_HEADERS, string]>) {
    const value = meta[field];
    if (value !== undefined) out[name] = value;
  }
  if (meta.contentEncoding) out['content-encoding'] = meta.contentEncoding;
  for (const [name, value] of Object.entries(meta.userMetadata)) out[`x-amz-meta-${name}`] = value;
  return out;
}

/** PutObject / CompleteMultipartUpload conditions: If-None-Match `*` (no object yet) and If-Match (this ETag). */
export async function checkWriteConditions(store: LocalS3, headers: IncomingHttpHeaders, bucket: string, key: string): Promise<void> {
  const ifNoneMatch = header(headers, 'if-none-match');
  const ifMatch = header(headers, 'if-match');
  if (ifNoneMatch === undefined && ifMatch === undefined) return;
  if (ifNoneMatch !== undefined && ifNoneMatch.trim() !== '*') throw notImplemented('If-None-Match with a value other than *');
  const existing = await store.stat(bucket, key);
  if (ifNoneMatch !== undefined && existing) throw preconditionFailed('If-None-Match');
  if (ifMatch !== undefined) {
    if (!existing) throw noSuchKey(key);
    if (!etagMatches(ifMatch, await store.etag(bucket, existing))) throw preconditionFailed('If-Match');
  }
}

export function checksumHeaders(checksum: StoredObjectMeta['checksum']): Record<string, string> {
  return checksum ? { [`x-amz-checksum-${checksum.algorithm.toLowerCase()}`]: checksum.value, 'x-amz-checksum-type': 'FULL_OBJECT' } : {};
}

/** The object `x-amz-copy-source` names (`bucket/key`, URL-encoded), after its conditions. */
export async function resolveCopySource(store: LocalS3, headers: IncomingHttpHeaders): Promise<{ bucket: string; object: LocalObject; etag: string }> {
  const raw = header(headers, 'x-amz-copy-source') ?? '';
  const [pathPart, query] = raw.split('?');
  if (query && /(^|&)versionId=/.test(query)) throw notImplemented('copying a version (versionId)');
  const source = decodeURIComponent(pathPart).replace(/^\//, '');
  const slash = source.indexOf('/');
  if (slash <= 0 || slash === source.length - 1) {
    throw new S3Error('InvalidArgument', 'Copy Source must mention the source bucket and key: sourcebucket/sourcekey', 400, {
      ArgumentName: 'x-amz-copy-source',
      ArgumentValue: raw,
    });
  }
  const bucket = source.slice(0, slash);
  const key = source.slice(slash + 1);
  if (!(await store.bucketExists(bucket))) throw noSuchBucket(bucket);
  const object = await store.stat(bucket, key);
  if (!object) throw noSuchKey(key);
  const etag = await store.etag(bucket, object);
  checkConditions(headers, etag, object.mtimeMs, 'x-amz-copy-source-');
  return { bucket, object, etag };
}
