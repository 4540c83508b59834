/**
 * Loads a deployable `statemachines/<name>.asl.yml` as serverless.yml includes it (its `${self:…}` variables
 * resolved by osls), evaluates `Fn::GetAtt`/`Ref`/`Fn::Sub`, validates it as AWS would, then makes the copy the
 * interpreter runs: task timeouts handled as on AWS (local/asl/localDefinition.ts) and time compressed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import aslValidator from 'asl-validator';
import { INTERPRETER_TIMEOUT_SECONDS, prepareForLocalRun } from '../asl/localDefinition';
import { parseCloudFormationYaml, type ServerlessConfig } from './serverless-config';

/** Pseudo-resource of the local copy: a Wait state the runner times itself (see `compressTime`). */
export const LOCAL_WAIT_RESOURCE = 'arn:aws:states:::emrflow-local:wait';

export interface MachineDefinition {
  name: string;
  file: string;
  /** With serverless.yml's references resolved: what would be deployed. */
  deployable: any;
  /** What the interpreter runs. */
  local: any;
  /** Every state's original type, Waits included (the local copy runs them as Tasks). */
  stateTypes: Record<string, string>;
  /** The original Wait states, for the runner's scaled sleep. */
  waits: Record<string, any>;
}

export function machineFile(serviceDir: string, name: string): string {
  return join(serviceDir, 'statemachines', `${name}.asl.yml`);
}

export async function loadMachine(config: ServerlessConfig, name: string, timeScale: number): Promise<MachineDefinition> {
  const file = machineFile(config.serviceDir, name);
  if (!existsSync(file)) throw new Error(`no state machine "${name}": ${file} does not exist`);
  // serverless.yml's own copy, its variables resolved by osls; a file no state machine uses is read as is.
  const key = Object.keys(config.stateMachineFiles).find((machine) => config.stateMachineFiles[machine] === name);
  const definition = key ? config.raw.stepFunctions.stateMachines[key].definition : parseCloudFormationYaml(readFileSync(file, 'utf8'));
  const deployable = await config.resolve(definition);
  const { isValid, errorsText } = aslValidator(deployable);
  if (!isValid) throw new Error(`${file} is not valid ASL after resolving serverless.yml:\n${errorsText('\n')}`);

  const stateTypes: Record<string, string> = {};
  const waits: Record<string, any> = {};
  const local = compressTime(prepareForLocalRun(deployable), timeScale, stateTypes, waits);
  return { name, file, deployable, local, stateTypes, waits };
}

/**
 * Retry intervals and Wait durations follow the emulator's clock. Retry fields are scaled in place (the
 * interpreter computes backoff and jitter from them). A Wait becomes a pass-through Task that the runner
 * sleeps: the interpreter's waitTimeOverrides are fixed per state name, so they cannot scale a SecondsPath
 * (BackoffBeforeRetry's comes from ClassifyFailure). Each still counts as one state entered.
 */
function compressTime(definition: any, timeScale: number, stateTypes: Record<string, string>, waits: Record<string, any>): any {
  for (const [name, state] of Object.entries<any>(definition.States)) {
    stateTypes[name] = state.Type;
    if (state.Type === 'Map') compressTime(state.ItemProcessor ?? state.Iterator, timeScale, stateTypes, waits);
    if (state.Type === 'Parallel') for (const branch of state.Branches) compressTime(branch, timeScale, stateTypes, waits);
    for (const retrier of state.Retry ?? []) {
      retrier.IntervalSeconds = (retrier.IntervalSeconds ?? 1) * timeScale;
      if (retrier.MaxDelaySeconds !== undefined) retrier.MaxDelaySeconds *= timeScale;
    }
    if (state.Type === 'Wait') {
      waits[name] = state;
      const { Seconds, SecondsPath, Timestamp, TimestampPath, ...rest } = state;
      definition.States[name] = { ...rest, Type: 'Task', Resource: LOCAL_WAIT_RESOURCE, TimeoutSeconds: INTERPRETER_TIMEOUT_SECONDS };
    }
  }
  return definition;
}
