/**
 * Step Functions' own executions on the local runtime: the run-job children that run-batch starts with
 * `states:startExecution.sync:2`, and the child workflow executions a Distributed Map runs per item.
 *
 * StartExecution semantics (API reference): a name is unique per state machine; the same name with the same
 * input while that execution runs returns it (no second start); otherwise a taken name is
 * ExecutionAlreadyExists. `.sync:2` waits for the end and returns DescribeExecution with Input and Output as
 * JSON; a child that did not succeed fails the Task with States.TaskFailed, its DescribeExecution (Error and
 * Cause included) as the Cause, as localstack (snapshot-tested against AWS) reproduces it.
 *
 * With a kept state directory the names of ended executions are kept in <stateDir>/stepfunctions, so a
 * batch re-run by a later command still finds them taken.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { STATES_ERROR } from '../../lib/contract';
import { TaskError } from './adapters/errors';
import { type ExecutionResult, type ExecutionStatus, runnerFailure } from './execute';

export interface ExecutionRecord {
  machine: string;
  name: string;
  arn: string;
  input: unknown;
  status: 'RUNNING' | ExecutionStatus;
  startedAt: number;
  stoppedAt: number | null;
  result: ExecutionResult | null;
  done: Promise<ExecutionResult>;
}

/** Runs one execution of a state machine (by name) under an execution name. */
export type ExecuteNamed = (machine: string, input: unknown, executionName: string) => Promise<ExecutionResult>;

const NAME = /^[A-Za-z0-9_-]{1,80}$/;

export class ExecutionRegistry {
  private readonly records = new Map<string, ExecutionRecord>();
  /** Names of executions ended in earlier processes (kept state directory). */
  private readonly ended = new Set<string>();

  constructor(
    private readonly execute: ExecuteNamed,
    private readonly arns: { machine(machine: string): string; execution(machine: string, name: string): string },
    private readonly file: string | null,
  ) {
    if (file && existsSync(file)) for (const key of JSON.parse(readFileSync(file, 'utf8')) as string[]) this.ended.add(key);
  }

  /** Starts an execution, or returns the running one of that name and input; a taken name otherwise throws. */
  start(machine: string, name: string, input: unknown): ExecutionRecord {
    const key = `${machine}:${name}`;
    const arn = this.arns.execution(machine, name);
    if (!NAME.test(name)) {
      throw new TaskError(
        'StepFunctions.InvalidNameException',
        `Invalid Name: '${name}' (Service: AWSStepFunctions; Status Code: 400; Error Code: InvalidName)`,
      );
    }
    const existing = this.records.get(key);
    if (existing && existing.status === 'RUNNING' && JSON.stringify(existing.input) === JSON.stringify(input)) return existing;
    if (existing || this.ended.has(key)) {
      throw new TaskError(
        'StepFunctions.ExecutionAlreadyExistsException',
        `Execution Already Exists: '${arn}' (Service: AWSStepFunctions; Status Code: 400; Error Code: ExecutionAlreadyExists; Request ID: local; Proxy: null)`,
      );
    }
    const record: ExecutionRecord = { machine, name, arn, input, status: 'RUNNING', startedAt: Date.now(), stoppedAt: null, result: null, done: null as never };
    const started = Date.now();
    record.done = this.execute(machine, input, name)
      .catch((error): ExecutionResult => runnerFailure(name, error, started))
      .then((result) => {
        record.status = result.status;
        record.stoppedAt = Date.now();
        record.result = result;
        this.persist();
        return result;
      });
    this.records.set(key, record);
    return record;
  }

  /** `arn:aws:states:::states:startExecution.sync:2`: `{ StateMachineArn, Name, Input }` → DescribeExecution of the ended child. */
  async startSync2(parameters: { StateMachineArn?: string; Name?: string; Input?: unknown }, machineOf: (arn: string) => string | null): Promise<unknown> {
    const machine = machineOf(String(parameters.StateMachineArn ?? ''));
    if (!machine) {
      throw new TaskError(
        'StepFunctions.StateMachineDoesNotExistException',
        `State Machine Does Not Exist: '${parameters.StateMachineArn}' (Service: AWSStepFunctions; Status Code: 400)`,
      );
    }
    let input: unknown = parameters.Input ?? {};
    if (typeof input === 'string') {
      try {
        input = JSON.parse(input);
      } catch {
        throw new TaskError(
          'StepFunctions.InvalidExecutionInputException',
          `Invalid Execution Input: the input is not valid JSON (Service: AWSStepFunctions; Status Code: 400)`,
        );
      }
    }
    const record = this.start(machine, String(parameters.Name ?? ''), input);
    const result = await record.done;
    const described = {
      ExecutionArn: record.arn,
      StateMachineArn: this.arns.machine(machine),
      Name: record.name,
      Status: result.status,
      StartDate: record.startedAt,
      StopDate: record.stoppedAt,
      Input: record.input,
      InputDetails: { Included: true },
      RedriveCount: 0,
      ...(result.status === 'SUCCEEDED'
        ? { Output: result.output, OutputDetails: { Included: true }, RedriveStatus: 'NOT_REDRIVABLE' }
        : { Error: result.error, Cause: result.cause, RedriveStatus: 'REDRIVABLE' }),
    };
    if (result.status !== 'SUCCEEDED') throw new TaskError(STATES_ERROR.taskFailed, JSON.stringify(described));
    return described;
  }

  list(machine?: string): ExecutionRecord[] {
    return [...this.records.values()].filter((record) => machine === undefined || record.machine === machine);
  }

  /** Waits for every execution started so far (and any they start) to end. */
  async settle(): Promise<void> {
    let pending = this.list().filter((record) => record.status === 'RUNNING');
    while (pending.length > 0) {
      await Promise.allSettled(pending.map((record) => record.done));
      pending = this.list().filter((record) => record.status === 'RUNNING');
    }
  }

  private persist(): void {
    if (!this.file) return;
    const keys = new Set(this.ended);
    for (const [key, record] of this.records) if (record.status !== 'RUNNING') keys.add(key);
    mkdirSync(dirname(this.file), { recursive: true });
    writeFileSync(this.file, JSON.stringify([...keys]));
  }
}
