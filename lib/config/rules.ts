import rulesJson from '../../config/rules.json';
import { ConfigReader } from './check';

export const RULES_FILE = 'config/rules.json';

/** Facts PlaceJob gives the rules engine; a rule naming any other fact is a configuration error. */
export const PLACEMENT_FACTS = [
  'predictedMinutes',
  'slaMinutes',
  /** predictedMinutes / slaMinutes: how much of the SLA the predicted run uses. */
  'slaUsedShare',
  'priority',
  'attempt',
  'maxAttempts',
  'capacityUnits',
  'inputGiB',
] as const;

const OPERATORS = [
  'equal',
  'notEqual',
  'lessThan',
  'lessThanInclusive',
  'greaterThan',
  'greaterThanInclusive',
  'in',
  'notIn',
] as const;

/** A json-rules-engine condition tree (all / any / not / leaf). */
export type Condition =
  | { all: Condition[] }
  | { any: Condition[] }
  | { not: Condition }
  | { fact: string; operator: string; value: unknown };

export interface PlacementRule {
  name: string;
  conditions: { all: Condition[] } | { any: Condition[] } | { not: Condition };
  /** Raises the On-Demand share of the task fleet (the Spot-eligible capacity) to at least `share`. */
  event: { type: 'onDemandShare'; params: { share: number; reason: string } };
}

export function parseRules(raw: unknown): PlacementRule[] {
  const r = new ConfigReader(RULES_FILE);
  const rules = r.array(r.object(raw, '(root)').rules, 'rules', { minItems: 1 });
  return rules.map((item, i) => {
    const at = `rules[${i}]`;
    const o = r.object(item, at);
    const name = r.string(o.name, `${at}.name`);
    const conditions = checkCondition(r, o.conditions, `${at}.conditions`, true);
    const event = r.object(o.event, `${at}.event`);
    r.oneOf(event.type, `${at}.event.type`, ['onDemandShare'] as const);
    const params = r.object(event.params, `${at}.event.params`);
    return {
      name,
      conditions: conditions as PlacementRule['conditions'],
      event: {
        type: 'onDemandShare',
        params: {
          share: r.number(params.share, `${at}.event.params.share`, { min: 0, max: 1 }),
          reason: r.string(params.reason, `${at}.event.params.reason`),
        },
      },
    };
  });
}

function checkCondition(r: ConfigReader, value: unknown, at: string, topLevel = false): Condition {
  const o = r.object(value, at);
  for (const key of ['all', 'any'] as const) {
    if (key in o) {
      const list = r.array(o[key], `${at}.${key}`, { minItems: 1 });
      list.forEach((c, i) => checkCondition(r, c, `${at}.${key}[${i}]`));
      return o as Condition;
    }
  }
  if ('not' in o) {
    checkCondition(r, o.not, `${at}.not`);
    return o as Condition;
  }
  if (topLevel) r.fail(at, 'must start with "all", "any" or "not"');
  r.oneOf(o.fact, `${at}.fact`, PLACEMENT_FACTS);
  r.oneOf(o.operator, `${at}.operator`, OPERATORS);
  if (!('value' in o)) r.fail(`${at}.value`, 'is missing');
  const ref = o.value;
  if (typeof ref === 'object' && ref !== null && 'fact' in ref) {
    r.oneOf((ref as { fact: unknown }).fact, `${at}.value.fact`, PLACEMENT_FACTS);
  }
  return o as Condition;
}

let cached: PlacementRule[] | undefined;

export function loadRules(): PlacementRule[] {
  cached ??= parseRules(rulesJson);
  return cached;
}
