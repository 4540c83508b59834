import { join } from 'node:path';
import { runStepName } from '../../lib/domain/runRecord';
import { EmrApiError } from '../../lib/errors';
import { loadDefinition, runScripted, SCRIPTED_TASK_TOKEN, type TaskScript } from '../support/scriptedRun';

const definition = loadDefinition(join(__dirname, '../../statemachines/run-job.asl.yml'));

const request = {
  runId: 'r-5f2c',
  trigger: 's3',
  runDate: '2026-11-27',
  job: { name: 'denormalize-events', maxAttempts: 3 },
  input: { bucket: 'raw', key: 'events/dt=2026-11-27/', uri: 's3://raw/events/dt=2026-11-27/' },
  output: { bucket: 'artifacts', key: 'denormalized/events/', uri: 's3://artifacts/denormalized/events/' },
  claimExpiresAt: 1_800_000_000,
  crawl: { required: false, crawler: null, reason: 'partition dt=2026-11-27 is registered' },
};
const crawlingRequest = {
  ...request,
  crawl: { required: true, crawler: 'emrflow-raw-events', reason: 'partition dt=2026-11-27 is not registered' },
};
const sizing = { inputBytes: 5e9, stepTimeoutSeconds: 1800, stepArgs: ['spark-submit', 's3://artifacts/spark/denormalize.py'] };
const fleet = (onDemandUnits: number, spotUnits: number) => ({
  onDemandUnits,
  spotUnits,
  instanceTypeConfigs: [{ InstanceType: 'r5.4xlarge', WeightedCapacity: 4 }],
});
const dedicated = (attempt: number) => ({
  mode: 'dedicated',
  cluster: {},
  slot: null,
  onDemandShare: attempt === 1 ? 0.25 : 1,
  reasons: [],
  spec: {
    name: `emrflow denormalize-events r-5f2c #${attempt}`,
    releaseLabel: 'emr-7.10.0',
    primary: { instanceTypeConfigs: [{ InstanceType: 'm5.xlarge', WeightedCapacity: 1 }] },
    core: fleet(2, 0),
    task: attempt === 1 ? fleet(2, 6) : fleet(8, 0),
    spotTimeoutMinutes: 10,
    idleTimeoutSeconds: 900,
    stepConcurrencyLevel: 1,
    configurations: [],
    tags: [{ Key: 'emrflow:app', Value: 'emrflow' }],
  },
  hourlyCostUsd: 12.5,
});
const pooled = (attempt = 1) => ({
  mode: 'pool',
  cluster: {},
  pool: { name: 'shared', units: 4, priority: attempt === 1 ? 'normal' : 'high' },
  slot: null,
  onDemandShare: 0.5,
  reasons: [],
  spec: null,
  hourlyCostUsd: 0,
});
/** What the dispatcher sends AcquireCapacity's token (lib/jobManager/ports.ts Slot). */
const slot = (clusterId: string, attempt = 1) => ({
  pool: 'shared',
  clusterId,
  lease: `scripted-execution#${attempt}`,
  units: 4,
  leaseExpiresAt: 1_900_000_000_000,
});
const POOLED_STEP_DONE = {
  Step: {
    Id: 's-POOLED',
    Name: 'denormalize-events run-1 attempt 1',
    Status: { State: 'COMPLETED', Timeline: { StartDateTime: '2026-11-27T10:00:00Z', EndDateTime: '2026-11-27T10:02:00Z' } },
  },
};

const spotFailure = {
  kind: 'Emr.SpotInterrupted',
  message: 'Spot capacity lost on j-AAA during step s-1',
  clusterId: 'j-AAA',
  retry: true,
  nextAttempt: 2,
  backoffSeconds: 60,
  teardown: 'terminate',
  evidence: {},
};
const ok = (value: unknown = {}) => [{ return: value }];
const fail = (name: string, message: string) => ({ throw: { name, message } });

