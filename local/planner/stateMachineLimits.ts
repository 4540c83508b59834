/**
 * The limits the planner models, read from the files that deploy them instead of copied into constants:
 * run-job's timeouts, heartbeats and throttling retries (statemachines/run-job.asl.yml) and the job manager's
 * schedules (serverless.yml). Changing either file changes the simulation; a missing state or field is an
 * error that names it, never a silent default.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { EmrThrottledError } from '../../lib/errors';
import type { AslState } from '../asl/types';
import { parseCloudFormationYaml, type CloudFormationYaml } from '../runner/serverless-config';

const REPO_ROOT = resolve(__dirname, '..', '..');
export const DEFAULT_ASL_PATH = resolve(REPO_ROOT, 'statemachines', 'run-job.asl.yml');
export const DEFAULT_SERVERLESS_PATH = resolve(REPO_ROOT, 'serverless.yml');

/** One Retry entry as Step Functions applies it (delay n = min(interval × rate^(n-1), maxDelay), jittered). */
export interface RetryPolicy {
  errorEquals: string[];
  intervalSeconds: number;
  maxAttempts: number;
  backoffRate: number;
  maxDelaySeconds?: number;
  jitter: 'FULL' | 'NONE';
}

/** CreateClusterRejected's loop: `maxRetries` throttled RunJobFlow calls are tried again, then the attempt fails. */
export interface CreateClusterThrottleLoop {
  maxRetries: number;
  /** FirstCreateThrottle's wait, States.MathRandom(min, max). */
  firstWaitSeconds: { min: number; max: number };
  /** NextCreateThrottle adds States.MathRandom(min, max) to the previous wait. */
  addedWaitSeconds: { min: number; max: number };
  /** The error the loop gives up with (CreateCluster's Catch into CreateClusterRejected). */
  errorName: string;
}

export interface StateMachineLimits {
  acquireCapacity: { timeoutSeconds: number; heartbeatSeconds: number };
  runPooledStep: { heartbeatSeconds: number; throttleRetry: RetryPolicy };
  /** RunServerlessJob's Retry on a throttled StartJobRun (EMRServerless.ThrottlingException). */
  runServerlessJob: { throttleRetry: RetryPolicy };
  createClusterThrottle: CreateClusterThrottleLoop;
  /** dispatch-queue's and settle-steps' `rate(...)` schedules, in seconds. */
  dispatchSweepSeconds: number;
  settleStepsSeconds: number;
}

export class StateMachineLimitsError extends Error {
  constructor(file: string, where: string, problem: string) {
    super(`${file}: ${where}: ${problem}`);
    this.name = 'Planner.StateMachineLimits';
  }
}

/** Reads the limits from run-job's definition and serverless.yml (defaults: the repository's own files). */
export function loadStateMachineLimits(paths: { asl?: string; serverless?: string } = {}): StateMachineLimits {
  const aslPath = paths.asl ?? DEFAULT_ASL_PATH;
  const serverlessPath = paths.serverless ?? DEFAULT_SERVERLESS_PATH;
  const asl = parseCloudFormationYaml(readFileSync(aslPath, 'utf8'));
  const serverless = parseCloudFormationYaml(readFileSync(serverlessPath, 'utf8'));
  const states: Record<string, AslState> = asl?.States ?? {};
  const state = (name: string): AslState => {
    const found = states[name];
    if (found === undefined) throw new StateMachineLimitsError(aslPath, `state ${name}`, 'missing (the planner models its limits; rename it here too)');
    return found;
  };
  const seconds = (name: string, field: string) => {
    const value = state(name)[field];
    if (typeof value !== 'number' || !(value > 0))
      throw new StateMachineLimitsError(aslPath, `${name}.${field}`, `expected a positive number of seconds, found ${JSON.stringify(value)}`);
    return value;
  };

  const acquire = { timeoutSeconds: seconds('AcquireCapacity', 'TimeoutSeconds'), heartbeatSeconds: seconds('AcquireCapacity', 'HeartbeatSeconds') };
  const runPooledStep = {
    heartbeatSeconds: seconds('RunPooledStep', 'HeartbeatSeconds'),
    throttleRetry: emrRetry(aslPath, 'RunPooledStep', state('RunPooledStep')),
  };
  return {
    acquireCapacity: acquire,
    runPooledStep,
    runServerlessJob: { throttleRetry: serverlessRetry(aslPath, state('RunServerlessJob')) },
    createClusterThrottle: createClusterLoop(aslPath, state),
    dispatchSweepSeconds: scheduleSeconds(serverlessPath, serverless, 'dispatchQueue'),
    settleStepsSeconds: scheduleSeconds(serverlessPath, serverless, 'settleSteps'),
  };
}

/** The Retry whose ErrorEquals names EMR's throttling error (Emr.Throttled): AddJobFlowSteps throttled. */
function emrRetry(file: string, name: string, state: { Retry?: unknown }): RetryPolicy {
  return retryFor(file, name, state, EmrThrottledError.errorName, 'the throttled AddJobFlowSteps retry');
}

/** RunServerlessJob's Retry whose ErrorEquals names EMR Serverless's throttling error: StartJobRun throttled. */
function serverlessRetry(file: string, state: { Retry?: unknown }): RetryPolicy {
  return retryFor(file, 'RunServerlessJob', state, SERVERLESS_THROTTLED, 'the throttled StartJobRun retry');
}

/** One Retry entry of an ASL state, as the YAML spells it. */
interface AslRetrier {
  ErrorEquals?: unknown;
  IntervalSeconds?: number;
  MaxAttempts?: number;
  BackoffRate?: number;
  MaxDelaySeconds?: number;
  JitterStrategy?: string;
}

