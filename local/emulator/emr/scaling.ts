/**
 * EMR managed scaling for instance-fleet clusters: the core and task fleets grow when running steps ask
 * for more units than the cluster has, and shrink after a quiet period, within the policy's ComputeLimits.
 *
 * A step's demand in units comes from its spark-submit arguments (then the cluster's spark-defaults):
 *   executors × executor cores, plus the driver's cores in cluster deploy mode, over the vCPUs per unit of
 *   the cluster's core and task instances (an instance's vCPUs / its WeightedCapacity), rounded up.
 * executors = `spark.executor.instances` (or `--num-executors`); with dynamic allocation and no fixed
 * count, `spark.dynamicAllocation.maxExecutors`. executor cores = `spark.executor.cores` (or
 * `--executor-cores`, default 1 as on YARN); driver cores = `spark.driver.cores` (default 1). A step that
 * names no executor count has no known demand (0): it runs on what the cluster has. Memory is not modelled.
 * Only RUNNING steps count: a PENDING EMR step has submitted nothing to YARN yet.
 *
 * Where capacity goes (ComputeLimits, EMR API reference): the CORE fleet up to MaximumCoreCapacityUnits
 * (default: MaximumCapacityUnits), then TASK; On-Demand up to MaximumOnDemandCapacityUnits (default:
 * MaximumCapacityUnits), then Spot. Scale-in removes TASK before CORE, Spot before On-Demand, newest first,
 * never the last core instance, and lowers the fleets' targets with it.
 */
import type { ComputeLimits, ManagedScalingPolicy } from '@aws-sdk/client-emr';
import { ComputeLimitsUnitType } from '@aws-sdk/client-emr';
import { loadPrices } from '../../../lib/config/prices';
import { CLUSTER_READY_STATES } from '../../../lib/contract';
import { validation } from '../protocol';
import type { EmrCluster, EmrContext, EmrFleet, EmrInstance, EmrStep } from './model';
import type { OnTheWire } from '../protocol';
import { validated } from './validate';

/**
 * Managed scaling evaluates cluster metrics "every 5 to 10 seconds" (EMR Management Guide, "Use Amazon
 * EMR cluster scaling to adjust for changing workloads", comparison table). The emulator acts 10 s after a
 * change in demand or capacity.
 */
export const MANAGED_SCALING_EVALUATION_SECONDS = 10;

/**
 * Scale-in waits until the cluster has had more units than its running steps need for one metrics period:
 * managed scaling publishes its metrics "at a one-minute granularity" (EMR Management Guide,
 * "Understanding managed scaling metrics"). EMR documents no fixed scale-in delay; this is the emulator's
 * reading of that period, and the unit of the job manager's scale-in tests.
 */
export const MANAGED_SCALING_SCALE_IN_QUIET_SECONDS = 60;

const LIVE = new Set(['AWAITING_FULFILLMENT', 'PROVISIONING', 'BOOTSTRAPPING', 'RUNNING']);
const SCALED_ROLES = new Set(['CORE', 'TASK']);

/** vCPUs of an instance type: the project's price book, else the size (xlarge 4, Nxlarge 4N, large 2). */
export function vcpusOf(instanceType: string): number {
  const listed = loadPrices().instanceTypes[instanceType]?.vcpu;
  if (listed) return listed;
  const size = instanceType.split('.')[1] ?? 'xlarge';
  const multiple = /^(\d+)xlarge$/.exec(size);
  if (multiple) return Number(multiple[1]) * 4;
  return ({ nano: 1, micro: 1, small: 1, medium: 1, large: 2, xlarge: 4 } as Record<string, number>)[size] ?? 4;
}

/** `--conf k=v` and the spark-submit flags that set the same keys, before the application jar. */
function sparkSubmitConf(args: string[]): Record<string, string> {
  const conf: Record<string, string> = {};
  const flags: Record<string, string> = {
    '--num-executors': 'spark.executor.instances',
    '--executor-cores': 'spark.executor.cores',
    '--driver-cores': 'spark.driver.cores',
    '--deploy-mode': 'spark.submit.deployMode',
  };
  for (let i = args[0] === 'spark-submit' ? 1 : 0; i < args.length; i += 1) {
    const arg = args[i];
    if (!arg.startsWith('--')) break;
    const value = args[i + 1];
    if (arg === '--conf' && value?.includes('=')) {
      const at = value.indexOf('=');
      conf[value.slice(0, at)] = value.slice(at + 1);
    } else if (flags[arg] && value !== undefined) {
      conf[flags[arg]] = value;
    }
    i += 1;
  }
  return conf;
}

