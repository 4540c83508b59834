/**
 * The pool's queued totals and their repair (lib/jobManager/store.ts, "The queued totals"; queue.ts
 * recountQueued): a writer that dies between its ADD and its entry's write leaves them off, and the pool sweep
 * recounts them once they have stood still longer than any job manager Lambda lives, never while a writer may
 * still be between its two writes, and never over a change made during the recount.
 */
import { readFileSync } from 'node:fs';
import { queuedTotalsOf, type QueuedTotals, type QueueEntry } from '../../../lib/domain/pools';
import { createJobManager, type JobManager } from '../../../lib/jobManager/jobManager';
import { MemoryJobStore } from '../../../lib/jobManager/memoryStore';
import { QUEUED_RECOUNT_QUIET_MS } from '../../../lib/jobManager/queue';
import type { QueuePage } from '../../../lib/jobManager/store';
import type { Priority } from '../../../lib/domain/types';
import { parseCloudFormationYaml } from '../../../local/runner/serverless-config';
import { testContext } from './support/pool';

const CONTEXT = testContext();
const MINUTE_MS = 60_000;

const entry = (id: string, units: number, priority: Priority = 'normal'): Omit<QueueEntry, 'state'> => ({
  pool: CONTEXT.pool.name,
  entryId: `${id}#1`,
  execution: id,
  priority,
  units,
  enqueuedAt: 1_000,
  // No heartbeat falls due during these tests: the sweep's only work is the totals.
  heartbeatDue: Number.MAX_SAFE_INTEGER,
  taskToken: `token-${id}`,
});

function setup(store: MemoryJobStore = new MemoryJobStore()) {
  const clock = { now: 10 * MINUTE_MS };
  const unused = async (): Promise<never> => {
    throw new Error('not expected in this test');
  };
  const manager: JobManager = createJobManager({
    registry: store,
    stepTokens: store,
    clock: { now: () => clock.now, sleep: async () => undefined },
    placeholderId: () => 'p',
    sfn: { sendSlot: unused, sendSuccess: unused, sendFailure: unused, sendHeartbeat: unused },
    emr: { launchCluster: unused, describeClusterState: unused, addStep: unused, addSteps: unused, listSteps: unused, cancelSteps: unused, findLaunch: unused },
  });
  const sweep = async () => (await manager.reconcile(CONTEXT)).queuedTotals;
  const totals = async () => (await store.queuedTally(CONTEXT.pool.name)).levels;
  const truth = async (): Promise<QueuedTotals> => queuedTotalsOf(await store.listQueue(CONTEXT.pool.name));
  return { store, clock, sweep, totals, truth };
}

describe('the queued totals and their repair by the pool sweep', () => {
  it('recounts totals a crashed writer left off, once they have stood still past QUEUED_RECOUNT_QUIET_MS, and only then', async () => {
    const { store, clock, sweep, totals, truth } = await setup();
    await store.park(entry('a', 2));
    await store.park(entry('b', 3, 'high'));
    // A park that died after its ADD: the totals count an entry that was never written.
    await store.tallyQueued(entry('c', 5), 5, 1);
    expect(await totals()).not.toEqual(await truth());

    expect(await sweep()).toBe('noted');
    clock.now += QUEUED_RECOUNT_QUIET_MS - 1;
    expect(await sweep()).toBe('noted');
    expect(await totals()).not.toEqual(await truth());
    clock.now += 1;
    expect(await sweep()).toBe('corrected');
    expect(await totals()).toEqual(await truth());
    expect(await sweep()).toBe('unchanged');
  });

  it('waits while writers keep the totals moving, and finds right totals right', async () => {
    const { store, clock, sweep, totals, truth } = await setup();
    await store.park(entry('a', 2));
    expect(await sweep()).toBe('noted');
    clock.now += QUEUED_RECOUNT_QUIET_MS - MINUTE_MS;
    await store.park(entry('b', 3));
    clock.now += 2 * MINUTE_MS;
    // Quiet since the first note, but not since the last change: noted again, not recounted.
    expect(await sweep()).toBe('noted');
    clock.now += QUEUED_RECOUNT_QUIET_MS;
    expect(await sweep()).toBe('recounted');
    expect(await totals()).toEqual(await truth());
  });

  /** A store on which a writer parks an entry while the sweep reads the queue for its recount. */
  class ParkDuringRecount extends MemoryJobStore {
    parked = false;
    override async queueHead(pool: string, priority: Priority, limit: number, after?: string): Promise<QueuePage> {
      const page = await super.queueHead(pool, priority, limit, after);
      if (!this.parked) {
        this.parked = true;
        // In a level the recount has read already (high is read first).
        await this.park(entry('late', 4, 'high'));
      }
      return page;
    }
  }

  it('gives up a recount a change came during (raced), so it never writes over that change', async () => {
    const { store, clock, sweep, totals, truth } = await setup(new ParkDuringRecount());
    await store.park(entry('a', 2));
    expect(await sweep()).toBe('noted');
    clock.now += QUEUED_RECOUNT_QUIET_MS;
    expect(await sweep()).toBe('raced');
    expect(await totals()).toEqual(await truth());
  });

  it('negative control: a recount that ignores the version it read writes totals that miss the entry parked meanwhile', async () => {
    const store = new (class extends ParkDuringRecount {
      override async recountQueued(pool: string, levels: QueuedTotals): Promise<boolean> {
        return super.recountQueued(pool, levels, (await this.queuedTally(pool)).version);
      }
    })();
    const { clock, sweep, totals, truth } = await setup(store);
    await store.park(entry('a', 2));
    expect(await sweep()).toBe('noted');
    clock.now += QUEUED_RECOUNT_QUIET_MS;
    await sweep();
    expect(await totals()).not.toEqual(await truth());
  });

  it('waits longer than any job manager Lambda lives (serverless.yml timeouts), so no writer is still between its two writes', () => {
    const service = parseCloudFormationYaml(readFileSync('serverless.yml', 'utf8')) as {
      provider: { timeout?: number };
      functions: Record<string, { timeout?: number }>;
    };
    const jobManagerFunctions = ['acquireCapacity', 'releaseCapacity', 'dispatchQueue', 'cleanupExecution', 'submitPooledStep', 'settleSteps'];
    const timeouts = jobManagerFunctions.map((name) => {
      const fn = service.functions[name];
      if (!fn) throw new Error(`serverless.yml has no function ${name}`);
      return (fn.timeout ?? service.provider.timeout ?? 6) * 1000;
    });
    expect(Math.max(...timeouts)).toBe(120_000);
    // Twice the longest, with room for a request already sent to land.
    expect(QUEUED_RECOUNT_QUIET_MS).toBeGreaterThanOrEqual(2 * Math.max(...timeouts));
  });
});
