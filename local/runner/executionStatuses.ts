/**
 * What the local Step Functions endpoint (the TaskTokenBroker's) answers to DescribeExecution and
 * ListExecutions: the executions this runtime has run, so code that asks Step Functions whether an execution
 * still runs (the reaper) is the deployed code. An execution of another process (an earlier `emrflow run` on
 * the same --state-dir) is over: it is not known here, as AWS would report an execution that ended long ago
 * as not RUNNING. The Step Functions API (stepFunctionsApi/service.ts) reads these for the executions it did
 * not start itself (`emrflow run`, run-batch's children); `operation` answers only until it is up.
 */
import { AwsServiceError } from '../emulator/protocol';

export interface ExecutionStatusRecord {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';
  /** Epoch milliseconds. */
  startDate: number;
  stopDate?: number;
}

export class ExecutionStatuses {
  private readonly executions = new Map<string, ExecutionStatusRecord>();

  record(execution: ExecutionStatusRecord): void {
    this.executions.set(execution.executionArn, execution);
  }

  get(executionArn: string): ExecutionStatusRecord | undefined {
    return this.executions.get(executionArn);
  }

  /** The executions of one state machine run here so far. */
  list(stateMachineArn: string): ExecutionStatusRecord[] {
    return [...this.executions.values()].filter((execution) => execution.stateMachineArn === stateMachineArn);
  }

  /** The Step Functions API operations this answers, by name (AWS JSON 1.0 input → output); others are not its. */
  operation(name: string): ((input: Record<string, unknown>) => unknown) | null {
    if (name === 'DescribeExecution') {
      return (input) => {
        const execution = this.executions.get(String(input.executionArn));
        if (!execution) throw new AwsServiceError('ExecutionDoesNotExist', `Execution Does Not Exist: '${String(input.executionArn)}'`);
        return executionView(execution);
      };
    }
    if (name === 'ListExecutions') {
      return (input) => ({
        executions: [...this.executions.values()]
          .filter((execution) => execution.stateMachineArn === input.stateMachineArn && (!input.statusFilter || execution.status === input.statusFilter))
          .map(executionView),
      });
    }
    return null;
  }
}

/** An execution as DescribeExecution and ListExecutions show it (dates in epoch seconds). */
export function executionView(execution: ExecutionStatusRecord): Record<string, unknown> {
  return {
    executionArn: execution.executionArn,
    stateMachineArn: execution.stateMachineArn,
    name: execution.name,
    status: execution.status,
    startDate: execution.startDate / 1000,
    ...(execution.stopDate !== undefined ? { stopDate: execution.stopDate / 1000 } : {}),
  };
}
