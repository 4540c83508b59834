/**
 * The first-run defects a documentation audit of the packaged template found (issue 21): what a first deploy
 * in a fresh account, or a second stage in the same account, would hit. As in deploy-readiness.test.ts, each
 * check is a function run on the packaged template (or on what the app sends EMR) and, as its negative
 * control, on the shape that was wrong.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadPools } from '../../lib/config/pools';
import { loadPrices } from '../../lib/config/prices';
import { EMR_EVENT, EMR_STATES_WITHOUT_EVENT, TAG } from '../../lib/contract';
import { placeJob } from '../../lib/domain/placement';
import { poolClusterSpec } from '../../lib/domain/poolCluster';
import { parseCloudFormationYaml } from '../../local/runner/serverless-config';
import { request, shippedPlacementConfig, sizing } from '../unit/fixtures';
import { packagedTemplate } from './support/packaged';
import { actionsOf, resourceText, resourcesOfType, roleStatements, type Statement, type Template } from './support/template';

let template: Template;
beforeAll(() => {
  ({ template } = packagedTemplate());
}, 180_000);

const clone = <T>(value: T): T => JSON.parse(JSON.stringify(value));
const definition = (t: Template, machine = 'RunJobStateMachine'): any => {
  const sub = t.Resources[machine].Properties.DefinitionString['Fn::Sub'];
  return JSON.parse(Array.isArray(sub) ? sub[0] : sub);
};
const rolesAllowing = (t: Template, action: string) =>
  new Set(
    roleStatements(t)
      .filter(({ statement }) => statement.Effect === 'Allow' && actionsOf(statement).includes(action))
      .map(({ role }) => role),
  );

// ---------- 1. whoever launches may create EMR's cleanup service-linked role ----------
const CLEANUP_ROLE_ARN = 'arn:${AWS::Partition}:iam::${AWS::AccountId}:role/aws-service-role/elasticmapreduce.amazonaws.com*/AWSServiceRoleForEMRCleanup*';
/** The EMR guide's form ("Using service-linked roles"): this role only, created for EMR only. */
const createsCleanupRole = (statement: Statement) =>
  statement.Effect === 'Allow' &&
  actionsOf(statement).includes('iam:CreateServiceLinkedRole') &&
  resourceText(statement.Resource) === CLEANUP_ROLE_ARN &&
  JSON.stringify(statement.Condition?.StringLike?.['iam:AWSServiceName']) ===
    JSON.stringify(['elasticmapreduce.amazonaws.com', 'elasticmapreduce.amazonaws.com.cn']);

/** Roles that may RunJobFlow but not create AWSServiceRoleForEMRCleanup: the first launch in an account fails. */
function launchersWithoutCleanupRole(t: Template): string[] {
  const creators = new Set(
    roleStatements(t)
      .filter(({ statement }) => createsCleanupRole(statement))
      .map(({ role }) => role),
  );
  return [...rolesAllowing(t, 'elasticmapreduce:RunJobFlow')].filter((role) => !creators.has(role)).sort();
}

describe('1. AWSServiceRoleForEMRCleanup for every role that launches', () => {
  it('lets the state machine and the job manager roles that may RunJobFlow create it, in the documented form', () => {
    expect([...rolesAllowing(template, 'elasticmapreduce:RunJobFlow')].sort()).toEqual(
      ['AcquireCapacityRole', 'DispatchQueueRole', 'ReleaseCapacityRole', 'RunJobStateMachineRole'].sort(),
    );
    expect(launchersWithoutCleanupRole(template)).toEqual([]);
    expect([...rolesAllowing(template, 'iam:CreateServiceLinkedRole')].sort()).toEqual([...rolesAllowing(template, 'elasticmapreduce:RunJobFlow')].sort());
  });

  it('negative control: the job manager roles as they were (only the state machine could) are reported', () => {
    const before = clone(template);
    for (const role of ['AcquireCapacityRole', 'ReleaseCapacityRole', 'DispatchQueueRole']) {
      const document = before.Resources[role].Properties.Policies[0].PolicyDocument;
      document.Statement = document.Statement.filter((statement: Statement) => !createsCleanupRole(statement));
    }

    expect(launchersWithoutCleanupRole(before)).toEqual(['AcquireCapacityRole', 'DispatchQueueRole', 'ReleaseCapacityRole']);
  });
});

