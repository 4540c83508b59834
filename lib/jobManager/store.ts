/**
 * What the job manager keeps (ARCHITECTURE §5.1, "One job manager, two stores"): pool clusters and their
 * leases, each pool's launch guard, the RunJobFlow and AddJobFlowSteps token buckets, the admission queue and the pooled steps'
 * task tokens. Every write is conditional, with the semantics DynamoDB's conditional writes give: a write
 * whose premise changed is refused (false) and the caller re-reads, so no interleaving of park / grant /
 * release / expire / settle can overbook a cluster, leak a unit, lose a waiter or settle a token twice.
 *
 * Two halves, so each Lambda is given (and its role allows) only the table it uses: RegistryStore (clusters,
 * leases, launches, queue) and StepTokenStore (pooled steps' tokens). Implementations: lib/aws/registry.ts
 * and lib/aws/stepTokenTable.ts (DynamoDB, on AWS and locally over dynalite) and
 * lib/jobManager/memoryStore.ts (both halves in memory: the capacity planner and fast property tests). The
 * contract test (test/unit/jobManager/store.contract.test.ts) runs the same cases against both.
 *
 * Names follow the state that causes the write: AcquireCapacity parks (`park`), the dispatcher claims,
 * leases and delivers (`claim`, `lease`, `granted`), ReleaseCapacity releases (`release`), the sweep
 * expires (`expire`) and withdraws (`withdraw`); SubmitPooledStep maps a step
 * (`mapStep`), SettleSteps takes the mapping (`takeStep`) and tells its token.
 */
import type { BucketPolicy, BucketState, Lease, PoolCluster, PoolClusterState, QueuedTotals, QueueEntry } from '../domain/pools';
import type { Settlement } from '../domain/stepCompletion';
import type { Priority } from '../domain/types';

/**
 * The EMR APIs whose account quota the job manager keeps within by a token bucket in the registry (one item
 * each): RunJobFlow for launches, AddJobFlowSteps for the dispatcher's batches.
 */
export type ApiBucket = 'RunJobFlow' | 'AddJobFlowSteps' | 'StartJobRun';

export type NewCluster = Pick<PoolCluster, 'pool' | 'clusterId' | 'state' | 'configHash' | 'capacityUnits' | 'maxJobs' | 'launchedAt'>;
export type LeaseTarget = Pick<PoolCluster, 'pool' | 'clusterId' | 'capacityUnits' | 'maxJobs' | 'configHash'>;

/** One page of a priority level's waiting entries, oldest first. */
export interface QueuePage {
  entries: QueueEntry[];
  /** Where the next page starts: set when the page is full (as DynamoDB's Limit: the next page may be empty). */
  next?: string;
}

/**
 * A pool's queued totals as the registry holds them (one item per pool): waiting units and entries per level,
 * kept by the queue's own writes (RegistryStore, "The queued totals"), and what the recount needs to know it may correct them.
 */
export interface QueuedTally {
  levels: QueuedTotals;
  /** Bumped by every change of the totals (not by a recount): a recount made on a read of it is refused once it moved. */
  version: number;
  /** The version a recount last found right (or wrote): nothing to recount while `version` is still it. */
  checkedVersion: number;
  /** The version a sweep noted, and when (the job manager's clock, epoch ms): quiet since then if still `version`. */
  noted?: { version: number; at: number };
}

export interface StepTokenItem {
  clusterId: string;
  stepId: string;
  stepName: string;
  /**
   * RunPooledStep's token. Absent while the step was submitted by the dispatcher (in its cluster's batch)
   * and RunPooledStep has not yet attached its token: the token exists only once that state starts.
   */
  taskToken?: string;
  /** How the step ended when that came before the token: RunPooledStep tells it on attaching. */
  held?: Settlement;
  /** Epoch ms the end was held: a held end no token came for within HELD_END_TTL_MS is dropped by the sweep. */
  heldAt?: number;
  execution: string;
  /** Epoch ms. */
  submittedAt: number;
  /** When its RUNNING event came (the event's time), if it came: the start of the step's timeline. */
  startedAt?: string;
  /** Epoch ms a settle took the mapping to tell its token (it is dropped once told). */
  takenAt?: number;
}

export interface RegistryStore {
  // ------------------------------------------------------------ clusters
  /** Every cluster item of the pool (launch placeholders included), read consistently. */
  listClusters(pool: string): Promise<PoolCluster[]>;
  getCluster(pool: string, clusterId: string): Promise<PoolCluster | null>;
  /** Adds a cluster with no leases; false when the id is already registered. */
  registerCluster(cluster: NewCluster): Promise<boolean>;
  /** Removes a cluster item; only when it holds no lease. */
  removeCluster(pool: string, clusterId: string): Promise<boolean>;
  /** Moves a cluster forward in EMR's lifecycle; a move backwards (RUNNING after TERMINATING) is refused. */
  setClusterState(pool: string, clusterId: string, state: PoolClusterState): Promise<boolean>;

