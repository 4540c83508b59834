/**
 * The deployable template: `serverless package` runs once (support/packaged.ts shares it between test files),
 * offline and without AWS credentials, and these
 * tests read the CloudFormation it writes — the workflow and its triggers (issue 2), the least-privilege
 * and hardening properties (issue 5), and cfn-lint and checkov on the same file.
 */
import { jobs } from '../../config/jobs.json';
import { API_BUDGET_PARTITION } from '../../lib/aws/apiBudget';
import { catalogNamesForStage } from '../../lib/contract';
import { type OwnedStatement, type Template, actionsOf, allowedActions, resourceText, resourcesOf, resourcesOfType, roleStatements } from './support/template';
import { packagedTemplate } from './support/packaged';
import { missingLinters, runCfnLint, runCheckov } from './support/linters';
import { bundledCode, sdkActions } from './support/sdkCalls';

let templateFile: string;
let template: Template;

beforeAll(() => {
  ({ template, file: templateFile } = packagedTemplate());
}, 180_000);

const resource = (logicalId: string) => {
  const found = template.Resources[logicalId];
  if (!found) throw new Error(`${logicalId} is not in the template`);
  return found;
};

/** The ASL as deployed: the plugin turns the definition into an Fn::Sub of a JSON string. */
function definition(): any {
  const sub = resource('RunJobStateMachine').Properties.DefinitionString['Fn::Sub'];
  return JSON.parse(Array.isArray(sub) ? sub[0] : sub);
}

const taskResources = () =>
  Object.values<any>(definition().States)
    .filter((state) => state.Type === 'Task')
    .map((state) => state.Resource);

const statementsOf = (role: string) => roleStatements(template).filter((owned) => owned.role === role);
const allowing = (action: string) =>
  roleStatements(template).filter((owned) => owned.statement.Effect === 'Allow' && actionsOf(owned.statement).includes(action));
const hasWildcardResource = (owned: OwnedStatement) => resourcesOf(owned.statement).some((r) => r === '*');

const functions = {
  normalizeRequest: 'normalize-request',
  sizeJob: 'size-job',
  placeJob: 'place-job',
  classifyFailure: 'classify-failure',
  recordRun: 'record-run',
  cleanupExecution: 'cleanup-execution',
  reapClusters: 'reap-clusters',
};
/** Functions EventBridge runs, not run-job. */
const eventFunctions = ['cleanupExecution', 'reapClusters'];
/** The job manager's functions: run-job invokes acquire and release; EventBridge the dispatcher. */
const poolFunctions = {
  acquireCapacity: 'acquire-capacity',
  releaseCapacity: 'release-capacity',
  dispatchQueue: 'dispatch-queue',
};
/** run-batch's Lambdas (issue 13). */
const batchFunctions = { planBatch: 'plan-batch', summarizeBatch: 'summarize-batch' };
const allFunctions = { ...functions, ...poolFunctions, ...batchFunctions };
/** Functions that may launch a pool cluster (every one that dispatches), with the settings RunJobFlow needs. */
const launching = new Set(['acquireCapacity', 'releaseCapacity', 'dispatchQueue']);
/**
 * What EMR checks besides RunJobFlow itself when it creates a tagged cluster with auto-termination and managed
 * scaling, and what the first cluster of an account needs (its cleanup service-linked role).
 */
const runJobFlowCompanions = [
  'elasticmapreduce:AddTags',
  'elasticmapreduce:PutAutoTerminationPolicy',
  'elasticmapreduce:PutManagedScalingPolicy',
  'iam:PassRole',
  'iam:CreateServiceLinkedRole',
];
/** The tag condition of every EMR statement: this app's clusters of this stage (`request` for tags being set). */
const ownClusters = (tagged: 'aws:RequestTag' | 'aws:ResourceTag') => ({ [`${tagged}/emrflow:app`]: 'emrflow', [`${tagged}/emrflow:stage`]: 'dev' });
/**
 * What is wrong with PoolLaunchFailedAlarm: it must sum LaunchFailures (namespace emrflow, per-function
 * `service` dimension, as Powertools emits it) of every function that launches pool clusters, each filled
 * with 0 so a quiet function does not blank the sum.
 */
function launchAlarmProblems(alarm: any): string[] {
  const problems: string[] = [];
  const stats = (alarm.Metrics ?? []).filter((m: any) => m.MetricStat);
  const expression = (alarm.Metrics ?? []).find((m: any) => m.Expression)?.Expression ?? '';
  for (const fn of launching) {
    const service = fn.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    const stat = stats.find(
      (m: any) =>
        m.MetricStat.Metric.MetricName === 'LaunchFailures' &&
        m.MetricStat.Metric.Namespace === 'emrflow' &&
        m.MetricStat.Metric.Dimensions?.[0]?.Value === service,
    );
    if (!stat) problems.push(`no LaunchFailures of ${service}`);
    else if (!expression.includes(`FILL(${stat.Id}, 0)`)) problems.push(`${service}'s LaunchFailures (${stat.Id}) is not in the sum`);
  }
  return problems;
}

const pascal = (name: string) => name[0].toUpperCase() + name.slice(1);
const clusterArn = 'arn:${AWS::Partition}:elasticmapreduce:${AWS::Region}:${AWS::AccountId}:cluster/*';

