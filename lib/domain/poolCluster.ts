/**
 * The RunJobFlow fields of a pool cluster, as plain JSON in the API's PascalCase (runPoolCluster in
 * lib/aws/emr.ts adds the account's roles, log bucket and subnets and sends it). Pure: no SDK, no environment.
 *
 * A pool cluster starts at the pool's managed-scaling minimum: the core fleet On-Demand at `coreUnits`
 * (it hosts HDFS and the drivers' application masters, so it never scales), the rest of the minimum as
 * Spot task capacity. EMR managed scaling then moves it between minimumUnits and maximumUnits with the
 * jobs' load; MaximumCoreCapacityUnits and MaximumOnDemandCapacityUnits at coreUnits keep every unit it
 * adds in the task fleet on Spot, so scaling never grows the fleet jobs cannot afford to lose.
 */
import { APP_NAME, TAG, poolClusterName } from '../contract';
import type { PoolDefinition } from '../config/pools';
import type { PriceBook } from '../config/prices';
import { unitsOf } from './pricing';
import type { InstanceTypeConfig } from './types';

/** Minutes EMR waits for Spot task capacity before it switches to On-Demand (as dedicated clusters). */
export const POOL_SPOT_TIMEOUT_MINUTES = 10;

export interface PoolClusterSpec {
  Name: string;
  ReleaseLabel: string;
  Applications: Array<{ Name: string }>;
  Configurations: PoolDefinition['configurations'];
  StepConcurrencyLevel: number;
  AutoTerminationPolicy: { IdleTimeout: number };
  ManagedScalingPolicy: {
    ComputeLimits: {
      UnitType: 'InstanceFleetUnits';
      MinimumCapacityUnits: number;
      MaximumCapacityUnits: number;
      MaximumOnDemandCapacityUnits: number;
      MaximumCoreCapacityUnits: number;
    };
  };
  InstanceFleets: Array<{
    Name: string;
    InstanceFleetType: 'MASTER' | 'CORE' | 'TASK';
    TargetOnDemandCapacity: number;
    TargetSpotCapacity: number;
    InstanceTypeConfigs: InstanceTypeConfig[];
    /** On every fleet: without an allocation strategy a fleet takes at most 5 types, and EMR wants one on all once any has one. */
    LaunchSpecifications: {
      SpotSpecification?: { TimeoutDurationMinutes: number; TimeoutAction: 'SWITCH_TO_ON_DEMAND'; AllocationStrategy: 'price-capacity-optimized' };
      OnDemandSpecification: { AllocationStrategy: 'lowest-price' };
    };
  }>;
  Tags: Array<{ Key: string; Value: string }>;
}

export function poolClusterSpec(pool: PoolDefinition, configHash: string, launchId: string, prices: PriceBook, stage: string): PoolClusterSpec {
  const weighted = (types: string[]) => types.map((t) => ({ InstanceType: t, WeightedCapacity: unitsOf(prices, t) }));
  const launchSpecifications = {
    SpotSpecification: {
      TimeoutDurationMinutes: POOL_SPOT_TIMEOUT_MINUTES,
      TimeoutAction: 'SWITCH_TO_ON_DEMAND' as const,
      AllocationStrategy: 'price-capacity-optimized' as const,
    },
    OnDemandSpecification: { AllocationStrategy: 'lowest-price' as const },
  };
  const tags: Record<string, string> = {
    [TAG.app]: APP_NAME,
    [TAG.stage]: stage,
    [TAG.pool]: pool.name,
    [TAG.configHash]: configHash,
    [TAG.emrManagedPolicies]: 'true',
  };
  return {
    Name: poolClusterName(pool.name, launchId),
    ReleaseLabel: pool.releaseLabel,
    Applications: pool.applications.map((Name) => ({ Name })),
    Configurations: pool.configurations,
    StepConcurrencyLevel: pool.stepConcurrencyLevel,
    AutoTerminationPolicy: { IdleTimeout: pool.idleTimeoutSeconds },
    ManagedScalingPolicy: poolScalingPolicy(pool),
    InstanceFleets: [
      {
        Name: 'Primary',
        InstanceFleetType: 'MASTER',
        TargetOnDemandCapacity: 1,
        TargetSpotCapacity: 0,
        InstanceTypeConfigs: pool.fleets.primary.map((t) => ({ InstanceType: t, WeightedCapacity: 1 })),
        LaunchSpecifications: { OnDemandSpecification: launchSpecifications.OnDemandSpecification },
      },
      {
        Name: 'Core',
        InstanceFleetType: 'CORE',
        TargetOnDemandCapacity: pool.fleets.coreUnits,
        TargetSpotCapacity: 0,
        InstanceTypeConfigs: weighted(pool.fleets.core),
        LaunchSpecifications: launchSpecifications,
      },
      {
        Name: 'Task',
        InstanceFleetType: 'TASK',
        TargetOnDemandCapacity: 0,
        TargetSpotCapacity: pool.managedScaling.minimumUnits - pool.fleets.coreUnits,
        InstanceTypeConfigs: weighted(pool.fleets.task),
        LaunchSpecifications: launchSpecifications,
      },
    ],
    Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
  };
}

/**
 * The pool's managed-scaling policy, at its own minimum or at a raised one (lib/jobManager/prescale.ts puts it
 * with PutManagedScalingPolicy, which replaces the whole policy: every limit is sent again, not only the minimum).
 */
export function poolScalingPolicy(pool: PoolDefinition, minimumUnits = pool.managedScaling.minimumUnits): PoolClusterSpec['ManagedScalingPolicy'] {
  return {
    ComputeLimits: {
      UnitType: 'InstanceFleetUnits',
      MinimumCapacityUnits: Math.min(minimumUnits, pool.managedScaling.maximumUnits),
      MaximumCapacityUnits: pool.managedScaling.maximumUnits,
      MaximumOnDemandCapacityUnits: pool.fleets.coreUnits,
      MaximumCoreCapacityUnits: pool.fleets.coreUnits,
    },
  };
}
