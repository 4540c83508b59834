/** S3 reads and writes of run-batch: the manifest, the items file, the Map's result files, the summary. */
import { GetObjectCommand, PutObjectCommand, paginateListObjectsV2, type S3Client } from '@aws-sdk/client-s3';
import type { MapResultEntry } from '../domain/batch';
import type { S3Location } from '../domain/types';

export async function readText(s3: S3Client, location: { bucket: string; key: string }): Promise<string> {
  const out = await s3.send(new GetObjectCommand({ Bucket: location.bucket, Key: location.key }));
  return (await out.Body?.transformToString('utf8')) ?? '';
}

export async function putText(s3: S3Client, location: S3Location, body: string, contentType: string): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: location.bucket, Key: location.key, Body: body, ContentType: contentType }));
}

/** ResultWriter's manifest.json: where each status's result files are. */
interface ResultManifest {
  DestinationBucket: string;
  ResultFiles: Record<string, Array<{ Key: string }>>;
}

/** Every entry of every results file a ResultWriter manifest lists. */
export async function readMapResults(s3: S3Client, manifest: { bucket: string; key: string }): Promise<MapResultEntry[]> {
  const index = JSON.parse(await readText(s3, manifest)) as ResultManifest;
  const entries: MapResultEntry[] = [];
  for (const files of Object.values(index.ResultFiles ?? {})) {
    for (const file of files)
      entries.push(...(JSON.parse(await readText(s3, { bucket: index.DestinationBucket ?? manifest.bucket, key: file.Key })) as MapResultEntry[]));
  }
  return entries;
}

/**
 * The newest ResultWriter manifest under a prefix (`<prefix>/<map run id>/manifest.json`): where the results
 * are when the Map failed and its output, which names the manifest, was replaced by the error.
 */
export async function findResultManifest(s3: S3Client, bucket: string, prefix: string): Promise<{ bucket: string; key: string } | null> {
  let newest: { key: string; at: number } | null = null;
  for await (const page of paginateListObjectsV2({ client: s3 }, { Bucket: bucket, Prefix: `${prefix}/` })) {
    for (const object of page.Contents ?? []) {
      if (!object.Key?.endsWith('/manifest.json')) continue;
      const at = object.LastModified?.getTime() ?? 0;
      if (!newest || at >= newest.at) newest = { key: object.Key, at };
    }
  }
  return newest ? { bucket, key: newest.key } : null;
}
