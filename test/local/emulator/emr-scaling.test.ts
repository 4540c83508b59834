/**
 * EMR managed scaling in the emulator: the policy API, scale-out to the running steps' demand within the
 * ComputeLimits, scale-in after the quiet period, and the units ListInstanceFleets / ListInstances report.
 */
import {
  AddJobFlowStepsCommand,
  DescribeClusterCommand,
  EMRClient,
  GetManagedScalingPolicyCommand,
  ListInstanceFleetsCommand,
  ListInstancesCommand,
  ListStepsCommand,
  PutManagedScalingPolicyCommand,
  RemoveManagedScalingPolicyCommand,
  RunJobFlowCommand,
  type ComputeLimits,
  type InstanceFleet,
  type RunJobFlowCommandInput,
  type StepConfig,
} from '@aws-sdk/client-emr';
import { sparkConf, sparkProperties } from '../../../lib/domain/sizing';
import type { Emulator, EmulatorEvent } from '../../../local/emulator';
import type { EmrCluster, EmrStep } from '../../../local/emulator/emr/model';
import { MANAGED_SCALING_SCALE_IN_QUIET_SECONDS, stepDemandUnits } from '../../../local/emulator/emr/scaling';
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

const limits = (overrides: Partial<ComputeLimits> = {}): ComputeLimits => ({
  UnitType: 'InstanceFleetUnits',
  MinimumCapacityUnits: 4,
  MaximumCapacityUnits: 16,
  MaximumCoreCapacityUnits: 4,
  MaximumOnDemandCapacityUnits: 8,
  ...overrides,
});

function poolCluster(computeLimits: ComputeLimits | null = limits()): RunJobFlowCommandInput {
  return {
    Name: 'emrflow pool test',
    ReleaseLabel: 'emr-7.10.0',
    LogUri: 's3://logs/emr/',
    Applications: [{ Name: 'Spark' }],
    StepConcurrencyLevel: 1,
    ...(computeLimits ? { ManagedScalingPolicy: { ComputeLimits: computeLimits } } : {}),
    Instances: {
      KeepJobFlowAliveWhenNoSteps: true,
      InstanceFleets: [
        { Name: 'Primary', InstanceFleetType: 'MASTER', TargetOnDemandCapacity: 1, InstanceTypeConfigs: [{ InstanceType: 'm5.xlarge' }] },
        { Name: 'Core', InstanceFleetType: 'CORE', TargetOnDemandCapacity: 4, InstanceTypeConfigs: [{ InstanceType: 'r5.4xlarge', WeightedCapacity: 4 }] },
        {
          Name: 'Task',
          InstanceFleetType: 'TASK',
          TargetOnDemandCapacity: 0,
          TargetSpotCapacity: 0,
          InstanceTypeConfigs: [
            { InstanceType: 'r5.4xlarge', WeightedCapacity: 4 },
            { InstanceType: 'r6i.4xlarge', WeightedCapacity: 4 },
          ],
          LaunchSpecifications: { SpotSpecification: { TimeoutDurationMinutes: 10, TimeoutAction: 'SWITCH_TO_ON_DEMAND', AllocationStrategy: 'diversified' } },
        },
      ],
    },
  };
}

/** A step sized by the project's own rule for `units` units (lib/domain/sizing: one 4-core executor per unit, less one for the driver). */
function sizedStep(name: string, units: number): StepConfig {
  const conf = Object.entries(sparkProperties(sparkConf(units, 1024))).flatMap(([k, v]) => ['--conf', `${k}=${v}`]);
  return {
    Name: name,
    ActionOnFailure: 'CONTINUE',
    HadoopJarStep: { Jar: 'command-runner.jar', Args: ['spark-submit', '--deploy-mode', 'cluster', ...conf, 's3://artifacts/job.py'] },
  };
}

async function readyCluster(request: RunJobFlowCommandInput): Promise<string> {
  const { JobFlowId } = await emr.send(new RunJobFlowCommand(request));
  await waitFor(
    () => emr.send(new DescribeClusterCommand({ ClusterId: JobFlowId })).then((r) => r.Cluster!.Status!.State),
    (s) => s === 'WAITING',
  );
  return JobFlowId!;
}

const fleetsOf = (id: string) => emr.send(new ListInstanceFleetsCommand({ ClusterId: id })).then((r) => r.InstanceFleets!);
const taskOf = (fleets: InstanceFleet[]) => fleets.find((f) => f.InstanceFleetType === 'TASK')!;
const coreOf = (fleets: InstanceFleet[]) => fleets.find((f) => f.InstanceFleetType === 'CORE')!;
const instancesOf = (id: string) => emr.send(new ListInstancesCommand({ ClusterId: id })).then((r) => r.Instances!);
const stepsDone = (id: string) =>
  waitFor(
    () => emr.send(new ListStepsCommand({ ClusterId: id })).then((r) => r.Steps!),
    (steps) => steps.every((s) => s.Status!.State === 'COMPLETED'),
  );

