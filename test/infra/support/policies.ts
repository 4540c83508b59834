/**
 * Every IAM policy document of a packaged template, with its CloudFormation intrinsics rendered the way
 * CloudFormation would resolve them in one example account and region, so that IAM linters (which read
 * plain ARNs) can check them: identity policies of roles, trust policies, and bucket policies.
 * An intrinsic or resource type this file cannot render is an error, not a silent placeholder.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Template } from './template';
import { repoRoot } from './template';

export const EXAMPLE = { partition: 'aws', region: 'us-east-1', accountId: '123456789012', stage: 'dev' };

export interface RenderedPolicy {
  /** Logical id, policy name and both-branch marker of an Fn::If, for messages and waivers. */
  id: string;
  kind: 'identity' | 'trust' | 'resource';
  document: { Version?: string; Statement: any[] };
}

/** What `Ref` and `Fn::GetAtt …Arn` give for each resource type the policies reference. */
const physical: Record<string, { ref: (id: string) => string; arn?: (id: string) => string }> = {
  'AWS::S3::Bucket': { ref: (id) => `emrflow-dev-${id.toLowerCase()}-example`, arn: (id) => `arn:aws:s3:::emrflow-dev-${id.toLowerCase()}-example` },
  'AWS::DynamoDB::Table': { ref: (id) => `emrflow-dev-${id}`, arn: (id) => `arn:aws:dynamodb:us-east-1:123456789012:table/emrflow-dev-${id}` },
  'AWS::Lambda::Function': { ref: (id) => `emrflow-dev-${id}`, arn: (id) => `arn:aws:lambda:us-east-1:123456789012:function:emrflow-dev-${id}` },
  'AWS::Logs::LogGroup': { ref: (id) => `/aws/emrflow/${id}`, arn: (id) => `arn:aws:logs:us-east-1:123456789012:log-group:/aws/emrflow/${id}:*` },
  'AWS::IAM::Role': { ref: (id) => `emrflow-dev-${id}`, arn: (id) => `arn:aws:iam::123456789012:role/emrflow-dev-${id}` },
  'AWS::IAM::InstanceProfile': { ref: (id) => `emrflow-dev-${id}`, arn: (id) => `arn:aws:iam::123456789012:instance-profile/emrflow-dev-${id}` },
  'AWS::StepFunctions::StateMachine': {
    ref: (id) => `arn:aws:states:us-east-1:123456789012:stateMachine:emrflow-dev-${id}`,
    arn: (id) => `arn:aws:states:us-east-1:123456789012:stateMachine:emrflow-dev-${id}`,
  },
  'AWS::SNS::Topic': { ref: (id) => `arn:aws:sns:us-east-1:123456789012:emrflow-dev-${id}` },
  'AWS::Glue::Database': { ref: (id) => id.toLowerCase() },
  'AWS::Glue::Crawler': { ref: (id) => id },
  // Ref of an EMR Serverless application is its id (AWS makes it up: 00f…).
  'AWS::EMRServerless::Application': {
    ref: () => '00fexampleapp0001',
    arn: () => 'arn:aws:emr-serverless:us-east-1:123456789012:/applications/00fexampleapp0001',
  },
};

const pseudo: Record<string, string> = {
  'AWS::Partition': EXAMPLE.partition,
  'AWS::Region': EXAMPLE.region,
  'AWS::AccountId': EXAMPLE.accountId,
  'AWS::URLSuffix': 'amazonaws.com',
};

export function renderIntrinsics(template: Template, value: unknown, where: string): unknown {
  const ref = (name: string): string => {
    if (name in pseudo) return pseudo[name];
    const parameter = template.Parameters?.[name];
    if (parameter) return String(parameter.Default);
    const resource = template.Resources[name];
    const kind = resource && physical[resource.Type];
    if (!kind) throw new Error(`${where}: cannot render Ref ${name} (${resource?.Type ?? 'not in the template'})`);
    return kind.ref(name);
  };
  const getAtt = ([name, attribute]: [string, string]): string => {
    const resource = template.Resources[name];
    const arn = resource && attribute === 'Arn' ? physical[resource.Type]?.arn : undefined;
    if (!arn) throw new Error(`${where}: cannot render Fn::GetAtt ${name}.${attribute} (${resource?.Type ?? 'not in the template'})`);
    return arn(name);
  };
  const render = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(render);
    if (!node || typeof node !== 'object') return node;
    const entries = Object.entries(node as Record<string, unknown>);
    if (entries.length === 1) {
      const [[fn, arg]] = entries;
      if (fn === 'Ref') return ref(arg as string);
      if (fn === 'Fn::GetAtt') return getAtt(arg as [string, string]);
      if (fn === 'Fn::Sub') {
        const [text, variables = {}] = typeof arg === 'string' ? [arg, {}] : (arg as [string, Record<string, unknown>]);
        return text.replace(/\$\{([^}]+)\}/g, (_, name: string) => {
          if (name in variables) return String(render(variables[name]));
          if (name.includes('.')) return getAtt(name.split('.') as [string, string]);
          return ref(name);
        });
      }
      if (fn === 'Fn::Join') {
        const [separator, parts] = arg as [string, unknown[]];
        return (render(parts) as unknown[]).join(separator);
      }
      if (fn.startsWith('Fn::')) throw new Error(`${where}: cannot render ${fn}`);
    }
    return Object.fromEntries(entries.map(([key, item]) => [key, render(item)]));
  };
  return render(value);
}

