import { lambdaContext } from './env';
import { EMRClient, ListInstancesCommand, ListStepsCommand } from '@aws-sdk/client-emr';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { handler } from '../../../functions/record-run/handler';
import { resetClients } from '../../../lib/aws/clients';
import type { RecordRunInput } from '../../../lib/domain/runRecord';
import type { Placement } from '../../../lib/domain/types';
import { CLUSTER_ID, step } from '../emrResponses';
import { request, sizing } from '../fixtures';
import { loadPrices } from '../../../lib/config/prices';
import { METRICS_NAMESPACE } from '../../../lib/aws/metrics';

const emr = mockClient(EMRClient);
const dynamo = mockClient(DynamoDBDocumentClient);
const placement = (clusterId?: string) =>
  ({
    mode: 'dedicated',
    cluster: clusterId ? { ClusterId: clusterId } : {},
    slot: null,
    pool: null,
    onDemandShare: 0.125,
    reasons: [],
    spec: null,
    hourlyCostUsd: 10,
    onDemandHourlyCostUsd: 20,
  }) as Placement;
const event = (overrides: Partial<RecordRunInput['run']> = {}, outcome: RecordRunInput['outcome'] = 'succeeded'): RecordRunInput => ({
  run: { request: request(), attempt: 1, sizing: sizing(), placement: placement(CLUSTER_ID), ...overrides },
  executionName: 'exec-1',
  startedAt: new Date(Date.now() - 30 * 60_000).toISOString(),
  outcome,
});

let stdout: jest.SpyInstance;
/** The EMF documents Powertools wrote to stdout, parsed. */
const emfDocuments = () =>
  stdout.mock.calls
    .map(([chunk]) => String(chunk))
    .flatMap((text) => text.split('\n'))
    .filter((line) => line.startsWith('{') && line.includes('"_aws"'))
    .map((line) => JSON.parse(line));

beforeEach(() => {
  stdout = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
  emr.reset();
  dynamo.reset();
  resetClients();
  dynamo.on(PutCommand).resolves({});
  emr.on(ListInstancesCommand).resolves({ Instances: [] });
});

afterEach(() => stdout.mockRestore());

