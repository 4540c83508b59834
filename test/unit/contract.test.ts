import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import fc from 'fast-check';
import { parse } from 'yaml';
import {
  CLUSTER_ACTIVE_STATES,
  CLUSTER_ENDED_STATES,
  CLUSTER_READY_STATES,
  STEP_ENDED_STATES,
  STEP_UNSUCCESSFUL_STATES,
  parseStepName,
  stepName,
  TAG,
} from '../../lib/contract';

const ROOT = join(__dirname, '../..');

/** Evaluates `States.Format('…', $.a.b, …)` the way Step Functions does, for plain JSONPaths. */
function statesFormat(expression: string, state: unknown): string {
  const match = /^States\.Format\('((?:[^'\\]|\\.)*)'((?:\s*,\s*\$[\w.]+)*)\)$/.exec(expression.trim());
  if (!match) throw new Error(`not a States.Format with JSONPath arguments: ${expression}`);
  const args = match[2]
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean)
    .map((path) =>
      path
        .slice(2)
        .split('.')
        .reduce<any>((value, key) => value?.[key], state),
    );
  let i = 0;
  return match[1].replace(/\{\}/g, () => String(args[i++]));
}

function findState(states: Record<string, any>, name: string): any {
  for (const [key, state] of Object.entries(states)) {
    if (key === name) return state;
    for (const branch of [...(state.Branches ?? []), ...(state.Iterator ? [state.Iterator] : []), ...(state.ItemProcessor ? [state.ItemProcessor] : [])]) {
      const found = findState(branch.States, name);
      if (found) return found;
    }
  }
  return undefined;
}

describe('step name: the ASL builds the one the contract names', () => {
  const asl = parse(readFileSync(join(ROOT, 'statemachines/run-job.asl.yml'), 'utf8'));
  const format: string = findState(asl.States, 'RunSparkStep').Parameters.Step['Name.$'];
  const jobName = fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,62}$/);
  const runId = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$/);
  const attempt = fc.integer({ min: 1, max: 10 });

  it('gives, for any job, run id and attempt, the name stepName() gives', () => {
    fc.assert(
      fc.property(jobName, runId, attempt, (name, id, n) => {
        expect(statesFormat(format, { request: { job: { name }, runId: id }, attempt: n })).toBe(stepName(name, id, n));
      }),
    );
  });

  it('would notice a format that drifted from stepName() (negative control)', () => {
    const drifted = "States.Format('{} {} try {}', $.request.job.name, $.request.runId, $.attempt)";
    expect(statesFormat(drifted, { request: { job: { name: 'j' }, runId: 'r' }, attempt: 1 })).not.toBe(stepName('j', 'r', 1));
  });

  it('reads back the parts of every name stepName() gives, and no others (cleanup finds job runs by it)', () => {
    fc.assert(
      fc.property(jobName, runId, attempt, (name, id, n) => {
        expect(parseStepName(stepName(name, id, n))).toEqual({ jobName: name, runId: id, attempt: n });
      }),
    );
    for (const foreign of ['spark-pi', 'j r try 1', 'j r attempt 0', 'j  r attempt 1']) expect(parseStepName(foreign)).toBeNull();
  });
});

/**
 * A grep-level guard: EMR state sets, emrflow tag keys and the execution ARN are defined in lib/contract.ts
 * only. It flags, outside the contract, a tag key literal, a list of two or more EMR states, a chain of
 * comparisons with two or more of them, a prefix test standing in for a set (`startsWith('TERMINATED')`), or
 * an execution ARN put together by hand.
 */
const EMR_STATES = new Set([...CLUSTER_ENDED_STATES, ...CLUSTER_ACTIVE_STATES, ...CLUSTER_READY_STATES, ...STEP_ENDED_STATES, ...STEP_UNSUCCESSFUL_STATES]);
/**
 * Instances and fleets have states of their own (AWAITING_FULFILLMENT, PROVISIONING, BOOTSTRAPPING, RUNNING,
 * TERMINATED) and Glue has RUNNING, FAILED, CANCELLED: a list is a cluster or step state set only when it
 * holds a state that belongs to clusters or steps alone.
 */
