/**
 * A grant on a pool cluster that has just ended (issue 21), on the local runtime: the real handlers, run-job,
 * DynamoDB and the EMR emulator. A first job leaves a pool cluster WAITING; the cluster is then terminated and
 * the registry is given back its item as it was while the cluster waited, as when a Lambda's registry write
 * lost the race with the cluster's idle timeout. The next job is granted on that cluster; the dispatcher's
 * AddJobFlowSteps is refused (ValidationException: the job flow is terminated), so the job goes back to the
 * queue without spending an attempt, the registry marks the cluster ended, and the job runs on a new cluster.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EMRClient, TerminateJobFlowsCommand } from '@aws-sdk/client-emr';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { loadPools } from '../../lib/config/pools';
import { loadPrices } from '../../lib/config/prices';
import { type LocalRuntime, startLocalRuntime } from '../../local/runner';

jest.setTimeout(300_000);
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
// The subject is a grant on a pool cluster: small jobs stay on the pool (local/runner/poolRules.ts), or a cold pool
// would send them to EMR Serverless (config/rules.json small-jobs-to-serverless-when-the-pool-must-grow).
jest.mock('../../config/rules.json', () =>
  jest.requireActual('../../local/runner/poolRules').smallJobsStayOnThePoolFile(jest.requireActual('../../config/rules.json')),
);

describe('a job granted on a pool cluster that has just ended', () => {
  let runtime: LocalRuntime;
  let scratch: string;
  afterAll(async () => {
    await runtime?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('goes back to the queue without spending an attempt, runs on another cluster, and the registry marks the ended one', async () => {
    // Prepare: one job leaves a pool cluster WAITING; keep its registry item as it is now.
    runtime = await startLocalRuntime({ timeScale: 0, simulateSteps: true });
    scratch = mkdtempSync(join(tmpdir(), 'emrflow-ended-'));
    const file = join(scratch, 'part.json');
    writeFileSync(file, '{"event_time":"2026-11-26T10:00:00Z"}\n');
    const input = `s3://${runtime.buckets.RawBucket}/loads/ended/part.json`;
    await runtime.upload(file, input);
    const first = await runtime.run({ job: 'denormalize-events', runId: 'ended-1', input });
    const [ended] = first.timeline.filter((entry) => entry.state === 'RunPooledStep').map((entry) => entry.clusterId as string);
    const dynamo = DynamoDBDocumentClient.from(new DynamoDBClient({ region: runtime.config.region }));
    const key = { pool: loadPools(loadPrices()).pools[0].name, clusterId: ended };
    const table = runtime.tables.ClusterRegistryTable;
    const registered = async () => (await dynamo.send(new GetCommand({ TableName: table, Key: key, ConsistentRead: true }))).Item;
    const waiting = await registered();
    expect(waiting?.state).toBe('WAITING');

    // The cluster ends; the registry still lists it as it was.
    await new EMRClient({ region: runtime.config.region }).send(new TerminateJobFlowsCommand({ JobFlowIds: [ended] }));
    // Once the registry has heard of the end (its event handled), it gets the stale item back.
    for (let item = await registered(); item?.state === 'WAITING'; item = await registered()) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await dynamo.send(new PutCommand({ TableName: table, Item: waiting }));
    const callsBefore = runtime.stats().calls.EMR.AddJobFlowSteps ?? 0;

    // Act
    const second = await runtime.run({ job: 'denormalize-events', runId: 'ended-2', input });

    // Assess: one attempt, on a cluster other than the ended one, which held none of its steps; the
    // dispatcher did try the ended cluster (a refused AddJobFlowSteps before the one that ran the job).
    const clusters = second.timeline.filter((entry) => entry.state === 'RunPooledStep').map((entry) => entry.clusterId);
    expect(second.status).toBe('SUCCEEDED');
    expect(second.attempts).toBe(1);
    expect(clusters).toHaveLength(1);
    expect(clusters[0]).not.toBe(ended);
    expect(runtime.stats().steps.filter((step) => step.clusterId === ended)).toHaveLength(1);
    expect((runtime.stats().calls.EMR.AddJobFlowSteps ?? 0) - callsBefore).toBeGreaterThanOrEqual(2);
    const after = await registered();
    expect(after === undefined || after.state === 'TERMINATED').toBe(true);
  });
});
