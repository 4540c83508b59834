/**
 * What serverless.yml derives from config/jobs.json, so that adding a job is one catalog entry: the S3
 * keys that start a run (each job's `s3Trigger`), each job's Glue database and crawler (with a role of its own), and the
 * Glue ARNs the Lambdas and the state machine may touch. Plain CommonJS because osls loads it with require.
 */
const { jobs } = require('../config/jobs.json');

/** lib/contract.ts DEFAULT_S3_MARKER (this file is plain JS for osls; test/infra/job-catalog.test.ts ties them). */
const DEFAULT_S3_MARKER = '_SUCCESS';

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
        // No aws:SourceAccount condition: Glue documents no such key when it assumes a crawler's role, and
        // a condition on an absent key would deny it (the crawler could not start).
        Statement: [{ Effect: 'Allow', Principal: { Service: 'glue.amazonaws.com' }, Action: 'sts:AssumeRole' }],
      },
      // The crawler subset of AWSGlueServiceRole: its bucket-level S3 calls as that policy grants them (on
      // the raw bucket rather than every bucket), reads under this job's prefix, this job's table.
      Policies: [
        {
          PolicyName: 'crawl',
          PolicyDocument: {
            Version: '2012-10-17',
            Statement: [
              {
                Sid: 'ListInput',
                Effect: 'Allow',
                Action: ['s3:ListBucket', 's3:GetBucketLocation'],
                Resource: sub('arn:${AWS::Partition}:s3:::${RawBucket}'),
              },
              {
                Sid: 'ReadInput',
                Effect: 'Allow',
                Action: 's3:GetObject',
                Resource: sub(`arn:\${AWS::Partition}:s3:::\${RawBucket}/${job.inputPrefix}*`),
              },
              {
                Sid: 'ReadDatabase',
                Effect: 'Allow',
                Action: 'glue:GetDatabase',
                Resource: [glueArn('catalog'), glueArn(`database/${database}`)],
              },
              {
                Sid: 'WriteCatalog',
                Effect: 'Allow',
                Action: [
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
                Resource: [glueArn('catalog'), glueArn(`database/${database}`), glueArn(`table/${database}/${table}`)],
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

/** A literal inside an EventBridge wildcard pattern: `*` and `\` are escaped. */
const wildcardLiteral = (text) => text.replace(/[\\*]/g, (char) => `\\${char}`);

/**
 * The `detail` of the EventBridge rule that starts run-job on S3 uploads, from each job's `s3Trigger`
 * (lib/domain/s3Trigger.ts says what each upload then runs). Only trigger keys match, so nothing else
 * starts an execution:
 *   marker      `<prefix>*\/<marker>` (a marker in any folder under the prefix) or `<prefix><marker>`;
 *               a folder key ending in `/` never ends in the marker
 *   per-object  `<prefix>*<suffix>` with a suffix, else `prefix`; and `size > 0`, which leaves out folder
 *               keys (the console creates them empty; a pattern cannot both require a prefix and exclude a
 *               suffix on one field)
 * Two kinds of jobs need two alternatives (`$or`), since only per-object jobs match on size.
 */
function s3TriggerDetail(jobList, bucketName) {
  const markerKeys = [];
  const objectKeys = [];
  for (const job of jobList) {
    const trigger = job.s3Trigger ?? { mode: 'marker' };
    const prefix = wildcardLiteral(job.inputPrefix);
    if (trigger.mode === 'per-object') {
      objectKeys.push(trigger.suffix ? { wildcard: `${prefix}*${wildcardLiteral(trigger.suffix)}` } : { prefix: job.inputPrefix });
    } else {
      const marker = trigger.marker ?? DEFAULT_S3_MARKER;
      markerKeys.push({ wildcard: `${prefix}*/${wildcardLiteral(marker)}` }, `${job.inputPrefix}${marker}`);
    }
  }
  const alternatives = [
    ...(markerKeys.length ? [{ object: { key: markerKeys } }] : []),
    ...(objectKeys.length ? [{ object: { key: objectKeys, size: [{ numeric: ['>', 0] }] } }] : []),
  ];
  const bucket = { name: [bucketName] };
  return alternatives.length === 1 ? { bucket, ...alternatives[0] } : { bucket, $or: alternatives };
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
    s3TriggerDetail: s3TriggerDetail(jobList, { Ref: 'RawBucket' }),
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
Object.assign(module.exports, { fromJobs, forStage, stageCatalog, DEFAULT_S3_MARKER });
