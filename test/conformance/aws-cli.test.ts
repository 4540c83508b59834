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

/** The README section under `heading` (up to the next `## `). */
function readmeSection(heading: string): string {
  const readme = readFileSync(path.join(root, 'local', 'emulator', 'README.md'), 'utf8');
  const section = readme.split(`\n${heading}\n`)[1];
  if (section === undefined) throw new Error(`local/emulator/README.md has no section "${heading}"`);
  return section.split('\n## ')[0];
}

/** The fenced block under `heading`, one command a line (a trailing `# …` is a note to the reader). */
function documentedCommands(heading = '## With the AWS CLI'): Array<{ command: string; note: string }> {
  const block = /```sh\n([\s\S]*?)```/.exec(readmeSection(heading));
  if (!block) throw new Error(`local/emulator/README.md has no \`\`\`sh block under "${heading}"`);
  return block[1]
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => {
      const at = line.indexOf('   # ');
      return at < 0 ? { command: line.trim(), note: '' } : { command: line.slice(0, at).trim(), note: line.slice(at + 5).trim() };
    });
}

/** Starts `bin/emrflow emulator [args]` and reads the exports, bucket names and state machine ARNs it prints. */
async function startCliEmulator(args: string[] = []): Promise<{ child: ChildProcess; env: Record<string, string>; buckets: string[]; machines: string[] }> {
  const child = spawn(path.join(root, 'bin', 'emrflow'), ['emulator', ...args], { cwd: root, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
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
  const machines = /^# state machines: (.*)$/m.exec(output)![1].split(', ');
  return { child, env, buckets, machines };
}

interface CommandRun {
  command: string;
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs documented commands in order with `bash -c`, the placeholders filled by `fill` (which sees the earlier
 * outputs); `# repeat until "X"` repeats a command until its output holds X, `# fails: Code` expects that error.
 */
function runDocumented(
  commands: Array<{ command: string; note: string }>,
  env: NodeJS.ProcessEnv,
  fill: (command: string, outputs: Record<string, string>) => string,
  after: (run: CommandRun) => void = () => undefined,
): { outputs: Record<string, string>; failures: string[] } {
  const outputs: Record<string, string> = {};
  const failures: string[] = [];
  for (const { command, note } of commands) {
    const concrete = fill(command, outputs);
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
      if (result.status === 0 || !result.stderr.includes(expectedFailure[1]))
        failures.push(`${command}: expected ${expectedFailure[1]}, got ${result.status} ${result.stderr}`);
    } else if (result.status !== 0 || (until && !result.stdout.includes(until[1]))) {
      failures.push(`${command}: exit ${result.status}\n${result.stdout.slice(-1000)}${result.stderr.slice(-2000)}`);
    }
    after({ command, status: result.status, stdout: result.stdout, stderr: result.stderr });
  }
  return { outputs, failures };
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
    const commands = documentedCommands();
    const { outputs, failures } = runDocumented(commands, env, (command) =>
      command.replaceAll('<raw>', raw).replaceAll('<artifacts>', artifacts).replaceAll('/tmp/', `${tmp}/`),
    );
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

describeIfCli('the Step Functions commands the emulator README documents', () => {
  const section = readmeSection('## Step Functions with the AWS CLI');
  const start = /Start `npx emrflow emulator([^`]*)`/.exec(section);
  let emulator: Awaited<ReturnType<typeof startCliEmulator>>;
  let tmp: string;
  beforeAll(async () => {
    emulator = await startCliEmulator(start![1].trim().split(/\s+/));
    tmp = mkdtempSync(path.join(os.tmpdir(), 'aws-cli-sfn-'));
  }, 70_000);
  afterAll(() => {
    if (emulator?.child.pid) process.kill(-emulator.child.pid, 'SIGTERM');
    rmSync(tmp, { recursive: true, force: true });
  });

  it('runs them as written, and the execution ends as `emrflow run` ends on the same input and state', () => {
    const raw = emulator.buckets.find((b) => /raw/.test(b))!;
    const runJob = emulator.machines.find((arn) => arn.endsWith('-run-job'))!;
    const env = { ...process.env, ...emulator.env, PATH: `${venvBin}:${process.env.PATH}` };
    const commands = documentedCommands('## Step Functions with the AWS CLI');
    let executionArn = '';
    let viaApi: { status: string; error: string | null; attempts: number; clusters: number } | null = null;
    const aws = (args: string) => JSON.parse(spawnSync('bash', ['-c', `aws ${args}`], { cwd: root, env, encoding: 'utf8' }).stdout);
    const { outputs, failures } = runDocumented(
      commands,
      env,
      (command) => command.replaceAll('<raw>', raw).replaceAll('<run-job>', runJob).replaceAll('<execution>', executionArn).replaceAll('/tmp/', `${tmp}/`),
      (run) => {
        if (run.command.startsWith('aws stepfunctions start-execution') && run.status === 0) executionArn = JSON.parse(run.stdout).executionArn;
        if (run.command.startsWith('aws stepfunctions describe-execution') && run.status === 0 && viaApi === null) {
          // Read before the S3-triggered run below adds clusters of its own.
          const described = aws(`stepfunctions describe-execution --execution-arn ${executionArn}`);
          const output = described.output ? JSON.parse(described.output) : null;
          viaApi = {
            status: described.status,
            error: described.error ?? null,
            attempts: output?.record?.attempts ?? 1,
            clusters: aws("emr list-clusters --query 'length(Clusters)'"),
          };
        }
      },
    );
    const out = (prefix: string) => outputs[commands.find((c) => c.command.startsWith(prefix))!.command];

    expect(failures).toEqual([]);
    expect(JSON.parse(out('aws stepfunctions list-state-machines')).sort()).toEqual(['emrflow-local-run-batch', 'emrflow-local-run-job']);
    const types: string[] = JSON.parse(out('aws stepfunctions get-execution-history'));
    expect(types[0]).toBe('ExecutionStarted');
    expect(types[types.length - 1]).toBe('ExecutionSucceeded');
    expect(types.join(' ')).toContain('TaskStateEntered TaskScheduled TaskStarted TaskSubmitted TaskSucceeded TaskStateExited');
    expect(JSON.parse(out('aws stepfunctions describe-execution --execution-arn <execution> --query "[status'))).toEqual(['ABORTED', 'stopped from the CLI']);

    // The same input and state through `emrflow run`: the day's file in a fresh state directory.
    const stateDir = path.join(tmp, 'run-state');
    const day = path.join(tmp, 'emrflow-day.json');
    const flags = [...start![1].trim().split(/\s+/), '--state-dir', stateDir];
    const upload = spawnSync(path.join(root, 'bin', 'emrflow'), ['upload', day, `s3://${raw}/events/dt=2026-11-26/part-0001.json`, ...flags], {
      cwd: root,
      encoding: 'utf8',
    });
    expect(upload.stdout).toContain('nothing started');
    const run = spawnSync(path.join(root, 'bin', 'emrflow'), ['run', 'examples/inputs/console.json', '--json', ...flags], {
      cwd: root,
      encoding: 'utf8',
      timeout: 120_000,
    });
    const summary = JSON.parse(run.stdout);

    expect(viaApi).toEqual({ status: summary.status, error: summary.error, attempts: summary.attempts, clusters: summary.clustersCreated });
    expect(viaApi).toMatchObject({ status: 'SUCCEEDED', attempts: 1 });
  }, 240_000);
});
