/**
 * Request validation for RunJobFlow and AddJobFlowSteps with the limits of the EMR API reference. Every
 * message starts with the field path, so a wrong value in a state machine's Parameters is easy to find.
 */
import type { JobFlowInstancesConfig, RunJobFlowCommandInput } from '@aws-sdk/client-emr';
import { validation } from '../protocol';
import type { OnTheWire } from '../protocol';

type Obj = Record<string, unknown>;

const FLEET_TYPES = ['MASTER', 'CORE', 'TASK'] as const;
const TIMEOUT_ACTIONS = ['SWITCH_TO_ON_DEMAND', 'TERMINATE_CLUSTER'] as const;
const SPOT_ALLOCATION_STRATEGIES = ['capacity-optimized', 'price-capacity-optimized', 'lowest-price', 'diversified', 'capacity-optimized-prioritized'] as const;
const ON_DEMAND_ALLOCATION_STRATEGIES = ['lowest-price', 'prioritized'] as const;
const ACTIONS_ON_FAILURE = ['TERMINATE_JOB_FLOW', 'TERMINATE_CLUSTER', 'CANCEL_AND_WAIT', 'CONTINUE'] as const;
export const MAX_ACTIVE_STEPS = 256;

/** A field the API requires, which validate.ts checked before the service reads it: its value. */
export function validated<T>(value: T | null | undefined, field: string): T {
  if (value === undefined || value === null) throw new Error(`emulator: ${field} reached the service without validation`);
  return value;
}

function fail(field: string, message: string): never {
  throw validation(`${field}: ${message}`);
}

function isObject(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A member of a value that may not be an object (undefined when it is not one). */
function member(value: unknown, key: string): unknown {
  return isObject(value) ? value[key] : undefined;
}

function requireString(value: unknown, field: string, max = 256): string {
  if (typeof value !== 'string' || value.length === 0) fail(field, 'is required and must be a non-empty string');
  if (value.length > max) fail(field, `must be at most ${max} characters`);
  return value;
}

function optionalInteger(value: unknown, field: string, min: number, max: number): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Number.isInteger(value)) fail(field, `must be an integer, got ${JSON.stringify(value)}`);
  if ((value as number) < min || (value as number) > max) fail(field, `must be between ${min} and ${max}, got ${value}`);
  return value as number;
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], field: string): T {
  if (!allowed.includes(value as T)) fail(field, `must be one of ${allowed.join(' | ')}, got ${JSON.stringify(value)}`);
  return value as T;
}

function validateFleet(fleet: unknown, field: string): void {
  if (!isObject(fleet)) fail(field, 'must be an object');
  const type = oneOf(fleet.InstanceFleetType, FLEET_TYPES, `${field}.InstanceFleetType`);
  const onDemand = optionalInteger(fleet.TargetOnDemandCapacity, `${field}.TargetOnDemandCapacity`, 0, 2147483647) ?? 0;
  const spot = optionalInteger(fleet.TargetSpotCapacity, `${field}.TargetSpotCapacity`, 0, 2147483647) ?? 0;
  if (type === 'MASTER' && onDemand + spot !== 1) {
    fail(field, 'the MASTER fleet needs exactly one of TargetOnDemandCapacity or TargetSpotCapacity set to 1');
  }
  if (type === 'CORE' && onDemand + spot < 1) fail(field, 'the CORE fleet needs TargetOnDemandCapacity + TargetSpotCapacity >= 1');
  const configs = fleet.InstanceTypeConfigs;
  const launch = fleet.LaunchSpecifications;
  const hasStrategy =
    isObject(launch) && (member(launch.SpotSpecification, 'AllocationStrategy') || member(launch.OnDemandSpecification, 'AllocationStrategy'));
  const maxTypes = hasStrategy ? 30 : 5;
  if (!Array.isArray(configs) || configs.length === 0) fail(`${field}.InstanceTypeConfigs`, 'must list at least one instance type');
  if (configs.length > maxTypes) {
    fail(
      `${field}.InstanceTypeConfigs`,
      `at most ${maxTypes} instance types ${hasStrategy ? 'with' : 'without'} an allocation strategy, got ${configs.length}`,
    );
  }
  configs.forEach((config: unknown, i: number) => {
    const at = `${field}.InstanceTypeConfigs[${i}]`;
    if (!isObject(config)) fail(at, 'must be an object');
    requireString(config.InstanceType, `${at}.InstanceType`);
    optionalInteger(config.WeightedCapacity, `${at}.WeightedCapacity`, 1, 2147483647);
    if (config.BidPriceAsPercentageOfOnDemandPrice !== undefined) {
      const pct = config.BidPriceAsPercentageOfOnDemandPrice;
      if (typeof pct !== 'number' || pct < 0 || pct > 1000) fail(`${at}.BidPriceAsPercentageOfOnDemandPrice`, 'must be a number between 0 and 1000');
    }
  });
  if (launch !== undefined) {
    if (!isObject(launch)) fail(`${field}.LaunchSpecifications`, 'must be an object');
    const spotSpec = launch.SpotSpecification;
    if (spotSpec !== undefined) {
      const at = `${field}.LaunchSpecifications.SpotSpecification`;
      if (!isObject(spotSpec)) fail(at, 'must be an object');
      if (spotSpec.TimeoutDurationMinutes === undefined) fail(`${at}.TimeoutDurationMinutes`, 'is required');
      optionalInteger(spotSpec.TimeoutDurationMinutes, `${at}.TimeoutDurationMinutes`, 5, 1440);
      oneOf(spotSpec.TimeoutAction, TIMEOUT_ACTIONS, `${at}.TimeoutAction`);
      if (spotSpec.AllocationStrategy !== undefined) oneOf(spotSpec.AllocationStrategy, SPOT_ALLOCATION_STRATEGIES, `${at}.AllocationStrategy`);
    }
    const onDemandSpec = launch.OnDemandSpecification;
    if (onDemandSpec !== undefined) {
      const at = `${field}.LaunchSpecifications.OnDemandSpecification`;
      if (!isObject(onDemandSpec)) fail(at, 'must be an object');
      oneOf(onDemandSpec.AllocationStrategy, ON_DEMAND_ALLOCATION_STRATEGIES, `${at}.AllocationStrategy`);
    }
  }
}

