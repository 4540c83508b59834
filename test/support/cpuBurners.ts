/**
 * CPU-burning child processes, to run a test's workload on a busy machine: each spins one core until
 * stopped. Each is started and stopped by its own process id (never by name), and stop() waits for them
 * to be gone.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface CpuBurners {
  readonly pids: number[];
  stop(): Promise<void>;
}

export function startCpuBurners(count: number): CpuBurners {
  const children: ChildProcess[] = Array.from({ length: count }, () => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
  return {
    pids: children.map((child) => child.pid!),
    async stop() {
      await Promise.all(
        children.map(
          (child) =>
            new Promise<void>((resolve) => {
              if (child.exitCode !== null || child.signalCode !== null) return resolve();
              child.once('exit', () => resolve());
              process.kill(child.pid!, 'SIGKILL');
            }),
        ),
      );
    },
  };
}
