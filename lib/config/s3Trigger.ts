/**
 * config/jobs.json `s3Trigger`: which S3 uploads start a job's run (lib/domain/s3Trigger.ts, and the
 * EventBridge rule infra/job-catalog.js builds from the same setting). Absent: marker mode with `_SUCCESS`.
 * Kept apart from jobs.ts so it moves into the job schema as one piece.
 */
import { DEFAULT_S3_MARKER } from '../contract';
import type { S3Trigger } from '../domain/types';
import type { ConfigReader } from './check';

const MODES = ['marker', 'per-object'] as const;
/** A name within one folder: no `/`, and no `*` or `\`, which EventBridge wildcard patterns reserve. */
const BASENAME = /^[^/*\\]+$/;

export function readS3Trigger(r: ConfigReader, value: unknown, field: string): S3Trigger {
  if (value === undefined) return { mode: 'marker', marker: DEFAULT_S3_MARKER };
  const o = r.object(value, field);
  const mode = r.oneOf(o.mode, `${field}.mode`, MODES);
  const allowed = mode === 'marker' ? ['mode', 'marker'] : ['mode', 'suffix'];
  const unknown = Object.keys(o).find((key) => !allowed.includes(key));
  if (unknown) r.fail(`${field}.${unknown}`, `is not a field of ${mode} mode (allowed: ${allowed.join(', ')})`);
  if (mode === 'marker') {
    return { mode, marker: o.marker === undefined ? DEFAULT_S3_MARKER : r.string(o.marker, `${field}.marker`, BASENAME) };
  }
  return o.suffix === undefined ? { mode } : { mode, suffix: r.string(o.suffix, `${field}.suffix`, BASENAME) };
}