function clusterSparkDefaults(cluster: EmrCluster): Record<string, string> {
  const defaults = cluster.Configurations.find((c) => c.Classification === 'spark-defaults');
  return { ...(defaults?.Properties ?? {}) };
}

/** vCPUs per unit of the cluster's core and task capacity (4 for r5.4xlarge at WeightedCapacity 4). */
function vcpusPerUnit(cluster: EmrCluster): number {
  const scaled = cluster.instances.filter((i) => SCALED_ROLES.has(i.role) && LIVE.has(i.state));
  const sample = scaled.length ? scaled : cluster.instances.filter((i) => SCALED_ROLES.has(i.role));
  const units = sample.reduce((sum, i) => sum + i.weight, 0);
  return units > 0 ? sample.reduce((sum, i) => sum + vcpusOf(i.InstanceType), 0) / units : 4;
}

/** The units a step's Spark application asks for (see the module comment); 0 when it names no executor count. */
export function stepDemandUnits(cluster: EmrCluster, step: EmrStep): number {
  if (step.Config.Args[0] !== 'spark-submit') return 0;
  const conf = { ...clusterSparkDefaults(cluster), ...sparkSubmitConf(step.Config.Args) };
  const positive = (value: string | undefined) => (value !== undefined && Number(value) > 0 ? Number(value) : undefined);
  const dynamic = conf['spark.dynamicAllocation.enabled'] === 'true';
  const executors = positive(conf['spark.executor.instances']) ?? (dynamic ? positive(conf['spark.dynamicAllocation.maxExecutors']) : undefined);
  if (executors === undefined) return 0;
  const executorCores = positive(conf['spark.executor.cores']) ?? 1;
  const driverCores = conf['spark.submit.deployMode'] === 'cluster' ? (positive(conf['spark.driver.cores']) ?? 1) : 0;
  return Math.ceil((executors * executorCores + driverCores) / vcpusPerUnit(cluster));
}

/** Validates a policy for the cluster (RunJobFlow, PutManagedScalingPolicy); throws ValidationException naming the field. */
export function validateManagedScalingPolicy(policy: unknown, field: string, collection: EmrCluster['InstanceCollectionType']): ManagedScalingPolicy {
  const fail = (at: string, message: string): never => {
    throw validation(`${field}.${at}: ${message}`);
  };
  if (typeof policy !== 'object' || policy === null || Array.isArray(policy)) fail('', 'must be an object');
  const limits = (policy as OnTheWire<ManagedScalingPolicy>).ComputeLimits as Record<string, unknown> | undefined;
  if (typeof limits !== 'object' || limits === null) return fail('ComputeLimits', 'is required');
  const unitTypes = Object.values(ComputeLimitsUnitType) as string[];
  if (!unitTypes.includes(limits.UnitType as string))
    fail('ComputeLimits.UnitType', `must be one of ${unitTypes.join(' | ')}, got ${JSON.stringify(limits.UnitType)}`);
  if (collection === 'INSTANCE_FLEET' && limits.UnitType !== 'InstanceFleetUnits') {
    fail('ComputeLimits.UnitType', `a cluster with instance fleets is scaled in InstanceFleetUnits, got ${limits.UnitType}`);
  }
  if (collection === 'INSTANCE_GROUP') {
    fail('ComputeLimits', 'the emulator models managed scaling for instance-fleet clusters only; use InstanceFleets (or no ManagedScalingPolicy)');
  }
  const integer = (name: string, min: number, required: boolean): number | undefined => {
    const value = limits[name];
    if (value === undefined || value === null) return required ? fail(`ComputeLimits.${name}`, 'is required') : undefined;
    if (!Number.isInteger(value) || (value as number) < min)
      fail(`ComputeLimits.${name}`, `must be an integer of at least ${min}, got ${JSON.stringify(value)}`);
    return value as number;
  };
  const min = validated(integer('MinimumCapacityUnits', 1, true), 'ComputeLimits.MinimumCapacityUnits');
  const max = validated(integer('MaximumCapacityUnits', 1, true), 'ComputeLimits.MaximumCapacityUnits');
  if (max < min) fail('ComputeLimits.MaximumCapacityUnits', `must be at least MinimumCapacityUnits (${min}), got ${max}`);
  for (const name of ['MaximumOnDemandCapacityUnits', 'MaximumCoreCapacityUnits']) {
    const value = integer(name, name === 'MaximumCoreCapacityUnits' ? 1 : 0, false);
    if (value !== undefined && value > max) fail(`ComputeLimits.${name}`, `must be at most MaximumCapacityUnits (${max}), got ${value}`);
  }
  return structuredClone(policy as ManagedScalingPolicy);
}