const happyScript = (): TaskScript => ({
  NormalizeRequest: ok({ request, attempt: 1 }),
  ClaimRun: ok(),
  SizeJob: ok(sizing),
  PlaceJob: ok(dedicated(1)),
  CreateCluster: ok({ ClusterId: 'j-AAA', ClusterArn: 'arn:aws:elasticmapreduce:us-east-1:1:cluster/j-AAA' }),
  RunSparkStep: ok({ StepId: 's-1' }),
  TerminateCluster: ok(),
  RecordRun: ok({ status: 'SUCCEEDED' }),
});

describe('run-job routing (scripted services, real definition)', () => {
  it('HappyPath: creates a dedicated cluster, runs the step, terminates and records in 10 transitions', async () => {
    const outcome = await runScripted(definition, { job: 'denormalize-events' }, happyScript());

    expect(outcome.status).toBe('SUCCEEDED');
    expect(outcome.path).toEqual([
      'NormalizeRequest',
      'ClaimRun',
      'CheckCatalog',
      'SizeJob',
      'PlaceJob',
      'RouteByPlacement',
      'CreateCluster',
      'RunSparkStep',
      'TerminateCluster',
      'RecordRun',
    ]);
    expect(outcome.transitions).toBe(10);
    expect(outcome.taskInputs.RunSparkStep[0]).toMatchObject({
      ClusterId: 'j-AAA',
      Step: { ActionOnFailure: 'CONTINUE', HadoopJarStep: { Jar: 'command-runner.jar', Args: sizing.stepArgs } },
    });
    expect(outcome.taskInputs.TerminateCluster[0]).toEqual({ ClusterId: 'j-AAA' });
    expect(outcome.output.record).toEqual({ status: 'SUCCEEDED' });
  });

  it('names the step as RecordRun and ClassifyFailure look it up (lib/domain/runRecord runStepName)', async () => {
    const outcome = await runScripted(definition, {}, happyScript());

    expect((outcome.taskInputs.RunSparkStep[0] as any).Step.Name).toBe(runStepName(request as any, 1));
  });

  it('sends the fleets with Spot, SWITCH_TO_ON_DEMAND and the placement tags to CreateCluster', async () => {
    const outcome = await runScripted(definition, {}, happyScript());

    const create: any = outcome.taskInputs.CreateCluster[0];
    const [primary, core, task] = create.Instances.InstanceFleets;
    expect(primary).toMatchObject({ InstanceFleetType: 'MASTER', TargetOnDemandCapacity: 1 });
    expect(core).toMatchObject({ InstanceFleetType: 'CORE', TargetOnDemandCapacity: 2, TargetSpotCapacity: 0 });
    expect(task).toMatchObject({ InstanceFleetType: 'TASK', TargetOnDemandCapacity: 2, TargetSpotCapacity: 6 });
    expect(task.LaunchSpecifications.SpotSpecification).toEqual({
      TimeoutDurationMinutes: 10,
      TimeoutAction: 'SWITCH_TO_ON_DEMAND',
      AllocationStrategy: 'price-capacity-optimized',
    });
    expect(create.Tags).toEqual([{ Key: 'emrflow:app', Value: 'emrflow' }]);
    expect(create.AutoTerminationPolicy).toEqual({ IdleTimeout: 900 });
    expect(create.Instances.KeepJobFlowAliveWhenNoSteps).toBe(true);
  });

  it('DuplicateRun: a claimed run id ends in Succeed without sizing or creating anything', async () => {
    const script = { ...happyScript(), ClaimRun: [fail('DynamoDB.ConditionalCheckFailedException', 'The conditional request failed')] };

    const outcome = await runScripted(definition, {}, script);

    expect(outcome.status).toBe('SUCCEEDED');
    expect(outcome.path).toEqual(['NormalizeRequest', 'ClaimRun', 'DuplicateRun']);
  });

  it('InvalidRequest: fails with Request.Invalid and the field in the cause, before any claim', async () => {
    const script = { ...happyScript(), NormalizeRequest: [fail('Request.Invalid', 'job: "nope" is not in config/jobs.json')] };

    const outcome = await runScripted(definition, {}, script);

    expect(outcome.status).toBe('FAILED');
    expect(outcome.error).toBe('Request.Invalid');
    expect(outcome.cause).toContain('job: "nope"');
    expect(outcome.path).toEqual(['NormalizeRequest', 'RequestInvalid']);
  });

  it('CrawlThenRun: crawls when the partition is missing and polls until the crawl succeeded', async () => {
    const script: TaskScript = {
      ...happyScript(),
      NormalizeRequest: ok({ request: crawlingRequest, attempt: 1 }),
      StartCrawler: ok(),
      GetCrawler: [{ return: { Crawler: { State: 'RUNNING' } } }, { return: { Crawler: { State: 'READY', LastCrawl: { Status: 'SUCCEEDED' } } } }],
    };

    const outcome = await runScripted(definition, {}, script);

    expect(outcome.status).toBe('SUCCEEDED');
    expect(outcome.path.slice(2, 10)).toEqual([
      'CheckCatalog',
      'StartCrawler',
      'WaitForCrawler',
      'GetCrawler',
      'CrawlFinished',
      'WaitForCrawler',
      'GetCrawler',
      'CrawlFinished',
    ]);
    expect(outcome.taskInputs.StartCrawler[0]).toEqual({ Name: 'emrflow-raw-events' });
  });

  it('CrawlerAlreadyRunning: waits for the running crawl instead of failing', async () => {
    const script: TaskScript = {
      ...happyScript(),
      NormalizeRequest: ok({ request: crawlingRequest, attempt: 1 }),
      StartCrawler: [fail('Glue.CrawlerRunningException', 'Crawler with name emrflow-raw-events has already started')],
      GetCrawler: ok({ Crawler: { State: 'READY', LastCrawl: { Status: 'SUCCEEDED' } } }),
    };

    const outcome = await runScripted(definition, {}, script);

    expect(outcome.status).toBe('SUCCEEDED');
    expect(outcome.path).toContain('WaitForCrawler');
    expect(outcome.path).toContain('SizeJob');
  });

  it('CrawlFailed: a FAILED crawl stops the run before sizing, with nothing created', async () => {
    const script: TaskScript = {
      ...happyScript(),
      NormalizeRequest: ok({ request: crawlingRequest, attempt: 1 }),
      StartCrawler: ok(),
      GetCrawler: ok({ Crawler: { State: 'READY', LastCrawl: { Status: 'FAILED', ErrorMessage: 'boom' } } }),
    };

    const outcome = await runScripted(definition, {}, script);

    expect(outcome.status).toBe('FAILED');
    expect(outcome.error).toBe('Glue.CrawlFailed');
    expect(outcome.path).not.toContain('SizeJob');
  });

  it('CrawlerNeverRan: a READY crawler without a LastCrawl fails as Glue.CrawlFailed, not States.Runtime', async () => {
    const script: TaskScript = {
      ...happyScript(),
      NormalizeRequest: ok({ request: crawlingRequest, attempt: 1 }),
      StartCrawler: ok(),
      GetCrawler: ok({ Crawler: { State: 'READY' } }),
    };

    const outcome = await runScripted(definition, {}, script);

    expect({ status: outcome.status, error: outcome.error }).toEqual({ status: 'FAILED', error: 'Glue.CrawlFailed' });
  });

  it('SpotRetry: terminates the interrupted cluster, backs off, and places attempt 2 with its own cluster', async () => {
    const script: TaskScript = {
      ...happyScript(),
      PlaceJob: [{ return: dedicated(1) }, { return: dedicated(2) }],
      CreateCluster: [{ return: { ClusterId: 'j-AAA' } }, { return: { ClusterId: 'j-BBB' } }],
      RunSparkStep: [fail('States.TaskFailed', '{"Step":{"Status":{"State":"FAILED"}}}'), { return: {} }],
      ClassifyFailure: ok(spotFailure),
      TerminateBeforeRetry: ok(),
    };

    const outcome = await runScripted(definition, {}, script);

    expect(outcome.status).toBe('SUCCEEDED');
    expect(outcome.taskInputs.TerminateBeforeRetry).toEqual([{ ClusterId: 'j-AAA' }]);
    expect(outcome.taskInputs.PlaceJob.map((input: any) => input.attempt)).toEqual([1, 2]);
    expect(outcome.taskInputs.TerminateCluster).toEqual([{ ClusterId: 'j-BBB' }]);
    expect((outcome.taskInputs.ClassifyFailure[0] as any).error.Error).toBe('States.TaskFailed');
    expect(outcome.transitions).toBe(19);
  });

  it('StepFailed: a failure that is not Spot tears the cluster down, records the run and fails with its kind', async () => {
    const script: TaskScript = {
      ...happyScript(),
      RunSparkStep: [fail('States.TaskFailed', '{"Step":{"Status":{"State":"FAILED"}}}')],
      ClassifyFailure: ok({ ...spotFailure, kind: 'Emr.StepFailed', message: 'step s-1 failed: exit 1', retry: false }),
      TerminateAfterFailure: ok(),
      RecordFailedRun: ok({ status: 'FAILED' }),
    };

    const outcome = await runScripted(definition, {}, script);

    expect(outcome.status).toBe('FAILED');
    expect(outcome.error).toBe('Emr.StepFailed');
    expect(outcome.cause).toBe('step s-1 failed: exit 1');
    expect(outcome.taskInputs.TerminateAfterFailure).toEqual([{ ClusterId: 'j-AAA' }]);
    expect(outcome.path.slice(-3)).toEqual(['TerminateAfterFailure', 'RecordFailedRun', 'JobFailed']);
  });

  it('StepTimedOut: a step running past the sized timeout is caught as States.Timeout and classified', async () => {
    const script: TaskScript = {
      ...happyScript(),
      RunSparkStep: [{ hang: true }],
      ClassifyFailure: ok({ ...spotFailure, kind: 'Emr.StepTimedOut', message: 'step ran past 1800 s', retry: false }),
      TerminateAfterFailure: ok(),
      RecordFailedRun: ok({ status: 'FAILED' }),
    };

    const outcome = await runScripted(definition, {}, script);

    expect((outcome.taskInputs.ClassifyFailure[0] as any).error.Error).toBe('States.Timeout');
    expect(outcome.error).toBe('Emr.StepTimedOut');
    expect(outcome.taskInputs.TerminateAfterFailure).toEqual([{ ClusterId: 'j-AAA' }]);
  });

  const emrApiError = (code: string, message: string) =>
    fail(
      'EMR.AmazonElasticMapReduceException',
      `${message} (Service: AmazonElasticMapReduce; Status Code: 400; Error Code: ${code}; Request ID: r-1; Proxy: null)`,
    );

  it('CreateClusterThrottled: a throttled RunJobFlow waits and is tried again', async () => {
    const script: TaskScript = {
      ...happyScript(),
      CreateCluster: [emrApiError('ThrottlingException', 'Rate exceeded'), ...ok({ ClusterId: 'j-AAA' })],
    };

    const outcome = await runScripted(definition, {}, script);

    expect(outcome.status).toBe('SUCCEEDED');
    expect(outcome.taskInputs.CreateCluster).toHaveLength(2);
    expect(outcome.path).toEqual(expect.arrayContaining(['CreateClusterRejected', 'FirstCreateThrottle', 'WaitToCreateCluster']));
    expect(outcome.taskInputs.ClassifyFailure).toBeUndefined();
  });

  it('CreateClusterDenied: an AccessDenied or validation error under the same name fails at once, without retries', async () => {
    for (const code of ['AccessDeniedException', 'ValidationException']) {
      const script: TaskScript = {
        ...happyScript(),
        CreateCluster: [emrApiError(code, 'not allowed'), ...ok({ ClusterId: 'j-AAA' })],
        ClassifyFailure: ok({ ...spotFailure, kind: 'Emr.ClusterFailed', message: code, retry: false, teardown: 'none' }),
        RecordFailedRun: ok({ status: 'FAILED' }),
      };

      const outcome = await runScripted(definition, {}, script);

      expect({ code, calls: outcome.taskInputs.CreateCluster.length, status: outcome.status }).toEqual({ code, calls: 1, status: 'FAILED' });
      expect(outcome.path).not.toContain('WaitToCreateCluster');
    }
  });

  it('CreateClusterThrottledForGood: stops after 4 throttled retries and classifies the failure', async () => {
    const script: TaskScript = {
      ...happyScript(),
      CreateCluster: [emrApiError('ThrottlingException', 'Rate exceeded')],
      ClassifyFailure: ok({ ...spotFailure, kind: 'Emr.ClusterFailed', message: 'throttled', retry: false, teardown: 'none' }),
      RecordFailedRun: ok({ status: 'FAILED' }),
    };

    const outcome = await runScripted(definition, {}, script);

    expect(outcome.taskInputs.CreateCluster).toHaveLength(5);
    expect(outcome.taskInputs.ClassifyFailure).toHaveLength(1);
    expect((outcome.taskInputs.ClassifyFailure[0] as any).error.Cause).toContain('ThrottlingException');
  });

  it('ClusterNeverCame: a createCluster failure with nothing left to terminate records and fails', async () => {
    const script: TaskScript = {
      ...happyScript(),
      CreateCluster: [fail('States.TaskFailed', '{"Cluster":{"Id":"j-AAA","Status":{"State":"TERMINATED_WITH_ERRORS"}}}')],
      ClassifyFailure: ok({ ...spotFailure, kind: 'Emr.ClusterFailed', message: 'bootstrap failed', retry: false, teardown: 'none' }),
      RecordFailedRun: ok({ status: 'FAILED' }),
    };

    const outcome = await runScripted(definition, {}, script);

    expect(outcome.status).toBe('FAILED');
    expect(outcome.error).toBe('Emr.ClusterFailed');
    expect(outcome.path).not.toContain('RunSparkStep');
    expect(outcome.path).not.toContain('TerminateAfterFailure');
  });

  it("ClassifyFailureUnavailable: still terminates the cluster, then fails with the classifier's error", async () => {
    const script: TaskScript = {
      ...happyScript(),
      RunSparkStep: [fail('States.TaskFailed', '{"Step":{"Status":{"State":"FAILED"}}}')],
      ClassifyFailure: [fail('Lambda.ServiceException', 'Lambda is unavailable')],
      TerminateUnclassified: ok(),
    };

    const outcome = await runScripted(definition, {}, script);

    expect(outcome.status).toBe('FAILED');
    expect(outcome.error).toBe('Lambda.ServiceException');
    expect(outcome.taskInputs.ClassifyFailure).toHaveLength(4);
    expect(outcome.taskInputs.TerminateUnclassified).toEqual([{ ClusterId: 'j-AAA' }]);
  });

  it('ClassifyFailureUnavailable before any cluster: fails without a teardown', async () => {
    const script: TaskScript = {
      ...happyScript(),
      CreateCluster: [fail('States.TaskFailed', '{"Cluster":{"Id":"j-AAA"}}')],
      ClassifyFailure: [fail('Lambda.ServiceException', 'Lambda is unavailable')],
      RecordUnclassifiedRun: ok({ status: 'FAILED' }),
    };

    const outcome = await runScripted(definition, {}, script);

    expect(outcome.status).toBe('FAILED');
    expect(outcome.path.slice(-3)).toEqual(['TeardownUnclassified', 'RecordUnclassifiedRun', 'ClassificationFailed']);
  });

  describe('pooled jobs', () => {
    const pooledScript = (): TaskScript => ({
      ...happyScript(),
      PlaceJob: ok(pooled()),
      AcquireCapacity: ok(slot('j-POOL1')),
      // What SettleSteps sends the token: the step as EMR's events reported it.
      RunPooledStep: ok(POOLED_STEP_DONE),
      ReleaseCapacity: ok({ released: true }),
    });

    it('PooledHappyPath: parks for a lease, runs on its cluster, releases it, in 10 transitions (budget 12)', async () => {
      const outcome = await runScripted(definition, {}, pooledScript());

      expect(outcome.status).toBe('SUCCEEDED');
      expect(outcome.path).toEqual([
        'NormalizeRequest',
        'ClaimRun',
        'CheckCatalog',
        'SizeJob',
        'PlaceJob',
        'RouteByPlacement',
        'AcquireCapacity',
        'RunPooledStep',
        'ReleaseCapacity',
        'RecordRun',
      ]);
      expect(outcome.transitions).toBe(10);
      expect(outcome.transitions).toBeLessThanOrEqual(12);
      expect(outcome.path).not.toContain('CreateCluster');
      expect(outcome.path).not.toContain('TerminateCluster');
    });

    it('asks acquire-capacity for the pool, units and priority PlaceJob chose, with the task token and the step timeout', async () => {
      const outcome = await runScripted(definition, {}, pooledScript());

      expect(outcome.taskInputs.AcquireCapacity[0]).toEqual({
        FunctionName: { 'Fn::GetAtt': ['AcquireCapacityLambdaFunction', 'Arn'] },
        Payload: {
          pool: 'shared',
          units: 4,
          priority: 'normal',
          holdSeconds: sizing.stepTimeoutSeconds,
          execution: 'scripted-execution',
          attempt: 1,
          taskToken: SCRIPTED_TASK_TOKEN,
          // The step the dispatcher submits in its per-cluster batch when it grants the lease.
          step: { Name: runStepName(request as any, 1), ActionOnFailure: 'CONTINUE', HadoopJarStep: { Jar: 'command-runner.jar', Args: sizing.stepArgs } },
        },
      });
      expect(outcome.heartbeats.AcquireCapacity).toEqual([900]);
    });

    it('submits the step on the leased cluster, named as RecordRun and ClassifyFailure look it up, waits on its token, and releases that lease', async () => {
      const outcome = await runScripted(definition, {}, pooledScript());

      expect(outcome.taskInputs.RunPooledStep[0]).toMatchObject({
        FunctionName: expect.anything(),
        Payload: {
          clusterId: 'j-POOL1',
          step: { Name: runStepName(request as any, 1), ActionOnFailure: 'CONTINUE', HadoopJarStep: { Args: sizing.stepArgs } },
          execution: expect.any(String),
          taskToken: SCRIPTED_TASK_TOKEN,
        },
      });
      expect(outcome.heartbeats.RunPooledStep).toEqual([900]);
      expect(outcome.output.pooledStep).toEqual(POOLED_STEP_DONE);
      // The whole slot (InputPath): release reads the step id a batched grant's slot carries, when it has one.
      expect(outcome.taskInputs.ReleaseCapacity).toEqual([slot('j-POOL1')]);
      expect(outcome.output.placement.slot).toEqual(slot('j-POOL1'));
    });

    it("passes a batched grant's step id to ReleaseCapacity (release reads that step alone); the tests above pass a slot without one", async () => {
      const batched = { ...slot('j-POOL1'), stepId: 's-BATCHED' };
      const outcome = await runScripted(definition, {}, { ...pooledScript(), AcquireCapacity: ok(batched) });

      expect(outcome.status).toBe('SUCCEEDED');
      expect(outcome.taskInputs.ReleaseCapacity).toEqual([batched]);
      expect(outcome.output.placement.slot).toEqual(batched);
    });

    it('PooledSpotRetry: releases the lease before the retry and parks attempt 2 for a new one elsewhere', async () => {
      const script: TaskScript = {
        ...pooledScript(),
        PlaceJob: [{ return: pooled(1) }, { return: pooled(2) }],
        AcquireCapacity: [{ return: slot('j-POOL1', 1) }, { return: slot('j-POOL2', 2) }],
        RunPooledStep: [fail('States.TaskFailed', '{"Step":{"Status":{"State":"FAILED"}}}'), { return: POOLED_STEP_DONE }],
        ClassifyFailure: ok({ ...spotFailure, clusterId: 'j-POOL1', teardown: 'release' }),
        ReleaseCapacityBeforeRetry: ok({ released: true }),
      };

      const outcome = await runScripted(definition, {}, script);

      expect(outcome.status).toBe('SUCCEEDED');
      expect(outcome.taskInputs.ReleaseCapacityBeforeRetry).toEqual([slot('j-POOL1')]);
      expect((outcome.taskInputs.AcquireCapacity as any[]).map((input) => [input.Payload.attempt, input.Payload.priority])).toEqual([
        [1, 'normal'],
        [2, 'high'],
      ]);
      expect((outcome.taskInputs.RunPooledStep as any[]).map((input) => input.Payload.clusterId)).toEqual(['j-POOL1', 'j-POOL2']);
      expect(outcome.taskInputs.ReleaseCapacity).toEqual([slot('j-POOL2', 2)]);
      expect(outcome.path).not.toContain('TerminateBeforeRetry');
    });

    /** What SubmitPooledStep throws for an AddJobFlowSteps error the SDK raised (lib/errors.ts EmrApiError.from). */
    const addStepError = (code: string, message: string) => {
      const error = EmrApiError.from(Object.assign(new Error(message), { name: code, $metadata: { httpStatusCode: 400, requestId: 'r-1' } }));
      return fail(error.name, error.message);
    };

    it('PooledStepThrottled: a throttled AddJobFlowSteps is submitted again and the job succeeds on the same lease', async () => {
      const script: TaskScript = {
        ...pooledScript(),
        RunPooledStep: [
          addStepError('ThrottlingException', 'Rate exceeded'),
          addStepError('ThrottlingException', 'Rate exceeded'),
          { return: POOLED_STEP_DONE },
        ],
      };

      const outcome = await runScripted(definition, {}, script);

      expect(outcome.status).toBe('SUCCEEDED');
      expect(outcome.taskInputs.RunPooledStep).toHaveLength(3);
      expect(outcome.taskInputs.ClassifyFailure).toBeUndefined();
      expect(outcome.taskInputs.ReleaseCapacity).toEqual([slot('j-POOL1')]);
    });

    it("PooledClusterGone: a terminated cluster's ValidationException is not retried as throttling; ClassifyFailure has it at once", async () => {
      for (const code of ['ValidationException', 'AccessDeniedException']) {
        const script: TaskScript = {
          ...pooledScript(),
          RunPooledStep: [addStepError(code, 'A job flow that is shutting down, terminated, or finished may not be modified.'), { return: POOLED_STEP_DONE }],
          ClassifyFailure: ok({ ...spotFailure, kind: 'Emr.ClusterFailed', message: code, retry: false, teardown: 'release' }),
          ReleaseCapacityAfterFailure: ok({ released: true }),
          RecordFailedRun: ok({ status: 'FAILED' }),
        };

        const outcome = await runScripted(definition, {}, script);

        expect({ code, submissions: outcome.taskInputs.RunPooledStep.length }).toEqual({ code, submissions: 1 });
        expect((outcome.taskInputs.ClassifyFailure[0] as any).error).toMatchObject({
          Error: 'EMR.AmazonElasticMapReduceException',
          Cause: expect.stringContaining(`Error Code: ${code}`),
        });
        expect(outcome.status).toBe('FAILED');
      }
    });

    it('negative control: the Retry as it was (the catch-all EMR name) submits again on a terminated cluster', async () => {
      const before = structuredClone(definition);
      before.States.RunPooledStep.Retry[0].ErrorEquals = ['EMR.AmazonElasticMapReduceException'];
      const script: TaskScript = {
        ...pooledScript(),
        RunPooledStep: [
          addStepError('ValidationException', 'A job flow that is shutting down, terminated, or finished may not be modified.'),
          { return: POOLED_STEP_DONE },
        ],
      };

      const outcome = await runScripted(before, {}, script);

      expect(outcome.taskInputs.RunPooledStep).toHaveLength(2);
      expect(outcome.taskInputs.ClassifyFailure).toBeUndefined();
    });

    it('PooledStepFailed: releases the lease, records the run and fails with the kind', async () => {
      const script: TaskScript = {
        ...pooledScript(),
        RunPooledStep: [fail('States.TaskFailed', '{"Step":{"Status":{"State":"FAILED"}}}')],
        ClassifyFailure: ok({ ...spotFailure, kind: 'Emr.StepFailed', message: 'exit 1', retry: false, teardown: 'release' }),
        ReleaseCapacityAfterFailure: ok({ released: true }),
        RecordFailedRun: ok({ status: 'FAILED' }),
      };

      const outcome = await runScripted(definition, {}, script);

      expect(outcome.error).toBe('Emr.StepFailed');
      expect(outcome.path.slice(-3)).toEqual(['ReleaseCapacityAfterFailure', 'RecordFailedRun', 'JobFailed']);
      expect(outcome.taskInputs.ReleaseCapacityAfterFailure).toEqual([slot('j-POOL1')]);
    });

    it("PooledClassifyFailureUnavailable: still releases the lease and records the run, then fails with the classifier's error", async () => {
      const script: TaskScript = {
        ...pooledScript(),
        RunPooledStep: [fail('States.TaskFailed', '{"Step":{"Status":{"State":"FAILED"}}}')],
        ClassifyFailure: [fail('Lambda.ServiceException', 'Lambda is unavailable')],
        ReleaseCapacityUnclassified: ok({ released: true }),
      };

      const outcome = await runScripted(definition, {}, script);

      expect(outcome.error).toBe('Lambda.ServiceException');
      expect(outcome.taskInputs.ReleaseCapacityUnclassified).toEqual([slot('j-POOL1')]);
      // Released, then recorded like any failed run, then failed with the classifier's error.
      expect(outcome.path.slice(-3)).toEqual(['ReleaseCapacityUnclassified', 'RecordUnclassifiedRun', 'ClassificationFailed']);
    });

    it('a release that keeps failing does not fail a run that succeeded (the lease expires by itself)', async () => {
      const script: TaskScript = { ...pooledScript(), ReleaseCapacity: [fail('Lambda.ServiceException', 'unavailable')] };

      const outcome = await runScripted(definition, {}, script);

      expect(outcome.status).toBe('SUCCEEDED');
      expect(outcome.taskInputs.ReleaseCapacity).toHaveLength(4);
      expect(outcome.path.slice(-2)).toEqual(['ReleaseCapacity', 'RecordRun']);
    });

    it('LostGrant: a missed dispatcher heartbeat parks the job again instead of waiting forever', async () => {
      const script: TaskScript = {
        ...pooledScript(),
        AcquireCapacity: [fail('States.HeartbeatTimeout', 'No heartbeat within HeartbeatSeconds'), { return: slot('j-POOL1') }],
      };

      const outcome = await runScripted(definition, {}, script);

      expect(outcome.status).toBe('SUCCEEDED');
      expect(outcome.taskInputs.AcquireCapacity).toHaveLength(2);
    });

    it('CapacityWaitTimedOut: no lease within the wait fails with Placement.NoCapacity, holding nothing', async () => {
      const script: TaskScript = { ...pooledScript(), AcquireCapacity: [fail('States.Timeout', 'The task did not complete within its TimeoutSeconds')] };

      const outcome = await runScripted(definition, {}, script);

      expect(outcome.status).toBe('FAILED');
      expect(outcome.error).toBe('Placement.NoCapacity');
      expect(outcome.path.slice(-2)).toEqual(['AcquireCapacity', 'CapacityWaitTimedOut']);
      expect(outcome.path).not.toContain('RunPooledStep');
    });

    it('a bad acquire request fails the run before anything runs (Request.Invalid from acquire-capacity)', async () => {
      const script: TaskScript = { ...pooledScript(), AcquireCapacity: [fail('Request.Invalid', 'units: 64 exceeds pool shared')] };

      const outcome = await runScripted(definition, {}, script);

      expect(outcome.error).toBe('Request.Invalid');
      expect(outcome.path.slice(-2)).toEqual(['AcquireCapacity', 'PlacementFailed']);
    });
  });
});
