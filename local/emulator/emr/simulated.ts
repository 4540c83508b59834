/**
 * What a step that does not run Spark reports: how long it lasts (120 s plus 1 s per 32 MiB of the local
 * data behind its s3:// arguments) and, when the fault file fails it, what spark-submit would print last.
 */
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { IdFactory } from '../random';
import type { LocalS3 } from '../s3/store';
import { DURATIONS, type EmrStep } from './model';

export function simulatedSeconds(step: EmrStep, s3: LocalS3): number {
  let bytes = 0;
  const sizeOf = (file: string): number => {
    try {
      const stat = statSync(file);
      if (stat.isFile()) return stat.size;
      if (!stat.isDirectory()) return 0;
      return readdirSync(file).reduce((sum, name) => sum + sizeOf(path.join(file, name)), 0);
    } catch {
      return 0;
    }
  };
  for (const arg of step.Config.Args) {
    if (!/^s3[an]?:\/\//.test(arg)) continue;
    try {
      bytes += sizeOf(s3.uriToPath(arg));
    } catch {
      // an s3 uri that cannot be a local path names no local data
    }
  }
  return Math.round(DURATIONS.simulatedStepBaseSeconds + bytes / DURATIONS.simulatedStepBytesPerSecond);
}

/** What spark-submit prints last when a cluster-mode application fails. */
export function injectedErrorLines(step: EmrStep, ids: IdFactory): string[] {
  return [
    `ERROR Client: Application diagnostics message: User application exited with status 1 (step ${step.Name}, failure injected by the fault file)`,
    `Exception in thread "main" org.apache.spark.SparkException: Application ${ids.application()} finished with failed status`,
  ];
}
