"""One local Spark session for the whole suite: starting Spark costs seconds, a small job milliseconds."""

import os
import sys
import time

import pytest

# Spark hands timestamps to Python as local datetimes: pin the process zone so expectations hold anywhere.
os.environ['TZ'] = 'UTC'
time.tzset()

os.environ.setdefault('SPARK_LOCAL_IP', '127.0.0.1')  # loopback only, and no hostname warning
os.environ.setdefault('PYSPARK_PYTHON', sys.executable)


@pytest.fixture(scope='session')
def spark():
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master('local[2]')
        .appName('emrflow-spark-tests')
        .config('spark.ui.enabled', 'false')
        .config('spark.ui.showConsoleProgress', 'false')
        .config('spark.sql.shuffle.partitions', '2')
        .config('spark.default.parallelism', '2')
        .config('spark.sql.session.timeZone', 'UTC')
        .config('spark.driver.memory', '1g')
        # Test data is tiny: compiling generated code would cost more than running interpreted.
        .config('spark.sql.codegen.wholeStage', 'false')
        .config('spark.sql.adaptive.enabled', 'false')
        .getOrCreate()
    )
    session.sparkContext.setLogLevel('ERROR')
    yield session
    session.stop()


@pytest.fixture(scope='session')
def enrich(spark):
    """enrich(rows, through='device') → the rows after validation and the registry up to that entry."""
    from pyspark.sql import functions as F

    import denormalize

    def run(rows, through, ctx=None):
        names = [entry.name for entry in denormalize.REGISTRY]
        registry = denormalize.REGISTRY[: names.index(through) + 1]
        defaults = {
            'event_id': None,
            'event_time': '2026-11-27T12:00:00Z',
            'event_type': 'page_view',
            'site': 'news.example.com',
            'visitor_id': 'v-1',
            'session_id': 's-1',
            'url': 'https://news.example.com/',
            'referrer': None,
            'user_agent': None,
            'country': 'US',
            'screen_width': 1920,
            'screen_height': 1080,
            'custom': {},
        }
        records = [{**defaults, 'event_id': f'e-{index:04d}', **row} for index, row in enumerate(rows)]
        frame = spark.createDataFrame(records, denormalize.RAW_SCHEMA).withColumn(
            denormalize.CORRUPT_COLUMN, F.lit(None).cast('string')
        )
        valid = denormalize.classify(frame)
        context = ctx or denormalize.EnrichmentContext(denormalize.SITE_TIMEZONES, denormalize.COUNTRY_REGIONS)
        enriched = denormalize.apply_enrichments(valid, context, registry)
        return sorted((row.asDict() for row in enriched.collect()), key=lambda row: row['event_id'])

    return run
