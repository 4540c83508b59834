/**
 * One execution of a local state machine: the interpreter runs the local copy of the definition with the
 * adapters, while its event log becomes a timeline (state, attempt, duration, cluster) and the count of
 * billed state transitions (every state entered plus every retry, as Step Functions Standard bills them).
 */
import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { executionArnFor, STATES_ERROR } from '../../lib/contract';
import type { MachineDefinition } from './definition';
import type { TaskHandler } from './tasks';

export type ExecutionStatus = 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

export interface TimelineEntry {
  state: string;
  /** The state's type in the deployable definition (a Wait stays a Wait). */
  type: string;
  /** The job's attempt ($.attempt) when the state was entered, if known. */
  attempt: number | null;
  /** 0 for the first try of a state, n for its n-th Retry. */
  retry: number;
  startedAt: number;
  durationMs: number;
  clusterId: string | null;
  outcome: 'succeeded' | 'retried' | 'caught' | 'failed' | 'running';
  error?: string;
  cause?: string;
}

/** An event of aws-local-stepfunctions' log (its own type is not exported): states entered, exited, failed, retried, caught. */
export interface InterpreterEvent {
  type: string;
  timestamp: number;
  state?: { name: string; type: string; input: unknown; output?: unknown };
  Error?: string;
  Cause?: unknown;
  retry?: { attempt: number };
}

/** What the interpreter's result rejects with: its own error, or a state's (the cause). */
interface InterpreterFailure {
  name?: string;
  message?: unknown;
  cause?: InterpreterFailure;
}

export interface ExecutionResult {
  executionName: string;
  status: ExecutionStatus;
  output: unknown;
  error: string | null;
  cause: string | null;
  transitions: number;
  /** Highest $.attempt seen. */
  attempts: number;
  timeline: TimelineEntry[];
  startedAt: number;
  durationMs: number;
}

/** An execution the runner itself could not run (a definition that does not load): it fails as States.Runtime would. */
export function runnerFailure(executionName: string, error: unknown, startedAt: number): ExecutionResult {
  return {
    executionName,
    status: 'FAILED',
    output: null,
    error: 'States.Runtime',
    cause: `${(error as Error).name}: ${(error as Error).message}`,
    transitions: 0,
    attempts: 0,
    timeline: [],
    startedAt,
    durationMs: Date.now() - startedAt,
  };
}

export interface ExecuteOptions {
  executionName: string;
  stateMachineArn: string;
  handlers: Record<string, TaskHandler>;
  /** The context object's `Task` (its `Token` for `.waitForTaskToken` Tasks). */
  task?: { readonly Token: string };
  /** Called as each timeline entry closes, for a live timeline. */
  onTimelineEntry?: (entry: TimelineEntry) => void;
  /** Stops the execution (StopExecution: ABORTED) once this state has been entered and its work started. */
  abortAfter?: string;
  /** The execution's TimeoutSeconds instead of the definition's (emulated seconds). */
  timeoutSeconds?: number;
  /** Aborted when the execution stops, so the Tasks still polling (a .sync step) give up as on AWS. */
  abortController?: AbortController;
  /** StopExecution from outside (the local Step Functions API): the execution ends ABORTED once it aborts. */
  stopSignal?: AbortSignal;
  /** Every event of the interpreter's log, in order (the local Step Functions API's execution history). */
  onEvent?: (event: InterpreterEvent) => void;
}

/** Emulated milliseconds between entering the abortAfter state and the abort: its Task call has been made. */
const ABORT_DELAY_MS = 50;
/** How long the timeline waits for the last events of a stopped execution. */
const STOPPED_LOG_GRACE_MS = 200;

/** StartExecution's limit on the input, in UTF-8 bytes (Step Functions API reference: 262,144). */
export const MAX_EXECUTION_INPUT_BYTES = 262_144;

/** What StartExecution answers to an input it refuses: no execution exists, nothing ran. */
export class StartExecutionRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ValidationException';
  }
}

