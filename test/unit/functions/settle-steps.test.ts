import { lambdaContext } from './env';
import { AddJobFlowStepsCommand, EMRClient, InvalidRequestException, ListStepsCommand } from '@aws-sdk/client-emr';
import { SendTaskFailureCommand, SendTaskHeartbeatCommand, SendTaskSuccessCommand, SFNClient, TaskTimedOut } from '@aws-sdk/client-sfn';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, PutCommand, QueryCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { handler as settleSteps } from '../../../functions/settle-steps/handler';
import { handler as submitPooledStep } from '../../../functions/submit-pooled-step/handler';
import { resetClients } from '../../../lib/aws/clients';
import type { ReconcileReport } from '../../../lib/jobManager/jobManager';

process.env.STEP_TOKENS_TABLE = 'emrflow-step-tokens';

const emr = mockClient(EMRClient);
const sfn = mockClient(SFNClient);
const dynamo = mockClient(DynamoDBDocumentClient);

const CLUSTER = 'j-POOL0000001';
const mapping = (stepId: string) => ({
  clusterId: CLUSTER,
  stepId,
  stepName: `denormalize-events run-${stepId} attempt 1`,
  taskToken: `token-${stepId}`,
  execution: `exec-${stepId}`,
  submittedAt: 1,
});
const conditionFailed = () => new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });

const envelope = { version: '0', id: 'e-1', source: 'aws.emr', account: '111122223333', time: '2026-11-27T10:00:00Z', region: 'us-east-1', resources: [] };
const stepEvent = (stepId: string, state: string) => ({
  ...envelope,
  'detail-type': 'EMR Step Status Change',
  detail: {
    severity: state === 'FAILED' ? 'ERROR' : 'INFO',
    actionOnFailure: 'CONTINUE',
    stepId,
    name: `denormalize-events run-${stepId} attempt 1`,
    clusterId: CLUSTER,
    state,
    message: `Step ${stepId} ${state}`,
  },
});
const clusterEvent = (state: string, code: string, message: string) => ({
  ...envelope,
  'detail-type': 'EMR Cluster State Change',
  detail: {
    severity: 'CRITICAL',
    stateChangeReason: JSON.stringify({ code, message }),
    name: 'emrflow pool shared a1',
    clusterId: CLUSTER,
    state,
    message: `Amazon EMR Cluster ${CLUSTER} is ${state}`,
  },
});
const scheduled = { ...envelope, source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} };

beforeEach(() => {
  emr.reset();
  sfn.reset();
  dynamo.reset();
  resetClients();
});

