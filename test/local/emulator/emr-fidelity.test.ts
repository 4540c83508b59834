/**
 * What the AWS CLI and the SDK get from the EMR emulator where EMR's answer is documented: describe-cluster's
 * extra calls, enum and list-limit validation, error codes, the CLI's waiters, and fleets that use all their
 * instance types and re-provision lost Spot capacity.
 */
import {
  AddJobFlowStepsCommand,
  DescribeClusterCommand,
  EMRClient,
  ListBootstrapActionsCommand,
  ListClustersCommand,
  ListInstanceFleetsCommand,
  ListInstanceGroupsCommand,
  ListInstancesCommand,
  ListStepsCommand,
  ListStudiosCommand,
  RunJobFlowCommand,
  TerminateJobFlowsCommand,
  type InstanceFleetConfig,
  type RunJobFlowCommandInput,
} from '@aws-sdk/client-emr';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { CLUSTER_ACTIVE_STATES } from '../../../lib/contract';
import { emulatorEnv, NO_FAULTS, parseFaults, type Emulator } from '../../../local/emulator';
import { SPOT_REPLACEMENT_READY_SECONDS } from '../../../local/emulator/emr/capacity';
import { CLI_WAITER_DELAY_SECONDS, CLI_WAITER_TIME_SCALE } from '../../../local/emulator/emr/waiters';
import { startTestEmulator, TEST_TIME_SCALE, waitFor } from './helpers';

const ROOT = path.resolve(__dirname, '../../..');
const AWS_CLI = path.join(ROOT, '.venv/bin/aws');
const PYTHON_LIB = existsSync(path.join(ROOT, '.venv/lib')) ? readdirSync(path.join(ROOT, '.venv/lib')).find((d) => d.startsWith('python')) : undefined;
/** botocore's own EMR model: the reference for the CLI's waiters. */
const BOTOCORE_EMR = path.join(ROOT, '.venv/lib', PYTHON_LIB ?? 'python3', 'site-packages/botocore/data/emr/2009-03-31');

let emu: Emulator;
let emr: EMRClient;

beforeAll(async () => {
  ({ emu } = await startTestEmulator());
  emr = new EMRClient({ maxAttempts: 1 });
});
afterAll(async () => {
  emr.destroy();
  await emu.stop();
});
afterEach(() => emu.setFaults(NO_FAULTS));

const fleet = (type: 'MASTER' | 'CORE' | 'TASK', overrides: Partial<InstanceFleetConfig> = {}): InstanceFleetConfig => ({
  Name: type,
  InstanceFleetType: type,
  TargetOnDemandCapacity: type === 'MASTER' ? 1 : 0,
  InstanceTypeConfigs: [{ InstanceType: type === 'MASTER' ? 'm5.xlarge' : 'r5.4xlarge', WeightedCapacity: type === 'MASTER' ? 1 : 4 }],
  ...overrides,
});

function request(
  overrides: Partial<RunJobFlowCommandInput> = {},
  fleets: InstanceFleetConfig[] = [fleet('MASTER'), fleet('CORE', { TargetOnDemandCapacity: 4 })],
): RunJobFlowCommandInput {
  return {
    Name: 'emrflow fidelity',
    ReleaseLabel: 'emr-7.10.0',
    LogUri: 's3://logs/emr/',
    Applications: [{ Name: 'Spark' }],
    Instances: { KeepJobFlowAliveWhenNoSteps: true, InstanceFleets: fleets },
    ...overrides,
  };
}

const create = async (overrides: Partial<RunJobFlowCommandInput> = {}, fleets?: InstanceFleetConfig[]) =>
  (await emr.send(new RunJobFlowCommand(request(overrides, fleets)))).JobFlowId!;
