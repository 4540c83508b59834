/**
 * The execution history the local Step Functions API answers, from the interpreter's event log alone (no
 * runtime): the events Step Functions writes for retries, caught errors, Fail states, `.sync` tasks, timeouts
 * and stops, in its order.
 */
import type { ExecutionResult, InterpreterEvent } from '../../../local/runner/execute';
import { ExecutionHistory, taskResource } from '../../../local/runner/stepFunctionsApi/history';

const machine = {
  region: 'us-east-1',
  stateTypes: { Invoke: 'Task', Run: 'Task', Decide: 'Choice', Failed: 'Fail', Pause: 'Wait' },
  resources: {
    Invoke: 'arn:aws:lambda:us-east-1:000000000000:function:emrflow-local-invoke',
    Run: 'arn:aws:states:::elasticmapreduce:addStep.sync',
  },
};

let now = 1_000;
/** The next event's time: 10 ms after the last. */
const tick = () => {
  now += 10;
  return now;
};
const state = (type: string, name: string, extra: Partial<InterpreterEvent> = {}): InterpreterEvent => ({
  type,
  timestamp: tick(),
  state: { name, type: machine.stateTypes[name as keyof typeof machine.stateTypes], input: { in: name }, output: { out: name } },
  ...extra,
});
const result = (status: ExecutionResult['status'], error: string | null = null, cause: string | null = null): ExecutionResult => ({
  executionName: 'e',
  status,
  output: status === 'SUCCEEDED' ? { ok: true } : null,
  error,
  cause,
  transitions: 0,
  attempts: 1,
  timeline: [],
  startedAt: 0,
  durationMs: 0,
});

function historyOf(events: InterpreterEvent[], end: ExecutionResult, stop: { error?: string; cause?: string } | null = null) {
  const history = new ExecutionHistory(machine);
  history.started('{}', 'arn:aws:iam::000000000000:role/r', now);
  for (const event of events) history.add(event);
  history.end(end, stop, tick());
  return history.list();
}

describe('execution history', () => {
  it('a Retry schedules the Task again inside the same state; a caught error exits the state', () => {
    const events = historyOf(
      [
        state('StateEntered', 'Run'),
        state('StateFailed', 'Run', { Error: 'States.TaskFailed', Cause: 'step failed' }),
        state('StateRetried', 'Run', { retry: { attempt: 1 } }),
        state('StateFailed', 'Run', { Error: 'States.TaskFailed', Cause: 'step failed again' }),
        state('StateCaught', 'Run'),
        state('StateExited', 'Run'),
        state('StateEntered', 'Failed'),
        state('StateExited', 'Failed'),
      ],
      result('FAILED', 'Emr.StepFailed', 'the step failed twice'),
    );

    expect(events.map((event) => event.type)).toEqual([
      'ExecutionStarted',
      'TaskStateEntered',
      'TaskScheduled',
      'TaskStarted',
      'TaskSubmitted',
      'TaskFailed',
      'TaskScheduled',
      'TaskStarted',
      'TaskSubmitted',
      'TaskFailed',
      'TaskStateExited',
      'FailStateEntered',
      'ExecutionFailed',
    ]);
    expect(events[5].taskFailedEventDetails).toEqual({
      resourceType: 'elasticmapreduce',
      resource: 'addStep.sync',
      error: 'States.TaskFailed',
      cause: 'step failed',
    });
    expect(events[12].executionFailedEventDetails).toEqual({ error: 'Emr.StepFailed', cause: 'the step failed twice' });
    expect(events.map((event) => event.id)).toEqual(events.map((_, index) => index + 1));
    expect(events[0].previousEventId).toBeUndefined();
    expect(events[1].previousEventId).toBe(1);
  });

  it('a Lambda function ARN Task writes LambdaFunction* events; a timeout is a TimedOut event', () => {
    const history = new ExecutionHistory(machine);
    history.started('{}', 'arn:aws:iam::000000000000:role/r', now);
    history.add(state('StateEntered', 'Invoke'));
    history.called('Invoke', { job: 'x', __emrflowTimeoutSeconds: 30 });
    history.add(state('StateFailed', 'Invoke', { Error: 'States.Timeout', Cause: 'too slow' }));
    history.end(result('FAILED', 'States.Timeout', 'too slow'), null, tick());
    const events = history.list();

    expect(events.map((event) => event.type)).toEqual([
      'ExecutionStarted',
      'TaskStateEntered',
      'LambdaFunctionScheduled',
      'LambdaFunctionStarted',
      'LambdaFunctionTimedOut',
      'ExecutionFailed',
    ]);
    expect(events[2].lambdaFunctionScheduledEventDetails).toEqual({
      resource: machine.resources.Invoke,
      input: '{"job":"x"}',
      inputDetails: { truncated: false },
    });
  });

  it('StopExecution aborts the state the execution was in, then the execution', () => {
    const events = historyOf([state('StateEntered', 'Decide'), state('StateExited', 'Decide'), state('StateEntered', 'Pause')], result('ABORTED'), {
      error: 'Ops.Stop',
      cause: 'by hand',
    });

    expect(events.map((event) => event.type)).toEqual([
      'ExecutionStarted',
      'ChoiceStateEntered',
      'ChoiceStateExited',
      'WaitStateEntered',
      'WaitStateAborted',
      'ExecutionAborted',
    ]);
    expect(events[5].executionAbortedEventDetails).toEqual({ error: 'Ops.Stop', cause: 'by hand' });
  });

  it('names integrations as Step Functions does: resourceType and resource from the ARN', () => {
    expect(taskResource('arn:aws:states:::aws-sdk:glue:startCrawler')).toMatchObject({ resourceType: 'aws-sdk:glue', resource: 'startCrawler', pattern: null });
    expect(taskResource('arn:aws:states:::lambda:invoke.waitForTaskToken')).toMatchObject({
      resourceType: 'lambda',
      resource: 'invoke.waitForTaskToken',
      pattern: 'token',
    });
    expect(taskResource('arn:aws:states:::states:startExecution.sync:2')).toMatchObject({
      resourceType: 'states',
      resource: 'startExecution.sync:2',
      pattern: 'sync',
    });
  });
});