/** Refuses an execution input as StartExecution does: JSON only, at most 256 KiB of UTF-8. */
export function checkExecutionInput(input: unknown): void {
  const text = JSON.stringify(input);
  if (text === undefined) throw new StartExecutionRefusedError('Invalid execution input: the input must be JSON');
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_EXECUTION_INPUT_BYTES) {
    throw new StartExecutionRefusedError(
      `1 validation error detected: Value at 'input' failed to satisfy constraint: Member must have length less than or equal to ${MAX_EXECUTION_INPUT_BYTES} (the input is ${bytes} bytes); pass an S3 reference instead of data`,
    );
  }
}

export async function executeMachine(machine: MachineDefinition, input: unknown, options: ExecuteOptions): Promise<ExecutionResult> {
  const { executionName, stateMachineArn } = options;
  checkExecutionInput(input);
  const definition = options.timeoutSeconds === undefined ? machine.local : { ...machine.local, TimeoutSeconds: options.timeoutSeconds };
  // Validated by asl-validator when loaded (definition.ts); the interpreter's own check is off.
  const interpreter = new StateMachine(definition as unknown as StateMachineDefinition, { validationOptions: { noValidate: true } });
  // Date.now() is the virtual clock's while the runtime runs (local/emulator/clock.ts): timelines are in emulated time.
  const startedAt = Date.now();
  const execution = interpreter.run(input as never, {
    overrides: { taskResourceLocalHandlers: options.handlers as never },
    context: {
      Execution: {
        Id: executionArnFor(stateMachineArn, executionName),
        Name: executionName,
        RoleArn: stateMachineArn.replace(/:states:[^:]+:(\d+):stateMachine:.*/, ':iam::$1:role/local-step-functions'),
      },
      StateMachine: { Id: stateMachineArn, Name: machine.name },
      // Passed by reference (the interpreter spreads the context once), so its Token getter stays live.
      ...(options.task ? { Task: options.task } : {}),
    },
  });

  const timeline = new TimelineBuilder(machine.stateTypes, options.onTimelineEntry);
  let abortedAfter: string | null = null;
  let abortTimer: NodeJS.Timeout | undefined;
  const stop = () => execution.abort();
  options.stopSignal?.addEventListener('abort', stop, { once: true });
  // Stopped before it began (StopExecution right after StartExecution): it aborts at once.
  if (options.stopSignal?.aborted) stop();
  const consumeEvents = (async () => {
    for await (const event of execution.eventLogs) {
      const logged = event as InterpreterEvent;
      options.onEvent?.(logged);
      timeline.add(logged);
      const entered = logged.type === 'StateEntered' ? logged.state?.name : undefined;
      if (options.abortAfter && entered === options.abortAfter && abortedAfter === null) {
        abortedAfter = entered;
        abortTimer = setTimeout(() => execution.abort(), ABORT_DELAY_MS);
      }
    }
  })();

  let status: ExecutionStatus = 'SUCCEEDED';
  let output: unknown = null;
  let error: string | null = null;
  let cause: string | null = null;
  try {
    output = await execution.result;
  } catch (caught) {
    const failure = caught as InterpreterFailure | null | undefined;
    if (failure?.name === 'ExecutionTimeoutError') {
      status = 'TIMED_OUT';
      error = STATES_ERROR.timeout;
      cause = `The execution ran longer than the definition's TimeoutSeconds (${definition.TimeoutSeconds})`;
    } else if (failure?.name === 'ExecutionAbortedError') {
      status = 'ABORTED';
      cause = abortedAfter === null ? 'Stopped (StopExecution)' : `Stopped (StopExecution) after entering ${abortedAfter}`;
    } else {
      status = 'FAILED';
      const reason = failure?.cause ?? failure;
      error = reason?.name ?? 'States.Runtime';
      cause = typeof reason?.message === 'string' ? reason.message : String(reason);
    }
  }
  clearTimeout(abortTimer);
  options.stopSignal?.removeEventListener('abort', stop);
  if (status === 'ABORTED' || status === 'TIMED_OUT') {
    options.abortController?.abort();
    // A stopped execution's log may never close while a Task it no longer waits for still runs: read what came.
    await Promise.race([consumeEvents, new Promise((resolve) => setTimeout(resolve, STOPPED_LOG_GRACE_MS))]);
  } else {
    await consumeEvents;
  }
  timeline.finish(status !== 'SUCCEEDED', error, cause);

  return {
    executionName,
    status,
    output,
    error,
    cause,
    transitions: timeline.transitions,
    attempts: Math.max(timeline.maxAttempt, attemptOf(output) ?? 0, 1),
    timeline: timeline.entries,
    startedAt,
    durationMs: Date.now() - startedAt,
  };
}