describe('settle-steps: EMR Step Status Change', () => {
  it('tells a completed step’s token success with { Step }, taking the mapping with a conditional update and deleting it once told', async () => {
    dynamo.on(UpdateCommand).resolves({ Attributes: mapping('s-A') });

    const result = await settleSteps(stepEvent('s-A', 'COMPLETED'), lambdaContext);

    expect(result).toEqual({ step: 's-A', result: 'settled' });
    expect(dynamo).toHaveReceivedCommandWith(UpdateCommand, {
      Key: { clusterId: CLUSTER, stepId: 's-A' },
      UpdateExpression: 'SET takenAt = :t',
      ConditionExpression: 'attribute_exists(stepId) AND (attribute_not_exists(takenAt) OR takenAt <= :stale)',
      ReturnValues: 'ALL_NEW',
    });
    expect(dynamo).toHaveReceivedCommandWith(DeleteCommand, { Key: { clusterId: CLUSTER, stepId: 's-A' } });
    const sent = sfn.commandCalls(SendTaskSuccessCommand)[0].args[0].input;
    expect(sent.taskToken).toBe('token-s-A');
    expect(JSON.parse(sent.output!)).toMatchObject({ Step: { Id: 's-A', Status: { State: 'COMPLETED' } } });
  });

  it('settles nothing twice: a duplicate event finds the mapping taken (or gone) and sends nothing', async () => {
    dynamo
      .on(UpdateCommand)
      .resolvesOnce({ Attributes: mapping('s-A') })
      .rejects(conditionFailed());

    const first = await settleSteps(stepEvent('s-A', 'COMPLETED'), lambdaContext);
    const duplicate = await settleSteps(stepEvent('s-A', 'COMPLETED'), lambdaContext);

    expect(first).toEqual({ step: 's-A', result: 'settled' });
    expect(duplicate).toEqual({ step: 's-A', result: 'absent' });
    expect(sfn).toHaveReceivedCommandTimes(SendTaskSuccessCommand, 1);
  });

  it('fails a failed step’s token with States.TaskFailed and { Step } as Cause, as addStep.sync does', async () => {
    dynamo.on(UpdateCommand).resolves({ Attributes: mapping('s-B') });

    await settleSteps(stepEvent('s-B', 'FAILED'), lambdaContext);

    const sent = sfn.commandCalls(SendTaskFailureCommand)[0].args[0].input;
    expect(sent.error).toBe('States.TaskFailed');
    expect(JSON.parse(sent.cause!)).toEqual({
      Step: {
        Id: 's-B',
        Name: 'denormalize-events run-s-B attempt 1',
        Status: {
          State: 'FAILED',
          StateChangeReason: { Message: 'Step s-B FAILED' },
          Timeline: { CreationDateTime: '1970-01-01T00:00:00.001Z', EndDateTime: '2026-11-27T10:00:00Z' },
        },
      },
    });
  });

  it('keeps a running step’s start on its mapping and reports it with the completion, for the run record', async () => {
    dynamo.on(UpdateCommand).resolves({ Attributes: { ...mapping('s-C'), startedAt: '2026-11-27T09:58:00Z' } });

    const started = await settleSteps({ ...stepEvent('s-C', 'RUNNING'), time: '2026-11-27T09:58:00Z' }, lambdaContext);
    await settleSteps(stepEvent('s-C', 'COMPLETED'), lambdaContext);

    expect(started).toEqual({ step: 's-C', result: 'started' });
    expect(dynamo).toHaveReceivedCommandWith(UpdateCommand, {
      Key: { clusterId: CLUSTER, stepId: 's-C' },
      UpdateExpression: 'SET startedAt = :at',
      ConditionExpression: 'attribute_exists(stepId)',
      ExpressionAttributeValues: { ':at': '2026-11-27T09:58:00Z' },
    });
    expect(sfn).toHaveReceivedCommandTimes(SendTaskSuccessCommand, 1);
    const output = JSON.parse(sfn.commandCalls(SendTaskSuccessCommand)[0].args[0].input.output!);
    expect(output.Step.Status.Timeline).toMatchObject({ StartDateTime: '2026-11-27T09:58:00Z', EndDateTime: '2026-11-27T10:00:00Z' });
  });

  it('tries a RUNNING event again when it overtook the mapping’s write, and gives up on a step that is not ours', async () => {
    dynamo
      .on(UpdateCommand, { Key: { clusterId: CLUSTER, stepId: 's-LATE' } })
      .rejectsOnce(conditionFailed())
      .resolves({});
    dynamo.on(UpdateCommand, { Key: { clusterId: CLUSTER, stepId: 's-DEDICATED' } }).rejects(conditionFailed());

    const late = await settleSteps(stepEvent('s-LATE', 'RUNNING'), lambdaContext);
    const foreign = await settleSteps(stepEvent('s-DEDICATED', 'RUNNING'), lambdaContext);

    expect(late).toEqual({ step: 's-LATE', result: 'started' });
    expect(foreign).toEqual({ step: 's-DEDICATED', result: 'absent' });
    expect(dynamo.commandCalls(UpdateCommand).filter((call) => call.args[0].input.Key?.stepId === 's-DEDICATED')).toHaveLength(4);
  });

  it('leaves a cancelled step to its cluster’s event (or the sweep), which can name the cluster’s reason', async () => {
    const result = await settleSteps(stepEvent('s-X', 'CANCELLED'), lambdaContext);

    expect(result).toEqual({ step: 's-X', result: 'deferred' });
    expect(dynamo.calls()).toHaveLength(0);
    expect(sfn.calls()).toHaveLength(0);
  });

  it('leaves a pending step alone: no claim, no send', async () => {
    const result = await settleSteps(stepEvent('s-C', 'PENDING'), lambdaContext);

    expect(result).toEqual({ step: 's-C', result: 'running' });
    expect(dynamo.calls()).toHaveLength(0);
    expect(sfn.calls()).toHaveLength(0);
  });

  it('puts the mapping back when Step Functions could not be told, so a retry or the sweep tells it', async () => {
    dynamo.on(UpdateCommand).resolves({ Attributes: { ...mapping('s-D'), takenAt: 5 } });
    sfn.on(SendTaskSuccessCommand).rejects(Object.assign(new Error('socket hang up'), { name: 'TimeoutError' }));

    await expect(settleSteps(stepEvent('s-D', 'COMPLETED'), lambdaContext)).rejects.toThrow('socket hang up');
    expect(dynamo).toHaveReceivedCommandWith(UpdateCommand, {
      Key: { clusterId: CLUSTER, stepId: 's-D' },
      UpdateExpression: 'REMOVE takenAt',
      ConditionExpression: 'takenAt = :t',
      ExpressionAttributeValues: { ':t': 5 },
    });
    expect(dynamo).not.toHaveReceivedCommand(DeleteCommand);
  });

  it('drops the mapping of an execution that stopped waiting (TaskTimedOut) without putting it back', async () => {
    dynamo.on(UpdateCommand).resolves({ Attributes: { ...mapping('s-E'), takenAt: 5 } });
    sfn.on(SendTaskSuccessCommand).rejects(new TaskTimedOut({ message: 'Task Timed Out', $metadata: {} }));

    const result = await settleSteps(stepEvent('s-E', 'COMPLETED'), lambdaContext);

    expect(result).toEqual({ step: 's-E', result: 'gone' });
    expect(dynamo).toHaveReceivedCommandWith(DeleteCommand, { Key: { clusterId: CLUSTER, stepId: 's-E' } });
    expect(dynamo).not.toHaveReceivedCommandWith(UpdateCommand, { UpdateExpression: 'REMOVE takenAt' });
  });

  it('rejects an event without a step id, naming the field, before touching anything', async () => {
    const bad = stepEvent('', 'COMPLETED');

    await expect(settleSteps(bad, lambdaContext)).rejects.toMatchObject({ name: 'Request.Invalid' });
    expect(dynamo.calls()).toHaveLength(0);
  });
});