describe('record-run handler', () => {
  it("writes the run with its step's duration, found by the step name", async () => {
    const other = { ...step('COMPLETED'), Id: 's-OTHER', Name: 'denormalize-events another-run attempt 1' };
    emr.on(ListStepsCommand).resolves({ Steps: [other, step('COMPLETED')] });

    const record = await handler(event(), lambdaContext);

    expect(record).toMatchObject({ status: 'SUCCEEDED', stepId: 's-1HT4QE4GS2M8K', stepSeconds: 720, attempts: 1, clusterId: CLUSTER_ID });
    expect(record.durationSeconds).toBeGreaterThanOrEqual(1800);
    // $10 an hour for the half hour (and the few milliseconds) since the execution started.
    expect(record.estimatedCostUsd).toBeGreaterThanOrEqual(5);
    expect(record.estimatedCostUsd).toBeLessThan(5.1);
    expect(dynamo).toHaveReceivedCommandWith(PutCommand, { TableName: 'emrflow-runs', Item: record });
  });

  it('takes a pooled step’s timeline from its completion event (RunPooledStep’s result), not from ListSteps', async () => {
    const timeline = { StartDateTime: '2026-11-27T10:00:00Z', EndDateTime: '2026-11-27T10:02:30Z' };

    const record = await handler(event({ pooledStep: { Step: { Id: 's-POOLED', Status: { Timeline: timeline } } } }), lambdaContext);

    expect(record).toMatchObject({ stepId: 's-POOLED', stepSeconds: 150 });
    expect(emr).not.toHaveReceivedCommand(ListStepsCommand);
  });

  it('looks a pooled step up with ListSteps when its start was not reported (its RUNNING event was lost)', async () => {
    emr.on(ListStepsCommand).resolves({ Steps: [step('COMPLETED')] });

    const record = await handler(
      event({ pooledStep: { Step: { Id: 's-1HT4QE4GS2M8K', Status: { Timeline: { EndDateTime: '2026-11-27T10:02:30Z' } } } } }),
      lambdaContext,
    );

    expect(record).toMatchObject({ stepId: 's-1HT4QE4GS2M8K', stepSeconds: 720 });
    expect(emr).toHaveReceivedCommandTimes(ListStepsCommand, 1);
  });

  it('records a run whose cluster was never created without calling EMR', async () => {
    const record = await handler(event({ placement: placement() }, 'failed'), lambdaContext);

    expect(record).toMatchObject({ status: 'FAILED', clusterId: null, stepId: null, stepSeconds: null });
    expect(emr).not.toHaveReceivedAnyCommand();
    expect(dynamo).toHaveReceivedCommandTimes(PutCommand, 1);
  });

  it('still records when the step cannot be found or EMR fails', async () => {
    emr.on(ListStepsCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));

    const record = await handler(event({}, 'failed'), lambdaContext);

    expect(record).toMatchObject({ status: 'FAILED', stepSeconds: null, clusterId: CLUSTER_ID });
    expect(dynamo).toHaveReceivedCommandTimes(PutCommand, 1);
  });

  it('prices a dedicated run from the instances its cluster held and emits its metrics as EMF', async () => {
    const prices = loadPrices();
    const r5 = prices.instanceTypes['r5.4xlarge'];
    const start = new Date(Date.now() - 2 * 3_600_000);
    const hour = (h: number) => new Date(start.getTime() + h * 3_600_000);
    const instance = (Market: 'ON_DEMAND' | 'SPOT', from: number, to: number) => ({
      InstanceType: 'r5.4xlarge',
      Market,
      Status: { State: 'TERMINATED' as const, Timeline: { CreationDateTime: hour(from), EndDateTime: hour(to) } },
    });
    emr.on(ListStepsCommand).resolves({ Steps: [step('COMPLETED')] });
    emr
      .on(ListInstancesCommand)
      .resolvesOnce({ Instances: [instance('ON_DEMAND', 0, 2)], Marker: 'page-2' })
      .resolvesOnce({ Instances: [instance('SPOT', 0, 1.5)] });

    const record = await handler(event({}), lambdaContext);

    // Both ListInstances pages: 2 On-Demand hours and 1.5 Spot hours.
    const expected = 2 * (r5.ec2Hourly + r5.emrHourly) + 1.5 * (r5.ec2Hourly * (1 - (r5.spotDiscount ?? prices.expectedSpotDiscount)) + r5.emrHourly);
    expect(record.cost?.clusters[0]).toMatchObject({
      clusterId: CLUSTER_ID,
      onDemand: { instances: 1, instanceHours: 2 },
      spot: { instances: 1, instanceHours: 1.5 },
    });
    expect(record.cost?.clusters[0].usd).toBeCloseTo(expected, 6);
    expect(Math.abs((record.costUsd ?? 0) - expected)).toBeLessThan(0.01);
    expect(record).toMatchObject({ placementMode: 'dedicated', pool: null, queueWaitSeconds: null });

    const documents = emfDocuments();
    const byName = (name: string) => documents.find((doc) => doc._aws.CloudWatchMetrics[0].Metrics[0].Name === name);
    const cost = byName('RunCostUsd');
    expect(cost._aws.CloudWatchMetrics[0]).toMatchObject({ Namespace: METRICS_NAMESPACE, Dimensions: [expect.arrayContaining(['service', 'job'])] });
    expect(cost).toMatchObject({ service: 'record-run', job: record.job, RunCostUsd: record.costUsd });
    expect(byName('PredictedMinutes')).toMatchObject({ PredictedMinutes: record.predictedMinutes });
    expect(byName('ActualMinutes')).toMatchObject({ ActualMinutes: 12 });
    expect(byName('SpotInterruptions')).toMatchObject({ SpotInterruptions: 0 });
    // A dedicated run waited in no queue.
    expect(byName('QueueWaitSeconds')).toBeUndefined();
  });

  it("records a pooled run's queue wait and prices its lease, not the shared cluster's instances", async () => {
    const grantedAt = Date.now() - 30 * 60_000;
    const pooled: Placement = {
      ...placement(),
      mode: 'pool',
      pool: { name: 'shared', units: 8, priority: 'normal' },
      slot: { pool: 'shared', clusterId: 'j-POOL', lease: 'exec-1#1', units: 8, enqueuedAt: grantedAt - 90_000, grantedAt },
    };
    emr.on(ListStepsCommand).resolves({ Steps: [] });

    const record = await handler(event({ placement: pooled }), lambdaContext);

    expect(record).toMatchObject({ placementMode: 'pool', pool: 'shared', queueWaitSeconds: 90, clusterId: 'j-POOL' });
    expect(record.cost?.clusters).toEqual([]);
    expect(record.cost?.pool).toMatchObject({ pool: 'shared', clusterId: 'j-POOL', units: 8 });
    expect(record.cost?.pool?.seconds).toBeGreaterThanOrEqual(1800);
    expect(emr).not.toHaveReceivedCommand(ListInstancesCommand);
    const wait = emfDocuments().find((doc) => 'QueueWaitSeconds' in doc);
    expect(wait).toMatchObject({ service: 'record-run', pool: 'shared', QueueWaitSeconds: 90 });
    expect(wait._aws.CloudWatchMetrics[0].Metrics[0]).toEqual({ Name: 'QueueWaitSeconds', Unit: 'Seconds' });
  });

  it('records the run without a cost when the instances cannot be read', async () => {
    emr.on(ListStepsCommand).resolves({ Steps: [step('COMPLETED')] });
    emr.on(ListInstancesCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));

    const record = await handler(event({}), lambdaContext);

    expect(record).toMatchObject({ costUsd: null, cost: null, stepSeconds: 720 });
    expect(emfDocuments().some((doc) => 'RunCostUsd' in doc)).toBe(false);
  });
});
