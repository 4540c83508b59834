/**
 * Reads serverless.yml the way the Serverless Framework does for one stage, so the local runtime takes
 * function names, handlers, environment variables, table and bucket names from the same file that deploys
 * them instead of a second hand-written map.
 *
 * Two layers, as in a deployment:
 *   1. Serverless variables (`${self:…}`, `${sls:stage}`, `${param:…}`, `${file(…js)}`, …) are the
 *      framework's job: `serverless print --format json --stage local` (osls, offline) resolves them, and
 *      its output is cached under node_modules/.cache, keyed by a hash of everything it reads (serverless.yml,
 *      infra/, statemachines/, config/, the tool versions, the stage).
 *      Measured on the 2-core build machine: a cold `print` takes 3.5-7 s (osls loads its plugins); a cache
 *      hit takes a few milliseconds, so `emrflow run` stays under a second whenever serverless.yml and what it
 *      reads are unchanged. (Before: about 120 lines here re-implemented variable resolution, including a
 *      shim for `${file(x.js)}` functions, and could not resolve concurrently.)
 *   2. CloudFormation intrinsics (`Ref`, `Fn::GetAtt`, `Fn::Sub`, `Fn::Join`, `Fn::Select`, `Fn::Split`) are
 *      CloudFormation's job, not the framework's: they are evaluated here to the local values CloudFormation
 *      would give (a table's TableName, a bucket's BucketName, a function's ARN).
 */
import { execFile } from 'node:child_process';
import { createHash, type Hash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { parse, type YAMLMap, type YAMLSeq, type Tags } from 'yaml';
import type { AslMachine } from '../asl/types';
import type { CloudFormationResource, ServerlessService } from './serverlessTypes';

/** The stage the local runtime packages and runs serverless.yml as (its resources, names and tags). */
export const LOCAL_STAGE = 'local';

export const LOCAL_ACCOUNT_ID = '000000000000';

export interface LocalFunction {
  /** Key under `functions:` (camelCase, e.g. `normalizeRequest`). */
  key: string;
  logicalId: string;
  name: string;
  arn: string;
  /** Absolute path of the handler module without extension, and the exported function. */
  modulePath: string;
  exportName: string;
  timeoutSeconds: number;
  memoryMb: number;
  environment: Record<string, string>;
}

export interface LocalResource {
  logicalId: string;
  type: string;
  /** What `Ref` gives: the table name, the bucket name, … */
  physicalId: string;
  /** Properties with intrinsics evaluated, on demand (a resource may use intrinsics the runtime never needs). */
  properties(): Record<string, unknown>;
}

export interface ServerlessConfig {
  serviceDir: string;
  service: string;
  stage: string;
  region: string;
  accountId: string;
  /** serverless.yml with its Serverless variables resolved by osls; intrinsics left for `resolve`. */
  raw: ServerlessService;
  /** Key under `stepFunctions.stateMachines` → the `statemachines/<name>.asl.yml` its definition comes from. */
  stateMachineFiles: Record<string, string>;
  functions: Record<string, LocalFunction>;
  resources: Record<string, LocalResource>;
  /** Evaluates CloudFormation intrinsics anywhere inside `value` (a part of `raw`). */
  resolve<T>(value: T): Promise<T>;
}

/** YAML short forms CloudFormation accepts (`!Ref X`, `!GetAtt X.Arn`, `!Sub …`), read as their long forms. */
const cloudFormationTags = [
  'Ref',
  'GetAtt',
  'Sub',
  'Join',
  'Select',
  'Split',
  'If',
  'Equals',
  'Not',
  'And',
  'Or',
  'FindInMap',
  'Base64',
  'GetAZs',
  'ImportValue',
  'Condition',
].flatMap((name) => {
  const key = name === 'Ref' || name === 'Condition' ? name : `Fn::${name}`;
  const wrap = (value: unknown) => ({ [key]: name === 'GetAtt' && typeof value === 'string' ? splitGetAtt(value) : value });
  return [
    { tag: `!${name}`, resolve: (value: string) => wrap(value) },
    { tag: `!${name}`, collection: 'seq' as const, resolve: (seq: YAMLSeq) => wrap(seq.toJSON()) },
    { tag: `!${name}`, collection: 'map' as const, resolve: (map: YAMLMap) => wrap(map.toJSON()) },
  ];
}) as Tags;

function splitGetAtt(value: string): string[] {
  const dot = value.indexOf('.');
  return [value.slice(0, dot), value.slice(dot + 1)];
}

/** serverless.yml or a state machine file as parsed: the fields of each are typed, none is checked. */
export type CloudFormationYaml = Partial<ServerlessService> & Partial<AslMachine>;

/** A CloudFormation or Serverless YAML file, its short-form intrinsics read as their long forms. */
export function parseCloudFormationYaml(text: string): CloudFormationYaml {
  return parse(text, { customTags: cloudFormationTags, merge: true, schema: 'core' });
}

/** Serverless's logical id for a function key: `normalizeRequest` → `NormalizeRequestLambdaFunction`. */
export function functionLogicalId(key: string): string {
  const normalized = key.charAt(0).toUpperCase() + key.slice(1);
  return `${normalized.replace(/-/g, 'Dash').replace(/_/g, 'Underscore')}LambdaFunction`;
}

const execFileAsync = promisify(execFile);
/**
 * What osls reads to print or package the service (infra/dashboard.js reads lib/metrics.json): a change in
 * any of them is a cache miss, here and for the infra tests' packaged template.
 */
const SERVICE_INPUTS = ['serverless.yml', 'infra', 'statemachines', 'config', 'lib/metrics.json', 'package.json', 'package-lock.json'];
const PRINT_CACHE = ['node_modules', '.cache', 'emrflow-serverless-print'];

function filesUnder(path: string): string[] {
  if (!existsSync(path)) return [];
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path)
    .sort()
    .flatMap((name) => filesUnder(join(path, name)));
}