describe('the policy API', () => {
  it('takes a policy on RunJobFlow, reports it, replaces and removes it', async () => {
    const id = await readyCluster(poolCluster());

    const created = await emr.send(new GetManagedScalingPolicyCommand({ ClusterId: id }));
    await emr.send(new PutManagedScalingPolicyCommand({ ClusterId: id, ManagedScalingPolicy: { ComputeLimits: limits({ MaximumCapacityUnits: 32 }) } }));
    const replaced = await emr.send(new GetManagedScalingPolicyCommand({ ClusterId: id }));
    await emr.send(new RemoveManagedScalingPolicyCommand({ ClusterId: id }));
    const removed = await emr.send(new GetManagedScalingPolicyCommand({ ClusterId: id }));

    expect(created.ManagedScalingPolicy).toEqual({ ComputeLimits: limits() });
    expect(replaced.ManagedScalingPolicy!.ComputeLimits!.MaximumCapacityUnits).toBe(32);
    expect(removed.ManagedScalingPolicy).toBeUndefined();
  });

  it.each([
    ['UnitType', limits({ UnitType: 'Instances' })],
    ['MaximumCapacityUnits', limits({ MinimumCapacityUnits: 8, MaximumCapacityUnits: 4 })],
    ['MaximumCoreCapacityUnits', limits({ MaximumCoreCapacityUnits: 17 })],
    ['MinimumCapacityUnits', limits({ MinimumCapacityUnits: 0 })],
  ])('refuses a bad %s with ValidationException and keeps the policy it had', async (field, bad) => {
    const id = await readyCluster(poolCluster());

    const error = await emr.send(new PutManagedScalingPolicyCommand({ ClusterId: id, ManagedScalingPolicy: { ComputeLimits: bad } })).catch((e) => e);
    const kept = await emr.send(new GetManagedScalingPolicyCommand({ ClusterId: id }));

    expect(error.name).toBe('ValidationException');
    expect(error.message).toContain(`ManagedScalingPolicy.ComputeLimits.${field}`);
    expect(kept.ManagedScalingPolicy).toEqual({ ComputeLimits: limits() });
  });

  it('refuses a bad policy on RunJobFlow without creating the cluster', async () => {
    const before = emu.stats().clustersCreated;

    const error = await emr.send(new RunJobFlowCommand(poolCluster(limits({ UnitType: 'VCPU' })))).catch((e) => e);

    expect(error.name).toBe('ValidationException');
    expect(emu.stats().clustersCreated).toBe(before);
  });
});