const clusterOf = (id: string) => emr.send(new DescribeClusterCommand({ ClusterId: id })).then((r) => r.Cluster!);
const instancesOf = (id: string) => emr.send(new ListInstancesCommand({ ClusterId: id })).then((r) => r.Instances!);
const fleetsOf = (id: string) => emr.send(new ListInstanceFleetsCommand({ ClusterId: id })).then((r) => r.InstanceFleets!);
const stateOf = (id: string) => clusterOf(id).then((c) => c.Status!.State!);

const bootstrapAction = { Name: 'install deps', ScriptBootstrapAction: { Path: 's3://artifacts/bootstrap/install.sh', Args: ['--quiet'] } };
const groupRequest = request({
  BootstrapActions: [bootstrapAction],
  Instances: {
    KeepJobFlowAliveWhenNoSteps: true,
    InstanceGroups: [
      { Name: 'Primary', InstanceRole: 'MASTER', InstanceType: 'm5.xlarge', InstanceCount: 1 },
      { Name: 'Core', InstanceRole: 'CORE', InstanceType: 'r5.4xlarge', InstanceCount: 2 },
    ],
  },
});

async function awsCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    ...emulatorEnv(emu),
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
  };
  try {
    const { stdout, stderr } = await promisify(execFile)(AWS_CLI, [...args, '--output', 'json'], { env, timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const cliAvailable = existsSync(AWS_CLI);
const itWithCli = cliAvailable ? it : it.skip;

describe('describe-cluster: ListBootstrapActions and ListInstanceGroups', () => {
  it('lists the bootstrap actions a cluster was created with, as EMR Command entries', async () => {
    const id = await create({ BootstrapActions: [bootstrapAction] });

    const { BootstrapActions } = await emr.send(new ListBootstrapActionsCommand({ ClusterId: id }));
    const none = await emr.send(new ListBootstrapActionsCommand({ ClusterId: await create() }));

    expect(BootstrapActions).toEqual([{ Name: 'install deps', ScriptPath: 's3://artifacts/bootstrap/install.sh', Args: ['--quiet'] }]);
    expect(none.BootstrapActions).toEqual([]);
  });

  it('lists the instance groups of a group cluster with their counts and a state that follows the cluster', async () => {
    const { JobFlowId } = await emr.send(new RunJobFlowCommand(groupRequest));
    await waitFor(
      () => stateOf(JobFlowId!),
      (s) => s === 'WAITING',
    );

    const { InstanceGroups } = await emr.send(new ListInstanceGroupsCommand({ ClusterId: JobFlowId }));

    expect(InstanceGroups!.map((g) => [g.InstanceGroupType, g.InstanceType, g.RequestedInstanceCount, g.RunningInstanceCount, g.Status!.State])).toEqual([
      ['MASTER', 'm5.xlarge', 1, 1, 'RUNNING'],
      ['CORE', 'r5.4xlarge', 2, 2, 'RUNNING'],
    ]);
    expect(InstanceGroups![0].Status!.Timeline!.ReadyDateTime).toBeInstanceOf(Date);
  });

  it('refuses ListInstanceGroups on a fleet cluster, as EMR does (the CLI asks fleets instead)', async () => {
    const error = await emr.send(new ListInstanceGroupsCommand({ ClusterId: await create() })).catch((e) => e);

    expect(error.name).toBe('InvalidRequestException');
  });

  itWithCli('`aws emr describe-cluster` works on a fleet cluster and on a group cluster', async () => {
    const fleetId = await create({ BootstrapActions: [bootstrapAction] });
    const { JobFlowId: groupId } = await emr.send(new RunJobFlowCommand(groupRequest));

    const [fleetOut, groupOut] = await Promise.all([
      awsCli(['emr', 'describe-cluster', '--cluster-id', fleetId]),
      awsCli(['emr', 'describe-cluster', '--cluster-id', groupId!]),
    ]);

    expect(fleetOut).toMatchObject({ code: 0 });
    expect(groupOut).toMatchObject({ code: 0 });
    const fleetCluster = JSON.parse(fleetOut.stdout).Cluster;
    const groupCluster = JSON.parse(groupOut.stdout).Cluster;
    expect(fleetCluster.InstanceFleets.map((f: { InstanceFleetType: string }) => f.InstanceFleetType)).toEqual(['MASTER', 'CORE']);
    expect(fleetCluster.BootstrapActions).toEqual([{ Name: 'install deps', ScriptPath: 's3://artifacts/bootstrap/install.sh', Args: ['--quiet'] }]);
    expect(groupCluster.InstanceGroups.map((g: { InstanceGroupType: string }) => g.InstanceGroupType)).toEqual(['MASTER', 'CORE']);
  });
});

describe('validation with EMR error codes', () => {
  it.each([
    ['ListClusters', () => new ListClustersCommand({ ClusterStates: ['BOGUS' as never] }), 'clusterStates'],
    ['ListSteps', (id: string) => new ListStepsCommand({ ClusterId: id, StepStates: ['DONE' as never] }), 'stepStates'],
    ['ListInstances', (id: string) => new ListInstancesCommand({ ClusterId: id, InstanceStates: ['GONE' as never] }), 'instanceStates'],
  ])('%s refuses a value outside the enum with ValidationException naming the member', async (_, command, member) => {
    const id = await create();

    const error = await emr.send(command(id) as never).catch((e) => e);

    expect(error.name).toBe('ValidationException');
    expect(error.$metadata.httpStatusCode).toBe(400);
    expect(error.message).toContain(`at '${member}' failed to satisfy constraint`);
    expect(error.message).toContain('enum value set');
  });

  it('accepts every value of the enum (negative control)', async () => {
    const answer = await emr.send(
      new ListClustersCommand({ ClusterStates: ['STARTING', 'BOOTSTRAPPING', 'RUNNING', 'WAITING', 'TERMINATING', 'TERMINATED', 'TERMINATED_WITH_ERRORS'] }),
    );

    expect(Array.isArray(answer.Clusters)).toBe(true);
  });

  it('TerminateJobFlows refuses more than 10 ids with ValidationException and terminates none of them', async () => {
    const ids = await Promise.all(Array.from({ length: 11 }, () => create()));

    const error = await emr.send(new TerminateJobFlowsCommand({ JobFlowIds: ids })).catch((e) => e);
    const states = await Promise.all(ids.map(stateOf));
    await emr.send(new TerminateJobFlowsCommand({ JobFlowIds: ids.slice(0, 10) }));
    const afterTen = await Promise.all(ids.map(stateOf));

    expect(error.name).toBe('ValidationException');
    expect(error.message).toContain('10');
    expect(states.every((s) => CLUSTER_ACTIVE_STATES.has(s))).toBe(true);
    expect(afterTen.slice(0, 10).every((s) => s === 'TERMINATING')).toBe(true);
    expect(afterTen[10]).not.toBe('TERMINATING');
  });

  it('ListSteps refuses more than 10 StepIds with ValidationException (a request constraint); 10 are fine', async () => {
    const id = await create();
    const tooMany = Array.from({ length: 11 }, (_, i) => `s-${String(i).padStart(13, '0')}`);

    const error = await emr.send(new ListStepsCommand({ ClusterId: id, StepIds: tooMany })).catch((e) => e);
    const ten = await emr.send(new ListStepsCommand({ ClusterId: id, StepIds: tooMany.slice(0, 10) }));

    expect(error.name).toBe('ValidationException');
    expect(ten.Steps).toEqual([]);
  });

  it('AddJobFlowSteps on an unknown cluster answers ValidationException, as EMR does', async () => {
    const step = { Name: 'x', ActionOnFailure: 'CONTINUE' as const, HadoopJarStep: { Jar: 'command-runner.jar', Args: ['true'] } };

    const error = await emr.send(new AddJobFlowStepsCommand({ JobFlowId: 'j-NOSUCHCLUSTER1', Steps: [step] })).catch((e) => e);

    expect(error.name).toBe('ValidationException');
    expect(error.message).toBe('Specified job flow ID does not exist.');
  });

  it('answers UnknownOperationException to an EMR operation the emulator does not implement', async () => {
    const error = await emr.send(new ListStudiosCommand({})).catch((e) => e);

    expect(error.name).toBe('UnknownOperationException');
    expect(error.$metadata.httpStatusCode).toBe(400);
  });

  itWithCli('`aws emr list-clusters --cluster-states BOGUS` fails with the ValidationException', async () => {
    const out = await awsCli(['emr', 'list-clusters', '--cluster-states', 'BOGUS']);

    expect(out.code).not.toBe(0);
    expect(out.stderr).toContain('ValidationException');
  });
});

describe('the AWS CLI waiters at the time scale `emrflow emulator` picks', () => {
  interface Acceptor {
    expected: string;
    matcher: string;
    state: 'success' | 'failure';
    argument: string;
  }
  const waiters = JSON.parse(
    existsSync(path.join(BOTOCORE_EMR, 'waiters-2.json'))
      ? readFileSync(path.join(BOTOCORE_EMR, 'waiters-2.json'), 'utf8')
      : gunzipSync(readFileSync(path.join(BOTOCORE_EMR, 'waiters-2.json.gz'))).toString('utf8'),
  ).waiters as Record<string, { delay: number; acceptors: Acceptor[] }>;
  const clusterRunning = waiters.ClusterRunning;

  /**
   * botocore's ClusterRunning waiter against this emulator, its 30 s poll compressed as much as the test's
   * time scale compresses the emulated durations relative to `timeScale`: the same race, in milliseconds.
   */
  async function waitClusterRunning(id: string, timeScale: number): Promise<'success' | 'failure'> {
    const pollMs = clusterRunning.delay * 1000 * (TEST_TIME_SCALE / timeScale);
    for (let attempt = 0; attempt < 60; attempt += 1) {
      const state = await stateOf(id);
      const match = clusterRunning.acceptors.find((a) => a.argument === 'Cluster.Status.State' && a.expected === state);
      if (match) return match.state;
      await new Promise((r) => setTimeout(r, pollMs));
    }
    return 'failure';
  }

  const oneStepCluster = () =>
    create({
      Instances: { KeepJobFlowAliveWhenNoSteps: false, InstanceFleets: [fleet('MASTER'), fleet('CORE', { TargetOnDemandCapacity: 4 })] },
      Steps: [{ Name: 'one step', ActionOnFailure: 'CONTINUE', HadoopJarStep: { Jar: 'command-runner.jar', Args: ['spark-submit', 's3://artifacts/job.py'] } }],
    });

  it('polls every 30 s, as the scale is derived from', () => {
    expect(clusterRunning.delay).toBe(CLI_WAITER_DELAY_SECONDS);
    expect(waiters.StepComplete.delay).toBe(CLI_WAITER_DELAY_SECONDS);
    expect(waiters.ClusterTerminated.delay).toBe(CLI_WAITER_DELAY_SECONDS);
  });

  it(`wait cluster-running sees an auto-terminating one-step cluster running at time scale ${CLI_WAITER_TIME_SCALE}`, async () => {
    expect(await waitClusterRunning(await oneStepCluster(), CLI_WAITER_TIME_SCALE)).toBe('success');
  });

  it('misses it at the runner default of 0.01 (negative control: the race the scale avoids)', async () => {
    expect(await waitClusterRunning(await oneStepCluster(), 0.01)).toBe('failure');
  });
});

describe('instance fleets: types, weights and allocation strategies', () => {
  const typesOf = async (id: string, role: string) => {
    const fleetId = (await fleetsOf(id)).find((f) => f.InstanceFleetType === role)!.Id;
    return (await instancesOf(id)).filter((i) => i.InstanceFleetId === fleetId).map((i) => i.InstanceType);
  };

  it('lowest-price On-Demand fills the target with the cheapest type per unit (config/prices.json)', async () => {
    const id = await create({}, [
      fleet('MASTER'),
      fleet('CORE', {
        TargetOnDemandCapacity: 8,
        InstanceTypeConfigs: ['r4.4xlarge', 'r5.4xlarge', 'r5a.4xlarge'].map((t) => ({ InstanceType: t, WeightedCapacity: 4 })),
        LaunchSpecifications: { OnDemandSpecification: { AllocationStrategy: 'lowest-price' } },
      }),
    ]);

    expect(await typesOf(id, 'CORE')).toEqual(['r5a.4xlarge', 'r5a.4xlarge']);
  });

  it('prioritized On-Demand takes the type with Priority 0', async () => {
    const id = await create({}, [
      fleet('MASTER'),
      fleet('CORE', {
        TargetOnDemandCapacity: 4,
        InstanceTypeConfigs: [
          { InstanceType: 'r5a.4xlarge', WeightedCapacity: 4, Priority: 2 },
          { InstanceType: 'r6i.4xlarge', WeightedCapacity: 4, Priority: 0 },
        ],
        LaunchSpecifications: { OnDemandSpecification: { AllocationStrategy: 'prioritized' } },
      }),
    ]);

    expect(await typesOf(id, 'CORE')).toEqual(['r6i.4xlarge']);
  });

  it('diversified Spot spreads over every type, counting each WeightedCapacity and overshooting as EMR does', async () => {
    const spot = {
      SpotSpecification: { TimeoutDurationMinutes: 10, TimeoutAction: 'SWITCH_TO_ON_DEMAND' as const, AllocationStrategy: 'diversified' as const },
    };
    const id = await create({}, [
      fleet('MASTER'),
      fleet('CORE', { TargetOnDemandCapacity: 4 }),
      fleet('TASK', {
        TargetSpotCapacity: 8,
        InstanceTypeConfigs: [
          { InstanceType: 'r5.4xlarge', WeightedCapacity: 4 },
          { InstanceType: 'r5.2xlarge', WeightedCapacity: 2 },
          { InstanceType: 'm5.xlarge', WeightedCapacity: 1 },
        ],
        LaunchSpecifications: spot,
      }),
    ]);
    await waitFor(
      () => stateOf(id),
      (s) => s === 'WAITING',
    );

    const task = (await fleetsOf(id)).find((f) => f.InstanceFleetType === 'TASK')!;

    expect(await typesOf(id, 'TASK')).toEqual(['r5.4xlarge', 'r5.2xlarge', 'm5.xlarge', 'r5.4xlarge']);
    expect(task.ProvisionedSpotCapacity).toBe(11);
    expect(task.TargetSpotCapacity).toBe(8);
  });

  it('price-capacity-optimized Spot spreads over the cheaper half of the types', async () => {
    const spot = {
      SpotSpecification: { TimeoutDurationMinutes: 10, TimeoutAction: 'SWITCH_TO_ON_DEMAND' as const, AllocationStrategy: 'price-capacity-optimized' as const },
    };
    const id = await create({}, [
      fleet('MASTER'),
      fleet('CORE', {
        TargetSpotCapacity: 16,
        InstanceTypeConfigs: ['r4.4xlarge', 'r5.4xlarge', 'r6g.4xlarge', 'r5a.4xlarge'].map((t) => ({ InstanceType: t, WeightedCapacity: 4 })),
        LaunchSpecifications: spot,
      }),
    ]);

    expect((await typesOf(id, 'CORE')).sort()).toEqual(['r5a.4xlarge', 'r5a.4xlarge', 'r6g.4xlarge', 'r6g.4xlarge']);
  });
});

describe('Spot capacity lost after launch', () => {
  const spot = {
    SpotSpecification: { TimeoutDurationMinutes: 10, TimeoutAction: 'SWITCH_TO_ON_DEMAND' as const, AllocationStrategy: 'capacity-optimized' as const },
  };
  const step = {
    Name: 'job run-1 attempt 1',
    ActionOnFailure: 'CONTINUE' as const,
    HadoopJarStep: { Jar: 'command-runner.jar', Args: ['spark-submit', 's3://artifacts/job.py'] },
  };

  it(`re-provisions the fleet toward its Spot target, RUNNING ${SPOT_REPLACEMENT_READY_SECONDS} s later`, async () => {
    emu.setFaults(parseFaults(JSON.stringify({ emr: { spotInterruption: [{ attempt: 1, phase: 'STEP_RUNNING' }] } }), 'test'));
    const id = await create({}, [
      fleet('MASTER'),
      fleet('CORE', { TargetOnDemandCapacity: 4 }),
      fleet('TASK', {
        TargetSpotCapacity: 8,
        InstanceTypeConfigs: [
          { InstanceType: 'r5.4xlarge', WeightedCapacity: 4 },
          { InstanceType: 'r6i.4xlarge', WeightedCapacity: 4 },
        ],
        LaunchSpecifications: spot,
      }),
    ]);
    await waitFor(
      () => stateOf(id),
      (s) => s === 'WAITING',
    );
    await emr.send(new AddJobFlowStepsCommand({ JobFlowId: id, Steps: [step] }));
    const taskSpot = (fleets: Awaited<ReturnType<typeof fleetsOf>>) => fleets.find((f) => f.InstanceFleetType === 'TASK')!.ProvisionedSpotCapacity;

    const lost = await waitFor(
      () => fleetsOf(id),
      (fleets) => taskSpot(fleets) === 0,
    );
    const lostAt = Date.now();
    const replaced = await waitFor(
      () => fleetsOf(id),
      (fleets) => taskSpot(fleets) === 8,
    );
    const elapsedMs = Date.now() - lostAt;
    const spotInstances = (await instancesOf(id)).filter((i) => i.Market === 'SPOT');

    expect(spotInstances.filter((i) => i.Status!.State === 'TERMINATED')).toHaveLength(2);
    expect(
      spotInstances
        .filter((i) => i.Status!.State === 'RUNNING')
        .map((i) => i.InstanceType)
        .sort(),
    ).toEqual(['r5.4xlarge', 'r6i.4xlarge']);
    // Measured from when the loss was seen (a poll after it happened), so allow that poll's lag.
    expect(elapsedMs).toBeGreaterThanOrEqual(SPOT_REPLACEMENT_READY_SECONDS * 1000 * TEST_TIME_SCALE - 50);
    expect(lost.find((f) => f.InstanceFleetType === 'TASK')!.Status!.StateChangeReason!.Code).toBe('INSTANCE_FAILURE');
    expect(replaced.find((f) => f.InstanceFleetType === 'TASK')!.TargetSpotCapacity).toBe(8);
    expect(await stateOf(id)).toBe('WAITING');
  });

  it('does not re-provision a cluster the interruption ended (negative control)', async () => {
    emu.setFaults(parseFaults(JSON.stringify({ emr: { spotInterruption: [{ attempt: 1, phase: 'STEP_RUNNING' }] } }), 'test'));
    const id = await create({}, [fleet('MASTER'), fleet('CORE', { TargetSpotCapacity: 8, LaunchSpecifications: spot })]);
    await waitFor(
      () => stateOf(id),
      (s) => s === 'WAITING',
    );
    await emr.send(new AddJobFlowStepsCommand({ JobFlowId: id, Steps: [step] }));

    await waitFor(
      () => stateOf(id),
      (s) => s === 'TERMINATED_WITH_ERRORS',
    );
    await new Promise((r) => setTimeout(r, SPOT_REPLACEMENT_READY_SECONDS * 1000 * TEST_TIME_SCALE));

    expect((await instancesOf(id)).filter((i) => i.Market === 'SPOT')).toHaveLength(2);
  });
});
