/**
 * The local runtime's Step Functions API, driven with the real `@aws-sdk/client-sfn` over its endpoint
 * (`AWS_ENDPOINT_URL_SFN`), as a CI script or an SDK user drives Step Functions: start, describe, list,
 * follow and stop executions of the deployed definitions, which run on the runner against the emulator.
 */
import {
  DescribeExecutionCommand,
  DescribeStateMachineCommand,
  DescribeStateMachineForExecutionCommand,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  ListStateMachinesCommand,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
  type HistoryEvent,
} from '@aws-sdk/client-sfn';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { startLocalRuntime, type LocalRuntime, type RunSummary } from '../../local/runner';
import { writeDayEvents } from '../../local/runner/dayEvents';

jest.setTimeout(60_000);
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
// The subjects include the pooled HappyPath's history and `emrflow run`'s cluster count: small jobs stay on the pool (local/runner/poolRules.ts), or a cold pool
// would send them to EMR Serverless (config/rules.json small-jobs-to-serverless-when-the-pool-must-grow).
jest.mock('../../config/rules.json', () =>
  jest.requireActual('../../local/runner/poolRules').smallJobsStayOnThePoolFile(jest.requireActual('../../config/rules.json')),
);

const TIME_SCALE = 0.002;
const RUN_DATE = '2026-11-26';
const consoleInput = { job: 'denormalize-events', date: RUN_DATE };

const { eventsFile, cleanup } = writeDayEvents(RUN_DATE, 'emrflow-sfn-api-');
afterAll(cleanup);

let runtime: LocalRuntime | undefined;
/**
 * Every runtime a test started, stopped after it: a test may start two (the `emrflow run` and API comparison
 * does), and one left running keeps its servers listening and its virtual clock installed in the process.
 */
const started: LocalRuntime[] = [];
afterEach(async () => {
  for (const each of started.splice(0)) await each.stop();
  runtime = undefined;
});

/** A fresh runtime with the day's events uploaded (no run yet: console starts name the date). */
async function freshRuntime(): Promise<{ runtime: LocalRuntime; sfn: SFNClient; runJob: string }> {
  runtime = await startLocalRuntime({ timeScale: TIME_SCALE, simulateSteps: true, schedules: false });
  started.push(runtime);
  await runtime.upload(eventsFile, `s3://${runtime.buckets.RawBucket}/events/dt=${RUN_DATE}/part-0001.json`);
  const sfn = new SFNClient({
    region: runtime.config.region,
    endpoint: runtime.env.AWS_ENDPOINT_URL_SFN,
    maxAttempts: 1,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const { stateMachines = [] } = await sfn.send(new ListStateMachinesCommand({}));
  return { runtime, sfn, runJob: stateMachines.find((machine) => machine.name === 'emrflow-local-run-job')!.stateMachineArn! };
}

/**
 * Polls once an emulated second, as a client of the API would. The virtual clock jumps to the next timer, so a
 * shorter poll is what the clock moves by: at 20 ms a run of emulated minutes took longer than the test's timeout.
 */
async function until<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
}

async function history(sfn: SFNClient, executionArn: string, options: { reverseOrder?: boolean; maxResults?: number } = {}): Promise<HistoryEvent[]> {
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await sfn.send(new GetExecutionHistoryCommand({ executionArn, nextToken, ...options }));
    events.push(...page.events!);
    nextToken = page.nextToken;
  } while (nextToken);
  return events;
}

/**
 * The history events AWS writes for each visit of a state (developer guide, "Execution history events"),
 * from the run's timeline: the state's type, its Resource, how the visit ended. Written from the AWS
 * documentation, not from the runner's history code, so the two can disagree.
 */
function expectedTypes(summary: RunSummary, resources: Record<string, unknown>): string[] {
  const types = ['ExecutionStarted'];
  for (const entry of summary.timeline) {
    const resource = String(resources[entry.state] ?? '');
    if (entry.type !== 'Task') {
      types.push(`${entry.type}StateEntered`);
      if (entry.type !== 'Fail') types.push(`${entry.type}StateExited`);
      continue;
    }
    if (entry.retry === 0) types.push('TaskStateEntered');
    if (resource.startsWith('arn:aws:lambda:')) types.push('LambdaFunctionScheduled', 'LambdaFunctionStarted', 'LambdaFunctionSucceeded');
    else if (/\.(sync|waitForTaskToken)$/.test(resource)) types.push('TaskScheduled', 'TaskStarted', 'TaskSubmitted', 'TaskSucceeded');
    else types.push('TaskScheduled', 'TaskStarted', 'TaskSucceeded');
    types.push('TaskStateExited');
  }
  types.push(`Execution${summary.status === 'SUCCEEDED' ? 'Succeeded' : summary.status === 'FAILED' ? 'Failed' : 'Aborted'}`);
  return types;
}

