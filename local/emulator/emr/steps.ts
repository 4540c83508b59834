/**
 * Steps on a cluster: queued PENDING, started up to StepConcurrencyLevel, run by the real spark-submit
 * (spark.ts) or simulated (simulated.ts), ended with their ActionOnFailure, their logs where EMR puts them.
 * A simulated step runs 120 s plus 1 s per 32 MiB of the s3:// data its arguments name; a real Spark
 * step takes what it takes.
 */
import type { CancelStepsInfo, StepConfig } from '@aws-sdk/client-emr';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { CLUSTER_ACTIVE_STATES, CLUSTER_READY_STATES } from '../../../lib/contract';
import { DURATIONS, type EmrCluster, type EmrContext, type EmrStep } from './model';
import { injectedErrorLines, simulatedSeconds } from './simulated';
import { isSparkSubmitStep, localSparkArgs, runSparkSubmit } from './spark';
import { stepLogLocation, writeStepLogs } from './stepLogs';
import { validated } from './validate';

type StepFailure = { Reason: string; Message: string };

export class StepEngine {
  constructor(private readonly ctx: EmrContext) {}

  /** Queues validated steps as PENDING; returns their ids. */
  append(cluster: EmrCluster, steps: StepConfig[]): string[] {
    const { clock, ids, emit } = this.ctx.deps;
    const now = clock.nowSeconds();
    const added: string[] = [];
    for (const spec of steps) {
      const name = validated(spec.Name, 'Steps[].Name');
      const jar = validated(spec.HadoopJarStep, 'Steps[].HadoopJarStep');
      const fromName = /attempt (\d+)\s*$/.exec(name);
      let stepId = ids.step();
      while (cluster.steps.some((s) => s.Id === stepId)) stepId = ids.step();
      const step: EmrStep = {
        Id: stepId,
        Name: name,
        Config: {
          Jar: validated(jar.Jar, 'Steps[].HadoopJarStep.Jar'),
          Args: jar.Args ?? [],
          ...(jar.MainClass ? { MainClass: jar.MainClass } : {}),
          Properties: Object.fromEntries((jar.Properties ?? []).map((p) => [p.Key, p.Value ?? ''])),
        },
        ActionOnFailure: spec.ActionOnFailure ?? 'TERMINATE_CLUSTER',
        state: 'PENDING',
        reason: {},
        timeline: { CreationDateTime: now },
        // The step name "<job> <runId> attempt <n>" carries the job's attempt (a pooled cluster serves many).
        attempt: fromName ? Number(fromName[1]) : cluster.attempt,
      };
      cluster.steps.push(step);
      added.push(step.Id);
      emit({ resource: 'step', id: step.Id, clusterId: cluster.Id, state: 'PENDING', message: name });
    }
    return added;
  }

  /** Starts pending steps up to StepConcurrencyLevel; handles idleness when nothing is left. */
  pump(cluster: EmrCluster): void {
    const { lifecycle } = this.ctx;
    if (!CLUSTER_READY_STATES.has(cluster.state)) return;
    let running = cluster.steps.filter((s) => s.state === 'RUNNING').length;
    for (const step of cluster.steps) {
      if (running >= cluster.StepConcurrencyLevel) break;
      if (step.state !== 'PENDING') continue;
      this.start(cluster, step);
      running += 1;
      if (!CLUSTER_ACTIVE_STATES.has(cluster.state)) return;
    }
    const pending = cluster.steps.some((s) => s.state === 'PENDING');
    if (running > 0) {
      this.ctx.deps.clock.cancel(cluster.idleTimer);
      cluster.idleTimer = undefined;
      lifecycle.setClusterState(cluster, 'RUNNING', { Message: 'Running step' });
      return;
    }
    lifecycle.setClusterState(cluster, 'WAITING', { Message: 'Cluster ready after last step completed.' });
    if (pending) return;
    if (!cluster.KeepJobFlowAliveWhenNoSteps) {
      lifecycle.terminate(cluster, { Code: 'ALL_STEPS_COMPLETED', Message: 'Steps completed' });
      return;
    }
    if (cluster.AutoTerminationPolicy && !cluster.idleTimer) {
      const idle = cluster.AutoTerminationPolicy.IdleTimeout;
      cluster.idleTimer = this.ctx.deps.clock.after(idle, () => {
        cluster.idleTimer = undefined;
        if (cluster.state !== 'WAITING') return;
        lifecycle.terminate(cluster, {
          Code: 'ALL_STEPS_COMPLETED',
          Message: `Cluster was idle for ${idle} seconds and was terminated by its auto-termination policy.`,
        });
      });
    }
  }

