import { Engine } from 'json-rules-engine';
import type { PlacementRule } from '../config/rules';
import type { Priority } from './types';

/** The facts config/rules.json can test (lib/config/rules.ts rejects any other name). */
export interface PlacementFacts {
  predictedMinutes: number;
  slaMinutes: number;
  slaUsedShare: number;
  priority: Priority;
  attempt: number;
  maxAttempts: number;
  capacityUnits: number;
  inputGiB: number;
}

export interface PurchaseDecision {
  /** Share of the task fleet (the Spot-eligible capacity) to buy On-Demand, 0..1; core is always On-Demand. */
  taskOnDemandShare: number;
  /** `rule-name: reason` of every rule that fired. */
  reasons: string[];
}

/**
 * Runs the purchase rules. Each fired rule asks for at least its share of On-Demand; the highest wins, so
 * the outcome does not depend on rule order and a rule can only make a run safer, never riskier.
 */
export async function decidePurchase(rules: PlacementRule[], facts: PlacementFacts): Promise<PurchaseDecision> {
  const engine = new Engine(
    rules.map((rule) => ({ name: rule.name, conditions: rule.conditions, event: rule.event })),
    { allowUndefinedFacts: false },
  );
  const { results } = await engine.run({ ...facts });
  const fired = results.map((result) => ({
    name: String(result.name),
    share: Number(result.event?.params?.share),
    reason: String(result.event?.params?.reason),
  }));
  if (fired.length === 0) return { taskOnDemandShare: 0, reasons: ['no rule fired: task fleet on Spot'] };
  return {
    taskOnDemandShare: Math.max(...fired.map((f) => f.share)),
    reasons: fired.map((f) => `${f.name}: ${f.reason}`),
  };
}
