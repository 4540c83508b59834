import { CLUSTER_ENDED_STATES, CLUSTER_READY_STATES, STATES_ERROR } from '../contract';
import { FailureKind } from '../errors';
import type { Failure, Placement } from './types';

/** EMR's state-change reason as DescribeCluster / ListInstances / ListInstanceFleets spell it. */
export interface StateChangeReason {
  Code?: string;
  Message?: string;
}

// The parts of the EMR responses classification reads (the SDK's output types fit these shapes).

/** EMR timelines: the SDK gives Dates, JSON (a Step Functions Cause, a test) gives ISO strings. */
export type Instant = Date | string | number;
export interface ObservedTimeline {
  CreationDateTime?: Instant;
  StartDateTime?: Instant;
  ReadyDateTime?: Instant;
  EndDateTime?: Instant;
}

export interface ObservedCluster {
  Id?: string;
  Name?: string;
  Status?: { State?: string; StateChangeReason?: StateChangeReason; Timeline?: ObservedTimeline };
}
export interface ObservedFleet {
  Id?: string;
  Name?: string;
  InstanceFleetType?: string;
  Status?: { State?: string; StateChangeReason?: StateChangeReason; Timeline?: { ReadyDateTime?: Date | string } };
  TargetOnDemandCapacity?: number;
  TargetSpotCapacity?: number;
  ProvisionedOnDemandCapacity?: number;
  ProvisionedSpotCapacity?: number;
}
export interface ObservedInstance {
  Id?: string;
  Ec2InstanceId?: string;
  InstanceType?: string;
  InstanceFleetId?: string;
  Market?: string;
  Status?: { State?: string; StateChangeReason?: StateChangeReason; Timeline?: ObservedTimeline };
}
export interface ObservedStep {
  Id?: string;
  Name?: string;
  Status?: {
    State?: string;
    StateChangeReason?: StateChangeReason;
    FailureDetails?: { Reason?: string; Message?: string; LogFile?: string };
    Timeline?: ObservedTimeline;
  };
}

/** What the handler could learn from EMR; anything it could not get is absent and named in apiErrors. */
export interface Observation {
  cluster?: ObservedCluster;
  fleets?: ObservedFleet[];
  instances?: ObservedInstance[];
  step?: ObservedStep;
  apiErrors: string[];
}

export interface ClassifyInput {
  error: { Error?: string; Cause?: string };
  attempt: number;
  maxAttempts: number;
  placement: Pick<Placement, 'mode' | 'cluster' | 'slot'> | null;
  clusterId: string | null;
  observation: Observation;
}

/** EMR has no Spot reason code: lost Spot nodes show only in messages like these. */
const SPOT_TEXT = /spot|capacity|interrupt|reclaim/i;
/**
 * Nodes a resize removed (managed scaling scale-in, a shrink): EMR gives them no INSTANCE_FAILURE code
 * (InstanceStateChangeReason codes: INTERNAL_ERROR, VALIDATION_ERROR, INSTANCE_FAILURE, BOOTSTRAP_FAILURE,
 * CLUSTER_TERMINATED), only a message about the resize. They are not a job's failure.
 */
const SCALE_IN_TEXT = /resiz|scal(?:e|ing)[ -]?(?:in|down)|managed scaling|shrink|decommission/i;
const MAX_BACKOFF_SECONDS = 900;
/**
 * How long a job displaced from an ended pool cluster waits before it is placed again: two of the dispatcher's
 * one-minute sweeps. EMR sends no event while a cluster terminates, so the registry learns it from the sweep's
 * ListClusters (or the TERMINATED event); placed sooner, the job could be leased the same ended cluster again.
 * (RunPooledStep used to retry the refused AddJobFlowSteps as throttling for about as long.)
 */
const DISPLACED_BACKOFF_SECONDS = 120;
const CLUSTER_ID = /\bj-[A-Z0-9]{6,}\b/;

/**
 * The cluster the failure concerns: PlaceJob's or CreateCluster's id, else the one in the Catch's Cause —
 * a failed createCluster.sync carries the cluster description as JSON there; other causes may only mention it.
 */
