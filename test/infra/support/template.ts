/**
 * Packages the service with osls exactly as `npm run package` does (offline, without AWS credentials) and
 * reads the CloudFormation template it writes, with helpers to look at its IAM statements.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const repoRoot = join(__dirname, '../../..');
export const templateFileName = 'cloudformation-template-update-stack.json';

export type Template = {
  Parameters?: Record<string, any>;
  Conditions?: Record<string, any>;
  Rules?: Record<string, any>;
  Resources: Record<string, { Type: string; Properties?: any; Condition?: string; DependsOn?: unknown }>;
};

/** Runs `serverless package` into outDir with every AWS credential source removed from its environment. */
export function packageService(outDir: string): Template {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('AWS_')) env[key] = value;
  env.AWS_CONFIG_FILE = join(outDir, 'no-aws-config');
  env.AWS_SHARED_CREDENTIALS_FILE = join(outDir, 'no-aws-credentials');
  const osls = require.resolve('osls/bin/serverless.js', { paths: [repoRoot] });
  execFileSync(process.execPath, [osls, 'package', '--stage', 'dev', '--package', outDir], {
    cwd: repoRoot,
    env,
    stdio: 'pipe',
  });
  return JSON.parse(readFileSync(join(outDir, templateFileName), 'utf8'));
}

export function resourcesOfType(template: Template, type: string): Array<[string, any]> {
  return Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);
}

export interface Statement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

/** One statement of an identity policy, with the role it belongs to and whether a Condition guards it. */
export interface OwnedStatement {
  role: string;
  statement: Statement;
  /** The template condition of an `Fn::If` branch the statement sits in, if any. */
  onlyIf?: string;
}

/** Every statement of every role's inline policies; both meaningful branches of an `Fn::If` are kept. */
export function roleStatements(template: Template): OwnedStatement[] {
  const owned: OwnedStatement[] = [];
  for (const [role, resource] of resourcesOfType(template, 'AWS::IAM::Role')) {
    for (const policy of resource.Properties.Policies ?? []) {
      for (const entry of policy.PolicyDocument.Statement) {
        if (entry['Fn::If']) {
          const [condition, whenTrue, whenFalse] = entry['Fn::If'];
          for (const branch of [whenTrue, whenFalse]) {
            if (branch && !('Ref' in branch)) owned.push({ role, statement: branch, onlyIf: condition });
          }
        } else {
          owned.push({ role, statement: entry });
        }
      }
    }
  }
  return owned;
}

export const actionsOf = (statement: Statement): string[] => (Array.isArray(statement.Action) ? statement.Action : [statement.Action]);

export const resourcesOf = (statement: Statement): unknown[] => (Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource]);

/** The actions a role is allowed, sorted, across all its statements. */
export function allowedActions(template: Template, role: string): string[] {
  const actions = roleStatements(template)
    .filter((owned) => owned.role === role && owned.statement.Effect === 'Allow')
    .flatMap((owned) => actionsOf(owned.statement));
  return [...new Set(actions)].sort();
}

/** A resource given as a plain string or `Fn::Sub` template, for pattern checks; intrinsics stay JSON. */
export function resourceText(resource: unknown): string {
  if (typeof resource === 'string') return resource;
  const sub = (resource as any)?.['Fn::Sub'];
  if (typeof sub === 'string') return sub;
  return JSON.stringify(resource);
}
