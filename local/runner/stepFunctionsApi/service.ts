/**
 * The Step Functions API of the local runtime (AWS JSON 1.0, `X-Amz-Target: AWSStepFunctions.<Op>`): list and
 * describe the state machines serverless.yml deploys, start executions of them, describe, list, follow
 * (GetExecutionHistory) and stop them, with the AWS CLI, the SDKs or a CI script.
 *
 * It is served on the runner's Step Functions endpoint (`AWS_ENDPOINT_URL_SFN`, the TaskTokenBroker's), not
 * on the emulator's port: executions live in the runner (the interpreter, the task tokens, the Lambdas run in
 * process), the emulator only plays EMR, Glue and S3; and one endpoint for the whole Step Functions API is
 * what the SDK's `AWS_ENDPOINT_URL_SFN` and the Lambdas' own client (SendTask*) expect.
 *
 * StartExecution runs the deployed definition exactly as `emrflow run` does (`runtime.run`): the same
 * Lambdas, integrations and emulator, and an execution that does not succeed goes, as Step Functions'
 * "Execution Status Change" event, to the EventBridge rules of serverless.yml (cleanup-execution). It returns
 * at once; the execution runs in the background.
 *
 * AWS's rules and documented errors (API reference, each operation's "Errors"): a name is 1–80 characters
 * without white space, brackets, wildcards, special or control characters (InvalidName); the same name with
 * the same input while that execution runs returns it again, a name taken otherwise is
 * ExecutionAlreadyExists (names are unique per state machine; here for as long as the runtime runs, and with
 * a kept state directory across runs for run-batch's children); an input that is not JSON or over 256 KiB is
 * InvalidExecutionInput; an ARN that is not one InvalidArn; an unknown state machine StateMachineDoesNotExist,
 * an unknown execution ExecutionDoesNotExist; a bad page token InvalidToken.
 */
import { randomUUID } from 'node:crypto';
import { AwsServiceError } from '../../emulator/protocol';
import { EXECUTION_ARN_PART, executionArnFor } from '../../../lib/contract';
import type { MachineDefinition } from '../definition';
import { MAX_EXECUTION_INPUT_BYTES, type ExecutionResult, type ExecutionStatus, type InterpreterEvent, runnerFailure } from '../execute';
import { executionView, type ExecutionStatuses, type ExecutionStatusRecord } from '../executionStatuses';
import type { RunOptions, RunSummary } from '../index';
import type { ServerlessConfig } from '../serverless-config';
import { checkErrorAndCause } from '../taskTokens';
import { ExecutionHistory } from './history';
import { type Input, page, requiredArn } from './requests';
import { recordingTaskCalls, resourcesOf } from './taskCalls';

/** What the API needs of the local runtime (LocalRuntime provides it). */
export interface StepFunctionsRuntime {
  readonly config: ServerlessConfig;
  readonly executionStatuses: ExecutionStatuses;
  machine(name: string): Promise<MachineDefinition>;
  run(input: unknown, options: RunOptions): Promise<RunSummary>;
  /** Tells `observer` when a `.waitForTaskToken` Task's integration returned (the history's TaskSubmitted). */
  onTaskParked(observer: (executionName: string, stateName: string) => void): void;
}

/** The operations this serves, besides the broker's SendTaskSuccess / Failure / Heartbeat. */
export const STEP_FUNCTIONS_OPERATIONS = [
  'ListStateMachines',
  'DescribeStateMachine',
  'DescribeStateMachineForExecution',
  'StartExecution',
  'DescribeExecution',
  'ListExecutions',
  'GetExecutionHistory',
  'StopExecution',
] as const;

type Operation = (typeof STEP_FUNCTIONS_OPERATIONS)[number];

/** `arn:aws:states:<region>:<account>:stateMachine:<service>-<stage>-`: serverless.yml names each machine `<service>-<stage>-<file>`. */
export function stateMachineArnPrefix(config: Pick<ServerlessConfig, 'region' | 'accountId' | 'service' | 'stage'>): string {
  return `arn:aws:states:${config.region}:${config.accountId}:stateMachine:${config.service}-${config.stage}-`;
}

const STATUSES = new Set(['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED', 'PENDING_REDRIVE']);
/** What StartExecution refuses in a name (API reference, StartExecution `name`). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: StartExecution refuses control characters in a name; this is the rule.
const NAME_FORBIDDEN = /[\s<>{}[\]?*"#%\\^|~`$&,;:/\u0000-\u001f\u007f-\u009f]/;

interface ApiExecution {
  executionArn: string;
  stateMachineArn: string;
  machine: string;
  name: string;
  input: string;
  startDate: number;
  status: 'RUNNING' | ExecutionStatus;
  stopDate?: number;
  result?: ExecutionResult;
  stop: AbortController;
  stopReason: { error?: string; cause?: string } | null;
  history: ExecutionHistory;
  /** The run's summary once the execution and its rules (cleanup-execution) are done. */
  done: Promise<RunSummary | null>;
}

