/**
 * `runtime.run`: one execution, the rules on its end, and its summary (clusters it created and where they ended,
 * its steps, the emulator calls it made, the child executions and Distributed Map children it ran).
 */
import { randomUUID } from 'node:crypto';
import { CLUSTER_ENDED_STATES } from '../../lib/contract';
import type { Emulator, EmulatorStats } from '../emulator';
import type { LambdaInvoker } from './adapters/lambda';
import type { Executor } from './executor';
import { deliverStatusChange } from './ruleDelivery';
import type { RunOptions, RunSummary } from './runtime';
import type { ServerlessConfig } from './serverless-config';

export interface RunParts {
  config: ServerlessConfig;
  lambda: LambdaInvoker;
  emulator: Pick<Emulator, 'stats'>;
  executor: Executor;
}

export async function runAndSummarize(parts: RunParts, input: unknown, runOptions: RunOptions = {}): Promise<RunSummary> {
  const { config, lambda, emulator, executor } = parts;
  const machineName = runOptions.machine ?? 'run-job';
  const machine = await executor.machine(machineName);
  const executionName =
    runOptions.executionName ??
    `local-${new Date()
      .toISOString()
      .replace(/[-:.TZ]/g, '')
      .slice(0, 14)}-${randomUUID().slice(0, 8)}`;
  const before = new Set(emulator.stats().clusters.map((cluster) => cluster.clusterId));
  const callsBefore = emulator.stats().calls;
  const childrenBefore = new Set(executor.executions.list());
  const mapChildrenBefore = executor.mapChildren.length;

  const result = await executor.execute(machine, input, executionName, runOptions);
  const ruleDeliveries =
    result.status === 'SUCCEEDED'
      ? []
      : await deliverStatusChange(config, lambda, {
          stateMachineArn: executor.machineArn(machineName),
          executionArn: executor.executionArn(machineName, result.executionName),
          input,
          result,
        });
  if (ruleDeliveries.length > 0) await settleTerminations(() => emulator.stats().clusters, before);
  await executor.executions.settle();
  const childExecutions = executor.executions
    .list()
    .filter((record) => !childrenBefore.has(record))
    .flatMap(({ machine, name, status, result }) => (result ? [{ machine, name, status, error: result.error, transitions: result.transitions }] : []));
  const ranMapChildren = executor.mapChildren.slice(mapChildrenBefore).flatMap((child) => (child.result ? [child.result] : []));

  const stats = emulator.stats();
  const clusters = stats.clusters
    .filter((cluster) => !before.has(cluster.clusterId))
    .map((cluster) => ({ clusterId: cluster.clusterId, state: cluster.state }));
  const created = new Set(clusters.map((cluster) => cluster.clusterId));
  const steps = stats.steps
    .filter((step) => created.has(step.clusterId))
    .map((step) => ({ clusterId: step.clusterId, stepId: step.stepId, state: step.state, executor: step.executor }));
  return {
    machine: machineName,
    ruleDeliveries,
    ...result,
    clustersCreated: clusters.length,
    clustersRunningAtEnd: clusters.filter((cluster) => !CLUSTER_ENDED_STATES.has(cluster.state)).length,
    clusters,
    steps,
    emulatorCalls: callsMade(stats.calls, callsBefore),
    childExecutions,
    mapChildren: { executions: ranMapChildren.length, transitions: ranMapChildren.reduce((sum, child) => sum + child.transitions, 0) },
  };
}

/** Clusters a cleanup terminated pass TERMINATING for a few emulated minutes; the summary reports where they end. */
async function settleTerminations(clusters: () => Array<{ clusterId: string; state: string }>, before: Set<string>): Promise<void> {
  const deadline = Date.now() + 30 * 60 * 1000;
  while (Date.now() < deadline && clusters().some((cluster) => !before.has(cluster.clusterId) && cluster.state === 'TERMINATING')) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

function callsMade(after: EmulatorStats['calls'], before: EmulatorStats['calls']): Record<string, number> {
  const calls: Record<string, number> = {};
  for (const [service, operations] of Object.entries(after)) {
    for (const [operation, count] of Object.entries(operations)) {
      const made = count - ((before as Record<string, Record<string, number>>)[service]?.[operation] ?? 0);
      if (made > 0) calls[`${service}.${operation}`] = made;
    }
  }
  return calls;
}
