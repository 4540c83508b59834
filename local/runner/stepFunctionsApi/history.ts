/**
 * An execution's history as GetExecutionHistory returns it on AWS, built live from aws-local-stepfunctions'
 * event log (states entered, exited, failed, retried, caught) and from what the runner alone sees (the
 * effective parameters and raw result of each Task call, a `.waitForTaskToken` Task parking on its token).
 *
 * The events and their order are Step Functions' (developer guide, "Execution history events"; HistoryEvent
 * in the API reference): `<Type>StateEntered` / `<Type>StateExited` around each state (a Fail state has no
 * exit); a Task of an optimized or SDK integration adds TaskScheduled, TaskStarted, TaskSubmitted (`.sync`
 * and `.waitForTaskToken`: the call returned and the Task waits) and TaskSucceeded / TaskFailed /
 * TaskTimedOut; a Task whose Resource is a Lambda function ARN adds LambdaFunctionScheduled / Started /
 * Succeeded / Failed / TimedOut; a Retry schedules the Task again within the same state; a Distributed Map
 * adds MapStateStarted and MapStateSucceeded / MapStateFailed (its child executions have histories of their
 * own); an execution ends with ExecutionSucceeded / Failed / Aborted / TimedOut, and a stop aborts the state
 * it was in (`<Type>StateAborted`).
 *
 * Known difference: a `.sync` Task's TaskSubmitted is written when its wait ends (the adapter that polls EMR
 * reports no "submitted" moment), not when the request was accepted; `.waitForTaskToken`'s is live.
 */
import { HEARTBEAT_FIELD, TIMEOUT_FIELD } from '../../asl/localDefinition';
import type { ExecutionResult, InterpreterEvent } from '../execute';

export interface HistoryEvent {
  id: number;
  previousEventId: number;
  /** Epoch milliseconds here; the API answers seconds. */
  timestamp: number;
  type: string;
  [details: string]: unknown;
}

/** What a Task's Resource ARN makes of its events' `resourceType` / `resource`, or a Lambda function ARN. */
export type TaskResource = { kind: 'task'; resourceType: string; resource: string; pattern: 'sync' | 'token' | null } | { kind: 'lambda'; arn: string };

export function taskResource(arn: string): TaskResource {
  if (/^arn:aws:lambda:/.test(arn)) return { kind: 'lambda', arn };
  const integration = /^arn:aws:states:::(aws-sdk:[^:]+|[^:]+):(.+)$/.exec(arn);
  if (!integration) return { kind: 'task', resourceType: 'unknown', resource: arn, pattern: null };
  const [, resourceType, resource] = integration;
  const pattern = /\.sync(:\d+)?$/.test(resource) ? 'sync' : resource.endsWith('.waitForTaskToken') ? 'token' : null;
  return { kind: 'task', resourceType, resource, pattern };
}

interface OpenTask {
  state: string;
  resource: TaskResource;
  /** The TaskScheduled / LambdaFunctionScheduled event, whose parameters arrive with the Task's call. */
  scheduled: HistoryEvent;
  result?: unknown;
  submitted: boolean;
}

const STATE_EVENT_PREFIX: Record<string, string> = {
  Task: 'Task',
  Wait: 'Wait',
  Choice: 'Choice',
  Pass: 'Pass',
  Succeed: 'Succeed',
  Fail: 'Fail',
  Map: 'Map',
  Parallel: 'Parallel',
};
const ABORTABLE = new Set(['Task', 'Wait', 'Map', 'Parallel']);
const TIMEOUT_ERRORS = new Set(['States.Timeout', 'States.HeartbeatTimeout']);

export class ExecutionHistory {
  private readonly events: HistoryEvent[] = [];
  private openTask: OpenTask | null = null;
  /** A Task call or park that arrived before the log's StateEntered for it (the log is read asynchronously). */
  private readonly early = new Map<string, { parameters?: unknown; result?: unknown; submittedAt?: number }>();
  private openState: { name: string; type: string } | null = null;
  private ended = false;

  constructor(private readonly machine: { stateTypes: Record<string, string>; resources: Record<string, string>; region: string }) {}

  started(input: string, roleArn: string, at: number): void {
    this.push('ExecutionStarted', at, { executionStartedEventDetails: { input, inputDetails: { truncated: false }, roleArn } });
  }