describe('scaling', () => {
  it("scales out to the running steps' demand (core to its cap, then task; On-Demand to its cap, then Spot) and reports the units", async () => {
    const id = await readyCluster(poolCluster());
    // Five 12-unit steps one after another: 600 emulated seconds of steady demand, longer than new nodes take to come up.
    await emr.send(new AddJobFlowStepsCommand({ JobFlowId: id, Steps: [1, 2, 3, 4, 5].map((n) => sizedStep(`job run-${n} attempt 1`, 12)) }));

    const scaled = await waitFor(
      () => fleetsOf(id),
      (fleets) => taskOf(fleets).ProvisionedOnDemandCapacity === 4 && taskOf(fleets).ProvisionedSpotCapacity === 4,
    );
    const added = (await instancesOf(id)).filter((i) => i.InstanceFleetId === taskOf(scaled).Id);

    expect(coreOf(scaled)).toMatchObject({ TargetOnDemandCapacity: 4, ProvisionedOnDemandCapacity: 4 });
    expect(taskOf(scaled)).toMatchObject({ TargetOnDemandCapacity: 4, TargetSpotCapacity: 4 });
    expect(added.map((i) => [i.Market, i.Status!.State])).toEqual([
      ['ON_DEMAND', 'RUNNING'],
      ['SPOT', 'RUNNING'],
    ]);
  });

  it(`scales in after ${MANAGED_SCALING_SCALE_IN_QUIET_SECONDS} s without the demand, to the minimum, with a reason that is not a Spot loss`, async () => {
    const id = await readyCluster(poolCluster());
    await emr.send(new AddJobFlowStepsCommand({ JobFlowId: id, Steps: [1, 2, 3, 4, 5].map((n) => sizedStep(`job run-${n} attempt 1`, 12)) }));
    await waitFor(
      () => fleetsOf(id),
      (fleets) => taskOf(fleets).ProvisionedSpotCapacity === 4,
    );
    const steps = await stepsDone(id);

    const shrunk = await waitFor(
      () => fleetsOf(id),
      (fleets) => taskOf(fleets).TargetOnDemandCapacity === 0 && taskOf(fleets).TargetSpotCapacity === 0,
    );
    const lastStepEnd = Math.max(...steps.map((s) => s.Status!.Timeline!.EndDateTime!.getTime()));
    const scaleIn = events.find((e) => e.id === id && /scale in/.test(e.message ?? ''))!;
    const removed = (await instancesOf(id)).filter((i) => i.InstanceFleetId === taskOf(shrunk).Id);

    expect(taskOf(shrunk)).toMatchObject({ ProvisionedOnDemandCapacity: 0, ProvisionedSpotCapacity: 0 });
    expect(coreOf(shrunk).ProvisionedOnDemandCapacity).toBe(4);
    expect(scaleIn.at - lastStepEnd).toBeGreaterThanOrEqual(MANAGED_SCALING_SCALE_IN_QUIET_SECONDS * 1000);
    expect(removed.every((i) => i.Status!.State === 'TERMINATED')).toBe(true);
    // ClassifyFailure reads a terminated Spot node with such words as a Spot loss; a scale-in must not look like one.
    expect(removed.every((i) => !/spot|capacity|interrupt|reclaim/i.test(i.Status!.StateChangeReason!.Message!))).toBe(true);
    expect(removed.every((i) => i.Status!.StateChangeReason!.Code === undefined)).toBe(true);
  });

  it('never goes above MaximumCapacityUnits', async () => {
    const id = await readyCluster(poolCluster());

    await emr.send(new AddJobFlowStepsCommand({ JobFlowId: id, Steps: [sizedStep('big run-1 attempt 1', 40)] }));
    const scaled = await waitFor(
      () => fleetsOf(id),
      (fleets) => (taskOf(fleets).TargetSpotCapacity ?? 0) > 0,
    );

    expect(coreOf(scaled).TargetOnDemandCapacity! + taskOf(scaled).TargetOnDemandCapacity! + taskOf(scaled).TargetSpotCapacity!).toBe(16);
  });

  it("raises a cluster below a new policy's minimum with no step running", async () => {
    const id = await readyCluster(poolCluster(null));

    await emr.send(new PutManagedScalingPolicyCommand({ ClusterId: id, ManagedScalingPolicy: { ComputeLimits: limits({ MinimumCapacityUnits: 8 }) } }));
    const scaled = await waitFor(
      () => fleetsOf(id),
      (fleets) => taskOf(fleets).TargetOnDemandCapacity! > 0,
    );

    expect(taskOf(scaled).TargetOnDemandCapacity).toBe(4);
  });

  it('does not scale for a step that names no executor count, nor without a policy (negative controls)', async () => {
    const unsized: StepConfig = {
      Name: 'plain run-1 attempt 1',
      ActionOnFailure: 'CONTINUE',
      HadoopJarStep: { Jar: 'command-runner.jar', Args: ['spark-submit', 's3://artifacts/job.py'] },
    };
    const withPolicy = await readyCluster(poolCluster());
    const withoutPolicy = await readyCluster(poolCluster(null));

    await emr.send(new AddJobFlowStepsCommand({ JobFlowId: withPolicy, Steps: [unsized] }));
    await emr.send(new AddJobFlowStepsCommand({ JobFlowId: withoutPolicy, Steps: [sizedStep('job run-1 attempt 1', 12)] }));
    await Promise.all([stepsDone(withPolicy), stepsDone(withoutPolicy)]);

    for (const id of [withPolicy, withoutPolicy]) {
      const task = taskOf(await fleetsOf(id));
      expect([task.TargetOnDemandCapacity, task.TargetSpotCapacity]).toEqual([0, 0]);
      expect((await instancesOf(id)).filter((i) => i.InstanceFleetId === task.Id)).toEqual([]);
    }
  });
});

describe("a step's demand in units", () => {
  const cluster = (configurations: EmrCluster['Configurations'] = []) =>
    ({
      Configurations: configurations,
      instances: [{ role: 'CORE', state: 'RUNNING', InstanceType: 'r5.4xlarge', weight: 4 }],
    }) as unknown as EmrCluster;
  const step = (args: string[]) => ({ Config: { Args: args } }) as unknown as EmrStep;

  it.each([1, 2, 8, 12, 64])('is the units lib/domain/sizing gave the job (%i)', (units) => {
    const conf = Object.entries(sparkProperties(sparkConf(units, 1024))).flatMap(([k, v]) => ['--conf', `${k}=${v}`]);

    expect(stepDemandUnits(cluster(), step(['spark-submit', '--deploy-mode', 'cluster', ...conf, 'job.py']))).toBe(units);
  });

  it("takes dynamic allocation's maxExecutors when no count is fixed, and the cluster's spark-defaults", () => {
    const defaults = [{ Classification: 'spark-defaults', Properties: { 'spark.executor.cores': '4', 'spark.dynamicAllocation.enabled': 'true' } }];

    expect(stepDemandUnits(cluster(defaults), step(['spark-submit', '--conf', 'spark.dynamicAllocation.maxExecutors=10', 'job.py']))).toBe(10);
    expect(stepDemandUnits(cluster(), step(['spark-submit', '--num-executors', '3', '--executor-cores', '8', 'job.py']))).toBe(6);
    expect(stepDemandUnits(cluster(), step(['spark-submit', 'job.py']))).toBe(0);
    expect(stepDemandUnits(cluster(), step(['spark-submit', 'job.py', '--conf', 'spark.executor.instances=9']))).toBe(0);
  });
});
