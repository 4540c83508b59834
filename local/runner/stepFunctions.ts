/**
 * The local runtime's Step Functions endpoint (AWS JSON 1.0, `X-Amz-Target: AWSStepFunctions.<Operation>`):
 * DescribeExecution and ListExecutions for the executions this runtime has run, so code that asks Step
 * Functions whether an execution still runs (the reaper) is the deployed code. An execution of another
 * process (an earlier `emrflow run` on the same --state-dir) is over: it is not known here, as AWS would
 * report an execution that has ended long ago as not RUNNING.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ExecutionRecord {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';
  /** Epoch milliseconds. */
  startDate: number;
  stopDate?: number;
}

export interface StepFunctionsEndpoint {
  readonly endpoint: string;
  readonly executions: Map<string, ExecutionRecord>;
  record(execution: ExecutionRecord): void;
  stop(): Promise<void>;
}

export async function startStepFunctionsEndpoint(): Promise<StepFunctionsEndpoint> {
  const executions = new Map<string, ExecutionRecord>();
  const view = (execution: ExecutionRecord) => ({
    executionArn: execution.executionArn,
    stateMachineArn: execution.stateMachineArn,
    name: execution.name,
    status: execution.status,
    startDate: execution.startDate / 1000,
    ...(execution.stopDate !== undefined ? { stopDate: execution.stopDate / 1000 } : {}),
  });
  const operations: Record<string, (input: any) => unknown> = {
    DescribeExecution: (input) => {
      const execution = executions.get(String(input.executionArn));
      if (!execution) throw Object.assign(new Error(`Execution Does Not Exist: '${input.executionArn}'`), { type: 'ExecutionDoesNotExist' });
      return view(execution);
    },
    ListExecutions: (input) => ({
      executions: [...executions.values()]
        .filter((execution) => execution.stateMachineArn === input.stateMachineArn && (!input.statusFilter || execution.status === input.statusFilter))
        .map(view),
    }),
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const operation = operations[target.replace(/^AWSStepFunctions\./, '')];
      const reply = (status: number, body: unknown, type?: string) => {
        const payload = JSON.stringify(body);
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0', 'content-length': Buffer.byteLength(payload), ...(type ? { 'x-amzn-errortype': type } : {}) });
        res.end(payload);
      };
      if (!operation) return reply(400, { __type: 'UnknownOperationException', message: `${target} is not served by the local runtime` }, 'UnknownOperationException');
      try {
        reply(200, operation(JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}')));
      } catch (error) {
        const type = (error as { type?: string }).type ?? 'InvalidArn';
        reply(400, { __type: type, message: (error as Error).message }, type);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    executions,
    record: (execution) => executions.set(execution.executionArn, execution),
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
