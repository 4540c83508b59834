/**
 * One EMR Serverless job run with the real spark-submit (pyspark from the project's .venv, local mode), when
 * there is one: the entry point and its s3:// arguments map to local S3, the exit code decides the state, and
 * billedResourceUtilization comes from the time it really ran. Skipped (said so) without a spark-submit.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CreateApplicationCommand, EMRServerlessClient, GetJobRunCommand, StartJobRunCommand } from '@aws-sdk/client-emr-serverless';
import type { Emulator } from '../../../local/emulator';
import { startTestEmulator, waitFor } from './helpers';

const root = path.resolve(__dirname, '../../..');
const hasSpark = existsSync(path.join(root, '.venv', 'bin', 'spark-submit'));
const describeIfSpark = hasSpark ? describe : describe.skip;
if (!hasSpark) console.warn('EMR Serverless real-Spark test skipped: no .venv/bin/spark-submit');

describeIfSpark('EMR Serverless job run with the real spark-submit', () => {
  let emu: Emulator;
  beforeAll(async () => {
    ({ emu } = await startTestEmulator({ spark: { projectRoot: root } }));
  });
  afterAll(async () => {
    await emu.stop();
  });

  it('runs a PySpark entry point in local mode and bills the workers for the time it ran', async () => {
    await emu.seed({ buckets: ['scripts'] });
    const dir = path.join(emu.stateDir, 's3', 'scripts');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      path.join(dir, 'count.py'),
      'import sys\nfrom pyspark.sql import SparkSession\nn = SparkSession.builder.getOrCreate().range(int(sys.argv[1])).count()\nassert n == 1000, n\n',
    );
    const client = new EMRServerlessClient({ region: 'us-east-1', maxAttempts: 1 });
    const { applicationId } = await client.send(
      new CreateApplicationCommand({ name: 'spark', releaseLabel: 'emr-7.10.0', type: 'SPARK', clientToken: 'spark-app' }),
    );
    const { jobRunId } = await client.send(
      new StartJobRunCommand({
        applicationId,
        clientToken: 'spark-run',
        executionRoleArn: 'arn:aws:iam::000000000000:role/job',
        jobDriver: {
          sparkSubmit: { entryPoint: 's3://scripts/count.py', entryPointArguments: ['1000'], sparkSubmitParameters: '--conf spark.executor.instances=1' },
        },
      }),
    );
    const run = await waitFor(
      async () => (await client.send(new GetJobRunCommand({ applicationId, jobRunId }))).jobRun!,
      (r) => ['SUCCESS', 'FAILED'].includes(r.state!),
      240_000,
    );

    expect({ state: run.state, details: run.stateDetails }).toEqual({ state: 'SUCCESS', details: expect.stringMatching(/spark-submit/) });
    expect(emu.stats().jobRuns[0].executor).toBe('spark');
    // A 4 vCPU driver and one 4 vCPU executor (EMR Serverless's defaults), for at least a minute each.
    expect(run.billedResourceUtilization!.vCPUHour).toBeGreaterThanOrEqual(0.1333);
  }, 300_000);
});