function validateGroup(group: unknown, field: string): void {
  if (!isObject(group)) fail(field, 'must be an object');
  oneOf(group.InstanceRole, FLEET_TYPES, `${field}.InstanceRole`);
  requireString(group.InstanceType, `${field}.InstanceType`);
  optionalInteger(group.InstanceCount, `${field}.InstanceCount`, 0, 2147483647);
  if (group.InstanceCount === undefined) fail(`${field}.InstanceCount`, 'is required');
  if (group.Market !== undefined) oneOf(group.Market, ['ON_DEMAND', 'SPOT'] as const, `${field}.Market`);
  if (group.InstanceRole === 'MASTER' && group.InstanceCount !== 1 && group.InstanceCount !== 3) {
    fail(`${field}.InstanceCount`, 'the MASTER group has 1 instance (or 3 for high availability)');
  }
}

export function validateSteps(steps: unknown, field: string, stepConcurrencyLevel: number): void {
  if (!Array.isArray(steps)) fail(field, 'must be a list of steps');
  if (steps.length > MAX_ACTIVE_STEPS) fail(field, `at most ${MAX_ACTIVE_STEPS} steps per request`);
  steps.forEach((step: unknown, i: number) => {
    const at = `${field}[${i}]`;
    if (!isObject(step)) fail(at, 'must be an object');
    requireString(step.Name, `${at}.Name`);
    if (!isObject(step.HadoopJarStep)) fail(`${at}.HadoopJarStep`, 'is required');
    requireString(step.HadoopJarStep.Jar, `${at}.HadoopJarStep.Jar`, 10280);
    const args = step.HadoopJarStep.Args;
    if (args !== undefined && (!Array.isArray(args) || args.some((a: unknown) => typeof a !== 'string'))) {
      fail(`${at}.HadoopJarStep.Args`, 'must be a list of strings');
    }
    const action = step.ActionOnFailure ?? 'TERMINATE_CLUSTER';
    oneOf(action, ACTIONS_ON_FAILURE, `${at}.ActionOnFailure`);
    if (stepConcurrencyLevel > 1 && action !== 'CONTINUE') {
      fail(`${at}.ActionOnFailure`, `${action} is not supported when StepConcurrencyLevel is greater than 1 (${stepConcurrencyLevel}); use CONTINUE`);
    }
  });
}

/** A RunJobFlow request that passed validateRunJobFlow: the fields the emulator needs are there. */
export type ValidRunJobFlow = OnTheWire<RunJobFlowCommandInput> & { Name: string; ReleaseLabel: string; Instances: OnTheWire<JobFlowInstancesConfig> };