  /** One event of the interpreter's log. */
  add(event: InterpreterEvent): void {
    if (this.ended || !event.state) return;
    const name = event.state.name;
    const type = this.machine.stateTypes[name] ?? event.state.type;
    const prefix = STATE_EVENT_PREFIX[type] ?? 'Task';
    switch (event.type) {
      case 'StateEntered':
        this.openState = { name, type };
        this.push(`${prefix}StateEntered`, event.timestamp, {
          stateEnteredEventDetails: { name, input: json(event.state.input), inputDetails: { truncated: false } },
        });
        if (type === 'Task') this.schedule(name, event.timestamp);
        if (type === 'Map') this.push('MapStateStarted', event.timestamp, { mapStateStartedEventDetails: { length: 0 } });
        break;
      case 'StateRetried':
        if (type === 'Task') this.schedule(name, event.timestamp);
        break;
      case 'StateFailed':
        if (type === 'Task') this.taskFailed(String(event.Error ?? 'States.Runtime'), causeText(event.Cause), event.timestamp);
        if (type === 'Map') this.push('MapStateFailed', event.timestamp, {});
        break;
      case 'StateCaught':
        // The interpreter follows it with StateExited (the error output), which writes the state's exit.
        break;
      case 'StateExited':
        if (type === 'Task') this.taskSucceeded(event.state.output, event.timestamp);
        if (type === 'Map') this.push('MapStateSucceeded', event.timestamp, {});
        if (type !== 'Fail') this.exit(name, prefix, event.state.output, event.timestamp);
        break;
      default:
        break;
    }
  }

  /** The Task of `state` was called with these effective parameters (after Parameters, with its token). */
  called(state: string, parameters: unknown): void {
    const task = this.openTask;
    if (task && task.state === state && task.scheduled.parametersPending) this.setParameters(task, parameters);
    else this.early.set(state, { ...this.early.get(state), parameters });
  }

  /** The Task's call returned this (before ResultSelector / ResultPath): TaskSucceeded's output. */
  returned(state: string, result: unknown): void {
    if (this.openTask?.state === state) this.openTask.result = result;
    else this.early.set(state, { ...this.early.get(state), result });
  }

  /** A `.waitForTaskToken` Task's integration returned: it waits for its token now. */
  submitted(state: string, at: number): void {
    const task = this.openTask;
    if (task && task.state === state && !task.submitted) this.submit(task, at);
    else if (!task || task.state !== state) this.early.set(state, { ...this.early.get(state), submittedAt: at });
  }

  /** The execution's end, as the runner reports it (the same status, error and cause `emrflow run` prints). */
  end(result: ExecutionResult, stop: { error?: string; cause?: string } | null, at: number): void {
    if (this.ended) return;
    if ((result.status === 'ABORTED' || result.status === 'TIMED_OUT') && this.openState && ABORTABLE.has(this.openState.type)) {
      this.push(`${STATE_EVENT_PREFIX[this.openState.type]}StateAborted`, at, {});
    }
    switch (result.status) {
      case 'SUCCEEDED':
        this.push('ExecutionSucceeded', at, { executionSucceededEventDetails: { output: json(result.output), outputDetails: { truncated: false } } });
        break;
      case 'FAILED':
        this.push('ExecutionFailed', at, { executionFailedEventDetails: defined({ error: result.error, cause: result.cause }) });
        break;
      case 'TIMED_OUT':
        this.push('ExecutionTimedOut', at, { executionTimedOutEventDetails: defined({ error: result.error, cause: result.cause }) });
        break;
      case 'ABORTED':
        this.push('ExecutionAborted', at, { executionAbortedEventDetails: defined({ error: stop?.error, cause: stop?.cause }) });
        break;
    }
    this.ended = true;
  }

  /** The events so far, oldest first, as the API answers them (timestamps in epoch seconds). */
  list(includeExecutionData = true): Array<Record<string, unknown>> {
    return this.events.map((event) => {
      const { parametersPending, ...rest } = event;
      const view: Record<string, unknown> = { ...rest, timestamp: event.timestamp / 1000 };
      if (event.previousEventId === 0) delete view.previousEventId;
      if (!includeExecutionData) {
        for (const [key, value] of Object.entries(view)) {
          if (!key.endsWith('EventDetails') || !value || typeof value !== 'object') continue;
          // "Execution data" is an event's input or output; TaskScheduled's parameters are required and stay.
          const { input, output, ...kept } = value as Record<string, unknown>;
          view[key] = kept;
        }
      }
      return view;
    });
  }

