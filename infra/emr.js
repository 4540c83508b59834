/**
 * The EMR settings serverless.yml cannot express in YAML alone: the subnet list (a stage param that may be
 * a YAML list or, from `--param`, a comma-separated string) and the cluster roles, created here or taken
 * from existing ones. Either way the names stay reachable as `Ref: EmrServiceRole`, `Ref: EmrInstanceProfile`
 * and `Ref: EmrInstanceRole`, which is what the ASL and the PassRole statement use: a created role is a
 * resource, an existing one a template parameter defaulting to its name.
 *
 * What EMR itself requires and CloudFormation cannot see is checked at deploy time by template Rules
 * (CloudFormation evaluates them before it changes anything): subnets are given, and an existing instance
 * profile has its role's name.
 */

const sub = (template) => ({ 'Fn::Sub': template });

async function param(resolveVariable, name) {
  const value = await resolveVariable(`param:${name}`);
  return value == null ? '' : value;
}

async function subnetIds({ resolveVariable }) {
  const value = await param(resolveVariable, 'emrSubnetIds');
  const list = Array.isArray(value) ? value : String(value).split(',');
  return list.map((id) => String(id).trim()).filter(Boolean);
}

/** The tag AmazonEMRServicePolicy_v2 requires on the subnets, their VPC and any security group it uses. */
const EMR_MANAGED_POLICY_TAG = 'for-use-with-amazon-emr-managed-policies=true';

/**
 * `aws:SourceAccount` only where the service documents that it sends the key when it assumes the role (EMR's
 * service role page); EC2 and Glue document no such key, and a condition on a key that is absent denies the
 * AssumeRole: instances would get no credentials.
 */
const trust = (service, { sourceAccount }) => ({
  Version: '2012-10-17',
  Statement: [
    {
      Effect: 'Allow',
      Principal: { Service: service },
      Action: 'sts:AssumeRole',
      ...(sourceAccount ? { Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } } } : {}),
    },
  ],
});

/**
 * EMR does not support an instance profile whose name differs from its role's ("invalid instance profile"
 * at cluster creation; EMR guide, "Customize IAM roles"): both get this one name. Region in the name because
 * IAM names are global to the account and a stage may be deployed to several regions.
 */
const instanceRoleName = (stage) => sub(`emrflow-${stage}-\${AWS::Region}-emr-instance`);

const createdRoles = (stage) => ({
  EmrServiceRole: {
    Type: 'AWS::IAM::Role',
    Properties: {
      Description: 'EMR service role of emrflow clusters',
      AssumeRolePolicyDocument: trust('elasticmapreduce.amazonaws.com', { sourceAccount: true }),
      // The v2 policy acts only on EC2 resources tagged for-use-with-amazon-emr-managed-policies=true:
      // the cluster request and the subnets/security groups must carry that tag.
      ManagedPolicyArns: [sub('arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonEMRServicePolicy_v2')],
      Policies: [
        {
          // The managed policy only lets EMR pass the default EMR_EC2_DefaultRole to EC2.
          PolicyName: 'pass-instance-role',
          PolicyDocument: {
            Version: '2012-10-17',
            Statement: [
              {
                Effect: 'Allow',
                Action: 'iam:PassRole',
                Resource: { 'Fn::GetAtt': ['EmrInstanceRole', 'Arn'] },
                Condition: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
              },
            ],
          },
        },
      ],
    },
  },
  EmrInstanceRole: {
    Type: 'AWS::IAM::Role',
    Properties: {
      RoleName: instanceRoleName(stage),
      Description: 'Role of emrflow cluster instances: read inputs and scripts, write outputs and logs',
      AssumeRolePolicyDocument: trust('ec2.amazonaws.com', { sourceAccount: false }),
      Policies: [
        {
          PolicyName: 'spark-data',
          PolicyDocument: {
            Version: '2012-10-17',
            Statement: [
              {
                Sid: 'ListBuckets',
                Effect: 'Allow',
                Action: ['s3:ListBucket', 's3:GetBucketLocation'],
                Resource: [
                  sub('arn:${AWS::Partition}:s3:::${RawBucket}'),
                  sub('arn:${AWS::Partition}:s3:::${ArtifactsBucket}'),
                  sub('arn:${AWS::Partition}:s3:::${LogsBucket}'),
                ],
              },
              {
                Sid: 'ReadInputs',
                Effect: 'Allow',
                Action: 's3:GetObject',
                Resource: sub('arn:${AWS::Partition}:s3:::${RawBucket}/*'),
              },
              {
                Sid: 'ReadScriptsWriteOutputs',
                Effect: 'Allow',
                Action: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'],
                Resource: sub('arn:${AWS::Partition}:s3:::${ArtifactsBucket}/*'),
              },
              {
                Sid: 'WriteClusterLogs',
                Effect: 'Allow',
                Action: 's3:PutObject',
                Resource: sub('arn:${AWS::Partition}:s3:::${LogsBucket}/emr/*'),
              },
            ],
          },
        },
      ],
    },
  },
  EmrInstanceProfile: {
    Type: 'AWS::IAM::InstanceProfile',
    Properties: { InstanceProfileName: instanceRoleName(stage), Roles: [{ Ref: 'EmrInstanceRole' }] },
  },
});