export class StepFunctionsApi {
  private readonly executions = new Map<string, ApiExecution>();
  private readonly created = Date.now();
  private readonly prefix: string;

  constructor(private readonly runtime: StepFunctionsRuntime) {
    this.prefix = stateMachineArnPrefix(runtime.config);
    runtime.onTaskParked((executionName, stateName) => {
      for (const execution of this.executions.values()) {
        if (execution.name === executionName && execution.status === 'RUNNING') execution.history.submitted(stateName, Date.now());
      }
    });
  }

  /** For TaskTokenBroker.serveAlso: the handler of an operation this serves, or null. */
  operation(name: string): ((input: Input) => Promise<unknown>) | null {
    if (!(STEP_FUNCTIONS_OPERATIONS as readonly string[]).includes(name)) return null;
    return (input) => this.call(name as Operation, input);
  }

  /** Every execution started through the API (its run summary once done), for tests and `emrflow emulator`. */
  started(): Array<{ executionArn: string; status: string; done: Promise<RunSummary | null> }> {
    return [...this.executions.values()].map(({ executionArn, status, done }) => ({ executionArn, status, done }));
  }

  /** An EventBridge rule's target: StartExecution of `machine` (a file name) on the event, under a fresh name. */
  async startForRule(machine: string, event: unknown): Promise<string> {
    const started = (await this.startExecution({ stateMachineArn: this.prefix + machine, input: JSON.stringify(event) })) as { executionArn: string };
    return started.executionArn;
  }

  private async call(operation: Operation, input: Input): Promise<unknown> {
    switch (operation) {
      case 'ListStateMachines':
        return this.listStateMachines(input);
      case 'DescribeStateMachine':
        return this.describeStateMachine(input);
      case 'DescribeStateMachineForExecution':
        return this.describeStateMachineForExecution(input);
      case 'StartExecution':
        return this.startExecution(input);
      case 'DescribeExecution':
        return this.describeExecution(input);
      case 'ListExecutions':
        return this.listExecutions(input);
      case 'GetExecutionHistory':
        return this.getExecutionHistory(input);
      case 'StopExecution':
        return this.stopExecution(input);
    }
  }

  private machineNames(): string[] {
    return Object.values(this.runtime.config.stateMachineFiles).sort();
  }

  private listStateMachines(input: Input): unknown {
    const items = this.machineNames().map((file) => ({
      stateMachineArn: this.prefix + file,
      name: this.nameOf(file),
      type: 'STANDARD',
      creationDate: this.created / 1000,
    }));
    return page(items, input, 'stateMachines');
  }

  private async describeStateMachine(input: Input): Promise<unknown> {
    const file = this.machineOf(requiredArn(input, 'stateMachineArn', ':stateMachine:'));
    const machine = await this.runtime.machine(file);
    return {
      stateMachineArn: this.prefix + file,
      name: this.nameOf(file),
      status: 'ACTIVE',
      definition: JSON.stringify(machine.deployable),
      roleArn: this.roleArnOf(file),
      type: 'STANDARD',
      creationDate: this.created / 1000,
      loggingConfiguration: { level: 'OFF', includeExecutionData: false },
      tracingConfiguration: { enabled: false },
    };
  }

  private async describeStateMachineForExecution(input: Input): Promise<unknown> {
    const arn = requiredArn(input, 'executionArn', EXECUTION_ARN_PART);
    const execution = this.known(arn);
    const file = execution.stateMachineArn.slice(this.prefix.length);
    const machine = await this.runtime.machine(file);
    return {
      stateMachineArn: execution.stateMachineArn,
      name: this.nameOf(file),
      definition: JSON.stringify(machine.deployable),
      roleArn: this.roleArnOf(file),
      updateDate: this.created / 1000,
      loggingConfiguration: { level: 'OFF', includeExecutionData: false },
      tracingConfiguration: { enabled: false },
    };
  }

