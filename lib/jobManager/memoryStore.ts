/**
 * The job store in memory: the capacity planner's registry (under its virtual clock) and the fast property
 * tests'. Each operation checks the same premise as its DynamoDB write in lib/aws/registry.ts and applies it
 * whole or not at all. Reads give snapshots that never change under the reader, as DynamoDB's do: a cluster
 * item is frozen and every write replaces it with a new one (copy on write, so a dispatch reading a pool's
 * clusters copies nothing), queue entries and step tokens are copied out. A caller deciding on a stale
 * snapshot is refused by the write, never corrupts the store. The contract test runs the same cases against both.
 *
 * Its parts: clusters, leases and launches (memoryClusters.ts), the admission queue (memoryQueue.ts), and the
 * step tokens (here).
 */
import type { Settlement } from '../domain/stepCompletion';
import type { JobManagerPorts } from './jobManager';
import { MemoryRegistryStore } from './memoryQueue';
import type { JobStore, StepTokenItem } from './store';

export class MemoryJobStore extends MemoryRegistryStore implements JobStore {
  private readonly steps = new Map<string, Map<string, StepTokenItem>>();

  // ------------------------------------------------------------ step tokens

  private clusterSteps(clusterId: string): Map<string, StepTokenItem> {
    let steps = this.steps.get(clusterId);
    if (!steps) {
      steps = new Map();
      this.steps.set(clusterId, steps);
    }
    return steps;
  }

  async mapStep(item: StepTokenItem): Promise<void> {
    this.clusterSteps(item.clusterId).set(item.stepId, { ...item });
  }

  async getStep(clusterId: string, stepId: string): Promise<StepTokenItem | null> {
    const item = this.clusterSteps(clusterId).get(stepId);
    return item ? { ...item } : null;
  }

  async attachToken(clusterId: string, stepId: string, taskToken: string): Promise<StepTokenItem | null> {
    const item = this.clusterSteps(clusterId).get(stepId);
    if (!item) return null;
    item.taskToken = taskToken;
    return { ...item };
  }

  async takeStep(clusterId: string, stepId: string, takenAt: number, staleBefore: number): Promise<StepTokenItem | null> {
    const item = this.clusterSteps(clusterId).get(stepId);
    if (!item || (item.takenAt !== undefined && item.takenAt > staleBefore)) return null;
    item.takenAt = takenAt;
    return { ...item };
  }

  async restoreStep(item: StepTokenItem): Promise<boolean> {
    const mapped = this.clusterSteps(item.clusterId).get(item.stepId);
    if (!mapped || mapped.takenAt === undefined || mapped.takenAt !== item.takenAt) return false;
    delete mapped.takenAt;
    return true;
  }

  async holdStep(item: StepTokenItem, settlement: Settlement, heldAt: number): Promise<boolean> {
    const mapped = this.clusterSteps(item.clusterId).get(item.stepId);
    if (!mapped || mapped.takenAt === undefined || mapped.takenAt !== item.takenAt || mapped.taskToken !== undefined) return false;
    mapped.held = settlement;
    mapped.heldAt = heldAt;
    delete mapped.takenAt;
    return true;
  }

  async noteStepStarted(clusterId: string, stepId: string, at: string): Promise<boolean> {
    const item = this.clusterSteps(clusterId).get(stepId);
    if (!item) return false;
    item.startedAt = at;
    return true;
  }

  async mappedSteps(clusterId: string): Promise<StepTokenItem[]> {
    return [...this.clusterSteps(clusterId).values()].map((item) => ({ ...item }));
  }

  async liveSteps(clusterId: string, execution: string): Promise<string[]> {
    return [...this.clusterSteps(clusterId).values()]
      .filter((item) => item.execution === execution && item.takenAt === undefined && item.held === undefined)
      .map((item) => item.stepId);
  }

  async allMappedSteps(): Promise<StepTokenItem[]> {
    const all: StepTokenItem[] = [];
    for (const steps of this.steps.values()) for (const item of steps.values()) all.push({ ...item });
    return all;
  }

  async dropStep(clusterId: string, stepId: string): Promise<void> {
    this.clusterSteps(clusterId).delete(stepId);
  }
}

/** Both halves of the store, for JobManagerPorts. */
export function memoryStores(store: JobStore = new MemoryJobStore()): Pick<JobManagerPorts, 'registry' | 'stepTokens'> {
  return { registry: store, stepTokens: store };
}
