import {
  AddJobFlowStepsCommand,
  DescribeClusterCommand,
  DescribeStepCommand,
  EMRClient,
  ListClustersCommand,
  ListInstanceFleetsCommand,
  ListInstancesCommand,
  RunJobFlowCommand,
  type InstanceFleetConfig,
  type RunJobFlowCommandInput,
} from '@aws-sdk/client-emr';
import { parseFaults, startEmulator, type Emulator, type Faults } from '../../../local/emulator';
import { startTestEmulator, waitFor } from './helpers';

const EXAMPLE = {
  emr: {
    spotInterruption: [{ attempt: 1, phase: 'STEP_RUNNING' }],
    spotCapacityUnavailable: [{ attempt: 1 }],
    stepFailure: [{ attempt: 2 }],
    bootstrapFailure: [{ attempt: 3 }],
    throttle: { RunJobFlow: 0.3 },
  },
  emrServerless: { jobRunFailure: [{ attempt: 1 }], capacityExceeded: [{ attempt: 2 }] },
  events: { drop: 0.1, duplicate: 0.1 },
  glue: { crawlerAlreadyRunning: true, crawlerFails: false },
};

describe('parseFaults', () => {
  it('accepts the documented fault file and fills what it leaves out', () => {
    const full = parseFaults(JSON.stringify(EXAMPLE), 'faults.json');
    const partial = parseFaults('{"glue": {"crawlerFails": true}}', 'faults.json');

    expect(full).toEqual(EXAMPLE);
    expect(partial).toEqual({
      emr: { spotInterruption: [], spotCapacityUnavailable: [], stepFailure: [], bootstrapFailure: [], throttle: {} },
      emrServerless: { jobRunFailure: [], capacityExceeded: [] },
      events: { drop: 0, duplicate: 0 },
      glue: { crawlerAlreadyRunning: false, crawlerFails: true },
    });
    expect(parseFaults('{"events": {"duplicate": 0.5}}', 'faults.json').events).toEqual({ drop: 0, duplicate: 0.5 });
  });

  it.each([
    [{ emr: { spotInteruption: [] } }, 'emr.spotInteruption', 'unknown field'],
    [{ ec2: {} }, 'ec2', 'unknown field'],
    [{ emrServerless: { jobRunFailures: [] } }, 'emrServerless.jobRunFailures', 'unknown field'],
    [{ emr: { spotInterruption: [{ attempt: 1, phase: 'RUNNING' }] } }, 'emr.spotInterruption[0].phase', 'BOOTSTRAPPING'],
    [{ emr: { stepFailure: [{ attempt: 0 }] } }, 'emr.stepFailure[0].attempt', 'must be 1 or more, got number 0'],
    [{ emr: { bootstrapFailure: [{ attempt: 1, when: 'now' }] } }, 'emr.bootstrapFailure[0].when', 'unknown field'],
    [{ emr: { throttle: { RunJobFlows: 0.5 } } }, 'emr.throttle.RunJobFlows', 'unknown EMR operation'],
    [{ emr: { throttle: { DescribeCluster: 1.5 } } }, 'emr.throttle.DescribeCluster', 'between 0 and 1'],
    [{ glue: { crawlerFails: 'yes' } }, 'glue.crawlerFails', 'true or false'],
    [{ events: { drop: 1.5 } }, 'events.drop', 'between 0 and 1'],
    [{ events: { lose: 0.1 } }, 'events.lose', 'unknown field'],
  ])('rejects %j naming %s', (input, field, why) => {
    const parse = () => parseFaults(JSON.stringify(input), 'examples/faults/bad.json');

    expect(parse).toThrow(`examples/faults/bad.json: ${field}: `);
    expect(parse).toThrow(why);
  });

  it('rejects text that is not JSON, naming the file', () => {
    expect(() => parseFaults('{emr:', 'f.json')).toThrow(/^f\.json: \(file\): not valid JSON/);
  });
});