export class ManagedScaling {
  constructor(private readonly ctx: EmrContext) {}

  put(cluster: EmrCluster, policy: ManagedScalingPolicy): void {
    cluster.ManagedScalingPolicy = policy;
    cluster.scalingQuietSince = undefined;
    this.demandChanged(cluster);
  }

  remove(cluster: EmrCluster): void {
    cluster.ManagedScalingPolicy = undefined;
    cluster.scalingQuietSince = undefined;
  }

  /** A step started or ended, or the cluster became ready: evaluate after the evaluation period. */
  demandChanged(cluster: EmrCluster): void {
    if (!cluster.ManagedScalingPolicy || cluster.scalingEvaluationPending) return;
    cluster.scalingEvaluationPending = true;
    this.ctx.lifecycle.schedule(cluster, MANAGED_SCALING_EVALUATION_SECONDS, () => {
      cluster.scalingEvaluationPending = false;
      this.evaluate(cluster);
    });
  }

  /** Added instances are running: fleets that were resizing are done, and demand may want more. */
  capacityChanged(cluster: EmrCluster): void {
    for (const fleet of cluster.fleets) {
      const starting = cluster.instances.some((i) => i.InstanceFleetId === fleet.Id && (i.state === 'PROVISIONING' || i.state === 'BOOTSTRAPPING'));
      if (fleet.state === 'RESIZING' && !starting) fleet.state = 'RUNNING';
    }
    this.demandChanged(cluster);
  }

  /** Units the running steps ask for. */
  demand(cluster: EmrCluster): number {
    return cluster.steps.filter((s) => s.state === 'RUNNING').reduce((sum, s) => sum + stepDemandUnits(cluster, s), 0);
  }

  /** Core and task units requested: running and still coming up. */
  capacity(cluster: EmrCluster): number {
    return this.scalable(cluster).reduce((sum, i) => sum + i.weight, 0);
  }

  private scalable(cluster: EmrCluster): EmrInstance[] {
    return cluster.instances.filter((i) => SCALED_ROLES.has(i.role) && LIVE.has(i.state));
  }

  private evaluate(cluster: EmrCluster): void {
    const limits = cluster.ManagedScalingPolicy?.ComputeLimits;
    if (!limits || !CLUSTER_READY_STATES.has(cluster.state)) return;
    const wanted = Math.min(Number(limits.MaximumCapacityUnits), Math.max(Number(limits.MinimumCapacityUnits), this.demand(cluster)));
    const have = this.capacity(cluster);
    if (wanted > have) {
      cluster.scalingQuietSince = undefined;
      this.scaleOut(cluster, limits, wanted - have);
      return;
    }
    if (wanted === have) {
      cluster.scalingQuietSince = undefined;
      return;
    }
    const { clock } = this.ctx.deps;
    cluster.scalingQuietSince ??= clock.nowSeconds();
    const quietSeconds = clock.nowSeconds() - cluster.scalingQuietSince;
    if (quietSeconds < MANAGED_SCALING_SCALE_IN_QUIET_SECONDS) {
      if (cluster.scalingRecheckPending) return;
      cluster.scalingRecheckPending = true;
      this.ctx.lifecycle.schedule(cluster, MANAGED_SCALING_SCALE_IN_QUIET_SECONDS - quietSeconds, () => {
        cluster.scalingRecheckPending = false;
        this.evaluate(cluster);
      });
      return;
    }
    cluster.scalingQuietSince = undefined;
    this.scaleIn(cluster, have - wanted);
  }

