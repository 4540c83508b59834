/** What the Step Functions API reads of a machine's Tasks: their calls for the history, their Resources for DescribeStateMachine. */
import type { AslMachine } from '../../asl/types';
import type { MachineDefinition } from '../definition';
import type { RunOptions } from '../runtime';
import type { ExecutionHistory } from './history';

/** Wraps every Task of the machine so its history gets the effective parameters and the raw result of each call. */
export function recordingTaskCalls(machine: MachineDefinition, history: ExecutionHistory): NonNullable<RunOptions['intercept']> {
  const intercept: NonNullable<RunOptions['intercept']> = {};
  for (const [state, definition] of Object.entries(machine.local.States)) {
    if (definition.Type !== 'Task') continue;
    intercept[state] = async (parameters, next) => {
      history.called(state, parameters);
      const result = await next(parameters);
      history.returned(state, result);
      return result;
    };
  }
  return intercept;
}

/** Every Task's Resource, nested Maps and Parallels included, by state name. */
export function resourcesOf(definition: AslMachine | undefined, into: Record<string, string> = {}): Record<string, string> {
  for (const [name, state] of Object.entries(definition?.States ?? {})) {
    if (typeof state.Resource === 'string') into[name] = state.Resource;
    if (state.Type === 'Map') resourcesOf(state.ItemProcessor ?? state.Iterator, into);
    if (state.Type === 'Parallel') for (const branch of state.Branches ?? []) resourcesOf(branch, into);
  }
  return into;
}
