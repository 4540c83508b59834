"""The job's faster forms give what the slower ones they replaced gave, and the plan keeps its shape.

Each rewrite of an expression is checked against the expression it replaced (written out here as it was),
on inputs chosen to sit on the edges of both; the plan checks each have a negative control."""

import dataclasses

import pytest
from pyspark.sql import functions as F
from pyspark.sql import types as T

import denormalize
from test_enrichments import UA_CASES

USER_AGENTS = [case[0] for case in UA_CASES] + [
    'Mozilla/5.0 (compatible; bingbot/2.0)',
    'AhrefsBot/7.0',
    'Robot',
    'robots-fetcher/1.0',
    'a bot_',
    'xbotx',
    'bot',
    'Crawler',
    'crawl',
    'Spider',
    'spiderman',
    'Yahoo! Slurp',
    'HeadlessChrome/120',
    'Chrome-Lighthouse',
    'Edg/1',
    'Edge/1',
    'EdgA/1',
    'EdgiOS/1',
    'EdgX/1',
    'Edgi/1',
    'Edg',
    'EdgeA/1',
    'Opera Mini/8',
    'OPR',
    'Silk/1',
    'Silk',
    'MSIE 9',
    'MSIE',
    'Trident/7',
    'FxiOS/1',
    'CriOS/1',
    'Chromium/1',
    '',
    ' ',
]

URLS = [
    'https://www.Example.com/x?utm_source=a+b&utm_medium=%41&utm_campaign=50%off&utm_term=&utm_content=%E2%82%AC',
    'https://WWW.example.com',
    'https://www.',
    'https://wwwx.example/p?x=1&utm_source=%zz#utm_medium=x',
    'http://user@www.a.b:80/p/q?gclid=1',
    'https://a.example/?msclkid=2',
    'https://a.example/?xgclid=3',
    'https://a.example/?utm_source=x%2',
    'https://www.www.a/?&utm_source=s&utm_source=t',
    'file:///tmp/x',
    'not a url',
    '',
    None,
]


def values(spark, strings, column):
    frame = spark.createDataFrame([(s,) for s in strings], T.StructType([T.StructField('s', T.StringType())]))
    return [row[0] for row in frame.select(column).collect()]


def both(spark, strings, before, after):
    frame = spark.createDataFrame([(s,) for s in strings], T.StructType([T.StructField('s', T.StringType())]))
    return [
        (row.s, row.before, row.after)
        for row in frame.select('s', before.alias('before'), after.alias('after')).collect()
    ]


def test_the_bot_test_guarded_by_substrings_is_the_regex(spark):
    ua = F.col('s')
    rows = both(spark, USER_AGENTS + [None], ua.rlike(denormalize.BOT_AGENTS), denormalize._bot(ua))

    assert [row for row in rows if row[1] != row[2]] == []
    assert sum(1 for row in rows if row[1]) >= 8  # the cases do exercise the bot branch


@pytest.mark.parametrize(
    'pattern, literals',
    [
        ('iPad|Tablet|Kindle|Silk/|PlayBook', ('iPad', 'Tablet', 'Kindle', 'Silk/', 'PlayBook')),
        (
            'Mobi|iPhone|iPod|Android|Windows Phone|BlackBerry|Opera Mini',
            ('Mobi', 'iPhone', 'iPod', 'Android', 'Windows Phone', 'BlackBerry', 'Opera Mini'),
        ),
        ('Edg(e|A|iOS)?/', ('Edg/', 'Edge/', 'EdgA/', 'EdgiOS/')),
        ('OPR/|Opera', ('OPR/', 'Opera')),
        ('Firefox/|FxiOS/', ('Firefox/', 'FxiOS/')),
        ('Chrome/|CriOS/|Chromium/', ('Chrome/', 'CriOS/', 'Chromium/')),
        ('MSIE |Trident/', ('MSIE ', 'Trident/')),
        ('iPhone|iPad|iPod', ('iPhone', 'iPad', 'iPod')),
        ('Mac OS X|Macintosh', ('Mac OS X', 'Macintosh')),
        ('Linux|X11', ('Linux', 'X11')),
    ],
)
def test_substring_tests_match_the_alternations_they_replace(spark, pattern, literals):
    rows = both(spark, USER_AGENTS + [None], F.col('s').rlike(pattern), denormalize._contains_any(F.col('s'), literals))

    assert [row for row in rows if row[1] != row[2]] == []


def test_a_substring_test_missing_a_literal_is_caught(spark):
    # Negative control: the comparison above does tell an incomplete rewrite apart.
    rows = both(
        spark,
        USER_AGENTS,
        F.col('s').rlike('Edg(e|A|iOS)?/'),
        denormalize._contains_any(F.col('s'), ('Edg/', 'Edge/', 'EdgA/')),
    )

    assert [row[0] for row in rows if row[1] != row[2]] == ['EdgiOS/1']


