import {
  DEFAULT_SIZING,
  SHARED_UNIT_SPARK,
  SPARK_STARTUP_SECONDS,
  learnThroughput,
  sizeJob,
  sparkConf,
  stepTimeoutSeconds,
  type RunSample,
} from '../../../lib/domain/sizing';
import type { Sizing } from '../../../lib/domain/types';
import { ARTIFACTS, GiB, job, request } from '../fixtures';

const size = (inputBytes: number, history: RunSample[] = [], slaMinutes = 60): Sizing =>
  sizeJob({ request: request({ job: job({ slaMinutes }) }), inputBytes, bytesSource: 'glue', history, artifactsBucket: ARTIFACTS });

const TABLE = [
  ['1 GB', 1 * GiB],
  ['10 GB', 10 * GiB],
  ['100 GB', 100 * GiB],
  ['1 TB', 1024 * GiB],
  ['4 TB', 4096 * GiB],
] as const;

describe('sizing from 1 GB to 4 TB', () => {
  const sized = TABLE.map(([label, bytes]) => ({ label, bytes, sizing: size(bytes) }));

  it.each(sized)('$label: capacity within bounds, one shared unit or whole 2xlarge instances', ({ sizing }) => {
    expect(sizing.capacityUnits).toBeGreaterThanOrEqual(DEFAULT_SIZING.minCapacityUnits);
    expect(sizing.capacityUnits).toBeLessThanOrEqual(DEFAULT_SIZING.maxCapacityUnits);
    if (sizing.capacityUnits > 1) expect(sizing.capacityUnits % DEFAULT_SIZING.unitStep).toBe(0);
  });

  it.each(sized)('$label: predicted within the SLA and a timeout above the prediction', ({ sizing }) => {
    expect(sizing.predictedMinutes).toBeLessThan(60);
    expect(sizing.stepTimeoutSeconds).toBeGreaterThan(sizing.predictedMinutes * 60);
    expect(sizing.stepTimeoutSeconds).toBeGreaterThanOrEqual(20 * 60);
    expect(sizing.stepTimeoutSeconds).toBeLessThanOrEqual(60 * 60);
  });

  it.each(sized)('$label: sane Spark conf (one executor per unit less the driver, 128-256 MiB or 2 tasks per core)', ({ bytes, sizing }) => {
    const { spark } = sizing;
    expect(spark.executorInstances).toBe(Math.max(1, sizing.capacityUnits - 1));
    // A unit holds 4 vCPU and 29 GiB of YARN memory on a 4xlarge: one executor, or a shared unit's driver and executor.
    const driverGiB = spark.driverMemoryGiB === undefined ? 0 : Math.max(spark.driverMemoryGiB * 1.1, spark.driverMemoryGiB + 0.375);
    expect(spark.executorCores + (spark.driverCores ?? 0)).toBe(4);
    expect(spark.executorMemoryGiB * 1.1 + driverGiB).toBeLessThanOrEqual(29);
    expect(spark.shufflePartitions).toBeGreaterThanOrEqual(2 * spark.executorInstances * spark.executorCores);
    const mibPerPartition = bytes / 1024 ** 2 / spark.shufflePartitions;
    expect(mibPerPartition).toBeLessThanOrEqual(256);
  });

  it('grows capacity monotonically with input size, and strictly from 100 GB to 4 TB', () => {
    const units = sized.map((s) => s.sizing.capacityUnits);
    for (let i = 1; i < units.length; i += 1) expect(units[i]).toBeGreaterThanOrEqual(units[i - 1]);
    expect(units[2]).toBeLessThan(units[3]);
    expect(units[3]).toBeLessThan(units[4]);
  });

  it('sizes 4 TB in an hour-SLA job to about 102 units (408 vCPU) at the measured 24 MiB/s per unit, inside the SLA', () => {
    // 4 TiB / (24 MiB/s x 29 min of compute) = 100.4 units, rounded up to whole 2xlarge instances: a range, not a pin.
    const { capacityUnits, predictedMinutes, stepTimeoutSeconds } = sized[4].sizing;
    expect(capacityUnits).toBeGreaterThanOrEqual(100);
    expect(capacityUnits).toBeLessThanOrEqual(112);
    expect(predictedMinutes).toBeGreaterThanOrEqual(15);
    expect(predictedMinutes).toBeLessThanOrEqual(45);
    expect(stepTimeoutSeconds).toBe(60 * 60);
  });

  it('caps capacity for inputs no cluster should take in one job, and lets the timeout follow the prediction', () => {
    const huge = size(30 * 1024 * GiB);
    expect(huge.capacityUnits).toBe(DEFAULT_SIZING.maxCapacityUnits);
    expect(huge.predictedMinutes).toBeGreaterThan(60);
    expect(huge.stepTimeoutSeconds).toBe(Math.ceil(1.5 * huge.predictedMinutes * 60));
  });

  it('gives a tighter SLA more capacity for the same input', () => {
    expect(size(1024 * GiB, [], 30).capacityUnits).toBeGreaterThan(size(1024 * GiB, [], 60).capacityUnits);
  });
});

