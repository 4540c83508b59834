/**
 * The CloudWatch dashboard: the job manager's metrics beside run-job's and run-batch's execution alarms. Every metric it shows
 * comes from lib/metrics.json, the file the Lambdas' metrics module (lib/aws/metrics.ts) emits by, so a metric
 * renamed there is renamed here (test/infra/dashboard.test.ts checks both ends). Plain CommonJS for osls.
 */
const catalog = require('../lib/metrics.json');

/** The alarms serverless-step-functions makes for run-job and run-batch (`${stateMachineLogicalId}${Metric}Alarm`). */
const EXECUTION_ALARMS = ['RunJobStateMachine', 'RunBatchStateMachine'].flatMap((machine) =>
  ['ExecutionsFailed', 'ExecutionsTimedOut', 'ExecutionsAborted'].map((metric) => `${machine}${metric}Alarm`),
);

/** The template's own alarms (serverless.yml) shown beside them. */
const POOL_ALARMS = ['PoolLaunchFailedAlarm'];

/**
 * A SEARCH over the metric's dimension set. Powertools adds `service` to the dimensions the code gives, and
 * the pool, priority and job values are data (config/pools.json, config/jobs.json), so a search keeps the
 * widget complete when a pool or job is added.
 */
function search(name) {
  const metric = catalog.metrics[name];
  if (!metric) throw new Error(`infra/dashboard.js: ${name} is not a metric of lib/metrics.json`);
  const schema = [catalog.namespace, 'service', ...metric.dimensions].join(',');
  return { expression: `SEARCH('{${schema}} MetricName="${name}"', '${metric.stat}', 300)`, label: metric.label };
}

function metricWidget(title, names, position) {
  return {
    type: 'metric',
    ...position,
    properties: {
      title,
      region: '${AWS::Region}',
      view: 'timeSeries',
      stat: 'Average',
      period: 300,
      metrics: names.map((name, i) => {
        const { expression, label } = search(name);
        return [{ expression, label, id: `m${i}` }];
      }),
    },
  };
}

function dashboardBody() {
  const widgets = [
    {
      type: 'alarm',
      x: 0,
      y: 0,
      width: 12,
      height: 4,
      properties: {
        title: 'run-job and run-batch execution alarms, pool launches',
        alarms: [...EXECUTION_ALARMS, ...POOL_ALARMS].map((id) => `\${${id}.Arn}`),
      },
    },
    {
      type: 'metric',
      x: 12,
      y: 0,
      width: 12,
      height: 4,
      properties: {
        title: 'run-job executions',
        region: '${AWS::Region}',
        stat: 'Sum',
        period: 300,
        metrics: ['ExecutionsFailed', 'ExecutionsTimedOut', 'ExecutionsAborted', 'ExecutionsSucceeded'].map((name) => [
          'AWS/States',
          name,
          'StateMachineArn',
          '${RunJobStateMachine}',
        ]),
      },
    },
    metricWidget('Jobs placed per pool and priority', ['JobsPlaced'], { x: 0, y: 4, width: 12, height: 6 }),
    metricWidget('Queue wait (s) per pool', ['QueueWaitSeconds'], { x: 12, y: 4, width: 12, height: 6 }),
    metricWidget('Units in use per pool', ['UnitsInUse'], { x: 0, y: 10, width: 12, height: 6 }),
    metricWidget('Spot interruptions', ['SpotInterruptions'], { x: 12, y: 10, width: 12, height: 6 }),
    metricWidget('Predicted vs actual step minutes', ['PredictedMinutes', 'ActualMinutes'], { x: 0, y: 16, width: 12, height: 6 }),
    metricWidget('Cost per run (USD)', ['RunCostUsd'], { x: 12, y: 16, width: 12, height: 6 }),
    metricWidget('Pool launches refused for good', ['LaunchFailures'], { x: 0, y: 22, width: 12, height: 6 }),
  ];
  return JSON.stringify({ widgets });
}

module.exports.resources = () => ({
  Resources: {
    Dashboard: {
      Type: 'AWS::CloudWatch::Dashboard',
      Properties: {
        DashboardName: { 'Fn::Sub': 'emrflow-${AWS::StackName}' },
        DashboardBody: { 'Fn::Sub': dashboardBody() },
      },
    },
  },
});
module.exports.EXECUTION_ALARMS = EXECUTION_ALARMS;
