import { Engine } from 'json-rules-engine';
import type { PlacementRule } from '../config/rules';
import type { Priority } from './types';
import { priorityRank } from './priority';

/** The facts config/rules.json can test (lib/config/rules.ts rejects any other name, from PLACEMENT_FACTS). */
export interface PlacementFacts {
  predictedMinutes: number;
  slaMinutes: number;
  /** predictedMinutes / slaMinutes: how much of the SLA the predicted run uses. */
  slaUsedShare: number;
  priority: Priority;
  attempt: number;
  maxAttempts: number;
  capacityUnits: number;
  inputGiB: number;
  /** slaMinutes - predictedMinutes: how long the job may wait and still meet its SLA. */
  slaSlackMinutes: number;
  /** Per pool: minutes a lease would take now (lib/domain/serverless.ts predictedPoolWaitMinutes); empty without a registry. */
  predictedWaitMinutes: Record<string, number>;
  /**
   * Expected cost of the run on each target, USD (a target that cannot be priced is absent): "$.pool" (the pool
   * a usePool rule would pick, else the first), "$.dedicated", "$.serverless".
   */
  predictedCostUsd: { pool?: number; dedicated?: number; serverless?: number };
  /**
   * 1 while the StartJobRun budget (config/serverless.json startJobRunBudget) has a token for this job, else 0: a
   * rule that sends jobs to EMR Serverless by choice tests it, so they go there no faster than StartJobRun's quota.
   */
  serverlessStartTokens: number;
}

/**
 * The fact names, for lib/config/rules.ts to validate a rule against. A Record over PlacementFacts' keys, so
 * the compiler rejects a fact added to the interface and not here (or here and not there): one definition.
 */
const FACT_NAMES: Record<keyof PlacementFacts, true> = {
  predictedMinutes: true,
  slaMinutes: true,
  slaUsedShare: true,
  priority: true,
  attempt: true,
  maxAttempts: true,
  capacityUnits: true,
  inputGiB: true,
  slaSlackMinutes: true,
  predictedWaitMinutes: true,
  predictedCostUsd: true,
  serverlessStartTokens: true,
};
export const PLACEMENT_FACTS = Object.keys(FACT_NAMES) as [keyof PlacementFacts, ...Array<keyof PlacementFacts>];

export interface PlacementDecision {
  /** Share of the task fleet (the Spot-eligible capacity) to buy On-Demand, 0..1; core is always On-Demand. */
  taskOnDemandShare: number;
  /** `rule-name: reason` of every rule that fired. */
  reasons: string[];
  /** The pool a usePool rule named (the first in file order that fired), or null for a dedicated cluster. */
  pool: string | null;
  /** The job's priority, raised by setPriority rules (the highest that fired wins). */
  priority: Priority;
  /**
   * A useServerless rule fired (the first in file order): the application it names, or '' for the default.
   * Null when none did. It wins over usePool: overflow means "not the pool".
   */
  serverless: string | null;
}

/**
 * Runs the placement rules (disabled ones are skipped). Each fired onDemandShare rule asks for at least its
 * share of On-Demand and the highest wins; setPriority rules can only raise the job's priority. Neither
 * depends on rule order, and a rule can only make a run safer or sooner, never riskier or later. Pools
 * are a choice, not a level, so for usePool the file order decides: the first rule that fires names the pool.
 */
export async function decidePlacement(rules: PlacementRule[], facts: PlacementFacts): Promise<PlacementDecision> {
  const active = rules.filter((rule) => rule.enabled !== false);
  const engine = new Engine(
    active.map((rule, order) => ({ name: rule.name, conditions: rule.conditions, event: rule.event, priority: active.length - order })),
    { allowUndefinedFacts: false },
  );
  const { results } = await engine.run({ ...facts });
  const byName = new Map(active.map((rule) => [rule.name, rule]));
  const fired = results.map((result) => byName.get(String(result.name))).filter((rule): rule is PlacementRule => rule !== undefined);
  const reasons = fired.map((rule) => `${rule.name}: ${rule.event.params.reason}`);
  const shares = fired.flatMap((rule) => (rule.event.type === 'onDemandShare' ? [rule.event.params.share] : []));
  const pools = fired.flatMap((rule) => (rule.event.type === 'usePool' ? [rule.event.params.pool] : []));
  const serverless = fired.flatMap((rule) => (rule.event.type === 'useServerless' ? [rule.event.params.application ?? ''] : []));
  const priority = fired.reduce<Priority>(
    (best, rule) => (rule.event.type === 'setPriority' && priorityRank(rule.event.params.priority) > priorityRank(best) ? rule.event.params.priority : best),
    facts.priority,
  );
  if (shares.length === 0) reasons.push(fired.length === 0 ? 'no rule fired: task fleet on Spot' : 'no onDemandShare rule fired: task fleet on Spot');
  return { taskOnDemandShare: shares.length > 0 ? Math.max(...shares) : 0, reasons, pool: pools[0] ?? null, priority, serverless: serverless[0] ?? null };
}
