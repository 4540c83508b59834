#!/usr/bin/env python3
"""Compares two outputs of spark/denormalize.py for the same input and run date: the proof that a rewrite of
the job changed how fast it runs, not what it writes.

    .venv/bin/python bench/spark-compare.py <output A> <output B> --run-date YYYY-MM-DD

Equal means: the same events table schema (names, types, order), the same rows as a multiset (every column,
maps compared by their sorted entries), the same rejects lines as a multiset, and the same metrics except
the fields that name the run or time it. Prints one line per check; exits 1 on the first difference.
"""

import argparse
import json
import os
import sys

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

VARYING_METRICS = {'runId', 'output', 'paths', 'durationSeconds', 'finishedAt'}


def comparable(frame):
    """Map columns become their sorted entries as JSON: maps have no equality in Spark's set operations."""
    return frame.select(
        *[
            F.to_json(F.array_sort(F.map_entries(field.name))).alias(field.name)
            if field.dataType.typeName() == 'map'
            else F.col(field.name)
            for field in frame.schema
        ]
    )


def same_multiset(a, b):
    return a.count() == b.count() and a.exceptAll(b).isEmpty() and b.exceptAll(a).isEmpty()


def metrics(root, run_date):
    folder = os.path.join(root, '_metrics', f'dt={run_date}')
    [name] = [name for name in os.listdir(folder) if name.endswith('.json')]
    with open(os.path.join(folder, name)) as handle:
        return {key: value for key, value in json.load(handle).items() if key not in VARYING_METRICS}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('a')
    parser.add_argument('b')
    parser.add_argument('--run-date', required=True)
    args = parser.parse_args()
    spark = (
        SparkSession.builder.master('local[2]')
        .config('spark.ui.enabled', 'false')
        .config('spark.ui.showConsoleProgress', 'false')
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel('ERROR')
    failures = 0

    def check(name, ok, detail=''):
        nonlocal failures
        print(f'{"same" if ok else "DIFFERENT"}: {name}{" " + detail if detail else ""}', flush=True)
        failures += not ok

    events = [spark.read.parquet(os.path.join(root, f'dt={args.run_date}')) for root in (args.a, args.b)]
    check('events schema', events[0].schema == events[1].schema)
    if events[0].schema == events[1].schema:
        check('events rows', same_multiset(*map(comparable, events)), f'({events[0].count()} rows)')
    rejects = [spark.read.text(os.path.join(root, '_rejects', f'dt={args.run_date}')) for root in (args.a, args.b)]
    check('rejects lines', same_multiset(*rejects), f'({rejects[0].count()} lines)')
    check('metrics', metrics(args.a, args.run_date) == metrics(args.b, args.run_date))
    spark.stop()
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
