import type { AppCluster } from '../../../lib/domain/cleanup';
import { parseReapOptions, planReap, type ReapInput } from '../../../lib/domain/reaper';

const NOW = 1_796_000_000_000;
const HOUR = 3_600_000;
const cluster = (id: string, tags: Record<string, string>, extra: Partial<AppCluster> = {}): AppCluster => ({
  id,
  name: id,
  state: 'WAITING',
  createdAt: NOW - 2 * HOUR,
  readyAt: NOW - 2 * HOUR,
  tags: { 'emrflow:app': 'emrflow', ...tags },
  ...extra,
});
const input = (clusters: AppCluster[], overrides: Partial<ReapInput> = {}): ReapInput => ({
  clusters,
  executions: { live: 'RUNNING', done: 'SUCCEEDED' },
  registry: {},
  now: NOW,
  graceSeconds: 300,
  poolIdleSeconds: 1800,
  ...overrides,
});
const decisions = (plan: ReturnType<typeof planReap>) => ({
  terminate: plan.terminate.map((action) => action.clusterId).sort(),
  keep: plan.keep.map((action) => action.clusterId).sort(),
});

describe('the reaper plan', () => {
  it('terminates dedicated clusters whose execution ended, is unknown or is not named; keeps those of running executions', () => {
    const plan = planReap(
      input([
        cluster('j-LIVE', { 'emrflow:pool': 'dedicated', 'emrflow:execution': 'live' }),
        cluster('j-DONE', { 'emrflow:pool': 'dedicated', 'emrflow:execution': 'done' }),
        cluster('j-GONE', { 'emrflow:pool': 'dedicated', 'emrflow:execution': 'forgotten' }),
        cluster('j-NONE', { 'emrflow:pool': 'dedicated' }),
      ]),
    );

    expect(decisions(plan)).toEqual({ terminate: ['j-DONE', 'j-GONE', 'j-NONE'], keep: ['j-LIVE'] });
    expect(plan.terminate.find((action) => action.clusterId === 'j-DONE')!.reason).toBe('orphan: its execution done is SUCCEEDED');
    expect(plan.terminate.find((action) => action.clusterId === 'j-GONE')!.reason).toContain('unknown to Step Functions');
  });

  it('never touches a cluster within the grace period, whatever its owner', () => {
    const plan = planReap(input([cluster('j-NEW', { 'emrflow:pool': 'dedicated', 'emrflow:execution': 'forgotten' }, { createdAt: NOW - 60_000 })]));

    expect(decisions(plan)).toEqual({ terminate: [], keep: ['j-NEW'] });
  });

  it('keeps pool clusters with a live lease, terminates unknown ones and idle ones past the limit', () => {
    const pool = { 'emrflow:pool': 'default' };
    const plan = planReap(
      input(
        [
          cluster('j-LEASED', pool),
          cluster('j-UNKNOWN', pool),
          cluster('j-IDLE', pool),
          cluster('j-RESTING', pool),
          cluster('j-BUSY-NO-LEASE', pool, { state: 'RUNNING' }),
        ],
        {
          registry: {
            'j-LEASED': { leases: { a: { execution: 'live', expiresAt: NOW + 60_000 } } },
            'j-IDLE': { leases: { b: { execution: 'done', expiresAt: NOW - HOUR } } },
            'j-RESTING': { leases: { c: { execution: 'done', expiresAt: NOW - 60_000 } } },
            'j-BUSY-NO-LEASE': { leases: {} },
          },
        },
      ),
    );

    expect(decisions(plan)).toEqual({ terminate: ['j-IDLE', 'j-UNKNOWN'], keep: ['j-BUSY-NO-LEASE', 'j-LEASED', 'j-RESTING'] });
    expect(plan.terminate.find((action) => action.clusterId === 'j-IDLE')!.reason).toContain('idle 3600 s, past the 1800 s limit');
  });

  it('keeps every pool cluster when the registry was not read', () => {
    const plan = planReap(input([cluster('j-POOL', { 'emrflow:pool': 'default' })], { registry: null }));

    expect(decisions(plan)).toEqual({ terminate: [], keep: ['j-POOL'] });
  });

  it('reads a scheduled event as a real run and { dryRun } as asked; refuses anything else naming the field', () => {
    expect(parseReapOptions({ source: 'aws.events', 'detail-type': 'Scheduled Event' })).toEqual({ dryRun: false, graceSeconds: 300 });
    expect(parseReapOptions({ dryRun: true, graceSeconds: 0 })).toEqual({ dryRun: true, graceSeconds: 0 });
    expect(() => parseReapOptions({ dryRun: 'yes' })).toThrow(expect.objectContaining({ name: 'Request.Invalid', field: 'dryRun' }));
    expect(() => parseReapOptions({ dryrun: true })).toThrow(expect.objectContaining({ field: 'dryrun' }));
  });
});
