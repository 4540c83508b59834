/**
 * Cost of a dedicated run on a scripted emulator timeline: the emulator's clock is set by the script, so the
 * instances' CreationDateTime / EndDateTime are the script's times and the expected bill is known in
 * advance. RecordRun (the real handler, reading ListInstances from the emulator) must record the sum over
 * the instances of lifetime × price of their market, within a cent.
 */
import {
  AddJobFlowStepsCommand,
  DescribeClusterCommand,
  DescribeStepCommand,
  EMRClient,
  ListInstancesCommand,
  RunJobFlowCommand,
  TerminateJobFlowsCommand,
} from '@aws-sdk/client-emr';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { lambdaContext } from '../../unit/functions/env';
import { handler } from '../../../functions/record-run/handler';
import { resetClients } from '../../../lib/aws/clients';
import { loadPrices } from '../../../lib/config/prices';
import { parseFaults, type Emulator } from '../../../local/emulator';
import { request, sizing } from '../../unit/fixtures';
import type { Placement } from '../../../lib/domain/types';
import { startTestEmulator, waitFor } from './helpers';

const T0 = Date.UTC(2026, 11, 1, 10, 0) / 1000;
const MINUTE = 60;
const SCRIPT = { created: T0, spotReclaimed: T0 + 40 * MINUTE, terminated: T0 + 180 * MINUTE };

const dynamo = mockClient(DynamoDBDocumentClient);
let emu: Emulator;
let emr: EMRClient;
let scripted = SCRIPT.created;

beforeAll(async () => {
  ({ emu } = await startTestEmulator());
  // The script owns the emulator's clock: every timestamp EMR reports is the script's current time.
  emu.clock.nowSeconds = () => scripted;
  resetClients();
  emr = new EMRClient({ maxAttempts: 1 });
  dynamo.on(PutCommand).resolves({});
});
afterAll(async () => {
  emr.destroy();
  dynamo.restore();
  await emu.stop();
});

const clusterState = (id: string) => emr.send(new DescribeClusterCommand({ ClusterId: id })).then((r) => r.Cluster!.Status!.State!);