describe('run-job workflow', () => {
  it('deploys the run-job state machine with createCluster.sync, addStep.sync and terminateCluster.sync', () => {
    // Act
    const resources = taskResources();

    // Assess
    expect(resources).toEqual(
      expect.arrayContaining([
        'arn:aws:states:::elasticmapreduce:createCluster.sync',
        'arn:aws:states:::elasticmapreduce:addStep.sync',
        'arn:aws:states:::elasticmapreduce:terminateCluster.sync',
      ]),
    );
    expect(resource('RunJobStateMachine').Properties.StateMachineName).toBe('emrflow-dev-run-job');
  });

  it('creates clusters with instance fleets that fall back from Spot to On-Demand', () => {
    // Act
    const fleets = definition().States.CreateCluster.Parameters.Instances.InstanceFleets;

    // Assess
    const spotFleets = fleets.filter((fleet: any) => fleet.LaunchSpecifications?.SpotSpecification);
    expect(spotFleets.length).toBeGreaterThan(0);
    for (const fleet of spotFleets) {
      expect(fleet.LaunchSpecifications.SpotSpecification.TimeoutAction).toBe('SWITCH_TO_ON_DEMAND');
    }
  });

  it('resolves the EMR roles, log bucket and subnet list the ASL references', () => {
    // Act
    const [, variables] = resource('RunJobStateMachine').Properties.DefinitionString['Fn::Sub'];
    const params = definition().States.CreateCluster.Parameters;

    // Assess
    expect(Object.values(variables)).toEqual(expect.arrayContaining([{ Ref: 'EmrServiceRole' }, { Ref: 'EmrInstanceProfile' }, { Ref: 'ClaimsTable' }]));
    expect(Array.isArray(params.Instances.Ec2SubnetIds)).toBe(true);
  });

  it('invokes each Lambda by its function ARN, the form whose task result is the handler return value', () => {
    // Act
    const [, variables] = resource('RunJobStateMachine').Properties.DefinitionString['Fn::Sub'];

    // Assess: run-job's own functions (not those EventBridge runs), and the job manager's two it calls
    // (AcquireCapacity through lambda:invoke.waitForTaskToken, whose FunctionName is the ARN).
    for (const name of [...Object.keys(functions).filter((name) => !eventFunctions.includes(name)), 'acquireCapacity', 'releaseCapacity']) {
      expect(Object.values(variables)).toContainEqual({ 'Fn::GetAtt': [`${pascal(name)}LambdaFunction`, 'Arn'] });
    }
  });

  it('runs every handler on Node.js 22 arm64 with the shared environment variables', () => {
    for (const [name, folder] of Object.entries(allFunctions)) {
      // Act
      const props = resource(`${pascal(name)}LambdaFunction`).Properties;

      // Assess
      expect(props.Handler).toBe(`functions/${folder}/handler.handler`);
      expect(props.Runtime).toBe('nodejs22.x');
      expect(props.Architectures).toEqual(['arm64']);
      expect(props.Environment.Variables).toEqual({
        RAW_BUCKET: { Ref: 'RawBucket' },
        ARTIFACTS_BUCKET: { Ref: 'ArtifactsBucket' },
        LOGS_BUCKET: { Ref: 'LogsBucket' },
        RUNS_TABLE: { Ref: 'RunsTable' },
        STEP_TOKENS_TABLE: { Ref: 'StepTokensTable' },
        CLUSTER_REGISTRY_TABLE: { Ref: 'ClusterRegistryTable' },
        STAGE: 'dev',
        SERVERLESS_APPLICATION_ID: { Ref: 'ServerlessSparkApplication' },
        // The reaper asks Step Functions about run-job's executions; no function run-job invokes may name it (a cycle).
        ...(name === 'reapClusters' ? { RUN_JOB_STATE_MACHINE_ARN: { Ref: 'RunJobStateMachine' } } : {}),
        ...(name === 'cleanupExecution' ? { CLAIMS_TABLE: { Ref: 'ClaimsTable' } } : {}),
        ADMISSION_QUEUE_TABLE: { Ref: 'AdmissionQueueTable' },
        ...(launching.has(name)
          ? {
              EMR_SERVICE_ROLE: { Ref: 'EmrServiceRole' },
              EMR_INSTANCE_PROFILE: { Ref: 'EmrInstanceProfile' },
              EMR_SUBNET_IDS: { 'Fn::Join': [',', []] },
            }
          : {}),
      });
    }
  });

  it('defines the tables with the keys the ASL and the Lambdas use', () => {
    const keys = (id: string) => resource(id).Properties.KeySchema;

    expect(keys('ClaimsTable')).toEqual([{ AttributeName: 'runId', KeyType: 'HASH' }]);
    expect(resource('ClaimsTable').Properties.TimeToLiveSpecification).toEqual({ AttributeName: 'expiresAt', Enabled: true });
    expect(keys('RunsTable')).toEqual([
      { AttributeName: 'job', KeyType: 'HASH' },
      { AttributeName: 'finishedAt', KeyType: 'RANGE' },
    ]);
    expect(keys('ClusterRegistryTable')).toEqual([
      { AttributeName: 'pool', KeyType: 'HASH' },
      { AttributeName: 'clusterId', KeyType: 'RANGE' },
    ]);
    expect(keys('AdmissionQueueTable')).toEqual([
      { AttributeName: 'level', KeyType: 'HASH' },
      { AttributeName: 'entryId', KeyType: 'RANGE' },
    ]);
    // The dispatcher reads each level's head through the waiting index, consistently: a local index.
    const indexes = resource('AdmissionQueueTable').Properties.LocalSecondaryIndexes as Array<{ IndexName: string; KeySchema: unknown }>;
    expect(Object.fromEntries(indexes.map((index) => [index.IndexName, index.KeySchema]))).toEqual({
      waiting: [
        { AttributeName: 'level', KeyType: 'HASH' },
        { AttributeName: 'waitingKey', KeyType: 'RANGE' },
      ],
      granting: [
        { AttributeName: 'level', KeyType: 'HASH' },
        { AttributeName: 'claimedAt', KeyType: 'RANGE' },
      ],
      heartbeat: [
        { AttributeName: 'level', KeyType: 'HASH' },
        { AttributeName: 'heartbeatDue', KeyType: 'RANGE' },
      ],
    });
  });
});

