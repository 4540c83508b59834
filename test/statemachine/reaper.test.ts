/**
 * The reaper on a staged emulator state: clusters made directly in the emulator (as a crashed or stopped
 * run would leave them), executions the local Step Functions endpoint reports, and reap-clusters, the
 * deployed handler, invoked as its schedule invokes it. It must terminate exactly the orphans.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeClusterCommand, EMRClient, RunJobFlowCommand, type RunJobFlowCommandInput } from '@aws-sdk/client-emr';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { clusterName, poolClusterName } from '../../lib/contract';
import { startLocalRuntime, type LocalRuntime } from '../../local/runner';

jest.setTimeout(30_000);
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

let runtime: LocalRuntime;
const emr = () => new EMRClient({});

async function stage(name: string, tags: Record<string, string>): Promise<string> {
  const request: RunJobFlowCommandInput = {
    Name: name,
    ReleaseLabel: 'emr-7.10.0',
    Applications: [{ Name: 'Spark' }],
    Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
    Instances: {
      KeepJobFlowAliveWhenNoSteps: true,
      InstanceFleets: [
        { Name: 'Primary', InstanceFleetType: 'MASTER', TargetOnDemandCapacity: 1, InstanceTypeConfigs: [{ InstanceType: 'm5.xlarge' }] },
        { Name: 'Core', InstanceFleetType: 'CORE', TargetOnDemandCapacity: 1, InstanceTypeConfigs: [{ InstanceType: 'r5.4xlarge' }] },
      ],
    },
  };
  return (await emr().send(new RunJobFlowCommand(request))).JobFlowId!;
}

const state = async (id: string) => (await emr().send(new DescribeClusterCommand({ ClusterId: id }))).Cluster!.Status!.State!;
/** This stage's tags (the local runtime runs as stage `local`); cluster names are the ones the app gives. */
const app = { 'emrflow:app': 'emrflow', 'emrflow:stage': 'local' };
const dedicatedName = (runId: string) => clusterName(runId, 1);
const poolName = (launchId: string) => poolClusterName('shared', launchId);
const executionArn = (name: string) => `arn:aws:states:${runtime.config.region}:${runtime.config.accountId}:execution:emrflow-local-run-job:${name}`;

beforeAll(async () => {
  runtime = await startLocalRuntime({ timeScale: 0.001, simulateSteps: true });
});
afterAll(() => runtime.stop());