const fleets = (core: { od: number; spot: number }, timeoutAction = 'SWITCH_TO_ON_DEMAND'): InstanceFleetConfig[] => {
  const launch = {
    SpotSpecification: { TimeoutDurationMinutes: 5, TimeoutAction: timeoutAction as never, AllocationStrategy: 'price-capacity-optimized' as const },
  };
  return [
    { Name: 'Primary', InstanceFleetType: 'MASTER', TargetOnDemandCapacity: 1, InstanceTypeConfigs: [{ InstanceType: 'm5.xlarge' }] },
    {
      Name: 'Core',
      InstanceFleetType: 'CORE',
      TargetOnDemandCapacity: core.od,
      TargetSpotCapacity: core.spot,
      InstanceTypeConfigs: [{ InstanceType: 'r5.4xlarge' }],
      LaunchSpecifications: launch,
    },
    {
      Name: 'Task',
      InstanceFleetType: 'TASK',
      TargetOnDemandCapacity: 0,
      TargetSpotCapacity: 2,
      InstanceTypeConfigs: [{ InstanceType: 'r5.4xlarge' }],
      LaunchSpecifications: launch,
    },
  ];
};

const request = (attempt: number, instanceFleets: InstanceFleetConfig[]): RunJobFlowCommandInput => ({
  Name: `faults attempt ${attempt}`,
  ReleaseLabel: 'emr-7.10.0',
  LogUri: 's3://logs/emr/',
  Tags: [{ Key: 'emrflow:attempt', Value: String(attempt) }],
  Instances: { KeepJobFlowAliveWhenNoSteps: true, InstanceFleets: instanceFleets },
});

const step = (attempt: number) => ({
  Name: `denormalize-events run-1 attempt ${attempt}`,
  ActionOnFailure: 'CONTINUE' as const,
  HadoopJarStep: { Jar: 'command-runner.jar', Args: ['spark-submit', 's3://artifacts/spark/denormalize.py'] },
});

