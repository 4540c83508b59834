/**
 * The README's commands, run as written. Every `npx emrflow …` line in a fenced block that states an
 * expected outcome (`# → SUCCEEDED|FAILED [error], N clusters[, on <target>]`) is run in order through the CLI's own entry
 * point, adding only `--simulate-steps --time-scale 0.001 --json` (and a temporary directory for the kept
 * `.emrflow` state), and its summary is checked against the comment. `npm run <script>` lines must name a
 * script package.json has; `npx emrflow` lines without an outcome must be ones this test knows to be long. The
 * Set-up section must be exactly `npm install` then `npm start`.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Placement } from '../../lib/domain/types';
import { main } from '../../local/cli';

jest.setTimeout(60_000);
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

const root = join(__dirname, '..', '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const FAST = ['--simulate-steps', '--time-scale', '0.001', '--json'];

interface Command {
  line: string;
  argv: string[];
  expected: { status: string; error: string | null; clusters: number | null; placement: Placement['mode'] | null } | null;
}

/** The placement targets an outcome comment may name (`, on EMR Serverless`), as run-job's output says them. */
const TARGETS: Record<string, Placement['mode']> = { 'EMR Serverless': 'serverless', 'the pool': 'pool', 'a dedicated cluster': 'dedicated' };

/** Shell lines of the README's ```bash blocks. */
function shellLines(markdown: string): string[] {
  const blocks = [...markdown.matchAll(/```bash\n([\s\S]*?)```/g)].map((match) => match[1]);
  return blocks
    .flatMap((block) => block.split('\n'))
    .map((line) => line.trim())
    .filter(Boolean);
}

function parseCommand(line: string): Command {
  const [command, comment = ''] = line.split(/\s+#\s*/, 2);
  const outcome = /^→ (SUCCEEDED|FAILED)(?: ([A-Z][\w]*\.[\w.]+))?(?:, (\d+) clusters?)?(?:, on (EMR Serverless|the pool|a dedicated cluster))?/.exec(comment);
  const expected = outcome && {
    status: outcome[1],
    error: outcome[2] ?? null,
    clusters: outcome[3] === undefined ? null : Number(outcome[3]),
    placement: outcome[4] === undefined ? null : TARGETS[outcome[4]],
  };
  return { line, argv: command.split(/\s+/).slice(2), expected };
}

/** The shell lines of the README's `## Set-up` section: the whole set-up a new user has to do. */
function setupCommands(markdown: string): string[] {
  const section = /\n## Set-up\n([\s\S]*?)(?=\n## )/.exec(markdown)?.[1] ?? '';
  return shellLines(section);
}

const lines = shellLines(readme);
const emrflow = lines.filter((line) => line.startsWith('npx emrflow ')).map(parseCommand);
const runnable = emrflow.filter((command) => command.expected);

async function runCli(argv: string[]): Promise<{ code: number; summary: any }> {
  let stdout = '';
  const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: any) => {
    stdout += String(chunk);
    return true;
  });
  const quiet = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    const code = await main(argv);
    return { code, summary: JSON.parse(stdout) };
  } finally {
    write.mockRestore();
    quiet.mockRestore();
  }
}

describe('README commands', () => {
  const state = mkdtempSync(join(tmpdir(), 'emrflow-readme-'));
  afterAll(() => rmSync(state, { recursive: true, force: true }));

  it('finds the example commands, each with an expected outcome', () => {
    expect(runnable.length).toBeGreaterThanOrEqual(5);
    expect(runnable.map((command) => command.argv[0])).toEqual(expect.arrayContaining(['run', 'demo']));
  });

  it('reads an outcome comment, and refuses a line without one (negative control of the parser)', () => {
    expect(parseCommand('npx emrflow run x.json   # → FAILED Input.NotFound, 0 clusters (why)').expected).toEqual({
      status: 'FAILED',
      error: 'Input.NotFound',
      clusters: 0,
      placement: null,
    });
    expect(parseCommand('npx emrflow run x.json   # → SUCCEEDED, 1 cluster').expected).toEqual({
      status: 'SUCCEEDED',
      error: null,
      clusters: 1,
      placement: null,
    });
    expect(parseCommand('npx emrflow run x.json   # → SUCCEEDED, 0 clusters, on EMR Serverless (why)').expected).toMatchObject({ placement: 'serverless' });
    expect(parseCommand('npx emrflow run x.json   # → SUCCEEDED, 1 cluster, on the pool').expected).toMatchObject({ placement: 'pool' });
    expect(parseCommand('npx emrflow run x.json   # runs it').expected).toBeNull();
  });

  it('has no other emrflow command than the long-running ones it names', () => {
    const long = emrflow.filter((command) => !command.expected).map((command) => command.argv[0]);
    expect(long.every((name) => name === 'emulator')).toBe(true);
  });

  it('sets up in two commands, npm install then npm start, and the scripts prepare the venv themselves', () => {
    const scripts = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts;

    expect(setupCommands(readme)).toEqual(['npm install', 'npm start']);
    // npm install / npm ci run the root postinstall; npm start / npm test make node and the venv when installed without scripts.
    expect(scripts.postinstall).toBe('bash scripts/setup-python.sh');
    expect(scripts.start).toMatch(/^bash scripts\/setup\.sh && /);
    expect(scripts.test).toMatch(/^bash scripts\/setup\.sh && /);
    expect(readFileSync(join(root, 'scripts/setup.sh'), 'utf8')).toMatch(/npm rebuild [\s\S]*exec bash scripts\/setup-python\.sh\n$/);
  });

  it('counts a third set-up step, and finds none without a Set-up section (negative controls)', () => {
    const threeSteps = readme.replace('npm install\nnpm start\n', 'npm install\nbash scripts/setup-python.sh\nnpm start\n');

    expect(threeSteps).not.toBe(readme);
    expect(setupCommands(threeSteps)).toEqual(['npm install', 'bash scripts/setup-python.sh', 'npm start']);
    expect(setupCommands(readme.replace('\n## Set-up\n', '\n## Installing\n'))).toEqual([]);
  });

  it('names only npm scripts that package.json defines', () => {
    const scripts = Object.keys(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts);
    const named = lines.flatMap((line) => [...line.matchAll(/npm run ([\w:-]+)/g)].map((match) => match[1]));
    expect(named.length).toBeGreaterThan(0);
    for (const script of named) expect(scripts).toContain(script);
  });

  it.each(runnable.map((command) => [command.line, command] as const))('%s', async (_line, command) => {
    const argv = [...command.argv.map((arg) => (arg === '.emrflow' ? state : arg)), ...FAST];

    const { code, summary } = await runCli(argv);

    expect({ status: summary.status, error: summary.error }).toEqual({ status: command.expected!.status, error: command.expected!.error ?? null });
    expect(code).toBe(summary.status === 'SUCCEEDED' ? 0 : 1);
    if (command.expected!.clusters !== null) expect(summary.clustersCreated).toBe(command.expected!.clusters);
    if (command.expected!.placement !== null) expect(summary.output?.placement?.mode).toBe(command.expected!.placement);
    // A pooled run leaves its pool cluster idle (WAITING, no lease) until the pool's idle timeout: that is the
    // pool's normal state, so only a run that did not succeed must leave nothing running.
    if (summary.status !== 'SUCCEEDED') expect(summary.clustersRunningAtEnd).toBe(0);
  });
});
