import {
  AddJobFlowStepsCommand,
  AddTagsCommand,
  CancelStepsCommand,
  DescribeClusterCommand,
  DescribeStepCommand,
  EMRClient,
  GetAutoTerminationPolicyCommand,
  ListClustersCommand,
  ListInstanceFleetsCommand,
  ListInstancesCommand,
  ListStepsCommand,
  RunJobFlowCommand,
  TerminateJobFlowsCommand,
  type RunJobFlowCommandInput,
  type StepConfig,
} from '@aws-sdk/client-emr';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { startEmulator, type Emulator, type EmulatorEvent } from '../../../local/emulator';
import { startTestEmulator, waitFor } from './helpers';

let emu: Emulator;
let events: EmulatorEvent[];
let emr: EMRClient;

beforeAll(async () => {
  ({ emu, events } = await startTestEmulator());
  emr = new EMRClient({ maxAttempts: 1 });
});
afterAll(async () => {
  emr.destroy();
  await emu.stop();
});

function clusterRequest(overrides: Partial<RunJobFlowCommandInput> = {}): RunJobFlowCommandInput {
  return {
    Name: 'emrflow test',
    ReleaseLabel: 'emr-7.10.0',
    LogUri: 's3://logs/emr/',
    Applications: [{ Name: 'Spark' }],
    StepConcurrencyLevel: 2,
    AutoTerminationPolicy: { IdleTimeout: 3600 },
    Tags: [
      { Key: 'emrflow:job', Value: 'denormalize-events' },
      { Key: 'emrflow:attempt', Value: '1' },
    ],
    Instances: {
      KeepJobFlowAliveWhenNoSteps: true,
      Ec2SubnetIds: ['subnet-1'],
      InstanceFleets: [
        { Name: 'Primary', InstanceFleetType: 'MASTER', TargetOnDemandCapacity: 1, InstanceTypeConfigs: [{ InstanceType: 'm5.xlarge' }] },
        {
          Name: 'Core',
          InstanceFleetType: 'CORE',
          TargetOnDemandCapacity: 2,
          TargetSpotCapacity: 0,
          InstanceTypeConfigs: [{ InstanceType: 'r5.4xlarge', WeightedCapacity: 1 }],
        },
        {
          Name: 'Task',
          InstanceFleetType: 'TASK',
          TargetOnDemandCapacity: 0,
          TargetSpotCapacity: 4,
          InstanceTypeConfigs: [
            { InstanceType: 'r5.4xlarge', WeightedCapacity: 2 },
            { InstanceType: 'r4.4xlarge', WeightedCapacity: 2 },
          ],
          LaunchSpecifications: {
            SpotSpecification: { TimeoutDurationMinutes: 10, TimeoutAction: 'SWITCH_TO_ON_DEMAND', AllocationStrategy: 'price-capacity-optimized' },
            OnDemandSpecification: { AllocationStrategy: 'lowest-price' },
          },
        },
      ],
    },
    ...overrides,
  };
}

const sparkStep = (name: string, overrides: Partial<StepConfig> = {}): StepConfig => ({
  Name: name,
  ActionOnFailure: 'CONTINUE',
  HadoopJarStep: { Jar: 'command-runner.jar', Args: ['spark-submit', '--deploy-mode', 'cluster', 's3://artifacts/spark/job.py'] },
  ...overrides,
});

async function createCluster(overrides: Partial<RunJobFlowCommandInput> = {}): Promise<string> {
  const { JobFlowId } = await emr.send(new RunJobFlowCommand(clusterRequest(overrides)));
  return JobFlowId!;
}

const describe_ = (id: string) => emr.send(new DescribeClusterCommand({ ClusterId: id })).then((r) => r.Cluster!);
const waitForState = (id: string, state: string) =>
  waitFor(
    () => describe_(id),
    (c) => c.Status!.State === state,
  );
const stepOf = (clusterId: string, stepId: string) => emr.send(new DescribeStepCommand({ ClusterId: clusterId, StepId: stepId })).then((r) => r.Step!);