describe('settle-steps: EMR Cluster State Change', () => {
  it('fails every token still waiting on a terminated cluster with { Step, Cluster } and the cluster’s reason', async () => {
    dynamo.on(QueryCommand).resolves({ Items: [mapping('s-1'), mapping('s-2')] });
    dynamo.on(UpdateCommand, { Key: { clusterId: CLUSTER, stepId: 's-1' } }).resolves({ Attributes: mapping('s-1') });
    dynamo.on(UpdateCommand, { Key: { clusterId: CLUSTER, stepId: 's-2' } }).resolves({ Attributes: mapping('s-2') });

    const result = await settleSteps(clusterEvent('TERMINATED_WITH_ERRORS', 'INSTANCE_FAILURE', 'Spot instances reclaimed'), lambdaContext);

    expect(result).toEqual({ cluster: CLUSTER, failed: { settled: 2, absent: 0, gone: 0 } });
    const failures = sfn.commandCalls(SendTaskFailureCommand).map((call) => call.args[0].input);
    expect(failures.map((f) => f.taskToken)).toEqual(['token-s-1', 'token-s-2']);
    for (const failure of failures) {
      expect(failure.error).toBe('States.TaskFailed');
      expect(JSON.parse(failure.cause!).Cluster).toEqual({
        Id: CLUSTER,
        Name: 'emrflow pool shared a1',
        Status: { State: 'TERMINATED_WITH_ERRORS', StateChangeReason: { Code: 'INSTANCE_FAILURE', Message: 'Spot instances reclaimed' } },
      });
    }
  });

  it('fails nothing while the cluster is still up', async () => {
    await settleSteps(clusterEvent('WAITING', '', 'Cluster ready to run steps.'), lambdaContext);

    expect(dynamo.calls()).toHaveLength(0);
    expect(sfn.calls()).toHaveLength(0);
  });
});

