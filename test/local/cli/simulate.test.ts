import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../../local/cli';

describe('emrflow simulate', () => {
  let dir: string;
  let profile: string;
  let stdout: string;
  let stderr: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'emrflow-simulate-'));
    const day = JSON.parse(readFileSync('examples/planner/day.json', 'utf8'));
    profile = join(dir, 'small.json');
    writeFileSync(profile, JSON.stringify({ ...day, jobs: 200, totalInputTiB: 0.04 }));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  beforeEach(() => {
    stdout = '';
    stderr = '';
    jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stdout += String(chunk);
      return true;
    });
    jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stderr += String(chunk);
      return true;
    });
  });
  afterEach(() => jest.restoreAllMocks());

  it.each([
    [['simulate', '--seed', 'abc'], '--seed: must be an integer from 0 to 4294967295, got "abc"'],
    [['simulate', '--profile', 'no/such.json'], '--profile: no such file: no/such.json'],
    [['simulate', '--history', 'no/such.jsonl'], '--history: no such file: no/such.jsonl'],
    [['simulate', 'day.json'], 'simulate takes no arguments'],
  ])('rejects %j: %s', async (argv, message) => {
    await expect(main(argv)).rejects.toThrow(message);
  });

  it('prints one JSON object with --json, the table and progress on stderr, and writes the figures and the report', async () => {
    const out = join(dir, 'out');
    expect(await main(['simulate', '--profile', profile, '--seed', '3', '--out', out, '--json'])).toBe(0);

    const printed = JSON.parse(stdout);
    expect(printed).toMatchObject({ simulatedJobs: 200, seed: 3 });
    expect(typeof printed.wallSeconds).toBe('number');
    expect(Object.keys(printed.strategies).sort()).toEqual([
      'emr-serverless',
      'emr-serverless-preinit',
      'emrflow',
      'emrflow-hybrid',
      'floor',
      'on-demand-per-job',
      'spot-per-job',
    ]);
    expect(typeof printed.floorUsd).toBe('number');
    for (const figures of Object.values(printed.strategies) as Array<Record<string, unknown>>) {
      expect(Object.keys(figures)).toEqual(
        expect.arrayContaining([
          'costUsd',
          'costToFloor',
          'launches',
          'launchShare',
          'startSeconds',
          'completion',
          'slaMisses',
          'peakApiCallsPerSecond',
          'quotaExceeded',
          'failures',
          'idleShare',
        ]),
      );
    }
    expect(stderr).toMatch(/simulating/);
    expect(stderr).toMatch(/SIMULATED day: 200 jobs/);
    expect(stderr).toMatch(/targets:/);
    expect(JSON.parse(readFileSync(join(out, 'simulation.json'), 'utf8')).series.minutes).toBe(1440);
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toMatch(/<canvas id="cost">/);
  });

  it('replays a runs-table export (JSON lines), and names the line of a bad one', async () => {
    const history = join(dir, 'runs.jsonl');
    const runs = Array.from({ length: 30 }, (_, i) => ({
      job: 'denormalize-events',
      finishedAt: new Date(Date.UTC(2026, 11, 1, i % 24, 10)).toISOString(),
      runId: `run-${i}`,
      status: 'SUCCEEDED',
      durationSeconds: 900,
      inputBytes: (i + 1) * 50 * 1024 ** 2,
      capacityUnits: 8,
      stepSeconds: 300,
    }));
    writeFileSync(history, runs.map((r) => JSON.stringify(r)).join('\n'));
    expect(await main(['simulate', '--history', history, '--out', join(dir, 'h'), '--json'])).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ simulatedJobs: 30, source: history });

    writeFileSync(history, `${JSON.stringify(runs[0])}\n${JSON.stringify({ ...runs[1], finishedAt: 'yesterday' })}\n`);
    await expect(main(['simulate', '--history', history, '--out', join(dir, 'h2')])).rejects.toThrow(/runs\.jsonl:2: finishedAt: must be an ISO 8601 time/);
    expect(existsSync(join(dir, 'h2'))).toBe(false);
  });
});
