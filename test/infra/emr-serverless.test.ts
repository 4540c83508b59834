/**
 * EMR Serverless in the packaged template (issue 23): the application config/serverless.json describes, the job
 * runtime role with only what a job run needs, and the run-job role's permissions for startJobRun.sync as the
 * Step Functions developer guide lists them ("IAM policies for Amazon EMR Serverless"). Each check is a function
 * of the template, run on the packaged one and on a copy broken on purpose (its negative control).
 */
import serverlessConfig from '../../config/serverless.json';
import { packagedTemplate } from './support/packaged';
import { actionsOf, resourceText, resourcesOf, roleStatements, type Template } from './support/template';

let template: Template;
beforeAll(() => {
  ({ template } = packagedTemplate());
}, 180_000);

const clone = (value: Template): Template => JSON.parse(JSON.stringify(value));

/** What is wrong with the job runtime role: trust, S3 scope, Glue scope, anything beyond the job's data. */
function jobRoleProblems(t: Template): string[] {
  const problems: string[] = [];
  const role = t.Resources.ServerlessJobRole;
  if (!role) return ['no ServerlessJobRole'];
  const trust = role.Properties.AssumeRolePolicyDocument.Statement;
  if (trust.length !== 1 || trust[0].Principal?.Service !== 'emr-serverless.amazonaws.com') problems.push(`trusts ${JSON.stringify(trust)}`);
  const allowedS3: Record<string, RegExp> = {
    's3:GetObject': /^arn:\$\{AWS::Partition\}:s3:::\$\{(RawBucket|ArtifactsBucket)\}\/\*$/,
    's3:PutObject': /^arn:\$\{AWS::Partition\}:s3:::\$\{(ArtifactsBucket\}\/\*|LogsBucket\}\/emr-serverless\/\*)$/,
    's3:DeleteObject': /^arn:\$\{AWS::Partition\}:s3:::\$\{ArtifactsBucket\}\/\*$/,
    's3:AbortMultipartUpload': /^arn:\$\{AWS::Partition\}:s3:::\$\{ArtifactsBucket\}\/\*$/,
    's3:ListBucket': /^arn:\$\{AWS::Partition\}:s3:::\$\{(RawBucket|ArtifactsBucket)\}$/,
    's3:GetBucketLocation': /^arn:\$\{AWS::Partition\}:s3:::\$\{(RawBucket|ArtifactsBucket)\}$/,
  };
  for (const statement of role.Properties.Policies.flatMap((p: any) => p.PolicyDocument.Statement)) {
    for (const action of actionsOf(statement)) {
      for (const resource of resourcesOf(statement).map(resourceText)) {
        if (action.startsWith('s3:')) {
          if (!allowedS3[action]?.test(resource)) problems.push(`${action} on ${resource}`);
        } else if (action.startsWith('glue:')) {
          if (
            !/^glue:Get(Database|Tables?|Partitions?)$/.test(action) ||
            !/:glue:\$\{AWS::Region\}:\$\{AWS::AccountId\}:(catalog|database\/|table\/)/.test(resource)
          ) {
            problems.push(`${action} on ${resource}`);
          }
        } else {
          problems.push(`${action} is not a job's data access`);
        }
      }
    }
  }
  return problems;
}

