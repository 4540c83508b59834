/**
 * The time scale at which the AWS CLI's EMR waiters behave against the emulator.
 *
 * `aws emr wait cluster-running | step-complete | cluster-terminated` poll every 30 s (botocore's
 * data/emr/2009-03-31/waiters-2.json: ClusterRunning, StepComplete and ClusterTerminated all have delay 30).
 * Ended states last, so only `cluster-running` can miss what it waits for: on a cluster that terminates
 * after its steps, RUNNING/WAITING last only while the steps run, at least a simulated step's base
 * duration. A span twice the poll interval is always seen by a poll, whatever its phase.
 */
import { DURATIONS } from './model';

export const CLI_WAITER_DELAY_SECONDS = 30;

/** 2 × 30 s / 120 s = 0.5: a 7-minute bootstrap takes 3.5 minutes, the shortest RUNNING span 60 s. */
export const CLI_WAITER_TIME_SCALE = (2 * CLI_WAITER_DELAY_SECONDS) / DURATIONS.simulatedStepBaseSeconds;
