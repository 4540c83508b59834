/**
 * The emrflow strategy: place-job's decision for every attempt; a pool lease goes through the job manager's
 * queue and dispatcher (planDispatch, the RunJobFlow budget, the sweeps and step reconciliation) onto pool
 * clusters the simulator plays (start, managed scaling, idle termination, Spot loss), and a dedicated
 * decision takes PerAttemptRun's one-cluster path. Also the registry's lease invariant the tests check.
 */
import type { PoolDefinition } from '../../lib/config/pools';
import { classifyFailure } from '../../lib/domain/failure';
import type { PlaceJobInput, PlacementConfig } from '../../lib/domain/placement';
import { leaseId, newBucket, planDispatch, poolConfigHash, refillBucket, takeTokens, type BucketState, type PoolCluster, type QueueEntry } from '../../lib/domain/pools';
import type { Placement } from '../../lib/domain/types';
import {
  CLUSTER_START_SECONDS,
  DISPATCH_SWEEP_SECONDS,
  GRANT_SECONDS,
  LAMBDA,
  LIST_PAGE_SIZE,
  SCALE_IN_DELAY_SECONDS,
  SCALE_OUT_SECONDS,
  SCALE_STEP_UNITS,
  STEP_RECONCILE_SECONDS,
  STEP_SUBMIT_TO_RUNNING_SECONDS,
  TERMINATE_SECONDS,
  WAITER_HEARTBEATS,
} from './constants';
import { placeJobInput, placementConfig, placementOf, trueStepSeconds, type SizedJob } from './decisions';
import { PerAttemptRun, type DedicatedPurchase } from './perAttemptRun';
import { addRate, meanHazard, primaryRate, unitRate, type Rate } from './rates';
import { failedStep, lostSpotInstance, Run, type JobState } from './run';

interface ClusterSim {
  cluster: PoolCluster;
  pool: PoolDefinition;
  provisioned: number;
  switchedToOnDemand: boolean;
  running: Map<string, { state: JobState; units: number; startedAt: number; endVersion: number }>;
  waiting: Array<{ state: JobState; units: number; lease: string; since: number }>;
  scaleOutPending: boolean;
  scaleInPending: boolean;
  peakSinceScaleIn: number;
  costFrom: number;
  idleSince: number | null;
  interruptVersion: number;
  /** Steps AddJobFlowSteps put on the cluster so far (ListSteps pages are newest first). */
  stepsSubmitted: number;
  /** The step-tokens table's rows on this cluster: lease → the step's place in submission order. */
  mapped: Map<string, number>;
}

export class EmrflowRun extends PerAttemptRun {
  private readonly placement: PlacementConfig;
  private readonly hashes = new Map<string, string>();
  private readonly clusters = new Map<string, ClusterSim[]>();
  private readonly queues = new Map<string, QueueEntry[]>();
  private readonly buckets = new Map<string, BucketState>();
  private readonly dispatchArmed = new Set<string>();
  private launchCounter = 0;
  /** Lease id → the job and attempt it belongs to. */
  private readonly entries = new Map<string, { state: JobState; units: number }>();
  /** Every PlaceJob input and decision, in order, when asked for (the same-decisions test replays them). */
  decisionLog: DecisionLog | undefined;

  constructor(...args: ConstructorParameters<typeof Run>) {
    super(...args);
    this.placement = placementConfig(this.config);
    for (const pool of this.config.pools.pools) {
      this.hashes.set(pool.name, poolConfigHash(pool));
      this.clusters.set(pool.name, []);
      this.queues.set(pool.name, []);
      this.buckets.set(pool.name, newBucket(0, this.config.pools.dispatcher.runJobFlowBudget));
    }
  }

  protected async purchase(job: SizedJob, attempt: number): Promise<DedicatedPurchase | null> {
    const decision = await placementOf(job, attempt, this.placement);
    this.decisionLog?.push({ input: placeJobInput(job, attempt), placement: decision });
    const pool = decision.mode === 'pool' ? this.poolOf(decision) : undefined;
    if (pool) {
      this.park(this.states.get(job.id)!, pool, decision);
      return null;
    }
    const { prices } = this.config;
    const template = this.config.pools.dedicated;
    const spec = decision.spec!;
    const rate = addRate(
      addRate(addRate(primaryRate(prices, template.primary, 'ON_DEMAND'), unitRate(prices, template.core, 'ON_DEMAND'), spec.core.onDemandUnits), unitRate(prices, template.task, 'ON_DEMAND'), spec.task.onDemandUnits),
      unitRate(prices, template.task, 'SPOT'),
      spec.task.spotUnits,
    );
    const switchedRate = addRate(rate, { ec2: unitRate(prices, template.task, 'ON_DEMAND').ec2 - unitRate(prices, template.task, 'SPOT').ec2, emr: 0 }, spec.task.spotUnits);
    return { rate, switchedRate, spotInstances: Math.ceil(spec.task.spotUnits / SCALE_STEP_UNITS), allSpot: false, fallback: true, spotTypes: template.task, spotTimeoutSeconds: spec.spotTimeoutMinutes * 60 };
  }