  private async startExecution(input: Input): Promise<unknown> {
    const stateMachineArn = requiredArn(input, 'stateMachineArn', ':stateMachine:');
    const file = this.machineOf(stateMachineArn);
    const name = input.name === undefined ? randomUUID() : String(input.name);
    if (name.length < 1 || name.length > 80 || NAME_FORBIDDEN.test(name)) {
      throw new AwsServiceError(
        'InvalidName',
        `Invalid Name: '${name}' (1 to 80 characters; no white space, brackets, wildcards, special or control characters)`,
      );
    }
    const text = input.input === undefined ? '{}' : String(input.input);
    const bytes = Buffer.byteLength(text, 'utf8');
    if (bytes > MAX_EXECUTION_INPUT_BYTES) {
      throw new AwsServiceError(
        'InvalidExecutionInput',
        `Invalid Execution Input: the input is ${bytes} bytes, more than the ${MAX_EXECUTION_INPUT_BYTES} allowed; pass an S3 reference instead of data`,
      );
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new AwsServiceError('InvalidExecutionInput', `Invalid Execution Input: the input is not valid JSON (${(error as Error).message})`);
    }
    const executionArn = executionArnFor(stateMachineArn, name);
    const existing = this.executions.get(executionArn);
    if (existing?.status === 'RUNNING' && existing.input === text) return { executionArn, startDate: existing.startDate / 1000 };
    if (existing || this.runtime.executionStatuses.get(executionArn)) {
      throw new AwsServiceError('ExecutionAlreadyExists', `Execution Already Exists: '${executionArn}'`);
    }
    const machine = await this.runtime.machine(file);
    const execution = this.newExecution({ executionArn, stateMachineArn, machine, file, name, text });
    execution.done = this.runtime
      .run(parsed, {
        machine: file,
        executionName: name,
        stopSignal: execution.stop.signal,
        onEvent: (event: InterpreterEvent) => execution.history.add(event),
        intercept: recordingTaskCalls(machine, execution.history),
        onEnd: (result) => this.ended(execution, result),
      })
      .catch((error): null => {
        this.ended(execution, runnerFailure(name, error, execution.startDate));
        return null;
      });
    return { executionArn, startDate: execution.startDate / 1000 };
  }

  private newExecution(what: {
    executionArn: string;
    stateMachineArn: string;
    machine: MachineDefinition;
    file: string;
    name: string;
    text: string;
  }): ApiExecution {
    const startDate = Date.now();
    const history = new ExecutionHistory({
      stateTypes: what.machine.stateTypes,
      resources: resourcesOf(what.machine.deployable),
      region: this.runtime.config.region,
    });
    history.started(what.text, this.roleArnOf(what.file), startDate);
    const execution: ApiExecution = {
      executionArn: what.executionArn,
      stateMachineArn: what.stateMachineArn,
      machine: what.file,
      name: what.name,
      input: what.text,
      startDate,
      status: 'RUNNING',
      stop: new AbortController(),
      stopReason: null,
      history,
      done: Promise.resolve(null),
    };
    this.executions.set(what.executionArn, execution);
    return execution;
  }

  private ended(execution: ApiExecution, result: ExecutionResult): void {
    if (execution.result) return;
    execution.result = result;
    execution.status = result.status;
    execution.stopDate ??= Date.now();
    execution.history.end(result, execution.stopReason, Date.now());
  }

  private describeExecution(input: Input): unknown {
    const arn = requiredArn(input, 'executionArn', EXECUTION_ARN_PART);
    const execution = this.executions.get(arn);
    if (!execution) return executionView(this.known(arn));
    const result = execution.result;
    const reason = execution.status === 'ABORTED' ? (execution.stopReason ?? {}) : { error: result?.error ?? undefined, cause: result?.cause ?? undefined };
    return {
      ...executionView(execution),
      input: execution.input,
      inputDetails: { included: true },
      ...(execution.status === 'SUCCEEDED' ? { output: JSON.stringify(result?.output ?? null), outputDetails: { included: true } } : {}),
      ...(execution.status !== 'RUNNING' && execution.status !== 'SUCCEEDED'
        ? Object.fromEntries(Object.entries(reason).filter(([, value]) => typeof value === 'string'))
        : {}),
      redriveCount: 0,
      redriveStatus: 'NOT_REDRIVABLE',
      ...(execution.status !== 'RUNNING' && execution.status !== 'SUCCEEDED'
        ? { redriveStatusReason: 'The local runtime does not redrive executions (RedriveExecution is not served): start a new one' }
        : {}),
    };
  }

