/**
 * The self-contained HTML report of a `emrflow simulate` run: the figures as a table, five charts drawn by
 * Chart.js, whose minified build is read from node_modules when the report is written and inlined, so the
 * file opens with no network. Nothing here is committed: reports are written to the run's --out directory.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { STRATEGIES, type StrategyFigures } from './simulate';
import type { PlanResult } from './index';

const COLORS: Record<string, string> = {
  emrflow: '#1b7f3b',
  'emrflow-hybrid': '#17a589',
  'on-demand-per-job': '#c0392b',
  'spot-per-job': '#d68910',
  'emr-serverless': '#2471a3',
  'emr-serverless-preinit': '#6c3483',
  floor: '#7f8c8d',
};
const COST_PARTS = ['ec2', 'emrUplift', 'emrServerless', 'stepFunctions', 'lambda', 'glue'] as const;
const PART_COLORS = ['#34495e', '#8e44ad', '#2471a3', '#16a085', '#f39c12', '#95a5a6'];

/** Chart.js's UMD build, as installed (package.json dependency). */
export function chartJsSource(): string {
  return readFileSync(join(dirname(require.resolve('chart.js')), 'chart.umd.min.js'), 'utf8');
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c);
}

/** JSON safe inside a <script> element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

export function renderReport(result: PlanResult): string {
  const rows = figureRows(result);
  const table = `<table><thead><tr><th></th>${STRATEGIES.map((s) => `<th style="color:${COLORS[s]}">${s}</th>`).join('')}</tr></thead><tbody>${rows
    .map((row) => `<tr><th>${escapeHtml(row.label)}</th>${row.values.map((v) => `<td>${escapeHtml(v)}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
  const targets = `<ul class="targets">${result.targets
    .map((t) => `<li class="${t.pass ? 'pass' : 'fail'}">${t.pass ? 'PASS' : 'MISS'} — ${escapeHtml(t.target)}: ${escapeHtml(t.value)}</li>`)
    .join('')}</ul>`;
  const data = {
    strategies: STRATEGIES,
    colors: COLORS,
    costParts: COST_PARTS,
    partColors: PART_COLORS,
    costs: Object.fromEntries(STRATEGIES.map((s) => [s, result.strategies[s].cost])),
    series: result.series,
    quotas: result.quotas,
    peaks: Object.fromEntries(STRATEGIES.map((s) => [s, result.strategies[s].peakApiCallsPerSecond])),
  };
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>emrflow simulate — ${result.simulatedJobs} jobs</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1200px;color:#222}
h1{font-size:22px}h2{font-size:17px;margin-top:28px}
table{border-collapse:collapse;font-size:13px}th,td{border-bottom:1px solid #ddd;padding:4px 10px;text-align:right}tbody th{text-align:left;font-weight:500}
.targets li.pass{color:#1b7f3b}.targets li.fail{color:#b03a2e}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:24px}.chart{position:relative;height:320px}
.note{color:#666;font-size:12px}
</style></head><body>
<h1>emrflow simulate: a simulated day of ${result.simulatedJobs} jobs (${result.inputTiB} TiB)</h1>
<p class="note">SIMULATED: every figure comes from a discrete-event simulation under a virtual clock (seed ${result.seed}, source ${escapeHtml(result.source)}, ${result.wallSeconds} s of wall time), not from AWS. Decisions are the project's own code (sizing, rules, placement, pool dispatcher, failure classification); cluster start, scaling and step times are named constants in local/planner/constants.ts. Spot model: ${escapeHtml(result.spotModel)}. Configuration: ${escapeHtml(result.configuration)}.</p>
<h2>Targets</h2>${targets}
<h2>Side by side</h2>${table}
<div class="grid">
<div><h2>Active clusters over the day</h2><div class="chart"><canvas id="active"></canvas></div><p class="note">Clusters alive per minute (max within the minute); the dashed line is EMR's default of 500 active clusters.</p></div>
<div><h2>Queued jobs over the day</h2><div class="chart"><canvas id="queued"></canvas></div><p class="note">Jobs waiting to start: in the pools' admission queues (emrflow), for a RunJobFlow token or room under the 500-cluster quota (per-job strategies), or for an AddJobFlowSteps token (all).</p></div>
<div><h2>Cost per strategy</h2><div class="chart"><canvas id="cost"></canvas></div><p class="note">USD for the day, by what is billed.</p></div>
<div><h2>Start latency (CDF)</h2><div class="chart"><canvas id="cdf"></canvas></div><p class="note">Share of jobs whose Spark application had its first executor within x seconds of the trigger (dedicated clusters: after bootstrap; EMR Serverless: after worker provisioning). Step RUNNING is reported apart (stepRunningSeconds).</p></div>
<div><h2>Peak API calls per second against quotas (EMR, and Step Functions SendTask*)</h2><div class="chart"><canvas id="apiPeak"></canvas></div><p class="note">Busiest 60-second window per operation; black marks are the default refill rates (burst aside). SendTask* calls have Step Functions' own quotas and are not part of AllEmrCalls.</p></div>
<div><h2>emrflow EMR API calls per second over the day</h2><div class="chart"><canvas id="apiDay"></canvas></div><p class="note">Per-minute average by operation; the dashed line is the ~5 calls/s all EMR calls share.</p></div>
</div>
<script>${chartJsSource()}</script>
<script>
const DATA = ${scriptJson(data)};
Chart.defaults.animation = false;
const minutes = Array.from({length: DATA.series.minutes}, (_, i) => String(Math.floor(i / 60)).padStart(2, '0') + ':' + String(i % 60).padStart(2, '0'));
const perMinute = ['emrflow', 'emrflow-hybrid', 'on-demand-per-job', 'spot-per-job'];
const line = (label, data, color, extra) => Object.assign({ label, data, borderColor: color, backgroundColor: color, pointRadius: 0, borderWidth: 1.5 }, extra || {});
const charts = [];
charts.push(new Chart(document.getElementById('active'), { type: 'line', data: { labels: minutes, datasets: [
  ...perMinute.map((s) => line(s, DATA.series.activeClusters[s], DATA.colors[s])),
  line('quota (500)', minutes.map(() => 500), '#000', { borderDash: [6, 4] }) ] },
  options: { maintainAspectRatio: false, scales: { x: { ticks: { maxTicksLimit: 13 } } } } }));
charts.push(new Chart(document.getElementById('queued'), { type: 'line', data: { labels: minutes, datasets: perMinute.map((s) => line(s, DATA.series.queuedJobs[s], DATA.colors[s])) },
  options: { maintainAspectRatio: false, scales: { x: { ticks: { maxTicksLimit: 13 } } } } }));
charts.push(new Chart(document.getElementById('cost'), { type: 'bar', data: { labels: DATA.strategies, datasets: DATA.costParts.map((part, i) => ({ label: part, data: DATA.strategies.map((s) => DATA.costs[s][part] || 0), backgroundColor: DATA.partColors[i] })) },
  options: { maintainAspectRatio: false, scales: { x: { stacked: true }, y: { stacked: true, title: { display: true, text: 'USD' } } } } }));
charts.push(new Chart(document.getElementById('cdf'), { type: 'line', data: { datasets: Object.entries(DATA.series.startCdf).map(([s, points]) => line(s, points.map(([x, y]) => ({ x: Math.max(1, x), y })), DATA.colors[s], { stepped: true })) },
  options: { maintainAspectRatio: false, scales: { x: { type: 'logarithmic', title: { display: true, text: 'seconds from trigger to first executor' } }, y: { min: 0, max: 1 } } } }));
const ops = Object.keys(DATA.quotas).filter((op) => perMinute.some((s) => (DATA.peaks[s][op] || 0) > 0) || op === 'AllEmrCalls');
charts.push(new Chart(document.getElementById('apiPeak'), { type: 'bar', data: { labels: ops, datasets: [
  ...perMinute.map((s) => ({ label: s, data: ops.map((op) => DATA.peaks[s][op] || 0), backgroundColor: DATA.colors[s] })),
  { type: 'line', label: 'default quota (refill/s)', data: ops.map((op) => DATA.quotas[op].perSecond), borderColor: '#000', backgroundColor: '#000', showLine: false, pointStyle: 'line', pointRadius: 14, borderWidth: 3 } ] },
  options: { maintainAspectRatio: false, scales: { y: { type: 'logarithmic', title: { display: true, text: 'calls per second' } } } } }));
const emrOps = Object.keys(DATA.series.apiCallsPerSecond.emrflow || {}).filter((op) => !op.startsWith('SendTask'));
const palette = ['#1b7f3b', '#2471a3', '#8e44ad', '#d68910', '#c0392b', '#16a085', '#7f8c8d', '#34495e'];
charts.push(new Chart(document.getElementById('apiDay'), { type: 'line', data: { labels: minutes, datasets: [
  ...emrOps.map((op, i) => line(op, DATA.series.apiCallsPerSecond.emrflow[op], palette[i % palette.length])),
  line('all EMR calls quota (5/s)', minutes.map(() => DATA.quotas.AllEmrCalls.perSecond), '#000', { borderDash: [6, 4] }) ] },
  options: { maintainAspectRatio: false, scales: { x: { ticks: { maxTicksLimit: 13 } } } } }));
window.emrflowChartsRendered = charts.filter((c) => c.canvas.width > 0 && c.data.datasets.length > 0).length;
</script>
</body></html>
`;
}

/** The side-by-side rows: label, then one value per strategy (also the terminal table). */
export function figureRows(result: PlanResult): Array<{ label: string; values: string[] }> {
  const s = STRATEGIES.map((name) => result.strategies[name]);
  const money = (v: number) => `$${v.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
  const apis = (f: (typeof s)[number]) =>
    Object.entries(f.peakApiCallsPerSecond)
      .filter(([, v]) => v > 0)
      .map(([op, v]) => `${op} ${v}`)
      .join(', ') || '-';
  return [
    { label: 'cost (USD/day)', values: s.map((f) => money(f.costUsd)) },
    { label: 'cost / floor', values: s.map((f) => `${f.costToFloor}x`) },
    { label: '  EC2', values: s.map((f) => money(f.cost.ec2)) },
    { label: '  EMR uplift', values: s.map((f) => money(f.cost.emrUplift)) },
    { label: '  EMR Serverless', values: s.map((f) => money(f.cost.emrServerless)) },
    { label: '  Step Functions', values: s.map((f) => money(f.cost.stepFunctions)) },
    { label: '  Lambda', values: s.map((f) => money(f.cost.lambda)) },
    { label: '  Glue', values: s.map((f) => money(f.cost.glue)) },
    { label: 'cluster launches', values: s.map((f) => String(f.launches)) },
    { label: 'launch share', values: s.map((f) => `${(f.launchShare * 100).toFixed(2)}%`) },
    {
      label: 'start (first executor) p50 / p95 (s)',
      values: s.map((f) =>
        f.startMeasuredJobs === 0
          ? 'not measured'
          : `${f.startSeconds.p50} / ${f.startSeconds.p95}${f.startMeasuredJobs !== undefined ? ` (${f.startMeasuredJobs} jobs)` : ''}`,
      ),
    },
    { label: 'step RUNNING p50 / p95 (s)', values: s.map((f) => (f.stepRunningSeconds ? `${f.stepRunningSeconds.p50} / ${f.stepRunningSeconds.p95}` : '-')) },
    { label: 'completion', values: s.map((f) => `${(f.completion * 100).toFixed(2)}%`) },
    {
      label: 'failures',
      values: s.map(
        (f) =>
          Object.entries(f.failures)
            .map(([name, n]) => `${name} ${n}`)
            .join(', ') || 'none',
      ),
    },
    { label: 'idle share of paid capacity', values: s.map((f) => `${(f.idleShare * 100).toFixed(1)}%`) },
    {
      label: 'pool unit-hours provisioned / work / leased',
      values: s.map((f) => {
        const p = f.poolUnitHours;
        if (!p) return '-';
        const over = p.work > p.provisioned || p.leased > p.provisioned ? ' (over provisioned: leases ahead of scale-out)' : '';
        // Leased hours: each lease's units × (release − grant); 0 only when no pooled job ran.
        return `${p.provisioned} / ${p.work} / ${p.leased > 0 ? p.leased : 'n/a'}${over}`;
      }),
    },
    {
      label: 'jobs on pool / dedicated / Serverless',
      values: s.map((f) => [f.targetShare.pool, f.targetShare.dedicated, f.targetShare.serverless].map((v) => `${(v * 100).toFixed(1)}%`).join(' / ')),
    },
    { label: 'SLA misses', values: s.map((f) => String(f.slaMisses)) },
    { label: 'peak RunJobFlow /s', values: s.map((f) => String(f.peakApiCallsPerSecond.RunJobFlow ?? 0)) },
    { label: 'peak all EMR calls /s', values: s.map((f) => String(f.peakApiCallsPerSecond.AllEmrCalls ?? 0)) },
    {
      label: 'EMR Serverless calls per job run (peak /s of quota /s)',
      values: s.map((f) => (f.serverlessApi ? serverlessCalls(f.serverlessApi) : '-')),
    },
    {
      label: 'peak SendTask* /s (Step Functions)',
      values: s.map((f) =>
        String(
          Object.entries(f.peakApiCallsPerSecond)
            .filter(([op]) => op.startsWith('SendTask'))
            .reduce((max, [, v]) => Math.max(max, v), 0),
        ),
      ),
    },
    { label: 'quota exceeded', values: s.map((f) => f.quotaExceeded.join(', ') || 'none') },
    { label: 'peak active clusters (of 500)', values: s.map((f) => String(f.peakActiveClusters)) },
    { label: 'Spot interruptions', values: s.map((f) => String(f.interruptions)) },
    { label: 'lost instance-hours', values: s.map((f) => String(f.lostInstanceHours)) },
    { label: 'peak API calls/s by op', values: s.map(apis) },
  ];
}

/** "StartJobRun 1 (1/1), GetJobRun 2.9 (12.4/10); 40 starts throttled, 3 ran out of retries". */
function serverlessCalls(api: NonNullable<StrategyFigures['serverlessApi']>): string {
  const calls = Object.entries(api.callsPerJobRun)
    .map(([op, n]) => `${op} ${n} (${api.peakCallsPerSecond[op]}/${api.quotas[op]?.perSecond ?? '?'})`)
    .join(', ');
  return api.startJobRunThrottled > 0 ? `${calls}; ${api.startJobRunThrottled} starts throttled, ${api.startsThrottledOut} ran out of retries` : calls;
}
