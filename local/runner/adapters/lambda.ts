/**
 * Lambda tasks run the real handler in process. Two Resource forms, as Step Functions has them:
 *   - the function ARN itself (what run-job uses): the task result is the handler's return value;
 *   - `arn:aws:states:::lambda:invoke`: the result is `{ Payload, StatusCode, ExecutedVersion }`.
 * A thrown error keeps its `name` as the Error (so `Request.Invalid` matches ErrorEquals) and its Cause is
 * the JSON Lambda reports: `{ errorType, errorMessage, trace }`.
 *
 * One process runs every function: at most `concurrency` invocations of one function run at once and the
 * others wait their turn, as if each function had that much reserved concurrency and Step Functions'
 * retries absorbed the throttling (simplified: they wait instead of failing with TooManyRequestsException
 * and retrying). Time spent waiting does not count against the function's timeout, as on Lambda, where the
 * clock starts when the handler does. Without the cap a burst of executions would run hundreds of
 * handlers interleaved on one thread, each past its timeout.
 */
import { randomUUID } from 'node:crypto';
import { channel } from 'node:diagnostics_channel';
import type { Context } from 'aws-lambda';
import type { LocalFunction, ServerlessConfig } from '../serverless-config';
import type { WorkTurns } from '../serial';
import { TaskError } from './errors';

type Handler = (event: unknown, context: Context) => unknown;

export interface LambdaInvoker {
  /** `onStart` runs when the handler starts (after any wait for a concurrency slot). */
  invoke(fn: LocalFunction, event: unknown, onStart?: () => void): Promise<unknown>;
  /** Finds a function by ARN (qualified or not) or name, as `lambda:invoke`'s FunctionName accepts. */
  find(functionName: string): LocalFunction | undefined;
  /** Resolves once no invocation is running or waiting (one a settled .waitForTaskToken left behind, say). */
  drain(): Promise<void>;
}

/**
 * Each invocation that returned: its function key and real milliseconds, handler start to end (`npm run bench:pool` reads the
 * dispatcher's): a diagnostics channel, so measuring costs nothing while nobody subscribes.
 */
export const LAMBDA_INVOCATION_CHANNEL = 'emrflow:lambda-invocation';
export interface LambdaInvocationMessage {
  function: string;
  wallMs: number;
}
const invocations = channel(LAMBDA_INVOCATION_CHANNEL);

/** Default in-flight invocations per function on the local runtime. */
export const LOCAL_LAMBDA_CONCURRENCY = 10;

export function lambdaInvoker(
  config: ServerlessConfig,
  baseEnvironment: () => Record<string, string>,
  concurrency = LOCAL_LAMBDA_CONCURRENCY,
  /** The runtime's work turns: each invocation runs in one (local/runner/serial.ts). */
  turns?: WorkTurns,
): LambdaInvoker {
  const functions = Object.values(config.functions);
  const slots = new Map<string, { running: number; waiting: Array<() => void> }>();
  const inFlight = new Set<Promise<unknown>>();
  const acquire = async (fn: LocalFunction): Promise<() => void> => {
    const own = slots.get(fn.key) ?? { running: 0, waiting: [] };
    slots.set(fn.key, own);
    if (own.running >= concurrency) await new Promise<void>((resolve) => own.waiting.push(resolve));
    own.running += 1;
    return () => {
      own.running -= 1;
      own.waiting.shift()?.();
    };
  };
  return {
    find(functionName) {
      const unqualified = functionName.replace(/^(arn:aws:lambda:[^:]+:[^:]+:function:[^:]+):.+$/, '$1');
      return functions.find((fn) => fn.arn === unqualified || fn.name === unqualified);
    },
    invoke(fn, event, onStart) {
      const invocation = (async () => {
        const release = await acquire(fn);
        const start = () => {
          onStart?.();
          return invokeNow(fn, event);
        };
        try {
          return await (turns ? turns.run(start) : start());
        } finally {
          release();
        }
      })();
      inFlight.add(invocation);
      const forget = () => inFlight.delete(invocation);
      invocation.then(forget, forget);
      return invocation;
    },
    async drain() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
  };

  async function invokeNow(fn: LocalFunction, event: unknown): Promise<unknown> {
    // Handlers read their configuration from process.env, as on Lambda; they share this process.
    Object.assign(process.env, baseEnvironment(), fn.environment);
    const handler = loadHandler(fn);
    const context = lambdaContext(fn, config.region);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new TaskError('Sandbox.Timedout', lambdaCause('Sandbox.Timedout', `Task timed out after ${fn.timeoutSeconds.toFixed(2)} seconds`))),
        fn.timeoutSeconds * 1000,
      );
    });
    const started = performance.now();
    try {
      const result = await Promise.race([Promise.resolve().then(() => handler(event, context)), timedOut]);
      if (invocations.hasSubscribers) invocations.publish({ function: fn.key, wallMs: performance.now() - started } satisfies LambdaInvocationMessage);
      // Lambda serializes the return value: dates become strings, undefined becomes null.
      return JSON.parse(JSON.stringify(result ?? null));
    } catch (error) {
      if (error instanceof TaskError) throw error;
      const name = error instanceof Error && error.name ? error.name : 'Error';
      const message = error instanceof Error ? error.message : String(error);
      const trace = error instanceof Error && error.stack ? error.stack.split('\n') : [];
      throw new TaskError(name, lambdaCause(name, message, trace));
    } finally {
      clearTimeout(timer);
    }
  }
}

export function lambdaCause(errorType: string, errorMessage: string, trace: string[] = []): string {
  return JSON.stringify({ errorType, errorMessage, trace });
}

function loadHandler(fn: LocalFunction): Handler {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const module = require(fn.modulePath);
  const handler = module[fn.exportName] ?? module.default?.[fn.exportName];
  if (typeof handler !== 'function') {
    throw new TaskError('Runtime.HandlerNotFound', lambdaCause('Runtime.HandlerNotFound', `${fn.modulePath}.${fn.exportName} is undefined or not exported`));
  }
  return handler;
}

function lambdaContext(fn: LocalFunction, region: string): Context {
  const deadline = Date.now() + fn.timeoutSeconds * 1000;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: fn.name,
    functionVersion: '$LATEST',
    invokedFunctionArn: fn.arn,
    memoryLimitInMB: String(fn.memoryMb),
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${fn.name}`,
    logStreamName: `local/${region}/${fn.key}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
