#!/usr/bin/env python3
"""npm run bench:startup — the fixed start of a Spark run, measured: what sizing's SPARK_STARTUP_SECONDS stands for.

Runs the venv's spark-submit (--master local[2], UI off) several times on two applications, alternating so that a
change in the machine's load weighs on both: the project's real job (spark/denormalize.py on a tiny generated
input, as bench/spark-bench.py and the local runtime run it) and a trivial app (a SparkSession and a one-task
count). Each run writes a Spark event log; the bench reads the application's own timestamps from it (the same
wall clock as the launch) and prints one JSON object with p50 / p95 of, from the spark-submit process start:

    contextSeconds        SparkContext up: the driver's block manager registered (the end of SparkContext's set-up)
    firstExecutorSeconds  the first executor registered (local mode: the driver's own executor)
    firstTaskSeconds      the first task launched on an executor
    totalSeconds          the whole run, spark-submit's exit included

and what the machine is (cores, memory, load average before and after, Python, Spark and Java versions), and
`derived`: the planner's start figures those p95s give once cluster deploy mode's documented heartbeats are added
(SPARK_STARTUP_SECONDS, SPARK_FIRST_EXECUTOR_SECONDS, SERVERLESS_SPARK_STARTUP_SECONDS).
Percentiles are nearest-rank over the runs (with 5 runs, p95 is the slowest). Standard library only; Linux.

Local mode starts one JVM; an EMR step in cluster deploy mode starts three in series (spark-submit's client,
the YARN application master that runs the driver, then an executor container): lib/domain/sizing.ts turns these
figures and EMR's documented ones into SPARK_STARTUP_SECONDS.

    python3 bench/startup-bench.py [--runs N] [--events N] [--keep DIR]
    spark-submit bench/startup-bench.py --trivial      (the trivial app, what the bench runs)
"""

import argparse
import glob
import json
import os
import platform
import shutil
import subprocess
import sys
import time

from bench_env import ROOT, VENV_BIN, spark_work_folder

RUN_DATE = '2026-11-27'


def trivial():
    """The smallest Spark application that runs a task: a session, one partition counted, stop."""
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.appName('startup-bench trivial').getOrCreate()
    try:
        spark.sparkContext.parallelize([1], 1).count()
    finally:
        spark.stop()


def event_times(log_dir):
    """Epoch seconds of the application's milestones, from its Spark event log (one application per directory)."""
    logs = [path for path in glob.glob(os.path.join(log_dir, '*')) if os.path.isfile(path)]
    if len(logs) != 1:
        raise SystemExit(f'startup-bench: expected one Spark event log in {log_dir}, found {len(logs)}')
    context = executor = task = None
    with open(logs[0]) as handle:
        for line in handle:
            event = json.loads(line)
            kind = event.get('Event')
            if (
                kind == 'SparkListenerBlockManagerAdded'
                and event.get('Block Manager ID', {}).get('Executor ID') == 'driver'
            ):
                context = context or event['Timestamp'] / 1000
            elif kind == 'SparkListenerExecutorAdded':
                executor = min(executor or float('inf'), event['Timestamp'] / 1000)
            elif kind == 'SparkListenerTaskStart':
                task = min(task or float('inf'), event['Task Info']['Launch Time'] / 1000)
    if context is None or executor is None or task is None:
        raise SystemExit(f'startup-bench: the event log {logs[0]} lacks the block manager, executor or task events')
    return context, executor, task


def run_once(app, command, env, work, index):
    """One spark-submit of `command`; returns the milestones in seconds from the process start."""
    log_dir = os.path.join(work, f'events-{app}-{index}')
    os.makedirs(log_dir)
    submit = [
        os.path.join(VENV_BIN, 'spark-submit'),
        '--master',
        'local[2]',
        '--conf',
        'spark.ui.enabled=false',
        '--conf',
        'spark.eventLog.enabled=true',
        '--conf',
        f'spark.eventLog.dir=file://{log_dir}',
        *command,
    ]
    output = os.path.join(work, f'spark-submit-{app}-{index}.log')
    with open(output, 'w') as log:
        started = time.time()
        code = subprocess.call(submit, env=env, stdout=log, stderr=subprocess.STDOUT)
        ended = time.time()
    if code != 0:
        with open(output) as log:
            sys.stderr.write(log.read()[-4000:])
        raise SystemExit(f'startup-bench: spark-submit of the {app} app failed with exit code {code}')
    context, executor, task = event_times(log_dir)
    return {
        'contextSeconds': context - started,
        'firstExecutorSeconds': executor - started,
        'firstTaskSeconds': task - started,
        'totalSeconds': ended - started,
    }


