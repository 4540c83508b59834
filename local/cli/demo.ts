/** `emrflow demo`: sample events for a day, uploaded with their partition's marker, and the run it starts (npm start). */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { s3Location } from '../../lib/contract';
import { PROJECT_DIR } from '../runner';
import { finish, printWhereOutputIs, uploadAndRun } from './execution';
import { type Flags, withRuntime } from './flags';
import type { Print } from './options';

export function demo(flags: Flags, print: Print): Promise<number> {
  return withRuntime(flags, async (runtime) => {
    const date = flags.date ?? new Date().toISOString().slice(0, 10);
    const dir = join(runtime.stateDir, 'generated');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `events-${date}.json`);
    const python = existsSync(join(PROJECT_DIR, '.venv/bin/python')) ? join(PROJECT_DIR, '.venv/bin/python') : 'python3';
    const generated = spawnSync(python, [join(PROJECT_DIR, 'spark/generate_events.py'), '--events', String(flags.events), '--date', date, '--out', file], {
      encoding: 'utf8',
    });
    if (generated.status !== 0) throw new Error(`spark/generate_events.py failed: ${generated.stderr || generated.error?.message}`);
    print(`generated ${flags.events} events for ${date} with spark/generate_events.py`);
    const partition = s3Location(runtime.buckets.RawBucket, `events/dt=${date}/`).uri;
    // The data, then the partition's marker: the job's s3Trigger (config/jobs.json) starts one run on the marker.
    await runtime.upload(file, `${partition}part-0001.json`);
    print(`uploaded ${file} → ${partition}part-0001.json  (no run yet: the partition is complete when its _SUCCESS lands)`);
    const marker = join(dir, '_SUCCESS');
    writeFileSync(marker, '');
    const summary = await uploadAndRun(runtime, marker, `${partition}_SUCCESS`, flags, print);
    if (summary) printWhereOutputIs(runtime, summary, print);
    return finish(summary, flags);
  });
}