// ---------- 2. an allocation strategy on every fleet ----------
interface Fleet {
  Name?: string;
  LaunchSpecifications?: { SpotSpecification?: { AllocationStrategy?: string }; OnDemandSpecification?: { AllocationStrategy?: string } };
}
/**
 * Fleets without an allocation strategy for each market they may buy: such a fleet takes at most 5 instance
 * types, and once any fleet of the cluster has one EMR wants it on all (terraform-provider-aws#25132).
 */
function fleetsWithoutStrategy(fleets: Fleet[]): string[] {
  return fleets
    .filter(
      (fleet) => !fleet.LaunchSpecifications?.OnDemandSpecification?.AllocationStrategy && !fleet.LaunchSpecifications?.SpotSpecification?.AllocationStrategy,
    )
    .map((fleet) => fleet.Name ?? '(unnamed)');
}
const createClusterFleets = (asl: any): Fleet[] => asl.States.CreateCluster.Parameters.Instances.InstanceFleets;
const poolFleets = (): Fleet[] => {
  const prices = loadPrices();
  return loadPools(prices).pools.flatMap((pool) => poolClusterSpec(pool, 'hash', 'launch-1', prices, 'dev').InstanceFleets);
};

describe('2. every instance fleet has an allocation strategy', () => {
  it("names one on every fleet of run-job's CreateCluster and of every configured pool's clusters", () => {
    expect(createClusterFleets(definition(template)).map((fleet) => fleet.Name)).toEqual(['Primary', 'Core', 'Task']);
    expect(fleetsWithoutStrategy(createClusterFleets(definition(template)))).toEqual([]);
    expect(poolFleets().length).toBeGreaterThanOrEqual(3);
    expect(fleetsWithoutStrategy(poolFleets())).toEqual([]);
    // The primary is On-Demand only: lowest-price, nothing to say about Spot.
    expect(createClusterFleets(definition(template))[0].LaunchSpecifications).toEqual({ OnDemandSpecification: { AllocationStrategy: 'lowest-price' } });
  });

  it('negative control: the primary fleet as it was (no LaunchSpecifications) is reported, in the ASL and in a pool spec', () => {
    const asl = parseCloudFormationYaml(readFileSync(join(__dirname, '../../statemachines/run-job.asl.yml'), 'utf8'));
    delete createClusterFleets(asl)[0].LaunchSpecifications;
    const [primary, ...rest] = poolFleets();
    const { LaunchSpecifications: _dropped, ...primaryBefore } = primary;

    expect(fleetsWithoutStrategy(createClusterFleets(asl))).toEqual(['Primary']);
    expect(fleetsWithoutStrategy([primaryBefore, ...rest])).toEqual(['Primary']);
  });
});

// ---------- 3. the stage: on every cluster, in every EMR condition ----------
const TAG_CONDITION = /^aws:(RequestTag|ResourceTag)\/emrflow:/;
/** EMR statements scoped by this app's tag but not by the stage: one stage's role could act on another's clusters. */
function emrStatementsWithoutStage(t: Template): string[] {
  return roleStatements(t)
    .filter(({ statement }) => actionsOf(statement).some((action) => action.startsWith('elasticmapreduce:')))
    .flatMap(({ role, statement }) =>
      Object.values<Record<string, unknown>>(statement.Condition ?? {}).flatMap((block) => {
        const keys = Object.keys(block).filter((key) => TAG_CONDITION.test(key));
        const prefixes = new Set(keys.map((key) => key.slice(0, key.indexOf('/'))));
        return [...prefixes]
          .filter((prefix) => block[`${prefix}/${TAG.stage}`] !== 'dev')
          .map((prefix) => `${role}/${statement.Sid}: ${prefix}/${TAG.app} without ${prefix}/${TAG.stage}`);
      }),
    );
}
const tagsOf = (tags: Array<{ Key: string; Value: string }>) => Object.fromEntries(tags.map((tag) => [tag.Key, tag.Value]));

