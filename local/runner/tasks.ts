/**
 * Builds the interpreter's `taskResourceLocalHandlers` from the definition itself: every Task state gets the
 * adapter its Resource ARN names, so a state added to the ASL runs locally without touching this file.
 */
import type { EMRClient } from '@aws-sdk/client-emr';
import type { S3Client } from '@aws-sdk/client-s3';
import { HEARTBEAT_FIELD, TIMEOUT_FIELD, withTaskTimeout } from '../asl/localDefinition';
import { distributedMap } from './adapters/distributedMap';
import { emrIntegration } from './adapters/emr';
import { emrServerlessIntegration } from './adapters/emrServerless';
import { TaskError } from './adapters/errors';
import type { LambdaInvoker } from './adapters/lambda';
import { awsSdkIntegration, dynamoDbIntegration, type SdkClients } from './adapters/sdk';
import { LOCAL_MAP_RESOURCE, LOCAL_WAIT_RESOURCE, type MachineDefinition } from './definition';
import type { ExecutionResult } from './execute';
import type { ExecutionTokens, TaskTokenBroker } from './taskTokens';
import type { AslMachine, AslState } from '../asl/types';

export type TaskHandler = (input: unknown) => Promise<unknown>;

export interface TaskContext {
  lambda: LambdaInvoker;
  emr: EMRClient;
  sdk: SdkClients;
  timeScale: number;
  /** Aborted when the execution stops: a .sync Task stops polling, as Step Functions stops watching. */
  signal?: AbortSignal;
  /** The callback pattern: the runtime's token broker and this execution's tokens. */
  tokens?: { broker: TaskTokenBroker; execution: ExecutionTokens };
  /** Step Functions itself: nested executions, Distributed Map children, SNS (run-batch). */
  stepFunctions?: StepFunctionsContext;
}

export interface StepFunctionsContext {
  s3: S3Client;
  region: string;
  accountId: string;
  /** `states:startExecution.sync:2` (local/runner/executions.ts). */
  startSync2(parameters: { StateMachineArn?: string; Name?: string; Input?: unknown }): Promise<unknown>;
  /** One Distributed Map item: the ItemProcessor as a child workflow execution. */
  runMapChild(processor: MachineDefinition, input: unknown, name: string): Promise<ExecutionResult>;
  /** `sns:publish`: SNS is not emulated; the runtime keeps the messages. */
  publish(message: { TopicArn?: string; Subject?: string; Message?: string }): string;
}

export function taskHandlers(machine: MachineDefinition, context: TaskContext): Record<string, TaskHandler> {
  const handlers: Record<string, TaskHandler> = {};
  const visit = (definition: AslMachine) => {
    for (const [name, state] of Object.entries(definition.States)) {
      const iterator = state.ItemProcessor ?? state.Iterator;
      if (state.Type === 'Map' && iterator) visit(iterator);
      if (state.Type === 'Parallel') for (const branch of state.Branches ?? []) visit(branch);
      if (state.Type !== 'Task') continue;
      if (state.Resource === LOCAL_MAP_RESOURCE) {
        const sfn = context.stepFunctions;
        const map = machine.maps?.[name];
        if (!sfn || !map) throw new Error(`Map ${name}: a Distributed Map needs the runtime's Step Functions context`);
        handlers[name] = distributedMap(name, map.state, {
          s3: sfn.s3,
          machineName: machine.name,
          region: sfn.region,
          accountId: sfn.accountId,
          runChild: (input, childName) => sfn.runMapChild(map.processor, input, childName),
        });
      } else if (state.Resource === LOCAL_WAIT_RESOURCE) {
        handlers[name] = withTaskTimeout(scaledWait(name, machine.waits[name], context.timeScale));
      } else if (typeof state.Resource === 'string' && state.Resource.endsWith('.waitForTaskToken')) {
        handlers[name] = waitForTaskToken(name, state.Resource.slice(0, -'.waitForTaskToken'.length), context);
      } else {
        // Task timeouts run on the virtual clock, which follows real time while a real spark-submit runs.
        handlers[name] = withTaskTimeout(adapterFor(name, state.Resource, context));
      }
    }
  };
  visit(machine.local);
  return handlers;
}

