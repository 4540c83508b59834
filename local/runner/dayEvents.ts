/**
 * A scratch file holding three valid events of one day: the data the fault matrix and the scenario tests upload
 * before they run run-job.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function writeDayEvents(runDate: string, prefix: string): { eventsFile: string; cleanup(): void } {
  const scratch = mkdtempSync(join(tmpdir(), prefix));
  const eventsFile = join(scratch, 'part-0001.json');
  writeFileSync(
    eventsFile,
    [1, 2, 3]
      .map((n) =>
        JSON.stringify({
          event_time: `${runDate}T10:0${n}:00Z`,
          site: 'news.example.com',
          visitor_id: `v${n}`,
          session_id: 's1',
          url: `https://news.example.com/${n}`,
        }),
      )
      .join('\n'),
  );
  return { eventsFile, cleanup: () => rmSync(scratch, { recursive: true, force: true }) };
}
