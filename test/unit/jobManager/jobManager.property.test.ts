/**
 * Acquire / release / expire / dispatch interleavings (fast-check), against both job stores: DynamoDB
 * (dynalite over loopback, where concurrent writes interleave on the wire) and in memory (where they
 * interleave at every await). Each generated run is
 * a list of batches; the commands of a batch run concurrently, so their DynamoDB writes interleave over
 * loopback. After every batch: no cluster over its capacity or job limit, unitsInUse equal to the sum of
 * its leases, no job leased twice, never more clusters than the pool's max, RunJobFlow within its budget.
 * At the end everyone still waiting is served, and nothing is left: no waiter lost, no unit leaked.
 * SFN and EMR are fakes here (a token map and a cluster-id counter).
 */
import fc from 'fast-check';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoRegistry } from '../../../lib/aws/registry';
import { createJobManager, type JobManagerPorts, type PoolContext, type Slot } from '../../../lib/jobManager/jobManager';
import { MemoryJobStore } from '../../../lib/jobManager/memoryStore';
import type { RegistryStore, StepTokenStore } from '../../../lib/jobManager/store';
import { unwired } from '../../../lib/jobManager/unwired';
import { poolConfigHash, type PoolCluster } from '../../../lib/domain/pools';
import type { Priority } from '../../../lib/domain/types';
import { startDynalite, type LocalDynamo } from '../../support/dynalite';
import { testContext } from './support/pool';

const CONTEXT: PoolContext = testContext({ settings: { runJobFlowBudget: { ratePerSecond: 0.25, burst: 2 } } });
const POOL = CONTEXT.pool;
const HASH = poolConfigHash(POOL);

function named(name: string): Error {
  const error = new Error(name);
  error.name = name;
  return error;
}

/** The fake outside world: SFN task tokens and EMR cluster launches, on a clock the test moves. */
class World {
  now = 1_000_000;
  readonly startedAt = this.now;
  /** token → slot, for every SendTaskSuccess that was accepted. */
  readonly delivered = new Map<string, Slot>();
  /** SendTaskSuccess calls for a token that had already been sent one (a second grant). */
  doubleSends = 0;
  readonly gone = new Set<string>();
  /** Tokens whose next SendTaskSuccess is throttled: the grant stays half done until the sweep redoes it. */
  readonly throttled = new Set<string>();
  readonly launches: number[] = [];
  private clusterSerial = 0;

  private placeholders = 0;

  ports(store: RegistryStore): JobManagerPorts {
    const unused = async (): Promise<never> => {
      throw new Error('not used by these cases');
    };
    return {
      registry: store,
      // These cases submit no steps: no execution has a step that may still run.
      stepTokens: unwired<StepTokenStore>('stepTokens', { liveSteps: async () => [] }),
      clock: { now: () => this.now, sleep: async () => undefined },
      placeholderId: () => `launch-${++this.placeholders}`,
      sfn: {
        sendSlot: async (token: string, slot: Slot) => {
          if (this.delivered.has(token)) {
            this.doubleSends += 1;
            throw named('TaskTimedOut');
          }
          if (this.gone.has(token)) throw named('TaskTimedOut');
          if (this.throttled.delete(token)) throw named('ThrottlingException');
          this.delivered.set(token, slot);
        },
        sendSuccess: unused,
        sendFailure: unused,
        sendHeartbeat: async () => undefined,
      },
      emr: {
        launchCluster: async () => {
          this.launches.push(this.now);
          this.clusterSerial += 1;
          return `j-${String(this.clusterSerial).padStart(4, '0')}`;
        },
        describeClusterState: async () => null,
        addStep: unused,
        addSteps: unused,
        listSteps: unused,
        cancelSteps: unused,
        findLaunch: async () => null,
      },
    };
  }
}

type Command =
  | { kind: 'park'; units: number; priority: Priority }
  | { kind: 'release'; pick: number }
  | { kind: 'crash'; pick: number }
  | { kind: 'ready'; pick: number }
  | { kind: 'terminate'; pick: number }
  | { kind: 'gone'; pick: number }
  | { kind: 'acquire'; units: number; pick: number }
  | { kind: 'throttle'; pick: number }
  | { kind: 'claimAndDie'; pick: number }
  | { kind: 'dispatch' }
  | { kind: 'tick'; seconds: number };

