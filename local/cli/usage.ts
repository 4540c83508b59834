/** The usage text `emrflow help` prints, and every usage error after its message. */
import { DEFAULT_TIME_SCALE } from '../runner';
import { CLI_WAITER_TIME_SCALE } from '../emulator/emr/waiters';
import { SIMULATE_COMMAND_USAGE, SIMULATE_USAGE } from './simulate';

export const USAGE = `emrflow — run emrflow's state machines on the local runtime (EMR/Glue/S3 emulator + DynamoDB), no AWS needed

Usage:
  emrflow run <input.json> [options]           run a state machine on an input (S3 event, schedule or console shape)
  emrflow upload <file> s3://<bucket>/<key> [options]
                                                put a file into local S3 and fire the S3 trigger (EventBridge
                                                "Object Created"), which starts run-job when its rule matches
  emrflow demo [--events N] [--date D] [options]
                                                generate sample events for day D (default today), upload them,
                                                run run-job (what npm start does)
  emrflow emulator [--port N] [options]        start the emulator alone and print the environment for the AWS CLI
                                                (default time scale ${CLI_WAITER_TIME_SCALE}, at which \`aws emr wait\` sees every state)
  emrflow reap [--dry-run] [options]           run the reaper (reap-clusters) on the state: terminate this app's
                                                clusters no running execution owns; --dry-run lists what it
                                                would do and why (use with --state-dir)
  emrflow pools [--json] [--state-dir <dir>]   each pool's clusters (state, units used / capacity, leases) and its
                                                queue (depth by priority, oldest wait), from the registry in <dir>
  emrflow batch <manifest.jsonl> [--concurrency n] [options]
                                                run run-batch on a manifest (JSON lines of console inputs) with a
                                                live view, then its summary (items, succeeded, failed, duplicates)
${SIMULATE_COMMAND_USAGE}
  emrflow help

Options:
  --faults <file>        inject faults (JSON, see README "Fault injection")
  --time-scale <x>       paces the virtual clock: at least x real seconds per emulated second (default ${DEFAULT_TIME_SCALE}: a 7-minute bootstrap takes 4.2 s; 0: no pacing)
  --state-dir <dir>      keep S3, DynamoDB and clusters in <dir> and reuse them (default: a fresh temporary directory)
  --machine <name>       statemachines/<name>.asl.yml to run (default run-job)
  --simulate-steps       simulate Spark steps even when .venv has pyspark
  --abort-after <state>  stop the execution (ABORTED) once it has entered <state>, e.g. RunSparkStep; the
                         execution's end goes to cleanup-execution as on AWS (run, upload, demo)
  --execution-timeout <s>  the execution's TimeoutSeconds (real seconds) instead of the definition's
  --json                 print exactly one JSON summary object on stdout (run, upload, demo, pools, batch, simulate, reap)
  --port <n>             emulator port (emulator; default: a free port)
  --concurrency <n>      batch: run-job executions open at once (default config/batch.json maxConcurrency)
${SIMULATE_USAGE}
  --verbose              show the Lambdas' logs

Exit status: 0 the execution succeeded, 1 it failed or timed out, 2 bad usage or input.`;
