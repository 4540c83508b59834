/**
 * The shapes that travel through the run-job state machine. Each Lambda reads and returns plain JSON of
 * these shapes; the ASL (statemachines/run-job.asl.yml) moves them between states by JSONPath, so a field
 * renamed here must be renamed there too (test/statemachine checks the paths against a real run).
 *
 * Execution state, key by key, as the run-job state machine builds it:
 *   $.request    JobRequest      NormalizeRequest (its result { request, attempt } replaces the trigger)
 *   $.attempt    number          1, then ClassifyFailure's nextAttempt on a retry
 *   $.sizing     Sizing          SizeJob
 *   $.placement  Placement       PlaceJob; CreateCluster writes $.placement.cluster, AcquireCapacity $.placement.slot
 *   $.error      { Error, Cause} any Catch
 *   $.failure    Failure         ClassifyFailure
 *   $.record     RunRecord       RecordRun
 */
import type { S3Location } from '../contract';
import type { JobDefinition, Priority } from '../config/jobs';

export type { JobDefinition, Priority, S3Location };

export type TriggerKind = 's3' | 'schedule' | 'console';

/** What NormalizeRequest makes of any trigger. */
export interface JobRequest {
  /** Deterministic: the same upload or schedule day gives the same id (idempotency key of ClaimRun). */
  runId: string;
  trigger: TriggerKind;
  /** YYYY-MM-DD, the data date the run processes. */
  runDate: string;
  job: JobDefinition;
  input: S3Location;
  output: S3Location;
  /** Epoch seconds after which the claim may expire (DynamoDB TTL); past S3's duplicate-delivery window. */
  claimExpiresAt: number;
  /** Whether to crawl before sizing, and why (shown in the timeline). */
  crawl: { required: boolean; crawler: string | null; reason: string };
}

export interface SparkConf {
  executorMemoryGiB: number;
  executorCores: number;
  executorInstances: number;
  shufflePartitions: number;
  /** Set when the driver shares a unit with the executor (a one-unit job); otherwise EMR's default driver. */
  driverCores?: number;
  driverMemoryGiB?: number;
}

/** What SizeJob decides from input size and run history. */
export interface Sizing {
  inputBytes: number;
  bytesSource: 'glue' | 's3';
  /** Runs of this job the estimate learned from (0 = defaults). */
  historyRuns: number;
  /** MiB/s per capacity unit, learned or default. */
  throughputMiBpsPerUnit: number;
  /** Total core+task capacity units (1 unit = 4 vCPU / 32 GiB). */
  capacityUnits: number;
  predictedMinutes: number;
  stepTimeoutSeconds: number;
  spark: SparkConf;
  /** `spark-submit …` args for command-runner.jar. */
  stepArgs: string[];
}

/** EMR InstanceTypeConfig as the API spells it, for the fleets CreateCluster sends. */
export interface InstanceTypeConfig {
  InstanceType: string;
  WeightedCapacity: number;
  BidPriceAsPercentageOfOnDemandPrice?: number;
}

export interface FleetCapacity {
  onDemandUnits: number;
  spotUnits: number;
  instanceTypeConfigs: InstanceTypeConfig[];
}

/** What a parked execution receives through AcquireCapacity's task token (SendTaskSuccess output): `$.placement.slot`. */
export interface Slot {
  pool: string;
  clusterId: string;
  /** leaseId(execution, attempt): what release-capacity gives back. */
  lease: string;
  units: number;
  /** Epoch ms; past it the sweep takes the lease back, once no step of its execution may still run on the cluster. */
  leaseExpiresAt: number;
  /** Epoch ms the job was parked and the lease granted: its queue wait, and from when its units are billed. */
  enqueuedAt?: number;
  grantedAt?: number;
  /** The job's step, submitted by the dispatcher in its cluster's batch: RunPooledStep only waits for it. */
  stepId?: string;
  /** The dispatcher's AddJobFlowSteps refused this job's step: RunPooledStep fails with this error. */
  submitError?: { error: string; cause: string };
}

