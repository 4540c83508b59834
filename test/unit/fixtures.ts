import { loadJobs } from '../../lib/config/jobs';
import { loadPools } from '../../lib/config/pools';
import { loadPrices } from '../../lib/config/prices';
import { loadRules } from '../../lib/config/rules';
import type { PlacementConfig } from '../../lib/domain/placement';
import type { JobDefinition, JobRequest, Sizing } from '../../lib/domain/types';

export const RAW = 'emrflow-raw';
export const ARTIFACTS = 'emrflow-artifacts';
export const GiB = 1024 ** 3;

export function job(overrides: Partial<JobDefinition> = {}): JobDefinition {
  return {
    name: 'denormalize-events',
    description: 'test job',
    entryPoint: 'spark/denormalize.py',
    args: [],
    inputPrefix: 'events/',
    outputPrefix: 'denormalized/events/',
    catalog: { database: 'emrflow_raw', table: 'events', crawler: 'emrflow-raw-events' },
    slaMinutes: 60,
    priority: 'normal',
    releaseLabel: 'emr-7.10.0',
    maxAttempts: 3,
    s3Trigger: { mode: 'marker', marker: '_SUCCESS' },
    ...overrides,
  };
}

export function request(overrides: Partial<JobRequest> = {}): JobRequest {
  const j = overrides.job ?? job();
  return {
    runId: 'denormalize-events-2026-11-26',
    trigger: 'console',
    runDate: '2026-11-26',
    job: j,
    input: { bucket: RAW, key: `${j.inputPrefix}dt=2026-11-26/`, uri: `s3://${RAW}/${j.inputPrefix}dt=2026-11-26/` },
    output: { bucket: ARTIFACTS, key: j.outputPrefix, uri: `s3://${ARTIFACTS}/${j.outputPrefix}` },
    claimExpiresAt: 1_800_000_000,
    crawl: { required: false, crawler: 'emrflow-raw-events', reason: 'registered' },
    ...overrides,
  };
}

export function sizing(overrides: Partial<Sizing> = {}): Sizing {
  return {
    inputBytes: 50 * GiB,
    bytesSource: 'glue',
    historyRuns: 0,
    throughputMiBpsPerUnit: 24,
    capacityUnits: 16,
    predictedMinutes: 12,
    stepTimeoutSeconds: 2160,
    spark: { executorMemoryGiB: 22, executorCores: 4, executorInstances: 15, shufflePartitions: 267 },
    stepArgs: ['spark-submit'],
    ...overrides,
  };
}

/** The shipped configuration, as PlaceJob loads it. */
export function shippedPlacementConfig(): PlacementConfig {
  const prices = loadPrices();
  const pools = loadPools(prices);
  return { rules: loadRules(), template: pools.dedicated, prices, pools: pools.pools, stage: 'test' };
}

export { loadJobs };
