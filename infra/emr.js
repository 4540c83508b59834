'use strict';
/**
 * The EMR settings serverless.yml cannot express in YAML alone: the subnet list (a stage param that may be
 * a YAML list or, from `--param`, a comma-separated string) and the cluster roles, created here or taken
 * from existing ones. Either way the names stay reachable as `Ref: EmrServiceRole`, `Ref: EmrInstanceProfile`
 * and `Ref: EmrInstanceRole`, which is what the ASL and the PassRole statement use: a created role is a
 * resource, an existing one a template parameter defaulting to its name.
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

const trust = (service) => ({
  Version: '2012-10-17',
  Statement: [
    {
      Effect: 'Allow',
      Principal: { Service: service },
      Action: 'sts:AssumeRole',
      Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
    },
  ],
});

const createdRoles = {
  EmrServiceRole: {
    Type: 'AWS::IAM::Role',
    Properties: {
      Description: 'EMR service role of emrflow clusters',
      AssumeRolePolicyDocument: trust('elasticmapreduce.amazonaws.com'),
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
      Description: 'Role of emrflow cluster instances: read inputs and scripts, write outputs and logs',
      AssumeRolePolicyDocument: trust('ec2.amazonaws.com'),
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
    Properties: { Roles: [{ Ref: 'EmrInstanceRole' }] },
  },
};

const existingRole = (description, name) => ({ Type: 'String', Description: description, Default: name });

async function roles({ resolveVariable }) {
  const serviceRole = await param(resolveVariable, 'emrServiceRole');
  const instanceProfile = await param(resolveVariable, 'emrInstanceProfile');
  const instanceRole = await param(resolveVariable, 'emrInstanceRole');
  const given = [serviceRole, instanceProfile, instanceRole].filter(Boolean).length;
  if (given === 0) return { Resources: createdRoles };
  if (given !== 3) {
    throw new Error('emrServiceRole, emrInstanceProfile and emrInstanceRole are set together or not at all');
  }
  return {
    Parameters: {
      EmrServiceRole: existingRole('Name of the existing EMR service role (path /)', serviceRole),
      EmrInstanceProfile: existingRole('Name of the existing EMR EC2 instance profile', instanceProfile),
      EmrInstanceRole: existingRole('Name of the role in that instance profile (path /)', instanceRole),
    },
  };
}

module.exports = { subnetIds, roles };
