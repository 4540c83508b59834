import { AddJobFlowStepsCommand, DescribeStepCommand, EMRClient, RunJobFlowCommand } from '@aws-sdk/client-emr';
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseFaults, type Emulator } from '../../../local/emulator';
import { findSpark, lastErrorLine, localSparkArgs } from '../../../local/emulator/emr/spark';
import { LocalS3 } from '../../../local/emulator/s3/store';
import { startTestEmulator, waitFor } from './helpers';

const PROJECT_ROOT = path.resolve(__dirname, '..', '..', '..');
const exec = promisify(execFile);

describe('spark-submit arguments for local mode', () => {
  it('drops cluster deploy mode, runs local[2] and maps every s3:// URI to the local S3 directory', () => {
    const s3 = new LocalS3('/state/s3');

    const args = localSparkArgs(
      [
        'spark-submit',
        '--deploy-mode',
        'cluster',
        '--conf',
        'spark.eventLog.dir=s3://logs/spark/',
        's3://artifacts/spark/denormalize.py',
        '--input',
        's3://raw/events/dt=2026-11-27/',
        '--output',
        's3a://artifacts/denormalized/events/',
        '--run-date',
        '2026-11-27',
      ],
      s3,
    );

    expect(args).toEqual([
      '--master',
      'local[2]',
      '--conf',
      'spark.ui.enabled=false',
      '--conf',
      'spark.eventLog.dir=/state/s3/logs/spark',
      '/state/s3/artifacts/spark/denormalize.py',
      '--input',
      '/state/s3/raw/events/dt=2026-11-27',
      '--output',
      '/state/s3/artifacts/denormalized/events',
      '--run-date',
      '2026-11-27',
    ]);
  });

  it('picks the exception line as the failure message, from the Python output on stdout too', () => {
    const stdout = 'Traceback (most recent call last):\n  File "job.py", line 3\nValueError: bad input\n';
    const stderr = 'INFO SparkContext: starting\nINFO ShutdownHookManager: Deleting directory /tmp/spark-1\n';

    expect(lastErrorLine(stderr, stdout)).toBe('ValueError: bad input');
    expect(lastErrorLine('WARN x\norg.apache.spark.SparkException: Job aborted\nINFO done\n')).toBe('org.apache.spark.SparkException: Job aborted');
    expect(lastErrorLine('INFO a\nINFO b\n')).toBe('INFO b');
  });
});

const spark = findSpark({ projectRoot: PROJECT_ROOT });
// With CI=true a missing Spark is a failure, not a skip (issue 4).
const realSpark = spark || process.env.CI === 'true' ? describe : describe.skip;