  private poolOf(decision: Placement): PoolDefinition | undefined {
    return this.config.pools.pools.find((pool) => pool.name === decision.pool?.name);
  }

  protected queuedJobs(): number {
    let queued = 0;
    for (const queue of this.queues.values()) queued += queue.length;
    return queued;
  }

  /** AcquireCapacity: an entry in the pool's queue, then a dispatch (parkJob never leases directly). */
  private park(state: JobState, pool: PoolDefinition, decision: Placement): void {
    const units = state.job.sizing.capacityUnits;
    const entryId = leaseId(`${state.job.id}-exec`, state.attempt);
    const priority = decision.pool?.priority ?? state.job.job.priority;
    this.entries.set(entryId, { state, units });
    this.queues.get(pool.name)!.push({ pool: pool.name, entryId, execution: `${state.job.id}-exec`, priority, units, enqueuedAt: this.now * 1000, taskToken: entryId, state: 'waiting' });
    this.requestDispatch(pool);
  }

  protected startSweeps(): void {
    const lambdaRun = LAMBDA.gbSecondsEach * this.services.lambdaPerGbSecond.usd;
    // dispatch-queue's one-minute safety sweep, over the day and the tail after it (lib/aws/jobManager
    // reconcilePool): one ListClusters (paged) of the account's live clusters when a pool cluster is
    // registered, and a SendTaskHeartbeat to every parked execution; then a dispatch of every pool.
    const sweep = (): void => {
      this.meter.cost.lambda += lambdaRun;
      const registered = [...this.clusters.values()].some((sims) => sims.length > 0);
      if (registered) this.meter.call('ListClusters', this.now, Math.max(1, Math.ceil(this.meter.activeClusters / LIST_PAGE_SIZE)));
      for (const pool of this.config.pools.pools) {
        const queue = this.queues.get(pool.name)!;
        const waiting = queue.filter((entry) => entry.state === 'waiting').length;
        const perSecond = Math.floor(WAITER_HEARTBEATS.atOnce / WAITER_HEARTBEATS.roundTripSeconds);
        for (let sent = 0; sent < waiting; sent += perSecond) this.meter.call('SendTaskHeartbeat', this.now + sent / perSecond, Math.min(perSecond, waiting - sent));
        if (queue.length > 0) this.requestDispatch(pool);
      }
      if (this.ended < this.jobs.length) this.at(this.now + DISPATCH_SWEEP_SECONDS, sweep);
    };
    this.at(DISPATCH_SWEEP_SECONDS, sweep);
    // settle-steps' reconciliation (lib/aws/stepTokens reconcileSteps): per cluster with mapped steps, ListSteps
    // pages (50 steps each, newest first) until the oldest mapped step was seen; each mapped step is still
    // running (an ended one was settled by its event), so each gets a SendTaskHeartbeat.
    const reconcile = (): void => {
      this.meter.cost.lambda += lambdaRun;
      for (const sims of this.clusters.values()) {
        for (const sim of sims) {
          if (sim.mapped.size === 0) continue;
          const oldest = Math.min(...sim.mapped.values());
          this.meter.call('ListSteps', this.now, Math.ceil((sim.stepsSubmitted - oldest + 1) / LIST_PAGE_SIZE));
          this.meter.call('SendTaskHeartbeat', this.now, sim.mapped.size);
        }
      }
      if (this.ended < this.jobs.length) this.at(this.now + STEP_RECONCILE_SECONDS, reconcile);
    };
    this.at(STEP_RECONCILE_SECONDS, reconcile);
  }