class TimelineBuilder {
  readonly entries: TimelineEntry[] = [];
  transitions = 0;
  maxAttempt = 0;
  private current: TimelineEntry | null = null;
  private pendingError: { error: string; cause: string } | null = null;

  constructor(
    private readonly stateTypes: Record<string, string>,
    private readonly onEntry?: (entry: TimelineEntry) => void,
  ) {}

  add(event: InterpreterEvent) {
    const state = event.state ?? { name: '', type: '', input: undefined };
    switch (event.type) {
      case 'StateEntered':
        this.transitions++;
        this.open(state.name, state.input, event.timestamp, 0);
        break;
      case 'StateFailed':
        this.pendingError = { error: String(event.Error), cause: typeof event.Cause === 'string' ? event.Cause : JSON.stringify(event.Cause) };
        break;
      case 'StateRetried':
        this.transitions++;
        this.close('retried', event.timestamp);
        this.open(state.name, state.input, event.timestamp, event.retry?.attempt ?? 0);
        break;
      case 'StateCaught':
        this.close('caught', event.timestamp);
        break;
      case 'StateExited':
        if (this.current) this.current.clusterId = clusterIdOf(state.output) ?? this.current.clusterId;
        this.noteAttempt(attemptOf(state.output));
        this.close('succeeded', event.timestamp);
        break;
      default:
        break;
    }
  }

  finish(failed: boolean, error: string | null, cause: string | null) {
    if (!this.current) return;
    this.pendingError ??= failed && error ? { error, cause: cause ?? '' } : null;
    this.close(failed ? 'failed' : 'running', Date.now());
  }

  private open(state: string, input: unknown, timestamp: number, retry: number) {
    const attempt = attemptOf(input);
    this.noteAttempt(attempt);
    this.current = {
      state,
      type: this.stateTypes[state] ?? 'Task',
      attempt,
      retry,
      startedAt: timestamp,
      durationMs: 0,
      clusterId: clusterIdOf(input),
      outcome: 'running',
    };
    this.pendingError = null;
  }

  private close(outcome: TimelineEntry['outcome'], timestamp: number) {
    const entry = this.current;
    if (!entry) return;
    entry.outcome = outcome;
    entry.durationMs = timestamp - entry.startedAt;
    if (outcome !== 'succeeded' && this.pendingError) Object.assign(entry, this.pendingError);
    this.entries.push(entry);
    this.current = null;
    this.onEntry?.(entry);
  }

  private noteAttempt(attempt: number | null) {
    if (attempt !== null && attempt > this.maxAttempt) this.maxAttempt = attempt;
  }
}

function attemptOf(data: unknown): number | null {
  const attempt = (data as { attempt?: unknown } | null)?.attempt;
  return data && typeof data === 'object' && typeof attempt === 'number' ? attempt : null;
}

/** Where a state's input or output names its cluster (run-job's placement, failure, or an EMR answer). */
interface ClusterFields {
  placement?: { cluster?: { ClusterId?: string }; slot?: { clusterId?: string } };
  failure?: { clusterId?: string };
  ClusterId?: string;
}

function clusterIdOf(data: unknown): string | null {
  if (!data || typeof data !== 'object') return null;
  const fields = data as ClusterFields;
  return fields.placement?.cluster?.ClusterId ?? fields.placement?.slot?.clusterId ?? fields.failure?.clusterId ?? fields.ClusterId ?? null;
}
