/**
 * `arn:aws:states:::aws-sdk:<service>:<action>` → the SDK v3 `<Action>Command` of `@aws-sdk/client-<service>`,
 * and the optimized `arn:aws:states:::dynamodb:<putItem|getItem|updateItem|deleteItem>` → DynamoDB.
 * Results keep the API's PascalCase shape without `$metadata`. Errors are named as Step Functions names
 * them: `<Service>.<ExceptionName>` (an `Exception` suffix added when the API's name lacks one) for aws-sdk,
 * `DynamoDB.<ExceptionName>` for the optimized DynamoDB integration.
 */
import { serviceErrorParts, stepFunctionsJson, TaskError } from './errors';
import type { WithMiddleware } from '../serial';
import { takeTurns, type WorkTurns } from '../serial';

type Send = (command: unknown) => Promise<unknown>;
/** An `@aws-sdk/client-*` package: its command classes by name. */
type SdkModule = Record<string, unknown>;
type CommandClass = new (input: unknown) => unknown;

export interface SdkClients {
  /** One client per service, created on first use with the runner's client settings. */
  clientFor(service: string): { send: Send; module: SdkModule };
}

/** Service names in Step Functions' error prefixes where they differ from a capitalized ARN segment. */
const ERROR_PREFIX: Record<string, string> = {
  dynamodb: 'DynamoDb',
  acmpca: 'AcmPca',
  eventbridge: 'EventBridge',
  cloudwatchlogs: 'CloudWatchLogs',
  stepfunctions: 'Sfn',
};

/** `@aws-sdk/client-<name>` where the ARN's service segment differs from the package name. */
const PACKAGE: Record<string, string> = { sfn: 'sfn', stepfunctions: 'sfn', cloudwatchlogs: 'cloudwatch-logs' };

export function sdkClients(clientConfig: Record<string, unknown>, turns?: WorkTurns): SdkClients {
  const clients = new Map<string, { send: Send; module: SdkModule }>();
  return {
    clientFor(service) {
      let entry = clients.get(service);
      if (!entry) {
        const packageName = `@aws-sdk/client-${PACKAGE[service] ?? service}`;
        let module: SdkModule;
        try {
          // eslint-disable-next-line @typescript-eslint/no-require-imports
          module = require(packageName);
        } catch {
          throw new Error(`aws-sdk:${service} needs ${packageName}, which is not installed`);
        }
        const ClientClass = Object.entries(module).find(
          ([name, value]) => /^[A-Z]\w*Client$/.test(name) && typeof value === 'function' && 'send' in value.prototype,
        )?.[1] as (new (config: Record<string, unknown>) => { send: Send; middlewareStack: WithMiddleware['middlewareStack'] }) | undefined;
        if (!ClientClass) throw new Error(`aws-sdk:${service}: ${packageName} has no client class`);
        const client = turns ? takeTurns(new ClientClass(clientConfig), turns) : new ClientClass(clientConfig);
        entry = { send: (command) => client.send(command), module };
        clients.set(service, entry);
      }
      return entry;
    },
  };
}

export function awsSdkIntegration(service: string, action: string, clients: SdkClients): (input: unknown) => Promise<unknown> {
  const commandName = `${action.charAt(0).toUpperCase()}${action.slice(1)}Command`;
  const prefix = ERROR_PREFIX[service] ?? service.charAt(0).toUpperCase() + service.slice(1);
  return async (input) => {
    const { send, module } = clients.clientFor(service);
    const Command = module[commandName] as CommandClass | undefined;
    if (typeof Command !== 'function') throw new Error(`aws-sdk:${service}:${action}: the SDK has no ${commandName}`);
    try {
      return stepFunctionsJson(await send(new Command(input ?? {})));
    } catch (error) {
      const { code, message, status, requestId } = serviceErrorParts(error);
      const name = code.endsWith('Exception') ? code : `${code}Exception`;
      throw new TaskError(`${prefix}.${name}`, `${message} (Service: ${prefix}, Status Code: ${status}, Request ID: ${requestId})`);
    }
  };
}

const DYNAMODB_COMMANDS: Record<string, string> = {
  putItem: 'PutItemCommand',
  getItem: 'GetItemCommand',
  updateItem: 'UpdateItemCommand',
  deleteItem: 'DeleteItemCommand',
};

export function dynamoDbIntegration(api: string, clients: SdkClients): (input: unknown) => Promise<unknown> {
  const commandName = DYNAMODB_COMMANDS[api];
  if (!commandName) throw new Error(`dynamodb:${api} is not an optimized DynamoDB integration (putItem, getItem, updateItem, deleteItem are)`);
  return async (input) => {
    const { send, module } = clients.clientFor('dynamodb');
    try {
      return stepFunctionsJson(await send(new (module[commandName] as CommandClass)(input)));
    } catch (error) {
      const { code, message, status, requestId } = serviceErrorParts(error);
      throw new TaskError(
        `DynamoDB.${code}`,
        `${message} (Service: AmazonDynamoDBv2; Status Code: ${status}; Error Code: ${code}; Request ID: ${requestId}; Proxy: null)`,
      );
    }
  };
}
