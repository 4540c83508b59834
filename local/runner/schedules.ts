/**
 * The Lambdas' EventBridge schedules (serverless.yml `functions.<f>.events: - schedule: rate(…)`), run on
 * the emulator's compressed clock: a `rate(1 minute)` rule fires every 60 emulated seconds (60 ms of real
 * time at a time scale of 0.001) with the "Scheduled Event" EventBridge delivers. Only `rate()` expressions
 * run locally; a `cron()` rule is listed in `skipped` with the reason, never silently dropped.
 *
 * A firing never overlaps the previous one of the same rule (a slow handler delays the next tick instead
 * of piling invocations up); a handler's error is reported through `onError` and the schedule goes on, as
 * EventBridge retries and moves on.
 */
import { randomUUID } from 'node:crypto';
import type { LambdaInvoker } from './adapters/lambda';
import type { LocalFunction, ServerlessConfig } from './serverless-config';

const UNIT_SECONDS: Record<string, number> = { minute: 60, minutes: 60, hour: 3600, hours: 3600, day: 86_400, days: 86_400 };

export interface ScheduleRule {
  fn: LocalFunction;
  rule: string;
  expression: string;
  periodSeconds: number;
  input: unknown;
}

export interface Schedules {
  rules: ScheduleRule[];
  skipped: Array<{ function: string; expression: string; reason: string }>;
  /** Fires every rule of `functionKey` now (what a capacity change does locally); resolves when they ran. */
  fire(functionKey: string): Promise<void>;
  stop(): Promise<void>;
}

/** `rate(5 minutes)` → 300; anything else → null. */
export function rateSeconds(expression: string): number | null {
  const match = /^rate\((\d+)\s+(minutes?|hours?|days?)\)$/.exec(expression.trim());
  if (!match) return null;
  const value = Number(match[1]);
  const unit = match[2];
  // EventBridge wants the singular unit for 1 and the plural otherwise.
  if ((value === 1) !== !unit.endsWith('s')) return null;
  return value * UNIT_SECONDS[unit];
}

export async function scheduleRules(config: ServerlessConfig): Promise<{ rules: ScheduleRule[]; skipped: Schedules['skipped'] }> {
  const rules: ScheduleRule[] = [];
  const skipped: Schedules['skipped'] = [];
  for (const fn of Object.values(config.functions)) {
    const events = (await config.resolve(config.raw.functions?.[fn.key]?.events ?? [])) ?? [];
    events.forEach((event, index) => {
      if (!event?.schedule) return;
      const spec = typeof event.schedule === 'string' ? { rate: event.schedule } : event.schedule;
      if (spec.enabled === false) return;
      for (const expression of [spec.rate].flat()) {
        const seconds = rateSeconds(String(expression));
        if (seconds === null) {
          skipped.push({ function: fn.key, expression: String(expression), reason: 'only rate() schedules run on the local runtime' });
          continue;
        }
        rules.push({ fn, rule: spec.name ?? `${fn.name}-schedule-${index + 1}`, expression: String(expression), periodSeconds: seconds, input: spec.input });
      }
    });
  }
  return { rules, skipped };
}

export async function startSchedules(
  config: ServerlessConfig,
  lambda: LambdaInvoker,
  options: { timeScale: number; onError?: (rule: ScheduleRule, error: unknown) => void },
): Promise<Schedules> {
  const { rules, skipped } = await scheduleRules(config);
  let stopped = false;
  const timers = new Map<ScheduleRule, NodeJS.Timeout>();
  // Per rule: the invocation running and at most one queued behind it. Firings that arrive meanwhile
  // coalesce into the queued one: it starts after them, so it sees everything they would have seen.
  const slots = new Map<ScheduleRule, { current: Promise<void> | null; next: Promise<void> | null }>(
    rules.map((rule) => [rule, { current: null, next: null }]),
  );

  const slotOf = (rule: ScheduleRule) => {
    const slot = slots.get(rule);
    if (!slot) throw new Error(`schedule ${rule.rule} is not among this runtime's rules`);
    return slot;
  };
  const start = (rule: ScheduleRule): Promise<void> => {
    const slot = slotOf(rule);
    const run = (async () => {
      if (stopped) return;
      try {
        await lambda.invoke(rule.fn, rule.input ?? scheduledEvent(config, rule));
      } catch (error) {
        options.onError?.(rule, error);
      }
    })().finally(() => {
      slot.current = null;
    });
    slot.current = run;
    return run;
  };
  const invoke = (rule: ScheduleRule): Promise<void> => {
    const slot = slotOf(rule);
    if (slot.next) return slot.next;
    if (!slot.current) return start(rule);
    slot.next = slot.current.then(() => {
      slot.next = null;
      return start(rule);
    });
    return slot.next;
  };
  const arm = (rule: ScheduleRule) => {
    if (stopped) return;
    // A fixed rate, as EventBridge's rate() has: the next firing does not wait for this one's invocation
    // (an invocation still running when it comes coalesces it, see invoke).
    const timer = setTimeout(
      () => {
        arm(rule);
        void invoke(rule);
      },
      rule.periodSeconds * 1000 * options.timeScale,
    );
    // A schedule alone must not keep a CLI process alive.
    timer.unref();
    timers.set(rule, timer);
  };
  for (const rule of rules) arm(rule);

  return {
    rules,
    skipped,
    async fire(functionKey) {
      await Promise.all(rules.filter((rule) => rule.fn.key === functionKey).map(invoke));
    },
    async stop() {
      stopped = true;
      for (const timer of timers.values()) clearTimeout(timer);
      await Promise.all([...slots.values()].flatMap((slot) => [slot.current, slot.next]));
    },
  };
}

function scheduledEvent(config: ServerlessConfig, rule: ScheduleRule) {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: config.accountId,
    time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region: config.region,
    resources: [`arn:aws:events:${config.region}:${config.accountId}:rule/${rule.rule}`],
    detail: {},
  };
}
