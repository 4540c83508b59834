/**
 * The faults the matrix (faultMatrix.ts) and the scenario tests inject beyond the emulator's fault file: Lambda
 * errors and throttles in one state, a dedicated placement, a job sized as a large partition, a step that hangs.
 */
import { GetPartitionCommand, GlueClient, UpdatePartitionCommand } from '@aws-sdk/client-glue';
import { loadPools } from '../../lib/config/pools';
import { loadPrices } from '../../lib/config/prices';
import { loadRules } from '../../lib/config/rules';
import { placeJob, type PlaceJobInput } from '../../lib/domain/placement';
import type { JobRequest } from '../../lib/domain/types';
import { FaultsSchema } from '../emulator/faults';
import type { LocalRuntime, RunOptions } from './index';
import { LOCAL_STAGE } from './serverless-config';

export const spot = (phase: 'BOOTSTRAPPING' | 'STEP_RUNNING', attempts: number) => ({
  emr: { spotInterruption: Array.from({ length: attempts }, (_, i) => ({ attempt: i + 1, phase })) },
});
/** An error as a Task sees it (Retry/Catch match its name). */
export const taskError = (name: string, message: string) => Object.assign(new Error(message), { name });
/** Fails a state's Task `times` times (Infinity: always), then lets it through. */
export const failing = (name: string, message: string, times = Infinity) => {
  let left = times;
  return async (input: unknown, next: (input: unknown) => Promise<unknown>) => {
    if (left-- > 0) throw taskError(name, message);
    return next(input);
  };
};
/**
 * Throttles one EMR operation at 100% for a while: from the moment `state` starts, for `seconds` of emulated
 * time (DescribeCluster, which the .sync poll simply asks again).
 */
export const throttledForAWhile = (runtime: LocalRuntime, state: string, operation: string, seconds: number) => {
  let started = false;
  return {
    [state]: async (input: unknown, next: (input: unknown) => Promise<unknown>) => {
      if (!started) {
        started = true;
        runtime.setFaults(FaultsSchema.parse({ emr: { throttle: { [operation]: 1 } } }));
        setTimeout(() => runtime.setFaults(FaultsSchema.parse({})), seconds * 1000);
      }
      return next(input);
    },
  };
};
/**
 * Throttles the first `calls` tries of `state` at 100% (each try of RunSparkStep makes one AddJobFlowSteps
 * call first), then lifts: deterministic, whatever the jitter of the Retry.
 */
export const throttledForTries = (runtime: LocalRuntime, state: string, operation: string, calls: number) => {
  let tries = 0;
  return {
    [state]: async (input: unknown, next: (input: unknown) => Promise<unknown>) => {
      tries += 1;
      runtime.setFaults(FaultsSchema.parse(tries <= calls ? { emr: { throttle: { [operation]: 1 } } } : {}));
      return next(input);
    },
  };
};
/**
 * From the state's first entry, `operation` is throttled until the emulator has throttled `calls` of it:
 * counted calls, not tries of the state, for a call a dispatcher makes (pooled AddJobFlowSteps, batched at
 * grant time) rather than the state itself.
 */
export const throttledForCalls = (runtime: LocalRuntime, state: string, operation: string, calls: number) => {
  let armed = false;
  return {
    [state]: async (input: unknown, next: (input: unknown) => Promise<unknown>) => {
      if (!armed) {
        armed = true;
        const key = `EMR.${operation}`;
        const base = runtime.stats().throttled[key] ?? 0;
        runtime.setFaults(FaultsSchema.parse({ emr: { throttle: { [operation]: 1 } } }));
        void (async () => {
          // Bounded (a minute of polling), so a row whose calls never come leaves no loop behind.
          for (let polls = 0; polls < 12_000 && (runtime.stats().throttled[key] ?? 0) < base + calls; polls += 1)
            await new Promise((resolve) => setTimeout(resolve, 5));
          runtime.setFaults(FaultsSchema.parse({}));
        })();
      }
      return next(input);
    },
  };
};
/** PlaceJob with config/rules.json minus its usePool rules: the same domain function the handler calls. */
let dedicatedConfig: Parameters<typeof placeJob>[1] | null = null;
export const placeDedicated = async (input: unknown) => {
  if (!dedicatedConfig) {
    const prices = loadPrices();
    const pools = loadPools(prices);
    const rules = loadRules().filter((rule) => rule.event.type !== 'usePool');
    dedicatedConfig = { rules, template: pools.dedicated, prices, pools: pools.pools, stage: LOCAL_STAGE };
  }
  return placeJob(input as PlaceJobInput, dedicatedConfig);
};
export type Intercepts = NonNullable<RunOptions['intercept']>;
/** A row's intercepts with PlaceJob placing dedicated (a row's own PlaceJob wrapper then wraps that). */
export const dedicatedIntercepts = (intercept: Intercepts = {}): Intercepts => {
  const own = intercept.PlaceJob;
  return { ...intercept, PlaceJob: own ? (input, _next, stopped) => own(input, placeDedicated, stopped) : (input) => placeDedicated(input) };
};
/**
 * A pools configuration whose pools keep one Spot task node (4 units past the core fleet) at their managed-scaling
 * minimum: the shipped pool scales from its On-Demand core fleet alone, so an idle-sized cluster has no Spot node
 * for a Spot-loss fault to strike. For the raw config/pools.json (a jest.mock) and a parsed one (usePools) alike.
 */