/** `onStart`: the integration's work began (a Lambda handler started after waiting for a local concurrency slot). */
export function adapterFor(stateName: string, resource: unknown, context: TaskContext, onStart?: (input: unknown) => void): TaskHandler {
  if (typeof resource !== 'string') throw new Error(`Task ${stateName}: Resource did not resolve to an ARN: ${JSON.stringify(resource)}`);
  const lambdaArn = /^arn:aws:lambda:[^:]+:[^:]+:function:[^:]+(:[^:]+)?$/.exec(resource);
  if (lambdaArn) {
    const fn = context.lambda.find(resource);
    if (!fn) throw new Error(`Task ${stateName}: ${resource} is not a function of serverless.yml`);
    return (input) => context.lambda.invoke(fn, input);
  }
  const integration = /^arn:aws:states:::([^:]+):(.+)$/.exec(resource);
  if (integration) {
    const [, service, rest] = integration;
    if (service === 'lambda' && rest === 'invoke') {
      return async (input) => {
        const parameters = input as { FunctionName?: string; Payload?: unknown } | null | undefined;
        const fn = context.lambda.find(String(parameters?.FunctionName ?? ''));
        if (!fn) {
          throw new TaskError('Lambda.ResourceNotFoundException', `Function not found: ${parameters?.FunctionName} (Service: Lambda, Status Code: 404)`);
        }
        const payload = await context.lambda.invoke(fn, parameters?.Payload ?? {}, () => onStart?.(input));
        return { ExecutedVersion: '$LATEST', Payload: payload, StatusCode: 200 };
      };
    }
    if (service === 'elasticmapreduce') {
      const [api, pattern] = rest.split('.');
      return emrIntegration(api, pattern === 'sync', { client: context.emr, timeScale: context.timeScale, signal: context.signal });
    }
    if (service === 'emr-serverless') {
      const [api, pattern] = rest.split('.');
      return emrServerlessIntegration(api, pattern === 'sync', { timeScale: context.timeScale, signal: context.signal });
    }
    if (service === 'dynamodb') return dynamoDbIntegration(rest, context.sdk);
    if (service === 'states' && rest === 'startExecution.sync:2') {
      const sfn = context.stepFunctions;
      if (!sfn) throw new Error(`Task ${stateName}: ${resource} needs the runtime's Step Functions context`);
      return (input) => sfn.startSync2(input as Parameters<StepFunctionsContext['startSync2']>[0]);
    }
    if (service === 'sns' && rest === 'publish') {
      const sfn = context.stepFunctions;
      if (!sfn) throw new Error(`Task ${stateName}: ${resource} needs the runtime's Step Functions context`);
      return async (input) => ({ MessageId: sfn.publish((input ?? {}) as Parameters<StepFunctionsContext['publish']>[0]) });
    }
    if (service === 'aws-sdk') {
      const [sdkService, action] = rest.split(':');
      if (action?.includes('.')) throw new Error(`Task ${stateName}: ${resource}: aws-sdk integrations have no .sync/.waitForTaskToken locally`);
      return awsSdkIntegration(sdkService, action, context.sdk);
    }
  }
  throw new Error(`Task ${stateName}: the local runner has no adapter for ${resource}`);
}

/**
 * `<integration>.waitForTaskToken`: the integration is called with the effective input (which carries the
 * token its Parameters read from `$$.Task.Token`) and the Task parks until SendTaskSuccess/Failure, its
 * TimeoutSeconds (States.Timeout, counted from the state's start) or HeartbeatSeconds (States.HeartbeatTimeout).
 * Whatever comes first settles it: a token settled while the integration still runs (a Lambda that grants
 * itself capacity) completes the Task at once, and the integration failing before any settle fails it.
 * Unlike other Tasks these limits run on the emulated clock: what a parked Task waits for lives on it.
 */
function waitForTaskToken(stateName: string, resource: string, context: TaskContext): TaskHandler {
  // The heartbeat clock starts when the integration's work does: a Lambda queued for a local concurrency
  // slot stands for a throttled invoke, which on AWS a Retry would start afresh with a new token.
  let startClock: () => void = () => undefined;
  const call = adapterFor(stateName, resource, context, () => startClock());
  return async (input) => {
    if (!context.tokens) throw new Error(`Task ${stateName}: .waitForTaskToken needs the runtime's task-token endpoint`);
    const { broker, execution } = context.tokens;
    const { [TIMEOUT_FIELD]: timeoutSeconds, [HEARTBEAT_FIELD]: heartbeatSeconds, ...rest } = (input ?? {}) as Record<string, unknown>;
    const token = execution.claim(stateName);
    if (!token) {
      throw new TaskError(
        'States.Runtime',
        `Task ${stateName}: a .waitForTaskToken Task must pass $$.Task.Token in its Parameters, or nothing can ever settle it`,
      );
    }
    const startsLater = resource.startsWith('arn:aws:states:::lambda:');
    const settled = broker.wait(token, {
      timeoutSeconds: timeoutSeconds === undefined ? undefined : Number(timeoutSeconds),
      heartbeatSeconds: heartbeatSeconds === undefined ? undefined : Number(heartbeatSeconds),
      heartbeatFromStart: !startsLater,
    });
    startClock = () => broker.startHeartbeat(token);
    const failed = call(rest).then(
      () => {
        broker.parked(token);
        return new Promise<never>(() => {});
      },
      (error) => {
        broker.abandon(token);
        throw error;
      },
    );
    return Promise.race([settled, failed]);
  };
}

/** A Wait state run by the runner: its duration from Seconds/SecondsPath/Timestamp/TimestampPath, scaled. */
function scaledWait(name: string, wait: AslState, timeScale: number): TaskHandler {
  return async (input) => {
    let seconds: number;
    if (wait.Seconds !== undefined) seconds = wait.Seconds;
    else if (wait.SecondsPath !== undefined) seconds = Number(referencePath(input, wait.SecondsPath, name));
    else {
      const timestamp = wait.Timestamp ?? referencePath(input, String(wait.TimestampPath), name);
      seconds = (Date.parse(String(timestamp)) - Date.now()) / 1000;
    }
    if (!Number.isFinite(seconds) || seconds < 0) seconds = 0;
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000 * timeScale));
    return input;
  };
}

/** An ASL reference path (`$.a.b[0]`), the only kind a Wait's SecondsPath/TimestampPath may hold. */
export function referencePath(input: unknown, path: string, stateName: string): unknown {
  const parts = path.replace(/^\$/, '').match(/\.[^.[\]]+|\[\d+\]|\['[^']+'\]/g) ?? [];
  let node: unknown = input;
  for (const part of parts) {
    const key = part.startsWith('.') ? part.slice(1) : part.startsWith("['") ? part.slice(2, -2) : Number(part.slice(1, -1));
    node = node == null ? undefined : (node as Record<string | number, unknown>)[key];
  }
  if (node === undefined) throw new TaskError('States.Runtime', `State ${stateName}: path ${path} does not point to a value`);
  return node;
}
