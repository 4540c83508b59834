/**
 * How many concurrent steps a cluster's primary node can run. EMR runs one step executor process on the
 * primary for every running step ("The main step executer process runs on the primary node for each step.
 * Running multiple steps in parallel requires more memory and CPU utilization from the primary node":
 * docs.aws.amazon.com/emr/latest/ManagementGuide/emr-concurrent-steps.html). Each of our steps is a
 * `spark-submit --deploy-mode cluster` (lib/domain/sizing.ts stepArgs) whose client JVM stays on the primary,
 * polling YARN until the application ends (spark.yarn.submit.waitAppCompletion defaults to true).
 *
 * EMR documents no per-step memory figure, so the figures below are stated estimates, not sourced numbers:
 * - the step executor plus the spark-submit client: about 1 GiB per step. In cluster mode Spark's launcher
 *   sets no -Xmx on the client (SparkSubmitCommandBuilder adds -Xmx only in client mode), so the JVM's heap
 *   is bounded only by its default (1/4 of the RAM) and it uses what polling YARN needs: a few hundred MiB,
 *   plus the step executor's own JVM.
 * - client mode would also run the driver on the primary: spark.driver.memory (Spark's default 1g) plus
 *   YARN's overhead (10%, at least 384 MiB), so 1.4 GiB more per step.
 * - the primary's own daemons (YARN ResourceManager, HDFS NameNode, Spark history server, timeline server,
 *   EMR's instance controller, the OS): 6 GiB kept out of reach of the steps.
 * - CPU: the clients are idle between polls, but each start costs a JVM start (measured locally: ~7 CPU-s for
 *   a whole local spark-submit, see sizing.ts); at most 4 steps per vCPU keeps a burst of starts from
 *   starving the ResourceManager.
 * With these, an m5.xlarge (4 vCPU, 16 GiB) runs 10 concurrent cluster-mode steps: 32 do not fit, as
 * REFERENCE.md says ("size the primary for the concurrency you allow").
 */
export const PRIMARY_NODE = {
  reservedGiB: 6,
  stepGiB: 1,
  clientModeDriverGiB: 1.4,
  stepsPerVcpu: 4,
} as const;

export interface PrimarySpec {
  vcpu: number;
  memoryGiB: number;
}

export type DeployMode = 'cluster' | 'client';

/** Concurrent steps one primary node of this size can run (0 when it cannot run even one). */
export function primaryStepCapacity(spec: PrimarySpec, deployMode: DeployMode = 'cluster', params = PRIMARY_NODE): number {
  const perStep = params.stepGiB + (deployMode === 'client' ? params.clientModeDriverGiB : 0);
  const byMemory = Math.floor((spec.memoryGiB - params.reservedGiB) / perStep);
  const byCpu = spec.vcpu * params.stepsPerVcpu;
  return Math.max(0, Math.min(byMemory, byCpu));
}

/** Primary memory (GiB) needed to run `steps` concurrent steps, for an error message's fix. */
export function primaryMemoryNeededGiB(steps: number, deployMode: DeployMode = 'cluster', params = PRIMARY_NODE): number {
  const perStep = params.stepGiB + (deployMode === 'client' ? params.clientModeDriverGiB : 0);
  return Math.ceil(params.reservedGiB + steps * perStep);
}

/**
 * The most steps a pool cluster can have running at once under its own settings: EMR runs at most
 * StepConcurrencyLevel, the dispatcher grants at most maxJobsPerCluster, and the leases' units cap it at
 * capacityUnits / the smallest sized job.
 */
export function poolConcurrentSteps(pool: { stepConcurrencyLevel: number; maxJobsPerCluster: number; capacityUnits: number }, minJobUnits: number): number {
  return Math.min(pool.stepConcurrencyLevel, pool.maxJobsPerCluster, Math.floor(pool.capacityUnits / minJobUnits));
}
