/**
 * Reads a CloudWatch dashboard body back into the metrics it shows, and checks them against lib/metrics.json:
 * the namespace, the names, and the dimension set each SEARCH expects (Powertools' `service` plus the metric's
 * own dimensions). Also finds the metrics the handlers emit, by their `metrics.add('<Name>'` calls.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface MetricCatalog {
  namespace: string;
  metrics: Record<string, { dimensions: string[]; emittedBy: string }>;
}

export interface ShownMetric {
  namespace: string;
  name: string;
  /** The dimension names of a SEARCH schema; undefined for a plain metric array. */
  dimensions?: string[];
}

const SEARCH = /^SEARCH\('\{([^}]*)\} MetricName="([^"]+)"'/;

export function shownMetrics(body: { widgets: Array<{ type: string; properties: { metrics?: unknown[] } }> }): ShownMetric[] {
  const shown: ShownMetric[] = [];
  for (const widget of body.widgets) {
    for (const entry of (widget.properties.metrics ?? []) as unknown[][]) {
      const first = entry[0];
      if (typeof first === 'object' && first !== null && 'expression' in first) {
        const match = SEARCH.exec(String((first as { expression: string }).expression));
        if (!match) throw new Error(`unreadable expression ${JSON.stringify(first)}`);
        const [namespace, ...dimensions] = match[1].split(',');
        shown.push({ namespace, name: match[2], dimensions });
      } else {
        shown.push({ namespace: String(entry[0]), name: String(entry[1]) });
      }
    }
  }
  return shown;
}

/** What is wrong with the dashboard's own-namespace metrics against the catalog; [] when they agree. */
export function dashboardProblems(shown: ShownMetric[], catalog: MetricCatalog): string[] {
  const problems: string[] = [];
  const ours = shown.filter((metric) => !metric.namespace.startsWith('AWS/'));
  for (const metric of ours) {
    const declared = catalog.metrics[metric.name];
    if (metric.namespace !== catalog.namespace) problems.push(`${metric.name}: namespace ${metric.namespace}, the code emits to ${catalog.namespace}`);
    if (!declared) {
      problems.push(`${metric.name}: not a metric the code emits (lib/metrics.json)`);
      continue;
    }
    const expected = ['service', ...declared.dimensions].sort().join();
    if ([...(metric.dimensions ?? [])].sort().join() !== expected)
      problems.push(`${metric.name}: dimensions ${metric.dimensions} differ from the emitted ${expected}`);
  }
  for (const name of Object.keys(catalog.metrics)) {
    if (!ours.some((metric) => metric.name === name)) problems.push(`${name}: emitted but not on the dashboard`);
  }
  return problems;
}

/** Metric names each handler passes to `metrics.add(...)`, by function directory. */
export function emittedMetrics(functionsDir: string, read: (file: string) => string = (file) => readFileSync(file, 'utf8')): Record<string, string[]> {
  const emitted: Record<string, string[]> = {};
  for (const fn of readdirSync(functionsDir)) {
    const source = read(join(functionsDir, fn, 'handler.ts'));
    const names = [...source.matchAll(/metrics\.add\('([A-Za-z]+)'/g)].map((m) => m[1]);
    if (names.length > 0) emitted[fn] = [...new Set(names)].sort();
  }
  return emitted;
}
