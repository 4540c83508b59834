import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { functionLogger } from '../../../lib/aws/logger';
import type { FunctionMetrics } from '../../../lib/aws/metrics';
import { handlerMiddlewares, lambdaHandler, stableErrorNames } from '../../../lib/aws/middleware';
import { lambdaContext } from '../functions/env';

const slow = async () => new Promise((resolve) => setTimeout(() => resolve('late'), 1_000));
const nearDeadline = { ...lambdaContext, getRemainingTimeInMillis: () => 30 };
/** What @smithy/node-http-handler throws when a request's socket times out: a raw SDK error named TimeoutError. */
const sdkSocketTimeout = () =>
  Object.assign(new Error('@smithy/node-http-handler - the request socket timed out after 1000 ms of inactivity'), { name: 'TimeoutError' });

describe('stableErrorNames middleware', () => {
  it("turns middy's early TimeoutError into Function.Timeout, which run-job retries", async () => {
    const handler = middy(slow).use(stableErrorNames());

    await expect(handler({}, nearDeadline)).rejects.toMatchObject({ name: 'Function.Timeout', message: expect.stringContaining('emrflow-test') });
  });

  it('without it, middy fails with TimeoutError, a name no Retry or Catch knows (negative control)', async () => {
    const handler = middy(slow);

    await expect(handler({}, nearDeadline)).rejects.toMatchObject({ name: 'TimeoutError' });
  });

  it('leaves every other error as it is', async () => {
    const handler = middy(async () => {
      throw Object.assign(new Error('bad'), { name: 'Request.Invalid' });
    }).use(stableErrorNames());

    await expect(handler({}, lambdaContext)).rejects.toMatchObject({ name: 'Request.Invalid', message: 'bad' });
  });
});

describe('lambdaHandler, the one middleware stack', () => {
  /** A FunctionMetrics that records when it is flushed, in the same log as the other steps. */
  const recordingMetrics = (steps: string[]): FunctionMetrics => ({
    powertools: undefined as never,
    add: () => undefined,
    flush: () => {
      steps.push('metrics written');
    },
  });
  const recordingLogger = (steps: string[]) => {
    const logger = functionLogger('stack-test');
    jest.spyOn(logger, 'addContext').mockImplementation(() => {
      steps.push('logger context');
    });
    return logger;
  };

  it('stacks the logger context, then the metrics, then stableErrorNames last (whose onError middy runs first)', async () => {
    // Prepare
    const steps: string[] = [];
    const stack = handlerMiddlewares({ logger: recordingLogger(steps), metrics: recordingMetrics(steps) });
    const request = { event: {}, context: lambdaContext, response: undefined, error: sdkSocketTimeout(), internal: {} };

    // Act: each middleware by its place in the stack
    await stack[0].before!(request as never);
    await stack[1].after!(request as never);
    await stack[2].onError!(request as never);

    // Assess
    expect(stack).toHaveLength(3);
    expect(steps).toEqual(['logger context', 'metrics written']);
    expect(request.error).toMatchObject({ name: 'Function.Timeout' });
  });

  it('leaves the metrics out of the stack of a handler that emits none, and keeps stableErrorNames last', async () => {
    const steps: string[] = [];
    const stack = handlerMiddlewares({ logger: recordingLogger(steps) });
    const request = { event: {}, context: lambdaContext, error: sdkSocketTimeout(), internal: {} };

    await stack[0].before!(request as never);
    await stack[1].onError!(request as never);

    expect(stack).toHaveLength(2);
    expect(steps).toEqual(['logger context']);
    expect(request.error).toMatchObject({ name: 'Function.Timeout' });
  });

  it('runs the task with the Lambda context on its logger and writes its metrics when it returns', async () => {
    const steps: string[] = [];
    const handler = lambdaHandler(
      async (event: { n: number }) => {
        steps.push('task');
        return event.n + 1;
      },
      { logger: recordingLogger(steps), metrics: recordingMetrics(steps) },
    );

    await expect(handler({ n: 1 }, lambdaContext)).resolves.toBe(2);
    expect(steps).toEqual(['logger context', 'task', 'metrics written']);
  });

  it("keeps the name and message of the task's own errors, and still writes its metrics", async () => {
    const steps: string[] = [];
    const handler = lambdaHandler(
      async () => {
        throw Object.assign(new Error('bad'), { name: 'Request.Invalid' });
      },
      { logger: recordingLogger(steps), metrics: recordingMetrics(steps) },
    );

    await expect(handler({}, lambdaContext)).rejects.toMatchObject({ name: 'Request.Invalid', message: 'bad' });
    expect(steps).toEqual(['logger context', 'metrics written']);
  });

  it("names middy's early timeout and an SDK socket timeout Function.Timeout, which run-job retries", async () => {
    const logger = functionLogger('stack-test');
    const sdkTimingOut = lambdaHandler(
      async () => {
        throw sdkSocketTimeout();
      },
      { logger },
    );

    await expect(lambdaHandler(slow, { logger })({}, nearDeadline)).rejects.toMatchObject({ name: 'Function.Timeout' });
    await expect(sdkTimingOut({}, lambdaContext)).rejects.toMatchObject({ name: 'Function.Timeout', cause: { name: 'TimeoutError' } });
  });

  it('a chain built by hand without stableErrorNames leaks the raw SDK error name (negative control)', async () => {
    // The chain five handlers had before the factory: the logger (and metrics), no stableErrorNames.
    const handByHand = middy(async () => {
      throw sdkSocketTimeout();
    }).use(injectLambdaContext(functionLogger('stack-test')));

    await expect(handByHand({}, lambdaContext)).rejects.toMatchObject({ name: 'TimeoutError' });
  });
});