export function clusterIdOf(placement: Partial<Pick<Placement, 'cluster' | 'slot'>> | null | undefined, cause: string | undefined): string | null {
  if (placement?.cluster?.ClusterId) return placement.cluster.ClusterId;
  // A pooled job runs on the cluster its lease is on.
  if (placement?.slot?.clusterId) return placement.slot.clusterId;
  if (!cause) return null;
  try {
    const parsed = JSON.parse(cause) as Record<string, unknown>;
    const nested = parsed.Cluster as Record<string, unknown> | undefined;
    for (const candidate of [parsed.ClusterId, parsed.Id, parsed.JobFlowId, nested?.Id]) {
      if (typeof candidate === 'string' && CLUSTER_ID.test(candidate)) return candidate;
    }
  } catch {
    // Not JSON: fall through to the text match.
  }
  return CLUSTER_ID.exec(cause)?.[0] ?? null;
}

/**
 * Tells a Spot interruption (retry with more On-Demand) from a step failure or a cluster failure (stop),
 * and says what must be torn down. Spot is judged first: a lost executor also fails the step or times it
 * out, and retrying on safer capacity is the right answer to both.
 */
export function classifyFailure(input: ClassifyInput): Failure {
  if (input.placement?.mode === 'serverless') return classifyServerlessFailure(input);
  const { error, attempt, maxAttempts, observation, clusterId } = input;
  const spot = input.placement?.mode === 'pool' ? pooledSpotEvidence(observation) : spotEvidence(observation);
  const clusterState = observation.cluster?.Status?.State;
  const stepPhase = Boolean(input.placement?.cluster?.ClusterId ?? input.placement?.slot?.clusterId);
  let kind: Failure['kind'];
  if (spot.found) kind = FailureKind.SpotInterrupted;
  else if (error.Error === STATES_ERROR.timeout) kind = FailureKind.StepTimedOut;
  else if (stepPhase && clusterState !== undefined && CLUSTER_READY_STATES.has(clusterState)) kind = FailureKind.StepFailed;
  else kind = FailureKind.ClusterFailed;

  const displaced = kind === FailureKind.ClusterFailed && poolClusterGoneBeforeStep(input.placement, observation);
  const retry = (kind === FailureKind.SpotInterrupted || displaced) && attempt < maxAttempts;
  // A displaced job lost nothing but its place: it is placed again once the registry has seen its cluster end.
  const backoffSeconds = !retry ? 0 : displaced ? DISPLACED_BACKOFF_SECONDS : Math.min(MAX_BACKOFF_SECONDS, 60 * 2 ** (attempt - 1));
  const teardown = teardownFor(input, clusterState);
  return {
    kind,
    message: messageFor({ kind, clusterId, observation, error, spot, retry, attempt, maxAttempts, backoffSeconds, displaced }),
    clusterId,
    retry,
    nextAttempt: attempt + 1,
    backoffSeconds,
    teardown,
    evidence: {
      error: error.Error ?? null,
      clusterState: clusterState ?? null,
      clusterReason: observation.cluster?.Status?.StateChangeReason ?? null,
      step: observation.step
        ? {
            id: observation.step.Id ?? null,
            name: observation.step.Name ?? null,
            state: observation.step.Status?.State ?? null,
            failureDetails: observation.step.Status?.FailureDetails ?? null,
          }
        : null,
      spotInstancesLost: spot.instances,
      spotCapacityShortfall: spot.fleets,
      clusterSpotReason: spot.clusterReason,
      apiErrors: observation.apiErrors,
    },
  };
}

/**
 * A pooled job granted a lease on a cluster that then ended (idle timeout, a failure, a user) before its
 * step could run: AddJobFlowSteps was refused, or the step was cancelled unstarted. Nothing of the job ran;
 * the lease was stale, not the job at fault, so it is placed again.
 */
