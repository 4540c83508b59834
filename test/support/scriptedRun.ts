/**
 * Runs a state machine definition with every Task answered from a script, the way the AWS Step Functions
 * mock-config tests do ("0": return, "1": throw). Parameters, ResultSelector, ResultPath, Choice rules,
 * Retry and Catch all run for real in aws-local-stepfunctions; only the services are scripted. It tests the
 * routing of the definition itself, apart from the emulator, and counts billed state transitions.
 */
import { readFileSync } from 'node:fs';
import { StateMachine } from 'aws-local-stepfunctions';
import { HEARTBEAT_FIELD, prepareForLocalRun, withTaskTimeout } from '../../local/asl/localDefinition';
import { parseCloudFormationYaml } from '../../local/runner/serverless-config';

/** What `$$.Task.Token` reads in a scripted run (a `.waitForTaskToken` Task's scripted response settles it). */
export const SCRIPTED_TASK_TOKEN = 'scripted-task-token';

export type ScriptedResponse = { return: unknown } | { throw: { name: string; message: string } } | { hang: true };
export type TaskScript = Record<string, ScriptedResponse[]>;

export interface ScriptedOutcome {
  status: 'SUCCEEDED' | 'FAILED';
  output: any;
  error?: string;
  cause?: string;
  /** State names in the order they were entered, retries not repeated. */
  path: string[];
  /** Billed transitions: every state entered plus every retry of a state. */
  transitions: number;
  /** HeartbeatSeconds each `.waitForTaskToken` Task was given, per call (absent when it has none). */
  heartbeats: Record<string, unknown[]>;
  /** The effective input each Task received, per call, after Parameters. */
  taskInputs: Record<string, unknown[]>;
}

/** The definition as written (CloudFormation references left in place: scripted Tasks never call them). */
export function loadDefinition(file: string): any {
  return parseCloudFormationYaml(readFileSync(file, 'utf8'));
}

export async function runScripted(deployable: any, input: unknown, script: TaskScript): Promise<ScriptedOutcome> {
  const definition = prepareForLocalRun(deployable);
  const calls: Record<string, number> = {};
  const taskInputs: Record<string, unknown[]> = {};
  const heartbeats: Record<string, unknown[]> = {};
  const handlers: Record<string, (input: any) => Promise<any>> = {};
  for (const [name, state] of Object.entries<any>(definition.States)) {
    if (state.Type !== 'Task') continue;
    // Task timeouts are enforced, one scripted second lasting a millisecond.
    handlers[name] = withTaskTimeout(
      async ({ [HEARTBEAT_FIELD]: heartbeat, ...taskInput }: any) => {
        const call = calls[name] ?? 0;
        calls[name] = call + 1;
        taskInputs[name] = taskInputs[name] ?? [];
        taskInputs[name].push(taskInput);
        if (heartbeat !== undefined) {
          heartbeats[name] = heartbeats[name] ?? [];
          heartbeats[name].push(heartbeat);
        }
        const responses = script[name];
        if (!responses) throw new Error(`scripted run: no response scripted for Task ${name}`);
        const response = responses[Math.min(call, responses.length - 1)];
        if ('hang' in response) return new Promise(() => {});
        if ('throw' in response) {
          const error = new Error(response.throw.message);
          error.name = response.throw.name;
          throw error;
        }
        return response.return;
      },
      (seconds) => seconds,
    );
  }
  // Waits and retry intervals are not under test here: make them instant.
  const waitTimeOverrides: Record<string, number> = {};
  const retryIntervalOverrides: Record<string, number> = {};
  for (const [name, state] of Object.entries<any>(definition.States)) {
    if (state.Type === 'Wait') waitTimeOverrides[name] = 0;
    if (state.Retry) retryIntervalOverrides[name] = 0;
  }
  const machine = new StateMachine(definition, { validationOptions: { checkArn: false } });
  const execution = machine.run(input as any, {
    overrides: { taskResourceLocalHandlers: handlers, waitTimeOverrides, retryIntervalOverrides },
    context: { Execution: { Name: 'scripted-execution' }, Task: { Token: SCRIPTED_TASK_TOKEN } },
  });
  let status: ScriptedOutcome['status'] = 'SUCCEEDED';
  let output: any;
  let error: string | undefined;
  let cause: string | undefined;
  try {
    output = await execution.result;
  } catch (failure: any) {
    status = 'FAILED';
    error = failure.cause?.name ?? failure.name;
    cause = failure.cause?.message ?? failure.message;
  }
  const events: any[] = [];
  for await (const event of execution.eventLogs as AsyncIterable<any>) events.push(event);
  const path = events.filter((e) => e.type === 'StateEntered').map((e) => e.state.name);
  const retries = events.filter((e) => e.type === 'StateRetried').length;
  return { status, output, error, cause, path, transitions: path.length + retries, taskInputs, heartbeats };
}
