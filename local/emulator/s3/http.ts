/**
 * S3's REST wire format as the emulator writes it: the error type with S3's codes and statuses, XML
 * escaping, request headers and small bodies, and the XML and error responses.
 */
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { Transform } from 'node:stream';

export const XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';

/** Local: an S3 error reply (code, status, XML body) of the emulator, as AwsServiceError is for JSON services. */
export class S3Error extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    readonly extra: Record<string, string | number> = {},
  ) {
    super(message);
  }
}

export const noSuchBucket = (bucket: string) => new S3Error('NoSuchBucket', 'The specified bucket does not exist', 404, { BucketName: bucket });
export const noSuchKey = (key: string) => new S3Error('NoSuchKey', 'The specified key does not exist.', 404, { Key: key });
export const notImplemented = (what: string) =>
  new S3Error('NotImplemented', `A header or query you provided implies functionality that is not implemented (the emulator does not implement ${what}).`, 501);
export const preconditionFailed = (condition: string) =>
  new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', 412, { Condition: condition });
export const malformedXml = () => new S3Error('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema', 400);

const XML_ESCAPES: Record<string, string> = { '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' };
const XML_ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', apos: "'", quot: '"' };

export function xmlEscape(value: string): string {
  return value.replace(/[<>&'"]/g, (c) => XML_ESCAPES[c] ?? c);
}

export function xmlUnescape(value: string): string {
  return value.replace(/&(lt|gt|amp|apos|quot|#(\d+)|#x([0-9a-fA-F]+));/g, (_, e: string, dec?: string, hex?: string) =>
    dec ? String.fromCodePoint(Number(dec)) : hex ? String.fromCodePoint(parseInt(hex, 16)) : (XML_ENTITIES[e] ?? _),
  );
}

export function tag(name: string, value: string | number | boolean | undefined): string {
  return value === undefined ? '' : `<${name}>${xmlEscape(String(value))}</${name}>`;
}

export function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

/** Reads a small XML request body whole, checking Content-MD5 when the request carries one. */
export async function readBody(req: IncomingMessage): Promise<string> {
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
export function hashing(hashes: Array<{ update(chunk: Buffer): unknown }>): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      for (const hash of hashes) hash.update(chunk);
      callback(null, chunk);
    },
  });
}

export function sendXml(res: ServerResponse, requestId: string, body: string): void {
  const payload = `<?xml version="1.0" encoding="UTF-8"?>\n${body}`;
  res.writeHead(200, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(payload), 'x-amz-request-id': requestId });
  res.end(payload);
}

/** S3's XML error (a HEAD answer has no body: the SDK maps the bare status, 404 → NotFound). */
export function sendError(res: ServerResponse, method: string, error: S3Error, resource: string, requestId: string): void {
  if (res.headersSent) {
    res.destroy(error);
    return;
  }
  if (method === 'HEAD') {
    res.writeHead(error.status, { 'x-amz-request-id': requestId });
    res.end();
    return;
  }
  const extra = Object.entries(error.extra)
    .map(([k, v]) => tag(k, v))
    .join('');
  const payload = `<?xml version="1.0" encoding="UTF-8"?>\n<Error>${tag('Code', error.code)}${tag('Message', error.message)}${extra}${tag('Resource', resource)}${tag('RequestId', requestId)}</Error>`;
  res.writeHead(error.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(payload), 'x-amz-request-id': requestId });
  res.end(payload);
}