  private schedule(state: string, at: number): void {
    const resource = taskResource(this.machine.resources[state] ?? '');
    const scheduled =
      resource.kind === 'lambda'
        ? this.push('LambdaFunctionScheduled', at, {
            lambdaFunctionScheduledEventDetails: { resource: resource.arn, input: '{}', inputDetails: { truncated: false } },
          })
        : this.push('TaskScheduled', at, {
            taskScheduledEventDetails: { resourceType: resource.resourceType, resource: resource.resource, region: this.machine.region, parameters: '{}' },
          });
    scheduled.parametersPending = true;
    this.push(
      resource.kind === 'lambda' ? 'LambdaFunctionStarted' : 'TaskStarted',
      at,
      resource.kind === 'lambda' ? {} : { taskStartedEventDetails: taskIds(resource) },
    );
    const task: OpenTask = { state, resource, scheduled, submitted: false };
    this.openTask = task;
    const early = this.early.get(state);
    this.early.delete(state);
    if (early?.parameters !== undefined) this.setParameters(task, early.parameters);
    if (early?.result !== undefined) task.result = early.result;
    if (early?.submittedAt !== undefined) this.submit(task, early.submittedAt);
  }

  private setParameters(task: OpenTask, parameters: unknown): void {
    delete task.scheduled.parametersPending;
    const details = (task.scheduled.taskScheduledEventDetails ?? task.scheduled.lambdaFunctionScheduledEventDetails) as Record<string, unknown>;
    // The local copy carries the Task's timeouts in its parameters (local/asl/localDefinition.ts); AWS shows them apart.
    let effective = parameters;
    if (parameters && typeof parameters === 'object' && !Array.isArray(parameters)) {
      const { [TIMEOUT_FIELD]: timeout, [HEARTBEAT_FIELD]: heartbeat, ...rest } = parameters as Record<string, unknown>;
      effective = rest;
      if (typeof timeout === 'number' && task.resource.kind === 'task') details.timeoutInSeconds = timeout;
      if (typeof heartbeat === 'number' && task.resource.kind === 'task') details.heartbeatInSeconds = heartbeat;
    }
    if (task.resource.kind === 'lambda') details.input = json(effective);
    else details.parameters = json(effective);
  }

  private submit(task: OpenTask, at: number): void {
    if (task.resource.kind !== 'task' || task.submitted) return;
    task.submitted = true;
    this.push('TaskSubmitted', at, { taskSubmittedEventDetails: taskIds(task.resource) });
  }

  private taskSucceeded(stateOutput: unknown, at: number): void {
    const task = this.openTask;
    if (!task) return;
    this.openTask = null;
    const output = json(task.result !== undefined ? task.result : stateOutput);
    if (task.resource.kind === 'lambda') {
      this.push('LambdaFunctionSucceeded', at, { lambdaFunctionSucceededEventDetails: { output, outputDetails: { truncated: false } } });
      return;
    }
    if (task.resource.pattern === 'sync') this.submit(task, at);
    this.push('TaskSucceeded', at, { taskSucceededEventDetails: { ...taskIds(task.resource), output, outputDetails: { truncated: false } } });
  }

  private taskFailed(error: string, cause: string, at: number): void {
    const task = this.openTask;
    if (!task) return;
    this.openTask = null;
    const timedOut = TIMEOUT_ERRORS.has(error);
    if (task.resource.kind === 'lambda') {
      this.push(timedOut ? 'LambdaFunctionTimedOut' : 'LambdaFunctionFailed', at, {
        [timedOut ? 'lambdaFunctionTimedOutEventDetails' : 'lambdaFunctionFailedEventDetails']: { error, cause },
      });
      return;
    }
    // A .sync Task that fails with States.TaskFailed was accepted and failed while Step Functions watched it.
    if (task.resource.pattern === 'sync' && error === 'States.TaskFailed') this.submit(task, at);
    this.push(timedOut ? 'TaskTimedOut' : 'TaskFailed', at, {
      [timedOut ? 'taskTimedOutEventDetails' : 'taskFailedEventDetails']: { ...taskIds(task.resource), error, cause },
    });
  }

  private exit(name: string, prefix: string, output: unknown, at: number): void {
    this.openTask = null;
    this.openState = null;
    this.push(`${prefix}StateExited`, at, { stateExitedEventDetails: { name, output: json(output), outputDetails: { truncated: false } } });
  }

  private push(type: string, timestamp: number, details: Record<string, unknown>): HistoryEvent {
    const previous = this.events[this.events.length - 1];
    const event: HistoryEvent = { timestamp, type, id: this.events.length + 1, previousEventId: previous?.id ?? 0, ...details };
    this.events.push(event);
    return event;
  }
}

function taskIds(resource: Extract<TaskResource, { kind: 'task' }>): { resourceType: string; resource: string } {
  return { resourceType: resource.resourceType, resource: resource.resource };
}

function json(value: unknown): string {
  return JSON.stringify(value === undefined ? null : value);
}

function causeText(cause: unknown): string {
  if (typeof cause === 'string') return cause;
  if (cause instanceof Error) return cause.message;
  return JSON.stringify(cause ?? '');
}

function defined(values: Record<string, string | null | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
}
