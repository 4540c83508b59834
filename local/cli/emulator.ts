/** `emrflow emulator`: the emulator alone, serving until Ctrl-C, with the environment for the AWS CLI. */
import { CLI_WAITER_TIME_SCALE } from '../emulator/emr/waiters';
import { startLocalRuntime } from '../runner';
import { stateMachineArnPrefix } from '../runner/stepFunctionsApi/service';
import { type Flags, runtimeOptions } from './flags';

export async function emulator(flags: Flags): Promise<number> {
  // The AWS CLI's waiters poll every 30 s: below this scale `aws emr wait cluster-running` can miss a short RUNNING span.
  const timeScale = flags['time-scale'] ?? CLI_WAITER_TIME_SCALE;
  // Executions run in the background while it serves: started with `aws stepfunctions start-execution`, or by
  // serverless.yml's EventBridge rules on objects written through S3 (a partition's _SUCCESS marker).
  const runtime = await startLocalRuntime({ ...runtimeOptions(flags), timeScale, objectCreatedRules: true });
  const exports = Object.entries(runtime.env).map(([name, value]) => `export ${name}=${value}`);
  const waiters =
    timeScale >= CLI_WAITER_TIME_SCALE
      ? `# time scale ${timeScale}: \`aws emr wait\` (polls every 30 s) sees every cluster and step state`
      : `# time scale ${timeScale}: \`aws emr wait cluster-running\` (polls every 30 s) can miss a cluster that is RUNNING only briefly; pass --time-scale ${CLI_WAITER_TIME_SCALE} for the CLI's waiters`;
  process.stdout.write(
    `# emrflow emulator on ${runtime.endpoint}, state in ${runtime.stateDir}\n${waiters}\n# paste into a shell, then e.g.: aws emr list-clusters; aws s3 ls; aws stepfunctions list-executions --state-machine-arn <arn>\n${exports.join('\n')}\n`,
  );
  const machines = Object.values(runtime.config.stateMachineFiles).map((name) => `${stateMachineArnPrefix(runtime.config)}${name}`);
  process.stdout.write(
    `# buckets: ${Object.values(runtime.buckets).join(', ')}\n# tables: ${Object.values(runtime.tables).join(', ')}\n# state machines: ${machines.join(', ')}\n# Ctrl-C stops it.\n`,
  );
  await new Promise<void>((resolveStop) => {
    process.once('SIGINT', resolveStop);
    process.once('SIGTERM', resolveStop);
  });
  await runtime.stop();
  return 0;
}
