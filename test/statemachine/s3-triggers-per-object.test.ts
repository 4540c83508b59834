/**
 * S3 trigger semantics on the local runtime, per-object mode (issue 16). The service is a copy of this one
 * whose config/jobs.json puts the job in per-object mode: osls resolves serverless.yml's rule from it
 * (infra/job-catalog.js), and the same replacement is what the in-process handlers import (jest.mock), so
 * the rule and NormalizeRequest read one setting. Each upload goes through the rule's own pattern, as in
 * s3-triggers.test.ts.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalRuntime, type LocalRuntime, type RunSummary } from '../../local/runner';
import { objectCreatedEvent } from '../../local/runner/s3Event';
import { eventBridgeTargets } from '../../local/runner/triggers';

const perObject = (config: { jobs: object[] }) => ({ jobs: config.jobs.map((job) => ({ ...job, s3Trigger: { mode: 'per-object' } })) });

jest.mock('../../config/jobs.json', () => {
  const { jobs } = jest.requireActual('../../config/jobs.json');
  return { jobs: jobs.map((job: object) => ({ ...job, s3Trigger: { mode: 'per-object' } })) };
});

const projectDir = join(__dirname, '../..');
/** This service with config/jobs.json in per-object mode; what serverless.yml reads is copied, the rest linked. */
function perObjectService(): string {
  const dir = mkdtempSync(join(tmpdir(), 'emrflow-per-object-'));
  for (const copied of ['serverless.yml', 'package.json', 'infra', 'config']) cpSync(join(projectDir, copied), join(dir, copied), { recursive: true });
  for (const linked of ['statemachines', 'functions', 'lib', 'spark', 'node_modules']) symlinkSync(join(projectDir, linked), join(dir, linked));
  const jobsFile = join(dir, 'config/jobs.json');
  writeFileSync(jobsFile, JSON.stringify(perObject(JSON.parse(readFileSync(jobsFile, 'utf8')))));
  return dir;
}

jest.setTimeout(60_000);
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
// The subject is one execution, and one run, per object: it counts the run's pool cluster and step. Small jobs stay on the pool (local/runner/poolRules.ts), or a cold pool
// would send them to EMR Serverless (config/rules.json small-jobs-to-serverless-when-the-pool-must-grow).
jest.mock('../../config/rules.json', () =>
  jest.requireActual('../../local/runner/poolRules').smallJobsStayOnThePoolFile(jest.requireActual('../../config/rules.json')),
);

const DATE = '2026-11-26';
const scratch = mkdtempSync(join(tmpdir(), 'emrflow-triggers-'));
const dataFile = join(scratch, 'part.json');
writeFileSync(dataFile, `${JSON.stringify({ event_time: `${DATE}T10:00:00Z`, site: 'news.example.com', visitor_id: 'v1' })}\n`);

let service: string;
let runtime: LocalRuntime;
beforeAll(async () => {
  service = perObjectService();
  runtime = await startLocalRuntime({ serviceDir: service, timeScale: 0.001, simulateSteps: true });
}, 60_000);
afterAll(async () => {
  await runtime?.stop();
  rmSync(scratch, { recursive: true, force: true });
  rmSync(service, { recursive: true, force: true });
});

async function deliver(event: Record<string, unknown>): Promise<RunSummary[]> {
  const executions: RunSummary[] = [];
  for (const machine of await eventBridgeTargets(runtime.config, event)) executions.push(await runtime.run(event, { machine }));
  return executions;
}

describe('per-object mode', () => {
  it('starts 5 runs for 5 objects, each over its own object, writing where the others do not', async () => {
    // Act
    const executions: RunSummary[] = [];
    for (let n = 1; n <= 5; n++) {
      executions.push(...(await deliver(await runtime.upload(dataFile, `s3://${runtime.buckets.RawBucket}/events/dt=${DATE}/part-000${n}.json`))));
    }

    // Assess
    expect(executions.map((run) => run.status)).toEqual(Array(5).fill('SUCCEEDED'));
    const requests = executions.map((run) => (run.output as any).request);
    expect(requests.map((request) => request.input.key)).toEqual([1, 2, 3, 4, 5].map((n) => `events/dt=${DATE}/part-000${n}.json`));
    expect(new Set(requests.map((request) => request.runId)).size).toBe(5);
    const outputs: string[] = requests.map((request) => request.output.uri);
    for (const [i, output] of outputs.entries()) {
      const overlapping = outputs.filter((other, j) => j !== i && (other.startsWith(output) || output.startsWith(other)));
      expect({ output, overlapping }).toEqual({ output, overlapping: [] });
    }
    // The Spark step of each run is told its own output.
    const stepOutputs = executions.map((run) => (run.output as any).sizing.stepArgs.join(' ').match(/--output (\S+)/)?.[1]);
    expect(stepOutputs).toEqual(outputs);
  });

  it('starts nothing for a folder-marker key, nor for the marker a writer may still leave', async () => {
    const event = (key: string, size: number) =>
      objectCreatedEvent({ bucket: runtime.buckets.RawBucket, key, size, etag: 'e' }, { region: 'us-east-1', accountId: '000000000000' });

    expect(await eventBridgeTargets(runtime.config, event(`events/dt=${DATE}/`, 0))).toEqual([]);
    expect(await eventBridgeTargets(runtime.config, event(`events/dt=${DATE}/_SUCCESS`, 0))).toEqual([]);
    expect(await eventBridgeTargets(runtime.config, event(`events/dt=${DATE}/part-0006.json`, 10))).toEqual(['run-job']);
  });
});