  /** CancelSteps: each id SUBMITTED (cancelled) or FAILED with the reason; then the queue moves on. */
  cancel(cluster: EmrCluster, stepIds: string[]): CancelStepsInfo[] {
    const info = stepIds.map((id): CancelStepsInfo => {
      const step = cluster.steps.find((s) => s.Id === id);
      if (!step) return { StepId: id, Status: 'FAILED', Reason: `Step id '${id}' is not valid.` };
      if (step.state !== 'PENDING' && step.state !== 'RUNNING') {
        return { StepId: id, Status: 'FAILED', Reason: `Step ${id} is ${step.state} and cannot be cancelled.` };
      }
      this.finish(cluster, step, 'CANCELLED', undefined, false);
      return { StepId: id, Status: 'SUBMITTED' };
    });
    this.pump(cluster);
    return info;
  }

  /**
   * The cluster is terminating: pending steps are cancelled; running steps are cancelled too, or fail
   * with `failureMessage` when the cluster ends in error.
   */
  endAll(cluster: EmrCluster, failureMessage: string | null): void {
    for (const step of cluster.steps) {
      if (step.state === 'PENDING') this.finish(cluster, step, 'CANCELLED', undefined, false);
      if (step.state === 'RUNNING') {
        if (failureMessage === null) this.finish(cluster, step, 'CANCELLED', undefined, false);
        else this.finish(cluster, step, 'FAILED', { Reason: 'Unknown Error.', Message: failureMessage }, false);
      }
    }
  }

  /** The cluster lost nodes under its running steps: each fails, with its ActionOnFailure. */
  failRunning(cluster: EmrCluster, message: string): void {
    for (const step of cluster.steps.filter((s) => s.state === 'RUNNING')) {
      this.finish(cluster, step, 'FAILED', { Reason: 'Unknown Error.', Message: message });
    }
  }

  /** Ends every Spark process (the emulator is stopping). */
  killAll(): void {
    for (const cluster of this.ctx.clusters.values()) {
      for (const step of cluster.steps) step.spark?.kill();
    }
  }

  private start(cluster: EmrCluster, step: EmrStep): void {
    const { faults, spark, clock, s3, ids, emit } = this.ctx.deps;
    step.state = 'RUNNING';
    step.timeline.StartDateTime = clock.nowSeconds();
    const injectedFailure = faults.take('stepFailure', step.attempt);
    const hasLiveSpot = cluster.instances.some((i) => i.Market === 'SPOT' && i.state !== 'TERMINATED');
    const interruption = hasLiveSpot ? faults.takeSpotInterruption(step.attempt, 'STEP_RUNNING') : null;
    const interrupt = interruption !== null;
    const lost = { withPrimary: interruption?.withPrimary ?? false };
    const runsSpark = !injectedFailure && spark !== null && isSparkSubmitStep(step.Config.Jar, step.Config.Args);
    step.executor = runsSpark ? 'spark' : 'simulated';
    emit({ resource: 'step', id: step.Id, clusterId: cluster.Id, state: 'RUNNING', executor: step.executor, message: step.Name });
    this.ctx.scaling.demandChanged(cluster);

    const logs = stepLogLocation(cluster, step, s3);
    if (logs) mkdirSync(logs.dir, { recursive: true });

    if (runsSpark) {
      this.startSpark(cluster, step, logs?.dir ?? null);
      if (interrupt && step.spark) {
        let scheduled = false;
        const strike = (ms: number) => {
          if (scheduled) return;
          scheduled = true;
          this.ctx.lifecycle.scheduleRealMs(cluster, ms, () => this.ctx.capacity.spotInterruption(cluster, lost));
        };
        step.spark.onJobStart(() => strike(DURATIONS.sparkInterruptionAfterJobStartMs));
        this.ctx.lifecycle.scheduleRealMs(cluster, DURATIONS.sparkInterruptionFallbackMs, () => strike(0));
      }
      return;
    }

    const seconds = simulatedSeconds(step, s3);
    const errorLines = injectedFailure ? injectedErrorLines(step, ids) : [];
    const note = spark
      ? injectedFailure
        ? 'the fault file injected a step failure, so Spark was not started'
        : 'this is not a command-runner.jar spark-submit step'
      : 'no spark-submit was found';
    writeStepLogs(logs?.dir ?? null, {
      stdout: `emrflow emulator: step ${step.Id} was SIMULATED (${note}); simulated duration ${seconds} emulated s.\nArgs: ${JSON.stringify(step.Config.Args)}\n`,
      stderr: errorLines.length ? `${errorLines.join('\n')}\n` : '',
    }).catch((error: Error) => emit({ resource: 'note', id: step.Id, state: 'NOTE', message: `step logs not written: ${error.message}` }));
    if (injectedFailure) {
      step.timer = clock.after(Math.min(seconds, 90) * 0.5, () => {
        this.finish(cluster, step, 'FAILED', { Reason: 'Unknown Error.', Message: errorLines[errorLines.length - 1] });
      });
    } else {
      step.timer = clock.after(seconds, () => this.finish(cluster, step, 'COMPLETED'));
      if (interrupt) this.ctx.lifecycle.schedule(cluster, seconds * 0.4, () => this.ctx.capacity.spotInterruption(cluster, lost));
    }
  }

