import { lambdaContext } from './env';
import { handler } from '../../../functions/place-job/handler';
import { request, sizing } from '../fixtures';

describe('place-job handler', () => {
  it('places with the shipped rules, pools and prices (golden values: pins what the shipped config gives today)', async () => {
    const placement = await handler(
      { request: request(), sizing: sizing({ capacityUnits: 16, predictedMinutes: 12 }), attempt: 1, executionName: 'exec-1' },
      lambdaContext,
    );

    expect(placement).toMatchObject({ mode: 'dedicated', cluster: {}, slot: null, onDemandShare: 0.25 });
    expect(placement.spec?.core).toMatchObject({ onDemandUnits: 4, spotUnits: 0 });
    expect(placement.spec?.task).toMatchObject({ onDemandUnits: 0, spotUnits: 12 });
    expect(placement.spec?.tags).toContainEqual({ Key: 'emrflow:execution', Value: 'exec-1' });
  });

  it('buys more On-Demand on a retry', async () => {
    const event = { request: request(), sizing: sizing({ capacityUnits: 16, predictedMinutes: 12 }), executionName: 'exec-1' };
    const first = await handler({ ...event, attempt: 1 }, lambdaContext);
    const second = await handler({ ...event, attempt: 2 }, lambdaContext);

    expect(second.onDemandShare).toBeGreaterThan(first.onDemandShare);
    expect(second.hourlyCostUsd).toBeGreaterThan(first.hourlyCostUsd);
  });
});
