/**
 * Which state machines an event starts, by the EventBridge rules serverless.yml declares for them
 * (serverless-step-functions' `events: - eventBridge: { event: <pattern> }`), matched the way EventBridge
 * matches event patterns: every field of the pattern must match; a list matches any of its values or
 * matchers (`prefix`, `suffix`, `exists`, `anything-but`).
 */
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
