/**
 * EMR Serverless, the third placement target, from config/serverless.json: the default application
 * (AWS::EMRServerless::Application, `Ref: ServerlessSparkApplication` is its id) and the job runtime role its
 * job runs assume (`ServerlessJobRole`): read the raw inputs and the job scripts, write outputs under the
 * artifacts bucket, read the jobs' Glue catalog, write the job logs under the logs bucket's `emr-serverless/`.
 * Plain CommonJS because osls loads it with require. Its tag is serverless.yml's (an `extensions` entry), where the
 * tag keys of the YAML live: this file cannot import lib/contract.ts.
 *
 * Trust: EMR Serverless's runtime-role page gives the service principal alone; it documents no
 * aws:SourceAccount / aws:SourceArn it sends, and a condition on an absent key would deny every job run.
 */
const serverless = require('../config/serverless.json');
const { jobs } = require('../config/jobs.json');
const { forStage } = require('./job-catalog');

const sub = (template) => ({ 'Fn::Sub': template });

/** The application's name, as EMR Serverless shows it (and the reaper recognises it: lib/contract.ts). */
const applicationName = (stage, key) => `emrflow-${stage}-${key}`;

function application(stage, key, app) {
  const worker = ({ vcpu, memoryGb, diskGb }) => ({ Cpu: `${vcpu} vCPU`, Memory: `${memoryGb} GB`, Disk: `${diskGb ?? app.workerDiskGb} GB` });
  return {
    Type: 'AWS::EMRServerless::Application',
    Properties: {
      Name: applicationName(stage, key),
      Type: 'Spark',
      ReleaseLabel: app.releaseLabel,
      Architecture: app.architecture,
      MaximumCapacity: {
        Cpu: `${app.maximumCapacity.vcpu} vCPU`,
        Memory: `${app.maximumCapacity.memoryGb} GB`,
        ...(app.maximumCapacity.diskGb ? { Disk: `${app.maximumCapacity.diskGb} GB` } : {}),
      },
      AutoStartConfiguration: { Enabled: true },
      AutoStopConfiguration: { Enabled: true, IdleTimeoutMinutes: app.autoStop.idleTimeoutMinutes },
      ...(app.initialCapacity
        ? {
            InitialCapacity: [
              { Key: 'Driver', Value: { WorkerCount: app.initialCapacity.driver.workers, WorkerConfiguration: worker(app.initialCapacity.driver.worker) } },
              {
                Key: 'Executor',
                Value: { WorkerCount: app.initialCapacity.executor.workers, WorkerConfiguration: worker(app.initialCapacity.executor.worker) },
              },
            ],
          }
        : {}),
      MonitoringConfiguration: {
        S3MonitoringConfiguration: { LogUri: sub('s3://${LogsBucket}/emr-serverless/') },
      },
    },
  };
}

function jobRole(stage, catalogReadArns) {
  return {
    Type: 'AWS::IAM::Role',
    Properties: {
      RoleName: sub(`emrflow-${stage}-\${AWS::Region}-serverless-job`),
      Description: 'Runtime role of emrflow EMR Serverless job runs: read inputs, scripts and the catalog, write outputs and logs',
      AssumeRolePolicyDocument: {
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Principal: { Service: 'emr-serverless.amazonaws.com' }, Action: 'sts:AssumeRole' }],
      },
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
                Resource: [sub('arn:${AWS::Partition}:s3:::${RawBucket}'), sub('arn:${AWS::Partition}:s3:::${ArtifactsBucket}')],
              },
              { Sid: 'ReadInputs', Effect: 'Allow', Action: 's3:GetObject', Resource: sub('arn:${AWS::Partition}:s3:::${RawBucket}/*') },
              {
                Sid: 'ReadScriptsWriteOutputs',
                Effect: 'Allow',
                Action: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'],
                Resource: sub('arn:${AWS::Partition}:s3:::${ArtifactsBucket}/*'),
              },
              // GetDatabase acts on the catalog and the database; the table reads on those and the table together.
              {
                Sid: 'ReadDatabases',
                Effect: 'Allow',
                Action: 'glue:GetDatabase',
                Resource: catalogReadArns.filter((arn) => !JSON.stringify(arn).includes(':table/')),
              },
              {
                Sid: 'ReadTables',
                Effect: 'Allow',
                Action: ['glue:GetTable', 'glue:GetTables', 'glue:GetPartition', 'glue:GetPartitions'],
                Resource: catalogReadArns,
              },
              { Sid: 'WriteJobLogs', Effect: 'Allow', Action: 's3:PutObject', Resource: sub('arn:${AWS::Partition}:s3:::${LogsBucket}/emr-serverless/*') },
            ],
          },
        },
      ],
    },
  };
}

/** Resources for serverless.yml (`${file(infra/emr-serverless.js):resources}`). */
async function resources({ resolveVariable }) {
  const stage = await resolveVariable('sls:stage');
  const key = serverless.defaultApplication;
  return {
    Resources: {
      ServerlessSparkApplication: application(stage, key, serverless.applications[key]),
      ServerlessJobRole: jobRole(stage, forStage(jobs, stage).catalogReadArns),
    },
  };
}

module.exports = { resources, applicationName };
