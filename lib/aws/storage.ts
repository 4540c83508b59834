import { ListObjectsV2Command, type ListObjectsV2CommandOutput, paginateListObjectsV2, type S3Client } from '@aws-sdk/client-s3';
import type { InputPresence } from '../domain/input';
import type { S3Location } from '../domain/types';

/** Total bytes under an S3 prefix (or of one object), following every ListObjectsV2 page. */
export async function bytesUnder(s3: S3Client, location: S3Location): Promise<number> {
  let total = 0;
  for await (const page of paginateListObjectsV2({ client: s3 }, { Bucket: location.bucket, Prefix: location.key })) {
    for (const object of page.Contents ?? []) total += object.Size ?? 0;
  }
  return total;
}

/** Listing pages read at most to find a non-empty object: a prefix of thousands of empty markers is not data. */
const PRESENCE_MAX_PAGES = 5;

/**
 * Whether the input exists and has data, reading as little as it can: it stops at the first page holding a
 * non-empty object. A bucket that does not exist counts as a missing input.
 */
export async function inputPresence(s3: S3Client, location: S3Location): Promise<InputPresence> {
  const presence: InputPresence = { objects: 0, bytes: 0 };
  let token: string | undefined;
  for (let page = 0; page < PRESENCE_MAX_PAGES; page += 1) {
    let out: ListObjectsV2CommandOutput;
    try {
      out = await s3.send(new ListObjectsV2Command({ Bucket: location.bucket, Prefix: location.key, ContinuationToken: token }));
    } catch (error) {
      if ((error as Error).name === 'NoSuchBucket') return presence;
      throw error;
    }
    for (const object of out.Contents ?? []) {
      presence.objects += 1;
      presence.bytes += object.Size ?? 0;
    }
    token = out.IsTruncated ? out.NextContinuationToken : undefined;
    if (presence.bytes > 0 || !token) break;
  }
  return presence;
}