it("records a dedicated run's cost as Σ instance lifetime × market price, within a cent", async () => {
  const spec = { Name: 'cost run', InstanceTypeConfigs: [{ InstanceType: 'r5.4xlarge' }] };
  const spot = {
    SpotSpecification: { TimeoutDurationMinutes: 5, TimeoutAction: 'SWITCH_TO_ON_DEMAND' as const, AllocationStrategy: 'price-capacity-optimized' as const },
  };
  emu.setFaults(parseFaults({ emr: { spotInterruption: [{ attempt: 1, phase: 'STEP_RUNNING' }] } }, 'script'));

  // 10:00 the cluster starts: 1 primary and 2 core On-Demand, 2 task Spot.
  const { JobFlowId } = await emr.send(
    new RunJobFlowCommand({
      Name: 'emrflow cost script',
      ReleaseLabel: 'emr-7.10.0',
      LogUri: 's3://logs/emr/',
      Tags: [{ Key: 'emrflow:attempt', Value: '1' }],
      Instances: {
        KeepJobFlowAliveWhenNoSteps: true,
        InstanceFleets: [
          { ...spec, InstanceFleetType: 'MASTER', TargetOnDemandCapacity: 1 },
          { ...spec, InstanceFleetType: 'CORE', TargetOnDemandCapacity: 2, TargetSpotCapacity: 0 },
          { ...spec, InstanceFleetType: 'TASK', TargetOnDemandCapacity: 0, TargetSpotCapacity: 2, LaunchSpecifications: spot },
        ],
      },
    }),
  );
  const id = JobFlowId!;
  await waitFor(
    () => clusterState(id),
    (state) => state === 'WAITING',
  );

  // 10:40 EC2 reclaims the Spot task nodes during the step; the fleet re-provisions 2 Spot nodes at once.
  scripted = SCRIPT.spotReclaimed;
  const { StepIds } = await emr.send(
    new AddJobFlowStepsCommand({
      JobFlowId: id,
      Steps: [
        {
          Name: `${request().job.name} ${request().runId} attempt 1`,
          ActionOnFailure: 'CONTINUE',
          HadoopJarStep: { Jar: 'command-runner.jar', Args: ['spark-submit', 's3://artifacts/spark/denormalize.py'] },
        },
      ],
    }),
  );
  await waitFor(
    () => emr.send(new DescribeStepCommand({ ClusterId: id, StepId: StepIds![0] })).then((r) => r.Step!.Status!.State!),
    (state) => state === 'FAILED',
  );

  // 13:00 the cluster is terminated.
  scripted = SCRIPT.terminated;
  await emr.send(new TerminateJobFlowsCommand({ JobFlowIds: [id] }));
  await waitFor(
    () => clusterState(id),
    (state) => state === 'TERMINATED',
  );

  // The emulator reported the script's timeline.
  const instances = (await emr.send(new ListInstancesCommand({ ClusterId: id }))).Instances!;
  const lifetimes = instances.map((i) => [i.Market, i.Status!.Timeline!.CreationDateTime!.getTime() / 1000, i.Status!.Timeline!.EndDateTime!.getTime() / 1000]);
  expect(lifetimes.sort()).toEqual(
    [
      ['ON_DEMAND', SCRIPT.created, SCRIPT.terminated],
      ['ON_DEMAND', SCRIPT.created, SCRIPT.terminated],
      ['ON_DEMAND', SCRIPT.created, SCRIPT.terminated],
      ['SPOT', SCRIPT.created, SCRIPT.spotReclaimed],
      ['SPOT', SCRIPT.created, SCRIPT.spotReclaimed],
      ['SPOT', SCRIPT.spotReclaimed, SCRIPT.terminated],
      ['SPOT', SCRIPT.spotReclaimed, SCRIPT.terminated],
    ].sort(),
  );

  // The bill, from the script and config/prices.json alone: 3 On-Demand nodes × 3 h, 2 Spot × 40 min, 2 Spot × 140 min.
  const r5 = loadPrices().instanceTypes['r5.4xlarge'];
  const onDemandHourly = r5.ec2Hourly + r5.emrHourly;
  const spotHourly = r5.ec2Hourly * (1 - r5.spotDiscount!) + r5.emrHourly;
  const expected = 3 * 3 * onDemandHourly + 2 * (40 / 60) * spotHourly + 2 * (140 / 60) * spotHourly;

  const placement = {
    mode: 'dedicated',
    cluster: { ClusterId: id },
    pool: null,
    slot: null,
    onDemandShare: 0.6,
    reasons: [],
    spec: null,
    hourlyCostUsd: 4,
    onDemandHourlyCostUsd: 6.3,
  } as Placement;
  // The handler's EMF metrics go to stdout; the metrics are another test's subject.
  const stdout = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
  const record = await handler(
    {
      run: { request: request(), attempt: 1, sizing: sizing(), placement },
      executionName: 'exec-cost',
      startedAt: new Date(SCRIPT.created * 1000).toISOString(),
      outcome: 'succeeded',
    },
    lambdaContext,
  ).finally(() => stdout.mockRestore());

  const cluster = record.cost!.clusters[0];
  expect(cluster).toMatchObject({ clusterId: id, onDemand: { instances: 3, instanceHours: 9 }, spot: { instances: 4 }, unpricedTypes: [] });
  expect(Math.abs(cluster.usd - expected)).toBeLessThan(0.01);
  expect(Math.abs(record.costUsd! - record.cost!.orchestration.usd - expected)).toBeLessThan(0.01);
  // Negative control: a bill that priced the Spot hours On-Demand would be off by dollars, not cents.
  const allOnDemand = 3 * 3 * onDemandHourly + 2 * 3 * onDemandHourly;
  expect(Math.abs(cluster.usd - allOnDemand)).toBeGreaterThan(1);
  expect(dynamo).toHaveReceivedCommandWith(PutCommand, { Item: expect.objectContaining({ costUsd: record.costUsd }) });
});