const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('park' as const),
      units: fc.integer({ min: 1, max: 8 }),
      priority: fc.constantFrom<Priority>('low', 'normal', 'high'),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('crash' as const), pick: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('ready' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('terminate' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('gone' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('acquire' as const), units: fc.integer({ min: 1, max: 8 }), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('throttle' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('claimAndDie' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'dispatch' as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('tick' as const), seconds: fc.integer({ min: 1, max: 200 }) }) },
);

/** Throws when the registry breaks an invariant. */
function checkRegistry(clusters: PoolCluster[], maxClusters: number): void {
  const holders = new Map<string, string>();
  for (const cluster of clusters) {
    const leases = Object.entries(cluster.leases);
    const sum = leases.reduce((total, [, lease]) => total + lease.units, 0);
    if (sum !== cluster.unitsInUse) throw new Error(`${cluster.clusterId}: unitsInUse ${cluster.unitsInUse} but leases hold ${sum}`);
    if (cluster.unitsInUse > cluster.capacityUnits) throw new Error(`${cluster.clusterId}: overbooked, ${cluster.unitsInUse} > ${cluster.capacityUnits}`);
    if (leases.length > cluster.maxJobs) throw new Error(`${cluster.clusterId}: ${leases.length} jobs > ${cluster.maxJobs}`);
    for (const [id] of leases) {
      if (holders.has(id)) throw new Error(`lease ${id} held on ${holders.get(id)} and ${cluster.clusterId}`);
      holders.set(id, cluster.clusterId);
    }
  }
  const alive = clusters.filter((c) => !['TERMINATED', 'TERMINATED_WITH_ERRORS'].includes(c.state)).length;
  if (alive > maxClusters) throw new Error(`${alive} clusters alive > max ${maxClusters}`);
}

let local: LocalDynamo;
beforeAll(async () => {
  local = await startDynalite();
});
afterAll(async () => local.close());

/** Each store and how many generated runs it gets: the in-memory store is fast, so it is searched far wider. */
const STORES: Array<[string, () => Promise<RegistryStore>, number]> = [
  ['DynamoDB (dynalite)', async () => new DynamoRegistry(local.dynamo, await local.registryTables()), 12],
  ['in memory', async () => new MemoryJobStore(), 400],
];

describe.each(STORES)('job manager interleavings, %s store', (_name, newStore, numRuns) => {
  it('never overbooks, leaks a unit, loses a waiter or grants one twice, and keeps RunJobFlow in budget', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(command, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 10 }), async (batches) => {
        const store = await newStore();
        const world = new World();
        const manager = createJobManager(world.ports(store));
        const parked: string[] = [];
        const crashed = new Set<string>();
        const released = new Set<string>();
        const direct: Array<{ clusterId: string; lease: string }> = [];
        const pick = <T>(list: T[], n: number): T | undefined => (list.length === 0 ? undefined : list[n % list.length]);
        const heldNow = () => [...world.delivered.entries()].filter(([token]) => !released.has(token) && !crashed.has(token));

        const run = async (cmd: Command): Promise<void> => {
          switch (cmd.kind) {
            case 'park': {
              const execution = `exec-${parked.length}`;
              const token = `token-${execution}`;
              parked.push(token);
              await manager.acquireCapacity(CONTEXT, { units: cmd.units, priority: cmd.priority, execution, attempt: 1, taskToken: token });
              return;
            }
            case 'release': {
              const chosen = pick(heldNow(), cmd.pick);
              if (!chosen) return;
              released.add(chosen[0]);
              await manager.releaseCapacity(CONTEXT, chosen[1]);
              return;
            }
            case 'crash': {
              const chosen = pick(heldNow(), cmd.pick);
              if (chosen) crashed.add(chosen[0]);
              return;
            }
            case 'ready':
            case 'terminate': {
              const clusters = (await store.listClusters(POOL.name)).filter((c) => c.clusterId.startsWith('j-'));
              const chosen = pick(clusters, cmd.pick);
              if (chosen) await manager.observeClusterState(CONTEXT, chosen.clusterId, cmd.kind === 'ready' ? 'RUNNING' : 'TERMINATED');
              return;
            }
            case 'gone': {
              const waiting = parked.filter((token) => !world.delivered.has(token) && !world.gone.has(token));
              const chosen = pick(waiting, cmd.pick);
              if (chosen) world.gone.add(chosen);
              return;
            }
            case 'acquire': {
              // A lease taken straight on a cluster read earlier (a stale view), racing the dispatchers.
              const ready = (await store.listClusters(POOL.name)).filter((c) => c.state === 'RUNNING');
              const chosen = pick(ready, cmd.pick);
              if (!chosen) return;
              await new Promise((resolve) => setImmediate(resolve));
              const id = `direct-${direct.length}-${cmd.pick}`;
              const lease = { execution: id, units: cmd.units, grantedAt: world.now, expiresAt: world.now + 120_000 };
              if (await store.lease(chosen, id, lease)) direct.push({ clusterId: chosen.clusterId, lease: id });
              return;
            }
            case 'throttle': {
              const waiting = parked.filter((token) => !world.delivered.has(token) && !world.gone.has(token));
              const chosen = pick(waiting, cmd.pick);
              if (chosen) world.throttled.add(chosen);
              return;
            }
            case 'claimAndDie': {
              // A dispatcher claims a waiting entry for a cluster, then crashes before taking the lease.
              const waiting = (await store.listQueue(POOL.name)).filter((entry) => entry.state === 'waiting');
              const entry = pick(waiting, cmd.pick);
              const cluster = pick(await store.listClusters(POOL.name), cmd.pick);
              if (entry && cluster) await store.claim(entry, cluster.clusterId, world.now);
              return;
            }
            case 'dispatch':
              await manager.dispatch(CONTEXT);
              return;
            case 'tick':
              world.now += cmd.seconds * 1000;
              return;
          }
        };

        const check = async () => {
          checkRegistry(await store.listClusters(POOL.name), POOL.maxClusters);
          const elapsed = (world.now - world.startedAt) / 1000;
          const budget = CONTEXT.settings.runJobFlowBudget;
          expect(world.launches.length).toBeLessThanOrEqual(budget.burst + budget.ratePerSecond * elapsed + 1e-9);
          expect(world.doubleSends).toBe(0);
        };

        for (const batch of batches) {
          for (const cmd of batch) if (cmd.kind === 'tick') await run(cmd);
          await Promise.all(batch.filter((cmd) => cmd.kind !== 'tick').map(run));
          await check();
        }

        // Quiesce: clusters come up, jobs finish, crashed jobs' leases expire, until every waiter is served.
        for (let round = 0; round < 60; round += 1) {
          world.now += 30_000;
          for (const cluster of await store.listClusters(POOL.name)) {
            if (cluster.clusterId.startsWith('j-') && cluster.state === 'STARTING') await manager.observeClusterState(CONTEXT, cluster.clusterId, 'RUNNING');
          }
          // Every release dispatches: these dispatchers race each other and the extra one.
          const finishing = heldNow();
          for (const [token] of finishing) released.add(token);
          const directs = direct.splice(0);
          await Promise.all([
            ...finishing.map(([, slot]) => manager.releaseCapacity(CONTEXT, slot)),
            ...directs.map((slot) => manager.releaseCapacity(CONTEXT, slot)),
            manager.dispatch(CONTEXT),
          ]);
          await check();
          const queue = await store.listQueue(POOL.name);
          const leases = (await store.listClusters(POOL.name)).reduce((n, c) => n + Object.keys(c.leases).length, 0);
          if (queue.length === 0 && heldNow().length === 0 && leases === 0) break;
        }

        expect(await store.listQueue(POOL.name)).toEqual([]);
        for (const cluster of await store.listClusters(POOL.name)) {
          expect({ clusterId: cluster.clusterId, unitsInUse: cluster.unitsInUse, leases: cluster.leases }).toEqual({
            clusterId: cluster.clusterId,
            unitsInUse: 0,
            leases: {},
          });
        }
        for (const token of parked) {
          // No waiter lost: every execution still waiting got its slot (exactly one: doubleSends stayed 0).
          if (!world.gone.has(token)) expect({ token, served: world.delivered.has(token) }).toEqual({ token, served: true });
        }
      }),
      { numRuns },
    );
    // Generous: the machine's cores are shared, and a failing run's shrinking replays many interleavings.
  }, 300_000);

  it('keeps RunJobFlow within the one account-wide bucket when dispatchers of two pools race, and uses the budget it has', async () => {
    const store = await newStore();
    const world = new World();
    const manager = createJobManager(world.ports(store));
    const settings = { ...CONTEXT.settings, runJobFlowBudget: { ratePerSecond: 0.25, burst: 5 } };
    const pools: PoolContext[] = ['a', 'b'].map((name) => ({ pool: { ...POOL, name, maxClusters: 100 }, settings }));
    for (let i = 0; i < 20; i += 1) {
      const context = pools[i % 2];
      await manager.acquireCapacity(context, { units: 8, priority: 'normal', execution: `exec-${i}`, attempt: 1, taskToken: `token-${i}` });
    }
    for (let t = 0; t < 20; t += 2) {
      world.now += 2_000;
      await Promise.all(pools.flatMap((context) => [manager.dispatch(context), manager.dispatch(context)]));
      const elapsed = (world.now - world.startedAt) / 1000;
      expect(world.launches.length).toBeLessThanOrEqual(5 + 0.25 * elapsed);
    }
    // The 20 jobs want 20 clusters; the budget allows 5 + 0.25 × 20 = 10 and the dispatchers use all of it.
    expect(world.launches.length).toBe(10);
  }, 60_000);

  it('lets exactly as many concurrent acquires succeed as the capacity holds', async () => {
    const store = await newStore();
    await store.registerCluster({ pool: 'shared', clusterId: 'j-1', state: 'RUNNING', configHash: HASH, capacityUnits: 8, maxJobs: 10, launchedAt: 0 });
    const target = { pool: 'shared', clusterId: 'j-1', capacityUnits: 8, maxJobs: 10, configHash: HASH };
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => store.lease(target, `job-${i}`, { execution: `job-${i}`, units: 3, grantedAt: 0, expiresAt: 1 })),
    );
    expect(results.filter(Boolean)).toHaveLength(2);
    const [cluster] = await store.listClusters('shared');
    expect(cluster.unitsInUse).toBe(6);
  });

  it('refuses a lease on a starting, terminating or foreign-configuration cluster', async () => {
    const store = await newStore();
    const lease = { execution: 'e', units: 1, grantedAt: 0, expiresAt: 1 };
    for (const [clusterId, state, configHash] of [
      ['j-s', 'STARTING', HASH],
      ['j-t', 'TERMINATING', HASH],
      ['j-f', 'RUNNING', 'another-hash'],
    ] as const) {
      await store.registerCluster({ pool: 'shared', clusterId, state, configHash, capacityUnits: 8, maxJobs: 10, launchedAt: 0 });
      expect(await store.lease({ pool: 'shared', clusterId, capacityUnits: 8, maxJobs: 10, configHash: HASH }, 'lease', lease)).toBe(false);
    }
  });
});

