/**
 * Which state machines an event starts, by the EventBridge rules serverless.yml declares for them
 * (serverless-step-functions' `events: - eventBridge: { event: <pattern> }`): the rule's own pattern, as
 * serverless.yml resolves it, is evaluated here, so the local upload path starts exactly what AWS would.
 */
import { randomUUID } from 'node:crypto';
import { EMR_EVENT, EMR_SERVERLESS_EVENT } from '../../lib/contract';
import type { ServerlessConfig } from './serverless-config';

export async function eventBridgeTargets(config: ServerlessConfig, event: unknown): Promise<string[]> {
  const machines = config.raw.stepFunctions?.stateMachines ?? {};
  const targets: string[] = [];
  for (const [key, machine] of Object.entries(machines)) {
    const file = config.stateMachineFiles[key];
    if (!file) continue;
    for (const trigger of machine.events ?? []) {
      if (!trigger.eventBridge?.event) continue;
      const pattern = await config.resolve(trigger.eventBridge.event);
      if (matchesPattern(pattern, event)) targets.push(file);
    }
  }
  return [...new Set(targets)];
}

/**
 * EventBridge's matching of an event pattern (EventBridge user guide, "Event patterns" and "Comparison
 * operators"): every field of the pattern must match; a list matches when any of its values or matchers
 * does; `$or` holds when any of its sub-patterns does. A matcher this runner does not know is an error, not
 * a silent mismatch.
 */
export function matchesPattern(pattern: unknown, event: unknown): boolean {
  if (Array.isArray(pattern)) {
    const values = Array.isArray(event) ? event : [event];
    return pattern.some((matcher) => matchesValue(matcher, values, event !== undefined));
  }
  if (pattern && typeof pattern === 'object') {
    if (!event || typeof event !== 'object') return false;
    return Object.entries(pattern).every(([key, sub]) =>
      key === '$or'
        ? (sub as unknown[]).some((alternative) => matchesPattern(alternative, event))
        : matchesPattern(sub, (event as Record<string, unknown>)[key]),
    );
  }
  return pattern === event;
}

/** EventBridge's content filters this runner knows (a pattern's value that is an object). */
interface ContentFilter {
  exists: boolean;
  prefix: string;
  suffix: string;
  wildcard: string;
  'anything-but': unknown;
  numeric: Array<string | number>;
}

function matchesValue(matcher: unknown, values: unknown[], present: boolean): boolean {
  if (!matcher || typeof matcher !== 'object') return values.some((value) => value === matcher);
  const m = matcher as Partial<ContentFilter>;
  const strings = values.filter((value): value is string => typeof value === 'string');
  if ('exists' in m) return m.exists === present;
  if ('prefix' in m) return strings.some((value) => value.startsWith(String(m.prefix)));
  if ('suffix' in m) return strings.some((value) => value.endsWith(String(m.suffix)));
  if ('wildcard' in m) return strings.some((value) => wildcardRegExp(String(m.wildcard)).test(value));
  if ('numeric' in m) return values.some((value) => typeof value === 'number' && numericHolds(m.numeric ?? [], value));
  if ('anything-but' in m) {
    const excluded = m['anything-but'];
    if (excluded && typeof excluded === 'object' && !Array.isArray(excluded)) {
      return present && values.every((value) => !matchesValue(excluded, [value], true));
    }
    return present && values.every((value) => ![excluded].flat().includes(value));
  }
  throw new Error(`event pattern matcher ${JSON.stringify(matcher)} is not supported by the local runner`);
}

/** `*` matches any run of characters (slashes included); `\*` and `\\` are a literal `*` and `\`. */
function wildcardRegExp(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i];
    if (char === '\\' && i + 1 < pattern.length) source += escapeRegExp(pattern[++i]);
    else if (char === '*') source += '.*';
    else source += escapeRegExp(char);
  }
  return new RegExp(`^${source}$`, 's');
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

