/**
 * Watches every write to the pool registry that goes through one DocumentClient (the Lambdas' shared
 * `dynamoClient()` on the local runtime) and checks the registry's invariants on the item each write left:
 * units in use never above capacity, units in use equal to the sum of the leases, leases never more than the
 * cluster's job slots. An UpdateItem is sent with `ReturnValues: ALL_NEW`, so the image checked is exactly
 * the one that write produced, not a later read. It also records each lease as it appears (a grant).
 *
 * Used by the pool load test and `npm run bench:pool`: "never overbooked" is checked on every write, not
 * only at the end.
 */
import { createHash } from 'node:crypto';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

export interface ClusterImage {
  pool: string;
  clusterId: string;
  state: string;
  capacityUnits: number;
  maxJobs: number;
  unitsInUse: number;
  leases: Record<string, { units: number; execution: string }>;
  version: number;
}

export interface Violation {
  at: number;
  clusterId: string;
  problem: string;
}

export interface LeaseGrant {
  at: number;
  pool: string;
  clusterId: string;
  lease: string;
  /** The execution the lease was granted to. */
  execution: string;
  units: number;
}

export interface RegistryObservation {
  /** Writes to the cluster table whose result was checked. */
  writes: number;
  violations: Violation[];
  grants: LeaseGrant[];
  /** Each state a cluster item was written with, in order (STARTING, WAITING, TERMINATING, …). */
  states: Array<{ at: number; clusterId: string; state: string }>;
  /** Undoes the patch. */
  detach(): void;
}

type Sendable = { input: Record<string, unknown>; constructor: { name: string } };

export function observeRegistry(client: DynamoDBDocumentClient, clusterTable: string): RegistryObservation {
  const observation: RegistryObservation = { writes: 0, violations: [], grants: [], states: [], detach: () => undefined };
  const latest = new Map<string, { version: number; leases: Set<string>; state: string }>();
  const original = client.send.bind(client) as (command: unknown) => Promise<{ Attributes?: Record<string, unknown>; Item?: Record<string, unknown> }>;

  const check = (item: Record<string, unknown> | undefined) => {
    if (item?.kind !== 'cluster') return;
    const image = item as unknown as ClusterImage;
    const key = `${image.pool}/${image.clusterId}`;
    const known = latest.get(key);
    // Responses of concurrent writes may arrive out of order: only a newer image says something new.
    if (known && known.version >= image.version) return;
    const at = Date.now();
    const leases = Object.entries(image.leases ?? {});
    const leased = leases.reduce((sum, [, lease]) => sum + lease.units, 0);
    const problems = [
      image.unitsInUse > image.capacityUnits ? `${image.unitsInUse} units in use > capacity ${image.capacityUnits}` : null,
      leased !== image.unitsInUse ? `leases hold ${leased} units but unitsInUse is ${image.unitsInUse}` : null,
      leases.length > image.maxJobs ? `${leases.length} leases > ${image.maxJobs} job slots` : null,
    ].filter((problem): problem is string => problem !== null);
    for (const problem of problems) observation.violations.push({ at, clusterId: image.clusterId, problem });
    for (const [lease, { units, execution }] of leases) {
      if (!known?.leases.has(lease)) observation.grants.push({ at, pool: image.pool, clusterId: image.clusterId, lease, execution, units });
    }
    if (known?.state !== image.state) observation.states.push({ at, clusterId: image.clusterId, state: image.state });
    latest.set(key, { version: image.version, leases: new Set(leases.map(([lease]) => lease)), state: image.state });
  };

  const patched = async (command: Sendable) => {
    const name = command.constructor.name;
    const toRegistry = command.input?.TableName === clusterTable;
    if (toRegistry && name === 'UpdateCommand' && command.input.ReturnValues === undefined) command.input.ReturnValues = 'ALL_NEW';
    const result = await original(command);
    if (!toRegistry) return result;
    if (name === 'UpdateCommand' || name === 'PutCommand') {
      observation.writes += 1;
      check(name === 'PutCommand' ? (command.input.Item as Record<string, unknown> | undefined) : result?.Attributes);
    }
    return result;
  };
  (client as unknown as { send: unknown }).send = patched;
  observation.detach = () => {
    (client as unknown as { send: unknown }).send = original;
  };
  return observation;
}

/** The grant sequence, `execution>cN`, clusters named by their order of creation (`clusterOrder`), not by their ids. */
export function grantSequence(grants: Array<Pick<LeaseGrant, 'execution' | 'clusterId'>>, clusterOrder: string[]): string[] {
  const ordinal = new Map(clusterOrder.map((clusterId, index) => [clusterId, index + 1]));
  return grants.map((grant) => `${grant.execution}>c${ordinal.get(grant.clusterId) ?? grant.clusterId}`);
}

/** A hash of the grant sequence (execution → cluster, in order), to compare two runs' decisions at a glance. */
export function decisionsHash(grants: Array<Pick<LeaseGrant, 'execution' | 'clusterId'>>, clusterOrder: string[]): string {
  return createHash('sha256').update(grantSequence(grants, clusterOrder).join('\n')).digest('hex').slice(0, 16);
}