describe('RunJobFlow and DescribeCluster', () => {
  it('creates a cluster with a real-looking id that goes STARTING → BOOTSTRAPPING → WAITING', async () => {
    const id = await createCluster();

    const first = await describe_(id);
    const ready = await waitForState(id, 'WAITING');

    expect(id).toMatch(/^j-[A-Z0-9]{13}$/);
    expect(first.Status!.State).toBe('STARTING');
    expect(events.filter((e) => e.id === id).map((e) => e.state)).toEqual(['STARTING', 'BOOTSTRAPPING', 'WAITING']);
    expect(ready.Status!.Timeline!.ReadyDateTime).toBeInstanceOf(Date);
    expect(ready).toMatchObject({
      Name: 'emrflow test',
      InstanceCollectionType: 'INSTANCE_FLEET',
      StepConcurrencyLevel: 2,
      ReleaseLabel: 'emr-7.10.0',
      LogUri: 's3://logs/emr/',
      AutoTerminate: false,
      Applications: [{ Name: 'Spark', Version: '3.5.5' }],
      Tags: expect.arrayContaining([{ Key: 'emrflow:attempt', Value: '1' }]),
    });
    expect(ready.ClusterArn).toContain(`cluster/${id}`);
  });

  it.each([
    ['Name', { Name: undefined }],
    ['StepConcurrencyLevel', { StepConcurrencyLevel: 257 }],
    ['AutoTerminationPolicy.IdleTimeout', { AutoTerminationPolicy: { IdleTimeout: 30 } }],
    ['Instances', { Instances: { KeepJobFlowAliveWhenNoSteps: true } }],
  ])('rejects a bad %s with a ValidationException naming it', async (field, overrides) => {
    const error = await emr.send(new RunJobFlowCommand(clusterRequest(overrides as Partial<RunJobFlowCommandInput>))).catch((e) => e);

    expect(error.name).toBe('ValidationException');
    expect(error.$metadata.httpStatusCode).toBe(400);
    expect(error.message).toContain(field);
  });

  it.each([
    ['TimeoutDurationMinutes', { TimeoutDurationMinutes: 4, TimeoutAction: 'SWITCH_TO_ON_DEMAND' }],
    ['TimeoutAction', { TimeoutDurationMinutes: 10, TimeoutAction: 'WAIT_FOREVER' }],
    ['AllocationStrategy', { TimeoutDurationMinutes: 10, TimeoutAction: 'SWITCH_TO_ON_DEMAND', AllocationStrategy: 'cheapest' }],
  ])('rejects a Spot specification with a bad %s', async (field, spotSpecification) => {
    const request = clusterRequest();
    request.Instances!.InstanceFleets![2].LaunchSpecifications = { SpotSpecification: spotSpecification as never };

    const error = await emr.send(new RunJobFlowCommand(request)).catch((e) => e);

    expect(error.name).toBe('ValidationException');
    expect(error.message).toContain(`Instances.InstanceFleets[2].LaunchSpecifications.SpotSpecification.${field}`);
  });

  it.each([
    ['a negative', -1],
    ['a fractional', 1.5],
  ])('rejects %s fleet capacity', async (_, capacity) => {
    const request = clusterRequest();
    request.Instances!.InstanceFleets![1].TargetSpotCapacity = capacity;

    const error = await emr.send(new RunJobFlowCommand(request)).catch((e) => e);

    expect(error.name).toBe('ValidationException');
    expect(error.message).toContain('Instances.InstanceFleets[1].TargetSpotCapacity');
  });

  it('answers InvalidRequestException for a cluster id it does not know', async () => {
    const error = await describe_('j-NOSUCHCLUSTER1').catch((e) => e);

    expect(error.name).toBe('InvalidRequestException');
    expect(error.message).toContain('j-NOSUCHCLUSTER1');
  });

  it('answers UnknownOperationException for an operation it does not serve', async () => {
    const response = await fetch(emu.endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'ElasticMapReduce.ListStudios' },
      body: '{}',
    });

    expect(response.status).toBe(400);
    expect(response.headers.get('x-amzn-errortype')).toBe('UnknownOperationException');
    expect(((await response.json()) as { __type: string }).__type).toBe('UnknownOperationException');
  });
});

