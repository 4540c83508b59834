import { functionMetrics, metricsMiddleware } from '../../../lib/aws/metrics';

describe('function metrics', () => {
  let stdout: jest.SpyInstance;
  const written = () => stdout.mock.calls.map(([chunk]) => JSON.parse(String(chunk)));
  beforeEach(() => {
    stdout = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
  });
  afterEach(() => stdout.mockRestore());

  it('writes what a handler queued when the middleware runs after it, one EMF document per data point', async () => {
    const metrics = functionMetrics('dispatch-queue');
    metrics.add('UnitsInUse', 8, { pool: 'shared' });
    metrics.add('UnitsInUse', 0, { pool: 'batch' });
    expect(stdout).not.toHaveBeenCalled();

    await metricsMiddleware(metrics).after!({} as never);

    expect(written().map(({ pool, UnitsInUse, service }) => ({ pool, UnitsInUse, service }))).toEqual([
      { pool: 'shared', UnitsInUse: 8, service: 'dispatch-queue' },
      { pool: 'batch', UnitsInUse: 0, service: 'dispatch-queue' },
    ]);
    // Flushed once: a second run of the middleware writes nothing again.
    await metricsMiddleware(metrics).onError!({} as never);
    expect(stdout).toHaveBeenCalledTimes(2);
  });

  it("refuses dimensions other than the metric's in lib/metrics.json, so the dashboard's SEARCH still finds it", () => {
    const metrics = functionMetrics('record-run');
    expect(() => metrics.add('QueueWaitSeconds', 5, { job: 'x' })).toThrow(
      /metric QueueWaitSeconds: dimensions \["job"\] differ from lib\/metrics.json's \["pool"\]/,
    );
    expect(() => metrics.add('JobsPlaced', 1, { pool: 'shared' })).toThrow(/JobsPlaced/);
    expect(() => metrics.add('JobsPlaced', 1, { pool: 'shared', priority: 'high' })).not.toThrow();
  });
});
