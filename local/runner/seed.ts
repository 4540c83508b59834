/**
 * Creates in the emulator what a deployment of serverless.yml would have created: its S3 buckets, DynamoDB
 * tables, Glue databases and crawlers. Then it puts each catalogued job's script where the job's
 * entryPoint says (s3://<artifacts>/<entryPoint>), as a deployment pipeline would, so the step finds it.
 * Everything tolerates "already exists": a kept state directory is seeded again on every start.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateTableCommand, DynamoDBClient, type CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import { CreateCrawlerCommand, CreateDatabaseCommand, GlueClient } from '@aws-sdk/client-glue';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { ServerlessConfig } from './serverless-config';

export interface SeedClients {
  s3: S3Client;
  dynamodb: DynamoDBClient;
  glue: GlueClient;
}

export interface Seeded {
  buckets: Record<string, string>;
  tables: Record<string, string>;
  crawlers: string[];
  scripts: string[];
}

const ALREADY_EXISTS = ['BucketAlreadyOwnedByYou', 'BucketAlreadyExists', 'ResourceInUseException', 'AlreadyExistsException'];

async function tolerateExisting(create: () => Promise<unknown>): Promise<void> {
  try {
    await create();
  } catch (error) {
    if (!ALREADY_EXISTS.includes((error as Error).name)) throw error;
  }
}

export async function seedFromServerless(config: ServerlessConfig, clients: SeedClients): Promise<Seeded> {
  const seeded: Seeded = { buckets: {}, tables: {}, crawlers: [], scripts: [] };
  const resources = Object.values(config.resources);

  for (const bucket of resources.filter((resource) => resource.type === 'AWS::S3::Bucket')) {
    await tolerateExisting(() => clients.s3.send(new CreateBucketCommand({ Bucket: bucket.physicalId })));
    seeded.buckets[bucket.logicalId] = bucket.physicalId;
  }

  for (const table of resources.filter((resource) => resource.type === 'AWS::DynamoDB::Table')) {
    const properties = table.properties();
    const input: CreateTableCommandInput = {
      TableName: table.physicalId,
      AttributeDefinitions: properties.AttributeDefinitions,
      KeySchema: properties.KeySchema,
      GlobalSecondaryIndexes: properties.GlobalSecondaryIndexes,
      LocalSecondaryIndexes: properties.LocalSecondaryIndexes,
      BillingMode: properties.BillingMode ?? 'PROVISIONED',
      ProvisionedThroughput: properties.BillingMode === 'PAY_PER_REQUEST' ? undefined : (properties.ProvisionedThroughput ?? { ReadCapacityUnits: 5, WriteCapacityUnits: 5 }),
    };
    await tolerateExisting(() => clients.dynamodb.send(new CreateTableCommand(input)));
    seeded.tables[table.logicalId] = table.physicalId;
  }

  for (const database of resources.filter((resource) => resource.type === 'AWS::Glue::Database')) {
    await tolerateExisting(() => clients.glue.send(new CreateDatabaseCommand({ DatabaseInput: database.properties().DatabaseInput })));
  }

  for (const crawler of resources.filter((resource) => resource.type === 'AWS::Glue::Crawler')) {
    const { Name, Role, DatabaseName, Targets, Description, RecrawlPolicy, SchemaChangePolicy, Configuration } = crawler.properties();
    await tolerateExisting(() =>
      clients.glue.send(new CreateCrawlerCommand({ Name, Role, DatabaseName, Targets, Description, RecrawlPolicy, SchemaChangePolicy, Configuration })),
    );
    seeded.crawlers.push(Name);
  }

  const artifacts = seeded.buckets.ArtifactsBucket;
  if (artifacts) {
    for (const job of readJobs(config.serviceDir)) {
      const script = join(config.serviceDir, job.entryPoint);
      if (!existsSync(script)) continue;
      await clients.s3.send(new PutObjectCommand({ Bucket: artifacts, Key: job.entryPoint, Body: readFileSync(script) }));
      seeded.scripts.push(`s3://${artifacts}/${job.entryPoint}`);
    }
  }
  return seeded;
}

function readJobs(serviceDir: string): Array<{ name: string; entryPoint: string; inputPrefix: string }> {
  const file = join(serviceDir, 'config', 'jobs.json');
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')).jobs : [];
}