/** Validates a RunJobFlow request; throws ValidationException naming the first bad field. */
export function validateRunJobFlow(input: Obj): asserts input is ValidRunJobFlow {
  requireString(input.Name, 'Name');
  const releaseLabel = requireString(input.ReleaseLabel, 'ReleaseLabel');
  if (!/^emr-\d+\.\d+\.\d+$/.test(releaseLabel)) fail('ReleaseLabel', `is not a valid release label: ${releaseLabel}`);
  if (input.LogUri !== undefined && !/^s3[an]?:\/\/[^/]+/.test(String(input.LogUri))) fail('LogUri', 'must be an s3:// URI');
  const scl = optionalInteger(input.StepConcurrencyLevel, 'StepConcurrencyLevel', 1, 256) ?? 1;
  if (input.AutoTerminationPolicy !== undefined) {
    if (!isObject(input.AutoTerminationPolicy)) fail('AutoTerminationPolicy', 'must be an object');
    optionalInteger(input.AutoTerminationPolicy.IdleTimeout, 'AutoTerminationPolicy.IdleTimeout', 60, 604800);
  }
  if (input.Tags !== undefined) {
    if (!Array.isArray(input.Tags)) fail('Tags', 'must be a list of {Key, Value}');
    input.Tags.forEach((t: unknown, i: number) => {
      if (!isObject(t)) fail(`Tags[${i}]`, 'must be an object');
      requireString(t.Key, `Tags[${i}].Key`, 128);
      if (t.Value !== undefined && (typeof t.Value !== 'string' || t.Value.length > 256))
        fail(`Tags[${i}].Value`, 'must be a string of at most 256 characters');
    });
  }
  const instances = input.Instances;
  if (!isObject(instances)) fail('Instances', 'is required');
  if (instances.KeepJobFlowAliveWhenNoSteps !== undefined && typeof instances.KeepJobFlowAliveWhenNoSteps !== 'boolean') {
    fail('Instances.KeepJobFlowAliveWhenNoSteps', 'must be true or false');
  }
  const fleets = instances.InstanceFleets;
  const groups = instances.InstanceGroups;
  if (fleets !== undefined && groups !== undefined) fail('Instances', 'use InstanceFleets or InstanceGroups, not both');
  if (fleets === undefined && groups === undefined) fail('Instances', 'InstanceFleets or InstanceGroups is required');
  const collection = fleets ?? groups;
  const field = fleets ? 'Instances.InstanceFleets' : 'Instances.InstanceGroups';
  if (!Array.isArray(collection) || collection.length === 0) fail(field, 'must be a non-empty list');
  for (const [i, item] of collection.entries()) {
    if (fleets) validateFleet(item, `${field}[${i}]`);
    else validateGroup(item, `${field}[${i}]`);
  }
  const roleOf = (item: Obj) => (fleets ? item.InstanceFleetType : item.InstanceRole);
  for (const role of ['MASTER', 'CORE', 'TASK']) {
    const count = collection.filter((item: Obj) => roleOf(item) === role).length;
    if (role === 'MASTER' && count !== 1) fail(field, `exactly one MASTER ${fleets ? 'fleet' : 'group'} is required, got ${count}`);
    if (fleets && role !== 'MASTER' && count > 1) fail(field, `at most one ${role} fleet, got ${count}`);
  }
  if (input.Steps !== undefined) validateSteps(input.Steps, 'Steps', scl);
  if (input.BootstrapActions !== undefined) validateBootstrapActions(input.BootstrapActions);
}

/**
 * An enum-valued request member, checked as AWS's JSON front end checks every modelled constraint:
 * ValidationException "1 validation error detected: Value … at '<member>' failed to satisfy constraint".
 * `allowed` is the SDK's own enum, so the emulator accepts exactly what the service model lists.
 */
export function validateEnum(value: unknown, member: string, allowed: Record<string, string>): void {
  if (value === undefined || value === null) return;
  const values = Object.values(allowed);
  const shown = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));
  if (Array.isArray(value)) {
    if (value.every((v) => values.includes(v))) return;
    throw validation(
      `1 validation error detected: Value '[${value.map(shown).join(', ')}]' at '${member}' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [${values.join(', ')}]]`,
    );
  }
  if (values.includes(value as string)) return;
  throw validation(
    `1 validation error detected: Value '${shown(value)}' at '${member}' failed to satisfy constraint: Member must satisfy enum value set: [${values.join(', ')}]`,
  );
}

function validateBootstrapActions(actions: unknown): void {
  if (!Array.isArray(actions)) fail('BootstrapActions', 'must be a list of {Name, ScriptBootstrapAction: {Path, Args}}');
  actions.forEach((action: unknown, i: number) => {
    const at = `BootstrapActions[${i}]`;
    if (!isObject(action)) fail(at, 'must be an object');
    requireString(action.Name, `${at}.Name`);
    if (!isObject(action.ScriptBootstrapAction)) fail(`${at}.ScriptBootstrapAction`, 'is required');
    requireString(action.ScriptBootstrapAction.Path, `${at}.ScriptBootstrapAction.Path`, 10280);
    const args = action.ScriptBootstrapAction.Args;
    if (args !== undefined && (!Array.isArray(args) || args.some((a: unknown) => typeof a !== 'string'))) {
      fail(`${at}.ScriptBootstrapAction.Args`, 'must be a list of strings');
    }
  });
}
