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
    .map((row) =>
      row.label === 'quota exceeded'
        ? {
            ...row,
            values: STRATEGIES.map((s) => (result.strategies[s].quotaExceeded.length === 0 ? 'none' : `${result.strategies[s].quotaExceeded.length} op(s)`)),
          }
        : row,
    );
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
      `  ${s}: ${Object.entries(result.strategies[s].peakApiCallsPerSecond)
        .map(([op, v]) => `${op} ${v}`)
        .join(', ')}`,
      `    past the default quota: ${
        Object.entries(result.strategies[s].throttledCalls)
          .map(([op, n]) => `${op} (${n} calls throttled)`)
          .join(', ') || 'none'
      }`,
    ]),
  ];
  if (result.stress)
    lines.push(
      '',
      `emrflow under ${result.stress.spotModel}: completion ${(result.stress.completion * 100).toFixed(2)}%, ${result.stress.interruptions} interruptions, $${result.stress.costUsd}, ${result.stress.slaMisses} SLA misses`,
    );
  lines.push('', 'targets:', ...result.targets.map((t) => `  ${t.pass ? 'PASS' : 'MISS'}  ${t.target}: ${t.value}`));
  return lines;
}

export interface CompareCommandOptions {
  profile: string;
  whatIf: string;
  seed: number;
  out: string;
  json: boolean;
}

/**
 * The shipped configuration and a what-if over the same job mix and seed, one after the other, printed side by
 * side: emrflow under each, then the alternatives (they do not read pools or rules, so both runs give the same
 * figures for them; a difference is printed rather than hidden). Each run writes its report under `out/shipped`
 * and `out/what-if`. `npm run bench:day`.
 */
export async function compareCommand(options: CompareCommandOptions, print: (line: string) => void): Promise<number> {
  const runs: Array<[string, PlanResult]> = [];
  for (const [name, whatIf] of [
    ['shipped', undefined],
    ['what-if', options.whatIf],
  ] as const) {
    const bar = progressBar();
    const result = await plan({
      profile: options.profile,
      whatIf,
      seed: options.seed,
      onProgress: (done, total, phase) => bar.update(done, total, `${name}: ${phase}`),
    });
    bar.done();
    const dir = join(options.out, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'simulation.json'), `${JSON.stringify(result, null, 2)}\n`);
    writeFileSync(join(dir, 'report.html'), renderReport(result));
    runs.push([name, result]);
  }
  for (const line of compareLines(runs[0][1], runs[1][1])) print(line);
  print(`reports: ${runs.map(([name]) => join(relative(process.cwd(), options.out) || options.out, name, 'report.html')).join(', ')}`);
  if (options.json) process.stdout.write(`${JSON.stringify({ shipped: summaryObject(runs[0][1]), whatIf: summaryObject(runs[1][1]) }, null, 2)}\n`);
  return 0;
}