def test_hosts_paths_and_click_ids_are_what_the_regex_forms_gave(spark):
    url = F.col('s')
    old_host = F.regexp_replace(
        F.lower(F.nullif(F.regexp_extract(url, denormalize.URL_HOST, 1), F.lit(''))), r'^www\.', ''
    )
    new_host = denormalize._normalised_host(F.regexp_extract(url, denormalize.URL_HOST, 1))
    raw_host = F.regexp_extract(url, denormalize.URL_HOST, 1)
    old_path = F.when(url.rlike(denormalize.URL_HOST), F.regexp_extract(url, denormalize.URL_PATH, 1))
    new_path = F.when(raw_host != '', F.regexp_extract(url, denormalize.URL_PATH, 1))
    old_click = url.rlike(denormalize.CLICK_ID_PARAMS)
    new_click = denormalize._contains_any(url, ('clid=', 'msclkid=')) & url.rlike(denormalize.CLICK_ID_PARAMS)

    for before, after in ((old_host, new_host), (old_path, new_path), (old_click, new_click)):
        rows = both(spark, URLS, before, after)
        assert [row for row in rows if row[1] != row[2]] == []
    assert values(spark, URLS[:4], new_host) == ['example.com', 'example.com', '', 'wwwx.example']


@pytest.mark.parametrize('name', ['utm_source', 'utm_medium', 'utm_campaign', 'utm_term', 'utm_content'])
def test_query_parameters_are_what_the_regex_forms_gave(spark, name):
    value = F.nullif(F.regexp_extract('url', rf'[?&]{name}=([^&#]*)', 1), F.lit(''))
    before = F.when(value.rlike(r'^([^%]|%[0-9A-Fa-f]{2})*$'), F.url_decode(value)).otherwise(value)
    frame = spark.createDataFrame([(s,) for s in URLS], T.StructType([T.StructField('url', T.StringType())]))

    rows = (
        frame.withColumn('before', before)
        .withColumn('raw', denormalize._query_param(name))
        .withColumn('after', denormalize._decoded(F.col('raw')))
        .collect()
    )

    assert [(row.url, row.before) for row in rows] == [(row.url, row.after) for row in rows]


def test_lookups_are_what_the_map_columns_gave(spark):
    def map_column(mapping):
        return F.create_map(*[F.lit(item) for pair in sorted(mapping.items()) for item in pair])

    keys = ['DE', 'de', ' jp ', 'US', 'BR', 'ZA', 'AE', 'ZZ', '', None, 'news.example.com', 'unmapped.example']
    country = F.upper(F.trim(F.col('s')))
    for mapping, key in ((denormalize.COUNTRY_REGIONS, country), (denormalize.SITE_TIMEZONES, F.col('s'))):
        rows = both(spark, keys, map_column(mapping)[key], denormalize._lookup(mapping, key))
        assert [row for row in rows if row[1] != row[2]] == []
    assert values(spark, ['x'], denormalize._lookup({}, F.col('s'))) == [None]


def frame_through(spark, registry):
    schema = T.StructType(denormalize.RAW_SCHEMA.fields + [T.StructField(denormalize.CORRUPT_COLUMN, T.StringType())])
    raw = spark.createDataFrame([], schema)
    ctx = denormalize.EnrichmentContext(denormalize.SITE_TIMEZONES, denormalize.COUNTRY_REGIONS)
    return denormalize.apply_enrichments(denormalize.valid_events(denormalize.classify(raw)), ctx, registry)


def below_the_shuffle(frame):
    plan = frame._jdf.queryExecution().executedPlan().toString()
    return plan.split('Exchange hashpartitioning', 1)[1]


def test_columns_keep_registry_order_and_helpers_are_dropped(spark):
    frame = frame_through(spark, denormalize.REGISTRY)

    assert frame.columns == denormalize.RAW_COLUMNS + ['event_ts'] + [
        column for entry in denormalize.REGISTRY for column in entry.outputs
    ]


def test_columns_the_window_does_not_need_do_not_go_through_its_shuffle(spark):
    shuffled = below_the_shuffle(frame_through(spark, denormalize.REGISTRY))

    assert 'page_path' in shuffled and 'referrer_category' in shuffled
    assert not any(column in shuffled for column in ('device_type', 'browser_family', 'local_hour', 'region'))


def test_a_column_the_window_needs_goes_through_its_shuffle(spark):
    # Negative control: a visit entry that read device_type would have it computed before the shuffle.
    registry = [
        dataclasses.replace(entry, inputs=entry.inputs + ('device_type',)) if entry.name == 'visit' else entry
        for entry in denormalize.REGISTRY
    ]

    assert 'device_type' in below_the_shuffle(frame_through(spark, registry))


