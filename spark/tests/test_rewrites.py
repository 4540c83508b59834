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
    'Mozilla/5.0 (compatible; bingbot/2.0)', 'AhrefsBot/7.0', 'Robot', 'robots-fetcher/1.0', 'a bot_', 'xbotx',
    'bot', 'Crawler', 'crawl', 'Spider', 'spiderman', 'Yahoo! Slurp', 'HeadlessChrome/120', 'Chrome-Lighthouse',
    'Edg/1', 'Edge/1', 'EdgA/1', 'EdgiOS/1', 'EdgX/1', 'Edgi/1', 'Edg', 'EdgeA/1', 'Opera Mini/8', 'OPR',
    'Silk/1', 'Silk', 'MSIE 9', 'MSIE', 'Trident/7', 'FxiOS/1', 'CriOS/1', 'Chromium/1', '', ' ']

URLS = ['https://www.Example.com/x?utm_source=a+b&utm_medium=%41&utm_campaign=50%off&utm_term=&utm_content=%E2%82%AC',
        'https://WWW.example.com', 'https://www.', 'https://wwwx.example/p?x=1&utm_source=%zz#utm_medium=x',
        'http://user@www.a.b:80/p/q?gclid=1', 'https://a.example/?msclkid=2', 'https://a.example/?xgclid=3',
        'https://a.example/?utm_source=x%2', 'https://www.www.a/?&utm_source=s&utm_source=t', 'file:///tmp/x',
        'not a url', '', None]


def values(spark, strings, column):
    frame = spark.createDataFrame([(s,) for s in strings], T.StructType([T.StructField('s', T.StringType())]))
    return [row[0] for row in frame.select(column).collect()]


def both(spark, strings, before, after):
    frame = spark.createDataFrame([(s,) for s in strings], T.StructType([T.StructField('s', T.StringType())]))
    return [(row.s, row.before, row.after) for row in frame.select('s', before.alias('before'), after.alias('after'))
            .collect()]


def test_the_bot_test_guarded_by_substrings_is_the_regex(spark):
    ua = F.col('s')
    rows = both(spark, USER_AGENTS + [None], ua.rlike(denormalize.BOT_AGENTS), denormalize._bot(ua))

    assert [row for row in rows if row[1] != row[2]] == []
    assert sum(1 for row in rows if row[1]) >= 8  # the cases do exercise the bot branch


@pytest.mark.parametrize('pattern, literals', [
    ('iPad|Tablet|Kindle|Silk/|PlayBook', ('iPad', 'Tablet', 'Kindle', 'Silk/', 'PlayBook')),
    ('Mobi|iPhone|iPod|Android|Windows Phone|BlackBerry|Opera Mini',
     ('Mobi', 'iPhone', 'iPod', 'Android', 'Windows Phone', 'BlackBerry', 'Opera Mini')),
    ('Edg(e|A|iOS)?/', ('Edg/', 'Edge/', 'EdgA/', 'EdgiOS/')),
    ('OPR/|Opera', ('OPR/', 'Opera')),
    ('Firefox/|FxiOS/', ('Firefox/', 'FxiOS/')),
    ('Chrome/|CriOS/|Chromium/', ('Chrome/', 'CriOS/', 'Chromium/')),
    ('MSIE |Trident/', ('MSIE ', 'Trident/')),
    ('iPhone|iPad|iPod', ('iPhone', 'iPad', 'iPod')),
    ('Mac OS X|Macintosh', ('Mac OS X', 'Macintosh')),
    ('Linux|X11', ('Linux', 'X11')),
])
def test_substring_tests_match_the_alternations_they_replace(spark, pattern, literals):
    rows = both(spark, USER_AGENTS + [None], F.col('s').rlike(pattern), denormalize._contains_any(F.col('s'), literals))

    assert [row for row in rows if row[1] != row[2]] == []


def test_a_substring_test_missing_a_literal_is_caught(spark):
    # Negative control: the comparison above does tell an incomplete rewrite apart.
    rows = both(spark, USER_AGENTS, F.col('s').rlike('Edg(e|A|iOS)?/'),
                denormalize._contains_any(F.col('s'), ('Edg/', 'Edge/', 'EdgA/')))

    assert [row[0] for row in rows if row[1] != row[2]] == ['EdgiOS/1']


def test_hosts_paths_and_click_ids_are_what_the_regex_forms_gave(spark):
    url = F.col('s')
    old_host = F.regexp_replace(F.lower(F.nullif(F.regexp_extract(url, denormalize.URL_HOST, 1), F.lit(''))),
                                r'^www\.', '')
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

    rows = (frame.withColumn('before', before).withColumn('raw', denormalize._query_param(name))
            .withColumn('after', denormalize._decoded(F.col('raw'))).collect())

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
        column for entry in denormalize.REGISTRY for column in entry.outputs]


def test_columns_the_window_does_not_need_do_not_go_through_its_shuffle(spark):
    shuffled = below_the_shuffle(frame_through(spark, denormalize.REGISTRY))

    assert 'page_path' in shuffled and 'referrer_category' in shuffled
    assert not any(column in shuffled for column in ('device_type', 'browser_family', 'local_hour', 'region'))


def test_a_column_the_window_needs_goes_through_its_shuffle(spark):
    # Negative control: a visit entry that read device_type would have it computed before the shuffle.
    registry = [dataclasses.replace(entry, inputs=entry.inputs + ('device_type',)) if entry.name == 'visit' else entry
                for entry in denormalize.REGISTRY]

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
