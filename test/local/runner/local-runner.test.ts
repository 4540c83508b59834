/**
 * The runner's own pieces, without the emulator: how it reads serverless.yml, how it prepares the
 * definition for the interpreter, how failed integrations are named, and how the CLI treats bad usage.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { emrException } from '../../../local/runner/adapters/emr';
import { lambdaInvoker } from '../../../local/runner/adapters/lambda';
import { awsSdkIntegration, type SdkClients } from '../../../local/runner/adapters/sdk';
import { LOCAL_WAIT_RESOURCE, loadMachine } from '../../../local/runner/definition';
import { functionLogicalId, loadServerlessConfig, printCacheKey, type LocalFunction, type ServerlessConfig } from '../../../local/runner/serverless-config';
import { adapterFor } from '../../../local/runner/tasks';
import { eventBridgeTargets, matchesPattern } from '../../../local/runner/triggers';
import { objectCreatedEvent } from '../../../local/runner/s3Event';

const projectDir = join(__dirname, '../../..');
const scratch = mkdtempSync(join(tmpdir(), 'emrflow-runner-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let project: ServerlessConfig;
beforeAll(async () => {
  project = await loadServerlessConfig({ serviceDir: projectDir });
}, 60_000); // a cold `serverless print` (local/runner/serverless-config.ts); then cached

describe("serverless.yml, resolved for stage 'local'", () => {
  it('names functions and resources as a deployment of the local stage would', () => {
    expect(project.functions.NormalizeRequestLambdaFunction).toMatchObject({
      name: 'emrflow-local-normalizeRequest',
      arn: 'arn:aws:lambda:us-east-1:000000000000:function:emrflow-local-normalizeRequest',
      modulePath: join(projectDir, 'functions/normalize-request/handler'),
      exportName: 'handler',
    });
    expect(project.resources.ClaimsTable.physicalId).toBe('emrflow-local-ClaimsTable');
    expect(project.resources.RawBucket.physicalId).toBe('emrflow-local-rawbucket');
  });

  it("gives every Lambda the provider's environment with Refs resolved", () => {
    expect(project.functions.SizeJobLambdaFunction.environment).toMatchObject({
      RAW_BUCKET: project.resources.RawBucket.physicalId,
      RUNS_TABLE: project.resources.RunsTable.physicalId,
      CLUSTER_REGISTRY_TABLE: project.resources.ClusterRegistryTable.physicalId,
    });
  });

  it('resolves the references run-job makes: function ARNs, Ref, Fn::Sub and ${self:custom.emr.subnetIds}', async () => {
    const machine = await loadMachine(project, 'run-job', 1);

    const states = machine.deployable.States as Record<string, any>;
    expect(states.NormalizeRequest.Resource).toBe(project.functions.NormalizeRequestLambdaFunction.arn);
    expect(states.ClaimRun.Parameters.TableName).toBe('emrflow-local-ClaimsTable');
    expect(states.CreateCluster.Parameters.LogUri).toBe('s3://emrflow-local-logsbucket/emr/');
    expect(states.CreateCluster.Parameters.ServiceRole).toBe(project.resources.EmrServiceRole.physicalId);
    expect(states.CreateCluster.Parameters.Instances.Ec2SubnetIds).toEqual([]);
  });

  it('takes Serverless variables as osls resolves them, evaluates the intrinsics itself, and caches the print', async () => {
    // Prepare
    const dir = mkdtempSync(join(scratch, 'service-'));
    writeFileSync(join(dir, 'settings.json'), JSON.stringify({ retention: { days: 7 } }));
    writeFileSync(
      join(dir, 'serverless.yml'),
      [
        'service: demo',
        "frameworkVersion: '4'",
        'params:',
        '  default: { size: small }',
        '  local: { size: tiny }',
        'provider:',
        '  name: aws',
        '  runtime: nodejs22.x',
        "  stage: ${opt:stage, 'dev'}",
        '  region: ${opt:region, "eu-west-1"}',
        '  environment:',
        '    SIZE: ${param:size}',
        '    DAYS: ${file(./settings.json):retention.days}',
        '    NAME: ${self:service}-${sls:stage}-${self:custom.suffix}',
        '    FALLBACK: ${param:missing, self:custom.suffix}',
        "    QUEUE: !Sub 'arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${Queue}'",
        'custom:',
        '  suffix: x',
        'functions:',
        '  doIt: { handler: src/do-it.handler }',
        'resources:',
        '  Resources:',
        "    Queue: { Type: AWS::SQS::Queue, Properties: { QueueName: 'q-${sls:stage}' } }",
      ].join('\n'),
    );

    // Act
    const cold = Date.now();
    const config = await loadServerlessConfig({ serviceDir: dir });
    const coldMs = Date.now() - cold;
    const warm = Date.now();
    await loadServerlessConfig({ serviceDir: dir });
    const warmMs = Date.now() - warm;

    // Assess
    console.log(`serverless print for stage local: ${coldMs} ms cold (osls), ${warmMs} ms from the cache`);
    expect(config.region).toBe('eu-west-1');
    expect(config.functions[functionLogicalId('doIt')].environment).toEqual({
      SIZE: 'tiny',
      DAYS: '7',
      NAME: 'demo-local-x',
      FALLBACK: 'x',
      QUEUE: 'arn:aws:sqs:eu-west-1:000000000000:q-local',
    });
    expect(readdirSync(join(dir, 'node_modules/.cache/emrflow-serverless-print')).filter((f) => f.endsWith('.json'))).toEqual([
      `local-${printCacheKey(dir, 'local')}.json`,
    ]);
    await expect(config.resolve({ Ref: 'Nope' })).rejects.toThrow('Ref to unknown logical id Nope');
  }, 60_000);

  it('keys the cache on every file serverless print reads and on the stage', () => {
    // Prepare
    const dir = mkdtempSync(join(scratch, 'service-'));
    mkdirSync(join(dir, 'infra'));
    writeFileSync(join(dir, 'serverless.yml'), 'service: demo\n');
    writeFileSync(join(dir, 'infra/x.js'), 'module.exports = 1;\n');
    const before = printCacheKey(dir, 'local');

    // Act
    writeFileSync(join(dir, 'infra/x.js'), 'module.exports = 2;\n');

    // Assess
    expect(printCacheKey(dir, 'local')).not.toBe(before);
    expect(printCacheKey(dir, 'dev')).not.toBe(printCacheKey(dir, 'local'));
    expect(printCacheKey(dir, 'local')).toBe(printCacheKey(dir, 'local'));
  });

  it('names a variable osls cannot resolve', async () => {
    const dir = mkdtempSync(join(scratch, 'service-'));
    writeFileSync(
      join(dir, 'serverless.yml'),
      ['service: demo', "frameworkVersion: '4'", 'provider: { name: aws, runtime: nodejs22.x }', 'custom: { size: ${param:nope} }'].join('\n'),
    );

    await expect(loadServerlessConfig({ serviceDir: dir })).rejects.toThrow(/serverless print --stage local failed[\s\S]*nope/);
  }, 60_000);

  it("starts run-job for a job's trigger key in the raw bucket (a partition's _SUCCESS), and for nothing else", async () => {
    const event = (bucket: string, key: string) => objectCreatedEvent({ bucket, key, size: 1, etag: 'e' }, { region: 'us-east-1', accountId: '000000000000' });
    const raw = project.resources.RawBucket.physicalId;

    expect(await eventBridgeTargets(project, event(raw, 'events/dt=2026-11-26/_SUCCESS'))).toEqual(['run-job']);
    expect(await eventBridgeTargets(project, event(raw, 'events/dt=2026-11-26/part-0001.json'))).toEqual([]);
    expect(await eventBridgeTargets(project, event(raw, 'elsewhere/dt=2026-11-26/_SUCCESS'))).toEqual([]);
    expect(await eventBridgeTargets(project, event(project.resources.LogsBucket.physicalId, 'events/dt=2026-11-26/_SUCCESS'))).toEqual([]);
  });

  it('matches EventBridge patterns: literals, prefix, suffix, wildcard, numeric, $or, exists and anything-but', () => {
    expect(matchesPattern({ a: [{ prefix: 'ev' }], b: { c: ['x', 'y'] } }, { a: 'events', b: { c: 'y' } })).toBe(true);
    expect(matchesPattern({ a: [{ suffix: '.json' }] }, { a: 'k.csv' })).toBe(false);
    expect(matchesPattern({ a: [{ exists: false }] }, {})).toBe(true);
    expect(matchesPattern({ a: [{ 'anything-but': ['x'] }] }, { a: 'x' })).toBe(false);
    expect(matchesPattern({ a: [{ 'anything-but': { suffix: '/' } }] }, { a: 'x/' })).toBe(false);
    expect(matchesPattern({ k: [{ wildcard: 'ev/*/_SUCCESS' }] }, { k: 'ev/dt=1/h=2/_SUCCESS' })).toBe(true);
    expect(matchesPattern({ k: [{ wildcard: 'ev/*/_SUCCESS' }] }, { k: 'ev/_SUCCESS' })).toBe(false);
    expect(matchesPattern({ k: [{ wildcard: 'ev/*/_SUCCESS' }] }, { k: 'ev/dt=1/x_SUCCESS' })).toBe(false);
    expect(matchesPattern({ k: [{ wildcard: 'a\\*b*' }] }, { k: 'a*bc' })).toBe(true);
    expect(matchesPattern({ k: [{ wildcard: 'a\\*b*' }] }, { k: 'axbc' })).toBe(false);
    expect(matchesPattern({ n: [{ numeric: ['>', 0] }] }, { n: 0 })).toBe(false);
    expect(matchesPattern({ n: [{ numeric: ['>', 0, '<=', 5] }] }, { n: 5 })).toBe(true);
    expect(matchesPattern({ d: { $or: [{ a: ['1'] }, { b: ['2'] }] } }, { d: { b: '2' } })).toBe(true);
    expect(matchesPattern({ d: { $or: [{ a: ['1'] }, { b: ['2'] }] } }, { d: { a: '2' } })).toBe(false);
    expect(() => matchesPattern({ a: [{ cidr: '10.0.0.0/8' }] }, { a: '10.1.1.1' })).toThrow('not supported by the local runner');
  });
});

