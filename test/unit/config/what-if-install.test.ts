/**
 * `npm run bench:pool -- --what-if f` runs the in-process Lambdas on a what-if's pools and rules: usePools and
 * useRules replace what loadPools / loadRules return in this process, and undefined gives the files back.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadPools, parsePools, usePools } from '../../../lib/config/pools';
import { loadPrices } from '../../../lib/config/prices';
import { loadRules, useRules } from '../../../lib/config/rules';
import { applyWhatIf, readWhatIf } from '../../../local/planner/whatIf';

const DEEP_QUEUE = join(__dirname, '../../../bench/what-if-deep-queue.json');

afterEach(() => {
  usePools(undefined);
  useRules(undefined);
});

describe("bench:pool's what-if", () => {
  it("bench/what-if-deep-queue.json passes the planner's what-if checks: 8 clusters of 32 jobs, 256 at once", () => {
    const prices = loadPrices();
    const { pools } = applyWhatIf(DEEP_QUEUE, readWhatIf(DEEP_QUEUE), { prices, pools: loadPools(prices), rules: loadRules() });
    const [shared] = pools.pools;
    expect(shared.maxClusters * shared.maxJobsPerCluster).toBe(256);
  });

  it('usePools replaces what loadPools returns, and undefined gives config/pools.json back', () => {
    const prices = loadPrices();
    const shipped = loadPools(prices);
    const raw = JSON.parse(readFileSync(join(__dirname, '../../../config/pools.json'), 'utf8'));
    const bigger = parsePools({ ...raw, pools: raw.pools.map((pool: Record<string, unknown>) => ({ ...pool, maxClusters: 7 })) }, prices);

    usePools(bigger);
    expect(loadPools(prices).pools[0].maxClusters).toBe(7);

    // Negative control: once reset, the shipped file again (not the what-if).
    usePools(undefined);
    expect(loadPools(prices).pools[0].maxClusters).toBe(shipped.pools[0].maxClusters);
    expect(loadPools(prices).pools[0].maxClusters).not.toBe(7);
  });

  it('useRules replaces what loadRules returns, and undefined gives config/rules.json back', () => {
    const shipped = loadRules();
    useRules(shipped.slice(0, 1));
    expect(loadRules()).toHaveLength(1);
    useRules(undefined);
    expect(loadRules()).toHaveLength(shipped.length);
  });
});