describe('right-sized jobs: 1 MiB to 1 TiB with the measured Spark start (hour SLA, no history)', () => {
  const MiB = 1024 ** 2;
  // [label, bytes, units, executors, step timeout s]; the prediction is the measured start (SPARK_STARTUP_SECONDS)
  // plus the input at the default 24 MiB/s per unit. Before (8-unit minimum in steps of 4, an assumed 2 min start):
  // 1 MiB, 30 MiB and 1 GiB all got 8 units (7 executors) predicted 2-2.1 min; 1 TiB 28 units, 28 min.
  const predicted = (bytes: number, units: number) => Math.round(((SPARK_STARTUP_SECONDS + bytes / MiB / (24 * units)) / 60) * 10) / 10;
  it.each([
    ['1 MiB', MiB, 1, 1, 20 * 60],
    ['30 MiB', 30 * MiB, 1, 1, 20 * 60],
    ['1 GiB', GiB, 1, 1, 20 * 60],
    ['1 TiB', 1024 * GiB, 26, 25, 60 * 60],
  ] as const)('%s: %d units (%d executors), timeout %d s', (_label, bytes, units, executors, timeout) => {
    const sizing = size(bytes);
    expect(sizing.capacityUnits).toBe(units);
    expect(sizing.spark.executorInstances).toBe(executors);
    expect(sizing.predictedMinutes).toBe(predicted(bytes, units));
    expect(sizing.stepTimeoutSeconds).toBe(timeout);
  });

  it('gives a small job the smallest useful Spark application: the driver plus one executor, in one unit', () => {
    expect(DEFAULT_SIZING.minCapacityUnits).toBe(1);
    expect(size(1).spark).toEqual({ executorInstances: 1, executorCores: 3, executorMemoryGiB: 20, driverCores: 1, driverMemoryGiB: 2, shufflePartitions: 6 });
    // A job that needs more than a unit's work gets whole 2xlarge instances, its driver on a unit of its own (EMR's default driver).
    expect(size(100 * GiB).spark).not.toHaveProperty('driverCores');
  });

  it('predicts the fixed start from the measured constant plus the compute the data needs', () => {
    expect(DEFAULT_SIZING.startupMinutes * 60).toBe(SPARK_STARTUP_SECONDS);
    // 1 GiB at 24 MiB/s per unit on 1 unit: 42.7 s of compute on top of the measured start.
    expect(size(GiB).predictedMinutes).toBeCloseTo((SPARK_STARTUP_SECONDS + 1024 / 24) / 60, 1);
    // 1 TiB: 26 units = ceil(1 TiB / (24 MiB/s x 29 min) = 25.1, to whole 2xlarge instances).
    expect(size(1024 * GiB).predictedMinutes).toBeCloseTo((SPARK_STARTUP_SECONDS + (1024 * 1024) / (24 * 26)) / 60, 1);
  });
});

