import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { FunctionTimeoutError } from '../errors';
import { type FunctionMetrics, metricsMiddleware } from './metrics';

/**
 * Every handler's last middleware: gives the errors middy itself raises a name the state machines'
 * Retry/Catch know. middy's core answers `TimeoutError` shortly before the Lambda deadline
 * (`timeoutEarlyInMillis`); run-job retries `Function.Timeout` as it retries Lambda service errors.
 */
export function stableErrorNames(): middy.MiddlewareObj {
  return {
    onError: async (request) => {
      const error = request.error;
      if (error?.name === 'TimeoutError') {
        request.error = new FunctionTimeoutError(
          `${request.context.functionName}: gave up before the Lambda deadline (${error.message}); the state machine retries it`,
          { cause: error },
        );
      }
    },
  };
}

/** What a handler brings to its stack: its logger, and its metrics when it emits any. */
export interface HandlerStack {
  logger: Logger;
  metrics?: FunctionMetrics;
}

/**
 * The one middleware stack, in order: the Lambda context on the logger, the metrics written when the task
 * returns or throws (only for a handler that emits metrics), and `stableErrorNames` last — middy runs `onError`
 * in reverse, so it is the first to see an error and names it before anything else reports it.
 */
export function handlerMiddlewares({ logger, metrics }: HandlerStack): middy.MiddlewareObj[] {
  return [injectLambdaContext(logger), ...(metrics ? [metricsMiddleware(metrics)] : []), stableErrorNames()];
}

/** A function's Lambda handler: its task wrapped in the one stack (`handlerMiddlewares`). */
export function lambdaHandler<TEvent, TResult>(
  task: (event: TEvent, context: Context) => Promise<TResult>,
  stack: HandlerStack,
): middy.MiddyfiedHandler<TEvent, TResult> {
  return middy(task).use(handlerMiddlewares(stack));
}