function numericHolds(conditions: Array<string | number>, value: number): boolean {
  for (let i = 0; i < conditions.length; i += 2) {
    const [operator, bound] = [conditions[i], Number(conditions[i + 1])];
    const holds =
      operator === '>'
        ? value > bound
        : operator === '>='
          ? value >= bound
          : operator === '<'
            ? value < bound
            : operator === '<='
              ? value <= bound
              : operator === '='
                ? value === bound
                : undefined;
    if (holds === undefined) throw new Error(`numeric operator ${String(operator)} is not supported by the local runner`);
    if (!holds) return false;
  }
  return true;
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
    for (const target of (properties.Targets ?? []) as Array<{ Arn?: unknown }>) {
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

/**
 * The Lambdas whose EventBridge rules (serverless.yml `functions.<f>.events: - eventBridge: { pattern }`)
 * match an event, by function key.
 */
export async function functionEventTargets(config: ServerlessConfig, event: unknown): Promise<string[]> {
  const targets: string[] = [];
  for (const fn of Object.values(config.functions)) {
    for (const trigger of config.raw.functions?.[fn.key]?.events ?? []) {
      const pattern = trigger?.eventBridge?.pattern ?? trigger?.eventBridge?.event;
      if (pattern && matchesPattern(await config.resolve(pattern), event)) targets.push(fn.key);
    }
  }
  return [...new Set(targets)];
}

/**
 * EMR Serverless's "EMR Serverless Job Run State Change" event (source aws.emr-serverless): the detail the
 * emulator gives with each job run change (jobRunId, jobRunName, applicationId, arn, releaseLabel, state,
 * previousState, createdBy, updatedAt, createdAt, as the EMR Serverless user guide's sample carries).
 */
export function jobRunStateChangeEvent(
  detail: Record<string, unknown>,
  where: { region: string; accountId: string; id: string; time: Date },
): Record<string, unknown> {
  return {
    version: '0',
    id: where.id,
    'detail-type': EMR_SERVERLESS_EVENT.jobRunStateChange,
    source: EMR_SERVERLESS_EVENT.source,
    account: where.accountId,
    time: where.time.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region: where.region,
    resources: [],
    detail,
  };
}

/** EMR's "EMR Cluster State Change" event (source aws.emr; the EventBridge events reference's detail fields). */
export function clusterStateChangeEvent(
  cluster: { clusterId: string; name: string; state: string; reason?: { Code?: string; Message?: string } },
  where: { region: string; accountId: string; id: string; time: Date },
): Record<string, unknown> {
  const failed = cluster.state === 'TERMINATED_WITH_ERRORS';
  return emrEvent(EMR_EVENT.clusterStateChange, where, {
    severity: failed ? 'CRITICAL' : 'INFO',
    stateChangeReason: JSON.stringify({ code: cluster.reason?.Code ?? '', message: cluster.reason?.Message ?? '' }),
    name: cluster.name,
    clusterId: cluster.clusterId,
    state: cluster.state,
    message: `Amazon EMR Cluster ${cluster.clusterId} (${cluster.name}) is ${cluster.state}${cluster.reason?.Message ? `: ${cluster.reason.Message}` : ''}`,
  });
}

/** The EventBridge envelope of an event EMR sends (source aws.emr): one place for both detail types. */
function emrEvent(
  detailType: string,
  where: { region: string; accountId: string; id: string; time: Date },
  detail: Record<string, unknown>,
): Record<string, unknown> {
  return {
    version: '0',
    id: where.id,
    'detail-type': detailType,
    source: EMR_EVENT.source,
    account: where.accountId,
    time: where.time.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region: where.region,
    resources: [],
    detail,
  };
}

const STEP_EVENT_WORDING: Record<string, { severity: string; happened: string }> = {
  PENDING: { severity: 'INFO', happened: 'was added' },
  RUNNING: { severity: 'INFO', happened: 'started running' },
  COMPLETED: { severity: 'INFO', happened: 'completed execution' },
  CANCELLED: { severity: 'WARN', happened: 'was cancelled' },
  FAILED: { severity: 'ERROR', happened: 'failed' },
  INTERRUPTED: { severity: 'WARN', happened: 'was interrupted' },
};

/**
 * EMR's "EMR Step Status Change" event (source aws.emr; the detail fields of the EventBridge events
 * reference and of the Amazon EMR management guide's sample: severity, actionOnFailure, stepId, name,
 * clusterId, state, message).
 */
export function stepStatusChangeEvent(
  step: { stepId: string; name: string; clusterId: string; clusterName: string; state: string; actionOnFailure: string; reason?: string },
  where: { region: string; accountId: string; id: string; time: Date },
): Record<string, unknown> {
  const wording = STEP_EVENT_WORDING[step.state] ?? { severity: 'INFO', happened: `is ${step.state}` };
  const at = where.time
    .toISOString()
    .replace('T', ' ')
    .replace(/:\d{2}\.\d{3}Z$/, ' UTC');
  return emrEvent(EMR_EVENT.stepStatusChange, where, {
    severity: wording.severity,
    actionOnFailure: step.actionOnFailure,
    stepId: step.stepId,
    name: step.name,
    clusterId: step.clusterId,
    state: step.state,
    message: `Step ${step.stepId} (${step.name}) in Amazon EMR cluster ${step.clusterId} (${step.clusterName}) ${wording.happened} at ${at}.${step.reason ? ` ${step.reason}` : ''}`,
  });
}
