'use strict';
/**
 * What serverless.yml derives from config/jobs.json, so that adding a job is one catalog entry: the key
 * prefixes the S3 trigger matches, each job's Glue database and crawler (with a role of its own), and the
 * Glue ARNs the Lambdas and the state machine may touch. Plain CommonJS because osls loads it with require.
 */
const { jobs } = require('../config/jobs.json');

const sub = (template) => ({ 'Fn::Sub': template });
const unique = (values) => [...new Set(values)];
const pascal = (name) =>
  name
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((word) => word[0].toUpperCase() + word.slice(1))
    .join('');
const glueArn = (resource) => sub(`arn:\${AWS::Partition}:glue:\${AWS::Region}:\${AWS::AccountId}:${resource}`);

function crawlerRole(job) {
  const { database, table } = job.catalog;
  return {
    Type: 'AWS::IAM::Role',
    Properties: {
      Description: `Glue crawler of ${job.name}: reads s3://raw/${job.inputPrefix}, writes ${database}.${table}`,
      AssumeRolePolicyDocument: {
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Principal: { Service: 'glue.amazonaws.com' },
            Action: 'sts:AssumeRole',
            Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
          },
        ],
      },
      // The crawler subset of AWSGlueServiceRole, scoped to this job's prefix, database and table.
      Policies: [
        {
          PolicyName: 'crawl',
          PolicyDocument: {
            Version: '2012-10-17',
            Statement: [
              {
                Sid: 'ListInput',
                Effect: 'Allow',
                Action: 's3:ListBucket',
                Resource: sub('arn:${AWS::Partition}:s3:::${RawBucket}'),
                Condition: { StringLike: { 's3:prefix': [`${job.inputPrefix}*`] } },
              },
              {
                Sid: 'ReadInput',
                Effect: 'Allow',
                Action: 's3:GetObject',
                Resource: sub(`arn:\${AWS::Partition}:s3:::\${RawBucket}/${job.inputPrefix}*`),
              },
              {
                Sid: 'WriteCatalog',
                Effect: 'Allow',
                Action: [
                  'glue:GetDatabase',
                  'glue:GetTable',
                  'glue:GetTables',
                  'glue:CreateTable',
                  'glue:UpdateTable',
                  'glue:GetPartition',
                  'glue:GetPartitions',
                  'glue:BatchGetPartition',
                  'glue:CreatePartition',
                  'glue:BatchCreatePartition',
                  'glue:UpdatePartition',
                  'glue:BatchUpdatePartition',
                ],
                Resource: [
                  glueArn('catalog'),
                  glueArn(`database/${database}`),
                  glueArn(`table/${database}/${table}`),
                ],
              },
              {
                Sid: 'WriteCrawlerLogs',
                Effect: 'Allow',
                Action: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents'],
                Resource: sub('arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws-glue/crawlers:*'),
              },
            ],
          },
        },
      ],
    },
  };
}

/** The logical id stays the same in every stage; only the Glue name carries the stage. */
function databaseLogicalId(catalog) {
  return `${pascal(catalog.logicalName ?? catalog.database)}GlueDatabase`;
}

function crawler(job) {
  return {
    Type: 'AWS::Glue::Crawler',
    Properties: {
      Name: job.catalog.crawler,
      Description: `Registers ${job.name}'s input partitions (dt=YYYY-MM-DD) in ${job.catalog.database}.${job.catalog.table}`,
      Role: { 'Fn::GetAtt': [`${pascal(job.name)}CrawlerRole`, 'Arn'] },
      DatabaseName: { Ref: databaseLogicalId(job.catalog) },
      Targets: { S3Targets: [{ Path: sub(`s3://\${RawBucket}/${job.inputPrefix}`) }] },
      // A crawl bills 10 minutes at least: after the first crawl, only list the new dt= folders. Schema
      // changes are logged rather than applied, which incremental crawls require.
      RecrawlPolicy: { RecrawlBehavior: 'CRAWL_NEW_FOLDERS_ONLY' },
      SchemaChangePolicy: { UpdateBehavior: 'LOG', DeleteBehavior: 'LOG' },
      Configuration: JSON.stringify({
        Version: 1.0,
        Grouping: { TableGroupingPolicy: 'CombineCompatibleSchemas' },
      }),
    },
  };
}

/** Everything derived from a job list; exported for tests, applied to config/jobs.json below. */
function fromJobs(jobList) {
  const catalogued = jobList.filter((job) => job.catalog);
  const databases = unique(catalogued.map((job) => job.catalog.database));
  const Resources = {};
  for (const database of databases) {
    const { catalog } = catalogued.find((job) => job.catalog.database === database);
    Resources[databaseLogicalId(catalog)] = {
      Type: 'AWS::Glue::Database',
      Properties: {
        CatalogId: { Ref: 'AWS::AccountId' },
        DatabaseInput: { Name: database, Description: "emrflow raw inputs, registered by the jobs' crawlers" },
      },
    };
  }
  for (const job of catalogued) {
    Resources[`${pascal(job.name)}CrawlerRole`] = crawlerRole(job);
    Resources[`${pascal(job.name)}Crawler`] = crawler(job);
  }
  return {
    // EventBridge content filter: one `prefix` matcher per job; a list of matchers is an OR.
    s3KeyPrefixes: unique(jobList.map((job) => job.inputPrefix)).map((prefix) => ({ prefix })),
    // GetPartition authorizes on the catalog, the database and the table together.
    catalogReadArns: [
      glueArn('catalog'),
      ...databases.map((database) => glueArn(`database/${database}`)),
      ...catalogued.map((job) => glueArn(`table/${job.catalog.database}/${job.catalog.table}`)),
    ],
    crawlerArns: catalogued.map((job) => glueArn(`crawler/${job.catalog.crawler}`)),
    resources: { Resources },
  };
}

/**
 * Glue names are per account, so each stage gets its own database and crawler: `<database>_<stage>` and
 * `<crawler>-<stage>`. The Lambdas derive the same names (lib/contract.ts catalogNamesForStage, given the
 * STAGE variable); test/infra checks that the two agree.
 */
function stageCatalog(catalog, stage) {
  if (!stage) return catalog;
  const database = `${catalog.database}_${stage.replace(/[^A-Za-z0-9]/g, '_').toLowerCase()}`;
  return { ...catalog, database, crawler: `${catalog.crawler}-${stage}`, logicalName: catalog.database };
}

function forStage(jobList, stage) {
  return fromJobs(jobList.map((job) => (job.catalog ? { ...job, catalog: stageCatalog(job.catalog, stage) } : job)));
}

// Serverless calls an exported function with its variable resolver; the stage decides the Glue names.
module.exports = async ({ resolveVariable }) => forStage(jobs, await resolveVariable('sls:stage'));
Object.assign(module.exports, { fromJobs, forStage, stageCatalog });
