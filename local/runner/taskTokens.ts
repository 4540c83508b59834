/**
 * The callback pattern (`.waitForTaskToken`) on the local runtime, as the Step Functions developer guide
 * describes it:
 *
 * - A Task whose Resource ends in `.waitForTaskToken` reads `$$.Task.Token` in its Parameters; the runner
 *   mints a token there (the `Task` object of the execution's context object is a getter), calls the
 *   integration, then parks: the execution waits on a promise and timers only, no polling, no CPU.
 * - A loopback endpoint speaks the Step Functions API (AWS JSON 1.0, `X-Amz-Target: AWSStepFunctions.*`):
 *   SendTaskSuccess settles the task with the given output, SendTaskFailure fails it with the given error and
 *   cause, SendTaskHeartbeat resets its heartbeat clock. The real `@aws-sdk/client-sfn` reaches it through
 *   `AWS_ENDPOINT_URL_SFN`, so the Lambdas' code is the code that runs on AWS.
 * - `TimeoutSeconds` fails the task with `States.Timeout` whatever heartbeats arrive; `HeartbeatSeconds`
 *   with `States.HeartbeatTimeout` when no heartbeat came for that long. Both run on the runtime's virtual
 *   clock (local/emulator/clock.ts), like the dispatcher and the step sweep that send the heartbeats; while
 *   a real spark-submit runs, that clock follows real time.
 * - The API answers as AWS does: a token that is not one `InvalidToken`; a well-formed token this runtime
 *   never issued `TaskDoesNotExist`; a token whose task already closed (settled, timed out) `TaskTimedOut`;
 *   an output that is not JSON `InvalidOutput`.
 * - The same endpoint answers the operations `serveAlso` adds (the Step Functions API of
 *   local/runner/stepFunctionsApi: StartExecution, DescribeExecution, GetExecutionHistory, …), so the runtime
 *   has one Step Functions endpoint; any other operation is UnknownOperationException, as AWS answers it.
 * - An execution that stops (StopExecution, its TimeoutSeconds) closes its open tokens: a grant sent to a
 *   parked execution that is gone answers TaskTimedOut, as on AWS, so the sender gives the lease back.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { STATES_ERROR } from '../../lib/contract';
import { AwsServiceError } from '../emulator/protocol';
import { TaskError } from './adapters/errors';

/** SendTaskSuccess's output and SendTaskFailure's cause are bounded by the API (UTF-8 bytes). */
const MAX_OUTPUT_BYTES = 262_144;
/** An error name and a cause are bounded by the API (SendTaskFailure's and StopExecution's `error` / `cause`). */
export const MAX_ERROR_CHARS = 256;
export const MAX_CAUSE_CHARS = 32_768;

/** SendTaskFailure's and StopExecution's `error` and `cause` within their limits, as Step Functions refuses them. */
export function checkErrorAndCause(error: string | undefined, cause: string | undefined): void {
  const tooLong = (member: string, max: number) =>
    new AwsServiceError(
      'ValidationException',
      `1 validation error detected: Value at '${member}' failed to satisfy constraint: Member must have length less than or equal to ${max}`,
    );
  if (error !== undefined && error.length > MAX_ERROR_CHARS) throw tooLong('error', MAX_ERROR_CHARS);
  if (cause !== undefined && cause.length > MAX_CAUSE_CHARS) throw tooLong('cause', MAX_CAUSE_CHARS);
}
const TOKEN_PREFIX = 'emrflow-local-';
const CALLBACK_OPERATIONS = new Set(['SendTaskSuccess', 'SendTaskFailure', 'SendTaskHeartbeat']);

export interface WaitLimits {
  /** Emulated seconds; the task fails with States.Timeout after them. */
  timeoutSeconds?: number;
  /** Emulated seconds between heartbeats; the task fails with States.HeartbeatTimeout past them. */
  heartbeatSeconds?: number;
  /** False: the heartbeat clock starts at startHeartbeat(token), when the integration's work begins. Default true. */
  heartbeatFromStart?: boolean;
}

