import { paginateListObjectsV2, type S3Client } from '@aws-sdk/client-s3';
import type { S3Location } from '../domain/types';

/** Total bytes under an S3 prefix (or of one object), following every ListObjectsV2 page. */
export async function bytesUnder(s3: S3Client, location: S3Location): Promise<number> {
  let total = 0;
  for await (const page of paginateListObjectsV2({ client: s3 }, { Bucket: location.bucket, Prefix: location.key })) {
    for (const object of page.Contents ?? []) total += object.Size ?? 0;
  }
  return total;
}