function poolClusterGoneBeforeStep(placement: ClassifyInput['placement'], observation: Observation): boolean {
  if (placement?.mode !== 'pool') return false;
  const state = observation.cluster?.Status?.State;
  if (state === undefined || CLUSTER_READY_STATES.has(state)) return false;
  const step = observation.step;
  return !step || (step.Status?.Timeline?.StartDateTime === undefined && step.Status?.State === 'CANCELLED');
}

function teardownFor(input: ClassifyInput, clusterState: string | undefined): Failure['teardown'] {
  if (input.placement?.mode === 'pool') return input.placement.slot ? 'release' : 'none';
  if (!input.clusterId) return 'none';
  // State unknown (DescribeCluster failed): terminating an ended cluster is harmless, leaking one is not.
  return clusterState !== undefined && CLUSTER_ENDED_STATES.has(clusterState) ? 'none' : 'terminate';
}

interface SpotEvidence {
  found: boolean;
  instances: Array<{ id: string; type: string | null; state: string | null; reason: StateChangeReason | null }>;
  fleets: Array<{ fleet: string; targetSpot: number; provisionedSpot: number; lostUnits: number }>;
  clusterReason: string | null;
}

/** A Spot instance EC2 took away (not one a resize removed, nor one that ended with its cluster). */
function lostSpotInstances(observation: Observation): ObservedInstance[] {
  return (observation.instances ?? [])
    .filter((i) => i.Market === 'SPOT' && i.Status?.State === 'TERMINATED')
    .filter((i) => {
      const reason = i.Status?.StateChangeReason;
      if (SCALE_IN_TEXT.test(reason?.Message ?? '') && reason?.Code !== 'INSTANCE_FAILURE') return false;
      return reason?.Code === 'INSTANCE_FAILURE' || SPOT_TEXT.test(reason?.Message ?? '');
    });
}

function instanceEvidence(instances: ObservedInstance[]): SpotEvidence['instances'] {
  return instances.map((i) => ({
    id: i.Ec2InstanceId ?? i.Id ?? 'unknown',
    type: i.InstanceType ?? null,
    state: i.Status?.State ?? null,
    reason: i.Status?.StateChangeReason ?? null,
  }));
}

function millis(instant: Instant | undefined): number | null {
  if (instant === undefined) return null;
  const ms = instant instanceof Date ? instant.getTime() : typeof instant === 'number' ? instant * (instant < 1e11 ? 1000 : 1) : Date.parse(instant);
  return Number.isFinite(ms) ? ms : null;
}

/**
 * On a pool cluster, instances come and go for reasons that are not this job's: managed scaling removes
 * idle nodes, and other jobs lost Spot nodes long before this step existed. So only capacity lost while
 * this job's step was on the cluster counts — from its submission (a PENDING step dies with its cluster
 * too) to its end — and never a scale-in. Fleet shortfalls are not evidence here: managed scaling moves
 * the targets, and a shortfall cannot say when it happened. A cluster that ended INSTANCE_FAILURE (its
 * primary or all its core nodes lost) counts when it ended inside the window and Spot nodes were lost in it,
 * or when the instances could not be read.
 */
function pooledSpotEvidence(observation: Observation): SpotEvidence {
  const timeline = observation.step?.Status?.Timeline;
  const from = millis(timeline?.StartDateTime) ?? millis(timeline?.CreationDateTime);
  const until = millis(timeline?.EndDateTime) ?? Number.POSITIVE_INFINITY;
  const inWindow = (instant: Instant | undefined) => {
    const at = millis(instant);
    return from !== null && at !== null && at >= from && at <= until;
  };
  // No step of this attempt on the cluster: it could not even be submitted, so whatever the cluster lost is
  // why (a lease granted just before the cluster died).
  const lost = lostSpotInstances(observation).filter((i) => from === null || inWindow(i.Status?.Timeline?.EndDateTime));
  const reason = observation.cluster?.Status?.StateChangeReason;
  const clusterLost =
    reason?.Code === 'INSTANCE_FAILURE' &&
    (lost.length > 0 || observation.instances === undefined) &&
    (from === null ||
      millis(observation.cluster?.Status?.Timeline?.EndDateTime) === null ||
      inWindow(observation.cluster?.Status?.Timeline?.EndDateTime) ||
      observation.cluster?.Status?.State === 'TERMINATING');
  const clusterReason = clusterLost ? `${reason?.Code}: ${reason?.Message ?? ''}`.trim() : null;
  return { found: lost.length > 0 || clusterReason !== null, instances: instanceEvidence(lost), fleets: [], clusterReason };
}

