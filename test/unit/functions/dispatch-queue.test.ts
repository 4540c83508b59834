import { lambdaContext } from './env';
import { DescribeClusterCommand, EMRClient, PutManagedScalingPolicyCommand } from '@aws-sdk/client-emr';
import { DynamoDBDocumentClient, GetCommand, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { handler } from '../../../functions/dispatch-queue/handler';
import { resetClients } from '../../../lib/aws/clients';
import { forgetDayShape } from '../../../lib/aws/dayShape';
import { loadPools } from '../../../lib/config/pools';
import { loadPrices } from '../../../lib/config/prices';
import { poolConfigHash } from '../../../lib/domain/pools';

process.env.ADMISSION_QUEUE_TABLE = 'emrflow-admission-queue';
process.env.RUNS_TABLE = 'emrflow-runs';
const emr = mockClient(EMRClient);
const dynamo = mockClient(DynamoDBDocumentClient);
const shared = loadPools(loadPrices()).pools.find((pool) => pool.name === 'shared')!;
const lease = (units: number) => ({ execution: `exec-${units}`, units, grantedAt: Date.now() - 60_000, expiresAt: Date.now() + 600_000 });
const cluster = (clusterId: string, leases: ReturnType<typeof lease>[]) => ({
  pool: 'shared',
  clusterId,
  kind: 'cluster',
  state: 'RUNNING',
  configHash: poolConfigHash(shared),
  capacityUnits: shared.capacityUnits,
  maxJobs: shared.maxJobsPerCluster,
  unitsInUse: leases.reduce((sum, l) => sum + l.units, 0),
  leases: Object.fromEntries(leases.map((l) => [`${l.execution}#1`, l])),
  launchedAt: Date.now() - 3_600_000,
  version: 3,
});

beforeEach(() => {
  emr.reset();
  dynamo.reset();
  resetClients();
  emr.on(DescribeClusterCommand).resolves({ Cluster: { Status: { State: 'RUNNING' } } as never });
  dynamo.on(GetCommand).resolves({});
  dynamo.on(QueryCommand, { TableName: 'emrflow-cluster-registry' }).resolves({ Items: [cluster('j-A', [lease(8), lease(4)]), cluster('j-B', [lease(16)])] });
  dynamo.on(QueryCommand, { TableName: 'emrflow-admission-queue' }).resolves({ Items: [] });
});

it("reports each pool's leased units as UnitsInUse (EMF) on the scheduled sweep only", async () => {
  const stdout = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
  let written: string[];
  try {
    await handler({ 'detail-type': 'Scheduled Event' }, lambdaContext);
    await handler({ pool: 'shared' }, lambdaContext);
  } finally {
    written = stdout.mock.calls.map(([chunk]) => String(chunk).trim());
    stdout.mockRestore();
  }
  const documents = written
    .filter((line) => line.includes('"UnitsInUse"'))
    .map((line) => JSON.parse(line))
    .filter((doc) => doc.pool === 'shared');

  // Once (the schedule), not for the direct dispatch: 8 + 4 on j-A and 16 on j-B.
  expect(documents.map(({ service, pool, UnitsInUse }) => ({ service, pool, UnitsInUse }))).toEqual([
    { service: 'dispatch-queue', pool: 'shared', UnitsInUse: 28 },
  ]);
  expect(documents[0]._aws.CloudWatchMetrics[0].Dimensions).toEqual([['service', 'pool']]);
});

describe('pre-scaling on the scheduled sweep', () => {
  const DAY = Date.UTC(2026, 0, 5);
  /** Three days of 60 two-unit runs in the first 3 minutes of every hour (the runs table's pooled records). */
  const burstRuns = (pool: string) =>
    Array.from({ length: 3 * 24 * 60 }, (_, i) => {
      const started = DAY + Math.floor(i / 60) * 3_600_000 + (i % 3) * 60_000;
      return { job: 'hourly', pool, capacityUnits: 2, durationSeconds: 150, stepSeconds: 150, finishedAt: new Date(started + 150_000).toISOString() };
    });
  const sweepAt = async (hour: number, minute: number, runs: unknown[]) => {
    forgetDayShape();
    dynamo.on(ScanCommand).resolves({ Items: runs as Record<string, unknown>[] });
    emr.on(PutManagedScalingPolicyCommand).resolves({});
    const now = jest.spyOn(Date, 'now').mockReturnValue(DAY + 7 * 86_400_000 + (hour * 60 + minute) * 60_000);
    try {
      await handler({ 'detail-type': 'Scheduled Event' }, lambdaContext);
    } finally {
      now.mockRestore();
    }
    return emr
      .commandCalls(PutManagedScalingPolicyCommand)
      .map((call) => [call.args[0].input.ClusterId, call.args[0].input.ManagedScalingPolicy?.ComputeLimits?.MinimumCapacityUnits]);
  };

  it("raises each running pool cluster's managed-scaling minimum shortly before the hourly burst the runs table shows", async () => {
    // Act
    const puts = await sweepAt(10, 56, burstRuns('shared'));

    // Assess
    expect(puts.map(([clusterId]) => clusterId)).toEqual(['j-A', 'j-B']);
    for (const [, minimum] of puts) expect(minimum).toBeGreaterThan(shared.managedScaling.minimumUnits);
  });

  it('leaves the minimum alone mid-hour, and when the history is of another pool (negative controls)', async () => {
    expect(await sweepAt(10, 30, burstRuns('shared'))).toEqual([]);
    expect(await sweepAt(10, 56, burstRuns('elsewhere'))).toEqual([]);
  });
});
