/**
 * The placement rules the local runtime's pool tests and benchmarks run on. config/rules.json ships
 * `small-jobs-to-serverless-when-the-pool-must-grow` on (the planner's best day, issue 23): a small job goes
 * to EMR Serverless whenever no ready pool cluster has room for it, so a burst on a cold pool would run on
 * Serverless and never make the pool grow. Whatever measures the pool (test/statemachine's pooled loads,
 * `npm run bench:pool`, `npm run faults`' pooled rows) switches that one rule off, visibly, by name; every
 * other rule stays as shipped. Never used by the Lambdas' own configuration.
 */

/** The shipped rule the pool's own tests and benchmarks switch off. */
export const POOL_GROWTH_SERVERLESS_RULE = 'small-jobs-to-serverless-when-the-pool-must-grow';

interface NamedRule {
  name: string;
  enabled?: boolean;
}

/**
 * The rules with POOL_GROWTH_SERVERLESS_RULE switched off: small jobs wait for the pool to grow instead of
 * going to EMR Serverless. Throws if the rule is not there, so a renamed rule cannot quietly turn this into
 * a no-op while the tests think they measure the pool.
 */
export function smallJobsStayOnThePool<Rule extends NamedRule>(rules: readonly Rule[]): Rule[] {
  if (!rules.some((rule) => rule.name === POOL_GROWTH_SERVERLESS_RULE))
    throw new Error(`no rule "${POOL_GROWTH_SERVERLESS_RULE}" in the rules: rename it here too (local/runner/poolRules.ts)`);
  return rules.map((rule) => (rule.name === POOL_GROWTH_SERVERLESS_RULE ? { ...rule, enabled: false } : rule));
}

/** The same, on the contents of config/rules.json: for a test's `jest.mock('…/config/rules.json', …)`. */
export function smallJobsStayOnThePoolFile<File extends { rules: readonly NamedRule[] }>(file: File): File {
  return { ...file, rules: smallJobsStayOnThePool(file.rules) };
}

/** Whether these rules keep small jobs on the pool (POOL_GROWTH_SERVERLESS_RULE absent or switched off). */
export function keepsSmallJobsOnThePool(rules: readonly NamedRule[]): boolean {
  return rules.every((rule) => rule.name !== POOL_GROWTH_SERVERLESS_RULE || rule.enabled === false);
}
