/**
 * The in-memory store's admission queue (memoryStore.ts describes the whole). The queue of each pool and
 * priority level is kept sorted by queue key (enqueue time, then entry id), the order DynamoDB's index serves,
 * so reading a level's head costs the head, not the queue.
 */
import { heartbeatKey, leaseIdPrefix, queueKey, queuedTotalsOf, type QueuedTotals, type QueueEntry } from '../domain/pools';
import type { Priority } from '../domain/types';
import { MemoryClusterStore } from './memoryClusters';
import type { QueuedTally, QueuePage, RegistryStore } from './store';

interface Level {
  /** Waiting entries' queue keys, ascending. */
  keys: string[];
  byKey: Map<string, QueueEntry>;
}

type EntryRef = Pick<QueueEntry, 'pool' | 'priority' | 'entryId'>;
type Counted = EntryRef & Pick<QueueEntry, 'units'>;

function copyTally(tally: QueuedTally): QueuedTally {
  return { ...tally, levels: structuredClone(tally.levels), ...(tally.noted ? { noted: { ...tally.noted } } : {}) };
}

function lowerBound(keys: string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (keys[mid] < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** RegistryStore in memory: the clusters (MemoryClusterStore) and the admission queue. */
export class MemoryRegistryStore extends MemoryClusterStore implements RegistryStore {
  /** Per pool, `pool#priority` + entryId → entry: the queue table's items. */
  private readonly queues = new Map<string, Map<string, QueueEntry>>();
  private readonly levels = new Map<string, Level>();
  private readonly granting = new Set<QueueEntry>();
  /** Per `pool#priority`, heartbeat keys (heartbeatDue, entry id) ascending, of entries that have one. */
  private readonly heartbeatKeys = new Map<string, string[]>();
  /** Per pool, the queued totals item (see RegistryStore, "The queued totals"). */
  private readonly tallies = new Map<string, QueuedTally>();

  // ------------------------------------------------------------ queued totals

  private tallyOf(pool: string): QueuedTally {
    let tally = this.tallies.get(pool);
    if (!tally) {
      tally = { levels: queuedTotalsOf([]), version: 0, checkedVersion: 0 };
      this.tallies.set(pool, tally);
    }
    return tally;
  }

  /**
   * One ADD to a level's totals: its own write, as on DynamoDB (a separate UpdateItem from the entry's), so a
   * crash test can end an operation between the two. Public only for that: the queue's writes call it.
   */
  async tallyQueued(entry: Pick<QueueEntry, 'pool' | 'priority'>, units: number, entries: number): Promise<void> {
    const tally = this.tallyOf(entry.pool);
    tally.levels[entry.priority].units += units;
    tally.levels[entry.priority].entries += entries;
    tally.version += 1;
  }

  async queuedTally(pool: string): Promise<QueuedTally> {
    return copyTally(this.tallyOf(pool));
  }

  async noteQueuedTally(pool: string, version: number, at: number): Promise<void> {
    this.tallyOf(pool).noted = { version, at };
  }

  async recountQueued(pool: string, levels: QueuedTotals, seenVersion: number): Promise<boolean> {
    const tally = this.tallyOf(pool);
    if (tally.version !== seenVersion) return false;
    tally.levels = structuredClone(levels);
    tally.checkedVersion = seenVersion;
    return true;
  }

  async executionEntries(pool: string, execution: string): Promise<QueueEntry[]> {
    const prefix = leaseIdPrefix(execution);
    return [...this.entriesOf(pool).values()].filter((entry) => entry.entryId.startsWith(prefix)).map((entry) => ({ ...entry }));
  }

  // ------------------------------------------------------------ admission queue

  private level(pool: string, priority: Priority): Level {
    const name = `${pool}#${priority}`;
    let level = this.levels.get(name);
    if (!level) {
      level = { keys: [], byKey: new Map() };
      this.levels.set(name, level);
    }
    return level;
  }

  private itemKey(entry: EntryRef): string {
    return `${entry.priority}\u0000${entry.entryId}`;
  }

  private entriesOf(pool: string): Map<string, QueueEntry> {
    let entries = this.queues.get(pool);
    if (!entries) {
      entries = new Map();
      this.queues.set(pool, entries);
    }
    return entries;
  }

  private addWaiting(entry: QueueEntry): void {
    const level = this.level(entry.pool, entry.priority);
    const key = queueKey(entry);
    if (!level.byKey.has(key)) level.keys.splice(lowerBound(level.keys, key), 0, key);
    level.byKey.set(key, entry);
  }

  private removeWaiting(entry: QueueEntry): void {
    const level = this.level(entry.pool, entry.priority);
    const key = queueKey(entry);
    if (!level.byKey.delete(key)) return;
    const at = lowerBound(level.keys, key);
    if (level.keys[at] === key) level.keys.splice(at, 1);
  }

  private heartbeatLevel(entry: Pick<QueueEntry, 'pool' | 'priority'>): string[] {
    const name = `${entry.pool}#${entry.priority}`;
    let keys = this.heartbeatKeys.get(name);
    if (!keys) {
      keys = [];
      this.heartbeatKeys.set(name, keys);
    }
    return keys;
  }

  private addHeartbeat(entry: QueueEntry): void {
    if (entry.heartbeatDue === undefined) return;
    const keys = this.heartbeatLevel(entry);
    const key = heartbeatKey(entry.heartbeatDue, entry.entryId);
    keys.splice(lowerBound(keys, key), 0, key);
  }

  private removeHeartbeat(entry: QueueEntry): void {
    if (entry.heartbeatDue === undefined) return;
    const keys = this.heartbeatLevel(entry);
    const at = lowerBound(keys, heartbeatKey(entry.heartbeatDue, entry.entryId));
    if (keys[at] === heartbeatKey(entry.heartbeatDue, entry.entryId)) keys.splice(at, 1);
  }

  /** The totals first, then the entry; a park that adds no waiting entry takes its ADD back. */
  async park(entry: Omit<QueueEntry, 'state'>): Promise<boolean> {
    await this.tallyQueued(entry, entry.units, 1);
    const entries = this.entriesOf(entry.pool);
    const key = this.itemKey(entry);
    const held = entries.get(key);
    if (held && held.state !== 'waiting') {
      // A retried park (its task token is new) while a grant is in flight: the grant's sweep tells the new token.
      held.taskToken = entry.taskToken;
      await this.tallyQueued(entry, -entry.units, -1);
      return false;
    }
    if (held) {
      this.removeWaiting(held);
      this.removeHeartbeat(held);
    }
    const parked: QueueEntry = { ...entry, state: 'waiting' };
    entries.set(key, parked);
    this.addWaiting(parked);
    this.addHeartbeat(parked);
    // A retried park replaced a waiting entry, which was counted already.
    if (held) await this.tallyQueued(held, -held.units, -1);
    return true;
  }

  async heartbeatsDue(pool: string, priority: Priority, now: number, limit: number, after?: string): Promise<QueuePage> {
    const keys = this.heartbeatLevel({ pool, priority });
    const from = after === undefined ? 0 : lowerBound(keys, `${after}\u0000`);
    const end = lowerBound(keys, heartbeatKey(now, '\uffff'));
    const page = keys.slice(from, Math.min(end, from + limit));
    const entries = this.entriesOf(pool);
    const due = page.map((key) => ({ ...(entries.get(`${priority}\u0000${key.slice(key.indexOf('#') + 1)}`) as QueueEntry) }));
    return { entries: due, ...(page.length === limit ? { next: page[page.length - 1] } : {}) };
  }

  async heartbeatSent(entry: Pick<QueueEntry, 'pool' | 'priority' | 'entryId' | 'taskToken'>, nextDue: number): Promise<boolean> {
    const held = this.entriesOf(entry.pool).get(this.itemKey(entry));
    if (!held || held.taskToken !== entry.taskToken) return false;
    this.removeHeartbeat(held);
    held.heartbeatDue = nextDue;
    this.addHeartbeat(held);
    return true;
  }

  async queueHead(pool: string, priority: Priority, limit: number, after?: string): Promise<QueuePage> {
    const level = this.level(pool, priority);
    const from = after === undefined ? 0 : lowerBound(level.keys, `${after}\u0000`);
    const keys = level.keys.slice(from, from + limit);
    const entries = keys.map((key) => ({ ...(level.byKey.get(key) as QueueEntry) }));
    // As DynamoDB's Limit: a full page says where the next starts, even when nothing follows.
    return { entries, ...(keys.length === limit ? { next: keys[keys.length - 1] } : {}) };
  }

  async grantingEntries(pool: string): Promise<QueueEntry[]> {
    return [...this.granting].filter((entry) => entry.pool === pool).map((entry) => ({ ...entry }));
  }

  async listQueue(pool: string): Promise<QueueEntry[]> {
    const copies: QueueEntry[] = [];
    for (const entry of this.entriesOf(pool).values()) copies.push({ ...entry });
    return copies;
  }

  async claim(entry: QueueEntry, clusterId: string, claimedAt: number): Promise<boolean> {
    await this.tallyQueued(entry, -entry.units, -1);
    const held = this.entriesOf(entry.pool).get(this.itemKey(entry));
    if (held?.state !== 'waiting' || held.taskToken !== entry.taskToken) {
      await this.tallyQueued(entry, entry.units, 1);
      return false;
    }
    this.removeWaiting(held);
    held.state = 'granting';
    held.grantCluster = clusterId;
    held.claimedAt = claimedAt;
    this.granting.add(held);
    return true;
  }

  async reclaim(entry: EntryRef, claimedAt: number, reclaimedAt: number): Promise<boolean> {
    const held = this.entriesOf(entry.pool).get(this.itemKey(entry));
    if (held?.state !== 'granting' || held.claimedAt !== claimedAt) return false;
    held.claimedAt = reclaimedAt;
    return true;
  }

  async unclaim(entry: Counted, claimedAt: number): Promise<boolean> {
    await this.tallyQueued(entry, entry.units, 1);
    const held = this.entriesOf(entry.pool).get(this.itemKey(entry));
    if (held?.state !== 'granting' || held.claimedAt !== claimedAt) {
      await this.tallyQueued(entry, -entry.units, -1);
      return false;
    }
    this.granting.delete(held);
    held.state = 'waiting';
    delete held.grantCluster;
    delete held.claimedAt;
    this.addWaiting(held);
    return true;
  }

  async granted(entry: EntryRef, claimedAt: number): Promise<boolean> {
    const key = this.itemKey(entry);
    const held = this.entriesOf(entry.pool).get(key);
    if (held?.state !== 'granting' || held.claimedAt !== claimedAt) return false;
    this.granting.delete(held);
    this.removeHeartbeat(held);
    this.entriesOf(entry.pool).delete(key);
    return true;
  }

  async withdraw(entry: Counted): Promise<boolean> {
    await this.tallyQueued(entry, -entry.units, -1);
    const key = this.itemKey(entry);
    const held = this.entriesOf(entry.pool).get(key);
    if (held?.state !== 'waiting') {
      await this.tallyQueued(entry, entry.units, 1);
      return false;
    }
    this.removeWaiting(held);
    this.removeHeartbeat(held);
    this.entriesOf(entry.pool).delete(key);
    return true;
  }
}