interface OpenTask {
  executionName: string;
  stateName: string;
  issuedAt: number;
  /** Set once the integration was called and the task parks; settling before that is queued. */
  settle: ((outcome: Outcome) => void) | null;
  early: Outcome | null;
  heartbeat: (() => void) | null;
  lastHeartbeatAt: number | null;
  timers: NodeJS.Timeout[];
}

export interface ExecutionTokens {
  /** The `Task` member of the execution's context object. */
  readonly context: { readonly Token: string };
  /** The token the current Task's Parameters just read, or null when they read none. */
  claim(stateName: string): string | null;
}

type Outcome = { output: unknown } | { error: string; cause: string };

export class TaskTokenBroker {
  private readonly open = new Map<string, OpenTask>();
  private readonly closed = new Set<string>();
  private server: http.Server | null = null;
  private sequence = 0;
  private readonly runId = randomBytes(6).toString('hex');
  /** API calls by operation, for the benchmark's per-job figures. */
  readonly calls: Record<string, number> = {};
  private readonly extraOperations: Array<(name: string) => ((input: Record<string, unknown>) => unknown | Promise<unknown>) | null> = [];
  /** Told when an execution's Task parks on its token (its integration was called): the history's TaskSubmitted. */
  private readonly parkObservers: Array<(executionName: string, stateName: string) => void> = [];

  constructor(
    /** Real ms per emulated ms: 1 on the local runtime, whose virtual clock is the emulated one. */
    private readonly timeScale: number,
  ) {}

  /**
   * The tokens of one execution. `context` is its context object's `Task`: each read of `$$.Task.Token`
   * (Parameters are evaluated just before the Task's integration is called) issues a fresh token, which the
   * Task's handler then claims. An execution runs one Task at a time, so the last token issued is its own.
   */
  forExecution(executionName: string): ExecutionTokens {
    let last: string | null = null;
    const broker = this;
    return {
      context: {
        get Token() {
          last = broker.issue(executionName);
          return last;
        },
      },
      claim(stateName) {
        const token = last;
        last = null;
        const task = token ? broker.open.get(token) : undefined;
        if (!token || !task) return null;
        task.stateName = stateName;
        return token;
      },
    };
  }

  private issue(executionName: string): string {
    const body = Buffer.from(JSON.stringify({ r: this.runId, e: executionName, n: ++this.sequence })).toString('base64url');
    const token = `${TOKEN_PREFIX}${body}.${randomBytes(12).toString('base64url')}`;
    this.open.set(token, { executionName, stateName: '', issuedAt: Date.now(), settle: null, early: null, heartbeat: null, lastHeartbeatAt: null, timers: [] });
    return token;
  }

  /**
   * Parks until the token is settled, or its timeout or heartbeat runs out. The Lambda (or other
   * integration) was already called; a settle that arrived during that call is honoured at once.
   */
  wait(token: string, limits: WaitLimits = {}): Promise<unknown> {
    const task = this.open.get(token);
    if (!task) return Promise.reject(new TaskError('States.Runtime', `task token ${token.slice(0, 40)}… is not open`));
    return new Promise((resolve, reject) => {
      const timers = task.timers;
      const finish = (outcome: Outcome) => {
        for (const timer of timers) clearTimeout(timer);
        this.close(token);
        if ('output' in outcome) resolve(outcome.output);
        else reject(new TaskError(outcome.error, outcome.cause));
      };
      if (task.early) return finish(task.early);
      task.settle = finish;
      if (limits.timeoutSeconds !== undefined) {
        timers.push(
          setTimeout(
            () => finish({ error: STATES_ERROR.timeout, cause: 'The task did not complete within its TimeoutSeconds' }),
            this.realMs(limits.timeoutSeconds),
          ),
        );
      }
      if (limits.heartbeatSeconds !== undefined) {
        const seconds = limits.heartbeatSeconds;
        let heartbeatTimer: NodeJS.Timeout | undefined;
        const arm = () => {
          if (heartbeatTimer) clearTimeout(heartbeatTimer);
          heartbeatTimer = setTimeout(
            () => finish({ error: STATES_ERROR.heartbeatTimeout, cause: `No heartbeat within HeartbeatSeconds (${seconds} s)` }),
            this.realMs(seconds),
          );
          timers.push(heartbeatTimer);
        };
        task.heartbeat = arm;
        if (limits.heartbeatFromStart !== false) arm();
      }
    });
  }