  /** Every step's RUNNING and end events invoke settle-steps (its EventBridge rule has no cluster filter). */
  protected chargeOrchestration(path: 'dedicated' | 'pooled', retry: boolean): void {
    super.chargeOrchestration(path, retry);
    this.meter.cost.lambda += LAMBDA.settleStepEventsPerStep * LAMBDA.gbSecondsEach * this.services.lambdaPerGbSecond.usd;
  }

  /** Dispatches triggered in the same virtual second coalesce into one, as racing dispatchers' conditional writes would. */
  private requestDispatch(pool: PoolDefinition): void {
    if (this.dispatchArmed.has(pool.name)) return;
    this.dispatchArmed.add(pool.name);
    this.at(this.now, () => {
      this.dispatchArmed.delete(pool.name);
      this.dispatch(pool);
    });
  }

  private dispatch(pool: PoolDefinition): void {
    const sims = this.clusters.get(pool.name)!;
    const queue = this.queues.get(pool.name)!;
    const settings = this.config.pools.dispatcher;
    const nowMs = this.now * 1000;
    const bucket = refillBucket(this.buckets.get(pool.name)!, nowMs, settings.runJobFlowBudget);
    const plan = planDispatch({
      pool,
      configHash: this.hashes.get(pool.name)!,
      clusters: sims.map((s) => s.cluster),
      queue,
      now: nowMs,
      agingSecondsPerLevel: settings.agingSecondsPerLevel,
      launchTokens: Math.min(bucket.tokens, this.accountLaunchTokens()),
    });
    const byId = new Map(sims.map((s) => [s.cluster.clusterId, s]));
    const granted = new Set<string>();
    for (const grant of plan.grants) {
      const sim = byId.get(grant.clusterId)!;
      const entry = this.entries.get(grant.entryId)!;
      const cluster = sim.cluster;
      cluster.leases[grant.entryId] = { execution: grant.entryId, units: grant.units, grantedAt: nowMs, expiresAt: nowMs + settings.leaseSeconds * 1000 };
      cluster.unitsInUse += grant.units;
      cluster.version++;
        assertLeaseInvariant(cluster);
      sim.idleSince = null;
      granted.add(grant.entryId);
      // The slot goes to the parked execution through its AcquireCapacity token.
      this.meter.call('SendTaskSuccess', this.now);
      this.at(this.now + GRANT_SECONDS, () => this.submit(sim, entry.state, grant.units, grant.entryId));
    }
    if (granted.size > 0) this.queues.set(pool.name, queue.filter((e) => !granted.has(e.entryId)));
    if (plan.launches > 0) {
      const { taken, bucket: left } = takeTokens(bucket, plan.launches, nowMs, settings.runJobFlowBudget);
      this.buckets.set(pool.name, left);
      for (let i = 0; i < taken; i++) this.launchPoolCluster(pool);
    } else {
      this.buckets.set(pool.name, bucket);
    }
    this.meter.setQueued(this.now, this.queuedJobs() + this.throttledWaiters());
  }

  private launchPoolCluster(pool: PoolDefinition): void {
    this.spendAccountLaunchToken();
    this.meter.launches++;
    this.meter.call('RunJobFlow', this.now);
    this.meter.changeActive(this.now, 1);
    const clusterId = `j-POOL${String(++this.launchCounter).padStart(6, '0')}`;
    const sim: ClusterSim = {
      cluster: { pool: pool.name, clusterId, state: 'STARTING', configHash: this.hashes.get(pool.name)!, capacityUnits: pool.capacityUnits, maxJobs: pool.maxJobsPerCluster, unitsInUse: 0, leases: {}, launchedAt: this.now * 1000, version: 1 },
      pool,
      provisioned: pool.managedScaling.minimumUnits,
      switchedToOnDemand: false,
      running: new Map(),
      waiting: [],
      scaleOutPending: false,
      scaleInPending: false,
      peakSinceScaleIn: 0,
      costFrom: this.now,
      idleSince: null,
      interruptVersion: 0,
      stepsSubmitted: 0,
      mapped: new Map(),
    };
    this.clusters.get(pool.name)!.push(sim);
    const noSpot = this.random.next() < this.spot.noSpotAtLaunch;
    const startSeconds = this.random.uniform(CLUSTER_START_SECONDS.min, CLUSTER_START_SECONDS.max);
    // Cluster State Change events tell the dispatcher when it is ready (no DescribeCluster polling).
    this.at(this.now + (noSpot ? 60 * 10 + startSeconds / 2 : startSeconds), () => {
      sim.switchedToOnDemand = noSpot;
      sim.cluster.state = 'WAITING';
      sim.cluster.version++;
      sim.idleSince = this.now;
      this.scheduleIdleCheck(sim);
      this.scheduleInterruption(sim);
      this.requestDispatch(pool);
    });
  }

