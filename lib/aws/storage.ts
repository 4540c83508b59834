import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { S3Location } from '../domain/types';

/** Total bytes under an S3 prefix (or of one object), following every ListObjectsV2 page. */
export async function bytesUnder(s3: S3Client, location: S3Location): Promise<number> {
  let total = 0;
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: location.bucket, Prefix: location.key, ContinuationToken: token }),
    );
    for (const object of page.Contents ?? []) total += object.Size ?? 0;
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return total;
}