/** What PlaceJob decides. `cluster` is filled by PlaceJob (pool) or by CreateCluster (dedicated). */
export interface Placement {
  mode: 'dedicated' | 'pool' | 'serverless';
  /** `{}` until a cluster exists; the ASL writes `ClusterId` into it. */
  cluster: { ClusterId?: string };
  /**
   * Pool mode: what AcquireCapacity asks the pool for (the job's lease units and its queue priority);
   * null for a dedicated cluster.
   */
  pool: { name: string; units: number; priority: Priority } | null;
  /**
   * Pool mode: the lease the dispatcher granted (AcquireCapacity's result); the job runs on `slot.clusterId`
   * and every path after it releases the lease. Null until granted. Its lease fields are what a run needs; a
   * record of one (the planner's, a test's) may carry only those.
   */
  slot: (Pick<Slot, 'pool' | 'clusterId' | 'lease'> & Partial<Slot>) | null;
  /** Share of core+task capacity bought On-Demand, 0..1. */
  onDemandShare: number;
  /** Rule events that fired, for the timeline and the run record. */
  reasons: string[];
  /** RunJobFlow fields for a dedicated cluster (PascalCase where they go to EMR as they are). */
  spec: {
    name: string;
    releaseLabel: string;
    primary: { instanceTypeConfigs: InstanceTypeConfig[] };
    core: FleetCapacity;
    task: FleetCapacity;
    spotTimeoutMinutes: number;
    idleTimeoutSeconds: number;
    stepConcurrencyLevel: number;
    configurations: Array<{ Classification: string; Properties: Record<string, string> }>;
    tags: Array<{ Key: string; Value: string }>;
  } | null;
  /** Serverless mode: what RunServerlessJob sends to StartJobRun (absent or null otherwise). */
  serverless?: import('./serverless').ServerlessPlacement | null;
  /** Serverless mode: the job run RunServerlessJob started (its result), once it succeeded. */
  jobRun?: { ApplicationId: string; JobRunId: string } | null;
  /** Estimated On-Demand-equivalent hourly price of the cluster, USD, and the expected price with Spot. */
  hourlyCostUsd: number;
  /** The same capacity bought entirely On-Demand (hourlyCostUsd is the expected price with the chosen Spot share). */
  onDemandHourlyCostUsd: number;
}

/** What ClassifyFailure concludes from the Catch's error and the cluster's state. */
export interface Failure {
  kind: import('../errors').FailureKind;
  message: string;
  clusterId: string | null;
  retry: boolean;
  nextAttempt: number;
  backoffSeconds: number;
  /** What must be undone before retrying or failing. */
  teardown: 'terminate' | 'release' | 'none';
  evidence: Record<string, unknown>;
}

/** One item of the runs table (key job + finishedAt), written by RecordRun; SizeJob learns from them. */
export interface RunRecord {
  job: string;
  /** ISO 8601, the sort key: newest first with ScanIndexForward false. */
  finishedAt: string;
  runId: string;
  execution: string;
  status: 'SUCCEEDED' | 'FAILED';
  trigger: TriggerKind | null;
  runDate: string | null;
  /** Attempts made (1 = no retry). */
  attempts: number;
  /** Spot interruptions seen: every retry follows one, plus a final one when the run failed of it. */
  interruptions: number;
  inputBytes: number | null;
  capacityUnits: number | null;
  onDemandShare: number | null;
  predictedMinutes: number | null;
  clusterId: string | null;
  stepId: string | null;
  /** Spark step duration from the step's Timeline (StartDateTime → EndDateTime); null when unknown. */
  stepSeconds: number | null;
  /** Execution wall time, StartTime → now. */
  durationSeconds: number;
  /** PlaceJob's estimate: placement.hourlyCostUsd × execution wall hours (what was predicted). */
  estimatedCostUsd: number | null;
  /** Where the run went: its own cluster, a lease on a pool's cluster, or an EMR Serverless job run. */
  placementMode: 'dedicated' | 'pool' | 'serverless' | null;
  pool: string | null;
  /** Pooled run: seconds from parking in the admission queue to the lease's grant; null otherwise. */
  queueWaitSeconds: number | null;
  /** What the run held, priced (lib/domain/runCost.ts); null when nothing could be read. */
  costUsd: number | null;
  cost: import('./runCost').RunCost | null;
  failureKind: string | null;
  failureMessage: string | null;
}
