/**
 * Reads serverless.yml the way the Serverless Framework would for one stage, so the local runtime takes
 * function names, handlers, environment variables, table and bucket names from the same file that deploys
 * them instead of a second hand-written map.
 *
 * Two layers, as in a deployment:
 *   1. Serverless variables (`${self:…}`, `${sls:stage}`, `${opt:stage, 'dev'}`, `${param:x, default}`,
 *      `${file(./x.json):key}`, `${env:X, default}`, `${aws:region}`) are resolved for the stage.
 *   2. CloudFormation intrinsics (`Ref`, `Fn::GetAtt`, `Fn::Sub`, `Fn::Join`) are evaluated to the local
 *      values CloudFormation would give: a table's TableName, a bucket's BucketName, a function's ARN.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse, YAMLMap, YAMLSeq, type Tags } from 'yaml';

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
  properties(): Record<string, any>;
}

export interface ServerlessConfig {
  serviceDir: string;
  service: string;
  stage: string;
  region: string;
  accountId: string;
  /** serverless.yml as parsed, variables unresolved (pass parts of it to `resolve`). */
  raw: any;
  functions: Record<string, LocalFunction>;
  resources: Record<string, LocalResource>;
  /** Resolves Serverless variables, then CloudFormation intrinsics, anywhere inside `value`. */
  resolve(value: unknown): Promise<any>;
}

/** YAML short forms CloudFormation accepts (`!Ref X`, `!GetAtt X.Arn`, `!Sub …`), read as their long forms. */
const cloudFormationTags = ['Ref', 'GetAtt', 'Sub', 'Join', 'Select', 'Split', 'If', 'Equals', 'Not', 'And', 'Or', 'FindInMap', 'Base64', 'GetAZs', 'ImportValue', 'Condition'].flatMap(
  (name) => {
    const key = name === 'Ref' || name === 'Condition' ? name : `Fn::${name}`;
    const wrap = (value: unknown) => ({ [key]: name === 'GetAtt' && typeof value === 'string' ? splitGetAtt(value) : value });
    return [
      { tag: `!${name}`, resolve: (value: string) => wrap(value) },
      { tag: `!${name}`, collection: 'seq' as const, resolve: (seq: YAMLSeq) => wrap(seq.toJSON()) },
      { tag: `!${name}`, collection: 'map' as const, resolve: (map: YAMLMap) => wrap(map.toJSON()) },
    ];
  },
) as Tags;

function splitGetAtt(value: string): string[] {
  const dot = value.indexOf('.');
  return [value.slice(0, dot), value.slice(dot + 1)];
}

export function parseCloudFormationYaml(text: string): any {
  return parse(text, { customTags: cloudFormationTags, merge: true, schema: 'core' });
}

/** Serverless's logical id for a function key: `normalizeRequest` → `NormalizeRequestLambdaFunction`. */
export function functionLogicalId(key: string): string {
  const normalized = key.charAt(0).toUpperCase() + key.slice(1);
  return `${normalized.replace(/-/g, 'Dash').replace(/_/g, 'Underscore')}LambdaFunction`;
}

const VARIABLE_SOURCE = /^(self|sls|opt|param|env|aws|file\([^)]*\)|strToBool\([^)]*\))(:|$)/;
/** `${source:…}` or `${fn(…)}` is Serverless's; `${AWS::Region}` and `${Bucket}` / `${Role.Arn}` are Fn::Sub's. */
const SERVERLESS_VARIABLE = /^[A-Za-z][\w-]*(\([^)]*\)(:(?!:)|$)|:(?!:))/;

