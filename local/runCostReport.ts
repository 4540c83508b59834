/**
 * The cost and queue wait of a run, as the run summary prints them: what RecordRun wrote into $.record
 * (lib/domain/runCost.ts) — the same numbers the dashboard's RunCostUsd and QueueWaitSeconds show. On the
 * local runtime the instances' lifetimes are emulated (compressed) time, so the dollars are small.
 */
import type { RunRecord } from '../lib/domain/types';

const usd = (value: number) => `$${value.toFixed(value < 1 ? 4 : 2)}`;

/** `timeScale`: real seconds per emulated second, to show what the held capacity would cost in emulated time. */
export function formatRunCost(
  record: Pick<RunRecord, 'costUsd' | 'cost' | 'queueWaitSeconds' | 'placementMode' | 'pool'> | undefined,
  timeScale = 1,
): string[] {
  if (!record) return [];
  const lines: string[] = [];
  const jobRun = record.cost?.serverless;
  const where =
    record.placementMode === 'pool'
      ? `pool ${record.pool}`
      : record.placementMode === 'dedicated'
        ? 'dedicated cluster'
        : record.placementMode === 'serverless'
          ? `EMR Serverless${jobRun ? `, application ${jobRun.applicationId}, job run ${jobRun.jobRunId}` : ''}`
          : 'no placement';
  lines.push(`  placement: ${where}${record.queueWaitSeconds === null ? '' : `, queue wait ${record.queueWaitSeconds} s`}`);
  const { cost } = record;
  if (!cost) {
    lines.push('  cost: unknown (the instances could not be read; see the record-run log)');
    return lines;
  }
  const compute = cost.clusters.reduce((sum, cluster) => sum + cluster.usd, 0) + (cost.pool?.usd ?? 0) + (cost.serverless?.usd ?? 0);
  const emulated =
    timeScale === 1 ? '' : ` (capacity held ${usd(compute)} in real seconds; about ${usd(compute / timeScale)} at emulated time, EMULATED clock ×${timeScale})`;
  lines.push(`  cost: ${usd(cost.totalUsd)}${emulated}`);
  for (const cluster of cost.clusters) {
    const part = (label: string, m: { instances: number; instanceHours: number; usd: number }) =>
      `${label} ${m.instances} instance(s) ${m.instanceHours.toFixed(3)} h ${usd(m.usd)}`;
    const unpriced = cluster.unpricedTypes.length ? `; no price for ${cluster.unpricedTypes.join(', ')}` : '';
    lines.push(`    cluster ${cluster.clusterId}: ${part('On-Demand', cluster.onDemand)}, ${part('Spot', cluster.spot)}${unpriced}`);
  }
  if (cost.pool) {
    lines.push(
      `    pool ${cost.pool.pool} lease on ${cost.pool.clusterId}: ${cost.pool.units} unit(s) × ${cost.pool.seconds} s at ${usd(cost.pool.unitHourlyUsd)}/unit-hour = ${usd(cost.pool.usd)}`,
    );
  }
  if (cost.serverless) {
    const { billed } = cost.serverless;
    lines.push(
      `    job run ${cost.serverless.jobRunId} billed ${billed.vCPUHour.toFixed(4)} vCPU-h, ${billed.memoryGBHour.toFixed(4)} GB-h memory, ${billed.storageGBHour.toFixed(4)} GB-h storage = ${usd(cost.serverless.usd)}`,
    );
  }
  const o = cost.orchestration;
  lines.push(
    `    orchestration (estimated from the path): ~${o.transitionsEstimate} transitions, ~${o.lambdaGbSecondsEstimate.toFixed(1)} Lambda GB-s = ${usd(o.usd)}`,
  );
  return lines;
}