/** A running hash of every file osls reads for the service (names and contents). */
export function hashServiceInputs(serviceDir: string, hash = createHash('sha256')): Hash {
  for (const file of SERVICE_INPUTS.flatMap((input) => filesUnder(join(serviceDir, input)))) {
    hash.update(relative(serviceDir, file)).update('\0').update(readFileSync(file)).update('\0');
  }
  return hash;
}

/** The cache key of `serverless print` for one stage: every input file, the stage, and the env it reads. */
export function printCacheKey(serviceDir: string, stage: string): string {
  const hash = hashServiceInputs(serviceDir, createHash('sha256').update(`stage=${stage}\0`));
  const text = readFileSync(join(serviceDir, 'serverless.yml'), 'utf8');
  for (const [, name] of text.matchAll(/\$\{env:([A-Za-z_][A-Za-z0-9_]*)/g)) hash.update(`env ${name}=${process.env[name] ?? ''}\0`);
  return hash.digest('hex').slice(0, 24);
}

/** serverless.yml resolved by osls for `stage`, offline, from the cache when nothing it reads changed. */
export async function printServerless(serviceDir: string, stage: string): Promise<ServerlessService> {
  const cacheDir = join(serviceDir, ...PRINT_CACHE);
  const cached = join(cacheDir, `${stage}-${printCacheKey(serviceDir, stage)}.json`);
  if (existsSync(cached)) return JSON.parse(readFileSync(cached, 'utf8'));
  const osls = require.resolve('osls/bin/serverless.js', { paths: [serviceDir, __dirname] });
  const env: NodeJS.ProcessEnv = { ...process.env, SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off' };
  // Offline: no credentials to find, no profile to read.
  for (const key of Object.keys(env)) if (key.startsWith('AWS_')) delete env[key];
  env.AWS_CONFIG_FILE = join(cacheDir, 'no-aws-config');
  env.AWS_SHARED_CREDENTIALS_FILE = join(cacheDir, 'no-aws-credentials');
  let stdout: string;
  try {
    ({ stdout } = await execFileAsync(process.execPath, [osls, 'print', '--format', 'json', '--stage', stage], {
      cwd: serviceDir,
      env,
      maxBuffer: 64 * 1024 * 1024,
    }));
  } catch (error) {
    const failed = error as Error & { stdout?: string; stderr?: string };
    const output = `${failed.stdout ?? ''}${failed.stderr ?? ''}`.trim();
    throw new Error(`serverless print --stage ${stage} failed in ${serviceDir}:\n${output || failed.message}`);
  }
  const printed = JSON.parse(stdout);
  mkdirSync(cacheDir, { recursive: true });
  // Written aside, then renamed: a concurrent reader never sees half a file.
  const scratch = `${cached}.${process.pid}.tmp`;
  writeFileSync(scratch, stdout);
  renameSync(scratch, cached);
  pruneCache(cacheDir);
  return printed;
}

/** Keeps the most recent prints only: one per edit of serverless.yml or what it reads would pile up. */
function pruneCache(cacheDir: string, keep = 10): void {
  const prints = readdirSync(cacheDir)
    .filter((name) => name.endsWith('.json'))
    .map((name) => ({ path: join(cacheDir, name), mtime: statSync(join(cacheDir, name)).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime);
  for (const stale of prints.slice(keep)) rmSync(stale.path, { force: true });
}

/** `definition: ${file(statemachines/<name>.asl.yml)}` per state machine, from serverless.yml as written. */
function stateMachineFilesOf(configFile: string): Record<string, string> {
  const written = parseCloudFormationYaml(readFileSync(configFile, 'utf8'));
  const files: Record<string, string> = {};
  for (const [key, machine] of Object.entries(written?.stepFunctions?.stateMachines ?? {})) {
    const name = /statemachines\/([^/]+)\.asl\.ya?ml/.exec(String(machine?.definition ?? ''))?.[1];
    if (name) files[key] = name;
  }
  return files;
}

/** What the intrinsics of one stage's serverless.yml refer to: functions, state machines, resources, parameters. */
interface TemplateNames {
  service: string;
  stage: string;
  region: string;
  resources: Record<string, CloudFormationResource>;
  parameters: Record<string, { Default?: unknown }>;
  functionNames: Record<string, string>;
  stateMachineArns: Record<string, string>;
}

function templateNames(raw: ServerlessService, stage: string): TemplateNames {
  const region = String(raw.provider?.region ?? 'us-east-1');
  const service = String(typeof raw.service === 'object' ? raw.service.name : raw.service);
  const functionNames: Record<string, string> = {};
  for (const [key, definition] of Object.entries(raw.functions ?? {})) functionNames[key] = String(definition.name ?? `${service}-${stage}-${key}`);
  // serverless-step-functions creates the state machines: a Ref to one (`id`) is its ARN, as in CloudFormation.
  const stateMachineArns: Record<string, string> = {};
  for (const [key, machine] of Object.entries(raw.stepFunctions?.stateMachines ?? {})) {
    const name = String(machine.name ?? `${service}-${stage}-${key}`);
    stateMachineArns[machine.id ?? `${key[0].toUpperCase()}${key.slice(1)}StepFunctionsStateMachine`] =
      `arn:aws:states:${region}:${LOCAL_ACCOUNT_ID}:stateMachine:${name}`;
  }
  // osls merges a `resources` list into one fragment.
  return { service, stage, region, resources: raw.resources?.Resources ?? {}, parameters: raw.resources?.Parameters ?? {}, functionNames, stateMachineArns };
}

/** CloudFormation's intrinsics (`Ref`, `Fn::GetAtt`, `Fn::Sub`, `Fn::Join`, `Fn::Select`, `Fn::Split`) → local values. */
class Intrinsics {
  private readonly pseudoParameters: Record<string, string>;

  constructor(private readonly names: TemplateNames) {
    this.pseudoParameters = {
      'AWS::AccountId': LOCAL_ACCOUNT_ID,
      'AWS::Partition': 'aws',
      'AWS::URLSuffix': 'amazonaws.com',
      'AWS::Region': names.region,
      'AWS::StackName': `${names.service}-${names.stage}`,
    };
  }

  functionArn(key: string): string {
    return `arn:aws:lambda:${this.names.region}:${LOCAL_ACCOUNT_ID}:function:${this.names.functionNames[key]}`;
  }

  private functionKeyOf(logicalId: string): string | undefined {
    return Object.keys(this.names.functionNames).find((key) => functionLogicalId(key) === logicalId);
  }

  ref(logicalId: string): string {
    const { parameters, resources, functionNames, stateMachineArns, service, stage } = this.names;
    if (logicalId in this.pseudoParameters) return this.pseudoParameters[logicalId];
    if (logicalId in parameters) return String(parameters[logicalId].Default ?? '');
    const functionKey = this.functionKeyOf(logicalId);
    if (functionKey) return functionNames[functionKey];
    if (logicalId in stateMachineArns) return stateMachineArns[logicalId];
    const resource = resources[logicalId];
    if (!resource) throw new Error(`serverless.yml: Ref to unknown logical id ${logicalId}`);
    // Ref of an EMR Serverless application is its id, which AWS makes up: locally a stable one the seed creates it with.
    if (resource.Type === 'AWS::EMRServerless::Application') return localServerlessApplicationId(logicalId);
    const nameProperty = REF_NAME_PROPERTY[resource.Type];
    const named = nameProperty ? lookupNested(resource.Properties ?? {}, nameProperty) : undefined;
    if (named !== undefined) return String(this.evaluate(named));
    // CloudFormation makes up a physical name when the template gives none; a stable, readable one will do.
    const generated = `${service}-${stage}-${logicalId}`;
    return resource.Type === 'AWS::S3::Bucket' ? generated.toLowerCase() : generated;
  }

  getAtt(logicalId: string, attribute: string): string {
    const functionKey = this.functionKeyOf(logicalId);
    if (functionKey && attribute === 'Arn') return this.functionArn(functionKey);
    const resource = this.names.resources[logicalId];
    if (!resource) throw new Error(`serverless.yml: Fn::GetAtt on unknown logical id ${logicalId}`);
    const name = this.ref(logicalId);
    const arn = arnFor(resource.Type, name, this.names.region);
    if (attribute === 'Arn' && arn) return arn;
    if (attribute === 'Name' || attribute === 'TableName' || attribute === 'BucketName') return name;
    throw new Error(`serverless.yml: Fn::GetAtt ${logicalId}.${attribute} is not supported locally`);
  }

  private substitute(template: string, variables: Record<string, unknown>): string {
    return template.replace(/\$\{([^}!]+)\}/g, (_, name: string) => {
      if (name in variables) return String(this.evaluate(variables[name]));
      if (name.includes('.') && !name.startsWith('AWS::')) return this.getAtt(...(splitGetAtt(name) as [string, string]));
      return this.ref(name);
    });
  }

  /** Every intrinsic anywhere inside `value`, evaluated; the rest as it is. */
  evaluate(value: unknown): unknown {
    if (Array.isArray(value)) return value.map((item) => this.evaluate(item));
    if (!value || typeof value !== 'object') return value;
    const object = value as Record<string, unknown>;
    const keys = Object.keys(object);
    if (keys.length === 1 && (keys[0] === 'Ref' || keys[0].startsWith('Fn::'))) return this.intrinsic(keys[0], object[keys[0]]);
    return Object.fromEntries(keys.map((key) => [key, this.evaluate(object[key])]));
  }

  private intrinsic(key: string, argument: unknown): unknown {
    const list = argument as unknown[];
    const at = (index: number) => this.evaluate(list[index]);
    if (key === 'Ref') return this.ref(String(this.evaluate(argument)));
    if (key === 'Fn::GetAtt') {
      const [logicalId, attribute] = Array.isArray(argument) ? argument.map((part) => String(this.evaluate(part))) : splitGetAtt(String(argument));
      return this.getAtt(logicalId, attribute);
    }
    if (key === 'Fn::Sub') {
      return Array.isArray(argument) ? this.substitute(String(at(0)), (argument[1] ?? {}) as Record<string, unknown>) : this.substitute(String(argument), {});
    }
    if (key === 'Fn::Join') return (at(1) as unknown[]).join(String(at(0)));
    if (key === 'Fn::Select') return (at(1) as unknown[])[Number(at(0))];
    if (key === 'Fn::Split') return String(at(1)).split(String(at(0)));
    throw new Error(`serverless.yml: ${key} is not supported by the local runtime`);
  }
}

function localFunctions(raw: ServerlessService, serviceDir: string, names: TemplateNames, intrinsics: Intrinsics): Record<string, LocalFunction> {
  const providerEnvironment = raw.provider?.environment ?? {};
  const functions: Record<string, LocalFunction> = {};
  for (const [key, definition] of Object.entries(raw.functions ?? {})) {
    const handler = String(definition.handler);
    const dot = handler.lastIndexOf('.');
    const environment = intrinsics.evaluate({ ...providerEnvironment, ...(definition.environment ?? {}) }) as Record<string, unknown>;
    const logicalId = functionLogicalId(key);
    functions[logicalId] = {
      key,
      logicalId,
      name: names.functionNames[key],
      arn: intrinsics.functionArn(key),
      modulePath: join(serviceDir, handler.slice(0, dot)),
      exportName: handler.slice(dot + 1),
      timeoutSeconds: Number(definition.timeout ?? raw.provider?.timeout ?? 6),
      memoryMb: Number(definition.memorySize ?? raw.provider?.memorySize ?? 1024),
      environment: Object.fromEntries(Object.entries(environment).map(([name, item]) => [name, String(item)])),
    };
  }
  return functions;
}

export async function loadServerlessConfig(options: { serviceDir: string; stage?: string }): Promise<ServerlessConfig> {
  const serviceDir = resolve(options.serviceDir);
  const configFile = join(serviceDir, 'serverless.yml');
  if (!existsSync(configFile)) throw new Error(`serverless config not found: ${configFile}`);
  const stage = options.stage ?? LOCAL_STAGE;
  const raw = await printServerless(serviceDir, stage);
  const names = templateNames(raw, stage);
  const intrinsics = new Intrinsics(names);
  const functions = localFunctions(raw, serviceDir, names, intrinsics);
  const resources: Record<string, LocalResource> = {};
  for (const [logicalId, resource] of Object.entries(names.resources)) {
    resources[logicalId] = {
      logicalId,
      type: resource.Type,
      physicalId: intrinsics.ref(logicalId),
      properties: () => intrinsics.evaluate(resource.Properties ?? {}) as Record<string, unknown>,
    };
  }
  return {
    serviceDir,
    service: names.service,
    stage,
    region: names.region,
    accountId: LOCAL_ACCOUNT_ID,
    raw,
    stateMachineFiles: stateMachineFilesOf(configFile),
    functions,
    resources,
    resolve: async <T>(value: T) => intrinsics.evaluate(value) as T,
  };
}

/** The local id of an EMR Serverless application (ids are [0-9a-z]{1,64}; AWS's start with 00f). */
export function localServerlessApplicationId(logicalId: string): string {
  return `00f${logicalId.toLowerCase().replace(/[^0-9a-z]/g, '')}`.slice(0, 64);
}

/** The property CloudFormation's `Ref` returns for the resource types this project declares. */
const REF_NAME_PROPERTY: Record<string, string> = {
  'AWS::DynamoDB::Table': 'TableName',
  'AWS::S3::Bucket': 'BucketName',
  'AWS::IAM::Role': 'RoleName',
  'AWS::IAM::InstanceProfile': 'InstanceProfileName',
  'AWS::IAM::ManagedPolicy': 'ManagedPolicyName',
  'AWS::Glue::Database': 'DatabaseInput.Name',
  'AWS::Glue::Crawler': 'Name',
  'AWS::Glue::Table': 'TableInput.Name',
  'AWS::SQS::Queue': 'QueueName',
  'AWS::SNS::Topic': 'TopicName',
  'AWS::Events::Rule': 'Name',
  'AWS::Logs::LogGroup': 'LogGroupName',
  'AWS::StepFunctions::StateMachine': 'StateMachineName',
};

function arnFor(type: string, name: string, region: string): string | undefined {
  switch (type) {
    case 'AWS::DynamoDB::Table':
      return `arn:aws:dynamodb:${region}:${LOCAL_ACCOUNT_ID}:table/${name}`;
    case 'AWS::S3::Bucket':
      return `arn:aws:s3:::${name}`;
    case 'AWS::IAM::Role':
      return `arn:aws:iam::${LOCAL_ACCOUNT_ID}:role/${name}`;
    case 'AWS::IAM::InstanceProfile':
      return `arn:aws:iam::${LOCAL_ACCOUNT_ID}:instance-profile/${name}`;
    case 'AWS::SQS::Queue':
      return `arn:aws:sqs:${region}:${LOCAL_ACCOUNT_ID}:${name}`;
    case 'AWS::SNS::Topic':
      return `arn:aws:sns:${region}:${LOCAL_ACCOUNT_ID}:${name}`;
    case 'AWS::Events::Rule':
      return `arn:aws:events:${region}:${LOCAL_ACCOUNT_ID}:rule/${name}`;
    case 'AWS::StepFunctions::StateMachine':
      return `arn:aws:states:${region}:${LOCAL_ACCOUNT_ID}:stateMachine:${name}`;
    case 'AWS::EMRServerless::Application':
      return `arn:aws:emr-serverless:${region}:${LOCAL_ACCOUNT_ID}:/applications/${name}`;
    default:
      return undefined;
  }
}

function lookupNested(object: Record<string, unknown>, path: string): unknown {
  return path.split('.').reduce<unknown>((node, part) => (node == null ? undefined : (node as Record<string, unknown>)[part]), object);
}