  private clusterRate(sim: ClusterSim): Rate {
    const { prices } = this.config;
    const { fleets } = sim.pool;
    const taskUnits = Math.max(0, sim.provisioned - fleets.coreUnits);
    return addRate(
      addRate(primaryRate(prices, fleets.primary, 'ON_DEMAND'), unitRate(prices, fleets.core, 'ON_DEMAND'), fleets.coreUnits),
      unitRate(prices, fleets.task, sim.switchedToOnDemand ? 'ON_DEMAND' : 'SPOT'),
      taskUnits,
    );
  }

  /** Bills the cluster up to now at its current size; call before every change of size. */
  private accrue(sim: ClusterSim): void {
    const rate = this.clusterRate(sim);
    const hours = (this.now - sim.costFrom) / 3600;
    this.meter.cost.ec2 += rate.ec2 * hours;
    this.meter.cost.emrUplift += rate.emr * hours;
    this.meter.poolUnitHours += (sim.provisioned + 1) * hours;
    sim.costFrom = this.now;
  }

  private resize(sim: ClusterSim, units: number): void {
    if (units === sim.provisioned) return;
    this.accrue(sim);
    sim.provisioned = units;
    this.scheduleInterruption(sim);
  }

  /**
   * What managed scaling sees: the containers of submitted steps (running, or waiting for nodes). A lease
   * whose step is not submitted yet (its AddJobFlowSteps throttled, say) asks YARN for nothing.
   */
  private yarnDemand(sim: ClusterSim): number {
    let units = this.runningUnits(sim);
    for (const w of sim.waiting) if (w.since <= this.now) units += w.units;
    return units;
  }

  private runningUnits(sim: ClusterSim): number {
    let units = 0;
    for (const r of sim.running.values()) units += r.units;
    return units;
  }

  /**
   * RunPooledStep (`lambda:invoke.waitForTaskToken` on submit-pooled-step): one AddJobFlowSteps per job, no
   * batching, and a step → token row; the step's executors need provisioned capacity. No `.sync` polling:
   * EMR's step events settle the token (see startStep, interrupt).
   */
  private submit(sim: ClusterSim, state: JobState, units: number, lease: string): void {
    const asked = this.now;
    this.whenQuotaAllows('AddJobFlowSteps', () => {
      this.meter.submitWaitSeconds.push(this.now - asked);
      this.submitNow(sim, state, units, lease);
    });
  }

  private submitNow(sim: ClusterSim, state: JobState, units: number, lease: string): void {
    this.meter.call('AddJobFlowSteps', this.now);
    sim.mapped.set(lease, ++sim.stepsSubmitted);
    sim.waiting.push({ state, units, lease, since: this.now + STEP_SUBMIT_TO_RUNNING_SECONDS });
    this.at(this.now + STEP_SUBMIT_TO_RUNNING_SECONDS, () => {
      // The step is RUNNING now (the "submit → step running"); with dynamic allocation its Spark
      // work waits for executors, so until the units are provisioned it makes no progress (capacity wait).
      if (sim.cluster.leases[lease] !== undefined) this.stepStarted(state, true);
      this.startWaiting(sim);
    });
  }

  private startWaiting(sim: ClusterSim): void {
    let used = this.runningUnits(sim);
    const still: ClusterSim['waiting'] = [];
    for (const w of sim.waiting) {
      if (sim.cluster.leases[w.lease] === undefined) continue;
      if (w.since > this.now) {
        still.push(w);
      } else if (used + w.units <= sim.provisioned) {
        used += w.units;
        this.meter.capacityWaitSeconds.push(this.now - w.since);
        this.startStep(sim, w.state, w.units, w.lease);
      } else {
        still.push(w);
      }
    }
    sim.waiting = still;
    sim.peakSinceScaleIn = Math.max(sim.peakSinceScaleIn, this.yarnDemand(sim));
    if (still.some((w) => w.since <= this.now) && !sim.scaleOutPending) {
      // Managed scaling sees the pending YARN containers and adds task nodes.
      sim.scaleOutPending = true;
      this.at(this.now + SCALE_OUT_SECONDS, () => {
        sim.scaleOutPending = false;
        if (!this.isAlive(sim)) return;
        const wanted = Math.min(sim.pool.managedScaling.maximumUnits, roundUp(this.runningUnits(sim) + sim.waiting.reduce((s, w) => s + w.units, 0), SCALE_STEP_UNITS));
        this.resize(sim, Math.max(sim.provisioned, wanted));
        this.startWaiting(sim);
      });
    }
  }

