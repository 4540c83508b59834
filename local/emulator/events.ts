/** What the emulator reports to its `logger` option: every state change, for the runner's timeline. */
export interface EmulatorEvent {
  /** Epoch milliseconds. */
  at: number;
  resource: 'cluster' | 'step' | 'crawler' | 'note';
  /** Cluster id, step id or crawler name; empty for notes. */
  id: string;
  /** The new state (EMR/Glue spelling), or "NOTE". */
  state: string;
  /** StateChangeReason / failure message / note text. */
  message?: string;
  /** For steps: their cluster. */
  clusterId?: string;
  /** For steps: who runs them. */
  executor?: StepExecutor;
}

export type StepExecutor = 'spark' | 'simulated';
export type EmitEvent = (event: Omit<EmulatorEvent, 'at'>) => void;
