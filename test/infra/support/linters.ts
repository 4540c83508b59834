/**
 * cfn-lint and checkov from the project's Python venv (scripts/setup-python.sh pins both), run on a packaged
 * template. checkov runs with no skips of its own: its failures are matched here against
 * test/infra/checkov-waivers.yaml, so every accepted failure has a reason and a waiver that no longer
 * matches anything is reported too.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { repoRoot } from './template';

const venvBin = join(repoRoot, '.venv', 'bin');
const cfnLint = join(venvBin, 'cfn-lint');
const checkov = join(venvBin, 'checkov');
export const waiversFile = join(repoRoot, 'test', 'infra', 'checkov-waivers.yaml');

export function missingLinters(): string[] {
  return [cfnLint, checkov].filter((tool) => !existsSync(tool));
}

function run(tool: string, args: string[]): string {
  if (!existsSync(tool)) throw new Error(`${tool} is missing: run scripts/setup-python.sh`);
  const result = spawnSync(tool, args, { cwd: repoRoot, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.error) throw result.error;
  return result.stdout;
}

interface CfnLintMatch {
  Level: 'Error' | 'Warning' | 'Informational';
  Rule: { Id: string };
  Message: string;
  Location: { Path: Array<string | number> };
}

export function runCfnLint(templateFile: string) {
  const matches: CfnLintMatch[] = JSON.parse(run(cfnLint, ['--format', 'json', templateFile]) || '[]');
  const describe = (m: CfnLintMatch) => `${m.Level} ${m.Rule.Id} ${m.Location.Path.join('/')}: ${m.Message}`;
  return {
    errors: matches.filter((m) => m.Level === 'Error').map(describe),
    warnings: matches.filter((m) => m.Level === 'Warning').map(describe),
    summary: matches.map(describe).join('\n'),
  };
}

interface Waiver {
  check: string;
  /** checkov resource names (`AWS::Type.LogicalId`); `*` matches any run of characters. */
  resources: string[];
  reason: string;
}

export function loadWaivers(): Waiver[] {
  const { waivers } = parse(readFileSync(waiversFile, 'utf8')) as { waivers: Waiver[] };
  for (const waiver of waivers) {
    if (!waiver.check || !waiver.resources?.length || !waiver.reason?.trim()) {
      throw new Error(`${waiversFile}: every waiver needs check, resources and a reason (${JSON.stringify(waiver)})`);
    }
  }
  return waivers;
}

const globMatches = (pattern: string, name: string) =>
  new RegExp(
    `^${pattern
      .split('*')
      .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  ).test(name);

export function runCheckov(templateFile: string) {
  const output = JSON.parse(
    // --skip-download: checkov otherwise fetches guideline metadata from its vendor's API on every run.
    run(checkov, ['--skip-download', '--file', templateFile, '--framework', 'cloudformation', '--output', 'json', '--quiet', '--compact']),
  );
  const report = Array.isArray(output) ? output[0] : output;
  const failures: Array<{ check_id: string; resource: string; check_name: string }> = report.results?.failed_checks ?? [];
  const waivers = loadWaivers();
  const used = new Set<Waiver>();
  const waived: string[] = [];
  const failed: string[] = [];
  for (const failure of failures) {
    const label = `${failure.check_id} ${failure.resource}: ${failure.check_name}`;
    const waiver = waivers.find((w) => w.check === failure.check_id && w.resources.some((pattern) => globMatches(pattern, failure.resource)));
    if (waiver) {
      used.add(waiver);
      waived.push(label);
    } else {
      failed.push(label);
    }
  }
  return {
    passed: (report.summary?.passed ?? 0) as number,
    failed,
    waived,
    staleWaivers: waivers.filter((w) => !used.has(w)).map((w) => `${w.check} ${w.resources.join(', ')}`),
  };
}
