import type { Cluster, ClusterState, ClusterStateChangeReason, FailureDetails, InstanceFleet, Instance, Step } from '@aws-sdk/client-emr';

/** EMR response parts shaped as DescribeCluster / ListInstanceFleets / ListInstances / DescribeStep return them. */
export const CLUSTER_ID = 'j-2AXXXXXXGAPLF';
const t = (iso: string) => new Date(iso);

export function cluster(state: ClusterState, reason?: ClusterStateChangeReason): Cluster {
  return {
    Id: CLUSTER_ID,
    Name: 'emrflow denormalize-events-2026-11-26 attempt 1',
    Status: {
      State: state,
      StateChangeReason: reason ?? { Message: state === 'WAITING' ? 'Cluster ready to run steps.' : undefined },
      Timeline: { CreationDateTime: t('2026-11-27T05:00:00Z'), ReadyDateTime: t('2026-11-27T05:07:30Z') },
    },
    InstanceCollectionType: 'INSTANCE_FLEET',
    ReleaseLabel: 'emr-7.10.0',
  };
}

export function fleet(
  type: 'MASTER' | 'CORE' | 'TASK',
  capacity: { targetOd: number; targetSpot: number; provisionedOd: number; provisionedSpot: number },
  state: 'RUNNING' | 'RESIZING' | 'TERMINATED' | 'PROVISIONING' = 'RUNNING',
): InstanceFleet {
  return {
    Id: `if-${type}`,
    Name: type === 'MASTER' ? 'Primary' : type === 'CORE' ? 'Core' : 'Task',
    InstanceFleetType: type,
    Status: {
      State: state,
      StateChangeReason: {},
      Timeline: { CreationDateTime: t('2026-11-27T05:00:00Z'), ReadyDateTime: state === 'PROVISIONING' ? undefined : t('2026-11-27T05:07:00Z') },
    },
    TargetOnDemandCapacity: capacity.targetOd,
    TargetSpotCapacity: capacity.targetSpot,
    ProvisionedOnDemandCapacity: capacity.provisionedOd,
    ProvisionedSpotCapacity: capacity.provisionedSpot,
  };
}

export function instance(
  id: string,
  market: 'ON_DEMAND' | 'SPOT',
  state: 'RUNNING' | 'TERMINATED',
  reason: { Code?: 'INSTANCE_FAILURE' | 'CLUSTER_TERMINATED' | 'INTERNAL_ERROR'; Message?: string } = {},
): Instance {
  return {
    Id: `ci-${id}`,
    Ec2InstanceId: `i-${id}`,
    InstanceFleetId: market === 'SPOT' ? 'if-TASK' : 'if-CORE',
    InstanceType: 'r5.4xlarge',
    Market: market,
    Status: {
      State: state,
      StateChangeReason: reason,
      Timeline: { CreationDateTime: t('2026-11-27T05:01:00Z'), ReadyDateTime: t('2026-11-27T05:06:00Z') },
    },
  };
}

export function step(state: 'RUNNING' | 'FAILED' | 'COMPLETED' | 'CANCELLED', failure?: FailureDetails): Step {
  return {
    Id: 's-1HT4QE4GS2M8K',
    Name: 'denormalize-events denormalize-events-2026-11-26 attempt 1',
    ActionOnFailure: 'CONTINUE',
    Config: { Jar: 'command-runner.jar', Args: ['spark-submit'] },
    Status: {
      State: state,
      StateChangeReason: {},
      FailureDetails: failure,
      Timeline: {
        CreationDateTime: t('2026-11-27T05:07:40Z'),
        StartDateTime: t('2026-11-27T05:08:00Z'),
        EndDateTime: state === 'RUNNING' ? undefined : t('2026-11-27T05:20:00Z'),
      },
    },
  };
}

export const HEALTHY_FLEETS = [
  fleet('MASTER', { targetOd: 1, targetSpot: 0, provisionedOd: 1, provisionedSpot: 0 }),
  fleet('CORE', { targetOd: 8, targetSpot: 0, provisionedOd: 8, provisionedSpot: 0 }),
  fleet('TASK', { targetOd: 0, targetSpot: 56, provisionedOd: 0, provisionedSpot: 56 }),
];

export const SPARK_FAILURE = {
  Reason: 'Unknown Error.',
  Message: 'Exception in thread "main" org.apache.spark.sql.AnalysisException: Path does not exist: s3://emrflow-raw/events/dt=2026-11-26/',
  LogFile: 's3://emrflow-logs/emr/j-2AXXXXXXGAPLF/steps/s-1HT4QE4GS2M8K/stderr.gz',
};
