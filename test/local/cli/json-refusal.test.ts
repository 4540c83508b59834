/**
 * `--json` promises exactly one JSON object on stdout, also when the CLI refuses its input before any execution
 * starts (exit 2) or fails on its own (exit 1): the object says `REFUSED` or `ERROR` with the error and its cause,
 * while the reason for a person still goes to stderr.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main, reportFailure } from '../../../local/cli';
import { MAX_EXECUTION_INPUT_BYTES } from '../../../local/runner/execute';

jest.setTimeout(60_000);
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

const ROOT = join(__dirname, '../../..');
const dir = mkdtempSync(join(tmpdir(), 'emrflow-json-refusal-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const tooLarge = () => file('too-large.json', JSON.stringify({ job: 'denormalize-events', pad: 'x'.repeat(MAX_EXECUTION_INPUT_BYTES) }));

/** Runs a command as the CLI's entry point does, capturing what it writes (main's own --json output and the failure's). */
async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: unknown) => {
    stdout += String(chunk);
    return true;
  });
  const progress = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    const code = await main(argv).catch((error) => reportFailure(error, argv, { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text) }));
    return { code, stdout, stderr };
  } finally {
    out.mockRestore();
    progress.mockRestore();
  }
}

describe('emrflow --json when the input is refused before any execution starts', () => {
  it.each([
    ['an unknown option', () => ['run', 'in.json', '--json', '--foo'], 'Usage.Invalid', 'unknown option --foo'],
    ['a bad option value', () => ['run', 'in.json', '--json', '--time-scale', 'fast'], 'Usage.Invalid', '--time-scale: must be a number ≥ 0'],
    ['a missing input file', () => ['run', join(dir, 'no-such.json'), '--json'], 'Usage.Invalid', 'input: no such file'],
    ['an input that is not JSON', () => ['run', file('broken.json', '{"job": '), '--json'], 'Usage.Invalid', 'is not valid JSON'],
    ['an upload to no bucket URI', () => ['upload', join(ROOT, 'README.md'), 's3://emrflow-raw/', '--json'], 'Usage.Invalid', 'is not s3://<bucket>/<key>'],
    ['a batch without its manifest', () => ['batch', join(dir, 'no-such.jsonl'), '--json'], 'Usage.Invalid', 'batch: no such file'],
    ['an unknown command', () => ['launch', '--json'], 'Usage.Invalid', 'unknown command "launch"'],
    [
      'an input over 256 KiB (StartExecution refuses it)',
      () => ['run', tooLarge(), '--json', '--simulate-steps', '--time-scale', '0.001'],
      'ValidationException',
      `less than or equal to ${MAX_EXECUTION_INPUT_BYTES}`,
    ],
  ])('%s: exit 2 and one REFUSED object on stdout', async (_what, argv, error, cause) => {
    const { code, stdout, stderr } = await cli(argv());

    expect(code).toBe(2);
    expect(JSON.parse(stdout)).toEqual({ status: 'REFUSED', error, cause: expect.stringContaining(cause) });
    expect(stderr).toContain(cause);
  });

  it('reports an error that is not a refusal as one ERROR object, exit 1', () => {
    let stdout = '';
    const code = reportFailure(new Error('emulator port in use'), ['run', 'in.json', '--json'], {
      stdout: (text) => (stdout += text),
      stderr: () => undefined,
    });

    expect(code).toBe(1);
    expect(JSON.parse(stdout)).toEqual({ status: 'ERROR', error: 'Error', cause: 'emulator port in use' });
  });

  it('prints nothing on stdout for the same refusal without --json (negative control)', async () => {
    const { code, stdout, stderr } = await cli(['run', join(dir, 'no-such.json')]);

    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain('input: no such file');
  });

  it('keeps the promise through bin/emrflow: an input over 256 KiB gives exit 2 and exactly one JSON object', () => {
    const result = spawnSync(join(ROOT, 'bin/emrflow'), ['run', tooLarge(), '--json', '--simulate-steps', '--time-scale', '0.001'], {
      cwd: ROOT,
      encoding: 'utf8',
    });

    expect(result.status).toBe(2);
    expect(JSON.parse(result.stdout)).toMatchObject({ status: 'REFUSED', error: 'ValidationException' });
    expect(result.stderr).toContain(`less than or equal to ${MAX_EXECUTION_INPUT_BYTES}`);
  });
});