/**
 * Statements inside `Fn::If` are split into one policy per branch (a branch of `Ref: AWS::NoValue` drops
 * the statement), so each deployable variant is checked.
 */
function variants(statements: any[]): Array<{ suffix: string; statements: any[] }> {
  const conditional = statements.findIndex((s) => s && typeof s === 'object' && 'Fn::If' in s);
  if (conditional < 0) return [{ suffix: '', statements }];
  const [condition, whenTrue, whenFalse] = statements[conditional]['Fn::If'];
  const branch = (value: any) => (value && typeof value === 'object' && value.Ref === 'AWS::NoValue' ? [] : [value]);
  return [true, false].flatMap((taken) =>
    variants([...statements.slice(0, conditional), ...branch(taken ? whenTrue : whenFalse), ...statements.slice(conditional + 1)]).map((rest) => ({
      suffix: `[${condition}=${taken}]${rest.suffix}`,
      statements: rest.statements,
    })),
  );
}

export function templatePolicies(template: Template): RenderedPolicy[] {
  const policies: RenderedPolicy[] = [];
  const add = (id: string, kind: RenderedPolicy['kind'], document: any) => {
    for (const variant of variants(document.Statement)) {
      const rendered = renderIntrinsics(template, { ...document, Statement: variant.statements }, id) as RenderedPolicy['document'];
      policies.push({ id: `${id}${variant.suffix}`, kind, document: rendered });
    }
  };
  for (const [id, resource] of Object.entries(template.Resources)) {
    const props = resource.Properties ?? {};
    switch (resource.Type) {
      case 'AWS::IAM::Role':
        add(`${id} trust`, 'trust', props.AssumeRolePolicyDocument);
        for (const policy of props.Policies ?? []) add(`${id}/${policy.PolicyName}`, 'identity', policy.PolicyDocument);
        break;
      case 'AWS::IAM::Policy':
      case 'AWS::IAM::ManagedPolicy':
        add(id, 'identity', props.PolicyDocument);
        break;
      case 'AWS::S3::BucketPolicy':
        add(id, 'resource', props.PolicyDocument);
        break;
      default:
        if (/Policy$/.test(resource.Type)) throw new Error(`${id}: policy type ${resource.Type} is not extracted; add it to ${__filename}`);
    }
  }
  return policies;
}

export interface IamAudit {
  policies: number;
  parliament: Array<{ policy: string; issue: string; severity: string; title: string; detail: string; location: Record<string, unknown> }>;
  sentry: { problems: string[]; conditionKeysChecked: string[] };
}

const python = join(repoRoot, '.venv', 'bin', 'python');

export function missingIamTools(): string[] {
  if (!existsSync(python)) return [python];
  const probe = spawnSync(python, ['-c', 'import parliament, policy_sentry'], { encoding: 'utf8' });
  return probe.status === 0 ? [] : ['parliament / policy_sentry (pip install -r requirements-dev.txt)'];
}

/** Runs parliament and policy_sentry (test/infra/support/iam_audit.py) on the given policies. */
export function auditPolicies(policies: RenderedPolicy[]): IamAudit {
  const result = spawnSync(python, [join(__dirname, 'iam_audit.py')], {
    input: JSON.stringify(policies),
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.status !== 0) throw new Error(`iam_audit.py failed:\n${result.stderr}`);
  return JSON.parse(result.stdout);
}

export interface ParliamentWaiver {
  issue: string;
  policies: string[];
  actions?: string[];
  reason: string;
}

const globMatches = (pattern: string, name: string) =>
  new RegExp(
    `^${pattern
      .split('*')
      .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  ).test(name);

const sameSet = (a: string[], b: string[]) => a.length === b.length && [...a].sort().every((x, i) => x === [...b].sort()[i]);

/** Splits parliament's findings into waived and not, and names the waivers that matched nothing. */
export function applyWaivers(findings: IamAudit['parliament'], waivers: ParliamentWaiver[]) {
  for (const waiver of waivers) {
    if (!waiver.issue || !waiver.policies?.length || !waiver.reason?.trim()) {
      throw new Error(`parliament waiver needs issue, policies and a reason: ${JSON.stringify(waiver)}`);
    }
  }
  const used = new Set<ParliamentWaiver>();
  const unwaived: string[] = [];
  const waived: string[] = [];
  for (const finding of findings) {
    const actions = finding.location?.actions as string[] | undefined;
    const waiver = waivers.find(
      (w) =>
        w.issue === finding.issue &&
        w.policies.some((pattern) => globMatches(pattern, finding.policy)) &&
        (w.actions === undefined || (actions !== undefined && sameSet(w.actions, actions))),
    );
    const label = `${finding.severity} ${finding.issue} ${finding.policy}${actions ? ` ${actions.join(',')}` : ''} ${finding.detail}`.trim();
    if (waiver) {
      used.add(waiver);
      waived.push(label);
    } else {
      unwaived.push(label);
    }
  }
  return { unwaived, waived, stale: waivers.filter((w) => !used.has(w)).map((w) => `${w.issue} ${w.policies.join(', ')}`) };
}
