/**
 * The emrflow-hybrid strategy: the shipped rules choose among a pool lease, a dedicated cluster and EMR
 * Serverless for every attempt, through the same placeJob the place-job Lambda calls and with the facts it
 * computes: predictedWaitMinutes per pool from the registry (here the job manager's in-memory one, read with
 * the same predictedPoolWaits), predictedCostUsd per target, config/serverless.json as the Serverless target.
 * Pool and dedicated decisions run exactly as in the emrflow strategy (./emrflowRun); a Serverless decision is
 * a job run on one simulated application (./serverlessRun's ServerlessApplicationSim) that the day's Serverless
 * job runs share: the configured application's architecture, maximum capacity and pre-initialized capacity,
 * with the workers place-job's placement asks StartJobRun for.
 */
import { startJobRunBudget, type ServerlessConfig } from '../../lib/config/serverless';
import { placeJobWithinStartBudget } from '../../lib/domain/placement';
import type { PoolCluster, QueueEntry } from '../../lib/domain/pools';
import { predictedPoolWaits, type PoolRegistryView } from '../../lib/domain/serverless';
import type { Placement } from '../../lib/domain/types';
import { placeJobInput, type SizedJob } from './decisions';
import { EmrflowRun } from './emrflowRun';
import type { Run } from './run';
import { dayDriver, dayWorker, ServerlessApplicationSim, type ServerlessApplication } from './serverlessRun';

export class HybridRun extends EmrflowRun {
  readonly serverless: ServerlessApplicationSim;

  constructor(serverlessConfig: ServerlessConfig, ...args: ConstructorParameters<typeof Run>) {
    super(...args);
    this.placement = { ...this.placement, serverless: serverlessConfig };
    const app = serverlessConfig.applications[serverlessConfig.defaultApplication];
    if (!app) throw new Error(`config/serverless.json: defaultApplication ${serverlessConfig.defaultApplication} is not among its applications`);
    const initial = app.initialCapacity;
    const application: ServerlessApplication = {
      architecture: app.architecture,
      preInitialized: { drivers: initial?.driver.workers ?? 0, executors: initial?.executor.workers ?? 0 },
      maxVcpu: app.maximumCapacity.vcpu,
    };
    const preInitWorker = initial ? { vcpu: initial.executor.worker.vcpu, memoryGb: initial.executor.worker.memoryGb } : dayWorker(this.jobs);
    const preInitDriver = initial ? { vcpu: initial.driver.worker.vcpu, memoryGb: initial.driver.worker.memoryGb } : dayDriver(this.jobs);
    this.serverless = new ServerlessApplicationSim(application, preInitWorker, this.serverlessHost(), preInitDriver);
  }

  /** PlaceJob as the handler runs it: the registry's clusters and queued totals per pool → predictedWaitMinutes. */
  protected async decide(job: SizedJob, attempt: number): Promise<Placement> {
    const registry: Record<string, PoolRegistryView> = {};
    for (const pool of this.config.pools.pools)
      registry[pool.name] = { clusters: await this.store.listClusters(pool.name), queued: (await this.store.queuedTally(pool.name)).levels };
    const input = placeJobInput(job, attempt);
    const poolWaits = predictedPoolWaits(this.config.pools.pools, registry, {
      executionName: input.executionName,
      units: job.sizing.capacityUnits,
      priority: job.request.job.priority,
      predictedMinutes: job.sizing.predictedMinutes,
    });
    const budget = startJobRunBudget(this.placement.serverless ?? {});
    let startToken: boolean | undefined;
    const takeStartToken = async () => {
      startToken = (await this.store.takeApiTokens('StartJobRun', 1, this.now * 1000, budget)) > 0;
      return startToken;
    };
    const placement = await placeJobWithinStartBudget({ ...input, poolWaits }, this.placement, takeStartToken);
    if (this.decisionLog) this.decisionLog.push({ input: { ...input, poolWaits }, placement, registry: await this.registryRead(), startToken });
    this.targets.set(job.id, placement.mode);
    return placement;
  }

  /**
   * What the registry held at a decision, for its log (tests replay it through place-job): each pool's clusters
   * and queue entries, from which the replay derives the totals, so it also checks the store kept them right.
   */
  private async registryRead(): Promise<Record<string, { clusters: PoolCluster[]; queue: QueueEntry[] }>> {
    const read: Record<string, { clusters: PoolCluster[]; queue: QueueEntry[] }> = {};
    for (const pool of this.config.pools.pools)
      read[pool.name] = { clusters: await this.store.listClusters(pool.name), queue: await this.store.listQueue(pool.name) };
    return read;
  }

  protected async place(job: SizedJob, attempt: number): Promise<void> {
    const state = this.states.get(job.id);
    if (!state) throw new Error(`job ${job.id} was never seen arriving`);
    state.attempt = attempt;
    const decision = await this.decide(job, attempt);
    if (decision.mode === 'serverless') {
      // startJobRun.sync in place of CreateCluster → RunSparkStep: the dedicated path's transitions and Lambdas.
      this.chargeOrchestration('dedicated', attempt > 1);
      if (!decision.serverless) throw new Error(`a serverless placement of ${job.id} without its job run`);
      const { driver, executor, executors } = decision.serverless.workers;
      this.serverless.submit(state, {
        driver: { vcpu: driver.vcpu, memoryGb: driver.memoryGb },
        worker: { vcpu: executor.vcpu, memoryGb: executor.memoryGb },
        workers: 1 + executors,
      });
      return;
    }
    const purchase = await this.purchaseFor(job, decision);
    this.chargeOrchestration(purchase === null ? 'pooled' : 'dedicated', attempt > 1);
    if (purchase === null) return;
    this.runDedicated(state, purchase);
  }

  protected queuedJobs(): number {
    return super.queuedJobs() + this.serverless.queuedJobs();
  }

  /** The pools' bill (EmrflowRun.finishBilling) and the application's pre-initialized capacity, if any. */
  finishBilling(): void {
    super.finishBilling();
    this.serverless.finishBilling();
  }
}