def percentile(values, share):
    """Nearest rank: the smallest value with at least `share` of the values at or below it."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * share // 1))
    return ordered[int(rank) - 1]


def summary(runs):
    return {
        name: {
            'p50': round(percentile([run[name] for run in runs], 0.5), 2),
            'p95': round(percentile([run[name] for run in runs], 0.95), 2),
            'runs': [round(run[name], 2) for run in runs],
        }
        for name in ('contextSeconds', 'firstExecutorSeconds', 'firstTaskSeconds', 'totalSeconds')
    }


# What cluster deploy mode on EMR adds to the local runs, in seconds, each from where it is documented or assumed:
# a container allocation waits for a NodeManager heartbeat (Hadoop's yarn-default.xml,
# yarn.resourcemanager.nodemanagers.heartbeat-interval-ms = 1000); the application master polls for executors every
# 200 ms, doubling up to spark.yarn.scheduler.heartbeat.interval-ms = 3s (Spark 3.5's YARN config); container
# localization (~1 s) and S3 listing and commit in place of the local disk (~8 s) are assumptions, not measured.
NODE_HEARTBEAT_S = 1.0
AM_ALLOCATION_POLL_S = 3.0
LOCALIZATION_S = 1.0
S3_LISTING_AND_COMMIT_S = 8.0


def derived(apps):
    """The planner's start figures from this machine's p95s (lib/domain/sizing.ts and local/planner/constants.ts
    explain each): a JVM start is bounded by the trivial app's SparkContext."""
    jvm = apps['trivial']['contextSeconds']['p95']
    job = apps['job']
    am_container = NODE_HEARTBEAT_S + LOCALIZATION_S
    executor_container = AM_ALLOCATION_POLL_S + NODE_HEARTBEAT_S + jvm
    return {
        'note': 'local p95s plus the YARN/Spark heartbeats (documented) and localization and S3 (assumed)',
        'emrStepStartSeconds': round(
            job['totalSeconds']['p95'] + jvm + am_container + executor_container + S3_LISTING_AND_COMMIT_S, 1
        ),
        'emrFirstExecutorSeconds': round(jvm + am_container + job['contextSeconds']['p95'] + executor_container, 1),
        'serverlessSparkStartSeconds': round(
            job['totalSeconds']['p95'] - job['contextSeconds']['p95'] + S3_LISTING_AND_COMMIT_S, 1
        ),
    }


def version_of(command, env):
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (done.stdout + done.stderr).strip().splitlines()
    return lines[0].strip() if lines else None


def machine(env):
    memory = None
    with open('/proc/meminfo') as handle:
        for line in handle:
            if line.startswith('MemTotal:'):
                memory = round(int(line.split()[1]) / 2**20, 1)
    return {
        'cores': os.cpu_count(),
        'memoryGiB': memory,
        'platform': platform.platform(),
        'python': platform.python_version(),
        'pyspark': version_of(
            [os.path.join(VENV_BIN, 'python'), '-c', 'import pyspark; print(pyspark.__version__)'], env
        ),
        'java': version_of(['java', '-version'], env),
        'master': 'local[2]',
    }


def main():
    if '--trivial' in sys.argv[1:]:
        return trivial()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--runs', type=int, default=5, help='spark-submits per app, alternating (default 5)')
    parser.add_argument('--events', type=int, default=100, help="events in the job's tiny input (default 100)")
    parser.add_argument('--keep', help='work in this folder and keep it (default: a temporary one, removed)')
    args = parser.parse_args()
    if args.runs < 1:
        parser.error('--runs must be 1 or more')
    work = spark_work_folder('startup-bench', args.keep)
    env = dict(
        os.environ,
        PATH=VENV_BIN + os.pathsep + os.environ.get('PATH', ''),
        SPARK_LOCAL_IP='127.0.0.1',
        PYSPARK_PYTHON=os.path.join(VENV_BIN, 'python'),
    )
    try:
        data = os.path.join(work, 'raw')
        generate = [sys.executable, os.path.join(ROOT, 'spark', 'generate_events.py'), '--events', str(args.events)]
        generate += ['--date', RUN_DATE, '--out', data + '/', '--seed', '42']
        subprocess.run(generate, check=True, stderr=subprocess.DEVNULL)
        apps = {
            'job': lambda i: (
                [os.path.join(ROOT, 'spark', 'denormalize.py'), '--input', data]
                + ['--output', os.path.join(work, f'out-{i}'), '--run-id', f'startup-{i}', '--run-date', RUN_DATE]
            ),
            'trivial': lambda i: [os.path.abspath(__file__), '--trivial'],
        }
        load_before = os.getloadavg()
        runs = {app: [] for app in apps}
        for index in range(args.runs):
            for app, command in apps.items():
                runs[app].append(run_once(app, command(index), env, work, index))
                print(f'startup-bench: {app} run {index + 1}/{args.runs} done', file=sys.stderr, flush=True)
        result = {
            'bench': 'startup',
            'what': 'spark-submit process start to SparkContext up, first executor, first task and exit (seconds)',
            'runsPerApp': args.runs,
            'jobInputEvents': args.events,
            'apps': {app: summary(app_runs) for app, app_runs in runs.items()},
            'derived': None,
            'machine': {
                **machine(env),
                'loadAverageBefore': list(load_before),
                'loadAverageAfter': list(os.getloadavg()),
            },
        }
        result['derived'] = derived(result['apps'])
        print(json.dumps(result, indent=2))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