/** The run-job role's EMR Serverless statements: exactly the guide's, scoped to this stack's application. */
function stateMachineProblems(t: Template): string[] {
  const statements = roleStatements(t)
    .filter((owned) => owned.role === 'RunJobStateMachineRole')
    .map((owned) => owned.statement);
  const find = (action: string) => statements.filter((s) => actionsOf(s).includes(action));
  const problems: string[] = [];
  const expect1 = (action: string, resource: string) => {
    const found = find(action).flatMap((s) => resourcesOf(s).map(resourceText));
    if (JSON.stringify(found) !== JSON.stringify([resource])) problems.push(`${action} on ${JSON.stringify(found)}, want ${resource}`);
  };
  expect1('emr-serverless:StartJobRun', '{"Fn::GetAtt":["ServerlessSparkApplication","Arn"]}');
  expect1('emr-serverless:GetJobRun', '${ServerlessSparkApplication.Arn}/jobruns/*');
  expect1('emr-serverless:CancelJobRun', '${ServerlessSparkApplication.Arn}/jobruns/*');
  const rules = find('events:PutRule').flatMap((s) => resourcesOf(s).map(resourceText));
  if (!rules.includes('arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/StepFunctionsGetEventsForEMRServerlessJobRule')) {
    problems.push(`events:PutRule on ${JSON.stringify(rules)} misses StepFunctionsGetEventsForEMRServerlessJobRule`);
  }
  // TagResource: the job run's tags at creation (the reaper reads the execution from them), on the app's job runs only.
  expect1('emr-serverless:TagResource', '${ServerlessSparkApplication.Arn}/jobruns/*');
  const other = statements
    .flatMap((s) => actionsOf(s))
    .filter(
      (a) =>
        a.startsWith('emr-serverless:') &&
        !['emr-serverless:StartJobRun', 'emr-serverless:GetJobRun', 'emr-serverless:CancelJobRun', 'emr-serverless:TagResource'].includes(a),
    );
  if (other.length) problems.push(`more than the guide asks: ${other.join(', ')}`);
  return problems;
}

describe('EMR Serverless in the packaged template', () => {
  it('creates the default application of config/serverless.json, tagged, with its capacity and auto-stop', () => {
    const app = serverlessConfig.applications[serverlessConfig.defaultApplication as keyof typeof serverlessConfig.applications];
    const props = template.Resources.ServerlessSparkApplication.Properties;

    expect(template.Resources.ServerlessSparkApplication.Type).toBe('AWS::EMRServerless::Application');
    expect(props).toMatchObject({
      Name: 'emrflow-dev-spark',
      Type: 'Spark',
      ReleaseLabel: app.releaseLabel,
      Architecture: app.architecture,
      MaximumCapacity: { Cpu: `${app.maximumCapacity.vcpu} vCPU`, Memory: `${app.maximumCapacity.memoryGb} GB` },
      AutoStopConfiguration: { Enabled: true, IdleTimeoutMinutes: app.autoStop.idleTimeoutMinutes },
      Tags: [{ Key: 'emrflow:app', Value: 'emrflow' }],
    });
  });

  it('gives job runs a role that reads inputs, scripts and the catalog and writes outputs and logs, nothing else', () => {
    expect(jobRoleProblems(template)).toEqual([]);

    // Negative controls: a broader S3 grant, another service trusted, an unrelated action.
    const broad = clone(template);
    broad.Resources.ServerlessJobRole.Properties.Policies[0].PolicyDocument.Statement.push({ Effect: 'Allow', Action: 's3:GetObject', Resource: '*' });
    expect(jobRoleProblems(broad)).toEqual(['s3:GetObject on *']);
    const trusted = clone(template);
    trusted.Resources.ServerlessJobRole.Properties.AssumeRolePolicyDocument.Statement[0].Principal.Service = 'ec2.amazonaws.com';
    expect(jobRoleProblems(trusted)).toHaveLength(1);
    const extra = clone(template);
    extra.Resources.ServerlessJobRole.Properties.Policies[0].PolicyDocument.Statement.push({ Effect: 'Allow', Action: 'dynamodb:Scan', Resource: 'x' });
    expect(jobRoleProblems(extra)).toEqual(["dynamodb:Scan is not a job's data access"]);
  });

  it('lets run-job start, watch and cancel job runs of its own application only, with the .sync managed rule', () => {
    expect(stateMachineProblems(template)).toEqual([]);

    // Negative control: StartJobRun on every application.
    const wide = clone(template);
    const policy = wide.Resources.RunJobStateMachineRole.Properties.Policies[0].PolicyDocument.Statement;
    policy.find((s: any) => s.Sid === 'StartServerlessJobRuns').Resource = '*';
    expect(stateMachineProblems(wide)).toEqual([expect.stringMatching(/^emr-serverless:StartJobRun on \["\*"\]/)]);
  });
});
