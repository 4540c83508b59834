/**
 * Real Spark for `command-runner.jar spark-submit …` steps: finds a spark-submit, rewrites the EMR
 * arguments for local mode (`--master local[2]`, no cluster deploy mode, s3:// → the local S3 directory)
 * and runs it as a child process whose exit code decides the step's state.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, realpathSync, type WriteStream } from 'node:fs';
import path from 'node:path';
import type { LocalS3 } from '../s3/store';
import { beginRealWork } from '../clock';

export interface SparkSetup {
  /** The spark-submit executable that runs steps. */
  sparkSubmit: string;
  /** Python for the driver and workers (PYSPARK_PYTHON), when one belongs to that Spark. */
  python: string | null;
  /** Set when JAVA_HOME was not set and could be derived from `java` on PATH. */
  javaHome: string | null;
  /** Where it was found: "option", "project .venv", "SPARK_HOME" or "PATH". */
  source: string;
}

export interface SparkLookup {
  /** An explicit spark-submit path; wins over everything else. */
  sparkSubmit?: string;
  /** The project root, whose `.venv/bin/spark-submit` (pyspark in the venv) comes first. */
  projectRoot?: string;
}

function onPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  return null;
}

function javaHomeFromPath(): string | null {
  if (process.env.JAVA_HOME) return null;
  const java = onPath('java');
  if (!java) return null;
  const real = realpathSync(java);
  return real.endsWith(`${path.sep}bin${path.sep}java`) ? path.dirname(path.dirname(real)) : null;
}

/** Looks for spark-submit: the option, then `<projectRoot>/.venv/bin`, then $SPARK_HOME/bin, then PATH. */
export function findSpark(lookup: SparkLookup): SparkSetup | null {
  const candidates: Array<[string | undefined, string]> = [
    [lookup.sparkSubmit, 'option'],
    [lookup.projectRoot && path.join(lookup.projectRoot, '.venv', 'bin', 'spark-submit'), 'project .venv'],
    [process.env.SPARK_HOME && path.join(process.env.SPARK_HOME, 'bin', 'spark-submit'), 'SPARK_HOME'],
    [onPath('spark-submit') ?? undefined, 'PATH'],
  ];
  for (const [candidate, source] of candidates) {
    if (!candidate || !existsSync(candidate)) continue;
    const venvPython = lookup.projectRoot && path.join(lookup.projectRoot, '.venv', 'bin', 'python');
    const besidePython = path.join(path.dirname(candidate), 'python');
    const python = venvPython && existsSync(venvPython) ? venvPython : existsSync(besidePython) ? besidePython : null;
    return { sparkSubmit: candidate, python, javaHome: javaHomeFromPath(), source };
  }
  return null;
}

export function isSparkSubmitStep(jar: string, args: readonly string[]): boolean {
  return /(^|\/)command-runner\.jar$/.test(jar) && args[0] === 'spark-submit';
}

const S3_URI = /s3[an]?:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/[^\s,]*)?/g;

/**
 * EMR step args → local spark-submit args: drops `--deploy-mode cluster` and any `--master`, adds
 * `--master local[2]` and a disabled UI, and maps every s3:// URI (also inside `--conf k=v`) to its
 * local file path.
 */
export function localSparkArgs(args: readonly string[], s3: LocalS3): string[] {
  const out: string[] = ['--master', 'local[2]', '--conf', 'spark.ui.enabled=false'];
  for (let i = 1; i < args.length; i += 1) {
    if (args[i] === '--deploy-mode' || args[i] === '--master') {
      i += 1;
      continue;
    }
    out.push(args[i].replace(S3_URI, (uri) => s3.uriToPath(uri)));
  }
  return out;
}

export interface SparkRun {
  pid: number;
  /** Calls `listener` once, when the driver log says the first Spark job was submitted. */
  onJobStart(listener: () => void): void;
  /** Kills the whole process tree (driver JVM and Python workers). */
  kill(): void;
  done: Promise<{ exitCode: number | null; signal: string | null; lastErrorLine: string }>;
}

/**
 * The line that best says why a run failed. spark-submit sends Spark's own log to stderr but the Python
 * driver's output (and so its traceback) to stdout, so both are searched: first for an exception line as
 * Python and Java print them (`ValueError: …`, `org.apache.spark.SparkException: …`), then for any line
 * naming an error, else the last line of stderr.
 */
export function lastErrorLine(stderrTail: string, stdoutTail = ''): string {
  const lines = (text: string) =>
    text
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
  const combined = [...lines(stdoutTail), ...lines(stderrTail)].reverse();
  const exception = combined.find((l) => /^([A-Za-z_][\w$]*\.)*[A-Za-z_][\w$]*(Error|Exception)(: |$)/.test(l));
  const mentionsError = combined.find((l) => /(Error|Exception|Traceback)/.test(l));
  const stderrLines = lines(stderrTail);
  return exception ?? mentionsError ?? stderrLines[stderrLines.length - 1] ?? '';
}

export function runSparkSubmit(setup: SparkSetup, args: string[], options: { cwd: string; stdoutFile: string | null; stderrFile: string | null }): SparkRun {
  const env: NodeJS.ProcessEnv = { ...process.env, SPARK_LOCAL_IP: '127.0.0.1' };
  if (setup.python) {
    env.PYSPARK_PYTHON = setup.python;
    env.PYSPARK_DRIVER_PYTHON = setup.python;
  }
  if (setup.javaHome) env.JAVA_HOME = setup.javaHome;
  // A venv's spark-submit finds its own Spark; a SPARK_HOME pointing elsewhere would override it.
  if (setup.source !== 'SPARK_HOME') delete env.SPARK_HOME;

  const child = spawn(setup.sparkSubmit, args, { cwd: options.cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  // A real step is never scaled: emulated time follows real time while it runs.
  const endRealWork = beginRealWork();
  const sinks: WriteStream[] = [];
  const sink = (file: string | null) => {
    if (!file) return null;
    const stream = createWriteStream(file);
    sinks.push(stream);
    return stream;
  };
  const stdout = sink(options.stdoutFile);
  const stderr = sink(options.stderrFile);
  let stdoutTail = '';
  let stderrTail = '';
  let jobStarted = false;
  const jobStartListeners: Array<() => void> = [];
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout?.write(chunk);
    stdoutTail = (stdoutTail + chunk.toString('utf8')).slice(-64 * 1024);
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr?.write(chunk);
    stderrTail = (stderrTail + chunk.toString('utf8')).slice(-64 * 1024);
    if (!jobStarted && /DAGScheduler: Got job \d+/.test(stderrTail)) {
      jobStarted = true;
      for (const listener of jobStartListeners.splice(0)) listener();
    }
  });

  const done = new Promise<{ exitCode: number | null; signal: string | null; lastErrorLine: string }>((resolve) => {
    let settled = false;
    const finish = (exitCode: number | null, signal: string | null, extra = '') => {
      if (settled) return;
      settled = true;
      endRealWork();
      Promise.all(sinks.map((s) => new Promise((r) => s.end(r)))).then(() =>
        resolve({ exitCode, signal, lastErrorLine: extra || lastErrorLine(stderrTail, stdoutTail) }),
      );
    };
    child.on('error', (error) => finish(null, null, `could not start ${setup.sparkSubmit}: ${error.message}`));
    child.on('close', (code, signal) => finish(code, signal));
  });

  return {
    pid: child.pid ?? -1,
    onJobStart: (listener) => {
      if (jobStarted) listener();
      else jobStartListeners.push(listener);
    },
    kill: () => {
      if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    },
    done,
  };
}