describe('learning from history', () => {
  // 100 GiB in 10 min of compute on 16 units: 102400 MiB / 600 s / 16 = 10.7 MiB/s per unit. The step also paid
  // the fixed Spark start, which learning takes off before dividing.
  const slowRun: RunSample = { inputBytes: 100 * GiB, stepSeconds: 600 + SPARK_STARTUP_SECONDS, capacityUnits: 16 };

  it('uses the default throughput with no history', () => {
    expect(learnThroughput([])).toEqual({ throughput: 24, runs: 0 });
  });

  it('learns the median throughput of recent runs, ignoring unusable records', () => {
    const fast = { ...slowRun, stepSeconds: SPARK_STARTUP_SECONDS + 150 };
    const learned = learnThroughput([slowRun, slowRun, fast, { inputBytes: 0, stepSeconds: 10, capacityUnits: 8 }]);
    expect(learned.runs).toBe(3);
    expect(learned.throughput).toBeCloseTo(10.67, 1);
  });

  it('changes the estimate: a slower history buys more capacity for the same input', () => {
    const fresh = size(1024 * GiB);
    const learned = size(1024 * GiB, [slowRun, slowRun, slowRun]);

    expect(learned.historyRuns).toBe(3);
    expect(learned.throughputMiBpsPerUnit).toBeCloseTo(10.7, 1);
    expect(learned.capacityUnits).toBeGreaterThan(fresh.capacityUnits);
  });

  it('keeps a corrupt record from swinging the estimate beyond 20x the default', () => {
    const absurd = learnThroughput([{ inputBytes: 4096 * GiB, stepSeconds: 151, capacityUnits: 1 }]);
    expect(absurd.throughput).toBe(24 * 20);
  });
});

describe('step arguments', () => {
  it('builds spark-submit exactly as the team contract says', () => {
    const sizing = size(100 * GiB);
    const { spark } = sizing;

    expect(sizing.stepArgs).toEqual([
      'spark-submit',
      '--deploy-mode',
      'cluster',
      '--conf',
      `spark.executor.memory=${spark.executorMemoryGiB}g`,
      '--conf',
      `spark.executor.cores=${spark.executorCores}`,
      '--conf',
      `spark.executor.instances=${spark.executorInstances}`,
      '--conf',
      `spark.sql.shuffle.partitions=${spark.shufflePartitions}`,
      `s3://${ARTIFACTS}/spark/denormalize.py`,
      '--input',
      's3://emrflow-raw/events/dt=2026-11-26/',
      '--output',
      's3://emrflow-artifacts/denormalized/events/',
      '--run-id',
      'denormalize-events-2026-11-26',
      '--run-date',
      '2026-11-26',
    ]);
  });

  it("gives a one-unit job's driver its share of the unit (spark.driver.* before the executor's settings)", () => {
    const { stepArgs } = size(GiB);
    const conf = stepArgs.filter((_arg, i) => stepArgs[i - 1] === '--conf');

    expect(conf.slice(0, 3)).toEqual([
      `spark.driver.cores=${SHARED_UNIT_SPARK.driverCores}`,
      `spark.driver.memory=${SHARED_UNIT_SPARK.driverMemoryGiB}g`,
      `spark.executor.memory=${SHARED_UNIT_SPARK.executorMemoryGiB}g`,
    ]);
  });

  it("appends the job's own args last", () => {
    const sizing = sizeJob({
      request: request({ job: job({ args: ['--sites', 'all'] }) }),
      inputBytes: GiB,
      bytesSource: 's3',
      history: [],
      artifactsBucket: ARTIFACTS,
    });
    expect(sizing.stepArgs.slice(-2)).toEqual(['--sites', 'all']);
  });
});

describe('step timeout', () => {
  it.each([
    [1, 60, 20 * 60],
    [10, 60, 30 * 60],
    [29, 60, 60 * 60],
    [100, 60, 150 * 60],
    [300, 720, 660 * 60],
  ])('predicted %d min, SLA %d min -> %d s', (predicted, sla, expected) => {
    expect(stepTimeoutSeconds(predicted, sla)).toBe(expected);
  });

  it('keeps at least one executor on the smallest cluster', () => {
    expect(sparkConf(1, 10).executorInstances).toBe(1);
  });
});
