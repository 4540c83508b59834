import { lambdaContext } from './env';
import { handler } from '../../../functions/place-job/handler';
import { request, sizing } from '../fixtures';

process.env.STAGE = 'test';

describe('place-job handler', () => {
  it('places a job that fits the shipped shared pool there (golden values: pins what the shipped config gives today)', async () => {
    const placement = await handler(
      { request: request(), sizing: sizing({ capacityUnits: 16, predictedMinutes: 12 }), attempt: 1, executionName: 'exec-1' },
      lambdaContext,
    );

    expect(placement).toMatchObject({
      mode: 'pool',
      cluster: {},
      slot: null,
      spec: null,
      pool: { name: 'shared', units: 16, priority: request().job.priority },
      onDemandShare: 0.016, // the shipped pool's 2 core units of 128
    });
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

  it('counts each placement in JobsPlaced by pool (dedicated for a cluster of its own) and priority, as EMF on stdout', async () => {
    const stdout = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    let written: string[];
    try {
      await handler({ request: request(), sizing: sizing({ capacityUnits: 16, predictedMinutes: 12 }), attempt: 1, executionName: 'exec-1' }, lambdaContext);
      await handler({ request: request(), sizing: sizing({ capacityUnits: 64, predictedMinutes: 12 }), attempt: 1, executionName: 'exec-2' }, lambdaContext);
    } finally {
      written = stdout.mock.calls.map(([chunk]) => String(chunk).trim());
      stdout.mockRestore();
    }
    const documents = written.filter((line) => line.includes('"JobsPlaced"')).map((line) => JSON.parse(line));

    expect(documents.map(({ pool, priority, JobsPlaced, service }) => ({ pool, priority, JobsPlaced, service }))).toEqual([
      { pool: 'shared', priority: request().job.priority, JobsPlaced: 1, service: 'place-job' },
      { pool: 'dedicated', priority: request().job.priority, JobsPlaced: 1, service: 'place-job' },
    ]);
    expect(documents[0]._aws.CloudWatchMetrics[0]).toEqual({
      Namespace: 'emrflow',
      Dimensions: [['service', 'pool', 'priority']],
      Metrics: [{ Name: 'JobsPlaced', Unit: 'Count' }],
    });
  });
});