describe('settle-steps: the reconciliation schedule', () => {
  it('reads one cluster’s steps page by page, settles the ended ones and heartbeats the running one', async () => {
    dynamo.on(ScanCommand).resolves({ Items: [mapping('s-A'), mapping('s-B'), mapping('s-C')] });
    dynamo.on(UpdateCommand).callsFake((input) => ({ Attributes: mapping(input.Key.stepId) }));
    emr
      .on(ListStepsCommand, { ClusterId: CLUSTER, Marker: undefined })
      .resolves({
        Steps: [{ Id: 's-A', Name: 'a', Status: { State: 'COMPLETED', Timeline: { EndDateTime: new Date('2026-11-27T10:00:00Z') } } }],
        Marker: 'page-2',
      })
      .on(ListStepsCommand, { ClusterId: CLUSTER, Marker: 'page-2' })
      .resolves({
        Steps: [
          { Id: 's-B', Name: 'b', Status: { State: 'RUNNING' } },
          { Id: 's-C', Name: 'c', Status: { State: 'FAILED' } },
          { Id: 's-OTHER', Status: { State: 'COMPLETED' } },
        ],
      });

    const { reconciled } = (await settleSteps(scheduled, lambdaContext)) as { reconciled: ReconcileReport };

    expect(reconciled).toMatchObject({ clusters: 1, listStepsCalls: 2, settled: 2, heartbeats: 1, unseen: 0, errors: [] });
    expect(sfn).toHaveReceivedCommandWith(SendTaskSuccessCommand, { taskToken: 'token-s-A' });
    expect(sfn).toHaveReceivedCommandWith(SendTaskFailureCommand, { taskToken: 'token-s-C', error: 'States.TaskFailed' });
    expect(sfn).toHaveReceivedCommandWith(SendTaskHeartbeatCommand, { taskToken: 'token-s-B' });
    expect(JSON.parse(sfn.commandCalls(SendTaskSuccessCommand)[0].args[0].input.output!).Step.Status.Timeline.EndDateTime).toBe('2026-11-27T10:00:00.000Z');
  });

  it('stops paging once every waiting step was seen (pages come newest first)', async () => {
    dynamo.on(ScanCommand).resolves({ Items: [mapping('s-A')] });
    emr.on(ListStepsCommand).resolves({ Steps: [{ Id: 's-A', Status: { State: 'RUNNING' } }], Marker: 'more' });

    const { reconciled } = (await settleSteps(scheduled, lambdaContext)) as { reconciled: ReconcileReport };

    expect(reconciled).toMatchObject({ listStepsCalls: 1, heartbeats: 1 });
  });

  it('makes no EMR call when no step waits', async () => {
    dynamo.on(ScanCommand).resolves({ Items: [] });

    const { reconciled } = (await settleSteps(scheduled, lambdaContext)) as { reconciled: ReconcileReport };

    expect(reconciled).toMatchObject({ clusters: 0, listStepsCalls: 0 });
    expect(emr.calls()).toHaveLength(0);
  });

  it('reports a cluster it could not list and goes on', async () => {
    dynamo.on(ScanCommand).resolves({ Items: [mapping('s-A')] });
    emr.on(ListStepsCommand).rejects(new InvalidRequestException({ message: 'Cluster id is not valid', $metadata: {} }));

    const { reconciled } = (await settleSteps(scheduled, lambdaContext)) as { reconciled: ReconcileReport };

    expect(reconciled.errors).toEqual([`ListSteps ${CLUSTER}: InvalidRequestException: Cluster id is not valid`]);
    expect(sfn.calls()).toHaveLength(0);
  });
});

describe('submit-pooled-step', () => {
  const input = {
    clusterId: CLUSTER,
    step: {
      Name: 'denormalize-events run-1 attempt 1',
      ActionOnFailure: 'CONTINUE',
      HadoopJarStep: { Jar: 'command-runner.jar', Args: ['spark-submit', 's3://a/job.py'] },
    },
    execution: 'exec-1',
    taskToken: 'token-1',
  };

  it('submits the step and maps it to the token', async () => {
    emr.on(AddJobFlowStepsCommand).resolves({ StepIds: ['s-NEW'] });

    const result = await submitPooledStep(input, lambdaContext);

    expect(result).toEqual({ StepId: 's-NEW' });
    expect(emr).toHaveReceivedCommandWith(AddJobFlowStepsCommand, { JobFlowId: CLUSTER, Steps: [input.step] });
    expect(dynamo).toHaveReceivedCommandWith(PutCommand, {
      TableName: 'emrflow-step-tokens',
      Item: expect.objectContaining({ clusterId: CLUSTER, stepId: 's-NEW', taskToken: 'token-1', execution: 'exec-1' }),
    });
  });

  it('fails as addStep.sync does (EMR.AmazonElasticMapReduceException) when EMR refuses the step, mapping nothing', async () => {
    emr.on(AddJobFlowStepsCommand).rejects(
      new InvalidRequestException({
        message: 'A job flow that is shutting down, terminated, or finished may not be modified.',
        $metadata: { httpStatusCode: 400 },
      }),
    );

    await expect(submitPooledStep(input, lambdaContext)).rejects.toMatchObject({
      name: 'EMR.AmazonElasticMapReduceException',
      message: expect.stringContaining('Error Code: InvalidRequestException'),
    });
    expect(dynamo.calls()).toHaveLength(0);
  });

  it('names a throttled AddJobFlowSteps Emr.Throttled, the only EMR error RunPooledStep retries, mapping nothing', async () => {
    emr.on(AddJobFlowStepsCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } }));

    await expect(submitPooledStep(input, lambdaContext)).rejects.toMatchObject({
      name: 'Emr.Throttled',
      message: expect.stringContaining('Error Code: ThrottlingException'),
    });
    expect(dynamo.calls()).toHaveLength(0);
  });

  it('rejects a step that would stop a shared cluster (ActionOnFailure), naming the field, before calling EMR', async () => {
    await expect(submitPooledStep({ ...input, step: { ...input.step, ActionOnFailure: 'TERMINATE_CLUSTER' } }, lambdaContext)).rejects.toMatchObject({
      name: 'Request.Invalid',
      message: expect.stringContaining('step.ActionOnFailure'),
    });
    expect(emr.calls()).toHaveLength(0);
  });
});
