import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseFaults } from '../../../local/emulator/faults';

const dir = join(__dirname, '../../../examples/faults');

describe('examples/faults', () => {
  const files = readdirSync(dir).filter((file) => file.endsWith('.json'));

  it('ships an example for every kind of fault', () => {
    const kinds = files.flatMap((file) => {
      const faults = JSON.parse(readFileSync(join(dir, file), 'utf8'));
      return [
        ...Object.keys(faults.emr ?? {}),
        ...Object.keys(faults.glue ?? {}),
        ...Object.keys(faults.emrServerless ?? {}).map((kind) => `emrServerless.${kind}`),
        ...Object.keys(faults.events ?? {}).map((kind) => `events.${kind}`),
      ];
    });
    expect(new Set(kinds)).toEqual(
      new Set([
        'spotInterruption',
        'spotCapacityUnavailable',
        'stepFailure',
        'bootstrapFailure',
        'throttle',
        'crawlerAlreadyRunning',
        'crawlerFails',
        'events.drop',
        'events.duplicate',
        'emrServerless.jobRunFailure',
        'emrServerless.capacityExceeded',
      ]),
    );
  });

  it.each(files)('%s is accepted by the strict fault parser', (file) => {
    expect(() => parseFaults(readFileSync(join(dir, file), 'utf8'), file)).not.toThrow();
  });
});