describe('the local copy of the definition', () => {
  it('runs Waits as runner-timed tasks and compresses Retry intervals by the time scale', async () => {
    const machine = await loadMachine(project, 'run-job', 0.001);

    expect(machine.local.States.WaitForCrawler).toMatchObject({ Type: 'Task', Resource: LOCAL_WAIT_RESOURCE, Next: 'GetCrawler' });
    expect(machine.waits.BackoffBeforeRetry.SecondsPath).toBe('$.failure.backoffSeconds');
    expect(machine.stateTypes.WaitForCrawler).toBe('Wait');
    expect(machine.local.States.AcquireCapacity.Retry![0]).toMatchObject({ ErrorEquals: ['States.HeartbeatTimeout'], IntervalSeconds: 0.005 });
    expect(machine.deployable.States.AcquireCapacity.Retry![0]).toMatchObject({ IntervalSeconds: 5 });
  });
});

describe('integration errors, named as Step Functions names them', () => {
  const fn = (source: string): LocalFunction => {
    const modulePath = join(scratch, `fn-${Math.random().toString(36).slice(2)}`);
    writeFileSync(`${modulePath}.js`, source);
    return {
      key: 'f',
      logicalId: 'FLambdaFunction',
      name: 'svc-local-f',
      arn: 'arn:aws:lambda:us-east-1:000000000000:function:svc-local-f',
      modulePath,
      exportName: 'handler',
      timeoutSeconds: 1,
      memoryMb: 128,
      environment: { GREETING: 'hi' },
    };
  };
  const invoker = (f: LocalFunction) => lambdaInvoker({ region: 'us-east-1', functions: { [f.logicalId]: f } } as unknown as ServerlessConfig, () => ({}));

  it('a Lambda error keeps its name as Error; the Cause is the JSON Lambda reports', async () => {
    const f = fn("exports.handler = async () => { const e = new Error('job: \"x\" is unknown'); e.name = 'Request.Invalid'; throw e; };");

    const failure = (await invoker(f)
      .invoke(f, {})
      .catch((error: unknown) => error)) as Error;

    expect(failure.name).toBe('Request.Invalid');
    expect(JSON.parse(failure.message)).toMatchObject({ errorType: 'Request.Invalid', errorMessage: 'job: "x" is unknown', trace: expect.any(Array) });
  });

  it('a Lambda runs with its environment and past its timeout fails as Sandbox.Timedout', async () => {
    const greeter = fn('exports.handler = async (event) => ({ said: process.env.GREETING, to: event.name });');
    const sleeper = fn('exports.handler = () => new Promise((resolve) => setTimeout(resolve, 1500));');

    expect(await invoker(greeter).invoke(greeter, { name: 'x' })).toEqual({ said: 'hi', to: 'x' });
    await expect(invoker(sleeper).invoke(sleeper, {})).rejects.toMatchObject({ name: 'Sandbox.Timedout' });
  });

  it('lambda:invoke wraps the result as { Payload, StatusCode, ExecutedVersion }', async () => {
    const f = fn('exports.handler = async (event) => ({ doubled: event.n * 2 });');
    const context = { lambda: invoker(f) } as any;

    const result = await adapterFor('Invoke', 'arn:aws:states:::lambda:invoke', context)({ FunctionName: `${f.arn}:$LATEST`, Payload: { n: 21 } });

    expect(result).toEqual({ ExecutedVersion: '$LATEST', Payload: { doubled: 42 }, StatusCode: 200 });
  });

  it('an EMR API error becomes EMR.AmazonElasticMapReduceException with the error code in the Cause', () => {
    const sdkError = Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400, requestId: 'r-1' } });

    const failure = emrException(sdkError);

    expect(failure.name).toBe('EMR.AmazonElasticMapReduceException');
    expect(failure.message).toBe(
      'Rate exceeded (Service: AmazonElasticMapReduce; Status Code: 400; Error Code: ThrottlingException; Request ID: r-1; Proxy: null)',
    );
  });

  it('an aws-sdk error is <Service>.<Name>, with "Exception" appended where the API name lacks it', async () => {
    const failing = (name: string): SdkClients => ({
      clientFor: () => ({
        module: { StartCrawlerCommand: class {}, GetObjectCommand: class {} },
        send: async () => Promise.reject(Object.assign(new Error('nope'), { name })),
      }),
    });

    await expect(awsSdkIntegration('glue', 'startCrawler', failing('CrawlerRunningException'))({ Name: 'c' })).rejects.toMatchObject({
      name: 'Glue.CrawlerRunningException',
    });
    await expect(awsSdkIntegration('s3', 'getObject', failing('NoSuchKey'))({})).rejects.toMatchObject({ name: 'S3.NoSuchKeyException' });
  });

  it('an unsupported Resource is refused when the handlers are built, naming the state', () => {
    expect(() => adapterFor('Enqueue', 'arn:aws:states:::sqs:sendMessage', {} as any)).toThrow(
      'Task Enqueue: the local runner has no adapter for arn:aws:states:::sqs:sendMessage',
    );
    // sns:publish and startExecution.sync:2 are run-batch's: they need the runtime's Step Functions context.
    expect(() => adapterFor('Publish', 'arn:aws:states:::sns:publish', {} as any)).toThrow(
      "Task Publish: arn:aws:states:::sns:publish needs the runtime's Step Functions context",
    );
  });
});

describe('emrflow CLI usage', () => {
  const emrflow = (...args: string[]) => spawnSync(join(projectDir, 'bin/emrflow'), args, { encoding: 'utf8' });

  it('rejects a bad option value with exit status 2 and says which option', () => {
    const input = join(scratch, 'input.json');
    writeFileSync(input, '{}');

    const result = emrflow('run', input, '--time-scale=-1');

    expect(result.status).toBe(2);
    expect(result.stderr).toContain('--time-scale: must be a number ≥ 0, got "-1"');
    expect(result.stdout).toBe('');
  });
});
