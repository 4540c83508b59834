/**
 * Every AWS CLI command local/emulator/README.md documents ("With the AWS CLI"), run as written, in order,
 * with the project venv's AWS CLI v1 against `bin/emrflow emulator` started as a user starts it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(__dirname, '../..');
const venvBin = path.join(root, '.venv', 'bin');

/** The fenced block under "## With the AWS CLI", one command a line (a trailing `# …` is a note to the reader). */
function documentedCommands(): Array<{ command: string; note: string }> {
  const readme = readFileSync(path.join(root, 'local', 'emulator', 'README.md'), 'utf8');
  const section = readme.split('## With the AWS CLI')[1];
  const block = /```sh\n([\s\S]*?)```/.exec(section ?? '');
  if (!block) throw new Error('local/emulator/README.md has no ```sh block under "## With the AWS CLI"');
  return block[1]
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => {
      const at = line.indexOf('   # ');
      return at < 0 ? { command: line.trim(), note: '' } : { command: line.slice(0, at).trim(), note: line.slice(at + 5).trim() };
    });
}

/** Starts `bin/emrflow emulator` and reads the exports and bucket names it prints. */
async function startCliEmulator(): Promise<{ child: ChildProcess; env: Record<string, string>; buckets: string[] }> {
  const child = spawn(path.join(root, 'bin', 'emrflow'), ['emulator'], { cwd: root, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stderr!.on('data', (chunk) => (output += chunk));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`emrflow emulator did not start within 60 s:\n${output}`)), 60_000);
    child.stdout!.on('data', (chunk) => {
      output += chunk;
      if (output.includes('Ctrl-C stops it')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => reject(new Error(`emrflow emulator exited with ${code}:\n${output}`)));
  });
  const env = Object.fromEntries([...output.matchAll(/^export (\w+)=(.*)$/gm)].map((m) => [m[1], m[2]]));
  const buckets = /^# buckets: (.*)$/m.exec(output)![1].split(', ');
  return { child, env, buckets };
}

const describeIfCli = existsSync(path.join(venvBin, 'aws')) ? describe : describe.skip;

describeIfCli('the AWS CLI commands the emulator README documents', () => {
  let emulator: Awaited<ReturnType<typeof startCliEmulator>>;
  let tmp: string;
  beforeAll(async () => {
    emulator = await startCliEmulator();
    tmp = mkdtempSync(path.join(os.tmpdir(), 'aws-cli-'));
  }, 70_000);
  afterAll(() => {
    if (emulator?.child.pid) process.kill(-emulator.child.pid, 'SIGTERM');
    rmSync(tmp, { recursive: true, force: true });
  });

  it('runs every documented command as written; each succeeds, or fails the way the README says', () => {
    const raw = emulator.buckets.find((b) => /raw/.test(b))!;
    const artifacts = emulator.buckets.find((b) => /artifacts/.test(b))!;
    const env = { ...process.env, ...emulator.env, PATH: `${venvBin}:${process.env.PATH}` };
    const outputs: Record<string, string> = {};
    const failures: string[] = [];
    const commands = documentedCommands();
    for (const { command, note } of commands) {
      const concrete = command.replaceAll('<raw>', raw).replaceAll('<artifacts>', artifacts).replaceAll('/tmp/', `${tmp}/`);
      const run = () => spawnSync('bash', ['-c', concrete], { cwd: root, env, encoding: 'utf8', timeout: 60_000 });
      let result = run();
      const until = /^repeat until "(.*)"$/.exec(note);
      for (let tries = 0; until && result.status === 0 && !result.stdout.includes(until[1]) && tries < 200; tries += 1) {
        spawnSync('sleep', ['0.1']);
        result = run();
      }
      outputs[command] = result.stdout;
      const expectedFailure = /^fails: (\w+)/.exec(note);
      if (expectedFailure) {
        if (result.status === 0 || !result.stderr.includes(expectedFailure[1])) failures.push(`${command}: expected ${expectedFailure[1]}, got ${result.status} ${result.stderr}`);
      } else if (result.status !== 0 || (until && !result.stdout.includes(until[1]))) {
        failures.push(`${command}: exit ${result.status}\n${result.stderr.slice(-2000)}`);
      }
    }
    const out = (prefix: string) => outputs[commands.find((c) => c.command.startsWith(prefix))!.command];

    expect(failures).toEqual([]);
    expect(commands.filter((c) => c.command.startsWith('aws ')).length).toBeGreaterThanOrEqual(14);
    expect(JSON.parse(out('aws s3api head-object')).ContentLength).toBe(statSync(path.join(root, 'spark', 'denormalize.py')).size);
    expect(readFileSync(path.join(tmp, 'emrflow-events-copy.json')).equals(readFileSync(path.join(tmp, 'emrflow-events.json')))).toBe(true);
    expect(statSync(path.join(tmp, 'emrflow-events.json')).size).toBeGreaterThan(8 * 1024 * 1024);
    expect(JSON.parse(out('aws glue get-tables'))).toEqual(['events']);
    expect(out('aws emr-serverless list-applications')).toMatch(/^emrflow-cli\t(CREATING|CREATED|STARTING|STARTED)$/m);
    // A jar entry point is simulated (no JVM starts); the job run has just been submitted and is on its way.
    expect(JSON.parse(out('aws emr-serverless get-job-run'))).toMatch(/^(SUBMITTED|PENDING|SCHEDULED|RUNNING)$/);
    expect(JSON.parse(out('aws glue get-partitions')).Partitions.map((p: { Values: string[] }) => p.Values)).toEqual([['2026-11-27']]);
  }, 120_000);
});
