import { lambdaContext } from './env';
import { EMRClient, ListStepsCommand } from '@aws-sdk/client-emr';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { handler } from '../../../functions/record-run/handler';
import { resetClients } from '../../../lib/aws/clients';
import type { RecordRunInput } from '../../../lib/domain/runRecord';
import type { Placement } from '../../../lib/domain/types';
import { CLUSTER_ID, step } from '../emrResponses';
import { request, sizing } from '../fixtures';

const emr = mockClient(EMRClient);
const dynamo = mockClient(DynamoDBDocumentClient);
const placement = (clusterId?: string) =>
  ({ mode: 'dedicated', cluster: clusterId ? { ClusterId: clusterId } : {}, slot: null, pool: null, onDemandShare: 0.125, reasons: [], spec: null, hourlyCostUsd: 10, onDemandHourlyCostUsd: 20 }) as Placement;
const event = (overrides: Partial<RecordRunInput['run']> = {}, outcome: RecordRunInput['outcome'] = 'succeeded'): RecordRunInput => ({
  run: { request: request(), attempt: 1, sizing: sizing(), placement: placement(CLUSTER_ID), ...overrides },
  executionName: 'exec-1',
  startedAt: new Date(Date.now() - 30 * 60_000).toISOString(),
  outcome,
});

beforeEach(() => {
  emr.reset();
  dynamo.reset();
  resetClients();
  dynamo.on(PutCommand).resolves({});
});

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

  it('takes a pooled step’s timeline from its completion event (RunPooledStep’s result) without calling EMR', async () => {
    const timeline = { StartDateTime: '2026-11-27T10:00:00Z', EndDateTime: '2026-11-27T10:02:30Z' };

    const record = await handler(event({ pooledStep: { Step: { Id: 's-POOLED', Status: { Timeline: timeline } } } }), lambdaContext);

    expect(record).toMatchObject({ stepId: 's-POOLED', stepSeconds: 150 });
    expect(emr).not.toHaveReceivedAnyCommand();
  });

  it('looks a pooled step up with ListSteps when its start was not reported (its RUNNING event was lost)', async () => {
    emr.on(ListStepsCommand).resolves({ Steps: [step('COMPLETED')] });

    const record = await handler(event({ pooledStep: { Step: { Id: 's-1HT4QE4GS2M8K', Status: { Timeline: { EndDateTime: '2026-11-27T10:02:30Z' } } } } }), lambdaContext);

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
});
