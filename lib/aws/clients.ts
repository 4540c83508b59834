import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EMRClient } from '@aws-sdk/client-emr';
import { EMRServerlessClient } from '@aws-sdk/client-emr-serverless';
import { GlueClient } from '@aws-sdk/client-glue';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/**
 * The one place SDK clients are made. Endpoints are not configured here: SDK v3 reads
 * AWS_ENDPOINT_URL_<SERVICE> itself, which is how the local runtime points the same code at its emulator.
 * Clients are created on first use, so a Lambda only builds the ones it calls.
 */
export interface Clients {
  emr: EMRClient;
  emrServerless: EMRServerlessClient;
  glue: GlueClient;
  s3: S3Client;
  dynamo: DynamoDBDocumentClient;
  sfn: SFNClient;
}

const region = () => process.env.AWS_REGION ?? 'us-east-1';

let cache: Partial<Clients> = {};

// One getter per client, not a table of factories: esbuild then drops the SDK clients a handler never uses.
export function emrClient(): EMRClient {
  cache.emr ??= new EMRClient({ region: region() });
  return cache.emr;
}

/** EMR Serverless (GetJobRun for a run's billed utilization, ListJobRuns / CancelJobRun for cleanup and the reaper). */
export function emrServerlessClient(): EMRServerlessClient {
  cache.emrServerless ??= new EMRServerlessClient({ region: region() });
  return cache.emrServerless;
}

export function glueClient(): GlueClient {
  cache.glue ??= new GlueClient({ region: region() });
  return cache.glue;
}

export function s3Client(): S3Client {
  // Path-style keeps bucket names out of host names, which a local S3 endpoint cannot resolve.
  cache.s3 ??= new S3Client({ region: region(), forcePathStyle: Boolean(process.env.AWS_ENDPOINT_URL_S3) });
  return cache.s3;
}

export function dynamoClient(): DynamoDBDocumentClient {
  cache.dynamo ??= DynamoDBDocumentClient.from(new DynamoDBClient({ region: region() }), {
    marshallOptions: { removeUndefinedValues: true },
  });
  return cache.dynamo;
}

/**
 * Step Functions (SendTaskSuccess / SendTaskFailure for parked executions, DescribeExecution for the reaper);
 * reads AWS_ENDPOINT_URL_SFN like the rest.
 */
export function sfnClient(): SFNClient {
  cache.sfn ??= new SFNClient({ region: region() });
  return cache.sfn;
}

/** For tests and the local runner: use these clients instead of making new ones. */
export function useClients(clients: Partial<Clients>): void {
  cache = { ...cache, ...clients };
}

/** Forgets every client, so the next use builds one from the current environment. */
export function resetClients(): void {
  cache = {};
}

/** Reads a required environment variable set by serverless.yml (or the local runner). */
export function env(
  name:
    | 'RAW_BUCKET'
    | 'ARTIFACTS_BUCKET'
    | 'LOGS_BUCKET'
    | 'RUNS_TABLE'
    | 'CLUSTER_REGISTRY_TABLE'
    | 'ADMISSION_QUEUE_TABLE'
    | 'STEP_TOKENS_TABLE'
    | 'EMR_SERVICE_ROLE'
    | 'EMR_INSTANCE_PROFILE'
    | 'RUN_JOB_STATE_MACHINE_ARN'
    | 'CLAIMS_TABLE'
    | 'STAGE'
    | 'SERVERLESS_APPLICATION_ID',
): string {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is not set (serverless.yml sets it for every function)`);
  return value;
}
