import fc from 'fast-check';
import {
  billedUtilization,
  sparkSubmitParameters,
  WORKER_MEMORY_GB,
  WORKER_VCPUS,
  workersForUnits,
  workersFromSparkParameters,
  workerSizeProblem,
} from '../../../lib/domain/serverlessWorkers';

const UNIT = { vcpu: 4, memoryGb: 32 };

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

  it('maps sizing units to valid workers: one unit a worker, cut to a valid size, one unit the driver', () => {
    expect(workersForUnits(4, UNIT)).toEqual({ driver: { vcpu: 4, memoryGb: 30, diskGb: 20 }, executor: { vcpu: 4, memoryGb: 30, diskGb: 20 }, executors: 3 });
    expect(workersForUnits(1, UNIT).executors).toBe(1);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 400 }), fc.constantFrom(...WORKER_VCPUS, 3, 6, 32), fc.integer({ min: 1, max: 256 }), (units, vcpu, memoryGb) => {
        const workers = workersForUnits(units, { vcpu, memoryGb });
        expect(workerSizeProblem(workers.executor)).toBeNull();
        expect(workerSizeProblem(workers.driver)).toBeNull();
        expect(workers.executors).toBeGreaterThanOrEqual(1);
      }),
    );
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