  private startStep(sim: ClusterSim, state: JobState, units: number, lease: string): void {
    const duration = trueStepSeconds(state.job, units);
    const startedAt = this.now;
    const endVersion = 0;
    sim.running.set(lease, { state, units, startedAt, endVersion });
    this.at(startedAt + duration, () => {
      const run = sim.running.get(lease);
      if (!run || run.endVersion !== endVersion) return;
      sim.running.delete(lease);
      // Its COMPLETED event: settle-steps claims the row and tells the token.
      sim.mapped.delete(lease);
      this.meter.call('SendTaskSuccess', this.now);
      this.release(sim, lease);
      this.meter.pooledWorkUnitSeconds += units * duration;
      this.finish(state, 'succeeded', units * duration);
    });
  }

  /** ReleaseCapacity: the lease goes, and freed units go to the queue at once. */
  private release(sim: ClusterSim, lease: string): void {
    const held = sim.cluster.leases[lease];
    if (!held) return;
    delete sim.cluster.leases[lease];
    sim.cluster.unitsInUse -= held.units;
    sim.cluster.version++;
    this.entries.delete(lease);
    if (Object.keys(sim.cluster.leases).length === 0) {
      sim.idleSince = this.now;
      this.scheduleIdleCheck(sim);
    }
    this.scheduleScaleIn(sim);
    this.requestDispatch(sim.pool);
  }

  private scheduleScaleIn(sim: ClusterSim): void {
    if (sim.scaleInPending) return;
    sim.scaleInPending = true;
    this.at(this.now + SCALE_IN_DELAY_SECONDS, () => {
      sim.scaleInPending = false;
      if (!this.isAlive(sim)) return;
      const needed = Math.max(sim.pool.managedScaling.minimumUnits, roundUp(Math.max(sim.peakSinceScaleIn, this.runningUnits(sim)), SCALE_STEP_UNITS));
      sim.peakSinceScaleIn = this.yarnDemand(sim);
      if (needed < sim.provisioned) this.resize(sim, needed);
      if (sim.provisioned > Math.max(sim.pool.managedScaling.minimumUnits, roundUp(this.yarnDemand(sim), SCALE_STEP_UNITS))) this.scheduleScaleIn(sim);
    });
  }

  /** AutoTerminationPolicy: a cluster with no step for idleTimeoutSeconds terminates itself (no API call). */
  private scheduleIdleCheck(sim: ClusterSim): void {
    const since = sim.idleSince;
    if (since === null) return;
    this.at(since + sim.pool.idleTimeoutSeconds, () => {
      if (sim.idleSince !== since || !this.isAlive(sim) || Object.keys(sim.cluster.leases).length > 0) return;
      const alive = this.clusters.get(sim.pool.name)!.filter((s) => this.isAlive(s)).length;
      if (alive <= sim.pool.minClusters) return;
      this.terminate(sim);
    });
  }

  private terminate(sim: ClusterSim): void {
    sim.cluster.state = 'TERMINATING';
    sim.cluster.version++;
    sim.interruptVersion++;
    this.at(this.now + TERMINATE_SECONDS, () => {
      this.accrue(sim);
      sim.cluster.state = 'TERMINATED';
      this.clusters.set(sim.pool.name, this.clusters.get(sim.pool.name)!.filter((s) => s !== sim));
      this.clusterEnded();
      this.requestDispatch(sim.pool);
    });
  }

  private isAlive(sim: ClusterSim): boolean {
    return sim.cluster.state !== 'TERMINATING' && sim.cluster.state !== 'TERMINATED';
  }

  /** The next Spot loss among the cluster's task nodes (exponential, the sum of their hazards). */
  private scheduleInterruption(sim: ClusterSim): void {
    const version = ++sim.interruptVersion;
    if (sim.switchedToOnDemand || !this.isAlive(sim)) return;
    const nodes = Math.max(0, sim.provisioned - sim.pool.fleets.coreUnits) / SCALE_STEP_UNITS;
    const hazard = nodes * meanHazard(this.spot, sim.pool.fleets.task);
    if (hazard <= 0) return;
    this.at(this.now + this.random.exponential(1 / hazard), () => {
      if (version !== sim.interruptVersion || !this.isAlive(sim)) return;
      this.interrupt(sim);
    });
  }

