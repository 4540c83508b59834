/**
 * What EventBridge delivers to the Lambdas on the local runtime: EMR's "Cluster State Change", "Step Status
 * Change" and EMR Serverless job run events (asynchronously, after the change, with the `events` fault's losses
 * and duplicates), Step Functions' "Execution Status Change" of an execution that did not succeed, and the log of
 * rule invocations that failed.
 */
import { randomUUID } from 'node:crypto';
import type { EmulatorEvent, EmulatorStats, Faults } from '../emulator';
import { Random } from '../emulator/random';
import type { LambdaInvoker } from './adapters/lambda';
import type { ExecutionResult } from './execute';
import type { LocalRuntime, RuleDelivery } from './runtime';
import type { ServerlessConfig } from './serverless-config';
import {
  clusterStateChangeEvent,
  executionStatusChangeEvent,
  functionEventTargets,
  jobRunStateChangeEvent,
  ruleFunctionTargets,
  stepStatusChangeEvent,
} from './triggers';

/** Lambda invocations by EventBridge rules (schedules and EMR events) that failed, newest last. */
export class RuleErrors {
  readonly errors: LocalRuntime['ruleErrors'] = [];

  note(fn: string, error: unknown): void {
    this.errors.push({ function: fn, error: `${(error as Error).name}: ${(error as Error).message}` });
  }
}

const EVENT_FAULT_SEED = 0x0e7e27;

/** EMR's EventBridge events to the Lambdas whose rules match them. */
export class EmrEventDelivery {
  readonly counts = { delivered: 0, dropped: 0, duplicated: 0 };
  private readonly deliveries = new Set<Promise<unknown>>();
  private readonly faults: NonNullable<Faults['events']>;
  // Its own seeded dice: the same fault file drops and duplicates the same share on every run.
  private readonly dice = new Random(EVENT_FAULT_SEED);
  private stopping = false;

  constructor(
    private readonly config: ServerlessConfig,
    private readonly lambda: LambdaInvoker,
    private readonly stats: () => EmulatorStats,
    private readonly ruleErrors: RuleErrors,
    faults: Faults | undefined,
  ) {
    this.faults = faults?.events ?? { drop: 0, duplicate: 0 };
  }

  /** An emulator state change: its event, if EMR sends one, to the matching rules' Lambdas. */
  send(change: EmulatorEvent): void {
    if (this.stopping) return;
    const where = { region: this.config.region, accountId: this.config.accountId, id: randomUUID(), time: new Date(change.at) };
    const event = emrEventOf(change, this.stats(), where);
    if (!event) return;
    if (this.faults.drop > 0 && this.dice.next() < this.faults.drop) {
      this.counts.dropped += 1;
      return;
    }
    const twice = this.faults.duplicate > 0 && this.dice.next() < this.faults.duplicate;
    if (twice) this.counts.duplicated += 1;
    const delivery = (async () => {
      this.counts.delivered += 1;
      await this.deliver(event);
      // A duplicate is the same event (same id) delivered again, later, as EventBridge retries do.
      if (twice) await this.deliver(event);
    })().catch((error) => this.ruleErrors.note('(EMR event delivery)', error));
    this.deliveries.add(delivery);
    void delivery.finally(() => this.deliveries.delete(delivery));
  }

  /** No more events from now on (the runtime stops). */
  stopSending(): void {
    this.stopping = true;
  }

  /** Resolves once the events on their way have been delivered. */
  drained(): Promise<unknown> {
    return Promise.all(this.deliveries);
  }

  private async deliver(event: Record<string, unknown>): Promise<void> {
    for (const key of await functionEventTargets(this.config, event)) {
      const fn = Object.values(this.config.functions).find((candidate) => candidate.key === key);
      if (!fn) throw new Error(`serverless.yml has no function ${key}`);
      await this.lambda.invoke(fn, event).catch((error) => this.ruleErrors.note(key, error));
    }
  }
}

/** The EventBridge event EMR sends for an emulator state change, or null when it sends none (the cluster is gone). */
function emrEventOf(
  change: EmulatorEvent,
  stats: EmulatorStats,
  where: { region: string; accountId: string; id: string; time: Date },
): Record<string, unknown> | null {
  if (change.resource === 'jobRun') return change.detail ? jobRunStateChangeEvent(change.detail, where) : null;
  if (change.resource === 'cluster') {
    const cluster = stats.clusters.find((c) => c.clusterId === change.id);
    if (!cluster) return null;
    return clusterStateChangeEvent({ clusterId: cluster.clusterId, name: cluster.name, state: change.state, reason: cluster.stateChangeReason }, where);
  }
  const step = stats.steps.find((s) => s.stepId === change.id && s.clusterId === change.clusterId);
  const cluster = stats.clusters.find((c) => c.clusterId === change.clusterId);
  if (!step || !cluster) return null;
  return stepStatusChangeEvent(
    {
      stepId: step.stepId,
      name: step.name,
      clusterId: step.clusterId,
      clusterName: cluster.name,
      state: change.state,
      actionOnFailure: step.actionOnFailure,
      reason: change.state === 'FAILED' ? change.message : undefined,
    },
    where,
  );
}

/** Step Functions' "Execution Status Change" event of an execution that did not succeed, to the rules that match it. */
export async function deliverStatusChange(
  config: ServerlessConfig,
  lambda: LambdaInvoker,
  execution: { stateMachineArn: string; executionArn: string; input: unknown; result: ExecutionResult },
): Promise<RuleDelivery[]> {
  const { stateMachineArn, executionArn, input, result } = execution;
  const event = executionStatusChangeEvent({
    executionArn,
    stateMachineArn,
    name: result.executionName,
    status: result.status,
    startDate: result.startedAt,
    stopDate: result.startedAt + result.durationMs,
    input,
    output: result.output,
    error: result.error,
    cause: result.cause,
    region: config.region,
    accountId: config.accountId,
  });
  const delivered: RuleDelivery[] = [];
  for (const target of ruleFunctionTargets(config, event)) {
    const fn = lambda.find(target.functionArn);
    if (!fn) continue;
    try {
      delivered.push({ rule: target.rule, function: fn.key, result: await lambda.invoke(fn, event) });
    } catch (error) {
      delivered.push({ rule: target.rule, function: fn.key, error: `${(error as Error).name}: ${(error as Error).message}` });
    }
  }
  return delivered;
}