describe('instances and fleets', () => {
  it('provisions each fleet by its allocation strategy, one instance per weight, with the asked market', async () => {
    const id = await createCluster();
    await waitForState(id, 'WAITING');

    const { InstanceFleets } = await emr.send(new ListInstanceFleetsCommand({ ClusterId: id }));
    const task = InstanceFleets!.find((f) => f.InstanceFleetType === 'TASK')!;
    const taskInstances = await emr.send(new ListInstancesCommand({ ClusterId: id, InstanceFleetId: task.Id }));
    const all = await emr.send(new ListInstancesCommand({ ClusterId: id }));

    expect(task).toMatchObject({
      Id: expect.stringMatching(/^if-/),
      TargetSpotCapacity: 4,
      ProvisionedSpotCapacity: 4,
      ProvisionedOnDemandCapacity: 0,
      Status: { State: 'RUNNING' },
    });
    expect(taskInstances.Instances).toHaveLength(2);
    expect(taskInstances.Instances!.every((i) => i.Market === 'SPOT' && i.InstanceType === 'r5.4xlarge')).toBe(true);
    expect(all.Instances).toHaveLength(1 + 2 + 2);
    expect(all.Instances!.every((i) => /^ci-/.test(i.Id!) && /^i-/.test(i.Ec2InstanceId!) && i.Status!.State === 'RUNNING')).toBe(true);
  });

  it('filters instances by state', async () => {
    const id = await createCluster();
    await waitForState(id, 'WAITING');

    const running = await emr.send(new ListInstancesCommand({ ClusterId: id, InstanceStates: ['RUNNING'] }));
    const terminated = await emr.send(new ListInstancesCommand({ ClusterId: id, InstanceStates: ['TERMINATED'] }));

    expect(running.Instances).toHaveLength(5);
    expect(terminated.Instances).toHaveLength(0);
  });
  it('builds a cluster from instance groups, with group ids on its instances and no fleets', async () => {
    const id = await createCluster({
      Instances: {
        KeepJobFlowAliveWhenNoSteps: true,
        InstanceGroups: [
          { InstanceRole: 'MASTER', InstanceType: 'm5.xlarge', InstanceCount: 1 },
          { InstanceRole: 'CORE', InstanceType: 'r5.2xlarge', InstanceCount: 2, Market: 'SPOT' },
        ],
      },
    });

    const cluster = await describe_(id);
    const instances = (await emr.send(new ListInstancesCommand({ ClusterId: id }))).Instances!;
    const fleets = await emr.send(new ListInstanceFleetsCommand({ ClusterId: id })).catch((e) => e);

    expect(cluster.InstanceCollectionType).toBe('INSTANCE_GROUP');
    expect(instances.map((i) => i.Market).sort()).toEqual(['ON_DEMAND', 'SPOT', 'SPOT']);
    expect(instances.every((i) => /^ig-/.test(i.InstanceGroupId!))).toBe(true);
    expect(fleets.name).toBe('InvalidRequestException');
  });
});

