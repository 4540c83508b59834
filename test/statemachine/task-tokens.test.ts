/**
 * The local runner's callback pattern (`.waitForTaskToken`): a Task parks on a token that the real
 * @aws-sdk/client-sfn settles through the runtime's loopback Step Functions endpoint, with TimeoutSeconds and
 * HeartbeatSeconds enforced and the API's own error names.
 */
import { SFNClient, SendTaskFailureCommand, SendTaskHeartbeatCommand, SendTaskSuccessCommand } from '@aws-sdk/client-sfn';
import { prepareForLocalRun } from '../../local/asl/localDefinition';
import type { MachineDefinition } from '../../local/runner/definition';
import { executeMachine, type ExecutionResult } from '../../local/runner/execute';
import type { LambdaInvoker } from '../../local/runner/adapters/lambda';
import type { LocalFunction } from '../../local/runner/serverless-config';
import { taskHandlers } from '../../local/runner/tasks';
import { TaskTokenBroker } from '../../local/runner/taskTokens';

const TIME_SCALE = 0.001;
const FUNCTION_ARN = 'arn:aws:lambda:us-east-1:000000000000:function:emrflow-local-acquireCapacity';

/** One parked Task, then Succeed; a Catch sends every error to a Fail that keeps the error's name. */
function machine(limits: { TimeoutSeconds?: number; HeartbeatSeconds?: number } = {}): MachineDefinition {
  const deployable = {
    StartAt: 'WaitForGrant',
    States: {
      WaitForGrant: {
        Type: 'Task',
        Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
        Parameters: { FunctionName: FUNCTION_ARN, Payload: { 'job.$': '$.job', 'taskToken.$': '$$.Task.Token' } },
        ResultPath: '$.grant',
        ...limits,
        Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Failed' }],
        Next: 'Done',
      },
      Done: { Type: 'Succeed' },
      Failed: { Type: 'Fail', ErrorPath: '$.error.Error', CausePath: '$.error.Cause' },
    },
  };
  return {
    name: 'token-test',
    file: 'inline',
    deployable,
    local: prepareForLocalRun(deployable),
    stateTypes: { WaitForGrant: 'Task', Done: 'Succeed', Failed: 'Fail' },
    waits: {},
  };
}

let broker: TaskTokenBroker;
let sfn: SFNClient;
beforeEach(async () => {
  broker = new TaskTokenBroker(TIME_SCALE);
  const endpoint = await broker.listen();
  sfn = new SFNClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 });
});
afterEach(async () => {
  sfn.destroy();
  await broker.stop();
});

/** Starts the machine; `onInvoke` plays the Lambda, receiving the payload with the token. */
function start(definition: MachineDefinition, onInvoke: (payload: any) => void | Promise<void> = () => undefined) {
  const payloads: any[] = [];
  const fn = { arn: FUNCTION_ARN, name: 'emrflow-local-acquireCapacity' } as LocalFunction;
  const lambda: LambdaInvoker = {
    find: (name) => (name === FUNCTION_ARN ? fn : undefined),
    invoke: async (_fn, payload, onStart) => {
      onStart?.();
      payloads.push(payload);
      await onInvoke(payload);
      return null;
    },
    drain: async () => undefined,
  };
  const tokens = broker.forExecution('exec-1');
  const handlers = taskHandlers(definition, { lambda, emr: {} as never, sdk: {} as never, timeScale: TIME_SCALE, tokens: { broker, execution: tokens } });
  const result = executeMachine(
    definition,
    { job: 'denormalize-events' },
    {
      executionName: 'exec-1',
      stateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:token-test',
      handlers,
      task: tokens.context,
    },
  );
  return { result, payloads };
}

async function tokenOf(payloads: any[]): Promise<string> {
  for (let i = 0; i < 200 && payloads.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 5));
  return payloads[0].taskToken;
}

async function apiError(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return (error as Error).name;
  }
  return 'no error';
}