function spotEvidence(observation: Observation): SpotEvidence {
  const instances = instanceEvidence(lostSpotInstances(observation));

  // A running fleet below its Spot target lost Spot nodes; Spot units replaced On-Demand by
  // SWITCH_TO_ON_DEMAND at launch show up as On-Demand above target and are not a loss.
  const fleets = (observation.fleets ?? [])
    .filter((f) => f.Status?.State !== 'TERMINATED' && f.Status?.Timeline?.ReadyDateTime !== undefined)
    .map((f) => {
      const targetSpot = f.TargetSpotCapacity ?? 0;
      const provisionedSpot = f.ProvisionedSpotCapacity ?? 0;
      const switched = Math.max(0, (f.ProvisionedOnDemandCapacity ?? 0) - (f.TargetOnDemandCapacity ?? 0));
      return { fleet: f.Name ?? f.Id ?? 'unknown', targetSpot, provisionedSpot, lostUnits: targetSpot - provisionedSpot - switched };
    })
    .filter((f) => f.lostUnits > 0);

  const reason = observation.cluster?.Status?.StateChangeReason;
  const usesSpot = (observation.fleets ?? []).some((f) => (f.TargetSpotCapacity ?? 0) > 0);
  const instanceTrouble = reason?.Code === 'INSTANCE_FAILURE' || reason?.Code === 'INSTANCE_FLEET_TIMEOUT';
  const clusterReason =
    instanceTrouble && (SPOT_TEXT.test(reason?.Message ?? '') || usesSpot || instances.length > 0) ? `${reason?.Code}: ${reason?.Message ?? ''}`.trim() : null;

  return { found: instances.length > 0 || fleets.length > 0 || clusterReason !== null, instances, fleets, clusterReason };
}

function messageFor(args: {
  kind: Failure['kind'];
  clusterId: string | null;
  observation: Observation;
  error: ClassifyInput['error'];
  spot: SpotEvidence;
  retry: boolean;
  attempt: number;
  maxAttempts: number;
  backoffSeconds: number;
  displaced: boolean;
}): string {
  const { kind, clusterId, observation, error, spot } = args;
  const step = observation.step;
  const where = [clusterId ? `cluster ${clusterId}` : 'no cluster', step ? `step ${step.Id ?? '?'} "${step.Name ?? ''}"` : null].filter(Boolean).join(', ');
  let why: string;
  switch (kind) {
    case FailureKind.SpotInterrupted:
      why = [
        spot.instances.length > 0 ? `${spot.instances.length} Spot instance(s) terminated (${spot.instances.map((i) => i.id).join(', ')})` : null,
        ...spot.fleets.map((f) => `fleet ${f.fleet} lost ${f.lostUnits} Spot unit(s) (${f.provisionedSpot}/${f.targetSpot} provisioned)`),
        spot.clusterReason ? `cluster ended ${spot.clusterReason}` : null,
      ]
        .filter(Boolean)
        .join('; ');
      break;
    case FailureKind.StepTimedOut:
      why = 'the step ran past its timeout (sizing.stepTimeoutSeconds)';
      break;
    case FailureKind.StepFailed: {
      const details = step?.Status?.FailureDetails;
      why = details?.Reason || details?.Message ? `${details.Reason ?? ''} ${details.Message ?? ''}`.trim() : describeError(error);
      if (details?.LogFile) why += ` (log: ${details.LogFile})`;
      break;
    }
    default: {
      const reason = observation.cluster?.Status?.StateChangeReason;
      why = reason?.Code ? `${observation.cluster?.Status?.State ?? 'cluster'} ${reason.Code}: ${reason.Message ?? ''}`.trim() : describeError(error);
    }
  }
  let outcome = '';
  if (args.displaced) why = `the pool cluster ended before this job's step ran (${why}); nothing of the job ran`;
  if (args.retry && args.displaced)
    outcome = ` Placing it again as attempt ${args.attempt + 1} of ${args.maxAttempts} in ${args.backoffSeconds} s, once the registry has seen the cluster end.`;
  else if (args.retry) outcome = ` Retrying as attempt ${args.attempt + 1} of ${args.maxAttempts} in ${args.backoffSeconds} s with more On-Demand capacity.`;
  else if (kind === FailureKind.SpotInterrupted) outcome = ` No attempts left (maxAttempts ${args.maxAttempts}).`;
  return `${kind} on ${where}: ${why || describeError(error)}.${outcome}`;
}

