/**
 * Heartbeats grow with the queue (issue 21): the reconcile sweep runs every minute, but each parked job is
 * heartbeated about once per AcquireCapacity HeartbeatSeconds window (with margin), spread over the window,
 * reading only the entries whose heartbeat is due. A simulated hour on the in-memory store under a virtual
 * clock; the negative control feeds the same check the old every-minute, everyone behaviour.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ACQUIRE_HEARTBEAT_SECONDS, HEARTBEAT_INTERVAL_MS, createJobManager, type PoolContext } from '../../../lib/jobManager/jobManager';
import { MemoryJobStore } from '../../../lib/jobManager/memoryStore';
import { testContext } from './support/pool';

// No cluster may start: every job stays parked for the hour.
const CONTEXT: PoolContext = testContext({ pool: { maxClusters: 0 } });
const JOBS = 600;
const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;
/** At most this many heartbeats per job in an hour (the window is 15 minutes: at least 4 are needed). */
const MAX_PER_HOUR = 6;
/** At most this many a minute: twice the even spread of JOBS over one heartbeat interval. */
const MAX_PER_MINUTE = 2 * Math.ceil(JOBS / (HEARTBEAT_INTERVAL_MS / MINUTE_MS));

type Beat = { token: string; at: number };

/** What breaks the heartbeat contract over [start, end]: a window missed, too few or too many a job, a minute over the bound. */
function heartbeatProblems(parkedAt: Map<string, number>, beats: Beat[], end: number): string[] {
  const problems: string[] = [];
  const byToken = new Map<string, number[]>();
  for (const beat of beats) byToken.set(beat.token, [...(byToken.get(beat.token) ?? []), beat.at]);
  for (const [token, parked] of parkedAt) {
    const times = byToken.get(token) ?? [];
    const marks = [parked, ...times, end];
    const longest = Math.max(...marks.slice(1).map((at, i) => at - marks[i]));
    if (longest > ACQUIRE_HEARTBEAT_SECONDS * 1000) problems.push(`${token}: ${longest / 1000} s without a heartbeat`);
    if (times.length < 4 || times.length > MAX_PER_HOUR) problems.push(`${token}: ${times.length} heartbeats in the hour`);
  }
  const perMinute = new Map<number, number>();
  for (const beat of beats) perMinute.set(Math.floor(beat.at / MINUTE_MS), (perMinute.get(Math.floor(beat.at / MINUTE_MS)) ?? 0) + 1);
  const busiest = Math.max(0, ...perMinute.values());
  if (busiest > MAX_PER_MINUTE) problems.push(`${busiest} heartbeats in one minute (bound ${MAX_PER_MINUTE})`);
  return problems;
}

describe('heartbeats to parked executions', () => {
  it('gives each job parked for an hour 4 to 6 heartbeats, none missing its window, spread so that no minute exceeds the bound, reading only what is due', async () => {
    // Prepare: a burst of JOBS parks within the first minute, under a virtual clock.
    const store = new MemoryJobStore();
    const clock = { ms: 0 };
    let dueRead = 0;
    const counted = Object.assign(Object.create(store) as MemoryJobStore, {
      heartbeatsDue: async (...args: Parameters<MemoryJobStore['heartbeatsDue']>) => {
        const page = await store.heartbeatsDue(...args);
        dueRead += page.entries.length;
        return page;
      },
      listQueue: async () => {
        throw new Error('reconcile must not read the whole queue');
      },
    });
    const beats: Beat[] = [];
    const manager = createJobManager({
      registry: counted,
      stepTokens: store,
      clock: { now: () => clock.ms, sleep: async () => undefined },
      placeholderId: () => 'unused',
      emr: {
        launchCluster: async () => {
          throw new Error('no launch expected');
        },
        describeClusterState: async () => null,
        addStep: async () => '',
        addSteps: async () => {
          throw new Error('no batch expected');
        },
        listSteps: async () => ({ steps: [] }),
        cancelSteps: async () => undefined,
        findLaunch: async () => null,
      },
      sfn: {
        sendSlot: async () => undefined,
        sendSuccess: async () => undefined,
        sendFailure: async () => undefined,
        sendHeartbeat: async (token) => void beats.push({ token, at: clock.ms }),
      },
    });
    const parkedAt = new Map<string, number>();
    for (let i = 0; i < JOBS; i += 1) {
      clock.ms = Math.floor((i * MINUTE_MS) / JOBS);
      const priority = (['high', 'normal', 'low'] as const)[i % 3];
      await manager.acquireCapacity(CONTEXT, { units: 2, priority, execution: `exec-${i}`, attempt: 1, taskToken: `token-${i}` });
      parkedAt.set(`token-${i}`, clock.ms);
    }

    // Act: the one-minute sweep, for an hour.
    let reconciled = 0;
    for (clock.ms = MINUTE_MS; clock.ms <= HOUR_MS; clock.ms += MINUTE_MS) {
      reconciled += (await manager.reconcile(CONTEXT)).heartbeats;
    }

    // Assess
    expect(heartbeatProblems(parkedAt, beats, HOUR_MS)).toEqual([]);
    expect(reconciled).toBe(beats.length);
    // Each entry read was due and got its heartbeat: the sweep's reads follow the heartbeats owed.
    expect(dueRead).toBe(beats.length);
    expect(beats.length).toBeLessThanOrEqual(JOBS * MAX_PER_HOUR);
  });

  it('the check can fail (negative control): the old sweep, every parked job every minute', () => {
    const parkedAt = new Map<string, number>();
    const beats: Beat[] = [];
    for (let i = 0; i < JOBS; i += 1) parkedAt.set(`token-${i}`, Math.floor((i * MINUTE_MS) / JOBS));
    for (let at = MINUTE_MS; at <= HOUR_MS; at += MINUTE_MS) for (const token of parkedAt.keys()) beats.push({ token, at });

    const problems = heartbeatProblems(parkedAt, beats, HOUR_MS);

    expect(problems).toContain(`${JOBS} heartbeats in one minute (bound ${MAX_PER_MINUTE})`);
    expect(problems).toContain('token-0: 60 heartbeats in the hour');
  });

  it('the check can fail (negative control): a job whose heartbeats stop for more than the window', () => {
    const parkedAt = new Map([['token-0', 0]]);
    const beats = [0, 12, 24, 40, 52].map((minute) => ({ token: 'token-0', at: minute * MINUTE_MS }));

    expect(heartbeatProblems(parkedAt, beats, HOUR_MS)).toEqual(['token-0: 960 s without a heartbeat']);
  });

  it('keeps the interval within AcquireCapacity’s HeartbeatSeconds in run-job.asl.yml, with two sweep periods to spare', () => {
    const asl = readFileSync(join(__dirname, '../../../statemachines/run-job.asl.yml'), 'utf8');
    const acquire = asl.slice(asl.indexOf('\n  AcquireCapacity:'), asl.indexOf('\n  RunPooledStep:'));

    expect(Number(/HeartbeatSeconds: (\d+)/.exec(acquire)?.[1])).toBe(ACQUIRE_HEARTBEAT_SECONDS);
    expect(HEARTBEAT_INTERVAL_MS + 2 * MINUTE_MS).toBeLessThan(ACQUIRE_HEARTBEAT_SECONDS * 1000);
  });
});