describe('.waitForTaskToken on the local runner', () => {
  it('passes $$.Task.Token to the integration and resumes with the output SendTaskSuccess sends', async () => {
    const { result, payloads } = start(machine({ TimeoutSeconds: 3600 }));
    const token = await tokenOf(payloads);

    await sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: JSON.stringify({ clusterId: 'j-POOL1', units: 4 }) }));
    const outcome: ExecutionResult = await result;

    expect(payloads[0]).toEqual({ job: 'denormalize-events', taskToken: expect.stringMatching(/^emrflow-local-/) });
    expect(outcome.status).toBe('SUCCEEDED');
    expect(outcome.output).toEqual({ job: 'denormalize-events', grant: { clusterId: 'j-POOL1', units: 4 } });
  });

  it('honours a SendTaskSuccess sent while the integration is still running (a grant at once)', async () => {
    const { result } = start(machine(), async (payload) => {
      await sfn.send(new SendTaskSuccessCommand({ taskToken: payload.taskToken, output: '{"granted":true}' }));
    });

    expect((await result).output).toMatchObject({ grant: { granted: true } });
  });

  it('completes at the first settle even when the integration fails afterwards (whatever comes first wins)', async () => {
    const { result } = start(machine(), async (payload) => {
      await sfn.send(new SendTaskSuccessCommand({ taskToken: payload.taskToken, output: '{"granted":true}' }));
      throw Object.assign(new Error('Task timed out after 30.00 seconds'), { name: 'TimeoutError' });
    });

    expect((await result).status).toBe('SUCCEEDED');
  });

  it('fails with the integration’s error when it fails before any settle, and closes the token', async () => {
    let token = '';
    const { result } = start(machine({ TimeoutSeconds: 3600 }), (payload) => {
      token = payload.taskToken;
      throw Object.assign(new Error('units: 64 exceeds the pool'), { name: 'Request.Invalid' });
    });

    const outcome = await result;

    expect(outcome.error).toBe('Request.Invalid');
    expect(await apiError(sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: '{}' })))).toBe('TaskTimedOut');
  });

  it('fails the Task with the error and cause SendTaskFailure sends (a Catch matches the name)', async () => {
    const { result, payloads } = start(machine());
    const token = await tokenOf(payloads);

    await sfn.send(new SendTaskFailureCommand({ taskToken: token, error: 'Placement.NoCapacity', cause: 'pool default is full' }));
    const outcome = await result;

    expect(outcome.status).toBe('FAILED');
    expect(outcome.error).toBe('Placement.NoCapacity');
    expect(outcome.cause).toBe('pool default is full');
  });

  it('fails with States.HeartbeatTimeout when no heartbeat arrives within HeartbeatSeconds (emulated)', async () => {
    const startedAt = Date.now();
    const outcome = await start(machine({ TimeoutSeconds: 3600, HeartbeatSeconds: 60 })).result;

    expect(outcome.error).toBe('States.HeartbeatTimeout');
    // 60 emulated seconds at 0.001 are 60 ms: well before the 3.6 s timeout.
    expect(Date.now() - startedAt).toBeLessThan(1500);
  });

  it('SendTaskHeartbeat keeps a parked Task alive past HeartbeatSeconds, and TimeoutSeconds still ends it', async () => {
    const { result, payloads } = start(machine({ TimeoutSeconds: 600, HeartbeatSeconds: 100 }));
    const token = await tokenOf(payloads);
    const beats = setInterval(() => void sfn.send(new SendTaskHeartbeatCommand({ taskToken: token })).catch(() => undefined), 30);

    const outcome = await result.finally(() => clearInterval(beats));

    expect(outcome.error).toBe('States.Timeout');
    expect(outcome.durationMs).toBeGreaterThanOrEqual(550);
  });

  it('a parked execution costs no CPU while it waits', async () => {
    const { result, payloads } = start(machine({ TimeoutSeconds: 3600 }));
    const token = await tokenOf(payloads);
    const before = process.cpuUsage();

    await new Promise((resolve) => setTimeout(resolve, 300));
    const used = process.cpuUsage(before);
    await sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: '{}' }));
    await result;

    expect((used.user + used.system) / 1000).toBeLessThan(60);
  });

  it('answers with the API errors: TaskTimedOut for a closed task, InvalidToken, TaskDoesNotExist, InvalidOutput', async () => {
    const { result, payloads } = start(machine());
    const token = await tokenOf(payloads);

    expect(await apiError(sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: 'not json' })))).toBe('InvalidOutput');
    await sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: '{}' }));
    await result;
    expect(await apiError(sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: '{}' })))).toBe('TaskTimedOut');
    expect(await apiError(sfn.send(new SendTaskHeartbeatCommand({ taskToken: token })))).toBe('TaskTimedOut');
    expect(await apiError(sfn.send(new SendTaskHeartbeatCommand({ taskToken: 'garbage' })))).toBe('InvalidToken');
    const elsewhere = new TaskTokenBroker(TIME_SCALE).forExecution('exec-other');
    const foreign = elsewhere.context.Token;
    expect(await apiError(sfn.send(new SendTaskFailureCommand({ taskToken: foreign, error: 'X' })))).toBe('TaskDoesNotExist');
  });

  it('refuses a SendTaskFailure whose error or cause is over the API limit with ValidationException, before reading the token', async () => {
    expect(await apiError(sfn.send(new SendTaskFailureCommand({ taskToken: 'garbage', error: 'E'.repeat(257) })))).toBe('ValidationException');
    expect(await apiError(sfn.send(new SendTaskFailureCommand({ taskToken: 'garbage', error: 'E', cause: 'c'.repeat(32_769) })))).toBe('ValidationException');
    // Negative control: at the limits the call gets past the check, to the token (which is garbage).
    expect(await apiError(sfn.send(new SendTaskFailureCommand({ taskToken: 'garbage', error: 'E'.repeat(256), cause: 'c'.repeat(32_768) })))).toBe(
      'InvalidToken',
    );
  });

  it('a timed-out task rejects a late SendTaskSuccess with TaskTimedOut', async () => {
    const { result, payloads } = start(machine({ TimeoutSeconds: 50 }));
    const token = await tokenOf(payloads);

    expect((await result).error).toBe('States.Timeout');
    expect(await apiError(sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: '{}' })))).toBe('TaskTimedOut');
  });

  it('rejects a .waitForTaskToken Task whose Parameters never read $$.Task.Token', async () => {
    const definition = machine();
    delete (definition.local.States.WaitForGrant.Parameters as any).Payload['taskToken.$'];

    const outcome = await start(definition).result;

    expect(outcome.error).toBe('States.Runtime');
    expect(outcome.cause).toContain('$$.Task.Token');
  });
});