describe('triggers', () => {
  const allRules = () => resourcesOfType(template, 'AWS::Events::Rule').map(([, rule]) => rule.Properties);
  /** The rules that start run-job (the others invoke the job manager's dispatcher). */
  const rules = () => allRules().filter((rule) => rule.Targets.some((target: any) => target.Arn?.Ref === 'RunJobStateMachine'));

  it("starts run-job on S3 Object Created events in the raw bucket for each job's trigger key only", () => {
    // Act
    const s3Rules = rules().filter((rule) => rule.EventPattern?.source?.includes('aws.s3'));

    // Assess
    expect(s3Rules).toHaveLength(1);
    const [rule] = s3Rules;
    expect(rule.EventPattern['detail-type']).toEqual(['Object Created']);
    expect(rule.EventPattern.detail.bucket.name).toEqual([{ Ref: 'RawBucket' }]);
    // config/jobs.json's job is in marker mode: its partitions' _SUCCESS, nothing else under its prefix.
    expect(rule.EventPattern.detail.object.key).toEqual(
      jobs.flatMap((job) => [{ wildcard: `${job.inputPrefix}*/${job.s3Trigger.marker}` }, `${job.inputPrefix}${job.s3Trigger.marker}`]),
    );
    expect(rule.Targets).toEqual([expect.objectContaining({ Arn: { Ref: 'RunJobStateMachine' } })]);
    expect(resource('RawBucket').Properties.NotificationConfiguration).toEqual({
      EventBridgeConfiguration: { EventBridgeEnabled: true },
    });
  });

  it('starts run-job on a schedule with a schedule input naming a catalogued job and the fire time', () => {
    // Act
    const scheduled = rules().filter((rule) => rule.ScheduleExpression);

    // Assess
    expect(scheduled).toHaveLength(1);
    const [target] = scheduled[0].Targets;
    expect(target.Arn).toEqual({ Ref: 'RunJobStateMachine' });
    expect(target.InputTransformer.InputPathsMap).toEqual({ time: '$.time' });
    // EventBridge substitutes a string value with its quotes, as this replacement does.
    const input = JSON.parse(target.InputTransformer.InputTemplate.replace('<time>', '"2026-11-27T02:00:00Z"'));
    expect(input).toEqual({ job: expect.any(String), trigger: 'schedule', time: '2026-11-27T02:00:00Z' });
    expect(jobs.map((job) => job.name)).toContain(input.job);
  });

  it('runs the dispatcher every minute and on every EMR cluster state change', () => {
    // Act
    const dispatching = allRules().filter((rule) => rule.Targets.some((target: any) => target.Arn?.['Fn::GetAtt']?.[0] === 'DispatchQueueLambdaFunction'));

    // Assess
    expect(dispatching.map((rule) => rule.ScheduleExpression ?? rule.EventPattern).sort()).toEqual(
      ['rate(1 minute)', { source: ['aws.emr'], 'detail-type': ['EMR Cluster State Change'] }].sort(),
    );
    // The rest are SettleSteps' (tested with the event-driven completion below) and run-batch's.
    const settling = allRules().filter((rule) => rule.Targets.some((target: any) => target.Arn?.['Fn::GetAtt']?.[0] === 'SettleStepsLambdaFunction'));
    const batchRules = allRules().filter((rule) => rule.Targets.some((target: any) => target.Arn?.Ref === 'RunBatchStateMachine'));
    // The other two: cleanup-execution's rule on ended executions and the reaper's schedule (tested with them).
    const reliability = allRules().filter((rule) =>
      rule.Targets.some((target: any) => ['CleanupExecutionLambdaFunction', 'ReapClustersLambdaFunction'].includes(target.Arn?.['Fn::GetAtt']?.[0])),
    );
    expect(reliability).toHaveLength(2);
    expect(allRules()).toHaveLength(rules().length + dispatching.length + settling.length + batchRules.length + reliability.length);
  });

  it('lets the trigger roles start executions of run-job and nothing else', () => {
    for (const rule of rules()) {
      // Act
      const role = rule.Targets[0].RoleArn['Fn::GetAtt'][0];

      // Assess
      expect(statementsOf(role).map((owned) => owned.statement)).toEqual([
        { Effect: 'Allow', Action: ['states:StartExecution'], Resource: { Ref: 'RunJobStateMachine' } },
      ]);
    }
  });
});

describe('IAM the plugin does not generate', () => {
  const sm = 'RunJobStateMachineRole';

  it('runs the state machine with its own role rather than the plugin generated one', () => {
    expect(resource('RunJobStateMachine').Properties.RoleArn).toEqual({ 'Fn::GetAtt': [sm, 'Arn'] });
  });

  it('allows StartCrawler and GetCrawler on each job crawler only', () => {
    // Act
    const [crawl] = allowing('glue:StartCrawler');

    // Assess
    expect(crawl.role).toBe(sm);
    expect(actionsOf(crawl.statement).sort()).toEqual(['glue:GetCrawler', 'glue:StartCrawler']);
    expect(resourcesOf(crawl.statement).map(resourceText)).toEqual(
      jobs.map((job) => `arn:\${AWS::Partition}:glue:\${AWS::Region}:\${AWS::AccountId}:crawler/${catalogNamesForStage(job.catalog, 'dev').crawler}`),
    );
  });

  it('allows the .sync integrations to manage their StepFunctionsGetEventForEMR rules, account id from Fn::Sub', () => {
    // Act
    const [rules] = allowing('events:PutRule');

    // Assess
    expect(rules.role).toBe(sm);
    expect(actionsOf(rules.statement).sort()).toEqual(['events:DescribeRule', 'events:PutRule', 'events:PutTargets']);
    expect(rules.statement.Resource).toEqual({
      'Fn::Sub': 'arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/StepFunctionsGetEventForEMR*',
    });
    expect(JSON.stringify(template)).not.toContain('aws:accountId');
  });

  it('allows the DynamoDB tasks on their own tables', () => {
    const onTable = (action: string) =>
      allowing(action)
        .filter((owned) => owned.role === sm)
        .map((o) => o.statement.Resource);

    expect(onTable('dynamodb:PutItem')).toEqual([{ 'Fn::GetAtt': ['ClaimsTable', 'Arn'] }]);
    // Leases are taken and given back by the job manager's Lambdas, not by the state machine's own writes.
    expect(onTable('dynamodb:UpdateItem')).toEqual([]);
  });

  it('allows tagging clusters at creation, to the state machine and the functions that launch pool clusters', () => {
    expect(
      allowing('elasticmapreduce:AddTags')
        .map((owned) => owned.role)
        .sort(),
    ).toEqual([sm, ...[...launching].map((name) => `${pascal(name)}Role`)].sort());
  });

  it('passes only the two EMR roles and the EMR Serverless job role, each to its own service', () => {
    // Act
    const passes = allowing('iam:PassRole').filter((owned) => owned.role === sm);

    // Assess
    expect(passes.map(({ statement }) => [resourceText(statement.Resource), statement.Condition])).toEqual([
      ['{"Fn::GetAtt":["ServerlessJobRole","Arn"]}', { StringEquals: { 'iam:PassedToService': 'emr-serverless.amazonaws.com' } }],
      ['arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${EmrServiceRole}', { StringEquals: { 'iam:PassedToService': 'elasticmapreduce.amazonaws.com' } }],
      ['arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${EmrInstanceRole}', { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } }],
    ]);
  });

  it('never allows iam:PassRole on a wildcard and never allows every action', () => {
    // Act
    const statements = roleStatements(template);

    // Assess
    expect(statements.length).toBeGreaterThan(0);
    for (const { role, statement } of statements) {
      expect({ role, actions: actionsOf(statement).filter((a) => a === '*' || a.endsWith(':*')) }).toEqual({ role, actions: [] });
    }
    for (const owned of allowing('iam:PassRole')) {
      expect(
        resourcesOf(owned.statement)
          .map(resourceText)
          .filter((r) => r.endsWith('*')),
      ).toEqual([]);
      expect(Object.keys(owned.statement.Condition?.StringEquals ?? {})).toEqual(['iam:PassedToService']);
    }
  });
});

