import { lambdaContext } from './env';
import { handler } from '../../../functions/place-job/handler';
import { request, sizing } from '../fixtures';

describe('place-job handler', () => {
  it('places a job that fits the shipped shared pool there (golden values: pins what the shipped config gives today)', async () => {
    const placement = await handler(
      { request: request(), sizing: sizing({ capacityUnits: 16, predictedMinutes: 12 }), attempt: 1, executionName: 'exec-1' },
      lambdaContext,
    );

    expect(placement).toMatchObject({ mode: 'pool', cluster: {}, slot: null, spec: null, pool: { name: 'shared', units: 16, priority: request().job.priority }, onDemandShare: 0.125 });
  });

  it('gives a job too big for every pool cluster a dedicated cluster with the shipped rules and prices', async () => {
    const placement = await handler(
      { request: request(), sizing: sizing({ capacityUnits: 64, predictedMinutes: 12 }), attempt: 1, executionName: 'exec-1' },
      lambdaContext,
    );

    expect(placement).toMatchObject({ mode: 'dedicated', cluster: {}, slot: null, pool: null });
    expect(placement.spec?.core.onDemandUnits).toBeGreaterThan(0);
    expect(placement.spec?.task.spotUnits).toBeGreaterThan(0);
    expect(placement.spec?.tags).toContainEqual({ Key: 'emrflow:execution', Value: 'exec-1' });
  });

  it('buys a dedicated cluster more On-Demand on a retry', async () => {
    const event = { request: request(), sizing: sizing({ capacityUnits: 64, predictedMinutes: 12 }), executionName: 'exec-1' };
    const first = await handler({ ...event, attempt: 1 }, lambdaContext);
    const second = await handler({ ...event, attempt: 2 }, lambdaContext);

    expect(second.onDemandShare).toBeGreaterThan(first.onDemandShare);
    expect(second.hourlyCostUsd).toBeGreaterThan(first.hourlyCostUsd);
  });
});