  // ------------------------------------------------------------ leases
  /**
   * Takes `lease` under `leaseId` if the cluster is RUNNING or WAITING, has the target's config hash, the
   * units free, a free job slot, and no lease of that id. Idempotent: true when the same lease is held.
   */
  lease(target: LeaseTarget, leaseId: string, lease: Lease): Promise<boolean>;
  /** Removes a lease and exactly its units; `released: false` when it was already gone. */
  release(pool: string, clusterId: string, leaseId: string): Promise<{ released: boolean; units: number }>;
  /**
   * Brings a lease's expiry forward to `at`, never later: its holder gave it up while a step of its execution
   * may still run, so it is not removed but left to the sweep, which takes it back once that step has ended.
   * False when the lease is gone.
   */
  lapse(pool: string, clusterId: string, leaseId: string, at: number): Promise<boolean>;
  /** Takes back a lapsed lease, only if its expiry is still the one seen expired. */
  expire(pool: string, clusterId: string, leaseId: string, seen: Lease): Promise<boolean>;

  // ------------------------------------------------------------ launches
  /** The version launches of `pool` are serialized on (0 before the first launch). */
  readLaunchGuard(pool: string): Promise<number>;
  /** Moves the guard past `seenVersion`; only one caller wins a given version. */
  advanceLaunchGuard(pool: string, seenVersion: number): Promise<boolean>;
  /** `api`'s token bucket as last written (full under `policy` before its first take); not refilled to `now`. */
  readBucket(api: ApiBucket, now: number, policy: BucketPolicy): Promise<BucketState>;
  /**
   * Takes up to `wanted` tokens from `api`'s bucket, shared by every dispatcher of the account; how many it got
   * (0 = budget spent). A token is taken just before its call: a crash between the two only wastes the token.
   */
  takeApiTokens(api: ApiBucket, wanted: number, now: number, policy: BucketPolicy): Promise<number>;

  // ------------------------------------------------------------ admission queue
  //
  // The queued totals (queuedTally) follow the waiting entries: every write that moves an entry into or out of
  // `waiting` (park, claim, unclaim, withdraw) first ADDs its units to its level's totals, then writes the
  // entry, and takes the ADD back if the entry's write was refused. Two writes, not one transaction (dynalite,
  // the local DynamoDB, has no TransactWriteItems): a writer that dies between them leaves the totals off by
  // its entry. The totals are therefore self-repairing, not crash-safe: the pool sweep recounts them once they
  // have been quiet longer than any writer lives (lib/jobManager/queue.ts recountQueued). The ADD comes first so
  // that every writer's first write moves the totals' version: a version that has stood still that long has no
  // writer between its two writes, and a recount is exact. Until it runs, a drift may only change how many
  // clusters a dispatch launches and what PlaceJob predicts, never a grant (grants read entries and leases).

