/**
 * run-job end to end on the local runtime: the real ASL, the real Lambda handlers, the real SDK clients
 * over loopback to the emulator (EMR, Glue, S3) and dynalite. Steps are simulated (real Spark is the
 * end-to-end test's job) and time runs a thousand times faster: a 7-minute bootstrap takes 0.42 s.
 * Each scenario injects its faults into a fresh emulator, like the AWS mock-config samples name theirs.
 */
import { EMRClient, ListInstanceFleetsCommand, ListInstancesCommand } from '@aws-sdk/client-emr';
import { NO_FAULTS, type Faults } from '../../local/emulator';
import { startLocalRuntime, type LocalRuntime, type RunSummary } from '../../local/runner';
import { BIG_PARTITION_BYTES, crawl, sizedAsPartitionOf } from '../../local/runner/faultMatrix';
import { writeDayEvents } from '../../local/runner/dayEvents';

jest.setTimeout(30_000);
// The handlers' structured logs would bury the test report.
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
// These scenarios are about dedicated clusters (their fleets, Spot fallback, teardown): without the usePool and
// useServerless rules every run gets one, as a job too big for any pool does (pooled runs: run-job.pool.test.ts;
// Serverless runs: run-job.serverless.test.ts).
jest.mock('../../config/rules.json', () => {
  const shipped = jest.requireActual('../../config/rules.json');
  const dedicated = (rule: { event: { type: string } }) => rule.event.type !== 'usePool' && rule.event.type !== 'useServerless';
  return { ...shipped, rules: shipped.rules.filter(dedicated) };
});

const TIME_SCALE = 0.001;
const RUN_DATE = '2026-11-26';

function faults(overrides: { emr?: Partial<Faults['emr']>; glue?: Partial<Faults['glue']> }): Faults {
  return { ...NO_FAULTS, emr: { ...NO_FAULTS.emr, ...overrides.emr }, glue: { ...NO_FAULTS.glue, ...overrides.glue } };
}

const { eventsFile, cleanup } = writeDayEvents(RUN_DATE, 'emrflow-scenarios-');
afterAll(cleanup);

let runtime: LocalRuntime | undefined;
afterEach(async () => {
  await runtime?.stop();
  runtime = undefined;
});

/**
 * Starts a fresh runtime with `injected` faults, uploads the day's events and runs run-job on the S3 event.
 * `catalogued`: the crawler registers the partition before the event arrives, so the run skips the crawl.
 * `big`: the catalog reports the partition at 600 GiB when SizeJob reads it, so the real sizing gives the job a
 * Spot task fleet (16 units); the 3 events alone get the 2-unit minimum, one On-Demand core node and no Spot.
 */
async function runUpload(injected: Faults = NO_FAULTS, options: { catalogued?: boolean; big?: boolean } = {}): Promise<RunSummary> {
  runtime = await startLocalRuntime({ timeScale: TIME_SCALE, faults: injected, simulateSteps: true });
  await runtime.upload(eventsFile, `s3://${runtime.buckets.RawBucket}/events/dt=${RUN_DATE}/part-0001.json`);
  const event = await runtime.markComplete(`s3://${runtime.buckets.RawBucket}/events/dt=${RUN_DATE}/`);
  if (options.catalogued) await crawl(runtime.seeded.crawlers[0]);
  return runtime.run(event, options.big ? { intercept: sizedAsPartitionOf(BIG_PARTITION_BYTES) } : {});
}

const path = (summary: RunSummary) => summary.timeline.map((entry) => entry.state);

