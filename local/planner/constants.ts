/**
 * Durations and per-run counts the simulator assumes, each with where it comes from. "estimate" marks a
 * figure not measured on AWS; change it here and every strategy moves together.
 */
import { START_JOB_RUN_QUOTA } from '../../lib/config/serverless';

/** Cluster start to WAITING: AWS says "minutes", practitioners report 5–10 min (REFERENCE.md). Uniform in this range. */
export const CLUSTER_START_SECONDS = { min: 300, max: 600 };
/** Managed scaling adding task nodes: 1-minute metric evaluation + EC2 launch + node bootstrap (estimate: 3–5 min). */
export const SCALE_OUT_SECONDS = 240;
/** Managed scaling removing idle task nodes after demand drops (estimate; EMR decommissions gracefully). */
export const SCALE_IN_DELAY_SECONDS = 300;
/** One r5.4xlarge-sized node: managed scaling adds and removes task capacity in whole nodes of 4 units. */
export const SCALE_STEP_UNITS = 4;
/** Trigger → PlaceJob: NormalizeRequest, ClaimRun, CheckCatalog, SizeJob (four Lambda/DynamoDB tasks, ~0.3–1 s each; estimate). */
export const ORCHESTRATION_BEFORE_PLACE_SECONDS = 3;
/** PlaceJob → AcquireCapacity → grant through the task token (two Lambdas and a DynamoDB round trip; estimate). */
export const GRANT_SECONDS = 1;
/** AddJobFlowSteps on a running cluster → step RUNNING with StepConcurrencyLevel > 1 (estimate). */
export const STEP_SUBMIT_TO_RUNNING_SECONDS = 10;
/** A Glue crawler run on one new partition (estimate: 1–2 min); billed at least 10 min (REFERENCE.md). */
export const CRAWL_SECONDS = 90;
export const CRAWL_BILLED_SECONDS = 600;
/** Glue crawler DPUs billed (AWS's default for a crawler; estimate). */
export const CRAWL_DPU = 2;
/** TerminateJobFlows → TERMINATED (estimate: 1–2 min; billed until the instances stop). */
export const TERMINATE_SECONDS = 90;
/**
 * Step RUNNING → the Spark application's first executor on a cluster whose nodes are up, in cluster deploy mode:
 * spark-submit's client JVM, the YARN application master (the driver) and its SparkContext, then an executor
 * container and its JVM. From `npm run bench:startup` (p95 of 5 local runs; see SPARK_STARTUP_SECONDS in
 * lib/domain/sizing.ts) and the documented YARN and Spark heartbeats: client JVM 3.6 s + AM container (1 s
 * NodeManager heartbeat + localization, ~2 s) + the driver's SparkContext 3.8 s + executor container (up to 3 s
 * of the AM's allocation polls + 1 s heartbeat) + executor JVM 3.6 s = 17 s (the bench's
 * `derived.emrFirstExecutorSeconds`). It was 30 s, assumed. Part of sizing's `startupMinutes`, not added to it.
 */
export const SPARK_FIRST_EXECUTOR_SECONDS = 17;

/**
 * EMR Serverless API limits per account and Region (EMR Serverless User Guide, "Endpoints and quotas", API
 * limits): StartJobRun 1 transaction per second with a burst of 25; GetJobRun 10 per second, burst 50;
 * CancelJobRun 1 per second, burst 25. StartJobRun is enforced (RunServerlessJob's Retry on its throttling
 * error); GetJobRun is counted against its quota (startJobRun.sync's polls are Step Functions', which wait a
 * throttled poll out).
 */
export const EMR_SERVERLESS_QUOTAS: Record<string, { burst: number; perSecond: number }> = {
  StartJobRun: START_JOB_RUN_QUOTA,
  GetJobRun: { burst: 50, perSecond: 10 },
  CancelJobRun: { burst: 25, perSecond: 1 },
};
/** Each worker is billed per second from when it is ready until it stops, with a 1-minute minimum (REFERENCE.md). */
export const SERVERLESS_WORKER_MINIMUM_SECONDS = 60;
/** Concurrent vCPUs per account and Region, all applications together (Service Quotas default, REFERENCE.md). */
export const SERVERLESS_ACCOUNT_VCPU_QUOTA = 4000;
/**
 * The simulated application's maximumCapacity (vCPU): the account quota, so one application may use it all;
 * a job that does not fit what is free waits in the application's queue (emr-7.0+), oldest first.
 */
