/**
 * The EventBridge event S3 sends for an upload ("Object Created", bucket with EventBridge notifications on),
 * which serverless.yml's rule passes to run-job as the execution input.
 */
import { randomUUID } from 'node:crypto';
import { parseS3Uri, type S3Location } from '../../lib/contract';

export interface ObjectCreated {
  bucket: string;
  key: string;
  size: number;
  etag: string;
  versionId?: string;
}

let sequence = 0;

export function objectCreatedEvent(object: ObjectCreated, options: { region: string; accountId: string; now?: Date }): Record<string, unknown> {
  const now = options.now ?? new Date();
  // S3's sequencer orders events of one key; duplicates of one event carry the same value.
  const sequencer = (BigInt(now.getTime()) * 1000n + BigInt(sequence++ % 1000)).toString(16).toUpperCase().padStart(18, '0');
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Object Created',
    source: 'aws.s3',
    account: options.accountId,
    time: now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region: options.region,
    resources: [`arn:aws:s3:::${object.bucket}`],
    detail: {
      version: '0',
      bucket: { name: object.bucket },
      object: {
        key: object.key,
        size: object.size,
        etag: object.etag.replace(/"/g, ''),
        ...(object.versionId ? { 'version-id': object.versionId } : {}),
        sequencer,
      },
      'request-id': randomUUID().replace(/-/g, '').slice(0, 16).toUpperCase(),
      requester: options.accountId,
      'source-ip-address': '127.0.0.1',
      reason: 'PutObject',
    },
  };
}

/** `s3://bucket/key` → parts; anything else is an error naming the argument. */
export function parseS3ObjectUri(uri: string): S3Location {
  const parsed = parseS3Uri(uri);
  if (!parsed?.key || parsed.key.endsWith('/')) throw new Error(`not an S3 object URI: "${uri}" (expected s3://<bucket>/<key>)`);
  return parsed;
}
