/**
 * What the packaged template must get right for a first real deploy, read against the EMR, Step Functions,
 * IAM and Glue documentation (issue 16, items 1-7). cfn-lint and checkov do not know these rules; each check
 * here is a function run on the packaged template and, as a negative control, on the shape that was wrong.
 */
import { parseCloudFormationYaml } from '../../local/runner/serverless-config';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packagedTemplate } from './support/packaged';
import { actionsOf, resourceText, resourcesOf, roleStatements, type Statement, type Template } from './support/template';

const { roles, deployParameters, deployRules, EMR_MANAGED_POLICY_TAG } = require('../../infra/emr.js');
const { fromJobs } = require('../../infra/job-catalog.js');

let template: Template;
beforeAll(() => {
  ({ template } = packagedTemplate());
}, 180_000);

const clone = <T>(value: T): T => JSON.parse(JSON.stringify(value));
/** osls's resolveVariable for `param:<name>` and `sls:stage`, answering from a map. */
const variables = (values: Record<string, unknown>, stage = 'dev') => ({
  resolveVariable: async (variable: string) => (variable === 'sls:stage' ? stage : (values[variable.replace(/^param:/, '')] ?? null)),
});
const definition = (t: Template): any => {
  const sub = t.Resources.RunJobStateMachine.Properties.DefinitionString['Fn::Sub'];
  return JSON.parse(Array.isArray(sub) ? sub[0] : sub);
};

// ---------- 1. instance profile named like its role ----------
function instanceProfileProblems(t: Template): string[] {
  const profile = t.Resources.EmrInstanceProfile;
  if (!profile) return t.Rules?.EmrInstanceProfileNamedLikeItsRole ? [] : ['existing roles without the name rule'];
  const [roleRef] = profile.Properties.Roles;
  const role = t.Resources[roleRef.Ref];
  const profileName = JSON.stringify(profile.Properties.InstanceProfileName);
  if (profile.Properties.InstanceProfileName === undefined) return ['EmrInstanceProfile has no InstanceProfileName: CloudFormation makes one up'];
  if (profileName !== JSON.stringify(role.Properties.RoleName)) return [`instance profile ${profileName} vs role ${JSON.stringify(role.Properties.RoleName)}`];
  return [];
}

describe('1. EMR instance profile and role', () => {
  it('gives the created instance profile exactly its role name', () => {
    expect(instanceProfileProblems(template)).toEqual([]);
    expect(template.Resources.EmrInstanceProfile.Properties.InstanceProfileName).toEqual({ 'Fn::Sub': 'emrflow-dev-${AWS::Region}-emr-instance' });
  });

  it('negative control: a profile without a name, or with another name, is reported', () => {
    const unnamed = clone(template);
    delete unnamed.Resources.EmrInstanceProfile.Properties.InstanceProfileName;
    const renamed = clone(template);
    renamed.Resources.EmrInstanceProfile.Properties.InstanceProfileName = 'emrflow-profile';

    expect(instanceProfileProblems(unnamed)).toEqual([expect.stringContaining('no InstanceProfileName')]);
    expect(instanceProfileProblems(renamed)).toHaveLength(1);
  });

  it('refuses existing-role params whose instance profile is not named like its role, naming both', async () => {
    await expect(roles(variables({ emrServiceRole: 'EMR_DefaultRole_V2', emrInstanceProfile: 'my-profile', emrInstanceRole: 'my-role' }))).rejects.toThrow(
      /emrInstanceProfile "my-profile" differs from emrInstanceRole "my-role"/,
    );
  });

  it('adds a deploy-time rule for the existing-role parameters, which can be overridden at deploy', async () => {
    // Act
    const rules = await deployRules(variables({ emrSubnetIds: ['subnet-a'], emrInstanceProfile: 'EMR_EC2_DefaultRole' }));
    const created = await deployRules(variables({ emrSubnetIds: ['subnet-a'] }));

    // Assess
    expect(rules.EmrInstanceProfileNamedLikeItsRole.Assertions[0].Assert).toEqual({
      'Fn::Equals': [{ Ref: 'EmrInstanceProfile' }, { Ref: 'EmrInstanceRole' }],
    });
    expect(Object.keys(created)).toEqual(['EmrSubnetsGiven']);
  });
});

