/** `emrflow pools`: each pool's clusters and queue, from the registry in the runtime's state. */
import { dynamoClient } from '../../lib/aws/clients';
import { loadPools } from '../../lib/config/pools';
import { loadPrices } from '../../lib/config/prices';
import { formatPoolReports, poolReports } from '../poolsReport';
import { type Flags, withRuntime } from './flags';
import { type Print, UsageError } from './options';

export function pools(positional: string[], flags: Flags, print: Print): Promise<number> {
  if (positional.length !== 0) throw new UsageError('pools takes no arguments: emrflow pools [--json] [--state-dir <dir>]');
  return withRuntime(flags, async (runtime) => {
    const environment = Object.values(runtime.config.functions)[0]?.environment ?? {};
    const tables = { clusters: environment.CLUSTER_REGISTRY_TABLE, queue: environment.ADMISSION_QUEUE_TABLE, runs: environment.RUNS_TABLE };
    if (!tables.clusters || !tables.queue || !tables.runs)
      throw new Error('serverless.yml gives the functions no CLUSTER_REGISTRY_TABLE / ADMISSION_QUEUE_TABLE / RUNS_TABLE');
    const prices = loadPrices();
    const reports = await poolReports(dynamoClient(), tables, loadPools(prices).pools, prices);
    if (flags.json) process.stdout.write(`${JSON.stringify({ pools: reports }, null, 2)}\n`);
    else {
      if (!runtime.keepsState) print('(a fresh temporary state directory has an empty registry: pass --state-dir <dir> of a runtime that ran jobs)');
      for (const line of formatPoolReports(reports)) print(line);
    }
    return 0;
  });
}
