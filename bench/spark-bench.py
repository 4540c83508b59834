#!/usr/bin/env python3
"""npm run bench:spark — throughput, peak memory and Parquet/JSON size of the denormalize job.

For each size (default 100k and 1M events) it generates events with spark/generate_events.py, runs
spark/denormalize.py through the venv's spark-submit with --master local[2], samples the resident memory
of the whole spark-submit process tree (the JVM is a child of the launcher script; Pss from /proc), and prints
one line of plain numbers. Standard library only; Linux (/proc) only.

It also runs the floor on the same data in the same invocation, right after the job: Spark alone reading
the JSON with the job's raw schema and writing the job's own output width (its 43 columns, the derived ones
filled by casting raw columns, no enrichment work) as Parquet partitioned by site under dt=<run date> (same
codec, same master), timed inside the application as the job times itself. floor_s is that time and job_floor_ratio
is job_s / floor_s: on a shared, noisy machine the ratio is the figure to compare, not the seconds. When
other work comes and goes during a run, even the ratio moves; submit_cpu_s and floor_submit_cpu_s (CPU
seconds of each whole spark-submit, JVM start included, from wait4) and their cpu_ratio move less.

With --repeat N it runs job and floor N times each, alternating, and the line gives the medians (and each
pair's ratio): on a machine whose speed drifts, one pair's ratio moved from 2.1 to 2.9 for the same code.

    python3 bench/spark-bench.py [--events 100000,1000000] [--repeat N] [--keep DIR]
    spark-submit bench/spark-bench.py --floor --input DIR --output DIR --run-date YYYY-MM-DD   (what the bench runs)
"""

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import threading
import time

from bench_env import ROOT, VENV_BIN, spark_work_folder

PAGE_BYTES = os.sysconf('SC_PAGE_SIZE')