def test_valid_events_have_a_site_spark_knows_is_never_null(spark):
    schema = T.StructType(denormalize.RAW_SCHEMA.fields + [T.StructField(denormalize.CORRUPT_COLUMN, T.StringType())])
    classified = denormalize.classify(spark.createDataFrame([], schema))

    assert classified.schema['site'].nullable  # negative control: as read, it may be null
    assert not denormalize.valid_events(classified).schema['site'].nullable


def test_helper_columns_must_not_clash_and_outputs_must_not_look_like_helpers(spark):
    def build(ctx):
        return {'_page_url_host': F.lit('x'), 'screen_class': F.lit('large')}

    clashing = denormalize.Enrichment('screen', 'Screen class.', ('screen_width',), ('screen_class',), build)

    with pytest.raises(ValueError, match=r"helper column\(s\) \['_page_url_host'\] already exist"):
        frame_through(spark, denormalize.REGISTRY + [clashing])

    def hidden(ctx):
        """An output named like a helper."""

    with pytest.raises(ValueError, match='a column starting with _ is a helper'):
        denormalize.enrichment('hidden', inputs=('url',), outputs=('_hidden',))(hidden)
    assert 'hidden' not in [entry.name for entry in denormalize.REGISTRY]


EVENT_TIMES = [
    '2026-11-27T12:34:56.789Z',
    '2026-11-27T12:34:56Z',
    '2026-11-27T12:34:56.123456Z',
    '2026-11-27T12:34:56.1234567Z',
    '2026-11-27T12:34Z',
    '2026-11-27 12:34:56Z',
    '2026-11-27T12:34:56.789',
    '2026-11-27T12:34:56.789+01:00',
    '2026-11-27T12:34:56+01:00Z',
    '2026-11-27T12:34:56.789ZZ',
    '2026-11-27T12:34:56.789 Z',
    '2026-11-27T12:34:56.789z',
    '2026-02-30T12:00:00Z',
    '2026-11-27T24:00:00Z',
    '2026-11-27T23:59:60Z',
    '0000-01-01T00:00:00Z',
    '2026-11-27T12:34:56.Z',
    ' 2026-11-27T12:34:56Z',
    '2026-11-27T12:34:56Z ',
    '20261127T123456Z',
    '2026',
    'yesterday at noon',
    'Z',
    '',
    None,
]


def event_ts_before():
    """The event time as classify parsed it before the fast path for a trailing Z."""
    return F.when(
        F.col('event_time').rlike(r'^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}'), F.expr('try_cast(event_time AS TIMESTAMP)')
    )


def event_times(spark):
    schema = T.StructType([T.StructField('event_time', T.StringType())])
    return spark.createDataFrame([(s,) for s in EVENT_TIMES], schema)


def test_a_utc_event_time_cast_without_its_z_is_the_same_instant(spark):
    rows = (
        event_times(spark)
        .select(
            'event_time',
            F.unix_micros(event_ts_before()).alias('before'),
            F.unix_micros(denormalize._event_ts()).alias('after'),
        )
        .collect()
    )

    assert [row for row in rows if row.before != row.after] == []
    assert sum(1 for row in rows if row.after is not None) >= 8  # both forms and both outcomes are exercised
    assert sum(1 for row in rows if row.after is None) >= 8


def test_the_z_fast_path_holds_only_in_the_utc_session_zone(spark):
    # Negative control: the comparison above does tell a different instant apart, and the fast path's one
    # assumption (run sets the session zone to UTC) is what it rests on.
    spark.conf.set('spark.sql.session.timeZone', 'America/New_York')
    try:
        rows = event_times(spark).select(
            F.unix_micros(event_ts_before()).alias('before'), F.unix_micros(denormalize._event_ts()).alias('after')
        )
        differing = [row for row in rows.collect() if row.before != row.after]
    finally:
        spark.conf.set('spark.sql.session.timeZone', 'UTC')

    assert len(differing) >= 3


def wall_clocks(spark, site_timezones, zone_of=None):
    """(site, before, after): from_utc_timestamp with the zone looked up per row, then with literal zones."""
    instants = [
        '2026-03-29T00:59:59Z',
        '2026-03-29T01:00:00Z',
        '2026-10-25T00:59:59Z',
        '2026-10-25T01:00:00Z',
        '2026-03-08T06:59:59Z',
        '2026-03-08T07:00:00Z',
        '2026-04-05T15:59:59Z',
        '2026-04-05T16:00:00Z',
        '2026-11-27T12:00:00Z',
    ]
    sites = sorted(denormalize.SITE_TIMEZONES) + ['unmapped.example', 'custom.example']
    frame = spark.createDataFrame([(site, instant) for site in sites for instant in instants], 'site string, t string')
    frame = frame.withColumn('ts', F.col('t').cast('timestamp'))
    zone = F.coalesce(denormalize._lookup(site_timezones, F.col('site')), F.lit('UTC'))
    after = denormalize._wall_clock(zone_of or site_timezones, F.col('site'), F.col('ts'))
    return [
        (row.site, row.before, row.after)
        for row in frame.select(
            'site', F.from_utc_timestamp('ts', zone).alias('before'), after.alias('after')
        ).collect()
    ]


