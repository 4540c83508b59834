/**
 * Adapts a deployable definition to two gaps of aws-local-stepfunctions 3, so the local run keeps AWS's
 * semantics instead of the ASL being bent to fit the interpreter:
 *
 * 1. It evaluates `TimeoutSecondsPath` against the Task's effective input (after Parameters); AWS evaluates
 *    it against the state's raw input. The deployable RunSparkStep reads `$.sizing.stepTimeoutSeconds`, which
 *    is not among the EMR parameters, so locally it would fail with States.Runtime.
 * 2. A Task without `TimeoutSeconds` times out after 60 s locally; on AWS it has no timeout of its own
 *    (a real Spark step in the local runtime easily takes longer).
 *
 * The fix: the timeout path is evaluated as a hidden Parameters field (`TIMEOUT_FIELD`), which
 * `withTaskTimeout` strips before the adapter sees the input and enforces as `States.Timeout`; the
 * interpreter's own timer is pushed out of the way.
 */
import { STATES_ERROR } from '../../lib/contract';
import type { AslMachine } from './types';

export const TIMEOUT_FIELD = '__emrflowTimeoutSeconds';
/**
 * The same for `HeartbeatSeconds(Path)` of a `.waitForTaskToken` Task, which the interpreter ignores: the
 * runner's callback adapter (local/runner/taskTokens.ts) enforces it as `States.HeartbeatTimeout`.
 */
export const HEARTBEAT_FIELD = '__emrflowHeartbeatSeconds';

/** Below 2^31 ms, the largest delay a Node timer honours (a larger one fires at once). */
export const INTERPRETER_TIMEOUT_SECONDS = 2_000_000;

export function prepareForLocalRun<T extends AslMachine>(definition: T): T {
  // A JSON copy, not structuredClone: under jest, structuredClone builds objects of another realm, which the
  // interpreter's plain-object check rejects (nested Parameters would then go unresolved).
  const prepared: T = JSON.parse(JSON.stringify(definition));
  for (const state of Object.values(prepared.States)) {
    // The nested copies replace the originals: their Tasks need the same bridging (a Distributed Map child's
    // startExecution.sync:2 would otherwise time out after the interpreter's 60 s default).
    if (state.Type === 'Map' && state.ItemProcessor) state.ItemProcessor = prepareForLocalRun(state.ItemProcessor);
    if (state.Type === 'Parallel') state.Branches = (state.Branches ?? []).map((branch) => prepareForLocalRun(branch));
    if (state.Type !== 'Task') continue;
    const timeout = state.TimeoutSecondsPath
      ? { [`${TIMEOUT_FIELD}.$`]: state.TimeoutSecondsPath }
      : state.TimeoutSeconds
        ? { [TIMEOUT_FIELD]: state.TimeoutSeconds }
        : {};
    const heartbeat =
      typeof state.Resource === 'string' && state.Resource.endsWith('.waitForTaskToken')
        ? state.HeartbeatSecondsPath
          ? { [`${HEARTBEAT_FIELD}.$`]: state.HeartbeatSecondsPath }
          : state.HeartbeatSeconds
            ? { [HEARTBEAT_FIELD]: state.HeartbeatSeconds }
            : {}
        : {};
    Object.assign(timeout, heartbeat);
    if (Object.keys(timeout).length > 0) {
      const parameters = state.Parameters ?? { 'Payload.$': '$' };
      if (typeof parameters !== 'object' || Array.isArray(parameters)) {
        throw new Error(`local run: Task ${state.Comment ?? ''} has non-object Parameters and a timeout`);
      }
      state.Parameters = { ...parameters, ...timeout };
    }
    delete state.TimeoutSecondsPath;
    delete state.HeartbeatSecondsPath;
    delete state.HeartbeatSeconds;
    state.TimeoutSeconds = INTERPRETER_TIMEOUT_SECONDS;
  }
  return prepared;
}

/** Local because it stands in for Step Functions' own States.Timeout, which no emrflow code raises on AWS. */
export class StatesTimeoutError extends Error {
  constructor(seconds: number) {
    super(`Task timed out after ${seconds} seconds`);
    this.name = STATES_ERROR.timeout;
  }
}

/** Wraps a local Task handler: strips the hidden timeout field and enforces it as AWS would. */
export function withTaskTimeout<I, O>(
  handler: (input: I) => Promise<O>,
  scaleMs: (seconds: number) => number = (seconds) => seconds * 1000,
): (input: I) => Promise<O> {
  return async (input: I) => {
    if (input === null || typeof input !== 'object' || !(TIMEOUT_FIELD in (input as object))) return handler(input);
    const { [TIMEOUT_FIELD]: seconds, ...rest } = input as Record<string, unknown>;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StatesTimeoutError(Number(seconds))), scaleMs(Number(seconds)));
    });
    try {
      return await Promise.race([handler(rest as I), timedOut]);
    } finally {
      clearTimeout(timer);
    }
  };
}
