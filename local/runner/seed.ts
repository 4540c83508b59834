/**
 * Creates in the emulator what a deployment of serverless.yml would have created: its S3 buckets, DynamoDB
 * tables, Glue databases and crawlers. Then it puts each catalogued job's script where the job's
 * entryPoint says (s3://<artifacts>/<entryPoint>), as a deployment pipeline would, so the step finds it.
 * Seeding is idempotent: a kept state directory is seeded again on every start.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateTableCommand, type DynamoDBClient, type CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { parseJobs } from '../../lib/config/jobs';
import type { JobDefinition } from '../../lib/config/jobs';
import { s3Location } from '../../lib/contract';
import type { Emulator } from '../emulator';
import type { ServerlessApplicationSeed } from '../emulator/emr-serverless/EmrServerlessService';
import type { ServerlessConfig } from './serverless-config';

interface CrawlerProperties {
  Name: string;
  Role?: string;
  DatabaseName: string;
  Targets: { S3Targets: Array<{ Path: string }> };
}

export interface SeedTargets {
  emulator: Pick<Emulator, 'seed'>;
  s3: S3Client;
  dynamodb: DynamoDBClient;
}

export interface Seeded {
  buckets: Record<string, string>;
  tables: Record<string, string>;
  crawlers: string[];
  scripts: string[];
}

export async function seedFromServerless(config: ServerlessConfig, targets: SeedTargets): Promise<Seeded> {
  const seeded: Seeded = { buckets: {}, tables: {}, crawlers: [], scripts: [] };
  const resources = Object.values(config.resources);
  const ofType = (type: string) => resources.filter((resource) => resource.type === type);

  for (const bucket of ofType('AWS::S3::Bucket')) seeded.buckets[bucket.logicalId] = bucket.physicalId;
  const crawlers = ofType('AWS::Glue::Crawler').map((crawler) => {
    // CloudFormation's AWS::Glue::Crawler properties have the CreateCrawler API's shape.
    const { Name, Role, DatabaseName, Targets } = crawler.properties() as unknown as CrawlerProperties;
    return { Name, Role, DatabaseName, Targets };
  });
  await targets.emulator.seed({
    buckets: Object.values(seeded.buckets),
    databases: ofType('AWS::Glue::Database').map((database) => (database.properties() as { DatabaseInput: { Name: string } }).DatabaseInput.Name),
    crawlers,
  });
  seeded.crawlers = crawlers.map((crawler) => crawler.Name);
  const applications = ofType('AWS::EMRServerless::Application');
  if (applications.length > 0) {
    await targets.emulator.seed({
      serverlessApplications: applications.map(
        (application) => ({ ...application.properties(), applicationId: application.physicalId }) as ServerlessApplicationSeed,
      ),
    });
  }

  for (const table of ofType('AWS::DynamoDB::Table')) {
    // CloudFormation's AWS::DynamoDB::Table properties have the CreateTable API's shape.
    const properties = table.properties() as Omit<CreateTableCommandInput, 'TableName'>;
    const input: CreateTableCommandInput = {
      TableName: table.physicalId,
      AttributeDefinitions: properties.AttributeDefinitions,
      KeySchema: properties.KeySchema,
      GlobalSecondaryIndexes: properties.GlobalSecondaryIndexes,
      LocalSecondaryIndexes: properties.LocalSecondaryIndexes,
      BillingMode: properties.BillingMode ?? 'PROVISIONED',
      ProvisionedThroughput:
        properties.BillingMode === 'PAY_PER_REQUEST' ? undefined : (properties.ProvisionedThroughput ?? { ReadCapacityUnits: 5, WriteCapacityUnits: 5 }),
    };
    try {
      await targets.dynamodb.send(new CreateTableCommand(input));
    } catch (error) {
      // A kept state directory already has its tables.
      if ((error as Error).name !== 'ResourceInUseException') throw error;
    }
    seeded.tables[table.logicalId] = table.physicalId;
  }

  const artifacts = seeded.buckets.ArtifactsBucket;
  if (artifacts) {
    for (const job of readJobs(config.serviceDir)) {
      const script = join(config.serviceDir, job.entryPoint);
      if (!existsSync(script)) continue;
      await targets.s3.send(new PutObjectCommand({ Bucket: artifacts, Key: job.entryPoint, Body: readFileSync(script) }));
      seeded.scripts.push(s3Location(artifacts, job.entryPoint).uri);
    }
  }
  return seeded;
}

function readJobs(serviceDir: string): JobDefinition[] {
  const file = join(serviceDir, 'config', 'jobs.json');
  return existsSync(file) ? parseJobs(JSON.parse(readFileSync(file, 'utf8'))) : [];
}
