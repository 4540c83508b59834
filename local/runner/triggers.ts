/**
 * Which state machines an event starts, by the EventBridge rules serverless.yml declares for them
 * (serverless-step-functions' `events: - eventBridge: { event: <pattern> }`): the rule's own pattern, as
 * serverless.yml resolves it, is evaluated here, so the local upload path starts exactly what AWS would.
 */
import type { ServerlessConfig } from './serverless-config';

export async function eventBridgeTargets(config: ServerlessConfig, event: unknown): Promise<string[]> {
  const machines: Record<string, any> = config.raw.stepFunctions?.stateMachines ?? {};
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

function matchesValue(matcher: unknown, values: unknown[], present: boolean): boolean {
  if (!matcher || typeof matcher !== 'object') return values.some((value) => value === matcher);
  const m = matcher as Record<string, any>;
  const strings = values.filter((value): value is string => typeof value === 'string');
  if ('exists' in m) return m.exists === present;
  if ('prefix' in m) return strings.some((value) => value.startsWith(m.prefix));
  if ('suffix' in m) return strings.some((value) => value.endsWith(m.suffix));
  if ('wildcard' in m) return strings.some((value) => wildcardRegExp(m.wildcard).test(value));
  if ('numeric' in m) return values.some((value) => typeof value === 'number' && numericHolds(m.numeric, value));
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
      operator === '>' ? value > bound : operator === '>=' ? value >= bound : operator === '<' ? value < bound : operator === '<=' ? value <= bound : operator === '=' ? value === bound : undefined;
    if (holds === undefined) throw new Error(`numeric operator ${String(operator)} is not supported by the local runner`);
    if (!holds) return false;
  }
  return true;
}
