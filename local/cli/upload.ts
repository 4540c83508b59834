/** `emrflow upload <file> s3://<bucket>/<key>`: a file into local S3, and the execution its S3 trigger starts. */
import { parseS3Uri } from '../../lib/contract';
import { finish, printWhereOutputIs, uploadAndRun } from './execution';
import { type Flags, withRuntime } from './flags';
import { type Print, UsageError, existingFile } from './options';

export function upload(positional: string[], flags: Flags, print: Print): Promise<number> {
  if (positional.length !== 2) throw new UsageError('upload takes a file and an S3 URI: emrflow upload <file> s3://<bucket>/<key>');
  const [file, uri] = positional;
  existingFile(file, 'upload');
  const location = parseS3Uri(uri);
  if (!location?.key || location.key.endsWith('/')) throw new UsageError(`upload: "${uri}" is not s3://<bucket>/<key>`);
  return withRuntime(flags, async (runtime) => {
    const { bucket } = location;
    if (!Object.values(runtime.buckets).includes(bucket)) {
      throw new UsageError(`upload: no local bucket "${bucket}" (serverless.yml declares ${Object.values(runtime.buckets).join(', ')})`);
    }
    const summary = await uploadAndRun(runtime, file, uri, flags, print);
    if (summary) printWhereOutputIs(runtime, summary, print);
    return finish(summary, flags);
  });
}
