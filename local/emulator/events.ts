/** What the emulator reports to its `logger` option: every state change, for the runner's timeline. */
export interface EmulatorEvent {
  /** Epoch milliseconds. */
  at: number;
  resource: 'cluster' | 'step' | 'crawler' | 'application' | 'jobRun' | 'note';
  /** Cluster id, step id, crawler name, EMR Serverless application or job run id; empty for notes. */
  id: string;
  /** The new state (EMR/Glue spelling), or "NOTE". */
  state: string;
  /** StateChangeReason / failure message / note text. */
  message?: string;
  /** For steps: their cluster. */
  clusterId?: string;
  /** For steps and job runs: who runs them. */
  executor?: StepExecutor;
  /** For EMR Serverless job runs: their application. */
  applicationId?: string;
  /** For EMR Serverless job runs: the detail of the "EMR Serverless Job Run State Change" event. */
  detail?: Record<string, unknown>;
}

export type StepExecutor = 'spark' | 'simulated';
export type EmitEvent = (event: Omit<EmulatorEvent, 'at'>) => void;
