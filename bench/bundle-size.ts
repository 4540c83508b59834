/**
 * `npm run bench:bundle`: packages the service offline (as `npm run package` does) and prints each Lambda's
 * zipped size against the 300 KB target. A zip's size drives cold-start download and init time.
 * `--reuse` reads the zips already in .serverless/ instead of packaging again.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageService, repoRoot } from '../test/infra/support/template';

const TARGET_KB = 300;

function zipsIn(dir: string): Array<{ name: string; kb: number }> {
  return readdirSync(dir)
    .filter((file) => file.endsWith('.zip'))
    .sort()
    .map((file) => ({ name: file.replace(/\.zip$/, ''), kb: statSync(join(dir, file)).size / 1024 }));
}

function main(): void {
  const reuse = process.argv.includes('--reuse');
  const existing = join(repoRoot, '.serverless');
  let dir = existing;
  let cleanup = () => {};
  if (!reuse || !existsSync(existing)) {
    dir = mkdtempSync(join(tmpdir(), 'emrflow-bundle-'));
    cleanup = () => rmSync(dir, { recursive: true, force: true });
    const started = Date.now();
    packageService(dir);
    console.log(`packaged in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  try {
    const zips = zipsIn(dir);
    if (zips.length === 0) throw new Error(`no function zips in ${dir}`);
    const width = Math.max(...zips.map((zip) => zip.name.length));
    console.log(`${'function'.padEnd(width)}  zipped KB  target KB`);
    for (const zip of zips) {
      const verdict = zip.kb <= TARGET_KB ? 'ok' : 'OVER';
      console.log(`${zip.name.padEnd(width)}  ${zip.kb.toFixed(1).padStart(9)}  ${String(TARGET_KB).padStart(9)}  ${verdict}`);
    }
    const over = zips.filter((zip) => zip.kb > TARGET_KB).length;
    console.log(`${zips.length} functions, ${over} over the ${TARGET_KB} KB target`);
  } finally {
    cleanup();
  }
}

main();