describe('steps', () => {
  it('runs at most StepConcurrencyLevel steps at once and completes them all, simulated', async () => {
    const id = await createCluster();
    await waitForState(id, 'WAITING');

    const { StepIds } = await emr.send(new AddJobFlowStepsCommand({ JobFlowId: id, Steps: [sparkStep('a'), sparkStep('b'), sparkStep('c')] }));
    await waitFor(
      () => stepOf(id, StepIds![2]),
      (s) => s.Status!.State === 'COMPLETED',
    );
    const steps = (await emr.send(new ListStepsCommand({ ClusterId: id }))).Steps!;
    let running = 0;
    let mostAtOnce = 0;
    for (const event of events.filter((e) => e.resource === 'step' && e.clusterId === id)) {
      if (event.state === 'RUNNING') running += 1;
      if (event.state === 'COMPLETED') running -= 1;
      mostAtOnce = Math.max(mostAtOnce, running);
    }
    const clusterStates = events.filter((e) => e.resource === 'cluster' && e.id === id).map((e) => e.state);

    expect(StepIds!.every((s) => /^s-[A-Z0-9]{13}$/.test(s))).toBe(true);
    expect(mostAtOnce).toBe(2);
    expect(clusterStates).toEqual(['STARTING', 'BOOTSTRAPPING', 'WAITING', 'RUNNING', 'WAITING']);
    expect(steps.map((s) => s.Name)).toEqual(['c', 'b', 'a']);
    expect(steps.every((s) => s.Status!.State === 'COMPLETED')).toBe(true);
    expect(
      emu
        .stats()
        .steps.filter((s) => s.clusterId === id)
        .map((s) => s.executor),
    ).toEqual(['simulated', 'simulated', 'simulated']);
  });

  it('filters ListSteps by state and by id', async () => {
    const id = await createCluster();
    const { StepIds } = await emr.send(new AddJobFlowStepsCommand({ JobFlowId: id, Steps: [sparkStep('first'), sparkStep('second')] }));

    const pending = await emr.send(new ListStepsCommand({ ClusterId: id, StepStates: ['PENDING'] }));
    const byId = await emr.send(new ListStepsCommand({ ClusterId: id, StepIds: [StepIds![0]] }));
    const completed = await emr.send(new ListStepsCommand({ ClusterId: id, StepStates: ['COMPLETED'] }));

    expect(pending.Steps!.map((s) => s.Name)).toEqual(['second', 'first']);
    expect(byId.Steps!.map((s) => s.Name)).toEqual(['first']);
    expect(completed.Steps).toEqual([]);
  });

  it('writes step logs where EMR puts them: <LogUri>/<cluster-id>/steps/<step-id>/', async () => {
    const id = await createCluster();
    const { StepIds } = await emr.send(new AddJobFlowStepsCommand({ JobFlowId: id, Steps: [sparkStep('logged')] }));
    await waitFor(
      () => stepOf(id, StepIds![0]),
      (s) => s.Status!.State === 'COMPLETED',
    );

    const stdout = path.join(emu.stateDir, 's3', 'logs', 'emr', id, 'steps', StepIds![0], 'stdout');

    expect(existsSync(stdout)).toBe(true);
    expect(readFileSync(stdout, 'utf8')).toContain('SIMULATED');
  });

  it.each(['CANCEL_AND_WAIT', 'TERMINATE_CLUSTER'])('rejects ActionOnFailure %s when StepConcurrencyLevel > 1', async (action) => {
    const id = await createCluster();

    const error = await emr.send(new AddJobFlowStepsCommand({ JobFlowId: id, Steps: [sparkStep('x', { ActionOnFailure: action as never })] })).catch((e) => e);

    expect(error.name).toBe('ValidationException');
    expect(error.message).toContain('ActionOnFailure');
  });

  it('refuses more than 256 pending and running steps', async () => {
    const id = await createCluster();
    const steps = Array.from({ length: 200 }, (_, i) => sparkStep(`s${i}`));
    await emr.send(new AddJobFlowStepsCommand({ JobFlowId: id, Steps: steps }));

    const error = await emr.send(new AddJobFlowStepsCommand({ JobFlowId: id, Steps: steps.slice(0, 57) })).catch((e) => e);

    expect(error.name).toBe('ValidationException');
    expect(error.message).toMatch(/Maximum number of active steps/);
  });

  it('cancels a running step', async () => {
    const id = await createCluster();
    await waitForState(id, 'WAITING');
    // On a WAITING cluster the step starts within AddJobFlowSteps itself.
    const { StepIds } = await emr.send(new AddJobFlowStepsCommand({ JobFlowId: id, Steps: [sparkStep('running')] }));

    const { CancelStepsInfoList } = await emr.send(new CancelStepsCommand({ ClusterId: id, StepIds, StepCancellationOption: 'TERMINATE_PROCESS' }));
    const step = await stepOf(id, StepIds![0]);

    expect(CancelStepsInfoList![0].Status).toBe('SUBMITTED');
    expect(events.filter((e) => e.id === StepIds![0]).map((e) => e.state)).toEqual(['PENDING', 'RUNNING', 'CANCELLED']);
    expect(step.Status!.Timeline!.EndDateTime).toBeInstanceOf(Date);
  });

  it('cancels a pending step', async () => {
    const id = await createCluster();
    const { StepIds } = await emr.send(new AddJobFlowStepsCommand({ JobFlowId: id, Steps: [sparkStep('to cancel')] }));

    const { CancelStepsInfoList } = await emr.send(new CancelStepsCommand({ ClusterId: id, StepIds }));
    const step = await stepOf(id, StepIds![0]);

    expect(CancelStepsInfoList).toEqual([{ StepId: StepIds![0], Status: 'SUBMITTED' }]);
    expect(step.Status!.State).toBe('CANCELLED');
  });

  it('terminates a cluster without KeepJobFlowAliveWhenNoSteps once its steps are done', async () => {
    const request = clusterRequest({ Steps: [sparkStep('only')] });
    request.Instances!.KeepJobFlowAliveWhenNoSteps = false;
    const id = await createCluster(request);

    const ended = await waitForState(id, 'TERMINATED');

    expect(ended.Status!.StateChangeReason!.Code).toBe('ALL_STEPS_COMPLETED');
    expect((await emr.send(new ListStepsCommand({ ClusterId: id }))).Steps![0].Status!.State).toBe('COMPLETED');
  });

  it('refuses steps on a terminated cluster', async () => {
    const id = await createCluster();
    await emr.send(new TerminateJobFlowsCommand({ JobFlowIds: [id] }));

    const error = await emr.send(new AddJobFlowStepsCommand({ JobFlowId: id, Steps: [sparkStep('late')] })).catch((e) => e);

    expect(error.name).toBe('ValidationException');
  });
});