describe('3. stage-scoped clusters', () => {
  it('conditions every tag-scoped EMR statement on this stage as well as this app', () => {
    const scoped = roleStatements(template).filter(({ statement }) =>
      Object.values(statement.Condition ?? {}).some((block: any) => Object.keys(block).some((key) => TAG_CONDITION.test(key))),
    );

    expect(scoped.length).toBeGreaterThanOrEqual(10);
    expect(emrStatementsWithoutStage(template)).toEqual([]);
  });

  it('negative control: the reaper and cleanup statement as it was (app tag only) is reported for both roles', () => {
    const before = clone(template);
    for (const role of ['ReapClustersRole', 'CleanupExecutionRole']) {
      const terminate = before.Resources[role].Properties.Policies[0].PolicyDocument.Statement.find((s: Statement) => s.Sid === 'TerminateOwnClusters');
      terminate.Condition = { StringEquals: { 'aws:ResourceTag/emrflow:app': 'emrflow' } };
    }

    expect(emrStatementsWithoutStage(before)).toEqual([
      'CleanupExecutionRole/TerminateOwnClusters: aws:ResourceTag/emrflow:app without aws:ResourceTag/emrflow:stage',
      'ReapClustersRole/TerminateOwnClusters: aws:ResourceTag/emrflow:app without aws:ResourceTag/emrflow:stage',
    ]);
  });

  it('tags every cluster the app creates with its stage: dedicated (PlaceJob) and pool (the dispatcher)', async () => {
    const prices = loadPrices();
    const [pool] = loadPools(prices).pools;
    const dedicated = await placeJob(
      { request: request(), sizing: sizing(), attempt: 1, executionName: 'exec-1' },
      { ...shippedPlacementConfig(), pools: [], stage: 'dev' },
    );

    expect(tagsOf(dedicated.spec!.tags)).toMatchObject({ [TAG.app]: 'emrflow', [TAG.stage]: 'dev' });
    expect(tagsOf(poolClusterSpec(pool, 'hash', 'launch-1', prices, 'dev').Tags)).toMatchObject({ [TAG.app]: 'emrflow', [TAG.stage]: 'dev' });
    // The functions that tag (place-job, the launching job manager functions) know their stage.
    for (const fn of ['PlaceJobLambdaFunction', 'AcquireCapacityLambdaFunction', 'ReleaseCapacityLambdaFunction', 'DispatchQueueLambdaFunction']) {
      expect({ fn, stage: template.Resources[fn].Properties.Environment.Variables.STAGE }).toEqual({ fn, stage: 'dev' });
    }
  });
});

// ---------- 4. buckets kept when the stack goes ----------
/** The framework's own bucket: `serverless remove` empties it before it deletes the stack. */
const FRAMEWORK_BUCKETS = new Set(['ServerlessDeploymentBucket']);
/** The app's buckets CloudFormation would try to delete (with the stack, or on replacement): one holding objects fails it. */
function bucketsNotRetained(t: Template): string[] {
  return resourcesOfType(t, 'AWS::S3::Bucket')
    .filter(([id]) => !FRAMEWORK_BUCKETS.has(id))
    .filter(([, bucket]: [string, any]) => bucket.DeletionPolicy !== 'Retain' || bucket.UpdateReplacePolicy !== 'Retain')
    .map(([id]) => id);
}