export async function loadServerlessConfig(options: { serviceDir: string; stage?: string; file?: string }): Promise<ServerlessConfig> {
  const serviceDir = resolve(options.serviceDir);
  const configFile = join(serviceDir, options.file ?? 'serverless.yml');
  if (!existsSync(configFile)) throw new Error(`serverless config not found: ${configFile}`);
  const raw = parseCloudFormationYaml(readFileSync(configFile, 'utf8'));
  const stage = options.stage ?? 'local';
  const cliOptions = { stage };
  const resolving = new Set<string>();

  const lookupPath = async (root: any, path: string, what: string): Promise<any> => {
    let node = root;
    for (const part of path === '' ? [] : path.split('.')) {
      if (node === undefined || node === null || typeof node !== 'object') return undefined;
      node = node[part];
    }
    return node === undefined ? undefined : resolveVariables(node, what);
  };

  /** `${file(x.json|yml|js):address}`; a JS export that is a function is called as Serverless calls it. */
  const readFileSource = async (source: string, address: string): Promise<any> => {
    const relative = source.slice('file('.length, -1).trim().replace(/^['"]|['"]$/g, '');
    const path = resolve(serviceDir, relative);
    if (!existsSync(path)) return undefined;
    if (/\.[cm]?js$/.test(path)) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const module = require(path);
      const resolveVariable = async (reference: string) => evaluateExpression(reference);
      const call = async (value: any) =>
        typeof value === 'function' ? value({ options: cliOptions, resolveVariable, resolveConfigurationProperty: (path: string[]) => lookupPath(raw, path.join('.'), path.join('.')) }) : value;
      let node = await call(module);
      for (const part of address === '' ? [] : address.split('.')) node = await call(node?.[part]);
      return node === undefined ? undefined : resolveVariables(node, `${source}:${address}`);
    }
    const text = readFileSync(path, 'utf8');
    const content = path.endsWith('.json') ? JSON.parse(text) : parseCloudFormationYaml(text);
    return lookupPath(content, address, `${source}:${address}`);
  };

  const params = (): Record<string, unknown> => ({ ...(raw.params?.default ?? {}), ...(raw.params?.[stage] ?? {}) });

  const lookupSource = async (reference: string): Promise<any> => {
    const match = VARIABLE_SOURCE.exec(reference);
    if (!match) throw new Error(`serverless.yml: unsupported variable source in \${${reference}}`);
    const source = match[1];
    const address = reference.slice(source.length + 1).trim();
    if (resolving.has(reference)) throw new Error(`serverless.yml: circular variable \${${reference}}`);
    resolving.add(reference);
    try {
      if (source === 'self') return await lookupPath(raw, address, reference);
      if (source === 'sls') return address === 'stage' ? stage : address === 'instanceId' ? 'local' : undefined;
      if (source === 'opt') return (cliOptions as Record<string, string>)[address];
      if (source === 'param') return params()[address] === undefined ? undefined : await resolveVariables(params()[address], reference);
      if (source === 'env') return process.env[address];
      if (source === 'aws') return address === 'accountId' ? LOCAL_ACCOUNT_ID : address === 'region' ? region : undefined;
      if (source.startsWith('file(')) return await readFileSource(source, address);
      return String(await interpolate(source.slice('strToBool('.length, -1))).trim() === 'true';
    } finally {
      resolving.delete(reference);
    }
  };

  /** One `${…}` expression: `source:address` or a literal, with `,`-separated fallbacks tried in order. */
  const evaluateExpression = async (expression: string): Promise<any> => {
    for (const candidate of splitTopLevel(expression)) {
      const text = candidate.trim();
      let value: any;
      if (/^(['"]).*\1$/s.test(text)) value = text.slice(1, -1);
      else if (/^-?\d+(\.\d+)?$/.test(text)) value = Number(text);
      else if (text === 'true' || text === 'false') value = text === 'true';
      else if (text === 'null') value = null;
      else if (text.startsWith('${')) value = await interpolate(text);
      else value = await lookupSource(String(await interpolate(text)));
      if (value !== undefined) return value;
    }
    throw new Error(`serverless.yml: cannot resolve \${${expression}} for stage ${stage}`);
  };

  /** Replaces Serverless variables in a string; CloudFormation's `${AWS::Region}` / `${Bucket}` stay for Fn::Sub. */
  const interpolate = async (text: string): Promise<any> => {
    const parts: any[] = [];
    let index = 0;
    while (index < text.length) {
      const start = text.indexOf('${', index);
      if (start < 0) {
        parts.push(text.slice(index));
        break;
      }
      const end = matchingBrace(text, start + 1);
      parts.push(text.slice(index, start));
      const expression = text.slice(start + 2, end);
      parts.push(SERVERLESS_VARIABLE.test(expression.trim()) ? await evaluateExpression(expression) : `\${${await interpolate(expression)}}`);
      index = end + 1;
    }
    const kept = parts.filter((part) => part !== '');
    if (kept.length === 1) return kept[0];
    return kept.map((part) => (typeof part === 'object' ? JSON.stringify(part) : String(part))).join('');
  };

  const resolveVariables = async (value: any, where: string): Promise<any> => {
    if (typeof value === 'string') return value.includes('${') ? interpolate(value) : value;
    // Sequential on purpose: the cycle check tracks the references being resolved right now.
    if (Array.isArray(value)) {
      const items = [];
      for (const item of value) items.push(await resolveVariables(item, where));
      return items;
    }
    if (value && typeof value === 'object') {
      const entries: Array<[string, unknown]> = [];
      for (const [key, item] of Object.entries(value)) entries.push([key, await resolveVariables(item, where)]);
      return Object.fromEntries(entries);
    }
    return value;
  };

  const region = String(await resolveVariables(raw.provider?.region ?? 'us-east-1', 'provider.region'));
  const service = String(await resolveVariables(typeof raw.service === 'object' ? raw.service.name : raw.service, 'service'));

  // `resources` may be one template fragment or a list of them (Serverless merges the list).
  const fragments: any[] = await resolveVariables([raw.resources ?? {}].flat(), 'resources');
  const rawResources: Record<string, any> = Object.assign({}, ...fragments.map((fragment) => fragment?.Resources ?? {}));
  const templateParameters: Record<string, any> = Object.assign({}, ...fragments.map((fragment) => fragment?.Parameters ?? {}));

  const rawFunctions: Record<string, any> = raw.functions ?? {};
  const functionKeys = Object.keys(rawFunctions);
  const functionNames: Record<string, string> = {};
  for (const key of functionKeys) {
    functionNames[key] = String(await resolveVariables(rawFunctions[key].name ?? `${service}-${stage}-${key}`, `functions.${key}.name`));
  }
  const arnOf = (key: string) => `arn:aws:lambda:${region}:${LOCAL_ACCOUNT_ID}:function:${functionNames[key]}`;
  // serverless-step-functions creates the state machines: a Ref to one (`id`) is its ARN, as in CloudFormation.
  const stateMachineArns: Record<string, string> = {};
  for (const [key, machine] of Object.entries<any>(raw.stepFunctions?.stateMachines ?? {})) {
    const name = String(await resolveVariables(machine.name ?? `${service}-${stage}-${key}`, `stepFunctions.stateMachines.${key}.name`));
    stateMachineArns[machine.id ?? `${key[0].toUpperCase()}${key.slice(1)}StepFunctionsStateMachine`] = `arn:aws:states:${region}:${LOCAL_ACCOUNT_ID}:stateMachine:${name}`;
  }

  const pseudoParameters: Record<string, string> = {
    'AWS::AccountId': LOCAL_ACCOUNT_ID,
    'AWS::Partition': 'aws',
    'AWS::URLSuffix': 'amazonaws.com',
    'AWS::Region': region,
    'AWS::StackName': `${service}-${stage}`,
  };

  const refOf = (logicalId: string): string => {
    if (logicalId in pseudoParameters) return pseudoParameters[logicalId];
    if (logicalId in templateParameters) return String(templateParameters[logicalId].Default ?? '');
    const functionKey = functionKeys.find((key) => functionLogicalId(key) === logicalId);
    if (functionKey) return functionNames[functionKey];
    if (logicalId in stateMachineArns) return stateMachineArns[logicalId];
    const resource = rawResources[logicalId];
    if (!resource) throw new Error(`serverless.yml: Ref to unknown logical id ${logicalId}`);
    const nameProperty = REF_NAME_PROPERTY[resource.Type];
    const named = nameProperty ? lookupNested(resource.Properties ?? {}, nameProperty) : undefined;
    if (named !== undefined) return String(evaluate(named));
    // CloudFormation makes up a physical name when the template gives none; a stable, readable one will do.
    const generated = `${service}-${stage}-${logicalId}`;
    return resource.Type === 'AWS::S3::Bucket' ? generated.toLowerCase() : generated;
  };

  const getAttOf = (logicalId: string, attribute: string): string => {
    const functionKey = functionKeys.find((key) => functionLogicalId(key) === logicalId);
    if (functionKey && attribute === 'Arn') return arnOf(functionKey);
    const resource = rawResources[logicalId];
    if (!resource) throw new Error(`serverless.yml: Fn::GetAtt on unknown logical id ${logicalId}`);
    const name = refOf(logicalId);
    const arn = arnFor(resource.Type, name, region);
    if (attribute === 'Arn' && arn) return arn;
    if (attribute === 'Name' || attribute === 'TableName' || attribute === 'BucketName') return name;
    throw new Error(`serverless.yml: Fn::GetAtt ${logicalId}.${attribute} is not supported locally`);
  };

  const substitute = (template: string, variables: Record<string, any>): string =>
    template.replace(/\$\{([^}!]+)\}/g, (_, name: string) => {
      if (name in variables) return String(evaluate(variables[name]));
      if (name.includes('.') && !name.startsWith('AWS::')) return getAttOf(...(splitGetAtt(name) as [string, string]));
      return refOf(name);
    });

  /** CloudFormation intrinsics → local values. */
  const evaluate = (value: any): any => {
    if (Array.isArray(value)) return value.map(evaluate);
    if (!value || typeof value !== 'object') return value;
    const keys = Object.keys(value);
    if (keys.length === 1) {
      const [key] = keys;
      const argument = value[key];
      if (key === 'Ref') return refOf(evaluate(argument));
      if (key === 'Fn::GetAtt') {
        const [logicalId, attribute] = Array.isArray(argument) ? argument.map(evaluate) : splitGetAtt(argument);
        return getAttOf(logicalId, attribute);
      }
      if (key === 'Fn::Sub') {
        return Array.isArray(argument) ? substitute(evaluate(argument[0]), argument[1] ?? {}) : substitute(argument, {});
      }
      if (key === 'Fn::Join') return (evaluate(argument[1]) as unknown[]).join(evaluate(argument[0]));
      if (key === 'Fn::Select') return evaluate(argument[1])[Number(evaluate(argument[0]))];
      if (key === 'Fn::Split') return String(evaluate(argument[1])).split(evaluate(argument[0]));
      if (key.startsWith('Fn::')) throw new Error(`serverless.yml: ${key} is not supported by the local runtime`);
    }
    return Object.fromEntries(keys.map((key) => [key, evaluate(value[key])]));
  };

  const providerEnvironment = raw.provider?.environment ?? {};
  const providerTimeout = await resolveVariables(raw.provider?.timeout ?? 6, 'provider.timeout');
  const providerMemory = await resolveVariables(raw.provider?.memorySize ?? 1024, 'provider.memorySize');
  const functions: Record<string, LocalFunction> = {};
  for (const key of functionKeys) {
    const definition = await resolveVariables(rawFunctions[key], `functions.${key}`);
    const handler = String(definition.handler);
    const dot = handler.lastIndexOf('.');
    const environment = evaluate(await resolveVariables({ ...providerEnvironment, ...(definition.environment ?? {}) }, 'environment'));
    const logicalId = functionLogicalId(key);
    functions[logicalId] = {
      key,
      logicalId,
      name: functionNames[key],
      arn: arnOf(key),
      modulePath: join(serviceDir, handler.slice(0, dot)),
      exportName: handler.slice(dot + 1),
      timeoutSeconds: Number(definition.timeout ?? providerTimeout),
      memoryMb: Number(definition.memorySize ?? providerMemory),
      environment: Object.fromEntries(Object.entries<any>(environment).map(([name, item]) => [name, String(item)])),
    };
  }

  const resources: Record<string, LocalResource> = {};
  for (const [logicalId, resource] of Object.entries<any>(rawResources)) {
    resources[logicalId] = {
      logicalId,
      type: resource.Type,
      physicalId: refOf(logicalId),
      properties: () => evaluate(resource.Properties ?? {}),
    };
  }

  return {
    serviceDir,
    service,
    stage,
    region,
    accountId: LOCAL_ACCOUNT_ID,
    raw,
    functions,
    resources,
    resolve: async (value: unknown) => evaluate(await resolveVariables(value, 'value')),
  };
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
    default:
      return undefined;
  }
}

function lookupNested(object: Record<string, any>, path: string): unknown {
  return path.split('.').reduce<any>((node, part) => (node == null ? undefined : node[part]), object);
}

function matchingBrace(text: string, open: number): number {
  let depth = 0;
  for (let index = open; index < text.length; index++) {
    if (text[index] === '{') depth++;
    else if (text[index] === '}' && --depth === 0) return index;
  }
  throw new Error(`serverless.yml: unbalanced \${ in "${text}"`);
}

function splitTopLevel(expression: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote: string | null = null;
  let current = '';
  for (const char of expression) {
    if (quote) {
      if (char === quote) quote = null;
    } else if (char === '"' || char === "'") quote = char;
    else if (char === '{' || char === '(') depth++;
    else if (char === '}' || char === ')') depth--;
    else if (char === ',' && depth === 0) {
      parts.push(current);
      current = '';
      continue;
    }
    current += char;
  }
  parts.push(current);
  return parts;
}