const existingRole = (description, name) => ({ Type: 'String', Description: description, Default: name });

async function roles({ resolveVariable }) {
  const serviceRole = await param(resolveVariable, 'emrServiceRole');
  const instanceProfile = await param(resolveVariable, 'emrInstanceProfile');
  const instanceRole = await param(resolveVariable, 'emrInstanceRole');
  const given = [serviceRole, instanceProfile, instanceRole].filter(Boolean).length;
  if (given === 0) return { Resources: createdRoles(await resolveVariable('sls:stage')) };
  if (given !== 3) {
    throw new Error('emrServiceRole, emrInstanceProfile and emrInstanceRole are set together or not at all');
  }
  if (instanceProfile !== instanceRole) {
    throw new Error(
      `emrInstanceProfile "${instanceProfile}" differs from emrInstanceRole "${instanceRole}": EMR rejects an instance ` +
        'profile whose name is not its role\'s ("invalid instance profile"); use a profile named like its role',
    );
  }
  return {
    Parameters: {
      EmrServiceRole: existingRole('Name of the existing EMR service role (path /)', serviceRole),
      EmrInstanceProfile: existingRole('Name of the existing EMR EC2 instance profile (the name of its role)', instanceProfile),
      EmrInstanceRole: existingRole('Name of the role in that instance profile (path /)', instanceRole),
    },
  };
}

/**
 * The subnets are packaged into the run-job definition (Ec2SubnetIds). Without any, EMR launches into the
 * default VPC, whose subnets do not carry the tag AmazonEMRServicePolicy_v2 requires: every dedicated
 * cluster would fail. The template still packages (for review, offline), but deploying it stops at the rule
 * EmrSubnetsGiven, and packaging says so. The parameter only shows the packaged list; its one allowed value
 * keeps an override at deploy time from passing the rule while the definition keeps the packaged subnets.
 */
async function deployParameters({ resolveVariable }) {
  const subnets = (await subnetIds({ resolveVariable })).join(',');
  const stage = await resolveVariable('sls:stage');
  if (!subnets && stage !== 'local') {
    const line = '!'.repeat(100);
    process.stderr.write(
      `\n${line}\n! NOT DEPLOYABLE AS PACKAGED (stage ${stage}): the stage param emrSubnetIds is empty.\n` +
        `! CloudFormation will refuse this template (rule EmrSubnetsGiven). Set emrSubnetIds in serverless.yml params\n` +
        `! or pass --param="emrSubnetIds=subnet-a,subnet-b", naming subnets tagged ${EMR_MANAGED_POLICY_TAG}\n` +
        `! (their VPC and security groups too; README, "Deploy").\n${line}\n\n`,
    );
  }
  return {
    Parameters: {
      EmrSubnetIds: {
        Type: 'String',
        Description: 'Subnets packaged into the run-job definition (stage param emrSubnetIds); change the param and package again',
        Default: subnets,
        AllowedValues: [subnets],
      },
    },
  };
}

/**
 * Template Rules (CloudFormation checks them before it changes anything). serverless.yml's `resources`
 * cannot hold Rules, so infra/template-rules.js copies these into the template.
 */
async function deployRules({ resolveVariable }) {
  const rules = {
    EmrSubnetsGiven: {
      Assertions: [
        {
          Assert: { 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'EmrSubnetIds' }, ''] }] },
          AssertDescription:
            `The stage param emrSubnetIds is empty: package again with subnets tagged ${EMR_MANAGED_POLICY_TAG} ` +
            '(their VPC and security groups too); AmazonEMRServicePolicy_v2 launches clusters nowhere else',
        },
      ],
    },
  };
  if (await param(resolveVariable, 'emrInstanceProfile')) {
    // The existing-role parameters can be overridden at deploy time; the name rule holds then too.
    rules.EmrInstanceProfileNamedLikeItsRole = {
      Assertions: [
        {
          Assert: { 'Fn::Equals': [{ Ref: 'EmrInstanceProfile' }, { Ref: 'EmrInstanceRole' }] },
          AssertDescription: 'EmrInstanceProfile must have the name of its role (EmrInstanceRole): EMR rejects any other instance profile',
        },
      ],
    };
  }
  return rules;
}

module.exports = { subnetIds, roles, deployParameters, deployRules, EMR_MANAGED_POLICY_TAG };