/** emrflow shipped, emrflow what-if, then the alternatives from the shipped run; the targets of both. */
export function compareLines(shipped: PlanResult, whatIf: PlanResult): string[] {
  const columns = ['emrflow (shipped)', 'emrflow (what-if)', ...STRATEGIES.filter((s) => s !== 'emrflow')];
  const shippedRows = figureRows(shipped).filter((row) => !row.label.startsWith('peak API calls/s by op'));
  const whatIfRows = figureRows(whatIf).filter((row) => !row.label.startsWith('peak API calls/s by op'));
  const quota = (result: PlanResult, s: (typeof STRATEGIES)[number]) =>
    result.strategies[s].quotaExceeded.length === 0 ? 'none' : result.strategies[s].quotaExceeded.join(' ');
  const rows = shippedRows.map((row, r) => {
    const values = row.label === 'quota exceeded' ? STRATEGIES.map((s) => quota(shipped, s)) : row.values;
    const other = row.label === 'quota exceeded' ? quota(whatIf, 'emrflow') : whatIfRows[r].values[0];
    return { label: row.label, values: [values[0], other, ...values.slice(1)] };
  });
  const pooled = (r: PlanResult) => r.strategies.emrflow.pooledStartSeconds;
  rows.push({
    label: 'pooled jobs / pooled start p50 / p95 (s)',
    values: [shipped, whatIf]
      .map((r) => `${pooled(r)?.jobs ?? 0} / ${pooled(r)?.p50 ?? '-'} / ${pooled(r)?.p95 ?? '-'}`)
      .concat(columns.slice(2).map(() => '-')),
  });
  const submit = (r: PlanResult) => r.strategies.emrflow.submitWaitSeconds;
  rows.push({
    label: 'AddJobFlowSteps quota wait p50 / p95 / max (s)',
    values: [shipped, whatIf]
      .map((r) => `${submit(r)?.p50 ?? '-'} / ${submit(r)?.p95 ?? '-'} / ${submit(r)?.max ?? '-'}`)
      .concat(columns.slice(2).map(() => '-')),
  });
  const capacity = (r: PlanResult) => r.strategies.emrflow.capacityWaitSeconds;
  rows.push({
    label: 'capacity wait after RUNNING p50 / p95 (s)',
    values: [shipped, whatIf].map((r) => `${capacity(r)?.p50 ?? '-'} / ${capacity(r)?.p95 ?? '-'}`).concat(columns.slice(2).map(() => '-')),
  });
  const labelWidth = Math.max(...rows.map((r) => r.label.length));
  const widths = columns.map((c, i) => Math.max(c.length, ...rows.map((r) => r.values[i].length)));
  const line = (label: string, values: string[]) => `${label.padEnd(labelWidth)}  ${values.map((v, i) => v.padStart(widths[i])).join('  ')}`;
  const alternativesDiffer = STRATEGIES.filter((s) => s !== 'emrflow' && JSON.stringify(shipped.strategies[s]) !== JSON.stringify(whatIf.strategies[s]));
  const apiLines = (name: string, r: PlanResult) => {
    const e = r.strategies.emrflow;
    return [
      `  emrflow (${name}): ${Object.entries(e.peakApiCallsPerSecond)
        .map(([op, v]) => `${op} ${v}`)
        .join(', ')}`,
      `    past the default quota: ${
        Object.entries(e.throttledCalls)
          .map(([op, n]) => `${op} (${n} calls throttled)`)
          .join(', ') || 'none'
      }`,
    ];
  };
  return [
    `SIMULATED day: ${shipped.simulatedJobs} jobs, ${shipped.inputTiB} TiB of input, seed ${shipped.seed} (${shipped.source}); wall time ${shipped.wallSeconds} s shipped + ${whatIf.wallSeconds} s what-if`,
    `Spot model: ${shipped.spotModel}`,
    `shipped: ${shipped.configuration}`,
    `what-if: ${whatIf.configuration}`,
    alternativesDiffer.length === 0
      ? 'The alternatives read neither pools nor rules: both runs gave them the same figures (shown once).'
      : `NOTE: the alternatives differ between the runs (${alternativesDiffer.join(', ')}); shown from the shipped run.`,
    '',
    line('', columns),
    ...rows.map((r) => line(r.label, r.values)),
    '',
    'peak API calls per second (busiest 60 s window) by operation (EMR; SendTask* are Step Functions calls with their own quotas):',
    ...apiLines('shipped', shipped),
    ...apiLines('what-if', whatIf),
    '',
    ...[
      ['shipped', shipped],
      ['what-if', whatIf],
    ].flatMap(([name, r]) => {
      const result = r as PlanResult;
      const stress = result.stress
        ? [
            `  emrflow under ${result.stress.spotModel}: completion ${(result.stress.completion * 100).toFixed(2)}%, ${result.stress.interruptions} interruptions, $${result.stress.costUsd}, ${result.stress.slaMisses} SLA misses`,
          ]
        : [];
      return [`targets (${name as string}):`, ...result.targets.map((t) => `  ${t.pass ? 'PASS' : 'MISS'}  ${t.target}: ${t.value}`), ...stress, ''];
    }),
  ];
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
        process.stderr.write(
          `\r  simulating [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(share * 100).toFixed(0).padStart(3)}%  ${phase.padEnd(28)}`,
        );
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