  /**
   * A task node is reclaimed. Its executors belonged to a running job with the chance that the node was
   * busy; that job's step fails, ClassifyFailure (pool mode) sees a Spot instance lost while its step ran,
   * and its retry policy decides. Managed scaling then replaces the node.
   */
  private interrupt(sim: ClusterSim): void {
    const before = sim.provisioned;
    this.resize(sim, Math.max(sim.pool.fleets.coreUnits, before - SCALE_STEP_UNITS));
    let busy = this.runningUnits(sim);
    const victims: string[] = [];
    const candidates = [...sim.running.keys()].sort();
    if (busy > 0 && this.random.next() < Math.min(1, busy / before)) victims.push(candidates[Math.floor(this.random.next() * candidates.length)]);
    for (const lease of victims) busy -= sim.running.get(lease)!.units;
    for (const lease of candidates) {
      if (busy <= sim.provisioned) break;
      if (victims.includes(lease)) continue;
      victims.push(lease);
      busy -= sim.running.get(lease)!.units;
    }
    for (const lease of victims) {
      const run = sim.running.get(lease)!;
      sim.running.delete(lease);
      run.endVersion++;
      const elapsed = this.now - run.startedAt;
      this.meter.interruptions++;
      this.meter.lostInstanceHours += (run.units / SCALE_STEP_UNITS) * (elapsed / 3600);
      // Its FAILED event: settle-steps fails the token with `{ Step }`, then ClassifyFailure reads EMR.
      sim.mapped.delete(lease);
      this.meter.call('SendTaskFailure', this.now);
      this.classifyCalls();
      const failure = classifyFailure({
        error: { Error: 'States.TaskFailed', Cause: 'simulated' },
        attempt: run.state.attempt,
        maxAttempts: run.state.job.job.maxAttempts,
        placement: { mode: 'pool', cluster: {}, slot: { pool: sim.pool.name, clusterId: sim.cluster.clusterId, lease } },
        clusterId: sim.cluster.clusterId,
        observation: {
          cluster: { Id: sim.cluster.clusterId, Status: { State: 'RUNNING' } },
          instances: lostSpotInstance({ Code: 'INSTANCE_FAILURE', Message: 'Spot instance interrupted (simulated)' }, this.now),
          step: failedStep(run.startedAt, this.now),
          apiErrors: [],
        },
      });
      this.release(sim, lease);
      if (failure.retry) this.at(this.now + failure.backoffSeconds, () => this.place(run.state.job, failure.nextAttempt));
      else this.finish(run.state, 'failed', 0);
    }
    // Managed scaling replaces the lost node if the remaining work needs it.
    this.startWaiting(sim);
  }

  /**
   * Bills the pool clusters still alive when the last job ended: until their idle timeout ends them, or, for
   * the ones minClusters keeps, to the end of the day (the day repeats: they run around the clock).
   */
  finishBilling(): void {
    for (const sims of this.clusters.values()) {
      sims.forEach((sim, i) => {
        const kept = i < sim.pool.minClusters;
        const until = kept ? Math.max(86_400, this.now) : this.now + sim.pool.idleTimeoutSeconds + TERMINATE_SECONDS;
        this.now = Math.max(this.now, until);
        this.accrue(sim);
      });
    }
  }
}

export type DecisionLog = Array<{ input: PlaceJobInput; placement: Placement }>;

/**
 * The registry's invariant after every grant: the leases' units add up to unitsInUse, which never passes the
 * cluster's capacityUnits, and no more jobs than maxJobs hold a lease.
 */
export function assertLeaseInvariant(cluster: PoolCluster): void {
  const leased = Object.values(cluster.leases).reduce((sum, lease) => sum + lease.units, 0);
  const jobs = Object.keys(cluster.leases).length;
  if (leased !== cluster.unitsInUse || cluster.unitsInUse > cluster.capacityUnits || jobs > cluster.maxJobs) {
    throw new Error(`conservation: cluster ${cluster.clusterId} leases ${leased} units (unitsInUse ${cluster.unitsInUse}) of ${cluster.capacityUnits} to ${jobs} of ${cluster.maxJobs} jobs`);
  }
}

function roundUp(value: number, step: number): number {
  return Math.ceil(value / step) * step;
}