// ---------- 2. the cleanup service-linked role ----------
describe('2. AWSServiceRoleForEMRCleanup', () => {
  it("lets the state machine (and, issue 21, every role that launches) create EMR's cleanup service-linked role, and only that role, for EMR only", () => {
    // Act
    const grants = roleStatements(template).filter(({ statement }) => actionsOf(statement).includes('iam:CreateServiceLinkedRole'));

    // Assess
    expect(grants.map((g) => g.role)).toContain('RunJobStateMachineRole');
    for (const { statement } of grants) {
      expect(actionsOf(statement)).toEqual(['iam:CreateServiceLinkedRole']);
      expect(resourceText(statement.Resource)).toBe(
        'arn:${AWS::Partition}:iam::${AWS::AccountId}:role/aws-service-role/elasticmapreduce.amazonaws.com*/AWSServiceRoleForEMRCleanup*',
      );
      expect(statement.Condition).toEqual({
        StringLike: { 'iam:AWSServiceName': ['elasticmapreduce.amazonaws.com', 'elasticmapreduce.amazonaws.com.cn'] },
      });
    }
  });
});

// ---------- 3. subnets ----------
/** Evaluates a template rule's assertions with the parameters' defaults, as CloudFormation would at deploy. */
function failedAssertions(t: Template): string[] {
  const evaluate = (node: any): any => {
    if (Array.isArray(node)) return node.map(evaluate);
    if (node && typeof node === 'object') {
      if ('Ref' in node) return t.Parameters?.[node.Ref]?.Default;
      if ('Fn::Equals' in node) {
        const [a, b] = evaluate(node['Fn::Equals']);
        return a === b;
      }
      if ('Fn::Not' in node) return !evaluate(node['Fn::Not'])[0];
      throw new Error(`rule function ${Object.keys(node)[0]} not evaluated by this test`);
    }
    return node;
  };
  return Object.entries<any>(t.Rules ?? {}).flatMap(([name, rule]) =>
    rule.Assertions.filter((a: any) => evaluate(a.Assert) !== true).map((a: any) => `${name}: ${a.AssertDescription}`),
  );
}

describe('3. subnets AmazonEMRServicePolicy_v2 can launch into', () => {
  it('packages without subnets, but the template refuses to deploy, naming the param and the tag', () => {
    // Act
    const failed = failedAssertions(template);

    // Assess
    expect(definition(template).States.CreateCluster.Parameters.Instances.Ec2SubnetIds).toEqual([]);
    expect(failed).toEqual([expect.stringContaining('emrSubnetIds is empty')]);
    expect(failed[0]).toContain(EMR_MANAGED_POLICY_TAG);
  });

  it('deploys with subnets given (negative control of the rule), and an override at deploy cannot pass the rule alone', async () => {
    // Prepare
    const params = variables({ emrSubnetIds: 'subnet-a,subnet-b' });
    const withSubnets = clone(template);
    withSubnets.Parameters = { ...withSubnets.Parameters, ...(await deployParameters(params)).Parameters };
    withSubnets.Rules = await deployRules(params);

    // Act
    const failed = failedAssertions(withSubnets);

    // Assess
    expect(failed).toEqual([]);
    expect(withSubnets.Parameters!.EmrSubnetIds).toEqual(expect.objectContaining({ Default: 'subnet-a,subnet-b', AllowedValues: ['subnet-a,subnet-b'] }));
    expect(template.Parameters!.EmrSubnetIds.AllowedValues).toEqual(['']);
  });

  it('says loudly at package time that the template is not deployable, except for the local stage', async () => {
    // Prepare
    const written: string[] = [];
    const spy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: any) => {
      written.push(String(chunk));
      return true;
    });

    // Act
    try {
      await deployParameters(variables({ emrSubnetIds: [] }, 'dev'));
      await deployParameters(variables({ emrSubnetIds: [] }, 'local'));
      await deployParameters(variables({ emrSubnetIds: ['subnet-a'] }, 'dev'));
    } finally {
      spy.mockRestore();
    }

    // Assess
    expect(written).toHaveLength(1);
    expect(written[0]).toMatch(/NOT DEPLOYABLE AS PACKAGED \(stage dev\): the stage param emrSubnetIds is empty/);
    expect(written[0]).toContain(EMR_MANAGED_POLICY_TAG);
  });
});