  /** Closes a token whose task ended another way (its integration call failed): its wait never settles. */
  abandon(token: string): void {
    const task = this.open.get(token);
    for (const timer of task?.timers ?? []) clearTimeout(timer);
    this.close(token);
  }

  /** Serves more Step Functions operations on this endpoint (those the lookup returns a function for). */
  serveAlso(lookup: (name: string) => ((input: Record<string, unknown>) => unknown | Promise<unknown>) | null): void {
    this.extraOperations.push(lookup);
  }

  /** Calls `observer` each time a Task's integration call returned and the Task parks on its token. */
  onPark(observer: (executionName: string, stateName: string) => void): void {
    this.parkObservers.push(observer);
  }

  /** The integration of the token's Task returned: it now waits for the token alone (TaskSubmitted). */
  parked(token: string): void {
    const task = this.open.get(token);
    if (task) for (const observer of this.parkObservers) observer(task.executionName, task.stateName);
  }

  /** Closes every open token of a stopped execution: its Task no longer waits, later settles get TaskTimedOut. */
  closeExecution(executionName: string): void {
    for (const [token, task] of [...this.open]) {
      if (task.executionName !== executionName) continue;
      for (const timer of task.timers) clearTimeout(timer);
      this.close(token);
    }
  }

  /** Starts a waiting task's heartbeat clock (see WaitLimits.heartbeatFromStart); no-op once running or closed. */
  startHeartbeat(token: string): void {
    const task = this.open.get(token);
    if (task?.heartbeat && task.lastHeartbeatAt === null) task.heartbeat();
  }

  sendTaskSuccess(token: string, output: string): void {
    const task = this.openTask(token);
    let parsed: unknown;
    try {
      if (Buffer.byteLength(output, 'utf8') > MAX_OUTPUT_BYTES) throw new Error('too large');
      parsed = JSON.parse(output);
    } catch {
      throw new AwsServiceError('InvalidOutput', `Invalid Output: the output must be a JSON text of at most ${MAX_OUTPUT_BYTES} bytes`);
    }
    this.deliver(task, { output: parsed });
  }

  sendTaskFailure(token: string, error: string | undefined, cause: string | undefined): void {
    checkErrorAndCause(error, cause);
    const task = this.openTask(token);
    this.deliver(task, { error: error ?? '', cause: cause ?? '' });
  }

  sendTaskHeartbeat(token: string): void {
    const task = this.openTask(token);
    task.lastHeartbeatAt = Date.now();
    task.heartbeat?.();
  }

