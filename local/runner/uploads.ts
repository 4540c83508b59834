/** Objects written into local S3 as a writer would, and the EventBridge "Object Created" event S3 sends for each. */
import { readFileSync } from 'node:fs';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { loadJobs } from '../../lib/config/jobs';
import { jobOwningKey } from '../../lib/domain/s3Trigger';
import { parseS3Uri } from '../../lib/contract';
import { objectCreatedEvent, parseS3ObjectUri } from './s3Event';
import type { ServerlessConfig } from './serverless-config';

export class Uploads {
  constructor(
    private readonly s3: S3Client,
    private readonly config: ServerlessConfig,
  ) {}

  /** Puts a file into local S3 and returns the EventBridge "Object Created" event S3 would send. */
  async upload(file: string, s3Uri: string): Promise<Record<string, unknown>> {
    const { bucket, key } = parseS3ObjectUri(s3Uri);
    return this.putObject(bucket, key, readFileSync(file));
  }

  /** The (empty) marker object of the job owning a partition prefix (its s3Trigger in config/jobs.json), and its event. */
  async markComplete(partitionUri: string): Promise<Record<string, unknown>> {
    const location = parseS3Uri(partitionUri);
    if (!location?.key.endsWith('/')) throw new Error(`markComplete: "${partitionUri}" is not a partition prefix s3://<bucket>/<prefix>/`);
    const job = jobOwningKey(loadJobs(), location.key);
    if (!job) throw new Error(`markComplete: no job in config/jobs.json has an inputPrefix above "${location.key}"`);
    if (job.s3Trigger.mode !== 'marker') throw new Error(`markComplete: ${job.name} is in per-object mode; each upload is its own run`);
    return this.putObject(location.bucket, `${location.key}${job.s3Trigger.marker}`, Buffer.alloc(0));
  }

  private async putObject(bucket: string, key: string, body: Buffer): Promise<Record<string, unknown>> {
    const put = await this.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    return objectCreatedEvent(
      { bucket, key, size: body.length, etag: put.ETag ?? '', versionId: put.VersionId },
      { region: this.config.region, accountId: this.config.accountId },
    );
  }
}