describe('the local Step Functions API', () => {
  it("describes serverless.yml's state machines: the definition as deployed locally, its role, STANDARD", async () => {
    const { runtime, sfn, runJob } = await freshRuntime();

    const described = await sfn.send(new DescribeStateMachineCommand({ stateMachineArn: runJob }));

    const machine = await runtime.machine('run-job');
    expect(JSON.parse(described.definition!)).toEqual(machine.deployable);
    expect(described).toMatchObject({
      name: 'emrflow-local-run-job',
      type: 'STANDARD',
      status: 'ACTIVE',
      roleArn: 'arn:aws:iam::000000000000:role/emrflow-local-RunJobStateMachineRole',
    });
    await expect(sfn.send(new DescribeStateMachineCommand({ stateMachineArn: `${runJob}-nope` }))).rejects.toMatchObject({ name: 'StateMachineDoesNotExist' });
    await expect(sfn.send(new DescribeStateMachineCommand({ stateMachineArn: 'not-an-arn' }))).rejects.toMatchObject({ name: 'InvalidArn' });
  });

  it("HappyPath (pooled): the history has AWS's events for each state, in order, with reverseOrder and paging", async () => {
    const { runtime, sfn, runJob } = await freshRuntime();

    const { executionArn } = await sfn.send(new StartExecutionCommand({ stateMachineArn: runJob, name: 'happy', input: JSON.stringify(consoleInput) }));
    const described = await until(
      () => sfn.send(new DescribeExecutionCommand({ executionArn })),
      (execution) => execution.status !== 'RUNNING',
    );
    const summary = (await runtime.stepFunctionsApi.started()[0].done)!;
    const events = await history(sfn, executionArn!, { maxResults: 7 });

    expect(described.status).toBe('SUCCEEDED');
    expect(JSON.parse(described.output!).placement.mode).toBe('pool');
    const resources = (await runtime.machine('run-job')).deployable.States;
    expect(events.map((event) => event.type)).toEqual(
      expectedTypes(summary, Object.fromEntries(Object.entries<any>(resources).map(([name, state]) => [name, state.Resource]))),
    );
    expect(events.map((event) => event.id)).toEqual(events.map((_, index) => index + 1));
    // The pooled step: a Lambda invoked with a task token, parked until the dispatcher / EMR's events settle it.
    const run = events.findIndex((event) => event.stateEnteredEventDetails?.name === 'RunPooledStep');
    expect(events.slice(run, run + 6).map((event) => event.type)).toEqual([
      'TaskStateEntered',
      'TaskScheduled',
      'TaskStarted',
      'TaskSubmitted',
      'TaskSucceeded',
      'TaskStateExited',
    ]);
    expect(events[run + 1].taskScheduledEventDetails).toMatchObject({ resourceType: 'lambda', resource: 'invoke.waitForTaskToken', region: 'us-east-1' });
    expect(JSON.parse(events[run + 1].taskScheduledEventDetails!.parameters!).Payload.taskToken).toMatch(/^emrflow-local-/);
    const reversed = await history(sfn, executionArn!, { reverseOrder: true, maxResults: 1000 });
    expect(reversed.map((event) => event.id)).toEqual(events.map((event) => event.id).reverse());
    expect(events[events.length - 1].executionSucceededEventDetails!.output).toBe(described.output);
  });

  it('negative control: the expected-history check rejects a history missing TaskSubmitted or out of order', () => {
    const summary = {
      status: 'SUCCEEDED',
      timeline: [{ state: 'AcquireCapacity', type: 'Task', retry: 0 }],
    } as unknown as RunSummary;
    const expected = expectedTypes(summary, { AcquireCapacity: 'arn:aws:states:::lambda:invoke.waitForTaskToken' });
    const withoutSubmitted = expected.filter((type) => type !== 'TaskSubmitted');
    const swapped = [...expected];
    [swapped[2], swapped[3]] = [swapped[3], swapped[2]];

    expect(withoutSubmitted).not.toEqual(expected);
    expect(swapped).not.toEqual(expected);
    expect(expected).toEqual([
      'ExecutionStarted',
      'TaskStateEntered',
      'TaskScheduled',
      'TaskStarted',
      'TaskSubmitted',
      'TaskSucceeded',
      'TaskStateExited',
      'ExecutionSucceeded',
    ]);
  });

  it('StartExecution: same name and input while running returns the same execution; a taken name, a bad name or input are refused as AWS refuses them', async () => {
    const { sfn, runJob } = await freshRuntime();
    const input = JSON.stringify(consoleInput);

    const first = await sfn.send(new StartExecutionCommand({ stateMachineArn: runJob, name: 'nightly-2026-11-26', input }));
    const again = await sfn.send(new StartExecutionCommand({ stateMachineArn: runJob, name: 'nightly-2026-11-26', input }));

    expect(again).toMatchObject({ executionArn: first.executionArn, startDate: first.startDate });
    await expect(
      sfn.send(new StartExecutionCommand({ stateMachineArn: runJob, name: 'nightly-2026-11-26', input: '{"job":"denormalize-events"}' })),
    ).rejects.toMatchObject({ name: 'ExecutionAlreadyExists' });
    await until(
      () => sfn.send(new DescribeExecutionCommand({ executionArn: first.executionArn })),
      (execution) => execution.status !== 'RUNNING',
    );
    await expect(sfn.send(new StartExecutionCommand({ stateMachineArn: runJob, name: 'nightly-2026-11-26', input }))).rejects.toMatchObject({
      name: 'ExecutionAlreadyExists',
    });
    await expect(
      sfn.send(new StartExecutionCommand({ stateMachineArn: runJob, input: JSON.stringify({ ...consoleInput, pad: 'x'.repeat(262_144) }) })),
    ).rejects.toMatchObject({ name: 'InvalidExecutionInput' });
    await expect(sfn.send(new StartExecutionCommand({ stateMachineArn: runJob, input: '{not json' }))).rejects.toMatchObject({ name: 'InvalidExecutionInput' });
    await expect(sfn.send(new StartExecutionCommand({ stateMachineArn: runJob, name: 'has space', input }))).rejects.toMatchObject({ name: 'InvalidName' });
    await expect(sfn.send(new StartExecutionCommand({ stateMachineArn: `${runJob}x`, input }))).rejects.toMatchObject({ name: 'StateMachineDoesNotExist' });
    // Refused starts leave nothing behind: one execution exists.
    const { executions = [] } = await sfn.send(new ListExecutionsCommand({ stateMachineArn: runJob }));
    expect(executions.map((execution) => execution.name)).toEqual(['nightly-2026-11-26']);
  });

  it('ListExecutions filters by status and pages; DescribeStateMachineForExecution names the machine', async () => {
    const { sfn, runJob } = await freshRuntime();
    const names = ['a-ok', 'b-missing', 'c-ok'];
    for (const name of names) {
      const input = name === 'b-missing' ? { ...consoleInput, date: '2026-01-01' } : consoleInput;
      const { executionArn } = await sfn.send(new StartExecutionCommand({ stateMachineArn: runJob, name, input: JSON.stringify(input) }));
      await until(
        () => sfn.send(new DescribeExecutionCommand({ executionArn })),
        (execution) => execution.status !== 'RUNNING',
      );
    }

    const failed = await sfn.send(new ListExecutionsCommand({ stateMachineArn: runJob, statusFilter: 'FAILED' }));
    const first = await sfn.send(new ListExecutionsCommand({ stateMachineArn: runJob, maxResults: 2 }));
    const second = await sfn.send(new ListExecutionsCommand({ stateMachineArn: runJob, maxResults: 2, nextToken: first.nextToken }));
    const forExecution = await sfn.send(new DescribeStateMachineForExecutionCommand({ executionArn: failed.executions![0].executionArn }));

    expect(failed.executions!.map((execution) => execution.name)).toEqual(['b-missing']);
    expect(first.executions).toHaveLength(2);
    expect(second.nextToken).toBeUndefined();
    expect([...first.executions!, ...second.executions!].map((execution) => execution.name).sort()).toEqual(names);
    expect(forExecution).toMatchObject({ stateMachineArn: runJob, name: 'emrflow-local-run-job' });
    await expect(sfn.send(new ListExecutionsCommand({ stateMachineArn: runJob, nextToken: 'bogus' }))).rejects.toMatchObject({ name: 'InvalidToken' });
  });

  it('StopExecution: ABORTED at once, the state it was in aborted, and cleanup-execution runs as on AWS', async () => {
    const { runtime, sfn, runJob } = await freshRuntime();
    const { executionArn } = await sfn.send(new StartExecutionCommand({ stateMachineArn: runJob, name: 'stopped', input: JSON.stringify(consoleInput) }));
    await until(
      () => history(sfn, executionArn!),
      (events) => events.some((event) => event.type === 'TaskSubmitted'),
    );

    const stop = await sfn.send(new StopExecutionCommand({ executionArn, error: 'Operator.Stop', cause: 'stopped by the test' }));
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    const summary = (await runtime.stepFunctionsApi.started()[0].done)!;
    const events = await history(sfn, executionArn!);

    expect(described).toMatchObject({ status: 'ABORTED', error: 'Operator.Stop', cause: 'stopped by the test', stopDate: stop.stopDate });
    expect(events.slice(-2).map((event) => event.type)).toEqual(['TaskStateAborted', 'ExecutionAborted']);
    expect(events[events.length - 1].executionAbortedEventDetails).toEqual({ error: 'Operator.Stop', cause: 'stopped by the test' });
    expect(summary.ruleDeliveries.map((delivery) => [delivery.function, delivery.error])).toEqual([['cleanupExecution', undefined]]);
    // As the fault matrix counts a pooled run stopped while parked: no lease and no queue entry left (the
    // pool cluster it asked for stays, idle, for the next job).
    const dynamo = new DynamoDBClient({});
    const scan = async (logicalId: string) =>
      ((await dynamo.send(new ScanCommand({ TableName: runtime.tables[logicalId] }))).Items ?? []).map((item) => unmarshall(item));
    expect((await scan('ClusterRegistryTable')).flatMap((cluster) => Object.keys(cluster.leases ?? {}))).toEqual([]);
    expect(await scan('AdmissionQueueTable')).toEqual([]);
  });

  it('answers an operation it does not serve with UnknownOperationException, not a validation error', async () => {
    const { runtime } = await freshRuntime();

    const response = await fetch(runtime.env.AWS_ENDPOINT_URL_SFN, {
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'AWSStepFunctions.ListActivities' },
      body: '{}',
    });

    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ __type: 'UnknownOperationException' });
  });
});