// ---------- 4. what EMR authorizes while RunJobFlow creates the cluster ----------
const CREATE_TIME_ACTIONS = ['elasticmapreduce:RunJobFlow', 'elasticmapreduce:AddTags', 'elasticmapreduce:PutAutoTerminationPolicy'];

/**
 * A cluster being created has no tags: a condition that needs `aws:ResourceTag` to hold (anything but an
 * `…IfExists` operator) denies the create call.
 */
function createTimeConditionProblems(statements: Array<{ role: string; statement: Statement }>): string[] {
  const problems: string[] = [];
  for (const action of CREATE_TIME_ACTIONS) {
    const grants = statements.filter(
      ({ role, statement }) => role === 'RunJobStateMachineRole' && statement.Effect === 'Allow' && actionsOf(statement).includes(action),
    );
    if (grants.length === 0) problems.push(`${action}: not allowed`);
    for (const { statement } of grants) {
      for (const [operator, block] of Object.entries(statement.Condition ?? {})) {
        for (const key of Object.keys(block)) {
          if (/^aws:ResourceTag\//i.test(key) && !operator.endsWith('IfExists')) {
            problems.push(`${action} (${statement.Sid}): ${operator} ${key} cannot hold while the cluster is created`);
          }
        }
      }
    }
  }
  return problems;
}

describe('4. conditions the create call can satisfy', () => {
  it('allows RunJobFlow, AddTags and PutAutoTerminationPolicy under conditions a cluster without tags meets', () => {
    const statements = roleStatements(template);

    expect(createTimeConditionProblems(statements)).toEqual([]);
    expect(statements.find((s) => s.statement.Sid === 'SetAutoTerminationAtCreate')?.statement.Condition).toEqual({
      StringEqualsIfExists: { 'aws:ResourceTag/emrflow:app': 'emrflow', 'aws:ResourceTag/emrflow:stage': 'dev' },
    });
  });

  it('negative control: PutAutoTerminationPolicy among the tagged-cluster actions, as it was, is reported', () => {
    // Prepare: the statement as it was before issue 16
    const statements = roleStatements(template).filter((s) => s.statement.Sid !== 'SetAutoTerminationAtCreate');
    const drive = statements.find((s) => s.statement.Sid === 'DriveOwnClusters')!;
    drive.statement = { ...drive.statement, Action: ['elasticmapreduce:PutAutoTerminationPolicy', ...actionsOf(drive.statement)] };

    // Act / Assess
    expect(createTimeConditionProblems(statements)).toEqual([
      expect.stringMatching(/^elasticmapreduce:PutAutoTerminationPolicy \(DriveOwnClusters\): StringEquals aws:ResourceTag\/emrflow:app/),
      expect.stringMatching(/^elasticmapreduce:PutAutoTerminationPolicy \(DriveOwnClusters\): StringEquals aws:ResourceTag\/emrflow:stage/),
    ]);
  });
});

// ---------- 5. trust policies ----------
/** Services that document sending aws:SourceAccount when they assume a role (confused-deputy guidance). */
const DOCUMENTS_SOURCE_ACCOUNT = new Set(['elasticmapreduce.amazonaws.com', 'states.amazonaws.com']);

function trustProblems(t: Template): string[] {
  return Object.entries(t.Resources)
    .filter(([, r]) => r.Type === 'AWS::IAM::Role')
    .flatMap(([id, r]) =>
      r.Properties.AssumeRolePolicyDocument.Statement.flatMap((s: any) => {
        const services = [s.Principal?.Service].flat();
        const keys = Object.values<Record<string, unknown>>(s.Condition ?? {}).flatMap((block) => Object.keys(block));
        return keys
          .filter((key) => /^aws:Source(Account|Arn)$/.test(key))
          .filter(() => services.some((service) => !DOCUMENTS_SOURCE_ACCOUNT.has(service)))
          .map((key) => `${id}: ${key} for ${services.join(', ')}, which documents no such key`);
      }),
    );
}