/** The state's Retry entry whose ErrorEquals names `errorName`, as a RetryPolicy (Step Functions' defaults for absent fields). */
function retryFor(file: string, name: string, state: { Retry?: unknown }, errorName: string, what: string): RetryPolicy {
  const retriers = (Array.isArray(state.Retry) ? state.Retry : []) as AslRetrier[];
  const retrier = retriers.find((entry) => Array.isArray(entry?.ErrorEquals) && entry.ErrorEquals.includes(errorName));
  if (!retrier || !Array.isArray(retrier.ErrorEquals))
    throw new StateMachineLimitsError(file, `${name}.Retry`, `no retrier with ${errorName} in ErrorEquals (${what})`);
  const policy: RetryPolicy = {
    errorEquals: retrier.ErrorEquals.map(String),
    // Step Functions' defaults when a field is absent (Retry docs: IntervalSeconds 1, MaxAttempts 3, BackoffRate 2).
    intervalSeconds: retrier.IntervalSeconds ?? 1,
    maxAttempts: retrier.MaxAttempts ?? 3,
    backoffRate: retrier.BackoffRate ?? 2,
    jitter: retrier.JitterStrategy === 'FULL' ? 'FULL' : 'NONE',
  };
  if (retrier.MaxDelaySeconds !== undefined) policy.maxDelaySeconds = retrier.MaxDelaySeconds;
  return policy;
}

/** The error the emr-serverless:startJobRun integration raises for a throttled StartJobRun. */
export const SERVERLESS_THROTTLED = 'EMRServerless.ThrottlingException';

/** Delays before each retry (no jitter: the longest each can be); their sum is how long a throttled call can wait. */
export function retryDelays(policy: RetryPolicy): number[] {
  return Array.from({ length: policy.maxAttempts }, (_, index) => {
    const delay = policy.intervalSeconds * policy.backoffRate ** index;
    return policy.maxDelaySeconds === undefined ? delay : Math.min(delay, policy.maxDelaySeconds);
  });
}

/** A Choice rule as CreateClusterRejected spells its cap: `NumericLessThan` on the throttle count. */
interface ThrottleCapRule {
  Variable: '$.placement.throttled.count';
  NumericLessThan: number;
}

function isThrottleCap(choice: unknown): choice is ThrottleCapRule {
  if (typeof choice !== 'object' || choice === null) return false;
  const rule = choice as Record<string, unknown>;
  return rule.Variable === '$.placement.throttled.count' && typeof rule.NumericLessThan === 'number';
}

function createClusterLoop(file: string, state: (name: string) => AslState): CreateClusterThrottleLoop {
  const rejected = state('CreateClusterRejected');
  const cap = (Array.isArray(rejected.Choices) ? rejected.Choices : []).find(isThrottleCap);
  if (!cap)
    throw new StateMachineLimitsError(file, 'CreateClusterRejected.Choices', 'no NumericLessThan on $.placement.throttled.count (the throttling loop cap)');
  const first = mathRandom(file, 'FirstCreateThrottle', state('FirstCreateThrottle').Parameters?.['waitSeconds.$']);
  const next = mathRandom(file, 'NextCreateThrottle', state('NextCreateThrottle').Parameters?.['waitSeconds.$']);
  const wait = state('WaitToCreateCluster');
  if (wait.Type !== 'Wait' || wait.Next !== 'CreateCluster')
    throw new StateMachineLimitsError(file, 'WaitToCreateCluster', 'expected a Wait state whose Next is CreateCluster');
  const catcher = (state('CreateCluster').Catch ?? []).find((entry) => entry?.Next === 'CreateClusterRejected');
  if (!catcher) throw new StateMachineLimitsError(file, 'CreateCluster.Catch', 'no Catch leads to CreateClusterRejected');
  // The count is 1 after the first throttle and rises by one per retry while it is below the cap.
  return { maxRetries: cap.NumericLessThan, firstWaitSeconds: first, addedWaitSeconds: next, errorName: catcher.ErrorEquals[0] };
}

function mathRandom(file: string, name: string, expression: unknown): { min: number; max: number } {
  const match = typeof expression === 'string' ? /States\.MathRandom\((\d+),\s*(\d+)\)/.exec(expression) : null;
  if (!match)
    throw new StateMachineLimitsError(file, `${name}.Parameters.waitSeconds.$`, `expected States.MathRandom(min, max), found ${JSON.stringify(expression)}`);
  return { min: Number(match[1]), max: Number(match[2]) };
}

const RATE_UNITS: Record<string, number> = { minute: 60, minutes: 60, hour: 3600, hours: 3600, day: 86400, days: 86400 };

/** The period of a function's `rate(n unit)` schedule event (either `- schedule: rate(...)` or `rate: rate(...)`). */
function scheduleSeconds(file: string, serverless: CloudFormationYaml, functionKey: string): number {
  const fn = serverless?.functions?.[functionKey];
  if (!fn) throw new StateMachineLimitsError(file, `functions.${functionKey}`, 'missing (the planner models its schedule)');
  for (const event of fn.events ?? []) {
    const schedule = event?.schedule;
    const rate = typeof schedule === 'string' ? schedule : schedule?.rate;
    const match = typeof rate === 'string' ? /^rate\((\d+)\s+(\w+)\)$/.exec(rate) : null;
    if (match && RATE_UNITS[match[2]] !== undefined) return Number(match[1]) * RATE_UNITS[match[2]];
  }
  throw new StateMachineLimitsError(file, `functions.${functionKey}.events`, 'no schedule with a rate(n minutes|hours|days) expression');
}
