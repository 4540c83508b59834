/** Step logs where EMR puts them: `<LogUri>/<cluster-id>/steps/<step-id>/{stdout,stderr}` in local S3. */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { LocalS3 } from '../s3/store';
import type { EmrCluster, EmrStep } from './model';

export interface StepLogLocation {
  /** The s3:// folder EMR reports (FailureDetails.LogFile is `<uri>stderr`). */
  uri: string;
  /** Its local directory. */
  dir: string;
}

export function stepLogLocation(cluster: EmrCluster, step: EmrStep, s3: LocalS3): StepLogLocation | null {
  if (!cluster.LogUri) return null;
  const base = cluster.LogUri.endsWith('/') ? cluster.LogUri : `${cluster.LogUri}/`;
  const uri = `${base}${cluster.Id}/steps/${step.Id}/`;
  try {
    return { uri, dir: s3.uriToPath(uri) };
  } catch {
    // A LogUri that cannot be a local path (say, an upper-case bucket name) gets no logs, as EMR would fail to upload them.
    return null;
  }
}

export async function writeStepLogs(dir: string | null, content: { stdout: string; stderr: string }): Promise<void> {
  if (!dir) return;
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, 'stdout'), content.stdout);
  await fs.writeFile(path.join(dir, 'stderr'), content.stderr);
}
