/**
 * The bounds and safety nets of run-job (issue 11), on scripted services: a record that cannot be written
 * does not fail a succeeded job, a crawl that never ends does not hold the run forever, middy's early
 * timeout is retried like a Lambda service error, and a missing input stops the run before its claim.
 */
import { join } from 'node:path';
import { loadDefinition, runScripted, type TaskScript } from '../support/scriptedRun';

const definition = loadDefinition(join(__dirname, '../../statemachines/run-job.asl.yml'));

const request = {
  runId: 'r-1',
  job: { name: 'denormalize-events', maxAttempts: 3 },
  claimExpiresAt: 1_800_000_000,
  crawl: { required: true, crawler: 'emrflow-raw-events-dev', reason: 'partition not registered' },
};
const placement = {
  mode: 'dedicated',
  cluster: {},
  spec: {
    name: 'emrflow r-1 attempt 1',
    releaseLabel: 'emr-7.10.0',
    primary: { instanceTypeConfigs: [] },
    core: { onDemandUnits: 2, spotUnits: 0, instanceTypeConfigs: [] },
    task: { onDemandUnits: 2, spotUnits: 2, instanceTypeConfigs: [] },
    spotTimeoutMinutes: 10,
    idleTimeoutSeconds: 900,
    stepConcurrencyLevel: 1,
    configurations: [],
    tags: [],
  },
};
const ok = (value: unknown = {}) => [{ return: value }];
const fail = (name: string, message = name) => ({ throw: { name, message } });

const script = (): TaskScript => ({
  NormalizeRequest: ok({ request, attempt: 1 }),
  ClaimRun: ok(),
  StartCrawler: ok(),
  GetCrawler: ok({ Crawler: { State: 'READY', LastCrawl: { Status: 'SUCCEEDED' } } }),
  SizeJob: ok({ stepTimeoutSeconds: 1800, stepArgs: [] }),
  PlaceJob: ok(placement),
  CreateCluster: ok({ ClusterId: 'j-AAA' }),
  RunSparkStep: ok(),
  TerminateCluster: ok(),
  RecordRun: ok({ status: 'SUCCEEDED' }),
});

describe('run-job bounds and safety nets', () => {
  it('SucceededUnrecorded: a RecordRun failure after teardown does not fail a succeeded job', async () => {
    const outcome = await runScripted(definition, {}, { ...script(), RecordRun: [fail('DynamoDB.ResourceNotFoundException', 'Requested resource not found')] });

    expect(outcome.status).toBe('SUCCEEDED');
    expect(outcome.path.slice(-3)).toEqual(['TerminateCluster', 'RecordRun', 'SucceededUnrecorded']);
    expect(outcome.output.recordError).toMatchObject({ Error: 'DynamoDB.ResourceNotFoundException' });
  });

  it('RecordRun writes normally on the success path (negative control: no SucceededUnrecorded)', async () => {
    const outcome = await runScripted(definition, {}, script());

    expect(outcome.path.at(-1)).toBe('RecordRun');
  });

  it('CrawlTimedOut: a crawl still running after 2 hours fails the run before sizing', async () => {
    const outcome = await runScripted(definition, {}, { ...script(), GetCrawler: ok({ Crawler: { State: 'RUNNING', CrawlElapsedTime: 7_200_001 } }) });

    expect(outcome.status).toBe('FAILED');
    expect(outcome.error).toBe('Glue.CrawlTimedOut');
    expect(outcome.path).not.toContain('SizeJob');
  });

  it('keeps polling a crawl within the bound, and reads a READY crawler without CrawlElapsedTime as 0', async () => {
    const outcome = await runScripted(
      definition,
      {},
      {
        ...script(),
        GetCrawler: [
          { return: { Crawler: { State: 'RUNNING', CrawlElapsedTime: 7_199_000 } } },
          { return: { Crawler: { State: 'READY', LastCrawl: { Status: 'SUCCEEDED' } } } },
        ],
      },
    );

    expect(outcome.status).toBe('SUCCEEDED');
    expect(outcome.path.filter((state) => state === 'GetCrawler')).toHaveLength(2);
  });

  it("retries middy's early timeout (Function.Timeout) like a Lambda service error", async () => {
    const outcome = await runScripted(
      definition,
      {},
      { ...script(), SizeJob: [fail('Function.Timeout'), { return: { stepTimeoutSeconds: 1800, stepArgs: [] } }] },
    );

    expect(outcome.status).toBe('SUCCEEDED');
    expect(outcome.transitions).toBeGreaterThan((await runScripted(definition, {}, script())).transitions);
  });

  it.each(['Input.NotFound', 'Input.Empty'])('%s from NormalizeRequest fails the run before its claim', async (name) => {
    const outcome = await runScripted(
      definition,
      {},
      { ...script(), NormalizeRequest: [fail(name, 's3://raw/events/dt=2026-11-27/: no such object or prefix')] },
    );

    expect(outcome.status).toBe('FAILED');
    expect(outcome.error).toBe(name);
    expect(outcome.cause).toContain('s3://raw/events/dt=2026-11-27/');
    expect(outcome.path).toEqual(['NormalizeRequest', 'InputUnusable']);
  });

  it('sets a timeout on the whole execution and on the cluster start', () => {
    expect(definition.TimeoutSeconds).toBeGreaterThan(0);
    expect(definition.States.CreateCluster.TimeoutSeconds).toBeGreaterThan(0);
    expect(definition.States.RunSparkStep.TimeoutSecondsPath).toBe('$.sizing.stepTimeoutSeconds');
  });
});
