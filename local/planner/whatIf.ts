/**
 * A what-if for `emrflow simulate --what-if f`: changes to the project's pools and rules the planner tries
 * without editing config/. The overlay names pools and rules that exist (strict schema; an unknown pool or
 * rule is an error naming the field), and the result goes through the same loaders' checks as the shipped
 * files (parsePools, checkRulePools), so a what-if can never be a configuration the Lambdas would refuse.
 */
import { readFileSync } from 'node:fs';
import * as z from 'zod';
import { PoolDefinitionSchema, parsePools, POOLS_FILE } from '../../lib/config/pools';
import { checkRulePools } from '../../lib/config/rules';
import { InvalidConfigError } from '../../lib/errors';
import { parseConfig, strictObject } from '../../lib/schema';
import type { PlannerConfig } from './decisions';

const PoolChanges = z.record(z.string(), z.record(z.string(), z.unknown()));

export const WhatIfSchema = strictObject({
  description: z.string().optional(),
  /** Pool name → fields of config/pools.json's pool to replace (managedScaling replaced as a whole). */
  pools: PoolChanges.default({}),
  /** Rules of config/rules.json to switch on or off, by name. */
  enableRules: z.array(z.string().min(1)).default([]),
  disableRules: z.array(z.string().min(1)).default([]),
});
export type WhatIf = z.infer<typeof WhatIfSchema>;

export function readWhatIf(file: string): WhatIf {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`${file}: ${(error as Error).message}`);
  }
  return parseConfig(file, WhatIfSchema, raw);
}

export function applyWhatIf(file: string, whatIf: WhatIf, config: PlannerConfig): PlannerConfig {
  const known = new Set(Object.keys(PoolDefinitionSchema.shape));
  for (const [name, changes] of Object.entries(whatIf.pools)) {
    if (!config.pools.pools.some((pool) => pool.name === name)) {
      throw new InvalidConfigError(
        file,
        `pools.${name}`,
        `no pool "${name}" in ${POOLS_FILE} (pools: ${config.pools.pools.map((p) => p.name).join(', ') || 'none'})`,
      );
    }
    for (const field of Object.keys(changes)) {
      if (!known.has(field) || field === 'name')
        throw new InvalidConfigError(
          file,
          `pools.${name}.${field}`,
          `not a field a what-if can change (fields: ${[...known].filter((f) => f !== 'name').join(', ')})`,
        );
    }
  }
  const names = new Set(config.rules.map((rule) => rule.name));
  for (const [list, key] of [
    [whatIf.enableRules, 'enableRules'],
    [whatIf.disableRules, 'disableRules'],
  ] as const) {
    list.forEach((name, i) => {
      if (!names.has(name)) throw new InvalidConfigError(file, `${key}[${i}]`, `no rule "${name}" in config/rules.json`);
    });
  }
  const pools = parsePools({ ...config.pools, pools: config.pools.pools.map((pool) => ({ ...pool, ...(whatIf.pools[pool.name] ?? {}) })) }, config.prices);
  const rules = config.rules.map((rule) =>
    whatIf.enableRules.includes(rule.name) ? { ...rule, enabled: true } : whatIf.disableRules.includes(rule.name) ? { ...rule, enabled: false } : rule,
  );
  checkRulePools(
    rules,
    pools.pools.map((pool) => pool.name),
  );
  return { ...config, pools, rules };
}

/** One line saying what the what-if changed, for the output and the report. */
export function describeWhatIf(file: string, whatIf: WhatIf): string {
  const parts = [
    ...Object.entries(whatIf.pools).map(
      ([name, changes]) =>
        `pool ${name}: ${Object.entries(changes)
          .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
          .join(', ')}`,
    ),
    ...whatIf.enableRules.map((name) => `rule ${name} enabled`),
    ...whatIf.disableRules.map((name) => `rule ${name} disabled`),
  ];
  return `${file}: ${parts.join('; ') || 'no change'}`;
}
