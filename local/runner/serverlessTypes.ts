/**
 * serverless.yml as `serverless print` gives it (Serverless variables resolved, CloudFormation intrinsics left):
 * the parts the local runtime reads. Values that may still hold intrinsics (`Ref`, `Fn::GetAtt`, …) are
 * `unknown` until `ServerlessConfig.resolve` evaluates them.
 */
import type { AslMachine } from '../asl/types';

export interface CloudFormationResource {
  Type: string;
  Properties?: Record<string, unknown>;
  [field: string]: unknown;
}

/** A `schedule:` event: a rate or cron expression, or its long form. */
export interface ServerlessSchedule {
  rate?: string | string[];
  enabled?: boolean;
  name?: string;
  input?: unknown;
  [field: string]: unknown;
}

/** One entry of a function's or state machine's `events:` (schedule, eventBridge, …), intrinsics unresolved. */
export interface ServerlessEvent {
  schedule?: string | ServerlessSchedule;
  /** A function's rule names its `pattern`, a state machine's (serverless-step-functions) its `event`. */
  eventBridge?: { pattern?: unknown; event?: unknown; [field: string]: unknown };
  [field: string]: unknown;
}

export interface ServerlessFunction {
  handler: string;
  name?: string;
  timeout?: number;
  memorySize?: number;
  environment?: Record<string, unknown>;
  events?: ServerlessEvent[];
  [field: string]: unknown;
}

export interface ServerlessStateMachine {
  name?: string;
  /** The logical id serverless-step-functions gives it, when not the default. */
  id?: string;
  role?: unknown;
  definition: AslMachine;
  events?: ServerlessEvent[];
  [field: string]: unknown;
}

export interface ServerlessService {
  service: string | { name: string };
  provider?: { region?: string; timeout?: number; memorySize?: number; environment?: Record<string, unknown>; [field: string]: unknown };
  functions?: Record<string, ServerlessFunction>;
  stepFunctions?: { stateMachines?: Record<string, ServerlessStateMachine>; [field: string]: unknown };
  resources?: { Resources?: Record<string, CloudFormationResource>; Parameters?: Record<string, { Default?: unknown }>; [field: string]: unknown };
  [field: string]: unknown;
}
