/**
 * The job manager's EMR calls for issue 21 against the emulator: a crashed launch's cluster found by the
 * launch id its name carries (ListClusters, CreatedAfter), and a given-up step cancelled (CancelSteps,
 * TERMINATE_PROCESS), through the same functions the Lambdas wire (lib/aws/poolRuntime.ts).
 */
import { AddJobFlowStepsCommand, DescribeStepCommand, EMRClient } from '@aws-sdk/client-emr';
import type { Emulator } from '../../../local/emulator';
import { resetClients } from '../../../lib/aws/clients';
import { cancelSteps, findLaunch, poolClusterLauncher } from '../../../lib/aws/poolRuntime';
import { loadPools } from '../../../lib/config/pools';
import { loadPrices } from '../../../lib/config/prices';
import { poolConfigHash } from '../../../lib/domain/pools';
import { startTestEmulator, waitFor } from './helpers';

let emu: Emulator;
let emr: EMRClient;
const prices = loadPrices();
const pool = loadPools(prices).pools[0];

beforeAll(async () => {
  ({ emu } = await startTestEmulator());
  Object.assign(process.env, { STAGE: 'dev', EMR_SERVICE_ROLE: 'EMR_DefaultRole', EMR_INSTANCE_PROFILE: 'EMR_EC2_DefaultRole', LOGS_BUCKET: 'logs' });
  resetClients();
  emr = new EMRClient({ maxAttempts: 1 });
});
afterAll(async () => {
  emr.destroy();
  resetClients();
  await emu.stop();
});

describe('a crashed launch and a given-up step, on the emulator', () => {
  it('finds the cluster a launch made by its launch id, and no other launch', async () => {
    const before = Date.now() - 60_000;
    const clusterId = await poolClusterLauncher(prices)(pool, poolConfigHash(pool), 'launch-a1');

    expect(await findLaunch(pool, 'launch-a1', before)).toEqual({ clusterId, state: 'STARTING' });
    // Negative controls: another launch id, and a listing that starts after the launch, find nothing.
    expect(await findLaunch(pool, 'launch-b2', before)).toBeNull();
    expect(await findLaunch(pool, 'launch-a1', Date.now() + 3_600_000)).toBeNull();
  });

  it('cancels a running step, which EMR then ends CANCELLED', async () => {
    const clusterId = await poolClusterLauncher(prices)(pool, poolConfigHash(pool), 'launch-c3');
    await waitFor(
      () => findLaunch(pool, 'launch-c3', Date.now() - 600_000),
      (found) => found?.state === 'WAITING',
    );
    const { StepIds } = await emr.send(
      new AddJobFlowStepsCommand({
        JobFlowId: clusterId,
        Steps: [
          {
            Name: 'given up',
            ActionOnFailure: 'CONTINUE',
            HadoopJarStep: { Jar: 'command-runner.jar', Args: ['spark-submit', 's3://artifacts/spark/job.py'] },
          },
        ],
      }),
    );
    const stepId = (StepIds ?? [])[0];
    const state = async () => (await emr.send(new DescribeStepCommand({ ClusterId: clusterId, StepId: stepId }))).Step?.Status?.State;
    expect(await state()).toBe('RUNNING');

    await cancelSteps(clusterId, [stepId]);

    expect(await waitFor(state, (s) => s === 'CANCELLED')).toBe('CANCELLED');
  });
});