describe('EMR faults', () => {
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

  const useFaults = (faults: Partial<Faults['emr']>) => emu.setFaults(parseFaults({ emr: faults }, 'test'));
  const create = async (attempt: number, instanceFleets: InstanceFleetConfig[]) =>
    (await emr.send(new RunJobFlowCommand(request(attempt, instanceFleets)))).JobFlowId!;
  const cluster = (id: string) => emr.send(new DescribeClusterCommand({ ClusterId: id })).then((r) => r.Cluster!);
  const waitForCluster = (id: string, states: string[]) =>
    waitFor(
      () => cluster(id),
      (c) => states.includes(c.Status!.State!),
    );
  const runStep = async (id: string, attempt: number) => {
    const { StepIds } = await emr.send(new AddJobFlowStepsCommand({ JobFlowId: id, Steps: [step(attempt)] }));
    return waitFor(
      () => emr.send(new DescribeStepCommand({ ClusterId: id, StepId: StepIds![0] })).then((r) => r.Step!),
      (s) => ['COMPLETED', 'FAILED', 'CANCELLED'].includes(s.Status!.State!),
    );
  };
  const fleetsOf = (id: string) => emr.send(new ListInstanceFleetsCommand({ ClusterId: id })).then((r) => r.InstanceFleets!);
  const instancesOf = (id: string) => emr.send(new ListInstancesCommand({ ClusterId: id })).then((r) => r.Instances!);

  it('Spot interruption while the step runs: Spot instances end, the step fails, the all-Spot core takes the cluster down', async () => {
    useFaults({ spotInterruption: [{ attempt: 1, phase: 'STEP_RUNNING' }] });
    const id = await create(1, fleets({ od: 0, spot: 2 }));
    await waitForCluster(id, ['WAITING']);

    const failed = await runStep(id, 1);
    const ended = await waitForCluster(id, ['TERMINATED', 'TERMINATED_WITH_ERRORS']);
    const spot = (await instancesOf(id)).filter((i) => i.Market === 'SPOT');
    const core = (await fleetsOf(id)).find((f) => f.InstanceFleetType === 'CORE')!;

    expect(failed.Status!.State).toBe('FAILED');
    expect(failed.Status!.FailureDetails!.LogFile).toBe(`s3://logs/emr/${id}/steps/${failed.Id}/stderr`);
    expect(ended.Status!.State).toBe('TERMINATED_WITH_ERRORS');
    expect(ended.Status!.StateChangeReason!.Code).toBe('INSTANCE_FAILURE');
    expect(spot).toHaveLength(4);
    expect(spot.every((i) => i.Status!.State === 'TERMINATED' && /Spot/.test(i.Status!.StateChangeReason!.Message!))).toBe(true);
    expect(core.TargetSpotCapacity).toBe(2);
    expect(core.ProvisionedSpotCapacity).toBe(0);
  });

  it('Spot interruption with an On-Demand core: the step fails, the cluster keeps WAITING with less capacity', async () => {
    useFaults({ spotInterruption: [{ attempt: 1, phase: 'STEP_RUNNING' }] });
    const id = await create(1, fleets({ od: 2, spot: 0 }));
    await waitForCluster(id, ['WAITING']);

    const failed = await runStep(id, 1);
    const after = await cluster(id);
    const task = (await fleetsOf(id)).find((f) => f.InstanceFleetType === 'TASK')!;

    expect(failed.Status!.State).toBe('FAILED');
    expect(after.Status!.State).toBe('WAITING');
    expect(task.ProvisionedSpotCapacity).toBe(0);
    expect(task.Status!.StateChangeReason!.Code).toBe('INSTANCE_FAILURE');
  });

  it('Spot interruption withPrimary on an On-Demand-core cluster: EC2 takes the primary too and the cluster is lost', async () => {
    useFaults({ spotInterruption: [{ attempt: 1, phase: 'STEP_RUNNING', withPrimary: true }] });
    const id = await create(1, fleets({ od: 2, spot: 0 }));
    await waitForCluster(id, ['WAITING']);

    const failed = await runStep(id, 1);
    const ended = await waitForCluster(id, ['TERMINATED', 'TERMINATED_WITH_ERRORS']);
    const primaryFleet = (await fleetsOf(id)).find((f) => f.InstanceFleetType === 'MASTER')!;
    const primary = (await instancesOf(id)).find((i) => i.InstanceFleetId === primaryFleet.Id)!;

    expect(failed.Status!.State).toBe('FAILED');
    expect(ended.Status!.State).toBe('TERMINATED_WITH_ERRORS');
    expect(ended.Status!.StateChangeReason).toMatchObject({ Code: 'INSTANCE_FAILURE', Message: expect.stringMatching(/master node/) });
    expect(primary.Status!.StateChangeReason!.Code).toBe('INSTANCE_FAILURE');
  });

  it('fires only for the attempt it names', async () => {
    useFaults({ spotInterruption: [{ attempt: 1, phase: 'STEP_RUNNING' }] });
    const id = await create(2, fleets({ od: 0, spot: 2 }));
    await waitForCluster(id, ['WAITING']);

    const completed = await runStep(id, 2);

    expect(completed.Status!.State).toBe('COMPLETED');
    expect((await cluster(id)).Status!.State).toBe('WAITING');
  });

  it('Spot interruption while bootstrapping ends an all-Spot-core cluster with INSTANCE_FAILURE', async () => {
    useFaults({ spotInterruption: [{ attempt: 1, phase: 'BOOTSTRAPPING' }] });
    const id = await create(1, fleets({ od: 0, spot: 2 }));

    const ended = await waitForCluster(id, ['TERMINATED', 'TERMINATED_WITH_ERRORS', 'WAITING']);

    expect(ended.Status!.State).toBe('TERMINATED_WITH_ERRORS');
    expect(ended.Status!.StateChangeReason!.Code).toBe('INSTANCE_FAILURE');
    expect(ended.Status!.Timeline!.ReadyDateTime).toBeUndefined();
  });

  it('no Spot capacity with SWITCH_TO_ON_DEMAND: the cluster comes up On-Demand after the timeout', async () => {
    useFaults({ spotCapacityUnavailable: [{ attempt: 1 }] });
    const id = await create(1, fleets({ od: 1, spot: 2 }));

    const waiting = await cluster(id);
    const awaiting = (await instancesOf(id)).filter((i) => i.Status!.State === 'AWAITING_FULFILLMENT');
    const ready = await waitForCluster(id, ['WAITING', 'TERMINATED_WITH_ERRORS']);
    const core = (await fleetsOf(id)).find((f) => f.InstanceFleetType === 'CORE')!;
    const instances = await instancesOf(id);
    const createdToReady = ready.Status!.Timeline!.ReadyDateTime!.getTime() - ready.Status!.Timeline!.CreationDateTime!.getTime();

    expect(waiting.Status!.State).toBe('STARTING');
    expect(awaiting).toHaveLength(4);
    expect(ready.Status!.State).toBe('WAITING');
    expect(core).toMatchObject({ TargetOnDemandCapacity: 1, TargetSpotCapacity: 2, ProvisionedOnDemandCapacity: 3, ProvisionedSpotCapacity: 0 });
    expect(instances.every((i) => i.Market === 'ON_DEMAND')).toBe(true);
    // 5 minutes of Spot timeout plus 6 of bootstrap, scaled by 0.001
    expect(createdToReady).toBeGreaterThanOrEqual(emu.clock.realMs((5 + 6) * 60) - 5);
  });

  it('no Spot capacity with TERMINATE_CLUSTER: the cluster ends with INSTANCE_FLEET_TIMEOUT', async () => {
    useFaults({ spotCapacityUnavailable: [{ attempt: 1 }] });
    const id = await create(1, fleets({ od: 0, spot: 2 }, 'TERMINATE_CLUSTER'));

    const ended = await waitForCluster(id, ['WAITING', 'TERMINATED', 'TERMINATED_WITH_ERRORS']);

    expect(ended.Status!.State).toBe('TERMINATED_WITH_ERRORS');
    expect(ended.Status!.StateChangeReason!.Code).toBe('INSTANCE_FLEET_TIMEOUT');
  });

  it('step failure: the step fails with FailureDetails and the cluster keeps running', async () => {
    useFaults({ stepFailure: [{ attempt: 1 }] });
    const id = await create(1, fleets({ od: 2, spot: 0 }));
    await waitForCluster(id, ['WAITING']);

    const failed = await runStep(id, 1);
    const retried = await runStep(id, 1);

    expect(failed.Status!.State).toBe('FAILED');
    expect(failed.Status!.FailureDetails).toEqual({
      Reason: 'Unknown Error.',
      Message: expect.stringMatching(
        /^Exception in thread "main" org\.apache\.spark\.SparkException: Application application_\d+_\d+ finished with failed status$/,
      ),
      LogFile: `s3://logs/emr/${id}/steps/${failed.Id}/stderr`,
    });
    expect(retried.Status!.State).toBe('COMPLETED');
    expect((await cluster(id)).Status!.State).toBe('WAITING');
  });

  it('bootstrap failure: the cluster ends TERMINATED_WITH_ERRORS with BOOTSTRAP_FAILURE', async () => {
    useFaults({ bootstrapFailure: [{ attempt: 1 }] });
    const id = await create(1, fleets({ od: 2, spot: 0 }));

    const ended = await waitForCluster(id, ['WAITING', 'TERMINATED', 'TERMINATED_WITH_ERRORS']);

    expect(ended.Status!.State).toBe('TERMINATED_WITH_ERRORS');
    expect(ended.Status!.StateChangeReason!.Code).toBe('BOOTSTRAP_FAILURE');
  });
});