describe('5. trust policies', () => {
  it('puts aws:SourceAccount only where the service documents it; EC2 and Glue trust policies have no condition', () => {
    expect(trustProblems(template)).toEqual([]);
    for (const id of ['EmrInstanceRole', 'DenormalizeEventsCrawlerRole']) {
      expect({ id, condition: template.Resources[id].Properties.AssumeRolePolicyDocument.Statement[0].Condition }).toEqual({ id, condition: undefined });
    }
    expect(template.Resources.EmrServiceRole.Properties.AssumeRolePolicyDocument.Statement[0].Condition).toEqual({
      StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
    });
  });

  it('negative control: aws:SourceAccount on the EC2 trust policy, as it was, is reported', () => {
    const before = clone(template);
    before.Resources.EmrInstanceRole.Properties.AssumeRolePolicyDocument.Statement[0].Condition = {
      StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
    };

    expect(trustProblems(before)).toEqual(['EmrInstanceRole: aws:SourceAccount for ec2.amazonaws.com, which documents no such key']);
  });
});

// ---------- 6. the crawler's S3 access ----------
describe("6. the crawler's documented S3 needs", () => {
  it('grants ListBucket and GetBucketLocation on the raw bucket without a prefix condition, and reads only its prefix', () => {
    // Act
    const statements: Statement[] = template.Resources.DenormalizeEventsCrawlerRole.Properties.Policies[0].PolicyDocument.Statement;
    const bucketLevel = statements.filter((s) => actionsOf(s).some((a) => a === 's3:ListBucket' || a === 's3:GetBucketLocation'));

    // Assess
    expect(bucketLevel).toEqual([
      {
        Sid: 'ListInput',
        Effect: 'Allow',
        Action: ['s3:ListBucket', 's3:GetBucketLocation'],
        Resource: { 'Fn::Sub': 'arn:${AWS::Partition}:s3:::${RawBucket}' },
      },
    ]);
    const reads = statements.filter((s) => actionsOf(s).includes('s3:GetObject'));
    expect(reads.map((s) => resourcesOf(s).map(resourceText))).toEqual([['arn:${AWS::Partition}:s3:::${RawBucket}/events/*']]);
  });

  it('derives the same for every catalogued job of a larger catalog', () => {
    const { Resources } = fromJobs([
      { name: 'a', inputPrefix: 'a/', catalog: { database: 'd', table: 'a', crawler: 'c-a' } },
      { name: 'b', inputPrefix: 'b/', catalog: { database: 'd', table: 'b', crawler: 'c-b' } },
    ]).resources;

    for (const role of ['ACrawlerRole', 'BCrawlerRole']) {
      const statement = Resources[role].Properties.Policies[0].PolicyDocument.Statement.find((s: any) => s.Sid === 'ListInput');
      expect({ role, actions: statement.Action, condition: statement.Condition }).toEqual({
        role,
        actions: ['s3:ListBucket', 's3:GetBucketLocation'],
        condition: undefined,
      });
    }
  });
});

// ---------- 7. CreateCluster retries ----------
/** What CreateCluster retries without looking at the error's cause. */
function blindRetries(asl: any): string[] {
  const create = asl.States.CreateCluster;
  return (create.Retry ?? [])
    .flatMap((retrier: any) => retrier.ErrorEquals)
    .filter((name: string) => name === 'EMR.AmazonElasticMapReduceException' || name === 'States.ALL' || name === 'States.TaskFailed');
}

describe('7. CreateCluster retries throttling only', () => {
  it('has no Retry on the catch-all EMR error; its Catch asks a Choice that matches the throttling code in the Cause', () => {
    // Act
    const asl = definition(template);
    const create = asl.States.CreateCluster;
    const catcher = create.Catch.find((c: any) => c.ErrorEquals.includes('EMR.AmazonElasticMapReduceException'));
    const choice = asl.States[catcher.Next];

    // Assess
    expect(blindRetries(asl)).toEqual([]);
    expect(create.Catch[0]).toBe(catcher);
    expect(choice.Type).toBe('Choice');
    expect(JSON.stringify(choice.Choices)).toContain('"StringMatches":"*Error Code: ThrottlingException*"');
    expect(choice.Default).toBe('ClassifyFailure');
  });

  it('negative control: the Retry as it was is reported', () => {
    const before = parseCloudFormationYaml(readFileSync(join(__dirname, '../../statemachines/run-job.asl.yml'), 'utf8'));
    before.States!.CreateCluster.Retry = [{ ErrorEquals: ['EMR.AmazonElasticMapReduceException'], IntervalSeconds: 10, MaxAttempts: 4, BackoffRate: 2 }];

    expect(blindRetries(before)).toEqual(['EMR.AmazonElasticMapReduceException']);
  });
});