const CLUSTER_OR_STEP_ONLY = new Set(['STARTING', 'WAITING', 'TERMINATED_WITH_ERRORS', 'COMPLETED', 'INTERRUPTED']);
const TAG_VALUES = new Set<string>(Object.values(TAG));

function stripComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

function stateLiterals(text: string): string[] {
  return [...new Set([...text.matchAll(/['"`]([A-Z_]+)['"`]/g)].map((m) => m[1]).filter((word) => EMR_STATES.has(word)))];
}

const isStateSet = (states: string[]) => states.length >= 2 && states.some((s) => CLUSTER_OR_STEP_ONLY.has(s));

function contractViolations(source: string): string[] {
  const code = stripComments(source);
  const found: string[] = [];
  for (const [, literal] of code.matchAll(/['"`]([^'"`\n]+)['"`]/g)) {
    if (TAG_VALUES.has(literal)) found.push(`tag key "${literal}"`);
  }
  for (const [list] of code.matchAll(/\[[^[\]]*\]/g)) {
    if (isStateSet(stateLiterals(list))) found.push(`state list ${list.replace(/\s+/g, ' ')}`);
  }
  for (const line of code.split('\n')) {
    if (/\|\||&&/.test(line) && isStateSet(stateLiterals(line.replace(/\[[^[\]]*\]/g, '')))) found.push(`state comparisons: ${line.trim()}`);
    if (/startsWith\(\s*['"`](TERMINAT|COMPLET|CANCEL|FAIL)/.test(line)) found.push(`state prefix test: ${line.trim()}`);
    if (/:execution:/.test(line)) found.push(`execution ARN built by hand (executionArnFor): ${line.trim()}`);
  }
  return found;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'node_modules' ? [] : sourceFiles(path);
    return /\.(ts|js)$/.test(name) ? [path] : [];
  });
}

describe('one definition of each shared string (lib/contract.ts)', () => {
  it('no source file outside the contract redefines an EMR state set or a tag key', () => {
    const files = ['lib', 'functions', 'local', 'bench', 'infra'].flatMap((dir) => sourceFiles(join(ROOT, dir)));
    const violations = files
      .filter((file) => !file.endsWith(join('lib', 'contract.ts')))
      .flatMap((file) => contractViolations(readFileSync(file, 'utf8')).map((v) => `${relative(ROOT, file)}: ${v}`));

    expect(files.length).toBeGreaterThan(30);
    expect(violations).toEqual([]);
  });

  it('finds the definitions in the contract itself and in redefinitions of them (negative control)', () => {
    expect(contractViolations(readFileSync(join(ROOT, 'lib/contract.ts'), 'utf8'))).toEqual(
      expect.arrayContaining([
        "state list ['TERMINATED', 'TERMINATED_WITH_ERRORS']",
        "state list ['STARTING', 'BOOTSTRAPPING', 'RUNNING', 'WAITING']",
        "state list ['COMPLETED', 'CANCELLED', 'FAILED', 'INTERRUPTED']",
        'tag key "emrflow:execution"',
      ]),
    );
    const redefined = [
      "const ENDED = new Set(['TERMINATED', 'TERMINATED_WITH_ERRORS']);",
      "if (state === 'WAITING' || state === 'RUNNING') return true;",
      "const live = clusters.filter((c) => !c.state.startsWith('TERMINATED'));",
      "tags.push({ Key: 'emrflow:pool', Value: pool });",
      "const arn = `${machineArn.replace(':stateMachine:', ':execution:')}:${name}`;",
    ];
    for (const line of redefined) expect(contractViolations(line)).toHaveLength(1);
  });

  it('does not flag a single state, instance or Glue states, or a comment', () => {
    const fine = [
      "cluster.state = 'TERMINATED';",
      "const live = ['AWAITING_FULFILLMENT', 'PROVISIONING', 'BOOTSTRAPPING', 'RUNNING'];",
      "instances.filter((i) => i.state === 'RUNNING' || i.state === 'BOOTSTRAPPING');",
      "const done = ['SUCCEEDED', 'FAILED', 'CANCELLED'];",
      "// like ['TERMINATED', 'TERMINATED_WITH_ERRORS'] in lib/contract.ts",
      "if (crawler.State === 'RUNNING' || last === 'FAILED') wait();",
    ];
    for (const line of fine) expect(contractViolations(line)).toEqual([]);
  });
});
