import middy from '@middy/core';
import { stableErrorNames } from '../../../lib/aws/middleware';
import { lambdaContext } from '../functions/env';

const slow = async () => new Promise((resolve) => setTimeout(() => resolve('late'), 1_000));
const nearDeadline = { ...lambdaContext, getRemainingTimeInMillis: () => 30 };

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
