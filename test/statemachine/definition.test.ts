import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import aslValidator from 'asl-validator';
import { INTEGRATION_ERROR_NAMES, PROJECT_ERROR_NAMES } from '../../lib/errors';
import { loadDefinition } from '../support/scriptedRun';

const dir = join(__dirname, '../../statemachines');
const files = readdirSync(dir).filter((file) => file.endsWith('.asl.yml'));

/** Every state of a definition, nested Map/Parallel states included, with its name. */
function allStates(definition: any): Array<[string, any]> {
  return Object.entries<any>(definition.States).flatMap(([name, state]) => [
    [name, state] as [string, any],
    ...(state.ItemProcessor ? allStates(state.ItemProcessor) : []),
    ...(state.Iterator ? allStates(state.Iterator) : []),
    ...(state.Branches ?? []).flatMap(allStates),
  ]);
}

function unknownErrorNames(definition: any): string[] {
  const known = new Set([...PROJECT_ERROR_NAMES, ...INTEGRATION_ERROR_NAMES]);
  return allStates(definition)
    .flatMap(([, state]) => [...(state.Retry ?? []), ...(state.Catch ?? [])])
    .flatMap((rule: any) => rule.ErrorEquals as string[])
    .filter((name) => !known.has(name));
}

const repeated = (names: readonly string[]) => names.filter((name, index) => names.indexOf(name) !== index);

describe('state machine definitions', () => {
  it('finds the run-job definition', () => {
    expect(files).toContain('run-job.asl.yml');
  });

  describe.each(files)('%s', (file) => {
    const definition = loadDefinition(join(dir, file));

    it('passes asl-validator', () => {
      const { isValid, errorsText } = aslValidator(definition);
      expect(errorsText('\n')).toBe('');
      expect(isValid).toBe(true);
    });

    it('matches only error names defined in lib/errors.ts', () => {
      expect(unknownErrorNames(definition)).toEqual([]);
    });

    it('fails only with error names defined in lib/errors.ts', () => {
      const known = new Set(PROJECT_ERROR_NAMES);
      const failNames = allStates(definition)
        .filter(([, state]) => state.Type === 'Fail' && state.Error)
        .map(([, state]) => state.Error);
      expect(failNames.filter((name) => !known.has(name))).toEqual([]);
    });

    it('stays within what runs locally: JSONPath, no variables, no JSONata', () => {
      expect(definition.QueryLanguage ?? 'JSONPath').toBe('JSONPath');
      const offending = allStates(definition)
        .filter(([, state]) => state.QueryLanguage === 'JSONata' || 'Assign' in state || 'Arguments' in state || 'Output' in state)
        .map(([name]) => name);
      expect(offending).toEqual([]);
    });

    it('names states as PascalCase verb+noun', () => {
      const badNames = allStates(definition)
        .map(([name]) => name)
        .filter((name) => !/^[A-Z][A-Za-z0-9]+$/.test(name));
      expect(badNames).toEqual([]);
    });
  });

  it('the validator is live: a dangling Next is rejected', () => {
    const broken = loadDefinition(join(dir, 'run-job.asl.yml'));
    broken.States.ClaimRun.Next = 'NoSuchState';
    expect(aslValidator(broken).isValid).toBe(false);
  });

  it('lists each known error name once', () => {
    expect(repeated([...PROJECT_ERROR_NAMES, ...INTEGRATION_ERROR_NAMES])).toEqual([]);
    expect(repeated(['States.Timeout', 'States.HeartbeatTimeout', 'States.HeartbeatTimeout'])).toEqual(['States.HeartbeatTimeout']);
  });

  it('the error-name check is live: a misspelt name is reported', () => {
    const broken = loadDefinition(join(dir, 'run-job.asl.yml'));
    broken.States.AcquireCapacity.Retry[0].ErrorEquals = ['States.HeartbeatTimout'];
    expect(unknownErrorNames(broken)).toEqual(['States.HeartbeatTimout']);
  });
});