describe('an execution started through the API ends as `emrflow run` ends on the same input and state', () => {
  async function throughRun(): Promise<{ status: string; error: string | null; attempts: number; clusters: number }> {
    const { runtime } = await freshRuntime();
    const summary = await runtime.run(consoleInput);
    const clusters = runtime.stats().clustersCreated;
    // Stopped before the API's runtime starts: each comparison runs alone in the process, as `emrflow run` does.
    started.splice(started.indexOf(runtime), 1);
    await runtime.stop();
    return { status: summary.status, error: summary.error, attempts: summary.attempts, clusters };
  }
  async function throughApi(): Promise<{ status: string; error: string | null; attempts: number; clusters: number }> {
    const { runtime, sfn, runJob } = await freshRuntime();
    const { executionArn } = await sfn.send(new StartExecutionCommand({ stateMachineArn: runJob, input: JSON.stringify(consoleInput) }));
    const described = await until(
      () => sfn.send(new DescribeExecutionCommand({ executionArn })),
      (execution) => execution.status !== 'RUNNING',
    );
    await runtime.stepFunctionsApi.started()[0].done;
    const output = described.output ? JSON.parse(described.output) : null;
    return { status: described.status!, error: described.error ?? null, attempts: output?.record?.attempts ?? 1, clusters: runtime.stats().clustersCreated };
  }

  it('the same status, error, attempts and cluster count', async () => {
    const run = await throughRun();
    const api = await throughApi();

    expect(api).toEqual(run);
    expect(run).toMatchObject({ status: 'SUCCEEDED', attempts: 1, clusters: 1 });
  });
});