describe('least privilege (issue 5)', () => {
  it('gives each Lambda its own role allowing exactly the SDK calls its code makes, plus its own logs', () => {
    const roles = new Set<string>();
    for (const [name, folder] of Object.entries(allFunctions)) {
      // Prepare
      const calls = sdkActions(`functions/${folder}/handler.ts`);

      // Act
      const role = resource(`${pascal(name)}LambdaFunction`).Properties.Role['Fn::GetAtt'][0];
      roles.add(role);

      // Assess
      expect({ name, actions: allowedActions(template, role) }).toEqual({
        name,
        actions: [
          ...new Set([...calls, ...(calls.includes('elasticmapreduce:RunJobFlow') ? runJobFlowCompanions : []), 'logs:CreateLogStream', 'logs:PutLogEvents']),
        ].sort(),
      });
      expect(statementsOf(role).find((o) => o.statement.Sid === 'WriteLogs')?.statement.Resource).toEqual({
        'Fn::GetAtt': [`${pascal(name)}LogGroup`, 'Arn'],
      });
    }
    expect(roles.size).toBe(Object.keys(allFunctions).length);
  });

  it('reads the SDK calls a handler makes from its code', () => {
    expect(sdkActions('functions/classify-failure/handler.ts')).toEqual(
      expect.arrayContaining(['elasticmapreduce:DescribeCluster', 'elasticmapreduce:ListInstanceFleets']),
    );
    expect(sdkActions('functions/size-job/handler.ts')).toEqual(expect.arrayContaining(['glue:GetPartition', 's3:ListBucket', 'dynamodb:Query']));
  });

  it('reads a call whose import esbuild renamed (PutCommand as PutCommand2), which `new PutCommand(` alone would miss', () => {
    const fixture = 'test/infra/fixtures/renamed-import/handler.ts';

    expect(sdkActions(fixture)).toEqual(['dynamodb:PutItem']);
    // Negative control: the bundle really calls the renamed name, so reading `new <X>Command(` finds nothing.
    expect(bundledCode(fixture)).toMatch(/new PutCommand2\(/);
    expect(bundledCode(fixture)).not.toMatch(/new PutCommand\(/);
  });

  /** The tables a role may read or write; PlaceJob's must be the registry's clusters table alone. */
  const tablesOf = (statements: OwnedStatement[], role: string): string[] =>
    [
      ...new Set(
        statements
          .filter((owned) => owned.role === role && owned.statement.Effect === 'Allow' && actionsOf(owned.statement).some((a) => a.startsWith('dynamodb:')))
          .flatMap((owned) => resourcesOf(owned.statement).map(resourceText)),
      ),
    ].sort();
  const registryOnly = [resourceText({ 'Fn::GetAtt': ['ClusterRegistryTable', 'Arn'] })];

  it("lets PlaceJob read the registry's clusters table only (clusters and queued totals), never the queue's entries and task tokens", () => {
    expect(tablesOf(roleStatements(template), 'PlaceJobRole')).toEqual(registryOnly);
  });

  it("lets PlaceJob write only the API budgets' partition of the registry (its StartJobRun tokens), by dynamodb:LeadingKeys", () => {
    const writes = roleStatements(template).filter(
      (owned) => owned.role === 'PlaceJobRole' && actionsOf(owned.statement).some((action) => action === 'dynamodb:PutItem' || action === 'dynamodb:GetItem'),
    );

    expect(writes).toHaveLength(1);
    expect(writes[0].statement.Condition).toEqual({ 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [API_BUDGET_PARTITION] } });
  });

  it('the check can fail (negative control): a PlaceJob role that may still Query the admission queue', () => {
    const widened = roleStatements(template).map((owned) =>
      owned.role === 'PlaceJobRole' && owned.statement.Sid === 'ReadPoolRegistry'
        ? {
            ...owned,
            statement: { ...owned.statement, Resource: [owned.statement.Resource, { 'Fn::GetAtt': ['AdmissionQueueTable', 'Arn'] }] },
          }
        : owned,
    );
    expect(tablesOf(widened, 'PlaceJobRole')).not.toEqual(registryOnly);
  });

  it("lets the dispatcher pre-scale: Scan the runs table for the day's shape and put a raised minimum on emrflow's clusters", () => {
    // Act
    const dispatcher = sdkActions('functions/dispatch-queue/handler.ts');
    const scans = allowing('dynamodb:Scan');
    const puts = allowing('elasticmapreduce:PutManagedScalingPolicy').filter((owned) => owned.role === 'DispatchQueueRole');

    // Assess
    expect(dispatcher).toEqual(expect.arrayContaining(['dynamodb:Scan', 'elasticmapreduce:PutManagedScalingPolicy']));
    expect(scans.map((owned) => [owned.role, owned.statement.Resource])).toContainEqual(['DispatchQueueRole', { 'Fn::GetAtt': ['RunsTable', 'Arn'] }]);
    expect(puts.map((owned) => owned.statement.Condition)).toEqual([{ StringEquals: ownClusters('aws:ResourceTag') }]);
    // Negative control: acquire-capacity never pre-scales, so its code makes no Scan and its role allows none.
    expect(sdkActions('functions/acquire-capacity/handler.ts')).not.toContain('dynamodb:Scan');
    expect(scans.map((owned) => owned.role)).not.toContain('AcquireCapacityRole');
  });

  it("allows RunJobFlow only for requests that tag the cluster as emrflow's, of this stage", () => {
    const runs = allowing('elasticmapreduce:RunJobFlow');

    expect(runs.map((owned) => owned.role).sort()).toEqual(['RunJobStateMachineRole', ...[...launching].map((name) => `${pascal(name)}Role`)].sort());
    for (const { statement } of runs) {
      expect(actionsOf(statement)).toEqual(['elasticmapreduce:RunJobFlow']);
      expect(statement.Condition).toEqual({ StringEquals: ownClusters('aws:RequestTag') });
    }
  });

  it("allows every other EMR action only on clusters tagged emrflow's, of this stage", () => {
    // Act
    const emr = roleStatements(template).filter(
      ({ statement }) =>
        statement.Effect === 'Allow' &&
        // RunJobFlow and ListClusters have no resource type (the wildcard test lists them with their reason).
        actionsOf(statement).some((a) => a.startsWith('elasticmapreduce:') && a !== 'elasticmapreduce:RunJobFlow' && a !== 'elasticmapreduce:ListClusters'),
    );

    // Assess
    expect(emr.length).toBeGreaterThanOrEqual(4);
    for (const { statement } of emr) {
      expect(resourcesOf(statement).map(resourceText)).toEqual([clusterArn]);
      const tagged = actionsOf(statement).includes('elasticmapreduce:AddTags') ? 'aws:RequestTag' : 'aws:ResourceTag';
      // A cluster being created has no tags yet: its auto-termination policy passes when the tag is absent.
      const operator = statement.Sid === 'SetAutoTerminationAtCreate' ? 'StringEqualsIfExists' : 'StringEquals';
      expect(statement.Condition).toEqual({ [operator]: ownClusters(tagged) });
    }
  });

  it('scopes Glue and DynamoDB permissions to named catalog objects, crawlers and tables', () => {
    for (const { role, statement } of roleStatements(template)) {
      // Act
      const services = new Set(actionsOf(statement).map((a) => a.split(':')[0]));
      const resources = resourcesOf(statement);

      // Assess
      if (services.has('glue')) {
        for (const r of resources.map(resourceText)) {
          expect({ role, r }).toEqual({ role, r: expect.stringMatching(/:(catalog|database\/\w+|table\/\w+\/\w+|crawler\/[\w-]+)$/) });
        }
      }
      if (services.has('dynamodb')) {
        for (const r of resources) {
          // A table, or the indexes of the admission queue (the dispatcher reads its heads through them).
          const table = { 'Fn::GetAtt': [expect.stringMatching(/^(ClaimsTable|RunsTable|ClusterRegistryTable|AdmissionQueueTable|StepTokensTable)$/), 'Arn'] };
          const queueIndexes = { 'Fn::Sub': '${AdmissionQueueTable.Arn}/index/*' };
          expect({ role, r }).toEqual({ role, r: 'Fn::Sub' in (r as object) ? queueIndexes : table });
        }
      }
    }
  });

  it('leaves a wildcard resource only where the action has no resource-level permissions', () => {
    // Prepare
    const reasons: Record<string, string> = {
      CreateTaggedClusters: 'RunJobFlow has no resource type; restricted by aws:RequestTag/emrflow:app instead',
      DeliverExecutionLogs: 'CloudWatch Logs log-delivery APIs support no resource-level permissions',
      Trace: 'X-Ray PutTraceSegments and sampling APIs support no resource-level permissions (only with Tracing=true)',
      ListClusters:
        'elasticmapreduce:ListClusters has no resource type; the cleanup acts only on clusters tagged emrflow:app, acquire and release only look for a crashed launch by its name',
      GrantWaiters: 'SendTaskSuccess and SendTaskFailure act on a task token, not a resource: no resource-level permissions',
      GrantAndHeartbeatWaiters: 'SendTaskSuccess, SendTaskFailure and SendTaskHeartbeat act on task tokens: no resource-level permissions',
      LaunchPoolClusters: 'RunJobFlow has no resource type; restricted by aws:RequestTag/emrflow:app instead',
      ListPoolClusters: 'ListClusters has no resource type (service authorization reference: List, "*")',
      SettleWaiters: 'SendTaskSuccess / SendTaskFailure / SendTaskHeartbeat support no resource-level permissions (a task token names no resource)',
      TellHeldSettlement: 'SendTaskSuccess / SendTaskFailure support no resource-level permissions (a task token names no resource)',
    };

    // Act
    const wildcards = roleStatements(template).filter(hasWildcardResource);

    // Assess
    console.log(
      `IAM statements with Resource "*": ${wildcards.length}\n` +
        wildcards.map(({ role, statement }) => `  ${role}/${statement.Sid}: ${reasons[statement.Sid ?? '']}`).join('\n'),
    );
    expect(wildcards.map(({ role, statement, onlyIf }) => [role, statement.Sid, onlyIf]).sort()).toEqual(
      [
        ['RunJobStateMachineRole', 'CreateTaggedClusters', undefined],
        ['RunJobStateMachineRole', 'DeliverExecutionLogs', undefined],
        ['RunJobStateMachineRole', 'Trace', 'TracingEnabled'],
        ['RunBatchStateMachineRole', 'DeliverExecutionLogs', undefined],
        ['AcquireCapacityRole', 'GrantWaiters', undefined],
        ['AcquireCapacityRole', 'LaunchPoolClusters', undefined],
        ['AcquireCapacityRole', 'ListClusters', undefined],
        ['ReleaseCapacityRole', 'GrantWaiters', undefined],
        ['ReleaseCapacityRole', 'LaunchPoolClusters', undefined],
        ['ReleaseCapacityRole', 'ListClusters', undefined],
        ['DispatchQueueRole', 'GrantAndHeartbeatWaiters', undefined],
        ['DispatchQueueRole', 'LaunchPoolClusters', undefined],
        ['CleanupExecutionRole', 'ListClusters', undefined],
        ['ReapClustersRole', 'ListClusters', undefined],
        ['DispatchQueueRole', 'ListPoolClusters', undefined],
        ['SettleStepsRole', 'SettleWaiters', undefined],
        ['SubmitPooledStepRole', 'TellHeldSettlement', undefined],
      ].sort(),
    );
  });

  it('encrypts every bucket, blocks public access and refuses plain HTTP', () => {
    const buckets = resourcesOfType(template, 'AWS::S3::Bucket');
    const policies = resourcesOfType(template, 'AWS::S3::BucketPolicy').map(([, p]) => p.Properties);
    expect(buckets.map(([id]) => id)).toEqual(expect.arrayContaining(['RawBucket', 'ArtifactsBucket', 'LogsBucket']));

    for (const [id, bucket] of buckets) {
      const props = bucket.Properties;
      expect({ id, sse: props.BucketEncryption?.ServerSideEncryptionConfiguration?.[0]?.ServerSideEncryptionByDefault?.SSEAlgorithm }).toEqual({
        id,
        sse: expect.stringMatching(/^(AES256|aws:kms)$/),
      });
      expect({ id, block: props.PublicAccessBlockConfiguration }).toEqual({
        id,
        block: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      });
      const policy = policies.find((p) => p.Bucket.Ref === id);
      const denyHttp = policy?.PolicyDocument.Statement.find((s: any) => s.Effect === 'Deny' && String(s.Condition?.Bool?.['aws:SecureTransport']) === 'false');
      expect({ id, denyHttp: Boolean(denyHttp) }).toEqual({ id, denyHttp: true });
    }
  });

  it('keeps raw inputs, outputs and run history when the stack is removed or a resource replaced', () => {
    for (const id of ['RawBucket', 'ArtifactsBucket', 'RunsTable']) {
      const { DeletionPolicy, UpdateReplacePolicy } = resource(id) as any;
      expect({ id, DeletionPolicy, UpdateReplacePolicy }).toEqual({ id, DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    }
  });

  it('expires EMR and access logs', () => {
    const rules = resource('LogsBucket').Properties.LifecycleConfiguration.Rules;

    expect(rules).toContainEqual(expect.objectContaining({ Status: 'Enabled', ExpirationInDays: expect.any(Number) }));
  });

  it('turns on point-in-time recovery for every table', () => {
    for (const [id, table] of resourcesOfType(template, 'AWS::DynamoDB::Table')) {
      expect({ id, pitr: table.Properties.PointInTimeRecoverySpecification }).toEqual({
        id,
        pitr: { PointInTimeRecoveryEnabled: true },
      });
    }
  });

  it('gives every log group a retention', () => {
    const groups = resourcesOfType(template, 'AWS::Logs::LogGroup');

    // One per function (SubmitPooledStep and SettleSteps too), one per state machine (run-job, run-batch).
    expect(groups.length).toBe(Object.keys(allFunctions).length + 2 + 2);
    for (const [id, group] of groups) {
      expect({ id, days: group.Properties.RetentionInDays }).toEqual({ id, days: expect.any(Number) });
    }
  });

  it('logs state machine errors without execution data and traces with X-Ray when the Tracing parameter says so', () => {
    const props = resource('RunJobStateMachine').Properties;

    expect(props.LoggingConfiguration).toEqual({
      Level: 'ERROR',
      IncludeExecutionData: false,
      Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: { 'Fn::GetAtt': ['RunJobLogGroup', 'Arn'] } } }],
    });
    expect(props.TracingConfiguration).toEqual({ Enabled: { 'Fn::If': ['TracingEnabled', true, false] } });
    expect(template.Conditions?.TracingEnabled).toEqual({ 'Fn::Equals': [{ Ref: 'Tracing' }, 'true'] });
    expect(template.Parameters?.Tracing.Default).toBe('false');
  });

  it('alarms on failed, timed out and aborted executions', () => {
    const alarms = resourcesOfType(template, 'AWS::CloudWatch::Alarm')
      .filter(([id]) => id !== 'PoolLaunchFailedAlarm')
      .map(([, alarm]) => alarm.Properties);

    for (const machine of ['RunJobStateMachine', 'RunBatchStateMachine']) {
      const own = alarms.filter((alarm) => alarm.Dimensions?.[0]?.Value?.Ref === machine);
      expect({ machine, metrics: own.map((alarm) => alarm.MetricName).sort() }).toEqual({
        machine,
        metrics: ['ExecutionsAborted', 'ExecutionsFailed', 'ExecutionsTimedOut'],
      });
    }
    expect(alarms).toHaveLength(6);
    for (const alarm of alarms) {
      expect(alarm.Namespace).toBe('AWS/States');
      expect(alarm.Dimensions).toEqual([{ Name: 'StateMachineArn', Value: { Ref: expect.stringMatching(/^(RunJob|RunBatch)StateMachine$/) } }]);
      expect(alarm.AlarmActions).toEqual([{ Ref: 'AlarmTopic' }]);
    }
    expect(resource('AlarmEmailSubscription')).toEqual(
      expect.objectContaining({ Condition: 'HasAlarmEmail', Properties: expect.objectContaining({ TopicArn: { Ref: 'AlarmTopic' } }) }),
    );
  });

  it('alarms on the first pool launch RunJobFlow refused for good, whichever launching Lambda made it', () => {
    const alarm = resource('PoolLaunchFailedAlarm').Properties;

    expect(launchAlarmProblems(alarm)).toEqual([]);
    expect(alarm).toMatchObject({ ComparisonOperator: 'GreaterThanOrEqualToThreshold', Threshold: 1, AlarmActions: [{ Ref: 'AlarmTopic' }] });
  });

  it('the launch alarm check can fail (negative control): one launching Lambda left out of the sum', () => {
    const alarm = structuredClone(resource('PoolLaunchFailedAlarm').Properties);
    alarm.Metrics = alarm.Metrics.filter((m: any) => m.MetricStat?.Metric?.Dimensions?.[0]?.Value !== 'release-capacity');

    expect(launchAlarmProblems(alarm)).toEqual([expect.stringMatching(/release-capacity/)]);
  });
});

