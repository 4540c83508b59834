/**
 * Which state machines an event starts, by the EventBridge rules serverless.yml declares for them
 * (serverless-step-functions' `events: - eventBridge: { event: <pattern> }`), matched the way EventBridge
 * matches event patterns: every field of the pattern must match; a list matches any of its values or
 * matchers (`prefix`, `suffix`, `exists`, `anything-but`).
 */
import { randomUUID } from 'node:crypto';
import type { ServerlessConfig } from './serverless-config';

export async function eventBridgeTargets(config: ServerlessConfig, event: unknown): Promise<string[]> {
  const machines: Record<string, any> = config.raw.stepFunctions?.stateMachines ?? {};
  const targets: string[] = [];
  for (const machine of Object.values(machines)) {
    const file = /statemachines\/([^/]+)\.asl\.ya?ml/.exec(String(machine.definition ?? ''))?.[1];
    if (!file) continue;
    for (const trigger of machine.events ?? []) {
      if (!trigger.eventBridge?.event) continue;
      const pattern = await config.resolve(trigger.eventBridge.event);
      if (matchesPattern(pattern, event)) targets.push(file);
    }
  }
  return [...new Set(targets)];
}

export function matchesPattern(pattern: unknown, event: unknown): boolean {
  if (Array.isArray(pattern)) {
    const values = Array.isArray(event) ? event : [event];
    return pattern.some((matcher) => matchesValue(matcher, values, event !== undefined));
  }
  if (pattern && typeof pattern === 'object') {
    if (!event || typeof event !== 'object') return false;
    return Object.entries(pattern).every(([key, sub]) => matchesPattern(sub, (event as Record<string, unknown>)[key]));
  }
  return pattern === event;
}

function matchesValue(matcher: unknown, values: unknown[], present: boolean): boolean {
  if (matcher && typeof matcher === 'object') {
    const m = matcher as Record<string, any>;
    if ('exists' in m) return m.exists === present;
    if ('prefix' in m) return values.some((value) => typeof value === 'string' && value.startsWith(m.prefix));
    if ('suffix' in m) return values.some((value) => typeof value === 'string' && value.endsWith(m.suffix));
    if ('anything-but' in m) {
      const excluded = [m['anything-but']].flat();
      return present && values.every((value) => !excluded.includes(value));
    }
    return false;
  }
  return values.some((value) => value === matcher);
}

/**
 * The Lambda targets of the EventBridge rules serverless.yml declares as `AWS::Events::Rule` resources
 * whose `EventPattern` matches the event (cleanup-execution's rule on run-job's ended executions).
 */
export function ruleFunctionTargets(config: ServerlessConfig, event: unknown): Array<{ rule: string; functionArn: string }> {
  const targets: Array<{ rule: string; functionArn: string }> = [];
  for (const resource of Object.values(config.resources)) {
    if (resource.type !== 'AWS::Events::Rule') continue;
    const properties = resource.properties();
    if (!properties.EventPattern || properties.State === 'DISABLED' || !matchesPattern(properties.EventPattern, event)) continue;
    for (const target of properties.Targets ?? []) {
      if (/^arn:aws:lambda:/.test(String(target.Arn))) targets.push({ rule: resource.logicalId, functionArn: String(target.Arn) });
    }
  }
  return targets;
}

/** The event Step Functions sends to EventBridge when an execution's status changes (source aws.states). */
export function executionStatusChangeEvent(execution: {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  status: string;
  startDate: number;
  stopDate: number;
  input: unknown;
  output: unknown;
  error: string | null;
  cause: string | null;
  region: string;
  accountId: string;
}): Record<string, unknown> {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Step Functions Execution Status Change',
    source: 'aws.states',
    account: execution.accountId,
    time: new Date(execution.stopDate).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region: execution.region,
    resources: [execution.executionArn],
    detail: {
      executionArn: execution.executionArn,
      stateMachineArn: execution.stateMachineArn,
      name: execution.name,
      status: execution.status,
      startDate: execution.startDate,
      stopDate: execution.stopDate,
      input: JSON.stringify(execution.input),
      inputDetails: { included: true },
      output: execution.output === null || execution.output === undefined ? null : JSON.stringify(execution.output),
      outputDetails: { included: true },
      error: execution.error,
      cause: execution.cause,
    },
  };
}
