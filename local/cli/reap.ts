/** `emrflow reap [--dry-run]`: the reaper (reap-clusters) on the runtime's state. */
import { type Flags, withRuntime } from './flags';
import { type Print, UsageError } from './options';

interface ReapPlan {
  terminate: Array<{ clusterId: string; reason: string }>;
  keep: Array<{ clusterId: string; reason: string }>;
}

export function reap(positional: string[], flags: Flags, print: Print): Promise<number> {
  if (positional.length !== 0) throw new UsageError('reap takes no arguments: emrflow reap [--dry-run] [--state-dir d]');
  return withRuntime(flags, async (runtime) => {
    // No other process runs executions on this state: no grace period is needed.
    const plan = (await runtime.invoke('reapClusters', { dryRun: flags['dry-run'], graceSeconds: 0 })) as ReapPlan;
    if (flags.json) process.stdout.write(`${JSON.stringify({ dryRun: flags['dry-run'], ...plan }, null, 2)}\n`);
    const verb = flags['dry-run'] ? 'would terminate' : 'terminated';
    for (const action of plan.terminate) print(`${verb} ${action.clusterId}: ${action.reason}`);
    for (const action of plan.keep) print(`kept ${action.clusterId}: ${action.reason}`);
    print(`${plan.terminate.length} cluster(s) ${verb}, ${plan.keep.length} kept${flags['dry-run'] ? ' (dry run: nothing was changed)' : ''}`);
    return 0;
  });
}
