/**
 * The parts of Amazon States Language the local runtime reads or rewrites (statemachines/*.asl.yml, after
 * serverless.yml's references are resolved). Fields it passes through untouched stay `unknown`.
 */

/** A JSON object as parsed from YAML or JSON: Parameters, ResultSelector, ItemReader, … */
export type JsonObject = Record<string, unknown>;

export interface AslRetrier {
  ErrorEquals: string[];
  IntervalSeconds?: number;
  MaxAttempts?: number;
  BackoffRate?: number;
  MaxDelaySeconds?: number;
  JitterStrategy?: string;
}

export interface AslCatcher {
  ErrorEquals: string[];
  Next: string;
  ResultPath?: string | null;
}

export interface AslState {
  Type: string;
  Comment?: string;
  Next?: string;
  End?: boolean;
  Resource?: string;
  Parameters?: JsonObject;
  ResultPath?: string | null;
  ResultSelector?: JsonObject;
  TimeoutSeconds?: number;
  TimeoutSecondsPath?: string;
  HeartbeatSeconds?: number;
  HeartbeatSecondsPath?: string;
  Retry?: AslRetrier[];
  Catch?: AslCatcher[];
  /** Wait */
  Seconds?: number;
  SecondsPath?: string;
  Timestamp?: string;
  TimestampPath?: string;
  /** Map (a Distributed Map has an ItemReader) */
  ItemProcessor?: AslMachine & { ProcessorConfig?: JsonObject };
  Iterator?: AslMachine;
  ItemReader?: JsonObject;
  ItemSelector?: JsonObject;
  ItemBatcher?: JsonObject;
  ResultWriter?: JsonObject;
  Label?: string;
  MaxConcurrency?: number;
  MaxConcurrencyPath?: string;
  ToleratedFailurePercentage?: number;
  ToleratedFailurePercentagePath?: string;
  ToleratedFailureCount?: number;
  ToleratedFailureCountPath?: string;
  /** Parallel */
  Branches?: AslMachine[];
  /** Fields the runtime passes through as they are (Choices, InputPath, Error, …). */
  [field: string]: unknown;
}

/** A state machine definition, or a Map's ItemProcessor, or a Parallel branch. */
export interface AslMachine {
  StartAt: string;
  States: Record<string, AslState>;
  Comment?: string;
  TimeoutSeconds?: number;
  [field: string]: unknown;
}
