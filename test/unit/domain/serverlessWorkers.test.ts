import fc from 'fast-check';
import {
  billedUtilization,
  sparkSubmitParameters,
  WORKER_MEMORY_GB,
  WORKER_VCPUS,
  workerForExecutor,
  workersForSpark,
  workersFromSparkParameters,
  workerSizeProblem,
} from '../../../lib/domain/serverlessWorkers';
import { sparkConf } from '../../../lib/domain/sizing';

describe('EMR Serverless worker sizes', () => {
  it('accepts exactly the documented sizes: 1/2/4/8/16 vCPU with their memory ranges and steps', () => {
    expect(workerSizeProblem({ vcpu: 4, memoryGb: 30 })).toBeNull();
    expect(workerSizeProblem({ vcpu: 8, memoryGb: 20 })).toBeNull();
    expect(workerSizeProblem({ vcpu: 16, memoryGb: 120, diskGb: 200 })).toBeNull();
    // Negative controls: one past each bound, off-step, a size that does not exist, too much disk.
    expect(workerSizeProblem({ vcpu: 4, memoryGb: 31 })).toMatch(/8–30 GB/);
    expect(workerSizeProblem({ vcpu: 8, memoryGb: 18 })).toMatch(/4 GB steps/);
    expect(workerSizeProblem({ vcpu: 1, memoryGb: 1 })).toMatch(/2–8 GB/);
    expect(workerSizeProblem({ vcpu: 3, memoryGb: 8 })).toMatch(/not a worker size/);
    expect(workerSizeProblem({ vcpu: 2, memoryGb: 8, diskGb: 201 })).toMatch(/disk/);
  });

  it("sizes workers from the job's executor: its cores, its heap + Spark's overhead, the smallest valid memory", () => {
    // DEFAULT_SIZING's executor: 4 cores, 22 GiB heap (+2.2 GiB overhead) → 4 vCPU / 25 GB, not a whole unit's 4 vCPU / 30 GB.
    expect(workersForSpark({ executorCores: 4, executorMemoryGiB: 22, executorInstances: 1 })).toEqual({
      driver: { vcpu: 4, memoryGb: 25, diskGb: 20 },
      executor: { vcpu: 4, memoryGb: 25, diskGb: 20 },
      executors: 1,
    });
    // A heap that does not fit the 4 vCPU range (30 GB) takes the next size; 8 vCPU memory comes in 4 GB steps.
    expect(workerForExecutor({ executorCores: 4, executorMemoryGiB: 28 })).toEqual({ vcpu: 8, memoryGb: 32, diskGb: 20 });
    expect(workerForExecutor({ executorCores: 1, executorMemoryGiB: 1 })).toEqual({ vcpu: 1, memoryGb: 2, diskGb: 20 });
    expect(() => workerForExecutor({ executorCores: 32, executorMemoryGiB: 8 })).toThrow(/no EMR Serverless worker/);
    expect(() => workerForExecutor({ executorCores: 16, executorMemoryGiB: 110 })).toThrow(/largest is 16 vCPU \/ 120 GB/);
  });

  /** The mapping's contract, as a property over executors of 1–16 cores, up to 108 GiB of heap and any disk. */
  const withinDocumentedRanges = (mapping: typeof workersForSpark) =>
    fc.property(
      fc.constantFrom(1, 2, 3, 4, 5, 8, 12, 16),
      fc.double({ min: 0.5, max: 108, noNaN: true }),
      fc.integer({ min: 0, max: 500 }),
      fc.integer({ min: 20, max: 200 }),
      (executorCores, executorMemoryGiB, executorInstances, diskGb) => {
        const workers = mapping({ executorCores, executorMemoryGiB, executorInstances }, { diskGb });
        for (const worker of [workers.driver, workers.executor]) {
          expect(workerSizeProblem(worker)).toBeNull();
          expect(worker.vcpu).toBeGreaterThanOrEqual(executorCores);
          // The worker holds the executor's heap and Spark's overhead (10%, at least 384 MiB).
          expect(worker.memoryGb * 1024).toBeGreaterThanOrEqual(executorMemoryGiB * 1024 + Math.max(384, executorMemoryGiB * 102.4) - 1e-6);
        }
        expect(workersFromSparkParameters(sparkSubmitParameters(workers))).toEqual(workers);
        expect(workers.executors).toBe(Math.max(1, executorInstances));
      },
    );

  it('never asks for a worker outside the documented ranges, and always has room for the executor (property)', () => {
    fc.assert(withinDocumentedRanges(workersForSpark));
  });

  it('negative control: the property fails for a mapping that gives every job a whole sizing unit (4 vCPU / 32 GB)', () => {
    const wholeUnit: typeof workersForSpark = (spark, options) => {
      const worker = { vcpu: 4 as const, memoryGb: 32, diskGb: options?.diskGb ?? 20 };
      return { driver: worker, executor: worker, executors: Math.max(1, spark.executorInstances) };
    };
    expect(() => fc.assert(withinDocumentedRanges(wholeUnit))).toThrow(/Property failed/);
  });

  it('writes Spark settings that EMR Serverless reads back as the same workers', () => {
    fc.assert(
      fc.property(fc.constantFrom(...WORKER_VCPUS), fc.nat(200), fc.integer({ min: 1, max: 500 }), (vcpu, pick, executors) => {
        const { min, max, step } = WORKER_MEMORY_GB[vcpu];
        const memoryGb = min + (pick % (Math.floor((max - min) / step) + 1)) * step;
        const workers = { driver: { vcpu, memoryGb, diskGb: 20 }, executor: { vcpu, memoryGb, diskGb: 40 }, executors };
        expect(workersFromSparkParameters(sparkSubmitParameters(workers))).toEqual(workers);
      }),
    );
  });

  it("gives a one-unit job's small driver a worker of its own, and asks StartJobRun for it", () => {
    const oneUnit = sparkConf(1, 30);
    const workers = workersForSpark(oneUnit);

    expect(workers).toEqual({ driver: { vcpu: 1, memoryGb: 3, diskGb: 20 }, executor: { vcpu: 4, memoryGb: 22, diskGb: 20 }, executors: 1 });
    expect(workersFromSparkParameters(sparkSubmitParameters(workers))).toEqual(workers);
    // Negative control: a bigger job's driver is an executor's size, as before.
    const twoUnits = workersForSpark(sparkConf(2, 30));
    expect(twoUnits.driver).toEqual(twoUnits.executor);
  });

  it('reads EMR Serverless defaults when the job sets nothing: 4 vCPU / 16 GB driver and 3 executors', () => {
    expect(workersFromSparkParameters(undefined)).toEqual({
      driver: { vcpu: 4, memoryGb: 16, diskGb: 20 },
      executor: { vcpu: 4, memoryGb: 16, diskGb: 20 },
      executors: 3,
    });
  });

  it('bills each worker for at least a minute, and disk beyond the free 20 GB', () => {
    const workers = { driver: { vcpu: 4 as const, memoryGb: 16, diskGb: 20 }, executor: { vcpu: 4 as const, memoryGb: 16, diskGb: 50 }, executors: 2 };
    expect(billedUtilization(workers, 3600)).toEqual({ vCPUHour: 12, memoryGBHour: 48, storageGBHour: 60 });
    expect(billedUtilization(workers, 10)).toEqual(billedUtilization(workers, 60));
  });
});