/** What a cluster's core and task fleets asked for (ListInstanceFleets) and the markets its instances ran in. */
async function workerCapacity(clusterId: string) {
  const emr = new EMRClient({});
  const { InstanceFleets = [] } = await emr.send(new ListInstanceFleetsCommand({ ClusterId: clusterId }));
  const workers = InstanceFleets.filter((fleet) => fleet.InstanceFleetType !== 'MASTER');
  const targetOnDemand = workers.reduce((total, fleet) => total + (fleet.TargetOnDemandCapacity ?? 0), 0);
  const targetSpot = workers.reduce((total, fleet) => total + (fleet.TargetSpotCapacity ?? 0), 0);
  const { Instances = [] } = await emr.send(new ListInstancesCommand({ ClusterId: clusterId }));
  const workerIds = new Set(workers.map((fleet) => fleet.Id));
  return {
    onDemandShare: targetOnDemand / (targetOnDemand + targetSpot),
    targetSpot,
    markets: [...new Set(Instances.filter((instance) => workerIds.has(instance.InstanceFleetId)).map((instance) => instance.Market))],
  };
}

describe('run-job on the local runtime', () => {
  it('HappyPath: runs the step on a dedicated cluster, tears it down and records the run in 10 transitions', async () => {
    const summary = await runUpload(NO_FAULTS, { catalogued: true });
    expect(summary.status).toBe('SUCCEEDED');
    expect(path(summary)).toEqual([
      'NormalizeRequest',
      'ClaimRun',
      'CheckCatalog',
      'SizeJob',
      'PlaceJob',
      'RouteByPlacement',
      'CreateCluster',
      'RunSparkStep',
      'TerminateCluster',
      'RecordRun',
    ]);
    expect(summary.transitions).toBe(10);
    expect(summary.attempts).toBe(1);
    expect(summary.clustersCreated).toBe(1);
    expect(summary.clustersRunningAtEnd).toBe(0);
    expect(summary.steps).toEqual([expect.objectContaining({ state: 'COMPLETED', executor: 'simulated' })]);
    const { record } = summary.output as any;
    // RecordRun's path estimate is the runner's real count here, and the cluster it priced is the run's.
    expect(record.cost.orchestration.transitionsEstimate).toBe(summary.transitions);
    expect(record.cost.clusters.map((cluster: any) => cluster.clusterId)).toEqual([summary.clusters[0].clusterId]);
    expect(record.cost.clusters[0].onDemand.instances).toBeGreaterThan(0);
    expect(record.costUsd).toBeGreaterThan(0);
    expect(record).toMatchObject({ placementMode: 'dedicated', queueWaitSeconds: null });
  });

  it('NewPartition: crawls first, polling GetCrawler until the crawl succeeded, then runs as usual', async () => {
    const summary = await runUpload();

    expect(summary.status).toBe('SUCCEEDED');
    const states = path(summary);
    expect(states.slice(0, 5)).toEqual(['NormalizeRequest', 'ClaimRun', 'CheckCatalog', 'StartCrawler', 'WaitForCrawler']);
    const polls = states.filter((state) => state === 'GetCrawler').length;
    expect(polls).toBeGreaterThanOrEqual(1);
    // Each poll is Wait + GetCrawler + Choice: three transitions on top of the 11 of a run with one crawl start.
    expect(summary.transitions).toBe(11 + 3 * polls);
    expect(states.slice(-7)).toEqual(['SizeJob', 'PlaceJob', 'RouteByPlacement', 'CreateCluster', 'RunSparkStep', 'TerminateCluster', 'RecordRun']);
    expect(summary.clustersRunningAtEnd).toBe(0);
  });

  it('SpotInterruptedInStep: attempt 2 runs with a larger On-Demand share and succeeds; the first cluster is terminated', async () => {
    const summary = await runUpload(faults({ emr: { spotInterruption: [{ attempt: 1, phase: 'STEP_RUNNING' }] } }), { big: true });

    expect(summary.status).toBe('SUCCEEDED');
    expect(summary.attempts).toBe(2);
    expect(summary.clustersCreated).toBe(2);
    expect(summary.clustersRunningAtEnd).toBe(0);
    expect(path(summary)).toEqual(expect.arrayContaining(['ClassifyFailure', 'TerminateBeforeRetry', 'BackoffBeforeRetry', 'PrepareRetry']));
    const [first, second] = summary.clusters;
    expect(first.state).toMatch(/^TERMINATED/);
    expect(summary.steps.map((step) => [step.clusterId, step.state])).toEqual([
      [first.clusterId, expect.stringMatching(/FAILED|CANCELLED|INTERRUPTED/)],
      [second.clusterId, 'COMPLETED'],
    ]);
    expect((summary.output as any).sizing.capacityUnits).toBe(16);
    expect((await workerCapacity(first.clusterId)).targetSpot).toBeGreaterThan(0);
    expect((await workerCapacity(second.clusterId)).onDemandShare).toBeGreaterThan((await workerCapacity(first.clusterId)).onDemandShare);
    // Both attempts' clusters are in the run's cost: the interrupted one through $.failure.clusterId.
    const { record } = summary.output as any;
    expect(record.cost.clusters.map((cluster: any) => cluster.clusterId).sort()).toEqual([first.clusterId, second.clusterId].sort());
    // The estimate counts one crawler poll (Wait + GetCrawler + Choice); the rest of the path it counts exactly.
    const polls = path(summary).filter((state) => state === 'GetCrawler').length;
    expect(record.cost.orchestration.transitionsEstimate).toBe(summary.transitions - 3 * Math.max(0, polls - 1));
    expect(record.interruptions).toBe(1);
  });

  it('StepFailed: a failure that is not Spot fails the run with a cause naming the step, and terminates the cluster', async () => {
    const summary = await runUpload(faults({ emr: { stepFailure: [{ attempt: 1 }] } }));

    expect(summary.status).toBe('FAILED');
    expect(summary.error).toBe('Emr.StepFailed');
    expect(summary.cause).toContain(summary.steps[0].stepId);
    expect(path(summary).slice(-3)).toEqual(['TerminateAfterFailure', 'RecordFailedRun', 'JobFailed']);
    expect(summary.clustersCreated).toBe(1);
    expect(summary.clusters[0].state).toMatch(/^TERMINATED/);
    expect(summary.clustersRunningAtEnd).toBe(0);
  });

  it('CrawlerAlreadyRunning: waits for the running crawl instead of failing, then proceeds', async () => {
    const summary = await runUpload(faults({ glue: { crawlerAlreadyRunning: true } }));

    expect(summary.status).toBe('SUCCEEDED');
    const startCrawler = summary.timeline.find((entry) => entry.state === 'StartCrawler');
    expect(startCrawler).toMatchObject({ outcome: 'caught', error: 'Glue.CrawlerRunningException' });
    const states = path(summary);
    expect(states.indexOf('WaitForCrawler')).toBe(states.indexOf('StartCrawler') + 1);
    expect(states).toContain('SizeJob');
    expect(summary.clustersRunningAtEnd).toBe(0);
  });

  it('SpotCapacityUnavailable: with no Spot capacity at launch the cluster comes up On-Demand and the job succeeds', async () => {
    const summary = await runUpload(faults({ emr: { spotCapacityUnavailable: [{ attempt: 1 }] } }), { big: true });

    expect(summary.status).toBe('SUCCEEDED');
    expect(summary.attempts).toBe(1);
    expect(summary.clustersCreated).toBe(1);
    const capacity = await workerCapacity(summary.clusters[0].clusterId);
    expect(capacity.targetSpot).toBeGreaterThan(0);
    expect(capacity.markets).toEqual(['ON_DEMAND']);
    expect(summary.clustersRunningAtEnd).toBe(0);
  });

  it('InvalidRequest: an unknown job fails with Request.Invalid before anything is claimed or created', async () => {
    runtime = await startLocalRuntime({ timeScale: TIME_SCALE, simulateSteps: true });

    const summary = await runtime.run({ job: 'no-such-job', date: RUN_DATE });

    expect(summary.status).toBe('FAILED');
    expect(summary.error).toBe('Request.Invalid');
    expect(JSON.parse(summary.cause!)).toMatchObject({ errorType: 'Request.Invalid', errorMessage: expect.stringContaining('no-such-job') });
    expect(path(summary)).toEqual(['NormalizeRequest', 'RequestInvalid']);
    expect(summary.clustersCreated).toBe(0);
    expect(summary.clustersRunningAtEnd).toBe(0);
  });
});