describe('4. DeletionPolicy on every bucket', () => {
  it('retains every bucket, LogsBucket included, on delete and on replacement', () => {
    expect(resourcesOfType(template, 'AWS::S3::Bucket').map(([id]) => id)).toContain('LogsBucket');
    expect(bucketsNotRetained(template)).toEqual([]);
  });

  it('negative control: LogsBucket as it was (no policies) is reported', () => {
    const before: any = clone(template);
    delete before.Resources.LogsBucket.DeletionPolicy;
    delete before.Resources.LogsBucket.UpdateReplacePolicy;

    expect(bucketsNotRetained(before)).toEqual(['LogsBucket']);
  });
});

// ---------- 5. no rule waits for an event EMR never sends ----------
/** EMR event rules whose detail.state lists a state EMR documents no event for. */
function rulesWaitingForUnsentEvents(t: Template): string[] {
  return resourcesOfType(t, 'AWS::Events::Rule').flatMap(([id, rule]: [string, any]) => {
    const pattern = rule.Properties.EventPattern;
    if (!pattern?.source?.includes(EMR_EVENT.source)) return [];
    const kind = pattern['detail-type']?.includes(EMR_EVENT.clusterStateChange) ? 'cluster' : 'step';
    return (pattern.detail?.state ?? []).filter((state: string) => EMR_STATES_WITHOUT_EVENT[kind].has(state)).map((state: string) => `${id}: ${kind} ${state}`);
  });
}

describe('5. EMR events that do not exist', () => {
  it('lets no EventBridge rule wait for a TERMINATING cluster or an INTERRUPTED step', () => {
    const emrRules = resourcesOfType(template, 'AWS::Events::Rule').filter(([, rule]: [string, any]) =>
      rule.Properties.EventPattern?.source?.includes('aws.emr'),
    );

    expect(emrRules.length).toBeGreaterThanOrEqual(3);
    expect(rulesWaitingForUnsentEvents(template)).toEqual([]);
  });

  it('negative control: the SettleSteps patterns as they were are reported', () => {
    const before: any = clone(template);
    for (const [, rule] of resourcesOfType(before, 'AWS::Events::Rule') as Array<[string, any]>) {
      const pattern = rule.Properties.EventPattern;
      if (pattern?.detail?.state?.includes('TERMINATED')) pattern.detail.state = ['TERMINATING', ...pattern.detail.state];
      if (pattern?.detail?.state?.includes('COMPLETED')) pattern.detail.state = [...pattern.detail.state, 'INTERRUPTED'];
    }

    expect(
      rulesWaitingForUnsentEvents(before)
        .map((problem) => problem.replace(/^\S+: /, ''))
        .sort(),
    ).toEqual(['cluster TERMINATING', 'step INTERRUPTED']);
  });
});

// ---------- 6. a scheduled start with nothing to do ----------
/** The state machines' way out for a scheduled start without data or manifest: a Catch to a Succeed state. */
function nothingToDoExits(asl: any, state: string): string[] {
  return (asl.States[state].Catch ?? [])
    .filter((catcher: any) => catcher.ErrorEquals.includes('Schedule.NothingToDo'))
    .map((catcher: any) => `${catcher.Next}:${asl.States[catcher.Next]?.Type}`);
}

describe('6. scheduled starts with nothing to do', () => {
  it('ends run-job (NormalizeRequest) and run-batch (PlanBatch) in a Succeed state, not a Fail that sets off the alarms', () => {
    expect(nothingToDoExits(definition(template), 'NormalizeRequest')).toEqual(['NothingToDo:Succeed']);
    expect(nothingToDoExits(definition(template, 'RunBatchStateMachine'), 'PlanBatch')).toEqual(['NothingToDo:Succeed']);
  });

  it('negative control: NormalizeRequest as it was (no such catcher) has no way out but failing', () => {
    const asl = definition(template);
    asl.States.NormalizeRequest.Catch = asl.States.NormalizeRequest.Catch.filter((catcher: any) => !catcher.ErrorEquals.includes('Schedule.NothingToDo'));

    expect(nothingToDoExits(asl, 'NormalizeRequest')).toEqual([]);
  });
});