describe('termination', () => {
  it('terminates on request: TERMINATING then TERMINATED with USER_REQUEST, instances and fleets ended', async () => {
    const id = await createCluster();
    await waitForState(id, 'WAITING');

    await emr.send(new TerminateJobFlowsCommand({ JobFlowIds: [id] }));
    const ended = await waitForState(id, 'TERMINATED');
    const instances = await emr.send(new ListInstancesCommand({ ClusterId: id }));
    const fleets = await emr.send(new ListInstanceFleetsCommand({ ClusterId: id }));

    expect(
      events
        .filter((e) => e.id === id)
        .map((e) => e.state)
        .slice(-2),
    ).toEqual(['TERMINATING', 'TERMINATED']);
    expect(ended.Status!.StateChangeReason!.Code).toBe('USER_REQUEST');
    expect(ended.Status!.Timeline!.EndDateTime).toBeInstanceOf(Date);
    expect(instances.Instances!.every((i) => i.Status!.State === 'TERMINATED')).toBe(true);
    expect(fleets.InstanceFleets!.every((f) => f.Status!.State === 'TERMINATED')).toBe(true);
  });

  it('terminates an idle cluster after its AutoTerminationPolicy IdleTimeout', async () => {
    const id = await createCluster({ AutoTerminationPolicy: { IdleTimeout: 60 } });

    const ended = await waitForState(id, 'TERMINATED');

    expect(ended.Status!.StateChangeReason).toMatchObject({ Code: 'ALL_STEPS_COMPLETED', Message: expect.stringContaining('idle') });
  });

  it('reports the auto-termination policy and takes tags', async () => {
    const id = await createCluster({ AutoTerminationPolicy: { IdleTimeout: 900 } });

    const policy = await emr.send(new GetAutoTerminationPolicyCommand({ ClusterId: id }));
    await emr.send(new AddTagsCommand({ ResourceId: id, Tags: [{ Key: 'emrflow:pool', Value: 'dedicated' }] }));

    expect(policy.AutoTerminationPolicy).toEqual({ IdleTimeout: 900 });
    expect((await describe_(id)).Tags).toContainEqual({ Key: 'emrflow:pool', Value: 'dedicated' });
  });
});

describe('ListClusters', () => {
  it('filters by state, lists newest first and pages with Marker', async () => {
    // Real time here, so the 51 clusters stay STARTING while they are listed.
    const slow = await startEmulator({ timeScale: 1, spark: false, seed: 3 });
    const client = new EMRClient({ endpoint: slow.endpoint, maxAttempts: 1 });
    const ids: string[] = [];
    for (let i = 0; i < 51; i += 1) ids.push((await client.send(new RunJobFlowCommand(clusterRequest({ Name: `page ${i}` })))).JobFlowId!);

    const first = await client.send(new ListClustersCommand({ ClusterStates: ['STARTING'] }));
    const second = await client.send(new ListClustersCommand({ ClusterStates: ['STARTING'], Marker: first.Marker }));
    const none = await client.send(new ListClustersCommand({ ClusterStates: ['WAITING'] }));
    client.destroy();
    await slow.stop();

    expect(first.Clusters).toHaveLength(50);
    expect(first.Marker).toBeDefined();
    expect(second.Marker).toBeUndefined();
    expect([...first.Clusters!, ...second.Clusters!].map((c) => c.Id)).toEqual(ids.slice().reverse());
    expect(none.Clusters).toEqual([]);
  });
});

describe('statistics', () => {
  it('counts calls per operation, clusters created and clusters not yet terminated', async () => {
    const own = await startEmulator({ timeScale: 0.001, spark: false, seed: 5 });
    const client = new EMRClient({ endpoint: own.endpoint, maxAttempts: 1 });
    const kept = (await client.send(new RunJobFlowCommand(clusterRequest()))).JobFlowId!;
    const ended = (await client.send(new RunJobFlowCommand(clusterRequest()))).JobFlowId!;
    await client.send(new DescribeClusterCommand({ ClusterId: kept }));

    await client.send(new TerminateJobFlowsCommand({ JobFlowIds: [ended] }));
    await waitFor(
      () => client.send(new DescribeClusterCommand({ ClusterId: ended })),
      (r) => r.Cluster!.Status!.State === 'TERMINATED',
    );
    const stats = own.stats();
    client.destroy();
    await own.stop();

    expect(stats.calls.EMR).toMatchObject({ RunJobFlow: 2, TerminateJobFlows: 1 });
    expect(stats.calls.EMR.DescribeCluster).toBeGreaterThanOrEqual(2);
    expect(stats.clustersCreated).toBe(2);
    expect(stats.clustersRunning).toBe(1);
    expect(stats.clusters.find((c) => c.clusterId === kept)).toMatchObject({ attempt: 1, tags: { 'emrflow:job': 'denormalize-events' } });
  });
});
