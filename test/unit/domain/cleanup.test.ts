import { clusterName, isDedicatedClusterName } from '../../../lib/contract';
import { abandonedRunRecord, claimToRelease, executionClusters, parseExecutionEnd, type AppCluster } from '../../../lib/domain/cleanup';

const event = (detail: Record<string, unknown> = {}) => ({
  version: '0',
  'detail-type': 'Step Functions Execution Status Change',
  source: 'aws.states',
  detail: {
    executionArn: 'arn:aws:states:us-east-1:1:execution:emrflow-dev-run-job:exec-1',
    stateMachineArn: 'arn:aws:states:us-east-1:1:stateMachine:emrflow-dev-run-job',
    name: 'exec-1',
    status: 'ABORTED',
    startDate: 1_796_000_000_000,
    stopDate: 1_796_000_600_000,
    error: null,
    cause: null,
    ...detail,
  },
});
const cluster = (id: string, state: string, tags: Record<string, string>): AppCluster => ({
  id,
  name: `emrflow ${id}`,
  state,
  createdAt: 1_796_000_100_000,
  tags: { 'emrflow:app': 'emrflow', 'emrflow:pool': 'dedicated', ...tags },
});

describe('cleanup of an ended execution', () => {
  it('reads the EventBridge event of an aborted, timed-out or failed execution', () => {
    expect(parseExecutionEnd(event())).toMatchObject({ executionName: 'exec-1', status: 'ABORTED', startedAt: 1_796_000_000_000 });
  });

  it.each([
    ['another source', { ...event(), source: 'aws.emr' }, 'source'],
    ['a succeeded execution', event({ status: 'SUCCEEDED' }), 'detail.status'],
    ['no execution name', event({ name: '' }), 'detail.name'],
    ['no start date', event({ startDate: 'soon' }), 'detail.startDate'],
  ])('refuses %s with Request.Invalid naming the field', (_what, input, field) => {
    expect(() => parseExecutionEnd(input)).toThrow(expect.objectContaining({ name: 'Request.Invalid', field }));
  });

  it("terminates only the execution's own active dedicated clusters", () => {
    const end = parseExecutionEnd(event({ status: 'TIMED_OUT' }));
    const clusters = [
      cluster('j-OWN', 'RUNNING', { 'emrflow:execution': 'exec-1' }),
      cluster('j-OWN-GONE', 'TERMINATED', { 'emrflow:execution': 'exec-1' }),
      cluster('j-OTHER', 'RUNNING', { 'emrflow:execution': 'exec-2' }),
      cluster('j-POOL', 'WAITING', { 'emrflow:execution': 'exec-1', 'emrflow:pool': 'default' }),
      { ...cluster('j-FOREIGN', 'RUNNING', { 'emrflow:execution': 'exec-1' }), tags: { 'emrflow:execution': 'exec-1', 'emrflow:pool': 'dedicated' } },
    ];

    const actions = executionClusters(end, clusters);

    expect(actions.map((action) => action.clusterId)).toEqual(['j-OWN']);
    expect(actions[0].reason).toContain('exec-1, which ended TIMED_OUT');
  });

  it('records an aborted run from its latest cluster, and leaves FAILED runs to RecordFailedRun', () => {
    const clusters = [
      cluster('j-1', 'TERMINATED', { 'emrflow:execution': 'exec-1', 'emrflow:run': 'r-1', 'emrflow:job': 'denormalize-events', 'emrflow:attempt': '1' }),
      cluster('j-2', 'RUNNING', { 'emrflow:execution': 'exec-1', 'emrflow:run': 'r-1', 'emrflow:job': 'denormalize-events', 'emrflow:attempt': '2' }),
    ];

    expect(abandonedRunRecord(parseExecutionEnd(event()), clusters)).toMatchObject({
      job: 'denormalize-events',
      runId: 'r-1',
      status: 'FAILED',
      attempts: 2,
      clusterId: 'j-2',
      durationSeconds: 600,
      failureKind: 'Execution.ABORTED',
    });
    expect(abandonedRunRecord(parseExecutionEnd(event({ status: 'FAILED' })), clusters)).toBeNull();
    expect(abandonedRunRecord(parseExecutionEnd(event()), [])).toBeNull();
  });

  it('releases the claim of an aborted or timed-out run it can name, never of a FAILED one', () => {
    const clusters = [cluster('j-1', 'RUNNING', { 'emrflow:execution': 'exec-1', 'emrflow:run': 'r-1' })];

    expect(claimToRelease(parseExecutionEnd(event()), clusters)).toEqual({ runId: 'r-1', execution: 'exec-1' });
    expect(claimToRelease(parseExecutionEnd(event({ status: 'TIMED_OUT' })), clusters)).toEqual({ runId: 'r-1', execution: 'exec-1' });
    expect(claimToRelease(parseExecutionEnd(event({ status: 'FAILED' })), clusters)).toBeNull();
    expect(claimToRelease(parseExecutionEnd(event()), [])).toBeNull();
  });

  it("tells a run's dedicated cluster by the name clusterName gives it, and nothing else", () => {
    expect(isDedicatedClusterName(clusterName('denormalize-events-2026-11-26', 2))).toBe(true);
    expect(['emrflow', 'emrflow pool default', 'nightly etl', 'emrflow r-1 attempt 0'].map(isDedicatedClusterName)).toEqual([false, false, false, false]);
  });
});