  private listExecutions(input: Input): unknown {
    if (input.mapRunArn !== undefined)
      throw new AwsServiceError(
        'ResourceNotFound',
        'Resource Not Found: the local runtime keeps no Map Runs (Distributed Map children are run-job executions of their own)',
      );
    const stateMachineArn = requiredArn(input, 'stateMachineArn', ':stateMachine:');
    this.machineOf(stateMachineArn);
    const status = input.statusFilter;
    if (status !== undefined && !STATUSES.has(String(status))) {
      throw new AwsServiceError(
        'ValidationException',
        `1 validation error detected: Value '${String(status)}' at 'statusFilter' failed to satisfy constraint: Member must satisfy enum value set: [${[...STATUSES].join(', ')}]`,
      );
    }
    const mine = [...this.executions.values()].filter((execution) => execution.stateMachineArn === stateMachineArn);
    const others = this.runtime.executionStatuses.list(stateMachineArn).filter((record) => !this.executions.has(record.executionArn));
    const items = [
      ...mine.map((execution) => ({
        executionArn: execution.executionArn,
        stateMachineArn,
        name: execution.name,
        status: execution.status,
        startDate: execution.startDate,
        stopDate: execution.stopDate,
      })),
      ...others,
    ]
      .filter((item) => status === undefined || item.status === status)
      .sort((a, b) => b.startDate - a.startDate || a.name.localeCompare(b.name))
      .map((item) => executionView(item));
    return page(items, input, 'executions');
  }

  private getExecutionHistory(input: Input): unknown {
    const arn = requiredArn(input, 'executionArn', EXECUTION_ARN_PART);
    const execution = this.executions.get(arn);
    if (!execution) {
      this.known(arn);
      throw new AwsServiceError(
        'ExecutionDoesNotExist',
        `Execution Does Not Exist: '${arn}' (the local runtime keeps histories of executions started with StartExecution)`,
      );
    }
    const events = execution.history.list(input.includeExecutionData !== false);
    if (input.reverseOrder === true) events.reverse();
    return page(events, input, 'events');
  }

  private stopExecution(input: Input): unknown {
    const arn = requiredArn(input, 'executionArn', EXECUTION_ARN_PART);
    const error = input.error === undefined ? undefined : String(input.error);
    const cause = input.cause === undefined ? undefined : String(input.cause);
    checkErrorAndCause(error, cause);
    const execution = this.executions.get(arn);
    if (!execution) {
      const record = this.known(arn);
      throw new AwsServiceError(
        'ValidationException',
        `Execution ${record.name} was not started with StartExecution on this endpoint; the local runtime can stop only those (use --abort-after with emrflow run)`,
      );
    }
    if (execution.status === 'RUNNING') {
      execution.stopReason = { error, cause };
      // AWS reports the execution ABORTED as StopExecution answers; the runner then unwinds it.
      execution.status = 'ABORTED';
      execution.stopDate = Date.now();
      execution.stop.abort();
    }
    return { stopDate: (execution.stopDate ?? Date.now()) / 1000 };
  }

  /** An execution this runtime knows (started here, or by `emrflow run` / run-batch in this process). */
  private known(arn: string): ExecutionStatusRecord {
    const mine = this.executions.get(arn);
    if (mine)
      return {
        executionArn: mine.executionArn,
        stateMachineArn: mine.stateMachineArn,
        name: mine.name,
        status: mine.status,
        startDate: mine.startDate,
        stopDate: mine.stopDate,
      };
    const record = this.runtime.executionStatuses.get(arn);
    if (!record) throw new AwsServiceError('ExecutionDoesNotExist', `Execution Does Not Exist: '${arn}'`);
    return record;
  }

  private machineOf(stateMachineArn: string): string {
    const file = stateMachineArn.startsWith(this.prefix) ? stateMachineArn.slice(this.prefix.length) : '';
    if (!this.machineNames().includes(file)) {
      throw new AwsServiceError(
        'StateMachineDoesNotExist',
        `State Machine Does Not Exist: '${stateMachineArn}' (serverless.yml deploys ${this.machineNames()
          .map((name) => this.prefix + name)
          .join(', ')})`,
      );
    }
    return file;
  }

  private nameOf(file: string): string {
    return this.prefix.slice(this.prefix.indexOf(':stateMachine:') + ':stateMachine:'.length) + file;
  }

  /** The role serverless.yml gives the machine (`role: Fn::GetAtt [<Role>, Arn]`), named as CloudFormation names a role without RoleName. */
  private roleArnOf(file: string): string {
    const { config } = this.runtime;
    const key = Object.keys(config.stateMachineFiles).find((candidate) => config.stateMachineFiles[candidate] === file);
    const role = key ? config.raw.stepFunctions?.stateMachines?.[key]?.role : undefined;
    if (typeof role === 'string' && role.startsWith('arn:')) return role;
    const getAtt = (role as { 'Fn::GetAtt'?: unknown } | undefined)?.['Fn::GetAtt'];
    const logicalId = Array.isArray(getAtt) ? String(getAtt[0]) : 'StepFunctionsRole';
    const roleName = config.raw.resources?.Resources?.[logicalId]?.Properties?.RoleName;
    return `arn:aws:iam::${config.accountId}:role/${typeof roleName === 'string' ? roleName : `${config.service}-${config.stage}-${logicalId}`}`;
  }
}
