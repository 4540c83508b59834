/**
 * The Lambdas' CloudWatch metrics, in embedded metric format (EMF) on stdout through Powertools Metrics:
 * namespace `emrflow`, one service per function. lib/metrics.json is the one definition of every metric (name,
 * unit, dimensions); the dashboard (infra/dashboard.js) is built from the same file, so the two cannot drift.
 *
 * A handler records with `metrics.add(name, value, dimensions)` while it runs and passes its metrics to
 * `lambdaHandler` (lib/aws/middleware.ts), whose stack writes them (`metricsMiddleware`) when it returns or throws.
 * Each metric goes out as its own EMF document because the metrics of one invocation have different dimension
 * sets (per pool, per job).
 */
import { Metrics, type MetricUnit } from '@aws-lambda-powertools/metrics';
import type middy from '@middy/core';
import catalog from '../metrics.json';

export type MetricName = keyof typeof catalog.metrics;
export const METRICS_NAMESPACE = catalog.namespace;

export interface FunctionMetrics {
  readonly powertools: Metrics;
  /** Queues one data point; `dimensions` must name exactly the metric's dimensions in lib/metrics.json. */
  add(name: MetricName, value: number, dimensions: Record<string, string>): void;
  /** Writes the queued data points (what the middleware calls). */
  flush(): void;
}

export function functionMetrics(functionName: string): FunctionMetrics {
  const powertools = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: functionName });
  let pending: Array<{ name: MetricName; value: number; dimensions: Record<string, string> }> = [];
  return {
    powertools,
    add(name, value, dimensions) {
      const declared = [...catalog.metrics[name].dimensions].sort();
      const given = Object.keys(dimensions).sort();
      if (declared.join() !== given.join()) {
        throw new Error(`metric ${name}: dimensions ${JSON.stringify(given)} differ from lib/metrics.json's ${JSON.stringify(declared)}`);
      }
      if (Number.isFinite(value)) pending.push({ name, value, dimensions });
    },
    flush() {
      const points = pending;
      pending = [];
      for (const point of points) {
        const single = powertools.singleMetric();
        single.addDimensions(point.dimensions);
        single.addMetric(point.name, catalog.metrics[point.name].unit as (typeof MetricUnit)[keyof typeof MetricUnit], point.value);
      }
    },
  };
}

/** The shared middy middleware: a function's metrics are written once it returns or throws. */
export function metricsMiddleware(metrics: FunctionMetrics): middy.MiddlewareObj {
  return {
    after: () => metrics.flush(),
    onError: () => metrics.flush(),
  };
}
