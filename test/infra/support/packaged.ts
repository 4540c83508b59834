/**
 * The packaged template, shared by every test file under test/infra: `serverless package` runs once per
 * content of what shapes the template (the files osls reads: local/runner/serverless-config.ts's list)
 * and the result is kept under node_modules/.cache, so a second test file (or a re-run with nothing
 * changed) reads it instead of packaging again (about 20 s each time).
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { hashServiceInputs } from '../../../local/runner/serverless-config';
import { packageService, repoRoot, templateFileName, type Template } from './template';

const cacheRoot = join(repoRoot, 'node_modules', '.cache', 'emrflow-package');

export function templateInputsHash(): string {
  return hashServiceInputs(repoRoot).digest('hex').slice(0, 20);
}

export interface Packaged {
  dir: string;
  file: string;
  template: Template;
}

export function packagedTemplate(): Packaged {
  const dir = join(cacheRoot, templateInputsHash());
  const file = join(dir, templateFileName);
  if (!existsSync(file)) {
    mkdirSync(cacheRoot, { recursive: true });
    const scratch = mkdtempSync(join(cacheRoot, 'packaging-'));
    try {
      packageService(scratch);
      // Another test file may have packaged the same inputs meanwhile: the first rename wins, both are equal.
      if (!existsSync(file)) {
        renameSync(scratch, dir);
        for (const stale of readdirSync(cacheRoot))
          if (!stale.startsWith('packaging-') && join(cacheRoot, stale) !== dir) rmSync(join(cacheRoot, stale), { recursive: true, force: true });
      }
    } catch (error) {
      if (!existsSync(file)) throw error;
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }
  return { dir, file, template: JSON.parse(readFileSync(file, 'utf8')) };
}