  private startSpark(cluster: EmrCluster, step: EmrStep, logDir: string | null): void {
    const { spark, s3, stateDir } = this.ctx.deps;
    if (!spark) throw new Error(`step ${step.Id}: a Spark step started without a spark-submit`);
    const cwd = path.join(stateDir, 'spark-work', step.Id);
    mkdirSync(cwd, { recursive: true });
    let args: string[];
    try {
      args = localSparkArgs(step.Config.Args, s3);
    } catch (error) {
      // Deferred: this runs inside pump, which must finish counting before the next step starts.
      this.ctx.lifecycle.scheduleRealMs(cluster, 0, () =>
        this.finish(cluster, step, 'FAILED', { Reason: 'Unknown Error.', Message: (error as Error).message }),
      );
      return;
    }
    step.spark = runSparkSubmit(spark, args, {
      cwd,
      stdoutFile: logDir && path.join(logDir, 'stdout'),
      stderrFile: logDir && path.join(logDir, 'stderr'),
    });
    step.spark.done.then(({ exitCode, signal, lastErrorLine }) => {
      if (step.state !== 'RUNNING' || this.ctx.stopped) return;
      if (exitCode === 0) {
        this.finish(cluster, step, 'COMPLETED');
      } else {
        this.finish(cluster, step, 'FAILED', {
          Reason: 'Unknown Error.',
          Message: lastErrorLine || `spark-submit exited with ${signal ? `signal ${signal}` : `code ${exitCode}`}`,
        });
      }
    });
  }

  private finish(cluster: EmrCluster, step: EmrStep, state: 'COMPLETED' | 'FAILED' | 'CANCELLED', failure?: StepFailure, pump = true): void {
    if (step.state !== 'PENDING' && step.state !== 'RUNNING') return;
    const { clock, s3, emit } = this.ctx.deps;
    clock.cancel(step.timer);
    step.spark?.kill();
    step.state = state;
    if (step.timeline.StartDateTime !== undefined || state !== 'CANCELLED') step.timeline.EndDateTime = clock.nowSeconds();
    if (failure) {
      const logs = stepLogLocation(cluster, step, s3);
      step.failureDetails = { ...failure, ...(logs ? { LogFile: `${logs.uri}stderr` } : {}) };
      step.reason = { Message: failure.Message };
    }
    if (state === 'CANCELLED') step.reason = { Message: 'Cancelled' };
    emit({ resource: 'step', id: step.Id, clusterId: cluster.Id, state, executor: step.executor, message: failure?.Message });
    this.ctx.scaling.demandChanged(cluster);
    if (!pump) return;
    if (state === 'FAILED') {
      if (step.ActionOnFailure === 'TERMINATE_CLUSTER' || step.ActionOnFailure === 'TERMINATE_JOB_FLOW') {
        this.ctx.lifecycle.terminate(cluster, { Code: 'STEP_FAILURE', Message: 'Shut down as step failed' });
        return;
      }
      if (step.ActionOnFailure === 'CANCEL_AND_WAIT') {
        for (const other of cluster.steps) if (other.state === 'PENDING') this.finish(cluster, other, 'CANCELLED', undefined, false);
      }
    }
    this.pump(cluster);
  }
}