realSpark('real spark-submit steps', () => {
  jest.setTimeout(180_000);
  let emu: Emulator;
  let emr: EMRClient;
  let clusterId: string;

  const putScript = (key: string, source: string) => {
    const file = path.join(emu.stateDir, 's3', 'artifacts', ...key.split('/'));
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, source);
  };
  const runStep = async (name: string, args: string[]) => {
    const { StepIds } = await emr.send(
      new AddJobFlowStepsCommand({
        JobFlowId: clusterId,
        Steps: [{ Name: name, ActionOnFailure: 'CONTINUE', HadoopJarStep: { Jar: 'command-runner.jar', Args: args } }],
      }),
    );
    return waitFor(
      () => emr.send(new DescribeStepCommand({ ClusterId: clusterId, StepId: StepIds![0] })).then((r) => r.Step!),
      (s) => ['COMPLETED', 'FAILED', 'CANCELLED'].includes(s.Status!.State!),
      120_000,
    );
  };

  beforeAll(async () => {
    expect(spark).not.toBeNull();
    ({ emu } = await startTestEmulator({ spark: { projectRoot: PROJECT_ROOT } }));
    emr = new EMRClient({ maxAttempts: 1 });
    putScript(
      'scripts/count.py',
      [
        'import sys',
        'from pyspark.sql import SparkSession',
        'opts = dict(zip(sys.argv[1::2], sys.argv[2::2]))',
        'spark = SparkSession.builder.appName("count").getOrCreate()',
        'rows = spark.read.text(opts["--input"]).count()',
        'spark.createDataFrame([(rows,)], ["rows"]).coalesce(1).write.mode("overwrite").json(opts["--output"])',
        'spark.stop()',
      ].join('\n'),
    );
    putScript('scripts/fail.py', 'raise ValueError("the input is not what the job expects")\n');
    putScript(
      'scripts/slow.py',
      [
        'import time',
        'from pyspark.sql import SparkSession',
        'spark = SparkSession.builder.appName("slow").getOrCreate()',
        'spark.sparkContext.parallelize(range(4), 2).foreach(lambda _: time.sleep(300))',
      ].join('\n'),
    );
    const raw = path.join(emu.stateDir, 's3', 'raw', 'events');
    mkdirSync(raw, { recursive: true });
    writeFileSync(path.join(raw, 'part-0001.json'), '{"a":1}\n{"a":2}\n{"a":3}\n');
    const created = await emr.send(
      new RunJobFlowCommand({
        Name: 'spark',
        ReleaseLabel: 'emr-7.10.0',
        LogUri: 's3://logs/emr/',
        StepConcurrencyLevel: 2,
        Tags: [{ Key: 'emrflow:attempt', Value: '1' }],
        Instances: {
          KeepJobFlowAliveWhenNoSteps: true,
          InstanceFleets: [
            { InstanceFleetType: 'MASTER', TargetOnDemandCapacity: 1, InstanceTypeConfigs: [{ InstanceType: 'm5.xlarge' }] },
            { InstanceFleetType: 'CORE', TargetOnDemandCapacity: 1, InstanceTypeConfigs: [{ InstanceType: 'r5.4xlarge' }] },
            { InstanceFleetType: 'TASK', TargetSpotCapacity: 2, InstanceTypeConfigs: [{ InstanceType: 'r5.4xlarge' }] },
          ],
        },
      }),
    );
    clusterId = created.JobFlowId!;
  });
  afterAll(async () => {
    emr?.destroy();
    await emu?.stop();
  });

  it('runs the script with real Spark over the local S3 files and completes the step', async () => {
    const step = await runStep('count attempt 1', [
      'spark-submit',
      '--deploy-mode',
      'cluster',
      's3://artifacts/scripts/count.py',
      '--input',
      's3://raw/events/',
      '--output',
      's3://artifacts/out/count/',
    ]);
    const outDir = path.join(emu.stateDir, 's3', 'artifacts', 'out', 'count');
    const part = readdirSync(outDir).find((f) => f.startsWith('part-') && f.endsWith('.json'))!;

    expect(step.Status!.State).toBe('COMPLETED');
    expect(JSON.parse(readFileSync(path.join(outDir, part), 'utf8'))).toEqual({ rows: 3 });
    expect(emu.stats().steps.find((s) => s.stepId === step.Id)!.executor).toBe('spark');
  });

  it('fails the step with the Python exception as its message and keeps the logs where EMR puts them', async () => {
    const step = await runStep('fail attempt 1', ['spark-submit', 's3://artifacts/scripts/fail.py']);
    const logs = path.join(emu.stateDir, 's3', 'logs', 'emr', clusterId, 'steps', step.Id!);

    expect(step.Status!.State).toBe('FAILED');
    expect(step.Status!.FailureDetails!.Message).toBe('ValueError: the input is not what the job expects');
    expect(readFileSync(path.join(logs, 'stdout'), 'utf8') + readFileSync(path.join(logs, 'stderr'), 'utf8')).toContain('Traceback');
  });

  it('kills the Spark processes mid-job when a Spot interruption hits the running step', async () => {
    emu.setFaults(parseFaults({ emr: { spotInterruption: [{ attempt: 1, phase: 'STEP_RUNNING' }] } }, 'test'));

    const step = await runStep('slow attempt 1', ['spark-submit', 's3://artifacts/scripts/slow.py']);
    const processesLeft = () =>
      exec('pgrep', ['-f', path.join(emu.stateDir, 's3', 'artifacts', 'scripts', 'slow.py')]).then(
        (r) => r.stdout.trim(),
        () => '',
      );
    const left = await waitFor(processesLeft, (pids) => pids === '', 5_000).catch(() => processesLeft());
    const log = readFileSync(path.join(emu.stateDir, 's3', 'logs', 'emr', clusterId, 'steps', step.Id!, 'stderr'), 'utf8');

    expect(step.Status!.State).toBe('FAILED');
    expect(step.Status!.FailureDetails!.Message).toMatch(/lost/);
    expect(log).toMatch(/DAGScheduler: Got job 0/);
    expect(left).toBe('');
  });
});
