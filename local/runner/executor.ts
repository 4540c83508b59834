/**
 * Runs state machine executions on the local runtime: loads each machine once, wires its Tasks to the Lambdas,
 * the emulator and the callback tokens, records what DescribeExecution answers, and hosts what Step Functions
 * itself does for a Task (nested executions, Distributed Map children, SNS messages).
 */
import { randomUUID } from 'node:crypto';
import type { EMRClient } from '@aws-sdk/client-emr';
import type { S3Client } from '@aws-sdk/client-s3';
import { executionArnFor } from '../../lib/contract';
import type { LambdaInvoker } from './adapters/lambda';
import type { SdkClients } from './adapters/sdk';
import { loadMachine, type MachineDefinition } from './definition';
import { executeMachine, type ExecutionResult } from './execute';
import { ExecutionRegistry } from './executions';
import type { ExecutionStatuses } from './executionStatuses';
import type { PublishedMessage, RunOptions } from './runtime';
import type { ServerlessConfig } from './serverless-config';
import { stateMachineArnPrefix } from './stepFunctionsApi/service';
import { taskHandlers, type StepFunctionsContext } from './tasks';
import type { ExecutionTokens, TaskTokenBroker } from './taskTokens';

export interface ExecutorParts {
  config: ServerlessConfig;
  lambda: LambdaInvoker;
  emr: EMRClient;
  s3: S3Client;
  sdk: SdkClients;
  taskTokens: TaskTokenBroker;
  executionStatuses: ExecutionStatuses;
  /** What the runner's parts multiply emulated seconds by (index.ts). */
  emulatedSeconds: number;
  /** Where started executions are kept across runtimes (a kept state directory), or null. */
  executionsFile: string | null;
}

export class Executor {
  readonly notifications: PublishedMessage[] = [];
  readonly mapChildren: Array<{ startedAt: number; result: ExecutionResult | null }> = [];
  /** Executions started by `states:startExecution` tasks (by machine and name), live while they run. */
  readonly executions: ExecutionRegistry;
  private readonly machines = new Map<string, Promise<MachineDefinition>>();
  private readonly machinePrefix: string;
  private readonly stepFunctions: StepFunctionsContext;

  constructor(private readonly parts: ExecutorParts) {
    this.machinePrefix = stateMachineArnPrefix(parts.config);
    this.executions = new ExecutionRegistry(
      async (machineName, input, name) => this.execute(await this.machine(machineName), input, name),
      { machine: (machineName) => this.machineArn(machineName), execution: (machineName, name) => this.executionArn(machineName, name) },
      parts.executionsFile,
    );
    this.stepFunctions = this.stepFunctionsContext();
  }

  machineArn(machineName: string): string {
    return `${this.machinePrefix}${machineName}`;
  }

  executionArn(machineName: string, executionName: string): string {
    return executionArnFor(this.machineArn(machineName), executionName);
  }

  /** One load per machine, even when many executions start at once (serverless.yml's resolver is not reentrant). */
  machine(machineName: string): Promise<MachineDefinition> {
    let machine = this.machines.get(machineName);
    if (!machine) {
      machine = loadMachine(this.parts.config, machineName, this.parts.emulatedSeconds);
      this.machines.set(machineName, machine);
      machine.catch(() => this.machines.delete(machineName));
    }
    return machine;
  }

  mapChildStats(): { started: number; ended: number } {
    return { started: this.mapChildren.length, ended: this.mapChildren.filter((child) => child.result).length };
  }

  async execute(
    machine: MachineDefinition,
    input: unknown,
    executionName: string,
    runOptions: Omit<RunOptions, 'machine' | 'executionName'> = {},
  ): Promise<ExecutionResult> {
    const { taskTokens, executionStatuses } = this.parts;
    const tokens = taskTokens.forExecution(executionName);
    const abortController = new AbortController();
    const handlers = this.handlers(machine, tokens, abortController.signal, runOptions.intercept);
    const stateMachineArn = this.machineArn(machine.name);
    const executionArn = executionArnFor(stateMachineArn, executionName);
    const startDate = Date.now();
    executionStatuses.record({ executionArn, stateMachineArn, name: executionName, status: 'RUNNING', startDate });
    const result = await executeMachine(machine, input, {
      executionName,
      stateMachineArn,
      handlers,
      task: tokens.context,
      onTimelineEntry: runOptions.onTimelineEntry,
      abortAfter: runOptions.abortAfter,
      timeoutSeconds: runOptions.executionTimeoutSeconds,
      abortController,
      stopSignal: runOptions.stopSignal,
      onEvent: runOptions.onEvent,
    }).catch((error) => {
      executionStatuses.record({ executionArn, stateMachineArn, name: executionName, status: 'FAILED', startDate, stopDate: Date.now() });
      throw error;
    });
    // A stopped execution's parked Task waits no more: a grant sent to it now answers TaskTimedOut.
    if (result.status === 'ABORTED' || result.status === 'TIMED_OUT') taskTokens.closeExecution(executionName);
    executionStatuses.record({ executionArn, stateMachineArn, name: executionName, status: result.status, startDate, stopDate: Date.now() });
    runOptions.onEnd?.(result);
    return result;
  }

  private handlers(
    machine: MachineDefinition,
    tokens: ExecutionTokens,
    signal: AbortSignal,
    intercept: RunOptions['intercept'] = {},
  ): ReturnType<typeof taskHandlers> {
    const { lambda, emr, sdk, taskTokens, emulatedSeconds } = this.parts;
    const context = {
      lambda,
      emr,
      sdk,
      timeScale: emulatedSeconds,
      signal,
      tokens: { broker: taskTokens, execution: tokens },
      stepFunctions: this.stepFunctions,
    };
    const handlers = taskHandlers(machine, context);
    for (const [state, wrap] of Object.entries(intercept)) {
      const next = handlers[state];
      if (!next) throw new Error(`intercept: ${machine.name} has no Task state ${state}`);
      handlers[state] = (taskInput) => wrap(taskInput, next, signal);
    }
    return handlers;
  }

  private stepFunctionsContext(): StepFunctionsContext {
    const { s3, config } = this.parts;
    return {
      s3,
      region: config.region,
      accountId: config.accountId,
      startSync2: (parameters) =>
        this.executions.startSync2(parameters, (arn) => (arn.startsWith(this.machinePrefix) ? arn.slice(this.machinePrefix.length) : null)),
      runMapChild: async (processor, input, name) => {
        const entry: { startedAt: number; result: ExecutionResult | null } = { startedAt: Date.now(), result: null };
        this.mapChildren.push(entry);
        entry.result = await this.execute(processor, input, name);
        return entry.result;
      },
      publish: (message) => {
        this.notifications.push({
          topicArn: String(message.TopicArn ?? ''),
          subject: message.Subject ?? null,
          message: String(message.Message ?? ''),
          at: Date.now(),
        });
        return randomUUID();
      },
    };
  }
}
