/**
 * The dashboard in the packaged template shows exactly the metrics the Lambdas emit (namespace, names,
 * dimension sets), beside run-job's execution alarms; lib/metrics.json ties the code and the dashboard.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import catalog from '../../lib/metrics.json';
import { METRICS_NAMESPACE } from '../../lib/aws/metrics';
import { packagedTemplate } from './support/packaged';
import { repoRoot, resourcesOfType, type Template } from './support/template';
import { dashboardProblems, emittedMetrics, shownMetrics, type MetricCatalog } from './support/dashboard';

/** lib/metrics.json's metrics by the function it says emits them. */
function declaredEmitters(): Record<string, string[]> {
  const expected: Record<string, string[]> = {};
  for (const [name, metric] of Object.entries(catalog.metrics)) {
    for (const fn of metric.emittedBy.split(', ')) expected[fn] = [...(expected[fn] ?? []), name];
  }
  for (const names of Object.values(expected)) names.sort();
  return expected;
}

let template: Template;
let body: any;

beforeAll(() => {
  ({ template } = packagedTemplate());
  const dashboards = resourcesOfType(template, 'AWS::CloudWatch::Dashboard');
  expect(dashboards).toHaveLength(1);
  body = JSON.parse(dashboards[0][1].Properties.DashboardBody['Fn::Sub']);
}, 180_000);

describe('the CloudWatch dashboard', () => {
  it("shows every metric the code emits, in the code's namespace and dimension sets, and nothing else of ours", () => {
    expect(catalog.namespace).toBe(METRICS_NAMESPACE);
    expect(dashboardProblems(shownMetrics(body), catalog as MetricCatalog)).toEqual([]);
  });

  it('is the dashboard of what the handlers really emit: each metric of lib/metrics.json from the function it names', () => {
    expect(emittedMetrics(join(repoRoot, 'functions'))).toEqual(declaredEmitters());
  });

  it("puts run-job's and run-batch's execution alarms (the template's own) beside the metrics", () => {
    const alarmWidget = body.widgets.find((widget: any) => widget.type === 'alarm');
    const alarmIds = resourcesOfType(template, 'AWS::CloudWatch::Alarm')
      .map(([id]) => id)
      .sort();

    expect(alarmIds).toHaveLength(7);
    expect(alarmWidget.properties.alarms.map((arn: string) => /^\$\{(\w+)\.Arn\}$/.exec(arn)?.[1]).sort()).toEqual(alarmIds);
    const executions = body.widgets.flatMap((widget: any) => widget.properties.metrics ?? []).filter((m: unknown[]) => m[0] === 'AWS/States');
    expect(executions).toContainEqual(['AWS/States', 'ExecutionsFailed', 'StateMachineArn', '${RunJobStateMachine}']);
  });

  describe('negative controls', () => {
    const shown = () => shownMetrics(body);

    it('catches a renamed metric, a wrong namespace, a dimension set the code does not emit and a missing metric', () => {
      const renamed = shown().map((m) => (m.name === 'QueueWaitSeconds' ? { ...m, name: 'QueueWait' } : m));
      const moved = shown().map((m) => (m.name === 'RunCostUsd' ? { ...m, namespace: 'EmrFlow' } : m));
      const redimensioned = shown().map((m) => (m.name === 'UnitsInUse' ? { ...m, dimensions: ['pool'] } : m));
      const dropped = shown().filter((m) => m.name !== 'JobsPlaced');

      expect(dashboardProblems(renamed, catalog as MetricCatalog)).toEqual(
        expect.arrayContaining(['QueueWait: not a metric the code emits (lib/metrics.json)', 'QueueWaitSeconds: emitted but not on the dashboard']),
      );
      expect(dashboardProblems(moved, catalog as MetricCatalog)).toEqual(['RunCostUsd: namespace EmrFlow, the code emits to emrflow']);
      expect(dashboardProblems(redimensioned, catalog as MetricCatalog)).toEqual([expect.stringMatching(/^UnitsInUse: dimensions pool differ/)]);
      expect(dashboardProblems(dropped, catalog as MetricCatalog)).toEqual(['JobsPlaced: emitted but not on the dashboard']);
    });

    it('catches a handler that emits a metric under another name', () => {
      const functionsDir = join(repoRoot, 'functions');
      const emitted = emittedMetrics(functionsDir, (file) => {
        const source = readFileSync(file, 'utf8');
        return file.includes('place-job') ? source.replace("metrics.add('JobsPlaced'", "metrics.add('JobPlaced'") : source;
      });
      expect(emitted['place-job']).toEqual(['JobPlaced']);
      expect(emitted).not.toEqual(declaredEmitters());
    });
  });
});