def process_tree_memory(root_pid):
    """Memory of root_pid and all its descendants, from /proc: the sum of each process's proportional set size
    (Pss), so that pages two processes share count once. A sum of RSS counted the JVM twice whenever it forked a
    helper command (Hadoop's local file system does): the child shares every page until it execs."""
    children = {}
    for stat_path in glob.glob('/proc/[0-9]*/stat'):
        try:
            with open(stat_path) as handle:
                fields = handle.read().rsplit(')', 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        children.setdefault(int(fields[1]), []).append(int(stat_path.split('/')[2]))
    total, stack = 0, [root_pid]
    while stack:
        pid = stack.pop()
        total += proportional_set_size(pid)
        stack.extend(children.get(pid, []))
    return total


def proportional_set_size(pid):
    try:
        with open(f'/proc/{pid}/smaps_rollup') as handle:
            for line in handle:
                if line.startswith('Pss:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass  # ended, or a kernel without smaps_rollup: fall back to the resident size
    try:
        with open(f'/proc/{pid}/stat') as handle:
            return int(handle.read().rsplit(')', 1)[1].split()[21]) * PAGE_BYTES
    except OSError:
        return 0


def run_sampled(command, env, log_path):
    """Runs command, sampling its process tree's memory every 100 ms; returns (exit code, seconds, peak bytes,
    CPU seconds: user + system of the process and the children it waited for, JVM start included)."""
    peak = 0
    with open(log_path, 'w') as log:
        started = time.monotonic()
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        done = threading.Event()

        def sample():
            nonlocal peak
            while not done.is_set():
                peak = max(peak, process_tree_memory(process.pid))
                done.wait(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = code = os.waitstatus_to_exitcode(status)
        elapsed = time.monotonic() - started
        done.set()
        sampler.join()
    return code, elapsed, peak, usage.ru_utime + usage.ru_stime


def tree_bytes(root, pattern):
    return sum(os.path.getsize(path) for path in glob.glob(os.path.join(root, pattern), recursive=True))


def floor_columns(raw, output_schema, F):
    """The job's output columns, cheaply: each raw column as read, and for every column the job derives, a raw
    column of its kind cast to the derived type (strings cycle over the raw strings, so the values are as
    varied as real ones; a constant would compress to nothing and flatter the floor)."""
    strings = [field.name for field in raw.schema.fields if field.dataType.simpleString() == 'string']
    columns = []
    for index, field in enumerate(output_schema.fields):
        if field.name in raw.columns:
            columns.append(F.col(field.name))
            continue
        kind = field.dataType.simpleString()
        if kind == 'string':
            source = F.col(strings[index % len(strings)])
        elif kind.startswith(('timestamp', 'date')):
            source = F.col('event_time')
        else:
            source = F.col('screen_width')
        columns.append(source.cast(field.dataType).alias(field.name))
    return columns


def floor(argv):
    """The read-and-write floor, run under spark-submit: read with the job's raw schema, write the job's own
    output width (its columns, cheaply filled) as Parquet partitioned by site under dt=<run date>, as the job does."""
    parser = argparse.ArgumentParser(prog='spark-bench.py --floor')
    parser.add_argument('--floor', action='store_true')
    parser.add_argument('--input', required=True)
    parser.add_argument('--output', required=True)
    parser.add_argument('--run-date', required=True)
    args = parser.parse_args(argv)
    sys.path.insert(0, os.path.join(ROOT, 'spark'))
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    import denormalize  # the job's own schema, so the floor parses exactly the fields the job parses

    spark = SparkSession.builder.appName('spark-bench floor').getOrCreate()
    try:
        started = time.time()
        spark.conf.set('spark.sql.session.timeZone', 'UTC')
        # The job's output schema, from its own plan over no rows (analysis only: nothing runs).
        empty = spark.createDataFrame(
            [],
            T.StructType(denormalize.RAW_SCHEMA.fields + [T.StructField(denormalize.CORRUPT_COLUMN, T.StringType())]),
        )
        ctx = denormalize.EnrichmentContext({}, denormalize.COUNTRY_REGIONS)
        output_schema = (
            denormalize.apply_enrichments(denormalize.valid_events(denormalize.classify(empty)), ctx)
            .withColumn('run_id', F.lit(''))
            .schema
        )
        raw = spark.read.schema(denormalize.RAW_SCHEMA).option('recursiveFileLookup', 'true').json(args.input)
        (
            raw.select(*floor_columns(raw, output_schema, F))
            .write.mode('overwrite')
            .option('compression', 'zstd')
            .partitionBy('site')
            .parquet(f'{args.output}/dt={args.run_date}')
        )
        print(
            f'spark-bench-floor: floor_s={time.time() - started:.3f} columns={len(output_schema.fields) - 1}',
            flush=True,
        )
    finally:
        spark.stop()


def run_job(events, data, output, env, log_path):
    """One run of the job; returns (job seconds as the job timed itself, CPU seconds, peak bytes, metrics)."""
    shutil.rmtree(output, ignore_errors=True)
    command = [
        os.path.join(VENV_BIN, 'spark-submit'),
        '--master',
        'local[2]',
        '--conf',
        'spark.ui.enabled=false',
        os.path.join(ROOT, 'spark', 'denormalize.py'),
        '--input',
        data,
        '--output',
        output,
        '--run-id',
        f'bench-{events}',
        '--run-date',
        '2026-11-27',
    ]
    code, _, peak, cpu_seconds = run_sampled(command, env, log_path)
    if code != 0:
        with open(log_path) as log:
            sys.stderr.write(log.read()[-4000:])
        raise SystemExit(f'spark-bench: spark-submit failed with exit code {code} for {events} events')
    with open(os.path.join(output, '_metrics', 'dt=2026-11-27', f'bench-{events}.json')) as handle:
        metrics = json.load(handle)
    return metrics['durationSeconds'], cpu_seconds, peak, metrics


def run_floor(events, data, output, env, log_path):
    """One run of the floor; returns (seconds as the floor timed itself, CPU seconds)."""
    command = [
        os.path.join(VENV_BIN, 'spark-submit'),
        '--master',
        'local[2]',
        '--conf',
        'spark.ui.enabled=false',
        os.path.abspath(__file__),
        '--floor',
        '--input',
        data,
        '--output',
        output,
        '--run-date',
        '2026-11-27',
    ]
    code, _, _, cpu_seconds = run_sampled(command, env, log_path)
    with open(log_path) as log:
        lines = [line for line in log if line.startswith('spark-bench-floor: floor_s=')]
    if code != 0 or not lines:
        with open(log_path) as log:
            sys.stderr.write(log.read()[-4000:])
        raise SystemExit(f'spark-bench: the floor run failed with exit code {code} for {events} events')
    shutil.rmtree(output, ignore_errors=True)
    return float(lines[-1].split('floor_s=', 1)[1].split()[0]), cpu_seconds


def bench(events, work, repeat):
    data = os.path.join(work, f'raw-{events}')
    output = os.path.join(work, f'out-{events}')
    started = time.monotonic()
    subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, 'spark', 'generate_events.py'),
            '--events',
            str(events),
            '--date',
            '2026-11-27',
            '--out',
            data + '/',
            '--seed',
            '42',
        ],
        check=True,
        stderr=subprocess.DEVNULL,
    )
    generate_seconds = time.monotonic() - started

    env = dict(
        os.environ,
        PATH=VENV_BIN + os.pathsep + os.environ.get('PATH', ''),
        SPARK_LOCAL_IP='127.0.0.1',
        PYSPARK_PYTHON=os.path.join(VENV_BIN, 'python'),
    )
    # Job and floor alternate, so that a change in the machine's load weighs on both sides of each ratio.
    pairs = []
    for _ in range(repeat):
        job = run_job(events, data, output, env, os.path.join(work, f'spark-submit-{events}.log'))
        floor_run = run_floor(
            events,
            data,
            os.path.join(work, f'floor-{events}'),
            env,
            os.path.join(work, f'spark-submit-floor-{events}.log'),
        )
        pairs.append((job, floor_run))
    job_s = median([job[0] for job, _ in pairs])
    floor_s = median([floor_run[0] for _, floor_run in pairs])
    cpu_s = median([job[1] for job, _ in pairs])
    floor_cpu_s = median([floor_run[1] for _, floor_run in pairs])
    ratio = median([job[0] / floor_run[0] for job, floor_run in pairs])
    cpu_ratio = median([job[1] / floor_run[1] for job, floor_run in pairs])
    peak = max(job[2] for job, _ in pairs)
    metrics = pairs[-1][0][3]
    json_bytes = tree_bytes(data, '*.json')
    parquet_bytes = tree_bytes(output, 'dt=*/site=*/*.parquet')
    parquet_files = len(glob.glob(os.path.join(output, 'dt=*', 'site=*', '*.parquet')))
    ratios = ' '.join(f'{job[0] / floor_run[0]:.2f}' for job, floor_run in pairs)
    print(
        f'events={events} runs={repeat} rows_out={metrics["rowsOut"]} rows_rejected={metrics["rowsRejected"]} '
        f'generate_s={generate_seconds:.1f} '
        f'job_s={job_s:.1f} job_events_per_s={events / job_s:.0f} '
        f'floor_s={floor_s:.1f} job_floor_ratio={ratio:.2f} '
        f'submit_cpu_s={cpu_s:.1f} floor_submit_cpu_s={floor_cpu_s:.1f} cpu_ratio={cpu_ratio:.2f} '
        f'peak_rss_mib={peak / 2**20:.0f} json_mib={json_bytes / 2**20:.1f} parquet_mib={parquet_bytes / 2**20:.1f} '
        f'parquet_files={parquet_files} parquet_json_ratio={parquet_bytes / json_bytes:.3f}'
        + (f' ratios=[{ratios}]' if repeat > 1 else ''),
        flush=True,
    )


def median(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def main():
    if '--floor' in sys.argv[1:]:
        return floor(sys.argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--events', default='100000,1000000', help='comma-separated sizes')
    parser.add_argument('--keep', help='work in this folder and keep it (default: a temporary one, removed)')
    parser.add_argument(
        '--repeat',
        type=int,
        default=1,
        help='job and floor runs per size, alternating; the line gives medians (default 1)',
    )
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error('--repeat must be 1 or more')
    work = spark_work_folder('spark-bench', args.keep)
    print(
        f'spark-bench: spark-submit --master local[2] on {os.cpu_count()} cores; '
        f'job_s and job_events_per_s are the job as it times itself, '
        f"floor_s Spark alone reading the same JSON and writing the job's output width as partitioned Parquet"
    )
    try:
        for events in (int(size) for size in args.events.split(',')):
            bench(events, work, args.repeat)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
