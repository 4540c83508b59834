/** `emrflow batch <manifest.jsonl>`: run-batch on a manifest with a live view, then its summary. */
import { formatBatchReport, runBatch } from '../batchCommand';
import { type Flags, withRuntime } from './flags';
import { type Print, UsageError, existingFile } from './options';

export function batch(positional: string[], flags: Flags, print: Print): Promise<number> {
  if (positional.length !== 1) throw new UsageError('batch takes exactly one manifest: emrflow batch <manifest.jsonl>');
  const manifest = existingFile(positional[0], 'batch');
  return withRuntime(flags, async (runtime) => {
    const { report } = await runBatch(runtime, manifest, { concurrency: flags.concurrency, liveEveryMs: 1000, print });
    if (flags.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else for (const line of formatBatchReport(report)) print(line);
    return report.status === 'SUCCEEDED' ? 0 : 1;
  });
}
