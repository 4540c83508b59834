import type middy from '@middy/core';
import { FunctionTimeoutError } from '../errors';

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