describe('EMR throttling', () => {
  it('answers ThrottlingException (HTTP 400, "Rate exceeded") when the operation is throttled', async () => {
    const emu = await startEmulator({ timeScale: 0.001, spark: false, seed: 1, faults: parseFaults({ emr: { throttle: { ListClusters: 1 } } }, 'test') });
    const emr = new EMRClient({ endpoint: emu.endpoint, maxAttempts: 1 });

    const error = await emr.send(new ListClustersCommand({})).catch((e) => e);
    const other = await emr.send(new RunJobFlowCommand(request(1, fleets({ od: 1, spot: 0 }))));
    emr.destroy();
    await emu.stop();

    expect(error.name).toBe('ThrottlingException');
    expect(error.message).toBe('Rate exceeded');
    expect(error.$metadata.httpStatusCode).toBe(400);
    expect(other.JobFlowId).toMatch(/^j-/);
  });

  it('throttles about the configured share of calls, reproducibly for a seed', async () => {
    const outcomes = async () => {
      const emu = await startEmulator({ timeScale: 0.001, spark: false, seed: 42, faults: parseFaults({ emr: { throttle: { ListClusters: 0.3 } } }, 'test') });
      const emr = new EMRClient({ endpoint: emu.endpoint, maxAttempts: 1 });
      const results: boolean[] = [];
      for (let i = 0; i < 100; i += 1)
        results.push(
          await emr.send(new ListClustersCommand({})).then(
            () => true,
            () => false,
          ),
        );
      const throttled = emu.stats().throttled['EMR.ListClusters'];
      emr.destroy();
      await emu.stop();
      return { results, throttled };
    };

    const first = await outcomes();
    const second = await outcomes();

    expect(first.throttled).toBe(first.results.filter((ok) => !ok).length);
    expect(first.throttled).toBeGreaterThan(15);
    expect(first.throttled).toBeLessThan(45);
    expect(second.results).toEqual(first.results);
  });
});
