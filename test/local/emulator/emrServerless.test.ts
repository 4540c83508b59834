import {
  CancelJobRunCommand,
  CreateApplicationCommand,
  EMRServerlessClient,
  GetApplicationCommand,
  GetJobRunCommand,
  ListJobRunsCommand,
  StartJobRunCommand,
  type StartJobRunCommandInput,
} from '@aws-sdk/client-emr-serverless';
import { parseFaults, type Emulator, type EmulatorEvent } from '../../../local/emulator';
import { startTestEmulator, waitFor } from './helpers';

const ROLE = 'arn:aws:iam::000000000000:role/emrflow-local-serverless-job';
const SMALL_JOB =
  '--conf spark.driver.cores=1 --conf spark.driver.memory=2g --conf spark.executor.cores=1 --conf spark.executor.memory=2g --conf spark.executor.instances=1';

describe('EMR Serverless emulator', () => {
  let emu: Emulator;
  let events: EmulatorEvent[];
  let client: EMRServerlessClient;
  let applicationId: string;

  beforeAll(async () => {
    ({ emu, events } = await startTestEmulator());
    client = new EMRServerlessClient({ region: 'us-east-1', maxAttempts: 1 });
    const created = await client.send(
      new CreateApplicationCommand({
        name: 'test',
        releaseLabel: 'emr-7.10.0',
        type: 'SPARK',
        clientToken: 'app',
        maximumCapacity: { cpu: '16 vCPU', memory: '64 GB' },
      }),
    );
    applicationId = created.applicationId!;
  });
  afterAll(async () => {
    await emu.stop();
  });

  const start = (token: string, overrides: Partial<StartJobRunCommandInput> = {}) =>
    client.send(
      new StartJobRunCommand({
        applicationId,
        clientToken: token,
        executionRoleArn: ROLE,
        name: `daily-events r-${token} attempt 1`,
        jobDriver: { sparkSubmit: { entryPoint: 's3://nowhere/job.jar', sparkSubmitParameters: SMALL_JOB } },
        ...overrides,
      }),
    );
  const jobRun = async (jobRunId: string) => (await client.send(new GetJobRunCommand({ applicationId, jobRunId }))).jobRun!;
  const ended = (state?: string) => ['SUCCESS', 'FAILED', 'CANCELLED'].includes(state ?? '');

  it('runs a job through SUBMITTED → PENDING → SCHEDULED → RUNNING → SUCCESS, simulated, and bills its workers', async () => {
    const { jobRunId } = await start('happy');
    const done = await waitFor(
      () => jobRun(jobRunId!),
      (run) => ended(run.state),
    );

    const states = events.filter((e) => e.resource === 'jobRun' && e.id === jobRunId).map((e) => e.state);
    expect(states).toEqual(['SUBMITTED', 'PENDING', 'SCHEDULED', 'RUNNING', 'SUCCESS']);
    expect(done.stateDetails).toMatch(/SIMULATED/);
    // A driver and one executor of 1 vCPU and 2 GB of Spark memory (+384 MiB overhead: a 3 GB worker) ran 120 simulated s.
    expect(done.billedResourceUtilization).toEqual({ vCPUHour: round((2 * 120) / 3600), memoryGBHour: round((2 * 3 * 120) / 3600), storageGBHour: 0 });
    expect((await client.send(new GetApplicationCommand({ applicationId }))).application!.state).toBe('STARTED');
  });

  it('emits the "EMR Serverless Job Run State Change" detail with the previous state', async () => {
    const { jobRunId } = await start('events');
    await waitFor(
      () => jobRun(jobRunId!),
      (run) => ended(run.state),
    );

    const success = events.find((e) => e.resource === 'jobRun' && e.id === jobRunId && e.state === 'SUCCESS')!;
    expect(success.detail).toEqual(expect.objectContaining({ jobRunId, applicationId, state: 'SUCCESS', previousState: 'RUNNING' }));
  });

  it('returns the same job run for a repeated client token (a retried start runs the job once)', async () => {
    const first = await start('retried');
    const second = await start('retried');
    const other = await start('another');

    expect(second.jobRunId).toBe(first.jobRunId);
    expect(other.jobRunId).not.toBe(first.jobRunId);
    const listed = (await client.send(new ListJobRunsCommand({ applicationId }))).jobRuns!.filter((run) => run.name?.includes('r-retried'));
    expect(listed).toHaveLength(1);
  });

  it('cancels a running job: CANCELLING, then CANCELLED', async () => {
    const { jobRunId } = await start('cancelled');
    await waitFor(
      () => jobRun(jobRunId!),
      (run) => run.state === 'RUNNING',
    );
    await client.send(new CancelJobRunCommand({ applicationId, jobRunId }));

    expect((await jobRun(jobRunId!)).state).toBe('CANCELLING');
    expect(
      (
        await waitFor(
          () => jobRun(jobRunId!),
          (run) => ended(run.state),
        )
      ).state,
    ).toBe('CANCELLED');
    await expect(client.send(new CancelJobRunCommand({ applicationId, jobRunId }))).rejects.toMatchObject({ name: 'ValidationException' });
  });

  it('fails a job whose workers exceed the maximum capacity; a job that fits runs (negative control)', async () => {
    const big = '--conf spark.executor.cores=4 --conf spark.executor.memory=14g --conf spark.executor.instances=8';
    const { jobRunId } = await start('too-big', { jobDriver: { sparkSubmit: { entryPoint: 's3://nowhere/job.jar', sparkSubmitParameters: big } } });
    const failed = await waitFor(
      () => jobRun(jobRunId!),
      (run) => ended(run.state),
    );

    expect(failed.state).toBe('FAILED');
    expect(failed.stateDetails).toMatch(/ApplicationMaxCapacityExceeded/);
    expect(failed.billedResourceUtilization).toBeUndefined();
    const fits = await start('fits');
    expect(
      (
        await waitFor(
          () => jobRun(fits.jobRunId!),
          (run) => ended(run.state),
        )
      ).state,
    ).toBe('SUCCESS');
  });

  it('honours the fault file: a job run failure and a capacity failure, each for its attempt only', async () => {
    emu.setFaults(parseFaults('{"emrServerless": {"jobRunFailure": [{"attempt": 1}], "capacityExceeded": [{"attempt": 2}]}}', 'faults.json'));
    const failing = await start('fault-1');
    const capacity = await start('fault-2', { name: 'daily-events r-fault-2 attempt 2' });
    const third = await start('fault-3', { name: 'daily-events r-fault-3 attempt 3' });

    const [a, b, c] = await Promise.all(
      [failing, capacity, third].map(({ jobRunId }) =>
        waitFor(
          () => jobRun(jobRunId!),
          (run) => ended(run.state),
        ),
      ),
    );
    expect([a.state, b.state, c.state]).toEqual(['FAILED', 'FAILED', 'SUCCESS']);
    expect(a.stateDetails).toMatch(/injected by the fault file/);
    expect(b.stateDetails).toMatch(/ApplicationMaxCapacityExceeded.*injected/);
    emu.setFaults(parseFaults('{}', 'none'));
  });

  it('answers the modelled errors', async () => {
    await expect(client.send(new GetJobRunCommand({ applicationId, jobRunId: '00fnosuchrun0000' }))).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
      $metadata: { httpStatusCode: 404 },
    });
    await expect(client.send(new GetApplicationCommand({ applicationId: '00fnosuchapp0000' }))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    await expect(start('bad-role', { executionRoleArn: 'arn:aws:iam::000000000000:user/me' })).rejects.toMatchObject({ name: 'ValidationException' });
    await expect(
      client.send(new CreateApplicationCommand({ name: 'other', releaseLabel: 'emr-7.10.0', type: 'SPARK', clientToken: 'app' })),
    ).rejects.toMatchObject({ name: 'ConflictException', $metadata: { httpStatusCode: 409 } });
  });
});

function round(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}
