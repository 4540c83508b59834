/**
 * `emrflow simulate`: runs the planner with a progress bar on stderr, prints the side-by-side table and the
 * targets (or, with --json, exactly one JSON object on stdout), and writes simulation.json and report.html
 * into the output directory.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { plan, type PlanResult } from './index';
import { figureRows, renderReport } from './report';
import { STRATEGIES } from './simulate';

export const DEFAULT_OUT_DIR = '.emrflow/simulate';

export interface SimulateCommandOptions {
  profile: string;
  history?: string;
  whatIf?: string;
  seed: number;
  out: string;
  json: boolean;
}

/** The object --json prints: everything but the per-minute series (those are in the written file). */
export function summaryObject(result: PlanResult): Omit<PlanResult, 'series'> {
  const { series: _series, ...summary } = result;
  return summary;
}

export async function simulateCommand(options: SimulateCommandOptions, print: (line: string) => void): Promise<number> {
  const bar = progressBar();
  const result = await plan({ profile: options.profile, history: options.history, whatIf: options.whatIf, seed: options.seed, onProgress: bar.update });
  bar.done();
  mkdirSync(options.out, { recursive: true });
  const jsonFile = join(options.out, 'simulation.json');
  const htmlFile = join(options.out, 'report.html');
  writeFileSync(jsonFile, `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(htmlFile, renderReport(result));
  for (const line of sideBySide(result)) print(line);
  print(`report: ${relative(process.cwd(), htmlFile) || htmlFile}   figures: ${relative(process.cwd(), jsonFile) || jsonFile}`);
  if (options.json) process.stdout.write(`${JSON.stringify(summaryObject(result), null, 2)}\n`);
  return 0;
}

/** The table and the targets as terminal lines. */
export function sideBySide(result: PlanResult): string[] {
  const rows = figureRows(result)
    .filter((row) => !row.label.startsWith('peak API calls/s by op'))
    .map((row) => (row.label === 'quota exceeded' ? { ...row, values: STRATEGIES.map((s) => (result.strategies[s].quotaExceeded.length === 0 ? 'none' : `${result.strategies[s].quotaExceeded.length} op(s)`)) } : row));
  const labelWidth = Math.max(...rows.map((r) => r.label.length));
  const widths = STRATEGIES.map((s, i) => Math.max(s.length, ...rows.map((r) => r.values[i].length)));
  const line = (label: string, values: string[]) => `${label.padEnd(labelWidth)}  ${values.map((v, i) => v.padStart(widths[i])).join('  ')}`;
  const lines = [
    `SIMULATED day: ${result.simulatedJobs} jobs, ${result.inputTiB} TiB of input, seed ${result.seed}, ${result.wallSeconds} s wall time (${result.source})`,
    `Spot model: ${result.spotModel}`,
    `Configuration: ${result.configuration}`,
    '',
    line('', [...STRATEGIES]),
    ...rows.map((r) => line(r.label, r.values)),
    '',
    'peak API calls per second (busiest 60 s window) by operation (EMR; SendTask* are Step Functions calls with their own quotas):',
    ...STRATEGIES.filter((s) => Object.keys(result.strategies[s].peakApiCallsPerSecond).length > 1).flatMap((s) => [
      `  ${s}: ${Object.entries(result.strategies[s].peakApiCallsPerSecond).map(([op, v]) => `${op} ${v}`).join(', ')}`,
      `    past the default quota: ${Object.entries(result.strategies[s].throttledCalls).map(([op, n]) => `${op} (${n} calls throttled)`).join(', ') || 'none'}`,
    ]),
  ];
  if (result.stress) lines.push('', `emrflow under ${result.stress.spotModel}: completion ${(result.stress.completion * 100).toFixed(2)}%, ${result.stress.interruptions} interruptions, $${result.stress.costUsd}, ${result.stress.slaMisses} SLA misses`);
  lines.push('', 'targets:', ...result.targets.map((t) => `  ${t.pass ? 'PASS' : 'MISS'}  ${t.target}: ${t.value}`));
  return lines;
}

/** A one-line bar on stderr when it is a terminal; a line per quarter otherwise (CI logs). */
function progressBar(): { update: (done: number, total: number, phase: string) => void; done: () => void } {
  const tty = process.stderr.isTTY === true;
  let lastQuarter = -1;
  return {
    update(done, total, phase) {
      const share = done / total;
      if (tty) {
        const width = 30;
        const filled = Math.round(share * width);
        process.stderr.write(`\r  simulating [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(share * 100).toFixed(0).padStart(3)}%  ${phase.padEnd(28)}`);
      } else if (Math.floor(share * 4) > lastQuarter) {
        lastQuarter = Math.floor(share * 4);
        process.stderr.write(`  simulating: ${(share * 100).toFixed(0)}% (${phase})\n`);
      }
    },
    done() {
      if (tty) process.stderr.write('\r\x1b[2K');
    },
  };
}