  /** Starts the Step Functions API endpoint on loopback; returns its URL. */
  async listen(port = 0): Promise<string> {
    const server = http.createServer((req, res) => {
      this.handle(req, res).catch((error) => {
        if (!res.headersSent) sendError(res, new AwsServiceError('InternalFailure', String((error as Error).message), 500));
      });
    });
    server.keepAliveTimeout = 0; // idle sockets stay open, as the emulator's do (see listen in local/emulator)
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  /** Closes the endpoint; executions still parked fail, as they would if their state machine were deleted. */
  async stop(): Promise<void> {
    for (const [token, task] of this.open) {
      const outcome = { error: 'States.Runtime', cause: 'the local runtime stopped while the task waited for its token' };
      if (task.settle) task.settle(outcome);
      this.close(token);
    }
    const server = this.server;
    this.server = null;
    if (server) {
      server.closeAllConnections?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const target = String(req.headers['x-amz-target'] ?? '');
    const operation = target.startsWith('AWSStepFunctions.') ? target.slice('AWSStepFunctions.'.length) : '';
    this.calls[operation || target] = (this.calls[operation || target] ?? 0) + 1;
    try {
      let input: Record<string, unknown>;
      try {
        input = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
      } catch {
        throw new AwsServiceError('SerializationException', 'The request body is not JSON');
      }
      const extra = this.extraOperations.map((lookup) => lookup(operation)).find((handler) => handler);
      if (extra) {
        const body = JSON.stringify(await extra(input));
        res.writeHead(200, {
          'content-type': 'application/x-amz-json-1.0',
          'content-length': Buffer.byteLength(body),
          'x-amzn-requestid': randomBytes(16).toString('hex'),
        });
        res.end(body);
        return;
      }
      if (!CALLBACK_OPERATIONS.has(operation)) {
        throw new AwsServiceError('UnknownOperationException', `The local Step Functions endpoint does not serve ${target || '(no X-Amz-Target)'}`);
      }
      const token = input.taskToken;
      if (typeof token !== 'string' || token.length < 1 || token.length > 2048) {
        throw new AwsServiceError(
          'ValidationException',
          "1 validation error detected: Value at 'taskToken' failed to satisfy constraint: Member must have length between 1 and 2048",
        );
      }
      switch (operation) {
        case 'SendTaskSuccess':
          if (typeof input.output !== 'string')
            throw new AwsServiceError(
              'ValidationException',
              "1 validation error detected: Value null at 'output' failed to satisfy constraint: Member must not be null",
            );
          this.sendTaskSuccess(token, input.output);
          break;
        case 'SendTaskFailure':
          this.sendTaskFailure(token, optionalString(input.error), optionalString(input.cause));
          break;
        case 'SendTaskHeartbeat':
          this.sendTaskHeartbeat(token);
          break;
        default:
          throw new AwsServiceError(
            'UnknownOperationException',
            `The local Step Functions endpoint serves SendTaskSuccess, SendTaskFailure and SendTaskHeartbeat, not ${target || '(no X-Amz-Target)'}`,
          );
      }
      const body = '{}';
      res.writeHead(200, {
        'content-type': 'application/x-amz-json-1.0',
        'content-length': Buffer.byteLength(body),
        'x-amzn-requestid': randomBytes(16).toString('hex'),
      });
      res.end(body);
    } catch (error) {
      sendError(res, error instanceof AwsServiceError ? error : new AwsServiceError('InternalFailure', String((error as Error).message), 500));
    }
  }

  private openTask(token: string): OpenTask {
    const task = this.open.get(token);
    if (task) return task;
    if (this.closed.has(token)) throw new AwsServiceError('TaskTimedOut', 'Task Timed Out: the task token has expired or its task is already closed');
    if (!this.wellFormed(token)) throw new AwsServiceError('InvalidToken', 'Invalid Token: the task token is malformed');
    throw new AwsServiceError('TaskDoesNotExist', 'Task Does Not Exist: no task was issued this token');
  }

  private deliver(task: OpenTask, outcome: Outcome): void {
    if (task.settle) task.settle(outcome);
    else if (!task.early) task.early = outcome;
    else throw new AwsServiceError('TaskTimedOut', 'Task Timed Out: the task token has expired or its task is already closed');
  }

  private close(token: string): void {
    this.open.delete(token);
    this.closed.add(token);
  }

  private wellFormed(token: string): boolean {
    if (!token.startsWith(TOKEN_PREFIX)) return false;
    const [body, nonce] = token.slice(TOKEN_PREFIX.length).split('.');
    if (!body || !nonce) return false;
    try {
      const decoded = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
      return typeof decoded?.e === 'string' && typeof decoded?.n === 'number';
    } catch {
      return false;
    }
  }

  private realMs(emulatedSeconds: number): number {
    return emulatedSeconds * 1000 * this.timeScale;
  }
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function sendError(res: ServerResponse, error: AwsServiceError): void {
  const body = JSON.stringify({ __type: error.type, message: error.message });
  res.writeHead(error.status, {
    'content-type': 'application/x-amz-json-1.0',
    'content-length': Buffer.byteLength(body),
    'x-amzn-errortype': error.type,
    'x-amzn-requestid': randomBytes(16).toString('hex'),
  });
  res.end(body);
}
