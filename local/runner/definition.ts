/**
 * Loads a deployable `statemachines/<name>.asl.yml` as serverless.yml includes it (its `${self:…}` variables
 * resolved by osls), evaluates `Fn::GetAtt`/`Ref`/`Fn::Sub`, validates it as AWS would, then makes the copy the
 * interpreter runs: task timeouts handled as on AWS (local/asl/localDefinition.ts) and time compressed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import aslValidator from 'asl-validator';
import { INTERPRETER_TIMEOUT_SECONDS, prepareForLocalRun } from '../asl/localDefinition';
import type { AslMachine, AslState } from '../asl/types';
import { parseCloudFormationYaml, type ServerlessConfig } from './serverless-config';

/** Pseudo-resource of the local copy: a Wait state the runner times itself (see `compressTime`). */
export const LOCAL_WAIT_RESOURCE = 'arn:aws:states:::emrflow-local:wait';
/** Pseudo-resource of the local copy: a Distributed Map the runner runs itself (adapters/distributedMap.ts). */
export const LOCAL_MAP_RESOURCE = 'arn:aws:states:::emrflow-local:distributedMap';

export interface MachineDefinition {
  name: string;
  file: string;
  /** With serverless.yml's references resolved: what would be deployed. */
  deployable: AslMachine;
  /** What the interpreter runs. */
  local: AslMachine;
  /** Every state's original type, Waits included (the local copy runs them as Tasks). */
  stateTypes: Record<string, string>;
  /** The original Wait states, for the runner's scaled sleep. */
  waits: Record<string, AslState>;
  /** Distributed Maps (a Map with an ItemReader): the state, prepared for the local run, and its ItemProcessor as a machine. */
  maps?: Record<string, { state: AslState; processor: MachineDefinition }>;
}

export function machineFile(serviceDir: string, name: string): string {
  return join(serviceDir, 'statemachines', `${name}.asl.yml`);
}

export async function loadMachine(config: ServerlessConfig, name: string, timeScale: number): Promise<MachineDefinition> {
  const file = machineFile(config.serviceDir, name);
  if (!existsSync(file)) throw new Error(`no state machine "${name}": ${file} does not exist`);
  // serverless.yml's own copy, its variables resolved by osls; a file no state machine uses is read as is.
  const key = Object.keys(config.stateMachineFiles).find((machine) => config.stateMachineFiles[machine] === name);
  const written = key ? config.raw.stepFunctions?.stateMachines?.[key]?.definition : undefined;
  const definition = written ?? (parseCloudFormationYaml(readFileSync(file, 'utf8')) as AslMachine);
  const deployable = await config.resolve(definition);
  const { isValid, errorsText } = aslValidator(deployable);
  if (!isValid) throw new Error(`${file} is not valid ASL after resolving serverless.yml:\n${errorsText('\n')}`);

  const stateTypes: Record<string, string> = {};
  const waits: Record<string, AslState> = {};
  const local = compressTime(prepareForLocalRun(deployable), timeScale, stateTypes, waits);
  const maps = extractDistributedMaps(local, { name, file, stateTypes, waits });
  return { name, file, deployable, local, stateTypes, waits, maps };
}

/**
 * aws-local-stepfunctions runs no ItemReader: each Distributed Map becomes a Task the runner handles, keeping
 * the state's ResultPath, Retry, Catch and transitions; its ItemProcessor runs as a machine of its own, one
 * child execution per item, as on AWS.
 */
function extractDistributedMaps(
  definition: AslMachine,
  parent: Pick<MachineDefinition, 'name' | 'file' | 'stateTypes' | 'waits'>,
): NonNullable<MachineDefinition['maps']> {
  const maps: NonNullable<MachineDefinition['maps']> = {};
  for (const [stateName, state] of Object.entries(definition.States)) {
    if (state.Type !== 'Map' || !state.ItemReader || !state.ItemProcessor) continue;
    const { ProcessorConfig, ...processor } = state.ItemProcessor;
    const label = state.Label ?? stateName;
    maps[stateName] = {
      state,
      processor: {
        name: `${parent.name}/${label}`,
        file: parent.file,
        deployable: state.ItemProcessor,
        local: processor,
        stateTypes: parent.stateTypes,
        waits: parent.waits,
        maps: extractDistributedMaps(processor, parent),
      },
    };
    const { Next, End, ResultPath, ResultSelector, Retry, Catch, Comment } = state;
    const kept = Object.fromEntries(
      Object.entries({ Next, End, ResultPath, ResultSelector, Retry, Catch, Comment }).filter(([, value]) => value !== undefined),
    );
    definition.States[stateName] = { Type: 'Task', ...kept, Resource: LOCAL_MAP_RESOURCE, TimeoutSeconds: INTERPRETER_TIMEOUT_SECONDS };
  }
  return maps;
}

/**
 * Retry intervals and Wait durations follow the emulator's clock. Retry fields are scaled in place (the
 * interpreter computes backoff and jitter from them). A Wait becomes a pass-through Task that the runner
 * sleeps: the interpreter's waitTimeOverrides are fixed per state name, so they cannot scale a SecondsPath
 * (BackoffBeforeRetry's comes from ClassifyFailure). Each still counts as one state entered.
 */
function compressTime(definition: AslMachine, timeScale: number, stateTypes: Record<string, string>, waits: Record<string, AslState>): AslMachine {
  for (const [name, state] of Object.entries(definition.States)) {
    stateTypes[name] = state.Type;
    const iterator = state.ItemProcessor ?? state.Iterator;
    if (state.Type === 'Map' && iterator) compressTime(iterator, timeScale, stateTypes, waits);
    if (state.Type === 'Parallel') for (const branch of state.Branches ?? []) compressTime(branch, timeScale, stateTypes, waits);
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
