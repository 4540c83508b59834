import { DescribeExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { executionArnFor } from '../contract';

/**
 * The status of each named execution of one state machine (DescribeExecution), `UNKNOWN` when Step
 * Functions does not know it (ended more than 90 days ago, or never started there).
 */
export async function executionStatuses(sfn: SFNClient, stateMachineArn: string, names: string[]): Promise<Record<string, string>> {
  const statuses: Record<string, string> = {};
  for (const name of new Set(names)) {
    try {
      const out = await sfn.send(new DescribeExecutionCommand({ executionArn: executionArnFor(stateMachineArn, name) }));
      statuses[name] = out.status ?? 'UNKNOWN';
    } catch (error) {
      if ((error as Error).name !== 'ExecutionDoesNotExist') throw error;
      statuses[name] = 'UNKNOWN';
    }
  }
  return statuses;
}