export function withSpotAtMinimum<T extends { pools: Array<{ fleets: { coreUnits: number }; managedScaling: object }> }>(config: T): T {
  return {
    ...config,
    pools: config.pools.map((pool) => ({ ...pool, managedScaling: { ...pool.managedScaling, minimumUnits: pool.fleets.coreUnits + 4 } })),
  };
}

/**
 * 600 GiB: what a day of a big site's events weighs. The shipped sizing (denormalize-events' 60-minute SLA, 24 MiB/s
 * per unit with no history) gives it 16 units, predicted at 28 minutes: a dedicated cluster of one On-Demand 4xlarge
 * core node and a 12-unit task fleet that buys Spot. The fixture's 3 events are sized at the 2-unit minimum, a
 * cluster that is one On-Demand core node with no Spot for a Spot fault to hit.
 */
export const BIG_PARTITION_BYTES = 600 * 1024 ** 3;
/**
 * SizeJob sizing a big partition: just before the real size-job runs, the run's Glue partition is updated to report
 * `bytes` (sizeKey, the statistic a crawler records and size-job trusts), so the real handler and sizing code
 * compute the units from it. The step itself still reads the 3 events. Used by the rows and scenarios about Spot,
 * which are about a job big enough to have a Spot task fleet; the shipped 2-unit minimum stays as it is.
 */
export const sizedAsPartitionOf = (bytes: number): Intercepts => ({
  SizeJob: async (input, next) => {
    const { request } = input as { request: JobRequest };
    const catalog = request.job.catalog;
    if (!catalog) throw new Error(`sizedAsPartitionOf: job ${request.job.name} has no Glue catalog to report its size`);
    const ref = { DatabaseName: catalog.database, TableName: catalog.table };
    const glue = new GlueClient({});
    const { Partition } = await glue.send(new GetPartitionCommand({ ...ref, PartitionValues: [request.runDate] }));
    if (!Partition) throw new Error(`sizedAsPartitionOf: no partition ${request.runDate} in ${catalog.database}.${catalog.table}`);
    const { Values, StorageDescriptor, Parameters } = Partition;
    await glue.send(
      new UpdatePartitionCommand({
        ...ref,
        PartitionValueList: Values,
        PartitionInput: { Values, StorageDescriptor, Parameters: { ...Parameters, sizeKey: String(bytes) } },
      }),
    );
    return next(input);
  },
});
export const bigPartition = () => ({ intercept: sizedAsPartitionOf(BIG_PARTITION_BYTES) });
/** PlaceJob's dedicated cluster gets a day-long AutoTerminationPolicy (a compressed clock idles fast). */
export const longIdlePolicy = {
  PlaceJob: async (input: unknown, next: (input: unknown) => Promise<unknown>) => {
    const placement = (await next(input)) as { spec?: { idleTimeoutSeconds: number } | null };
    if (placement.spec) placement.spec.idleTimeoutSeconds = 24 * 3600;
    return placement;
  },
};
/** The state's work starts, and the Task then lasts until the execution stops: it runs into its timeout there. */
export const hangingAfterStart = (state: string) => ({
  [state]: async (input: unknown, next: (input: unknown) => Promise<unknown>, stopped: AbortSignal) => {
    await next(input).catch(() => undefined);
    await new Promise((resolve) => (stopped.aborted ? resolve(null) : stopped.addEventListener('abort', resolve, { once: true })));
    throw taskError('States.Runtime', 'the execution stopped');
  },
});