describe('the registry check', () => {
  it('negative control: the registry check catches an overbooked cluster and a leaked unit', async () => {
    const tables = await local.registryTables();
    const store = new DynamoRegistry(local.dynamo, tables);
    const item = {
      pool: 'shared',
      clusterId: 'j-1',
      kind: 'cluster',
      state: 'RUNNING',
      configHash: HASH,
      capacityUnits: 8,
      maxJobs: 10,
      leaseCount: 2,
      launchedAt: 0,
      version: 1,
    };
    const leases = { a: { execution: 'a', units: 5, grantedAt: 0, expiresAt: 1 }, b: { execution: 'b', units: 5, grantedAt: 0, expiresAt: 1 } };
    await local.dynamo.send(new PutCommand({ TableName: tables.clusters, Item: { ...item, unitsInUse: 10, leases } }));
    const check = async () => checkRegistry(await store.listClusters('shared'), 3);
    await expect(check()).rejects.toThrow(/overbooked, 10 > 8/);
    await local.dynamo.send(new PutCommand({ TableName: tables.clusters, Item: { ...item, unitsInUse: 6, leases: { a: leases.a } } }));
    await expect(check()).rejects.toThrow(/unitsInUse 6 but leases hold 5/);
    await local.dynamo.send(new PutCommand({ TableName: tables.clusters, Item: { ...item, unitsInUse: 5, leases: { a: leases.a } } }));
    await expect(check()).resolves.toBeUndefined();
  });
});