  private scaleOut(cluster: EmrCluster, limits: ComputeLimits, units: number): void {
    const now = this.ctx.deps.clock.nowSeconds();
    const core = cluster.fleets.find((f) => f.InstanceFleetType === 'CORE');
    const task = cluster.fleets.find((f) => f.InstanceFleetType === 'TASK');
    const live = this.scalable(cluster);
    const unitsOf = (match: (i: EmrInstance) => boolean) => live.filter(match).reduce((sum, i) => sum + i.weight, 0);
    const coreRoom = core ? Math.max(0, (limits.MaximumCoreCapacityUnits ?? Number(limits.MaximumCapacityUnits)) - unitsOf((i) => i.role === 'CORE')) : 0;
    let onDemandRoom = Math.max(0, (limits.MaximumOnDemandCapacityUnits ?? Number(limits.MaximumCapacityUnits)) - unitsOf((i) => i.Market === 'ON_DEMAND'));
    const toCore = task ? Math.min(units, coreRoom) : units;
    const plan: Array<[EmrFleet | undefined, number]> = [
      [core, toCore],
      [task, units - toCore],
    ];
    const added: string[] = [];
    for (const [fleet, share] of plan) {
      if (!fleet || share <= 0) continue;
      const onDemand = Math.min(share, onDemandRoom);
      onDemandRoom -= onDemand;
      for (const [market, amount] of [
        ['ON_DEMAND', onDemand],
        ['SPOT', share - onDemand],
      ] as const) {
        if (amount <= 0) continue;
        const instances = this.ctx.capacity.launch(cluster, fleet, amount, market, now);
        const provided = instances.reduce((sum, i) => sum + i.weight, 0);
        if (market === 'ON_DEMAND') fleet.TargetOnDemandCapacity += provided;
        else fleet.TargetSpotCapacity += provided;
        fleet.state = 'RESIZING';
        added.push(`${fleet.InstanceFleetType} +${provided} ${market}`);
        this.ctx.capacity.bringUp(cluster, instances);
      }
    }
    this.note(cluster, `managed scaling: scale out by ${units} unit(s) for the running steps' demand (${added.join(', ')})`);
  }

  private scaleIn(cluster: EmrCluster, units: number): void {
    const now = this.ctx.deps.clock.nowSeconds();
    const rank = (i: EmrInstance) => (i.role === 'TASK' ? 0 : 2) + (i.Market === 'SPOT' ? 0 : 1);
    const candidates = this.scalable(cluster)
      .map((instance, order) => ({ instance, order }))
      .sort((a, b) => rank(a.instance) - rank(b.instance) || b.order - a.order)
      .map((e) => e.instance);
    let removed = 0;
    for (const instance of candidates) {
      if (removed + instance.weight > units) continue;
      const lastCore = instance.role === 'CORE' && this.scalable(cluster).filter((i) => i.role === 'CORE').length === 1;
      if (lastCore) continue;
      instance.state = 'TERMINATED';
      instance.reason = { Message: 'Instance was terminated by EMR managed scaling (scale-in: the running steps need fewer units).' };
      instance.timeline.EndDateTime = now;
      const fleet = cluster.fleets.find((f) => f.Id === instance.InstanceFleetId);
      if (fleet) {
        if (instance.Market === 'SPOT') fleet.TargetSpotCapacity = Math.max(0, fleet.TargetSpotCapacity - instance.weight);
        else fleet.TargetOnDemandCapacity = Math.max(0, fleet.TargetOnDemandCapacity - instance.weight);
      }
      removed += instance.weight;
    }
    if (removed > 0)
      this.note(cluster, `managed scaling: scale in by ${removed} unit(s) after ${MANAGED_SCALING_SCALE_IN_QUIET_SECONDS} s with fewer running steps`);
  }

  private note(cluster: EmrCluster, message: string): void {
    this.ctx.deps.emit({ resource: 'note', id: cluster.Id, state: 'NOTE', message });
  }
}