export const SERVERLESS_APPLICATION_MAX_VCPU = 4000;
/** maxConcurrentRuns (1–1,000, default 15; REFERENCE.md): set to its maximum, as a day of 20,000 jobs needs. */
export const SERVERLESS_MAX_CONCURRENT_RUNS = 1000;
/**
 * EMR Serverless start (StartJobRun accepted → first executor), two figures apart from an EMR step's
 * (SPARK_FIRST_EXECUTOR_SECONDS), each used for what it names:
 * - cold, no pre-initialized worker free: AWS documents no figure (EMR Serverless User Guide, "Pre-initialized
 *   capacity for working with an application in EMR Serverless", and the re:Post article on jobs slow to start
 *   only say a cold start provisions workers); an AWS sample measured 70 s to half the executors with 3 minimum
 *   executors and 14 s with 9 (REFERENCE.md). Uniform over 40–120 s (estimate). The Spark application inside
 *   (SPARK_STARTUP_SECONDS) runs once the workers are up.
 * - pre-initialized workers free: the same User Guide page says they are "ready to respond in seconds" and "jobs
 *   start immediately"; 2–10 s assumed (estimate).
 */
export const SERVERLESS_COLD_START_SECONDS = { min: 40, max: 120 };
export const SERVERLESS_PREINIT_START_SECONDS = { min: 2, max: 10 };
/**
 * An EMR Serverless job run's own Spark time once its workers are up, at a near-empty input: the job's planning,
 * output commit and shutdown, with no spark-submit client JVM and no YARN containers (an EMR step's fixed time is
 * SPARK_STARTUP_SECONDS, 40 s). From `npm run bench:startup` p95: the job's whole run 17.4 s less its SparkContext
 * 3.8 s (the driver's start is part of the worker start above), plus S3 listing and commit as for a step (~8 s,
 * assumed): 21.6 s (the bench's `derived.serverlessSparkStartSeconds`), 22 s. The run holds its workers for this
 * plus its data work.
 */
export const SERVERLESS_SPARK_STARTUP_SECONDS = 22;
/** EMR and EC2 bill per second with a 1-minute minimum (REFERENCE.md). */
export const BILLING_MINIMUM_SECONDS = 60;
/** Step Functions `.sync` polling of EMR: every 60 s for the first 10 minutes, then every 300 s (REFERENCE.md). */
export const SYNC_POLL = { fastSeconds: 60, fastForSeconds: 600, slowSeconds: 300 };

/**
 * State transitions per run-job path, counted on statemachines/run-job.asl.yml (entering each state is one
 * transition; retries count): the dedicated path NormalizeRequest → ClaimRun → CheckCatalog → SizeJob →
 * PlaceJob → RouteByPlacement → CreateCluster → RunSparkStep → TerminateCluster → RecordRun → Succeed;
 * the pooled path swaps the cluster states for AcquireCapacity → RunPooledStep → ReleaseCapacity. A crawl adds
 * StartCrawler/WaitForCrawler/GetCrawler/CrawlFinished; a retry adds ClassifyFailure, RouteFailure, the
 * teardown, BackoffBeforeRetry, PrepareRetry and the placement states again.
 */
export const TRANSITIONS = { dedicated: 11, pooled: 12, crawl: 4, retry: 10 };
/**
 * Lambda invocations per run (Normalize, Size, Place, Record; pooled adds Acquire, SubmitPooledStep and Release;
 * a retry adds Classify and Place) and GB-s each (0.5 GB × ~0.4 s; estimate). settle-steps runs on every EMR
 * Step Status Change event of a step (RUNNING and its end: two per step, on pool and dedicated clusters alike,
 * serverless.yml's rule has no cluster filter) and on its 5-minute schedule.
 */
export const LAMBDA = { dedicated: 4, pooled: 7, retry: 3, settleStepEventsPerStep: 2, gbSecondsEach: 0.2 };