describe('run-batch (issue 13)', () => {
  const role = 'RunBatchStateMachineRole';
  const batchDefinition = () => {
    const sub = resource('RunBatchStateMachine').Properties.DefinitionString['Fn::Sub'];
    return JSON.parse(Array.isArray(sub) ? sub[0] : sub);
  };
  const statement = (sid: string) => statementsOf(role).find((owned) => owned.statement.Sid === sid)?.statement;

  it('deploys a Distributed Map over a JSONL ItemReader that starts run-job with startExecution.sync:2 and writes results', () => {
    const map = batchDefinition().States.RunJobs;

    expect(resource('RunBatchStateMachine').Properties.RoleArn).toEqual({ 'Fn::GetAtt': [role, 'Arn'] });
    expect(map.ItemReader).toMatchObject({ Resource: 'arn:aws:states:::s3:getObject', ReaderConfig: { InputType: 'JSONL' } });
    expect(map.ItemProcessor.ProcessorConfig).toEqual({ Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' });
    expect(map.ItemProcessor.States.StartJob.Resource).toBe('arn:aws:states:::states:startExecution.sync:2');
    // The plugin moves the definition's own Fn::Sub into the DefinitionString's variables.
    const sub = resource('RunBatchStateMachine').Properties.DefinitionString['Fn::Sub'];
    const arn: string = map.ItemProcessor.States.StartJob.Parameters.StateMachineArn;
    const variable = /^\$\{(.+)\}$/.exec(arn)?.[1];
    expect(JSON.stringify(variable && Array.isArray(sub) ? sub[1][variable] : arn)).toContain(
      'arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:emrflow-dev-run-job',
    );
    expect(map.ToleratedFailurePercentagePath).toBe('$.plan.toleratedFailurePercentage');
    expect(map.ResultWriter.Resource).toBe('arn:aws:states:::s3:putObject');
  });

  it('lets run-batch start and watch its own map children and run-job, and nothing else', () => {
    const sm = 'arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}';
    expect(statement('RunMapChildWorkflows')).toMatchObject({
      Action: 'states:StartExecution',
      Resource: { 'Fn::Sub': `${sm}:stateMachine:emrflow-dev-run-batch` },
    });
    expect(statement('WatchMapChildWorkflows')).toMatchObject({ Resource: { 'Fn::Sub': `${sm}:execution:emrflow-dev-run-batch/*` } });
    expect(statement('StartRunJob')).toMatchObject({ Action: 'states:StartExecution', Resource: { Ref: 'RunJobStateMachine' } });
    expect(statement('WatchRunJob')).toMatchObject({
      Action: ['states:DescribeExecution', 'states:StopExecution'],
      Resource: { 'Fn::Sub': `${sm}:execution:emrflow-dev-run-job:*` },
    });
    expect(statement('SyncExecutionRule')).toMatchObject({
      Action: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
      Resource: { 'Fn::Sub': 'arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/StepFunctionsGetEventsForStepFunctionsExecutionRule' },
    });
    expect(statement('PublishFailures')).toMatchObject({ Action: 'sns:Publish', Resource: { Ref: 'AlarmTopic' } });
    expect(allowedActions(template, role)).not.toContain('elasticmapreduce:RunJobFlow');
  });

  it('reads and writes only under the artifacts bucket batches/ prefix, the Lambdas likewise with manifests/ read-only', () => {
    expect(statement('ReadItemsWriteResults')?.Resource).toEqual({ 'Fn::Sub': 'arn:${AWS::Partition}:s3:::${ArtifactsBucket}/batches/*' });
    const planRead = statementsOf('PlanBatchRole').find((owned) => owned.statement.Sid === 'ReadManifests')?.statement;
    expect(planRead).toMatchObject({ Action: 's3:GetObject', Resource: { 'Fn::Sub': 'arn:${AWS::Partition}:s3:::${ArtifactsBucket}/manifests/*' } });
  });

  it('starts run-batch on its schedule with the manifest and the fire time', () => {
    const rule = resourcesOfType(template, 'AWS::Events::Rule')
      .map(([, r]) => r.Properties)
      .find((r) => r.Targets.some((target: any) => target.Arn?.Ref === 'RunBatchStateMachine'));
    const [target] = rule.Targets;
    const input = JSON.parse(target.InputTransformer.InputTemplate.replace('<time>', '"2026-11-27T02:30:00Z"'));

    expect(rule.ScheduleExpression).toMatch(/^cron\(/);
    expect(input).toEqual({ manifest: expect.stringMatching(/^manifests\//), trigger: 'schedule', time: '2026-11-27T02:30:00Z' });
    expect(statementsOf(target.RoleArn['Fn::GetAtt'][0]).map((owned) => owned.statement)).toEqual([
      { Effect: 'Allow', Action: ['states:StartExecution'], Resource: { Ref: 'RunBatchStateMachine' } },
    ]);
  });
});

describe('cfn-lint and checkov', () => {
  // Skipped only on a developer machine without the venv; in CI a missing tool fails the run.
  const missing = missingLinters();
  const skip = missing.length > 0 && process.env.CI !== 'true';
  const lint = skip ? it.skip : it;
  if (skip) console.warn(`cfn-lint and checkov tests skipped: ${missing.join(', ')} missing; run scripts/setup-python.sh`);

  lint(
    'finds no cfn-lint error in the packaged template',
    () => {
      // Act
      const result = runCfnLint(templateFile);

      // Assess
      console.log(`cfn-lint: ${result.errors.length} errors, ${result.warnings.length} warnings\n${result.summary}`);
      expect(result.errors).toEqual([]);
    },
    120_000,
  );

  lint(
    'leaves no checkov failure that is not waived with a reason',
    () => {
      // Act
      const result = runCheckov(templateFile);

      // Assess
      console.log(
        `checkov: ${result.passed} passed, ${result.failed.length} failed, ${result.waived.length} waived` +
          (result.failed.length ? `\nunwaived:\n${result.failed.join('\n')}` : ''),
      );
      expect(result.failed).toEqual([]);
      expect(result.staleWaivers).toEqual([]);
    },
    120_000,
  );
});

describe('cleanup-execution (issue 11)', () => {
  it("runs on run-job's own executions that end ABORTED, TIMED_OUT or FAILED, with EventBridge allowed to invoke it", () => {
    // Act
    const rule = resource('CleanupExecutionRule').Properties;
    const permission = resource('CleanupExecutionInvokePermission').Properties;

    // Assess
    expect(rule.EventPattern).toEqual({
      source: ['aws.states'],
      'detail-type': ['Step Functions Execution Status Change'],
      detail: { status: ['ABORTED', 'TIMED_OUT', 'FAILED'], stateMachineArn: [{ Ref: 'RunJobStateMachine' }] },
    });
    expect(rule.Targets).toEqual([{ Id: 'cleanup-execution', Arn: { 'Fn::GetAtt': ['CleanupExecutionLambdaFunction', 'Arn'] } }]);
    expect(permission).toMatchObject({ Principal: 'events.amazonaws.com', SourceArn: { 'Fn::GetAtt': ['CleanupExecutionRule', 'Arn'] } });
  });
});

describe('event-driven completion of pooled steps (issue 10)', () => {
  const eventFunctions = { submitPooledStep: 'submit-pooled-step', settleSteps: 'settle-steps' };

  it('gives SubmitPooledStep and SettleSteps their own roles allowing exactly the SDK calls their code makes, plus their own logs', () => {
    for (const [name, folder] of Object.entries(eventFunctions)) {
      const calls = sdkActions(`functions/${folder}/handler.ts`);
      const role = resource(`${pascal(name)}LambdaFunction`).Properties.Role['Fn::GetAtt'][0];

      expect(calls.length).toBeGreaterThan(0);
      expect({ name, actions: allowedActions(template, role) }).toEqual({ name, actions: [...calls, 'logs:CreateLogStream', 'logs:PutLogEvents'].sort() });
      expect(statementsOf(role).find((o) => o.statement.Sid === 'WriteLogs')?.statement.Resource).toEqual({ 'Fn::GetAtt': [`${pascal(name)}LogGroup`, 'Arn'] });
    }
  });

  it('routes EMR step and pool-cluster events and a reconciliation schedule to SettleSteps', () => {
    const rules = resourcesOfType(template, 'AWS::Events::Rule')
      .map(([, rule]) => rule.Properties)
      .filter((props) => JSON.stringify(props.Targets ?? []).includes('SettleStepsLambdaFunction'));
    const patterns = rules.map((props) => props.EventPattern).filter(Boolean);

    expect(rules.map((props) => props.ScheduleExpression).filter(Boolean)).toEqual(['rate(5 minutes)']);
    expect(patterns).toEqual(
      expect.arrayContaining([
        // No INTERRUPTED step and no TERMINATING cluster: EMR sends no such events (test/infra/first-run.test.ts).
        expect.objectContaining({
          source: ['aws.emr'],
          'detail-type': ['EMR Step Status Change'],
          detail: { state: expect.arrayContaining(['COMPLETED', 'FAILED', 'CANCELLED']) },
        }),
        expect.objectContaining({
          source: ['aws.emr'],
          'detail-type': ['EMR Cluster State Change'],
          detail: expect.objectContaining({ state: ['TERMINATED', 'TERMINATED_WITH_ERRORS'] }),
        }),
      ]),
    );
  });

  it('runs RunPooledStep as a task-token wait on SubmitPooledStep, not as a polling addStep.sync', () => {
    const state = definition().States.RunPooledStep;

    expect(state.Resource).toBe('arn:aws:states:::lambda:invoke.waitForTaskToken');
    expect(state.Parameters.Payload['taskToken.$']).toBe('$$.Task.Token');
    expect(state.HeartbeatSeconds).toBeGreaterThan(300);
    expect(definition().States.RunSparkStep.Resource).toBe('arn:aws:states:::elasticmapreduce:addStep.sync');
  });
});

describe('a pooled step that outlives its lease, and a crashed launch (issue 21)', () => {
  const cancelling = ['ReleaseCapacityRole', 'CleanupExecutionRole', 'SettleStepsRole'];
  const keepers = ['AcquireCapacityRole', 'ReleaseCapacityRole', 'DispatchQueueRole', 'CleanupExecutionRole'];
  /** What a role lacks of a lease keeper's permissions: CancelSteps on this stage's clusters, Query of the step tokens. */
  const missing = (statements: OwnedStatement[], role: string): string[] => {
    const own = statements.filter((owned) => owned.role === role && owned.statement.Effect === 'Allow');
    const cancels = own.some(
      ({ statement }) =>
        actionsOf(statement).includes('elasticmapreduce:CancelSteps') &&
        resourcesOf(statement).map(resourceText).join() === clusterArn &&
        JSON.stringify(statement.Condition) === JSON.stringify({ StringEquals: ownClusters('aws:ResourceTag') }),
    );
    const reads = own.some(
      ({ statement }) => actionsOf(statement).includes('dynamodb:Query') && JSON.stringify(resourcesOf(statement)).includes('"StepTokensTable"'),
    );
    return [
      ...(cancelling.includes(role) && !cancels ? [`${role}: CancelSteps`] : []),
      ...(keepers.includes(role) && !reads ? [`${role}: Query StepTokensTable`] : []),
    ];
  };

  it("lets release, cleanup and the settle sweep cancel a step given up on, on this stage's clusters only, and every lease keeper read the step mappings that hold a lease", () => {
    expect(sdkActions('functions/release-capacity/handler.ts')).toEqual(
      expect.arrayContaining(['elasticmapreduce:CancelSteps', 'elasticmapreduce:ListClusters', 'dynamodb:Query']),
    );
    expect(sdkActions('functions/settle-steps/handler.ts')).toContain('elasticmapreduce:CancelSteps');
    expect([...new Set([...cancelling, ...keepers])].flatMap((role) => missing(roleStatements(template), role))).toEqual([]);
  });

  it('the check can fail (negative control): ReleaseCapacityRole without its CancelPoolSteps statement', () => {
    const statements = roleStatements(template).filter((owned) => !(owned.role === 'ReleaseCapacityRole' && owned.statement.Sid === 'CancelPoolSteps'));

    expect(missing(statements, 'ReleaseCapacityRole')).toEqual(['ReleaseCapacityRole: CancelSteps']);
  });
});