def test_wall_clock_with_literal_zones_is_what_the_looked_up_zone_gave(spark):
    zones = {**denormalize.SITE_TIMEZONES, 'custom.example': 'Pacific/Chatham'}
    rows = wall_clocks(spark, zones)

    assert [row for row in rows if row[1] != row[2]] == []
    assert len({row[2] for row in rows}) > 50  # zones and daylight-saving edges do give different wall clocks
    assert [row for row in wall_clocks(spark, {}) if row[1] != row[2]] == []


def test_a_wall_clock_missing_a_zone_is_caught(spark):
    # Negative control: literal zones built from a mapping without one site's zone differ on that site's rows.
    zones = dict(denormalize.SITE_TIMEZONES)
    partial = {site: zone for site, zone in zones.items() if site != 'video.example.jp'}

    assert {row[0] for row in wall_clocks(spark, zones, partial) if row[1] != row[2]} == {'video.example.jp'}


def generated_method_sizes(spark):
    """The largest method, in bytes of bytecode, of each whole-stage-generated stage of the job's plan."""
    import re

    frame = frame_through(spark, denormalize.REGISTRY).withColumn('run_id', F.lit('r'))
    plan = frame._jdf.queryExecution().executedPlan()
    text = spark.sparkContext._jvm.org.apache.spark.sql.execution.debug.package.codegenString(plan)
    return [int(size) for size in re.findall(r'maxMethodCodeSize:(\d+)', text)]


def test_a_stage_too_big_for_hotspot_runs_without_whole_stage_code(spark):
    # The suite runs without whole-stage code generation (tiny data); the job runs with it. At run time Spark
    # compares each stage's largest method with hugeMethodLimit and runs a larger stage operator by operator.
    spark.conf.set('spark.sql.codegen.wholeStage', 'true')
    try:
        sizes = generated_method_sizes(spark)
    finally:
        spark.conf.set('spark.sql.codegen.wholeStage', 'false')
    spark.conf.unset('spark.sql.codegen.hugeMethodLimit')
    default_limit = int(spark.conf.get('spark.sql.codegen.hugeMethodLimit'))
    denormalize.tune(spark)

    assert max(sizes) > 8000  # HotSpot would interpret that stage's method for good (it compiles up to 8,000 bytes)
    assert default_limit > max(sizes)  # and by default Spark would run it so
    assert int(spark.conf.get('spark.sql.codegen.hugeMethodLimit')) == 8000


def test_browser_reads_the_bot_test_from_device_type(spark):
    # browser_family's bot branch once ran the bot test again; it now reads device_type. Same answer on every
    # agent that reaches the branch (not null): device_type is bot exactly when the test holds.
    agents = USER_AGENTS + ['   ', '\t', ' bot ', 'Googlebot ', None]
    frame = spark.createDataFrame([(s,) for s in agents], T.StructType([T.StructField('user_agent', T.StringType())]))
    device = next(entry for entry in denormalize.REGISTRY if entry.name == 'device').build(None)
    rows = (
        frame.withColumns(device)
        .where(F.col('user_agent').isNotNull())
        .select(
            'user_agent',
            denormalize._bot(F.col('user_agent')).alias('bot'),
            (F.col('device_type') == 'bot').alias('device_says_bot'),
        )
        .collect()
    )

    assert [row for row in rows if row.bot != row.device_says_bot] == []
    assert sum(1 for row in rows if row.bot) >= 8


def test_a_shared_prefix_rules_strings_out_in_one_scan(spark):
    # What the guard computes is covered above (the substring tests against the alternations they replace).
    def text(literals):
        return str(denormalize._contains_any(F.col('s'), literals))

    assert text(('Edg/', 'Edge/', 'EdgA/', 'EdgiOS/')).startswith("Column<'(contains(s, Edg) AND (")
    assert text(('iPhone', 'iPad', 'iPod')).startswith("Column<'(contains(s, iP) AND (")
    assert 'contains(s, O) AND' not in text(('OPR/', 'Opera'))  # one shared character: not worth a scan
    assert 'AND' not in text(('Chrome/',))  # a single literal is its own test
