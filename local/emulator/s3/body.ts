/**
 * An upload's body, streamed to a scratch file outside the buckets (so a reader never sees half an object)
 * and checked as S3 checks it: Content-MD5 and one x-amz-checksum-* (header or aws-chunked trailer).
 */
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream, promises as fs } from 'node:fs';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import path from 'node:path';
import type { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AwsChunkedDecoder } from './awsChunked';
import { CHECKSUM_ALGORITHMS, runningChecksum, type RunningChecksum } from './checksums';
import { hashing, header, notImplemented, S3Error } from './http';
import type { ChecksumAlgorithm } from './store';

export interface WrittenBody {
  tmp: string;
  etag: string;
  size: number;
  checksum?: { algorithm: ChecksumAlgorithm; value: string };
}

/** The checksum the request asks S3 to verify: a header with its value, or a trailer still to come. */
function requestedChecksum(headers: IncomingHttpHeaders): { algorithm: ChecksumAlgorithm; value?: string } | null {
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
export async function writeBody(req: IncomingMessage, scratchDir: string): Promise<WrittenBody> {
  const contentMd5 = header(req.headers, 'content-md5');
  if (contentMd5 !== undefined && Buffer.from(contentMd5, 'base64').length !== 16) {
    throw new S3Error('InvalidDigest', 'The Content-MD5 you specified was invalid.', 400);
  }
  const requested = requestedChecksum(req.headers);
  await fs.mkdir(scratchDir, { recursive: true });
  const tmp = path.join(scratchDir, `body-${randomUUID()}`);
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