function describeError(error: ClassifyInput['error']): string {
  const cause = (error.Cause ?? '').replace(/\s+/g, ' ').slice(0, 300);
  return `${error.Error ?? 'unknown error'}${cause ? `: ${cause}` : ''}`;
}

const CAPACITY_TEXT = /ApplicationMaxCapacityExceeded|maximum capacity|max(imum)? concurrent vCPU|ServiceQuotaExceeded/i;

/**
 * An EMR Serverless job run has no Spot and no cluster: nothing to tear down, no Spot retry. A job run that
 * could not get its workers (the application's maximum capacity or the account's vCPU quota) lost nothing
 * and is placed again after a backoff, when the rules may send it to a pool or a cluster of its own; a job
 * run that ran and FAILED, was CANCELLED or timed out fails the run, as a failed step does.
 */
function classifyServerlessFailure(input: ClassifyInput): Failure {
  const { error, attempt, maxAttempts } = input;
  const jobRun = jobRunOfCause(error.Cause);
  const details = jobRun?.stateDetails ?? error.Cause ?? '';
  let kind: Failure['kind'];
  if (error.Error === STATES_ERROR.timeout) kind = FailureKind.StepTimedOut;
  else if (CAPACITY_TEXT.test(details)) kind = FailureKind.CapacityExceeded;
  else kind = FailureKind.JobRunFailed;
  const retry = kind === FailureKind.CapacityExceeded && attempt < maxAttempts;
  const backoffSeconds = retry ? Math.min(MAX_BACKOFF_SECONDS, 60 * 2 ** (attempt - 1)) : 0;
  const where = jobRun?.jobRunId ? `EMR Serverless job run ${jobRun.jobRunId} (${jobRun.state ?? 'state unknown'})` : 'the EMR Serverless job run';
  const message =
    kind === FailureKind.StepTimedOut
      ? `${where} ran past its timeout; EMR Serverless cancels it at its executionTimeoutMinutes`
      : retry
        ? `${where} could not get its workers: ${details}; placing attempt ${attempt + 1} of ${maxAttempts} in ${backoffSeconds} s`
        : `${where} failed: ${details || error.Error || 'no details'}${kind === FailureKind.CapacityExceeded ? ` (attempt ${attempt} of ${maxAttempts}, none left)` : ''}`;
  return {
    kind,
    message,
    clusterId: null,
    retry,
    nextAttempt: attempt + 1,
    backoffSeconds,
    teardown: 'none',
    evidence: { error: error.Error ?? null, jobRun: jobRun ?? null, apiErrors: input.observation.apiErrors },
  };
}

/** The job run a failed startJobRun.sync carries as its Cause (GetJobRun's `jobRun`), when it is JSON. */
function jobRunOfCause(cause: string | undefined): { jobRunId?: string; state?: string; stateDetails?: string } | null {
  if (!cause) return null;
  try {
    type JobRunFields = { jobRunId?: string; state?: string; stateDetails?: string };
    const parsed = JSON.parse(cause) as JobRunFields & { jobRun?: JobRunFields; JobRun?: JobRunFields };
    const run = parsed.jobRun ?? parsed.JobRun ?? parsed;
    return typeof run === 'object' && run && (run.jobRunId || run.state) ? { jobRunId: run.jobRunId, state: run.state, stateDetails: run.stateDetails } : null;
  } catch {
    return null;
  }
}