/*
 * dispatch-queue's and settle-steps' schedules are read from serverless.yml (stateMachineLimits.ts:
 * dispatchSweepSeconds, settleStepsSeconds), not copied here. Each dispatch sweep makes one ListClusters while a
 * pool cluster is registered; each settle-steps sweep, per cluster with waiting steps, ListSteps of its live steps
 * and of the other waiting steps by id, at most 8 calls (lib/jobManager/steps.ts reconcileSteps), and a SendTaskHeartbeat
 * for each step still running (RunPooledStep's HeartbeatSeconds, read from run-job.asl.yml).
 */
/**
 * The dispatcher heartbeats parked executions 10 at a time (lib/jobManager/jobManager.ts HEARTBEATS_AT_ONCE), each batch
 * waiting for its slowest SendTaskHeartbeat (~50 ms round trip from Lambda; estimate): ~200 calls/s, spread
 * over as many seconds as the queue needs.
 */
export const WAITER_HEARTBEATS = { atOnce: 10, roundTripSeconds: 0.05 };

/**
 * EMR API quotas (Service Quotas defaults, REFERENCE.md): burst and refill per second, by operation. The
 * account-wide ~5 calls/s is reported as `AllEmrCalls`.
 */
export const EMR_QUOTAS: Record<string, { burst: number; perSecond: number }> = {
  RunJobFlow: { burst: 10, perSecond: 0.5 },
  // ListClusters has no per-operation default in REFERENCE.md: it counts against AllEmrCalls only.
  AddJobFlowSteps: { burst: 10, perSecond: 0.5 },
  DescribeStep: { burst: 10, perSecond: 0.5 },
  ListSteps: { burst: 10, perSecond: 0.5 },
  DescribeCluster: { burst: 10, perSecond: 1 },
  AllEmrCalls: { burst: 25, perSecond: 5 },
};
/**
 * Step Functions API throttling (Step Functions developer guide, "Quotas related to API action throttling",
 * soft quotas; token buckets per account and Region): SendTaskSuccess, SendTaskFailure and SendTaskHeartbeat
 * each have bucket 3,000 / refill 500 per second in US East (N. Virginia), US West (Oregon) and Europe
 * (Ireland), 1,500 / 300 in all other Regions. Not EMR calls: they are not part of `AllEmrCalls`.
 */
export const SFN_QUOTAS_LARGE_REGIONS: Record<string, { burst: number; perSecond: number }> = {
  SendTaskSuccess: { burst: 3000, perSecond: 500 },
  SendTaskFailure: { burst: 3000, perSecond: 500 },
  SendTaskHeartbeat: { burst: 3000, perSecond: 500 },
};
export const SFN_QUOTAS_OTHER_REGIONS: Record<string, { burst: number; perSecond: number }> = {
  SendTaskSuccess: { burst: 1500, perSecond: 300 },
  SendTaskFailure: { burst: 1500, perSecond: 300 },
  SendTaskHeartbeat: { burst: 1500, perSecond: 300 },
};
const SFN_LARGE_REGIONS = new Set(['us-east-1', 'us-west-2', 'eu-west-1']);

/** The Step Functions quotas of `region` (config/prices.json's region). */
export function sfnQuotas(region: string): Record<string, { burst: number; perSecond: number }> {
  return SFN_LARGE_REGIONS.has(region) ? SFN_QUOTAS_LARGE_REGIONS : SFN_QUOTAS_OTHER_REGIONS;
}

/** EMR active clusters per account (default quota, REFERENCE.md). */
export const ACTIVE_CLUSTER_QUOTA = 500;

/**
 * Spot Instance Advisor interruption-frequency bands (share of instances interrupted per month,
 * REFERENCE.md) and the rate the simulator uses for each: the band's middle, 25% for ">20%".
 */
export const SPOT_BAND_MONTHLY_RATE = { '<5%': 0.025, '5-10%': 0.075, '10-15%': 0.125, '15-20%': 0.175, '>20%': 0.25 } as const;
export type SpotBand = keyof typeof SPOT_BAND_MONTHLY_RATE;
export const HOURS_PER_MONTH = 730;
