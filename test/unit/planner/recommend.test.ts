import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { shippedConfig } from '../../../local/planner';
import { recommend, recommendLines } from '../../../local/planner/recommend';
import { applyWhatIf, readWhatIf } from '../../../local/planner/whatIf';

const PROFILE = 'examples/planner/day.json';
const JOBS = 300;

describe('emrflow simulate --recommend', () => {
  it('finds a configuration meeting the targets cheaper than a deliberately oversized one, and writes it as a what-if', async () => {
    // Prepare: the oversized point (8 clusters of 256 units, kept an hour) and a modest one.
    const out = join(mkdtempSync(join(tmpdir(), 'recommend-')), 'what-if.json');
    const grid = { maxClusters: [1, 8], capacityUnits: [64, 256], idleTimeoutSeconds: [3600] };

    // Act
    const result = await recommend({ profile: PROFILE, jobs: JOBS, seed: 1, out, grid });

    // Assess
    expect(result.tried).toBe(4);
    expect(result.best.meets).toBe(true);
    expect(result.best).toMatchObject({ failures: 0, slaMisses: 0 });
    expect(result.best.startSeconds.p50).toBeLessThanOrEqual(60);
    expect(result.best.startSeconds.p95).toBeLessThanOrEqual(300);
    expect(result.best.pool).toMatchObject({ maxClusters: 1, capacityUnits: 64 });
    const written = readWhatIf(out);
    expect(written.pools.shared).toEqual(result.best.pool);
    // The what-if is one the loaders accept (primary node sized for the steps it packs).
    expect(() => applyWhatIf(out, written, shippedConfig())).not.toThrow();
    expect(recommendLines(result, shippedConfig(), out).join('\n')).toMatch(/\+ {3}maxClusters: 1/);
  }, 120_000);

  it('says no point meets the targets when the grid holds only a pool too small for the burst (negative control)', async () => {
    // Prepare: one 32-unit cluster for a day whose hourly burst needs several.
    const out = join(mkdtempSync(join(tmpdir(), 'recommend-')), 'what-if.json');
    const grid = { maxClusters: [1], capacityUnits: [32], idleTimeoutSeconds: [900] };

    // Act
    const result = await recommend({ profile: PROFILE, jobs: 2000, seed: 1, out, grid });

    // Assess
    expect(result.meeting).toBe(0);
    expect(result.best.meets).toBe(false);
    expect(recommendLines(result, shippedConfig(), out)[2]).toMatch(/^closest \(MISSES\)/);
    expect(JSON.parse(readFileSync(out, 'utf8')).description).toMatch(/closest to/);
  }, 120_000);
});
