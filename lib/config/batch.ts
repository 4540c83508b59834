/**
 * config/batch.json: how run-batch fans a manifest out. `maxConcurrency` caps the run-job executions the
 * Distributed Map keeps open at once (the job manager still admits them by priority); a failed job is
 * tolerated up to `toleratedFailurePercentage` of the items before the batch itself fails. Manifests are read
 * from the artifacts bucket under `manifestPrefix`; each batch writes its items, the Map's results and its
 * summary under `resultsPrefix<batchId>/`.
 */
import type * as z from 'zod';
import batchJson from '../../config/batch.json';
import { between, matching, parseConfig, strictObject } from '../schema';

export const BATCH_FILE = 'config/batch.json';

/** Step Functions allows a Distributed Map at most 10,000 parallel child executions. */
export const MAX_BATCH_CONCURRENCY = 10_000;

const PREFIX = matching(/^([A-Za-z0-9!_.*'()-]+\/)+$/, 'must be an S3 key prefix ending in "/", such as "batches/"');

export const BatchSettingsSchema = strictObject({
  maxConcurrency: between(1, MAX_BATCH_CONCURRENCY, { integer: true }),
  toleratedFailurePercentage: between(0, 100),
  manifestPrefix: PREFIX,
  resultsPrefix: PREFIX,
});
export type BatchSettings = z.infer<typeof BatchSettingsSchema>;

export function parseBatchSettings(raw: unknown): BatchSettings {
  return parseConfig(BATCH_FILE, BatchSettingsSchema, raw);
}

let cached: BatchSettings | undefined;

export function loadBatchSettings(): BatchSettings {
  cached ??= parseBatchSettings(batchJson);
  return cached;
}
