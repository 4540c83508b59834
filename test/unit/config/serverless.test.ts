import { InvalidConfigError } from '../../../lib/errors';
import { loadServerlessConfig, parseServerlessConfig, startJobRunBudget } from '../../../lib/config/serverless';

const app = {
  releaseLabel: 'emr-7.10.0',
  architecture: 'ARM64',
  maximumCapacity: { vcpu: 64, memoryGb: 480 },
  autoStop: { idleTimeoutMinutes: 15 },
  workerDiskGb: 20,
};
const file = (overrides: Record<string, unknown> = {}, appOverrides: Record<string, unknown> = {}) => ({
  defaultApplication: 'spark',
  applications: { spark: { ...app, ...appOverrides } },
  ...overrides,
});

function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidConfigError);
    return (error as Error).message;
  }
  throw new Error('expected Config.Invalid');
}

describe('config/serverless.json', () => {
  it('ships a valid file', () => {
    expect(loadServerlessConfig().applications[loadServerlessConfig().defaultApplication]).toMatchObject({ releaseLabel: expect.stringMatching(/^emr-7\./) });
  });

  it("takes a StartJobRun budget, and EMR Serverless's quota (1/s, burst 25) without one", () => {
    expect(startJobRunBudget(parseServerlessConfig(file({ startJobRunBudget: { ratePerSecond: 0.5, burst: 10 } })))).toEqual({ ratePerSecond: 0.5, burst: 10 });
    expect(startJobRunBudget(parseServerlessConfig(file()))).toEqual({ ratePerSecond: 1, burst: 25 });
  });

  it('accepts a valid application with pre-initialized capacity (the control for the errors below)', () => {
    const initialCapacity = { driver: { workers: 1, worker: { vcpu: 4, memoryGb: 16 } }, executor: { workers: 4, worker: { vcpu: 4, memoryGb: 30 } } };
    expect(parseServerlessConfig(file({}, { initialCapacity })).applications.spark.initialCapacity).toEqual(initialCapacity);
  });

  it.each([
    [file({}, { architecure: 'ARM64' }), 'config/serverless.json: applications.spark.architecure: unknown field; did you mean "architecture"?'],
    [file({}, { architecture: 'arm64' }), 'config/serverless.json: applications.spark.architecture: must be X86_64 or ARM64'],
    [file({}, { releaseLabel: '7.10.0' }), 'config/serverless.json: applications.spark.releaseLabel: must be an EMR release label such as emr-7.10.0'],
    [
      file({}, { autoStop: { idleTimeoutMinutes: 0 } }),
      'config/serverless.json: applications.spark.autoStop.idleTimeoutMinutes: must be between 1 and 10080, got number 0',
    ],
    [
      file({}, { initialCapacity: { driver: { workers: 1, worker: { vcpu: 4, memoryGb: 32 } }, executor: { workers: 1, worker: { vcpu: 4, memoryGb: 16 } } } }),
      'config/serverless.json: applications.spark.initialCapacity.driver.worker: 32 GB is not a valid memory for a 4 vCPU worker (8–30 GB in 1 GB steps)',
    ],
    [
      file(
        {},
        { initialCapacity: { driver: { workers: 1, worker: { vcpu: 4, memoryGb: 16 } }, executor: { workers: 100, worker: { vcpu: 4, memoryGb: 16 } } } },
      ),
      'config/serverless.json: applications.spark.initialCapacity: needs 404 vCPU / 1616 GB, more than maximumCapacity (64 vCPU / 480 GB)',
    ],
    [file({ defaultApplication: 'sprak' }), 'config/serverless.json: defaultApplication: names no application in "applications" (spark)'],
    [
      file({ startJobRunBudget: { ratePerSecond: 0, burst: 25 } }),
      'config/serverless.json: startJobRunBudget.ratePerSecond: must be between 0.001 and 10, got number 0',
    ],
  ])('rejects %j with an error naming the file and the field', (raw, message) => {
    expect(configError(() => parseServerlessConfig(raw))).toContain(message);
  });
});

describe('config/rules.json useServerless rules', () => {
  const { checkRuleApplications, parseRules, loadRules } = jest.requireActual('../../../lib/config/rules') as typeof import('../../../lib/config/rules');
  const rule = (params: Record<string, unknown>, leaf: Record<string, unknown> = { fact: 'attempt', operator: 'equal', value: 1 }) => ({
    rules: [{ name: 'r', conditions: { all: [leaf] }, event: { type: 'useServerless', params: { reason: 'x', ...params } } }],
  });

  it('accepts the shipped rules, whose applications exist (the control for the errors below)', () => {
    expect(() => checkRuleApplications(loadRules(), Object.keys(loadServerlessConfig().applications))).not.toThrow();
    expect(() => checkRuleApplications(parseRules(rule({ application: 'spark' })), ['spark'])).not.toThrow();
  });

  it('rejects an application config/serverless.json does not have, and a path that is not "$.<key>"', () => {
    expect(configError(() => checkRuleApplications(parseRules(rule({ application: 'sprak' })), ['spark']))).toBe(
      'config/rules.json: rules[0].event.params.application: "sprak" is not an application of config/serverless.json (applications: spark)',
    );
    expect(configError(() => parseRules(rule({}, { fact: 'predictedWaitMinutes', path: 'shared', operator: 'greaterThan', value: 1 })))).toContain(
      'config/rules.json: rules[0].conditions.all[0].path: must be "$.<key>"',
    );
  });
});
