import * as z from 'zod';
import rulesJson from '../../config/rules.json';
import { InvalidConfigError } from '../errors';
import { between, describeValue, nonEmptyString, parseConfig, strictObject } from '../schema';
import { PrioritySchema } from '../domain/priority';
import { PLACEMENT_FACTS } from '../domain/rules';

export const RULES_FILE = 'config/rules.json';

const OPERATORS = ['equal', 'notEqual', 'lessThan', 'lessThanInclusive', 'greaterThan', 'greaterThanInclusive', 'in', 'notIn'] as const;

/** A rule naming a fact PlaceJob does not give (lib/domain/rules.ts PlacementFacts) is a configuration error. */
const Fact = z.enum(PLACEMENT_FACTS);
const Scalar = z.union([z.number(), z.string(), z.boolean()]);

/** A JSONPath into an object-valued fact (predictedWaitMinutes, predictedCostUsd), as json-rules-engine reads it. */
const FactPath = z.string().regex(/^\$\.[A-Za-z0-9_-]+$/, 'must be "$.<key>", such as "$.shared" or "$.serverless"');

/** A json-rules-engine leaf: a fact compared with a constant or with another fact (`{"fact": "maxAttempts"}`). */
const LeafSchema = strictObject({
  fact: Fact,
  path: FactPath.optional(),
  operator: z.enum(OPERATORS),
  value: z.union([Scalar, z.array(Scalar), strictObject({ fact: Fact, path: FactPath.optional() })], {
    error: 'must be a number, string or boolean, a list of them, or {"fact": "<fact name>", "path"?: "$.<key>"}',
  }),
});

/** A json-rules-engine condition tree (all / any / not / leaf). */
export type Condition = { all: Condition[] } | { any: Condition[] } | { not: Condition } | z.infer<typeof LeafSchema>;
type ConditionGroup = Exclude<Condition, z.infer<typeof LeafSchema>>;

const GROUP_MESSAGE = 'must start with "all", "any" or "not"';
const GroupSchema: z.ZodType<ConditionGroup> = z.lazy(() =>
  z.union(
    [
      strictObject({ all: z.array(ConditionSchema).min(1, 'must list at least one condition') }),
      strictObject({ any: z.array(ConditionSchema).min(1, 'must list at least one condition') }),
      strictObject({ not: ConditionSchema }),
    ],
    { error: GROUP_MESSAGE },
  ),
);
const ConditionSchema: z.ZodType<Condition> = z.lazy(() =>
  z.union([GroupSchema, LeafSchema], { error: `${GROUP_MESSAGE}, or be {"fact", "operator", "value"}` }),
);

/**
 * What a rule decides when it fires:
 *   onDemandShare  raises the On-Demand share of a dedicated cluster's task fleet to at least `share`;
 *   usePool        runs the job on the named pool (config/pools.json) instead of a dedicated cluster,
 *                  when its sized units fit one pool cluster's capacityUnits;
 *   setPriority    raises the job's priority in the pool's admission queue (never lowers it).
 */
const EVENT_MESSAGE = 'must be {"type": "onDemandShare" | "usePool" | "setPriority" | "useServerless", "params": {…}}';
const RuleEventSchema = z.discriminatedUnion(
  'type',
  [
    strictObject({ type: z.literal('onDemandShare'), params: strictObject({ share: between(0, 1), reason: nonEmptyString }) }),
    strictObject({ type: z.literal('usePool'), params: strictObject({ pool: nonEmptyString, reason: nonEmptyString }) }),
    strictObject({ type: z.literal('setPriority'), params: strictObject({ priority: PrioritySchema, reason: nonEmptyString }) }),
    /** Runs the job on EMR Serverless (config/serverless.json's `application`, else its defaultApplication); wins over usePool. */
    strictObject({ type: z.literal('useServerless'), params: strictObject({ application: nonEmptyString.optional(), reason: nonEmptyString }) }),
  ],
  { error: EVENT_MESSAGE },
);
export type RuleEvent = z.infer<typeof RuleEventSchema>;

export const PlacementRuleSchema = strictObject({
  name: nonEmptyString,
  /** false keeps a rule in the file without running it (default true). */
  enabled: z.boolean().optional(),
  conditions: GroupSchema,
  event: RuleEventSchema,
});
export type PlacementRule = z.infer<typeof PlacementRuleSchema>;

export const RulesFileSchema = strictObject({
  description: z.string().optional(),
  rules: z.array(PlacementRuleSchema).min(1, 'must list at least one rule'),
});

export function parseRules(raw: unknown): PlacementRule[] {
  return parseConfig(RULES_FILE, RulesFileSchema, raw).rules;
}

/** Every usePool rule must name a pool of config/pools.json; the error names the rule's field. */
export function checkRulePools(rules: PlacementRule[], poolNames: readonly string[]): void {
  rules.forEach((rule, i) => {
    if (rule.event.type === 'usePool' && !poolNames.includes(rule.event.params.pool)) {
      const known = poolNames.length > 0 ? poolNames.join(', ') : 'none';
      throw new InvalidConfigError(
        RULES_FILE,
        `rules[${i}].event.params.pool`,
        `${describeValue(rule.event.params.pool)} is not a pool of config/pools.json (pools: ${known})`,
      );
    }
  });
}

/** Every useServerless rule that names an application must name one of config/serverless.json. */
export function checkRuleApplications(rules: PlacementRule[], applicationNames: readonly string[]): void {
  rules.forEach((rule, i) => {
    if (rule.event.type === 'useServerless' && rule.event.params.application !== undefined && !applicationNames.includes(rule.event.params.application)) {
      throw new InvalidConfigError(
        RULES_FILE,
        `rules[${i}].event.params.application`,
        `${describeValue(rule.event.params.application)} is not an application of config/serverless.json (applications: ${applicationNames.join(', ') || 'none'})`,
      );
    }
  });
}

let cached: PlacementRule[] | undefined;

export function loadRules(): PlacementRule[] {
  cached ??= parseRules(rulesJson);
  return cached;
}

/** What loadRules returns from now on in this process (undefined: config/rules.json again); see usePools. */
export function useRules(rules: PlacementRule[] | undefined): void {
  cached = rules;
}