describe('reap-clusters on a staged emulator state', () => {
  it('terminates exactly the orphans, after a dry run that changes nothing', async () => {
    // Prepare
    const now = Date.now();
    runtime.executionStatuses.record({ executionArn: executionArn('live'), stateMachineArn: 'x', name: 'live', status: 'RUNNING', startDate: now });
    runtime.executionStatuses.record({
      executionArn: executionArn('done'),
      stateMachineArn: 'x',
      name: 'done',
      status: 'ABORTED',
      startDate: now,
      stopDate: now,
    });
    const clusters = {
      running: await stage(dedicatedName('of-a-running-execution'), { ...app, 'emrflow:pool': 'dedicated', 'emrflow:execution': 'live' }),
      aborted: await stage(dedicatedName('of-an-aborted-execution'), { ...app, 'emrflow:pool': 'dedicated', 'emrflow:execution': 'done' }),
      forgotten: await stage(dedicatedName('of-an-unknown-execution'), { ...app, 'emrflow:pool': 'dedicated', 'emrflow:execution': 'crashed' }),
      unowned: await stage(dedicatedName('without-an-execution-tag'), { ...app, 'emrflow:pool': 'dedicated' }),
      pool: await stage(poolName('with-a-live-lease'), { ...app, 'emrflow:pool': 'shared' }),
      poolOrphan: await stage(poolName('unknown-to-the-registry'), { ...app, 'emrflow:pool': 'shared' }),
      foreign: await stage('not this app', { team: 'other' }),
    };
    // The registry's item for the leased pool member (the job manager's shape: leases keyed by lease id).
    await DynamoDBDocumentClient.from(new DynamoDBClient({})).send(
      new PutCommand({
        TableName: runtime.tables.ClusterRegistryTable,
        Item: {
          kind: 'cluster',
          pool: 'shared',
          clusterId: clusters.pool,
          state: 'RUNNING',
          configHash: 'h',
          capacityUnits: 32,
          maxJobs: 4,
          unitsInUse: 8,
          leaseCount: 1,
          leases: { 'live#1': { execution: 'live', units: 8, grantedAt: now, expiresAt: now + 600_000 } },
          launchedAt: now,
          version: 1,
        },
      }),
    );
    const orphans = [clusters.aborted, clusters.forgotten, clusters.unowned, clusters.poolOrphan].sort();

    // Act
    const dryRun: any = await runtime.invoke('reapClusters', { dryRun: true, graceSeconds: 0 });
    const afterDryRun = await Promise.all(Object.values(clusters).map(state));
    const real: any = await runtime.invoke('reapClusters', { graceSeconds: 0 });

    // Assess
    expect(dryRun.terminate.map((action: any) => action.clusterId).sort()).toEqual(orphans);
    expect(afterDryRun.every((s) => !s.startsWith('TERMINAT'))).toBe(true);
    expect(real.terminate.map((action: any) => action.clusterId).sort()).toEqual(orphans);
    expect(real.terminate.every((action: any) => action.reason.length > 0)).toBe(true);
    for (const id of orphans) expect(await state(id)).toMatch(/^TERMINAT/);
    for (const id of [clusters.running, clusters.pool, clusters.foreign]) expect(await state(id)).not.toMatch(/^TERMINAT/);
    expect(real.keep.map((action: any) => action.clusterId).sort()).toEqual([clusters.pool, clusters.running].sort());
  });

  it('keeps a new cluster within the default grace period (negative control of graceSeconds)', async () => {
    const fresh = await stage(dedicatedName('fresh-orphan'), { ...app, 'emrflow:pool': 'dedicated', 'emrflow:execution': 'crashed-2' });

    const plan: any = await runtime.invoke('reapClusters', { dryRun: true });

    expect(plan.keep.map((action: any) => action.clusterId)).toContain(fresh);
    expect(plan.terminate.map((action: any) => action.clusterId)).not.toContain(fresh);
  });
  it("finishes with a foreign untagged cluster and another stage's orphans in the account, terminating neither", async () => {
    // Prepare: a cluster of another app (no tags), and clusters of stage prod in the same account and region,
    // named as this app names them and orphans by every other rule (unknown execution, unknown pool cluster).
    const foreign = await stage('nightly etl of another team', {});
    const lookalike = await stage(poolName('foreign-1'), {});
    const prod = {
      dedicated: await stage(dedicatedName('prod-run'), { ...app, 'emrflow:stage': 'prod', 'emrflow:pool': 'dedicated', 'emrflow:execution': 'prod-crashed' }),
      pool: await stage(poolName('prod-1'), { ...app, 'emrflow:stage': 'prod', 'emrflow:pool': 'shared' }),
    };
    // And one of this stage's, so the run is shown to reap at all.
    const own = await stage(dedicatedName('own-orphan'), { ...app, 'emrflow:pool': 'dedicated', 'emrflow:execution': 'crashed-3' });

    // Act
    const plan: any = await runtime.invoke('reapClusters', { graceSeconds: 0 });

    // Assess
    const judged = [...plan.terminate, ...plan.keep].map((action: any) => action.clusterId);
    for (const id of [foreign, lookalike, prod.dedicated, prod.pool]) {
      expect({ id, judged: judged.includes(id), state: await state(id) }).toEqual({ id, judged: false, state: expect.not.stringMatching(/^TERMINAT/) });
    }
    expect(plan.terminate.map((action: any) => action.clusterId)).toContain(own);
    expect(await state(own)).toMatch(/^TERMINAT/);
  });
});
