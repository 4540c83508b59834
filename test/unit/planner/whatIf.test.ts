import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { shippedConfig } from '../../../local/planner';
import { applyWhatIf, readWhatIf } from '../../../local/planner/whatIf';
import { placementOf, sizeDay } from '../../../local/planner/decisions';
import { generateJobs, readProfile } from '../../../local/planner/profile';

describe('what-if overlays for the planner', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'emrflow-whatif-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const write = (content: unknown) => {
    const file = join(dir, `w${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(file, JSON.stringify(content));
    return file;
  };
  const apply = (content: unknown) => {
    const file = write(content);
    return applyWhatIf(file, readWhatIf(file), shippedConfig());
  };

  it('changes the named pool fields and rules, leaving config/ untouched', async () => {
    const file = 'examples/planner/what-if-pooled.json';
    const shipped = shippedConfig();
    const changed = applyWhatIf(file, readWhatIf(file), shipped);
    expect(changed.pools.pools[0]).toMatchObject({ name: 'shared', maxClusters: 8, capacityUnits: 256 });
    expect(shipped.pools.pools[0]).toMatchObject({ name: 'shared', maxClusters: 4, capacityUnits: 128 });
    expect(changed.rules.find((r) => r.name === 'use-shared-pool')?.enabled).toBe(true);

    const noPool = apply({ disableRules: ['use-shared-pool'] });
    expect(noPool.rules.find((r) => r.name === 'use-shared-pool')?.enabled).toBe(false);
    expect(shipped.rules.find((r) => r.name === 'use-shared-pool')?.enabled).not.toBe(false);

    const profile = readProfile('examples/planner/day.json');
    const [job] = sizeDay(generateJobs({ ...profile, jobs: 5, totalInputTiB: 0.0001 }, 1), profile.date);
    const config = (c: typeof shipped) => ({ rules: c.rules, template: c.pools.dedicated, prices: c.prices, pools: c.pools.pools, stage: 'test' });
    expect((await placementOf(job, 1, config(changed))).mode).toBe('pool');
    expect((await placementOf(job, 1, config(noPool))).mode).toBe('dedicated');
  });

  it('refuses an unknown pool, an unknown field, an unknown rule and a result the pools schema rejects, naming the field', () => {
    expect(() => apply({ pools: { batch: { maxClusters: 2 } } })).toThrow(/pools\.batch: no pool "batch"/);
    expect(() => apply({ pools: { shared: { maxClusterz: 2 } } })).toThrow(/pools\.shared\.maxClusterz: not a field/);
    expect(() => apply({ enableRules: ['use-the-pool'] })).toThrow(/enableRules\[0\]: no rule "use-the-pool"/);
    expect(() => apply({ pools: { shared: { capacityUnits: 512 } } })).toThrow(
      /config\/pools\.json: pools\[0\]\.capacityUnits: must be at most managedScaling\.maximumUnits/,
    );
    expect(() => apply({ pool: {} })).toThrow(/pool/);
  });
});