  /**
   * Parks a job (state `waiting`). A retried park of the same entry replaces its task token while it is
   * still waiting; an entry being granted is left to that grant (false).
   */
  park(entry: Omit<QueueEntry, 'state'>): Promise<boolean>;
  /** The pool's queued totals (zero before the first park). */
  queuedTally(pool: string): Promise<QueuedTally>;
  /** Notes that a sweep saw the totals at `version` at `at` (see QueuedTally.noted); changes no total. */
  noteQueuedTally(pool: string, version: number, at: number): Promise<void>;
  /** Replaces the totals with a recount of the waiting entries, only while their version is still `seenVersion`. */
  recountQueued(pool: string, levels: QueuedTotals, seenVersion: number): Promise<boolean>;
  /** The entries of one execution (entry ids `execution#attempt`) in every level of a pool: its own items only. */
  executionEntries(pool: string, execution: string): Promise<QueueEntry[]>;
  /**
   * The oldest waiting entries of one priority level of a pool, at most `limit`, from `after` (a page's
   * `next`). This is the read the dispatcher makes: the head of each level, never the whole queue.
   */
  queueHead(pool: string, priority: Priority, limit: number, after?: string): Promise<QueuePage>;
  /**
   * Entries of one priority level whose heartbeatDue is at or before `now`, earliest due first, at most
   * `limit`, from `after` (a page's `next`): waiting ones and those being granted (their executions wait too).
   */
  heartbeatsDue(pool: string, priority: Priority, now: number, limit: number, after?: string): Promise<QueuePage>;
  /** Moves an entry's heartbeatDue to `nextDue` after a heartbeat, only while it holds `taskToken`; false when gone. */
  heartbeatSent(entry: Pick<QueueEntry, 'pool' | 'priority' | 'entryId' | 'taskToken'>, nextDue: number): Promise<boolean>;
  /** Entries a dispatcher claimed and has not finished granting (few: at most the grants in flight). */
  grantingEntries(pool: string): Promise<QueueEntry[]>;
  /** The whole queue of a pool (reports, tests): not for the job manager's operations. */
  listQueue(pool: string): Promise<QueueEntry[]>;
  /** Claims a waiting entry (same task token) for a grant on `clusterId`: one claimer wins. */
  claim(entry: QueueEntry, clusterId: string, claimedAt: number): Promise<boolean>;
  /**
   * Takes over a claim left half done (by a crash, or a send that failed): moves `claimedAt` to
   * `reclaimedAt` only if it is still the claim made at `claimedAt`, so of two sweeps that found the same
   * stale claim only one sends the slot again.
   */
  reclaim(entry: Pick<QueueEntry, 'pool' | 'priority' | 'entryId'>, claimedAt: number, reclaimedAt: number): Promise<boolean>;
  /** Back to waiting, only the claim made at `claimedAt`. */
  unclaim(entry: Pick<QueueEntry, 'pool' | 'priority' | 'entryId' | 'enqueuedAt' | 'units'>, claimedAt: number): Promise<boolean>;
  /** Deletes a claimed entry once its waiter has its lease (or is gone); only the claim made at `claimedAt`. */
  granted(entry: Pick<QueueEntry, 'pool' | 'priority' | 'entryId'>, claimedAt: number): Promise<boolean>;
  /** Deletes a waiting entry whose execution stopped waiting. */
  withdraw(entry: Pick<QueueEntry, 'pool' | 'priority' | 'entryId' | 'units'>): Promise<boolean>;
}

export interface StepTokenStore {
  /** Maps a submitted step to its task token, or to none yet (a dispatcher's batch); a resubmission overwrites it. */
  mapStep(item: StepTokenItem): Promise<void>;
  /** The mapping, read consistently; null when there is none. */
  getStep(clusterId: string, stepId: string): Promise<StepTokenItem | null>;
  /**
   * Attaches RunPooledStep's token to a dispatcher-submitted step's mapping (a retried RunPooledStep replaces
   * the token of its earlier attempt): the mapping as it is now (with `held` when the step ended first), null
   * when there is none.
   */
  attachToken(clusterId: string, stepId: string, taskToken: string): Promise<StepTokenItem | null>;
  /**
   * Claims the mapping (sets `takenAt`) without deleting it: whoever takes it is the only one who tells the
   * token. Null when it is gone, or taken after `staleBefore` (a take at or before it is a settle that died
   * before telling, and may be taken over). The teller drops the mapping once told.
   */
  takeStep(clusterId: string, stepId: string, takenAt: number, staleBefore: number): Promise<StepTokenItem | null>;
  /**
   * A taken mapping that has no token yet keeps how its step ended (`held`) and is given back: only the take
   * made at `item.takenAt`, and only while still no token is attached (false: re-read it and tell the token).
   */
  holdStep(item: StepTokenItem, settlement: Settlement, heldAt: number): Promise<boolean>;
  /** Gives back a taken mapping (its token could not be told): only the take made at `item.takenAt`. */
  restoreStep(item: StepTokenItem): Promise<boolean>;
  /** Records the step's RUNNING time on its mapping; false when it is not mapped. */
  noteStepStarted(clusterId: string, stepId: string, at: string): Promise<boolean>;
  mappedSteps(clusterId: string): Promise<StepTokenItem[]>;
  /**
   * The step ids mapped to `execution` on the cluster that no settle has taken and whose end is not held:
   * steps EMR may still be running (a mapping stays until its step is seen ended, even once its token is gone,
   * and a dispatcher-submitted step is mapped, token-less, before its slot is sent). What release and the lease
   * sweep read before giving a lease's units back; the one read of an execution's running steps.
   */
  liveSteps(clusterId: string, execution: string): Promise<string[]>;
  /** Every mapping, for the reconciliation sweep. */
  allMappedSteps(): Promise<StepTokenItem[]>;
  /** Drops a mapping: its token was told, or its execution is gone. */
  dropStep(clusterId: string, stepId: string): Promise<void>;
}

export type JobStore = RegistryStore & StepTokenStore;
