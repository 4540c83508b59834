"""Denormalize raw web events (JSON lines) into enriched Parquet: the example Spark job of emrflow.

    spark-submit denormalize.py --input <uri> --output <uri> --run-id <id> --run-date <YYYY-MM-DD>
                                [--site-timezones <uri of a JSON object site → IANA zone>]
                                [--compression zstd|snappy|gzip|none]

URIs are opaque Hadoop paths: s3:// on EMR, local paths under the local runtime. The input is a file,
a directory (read recursively) or a glob of JSON lines. Under --output the job writes

    dt=<run-date>/site=<site>/part-*.parquet      enriched events (dynamic partition overwrite)
    _rejects/dt=<run-date>/part-*.json            malformed lines: {reason, raw, run_id}
    _metrics/dt=<run-date>/<run-id>.json          rowsIn, rowsOut, rowsRejected, rejectsByReason, durationSeconds, …

Reruns are idempotent: the dt partition is the run date (not the event date), so a run only ever replaces
partitions of its own date; a retried attempt overwrites its own partitions, its rejects and its metrics
file, and Spark's staging directory keeps a killed attempt's partial files out of sight of readers.

The script is self-contained on purpose: the EMR step ships one primary resource (no --py-files), so
the enrichment registry lives below instead of in a module the cluster would not have.
"""

import argparse
import datetime as dt
import inspect
import json
import os
import re
import sys
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Callable

from pyspark.sql import Column, DataFrame, Observation, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

CORRUPT_COLUMN = '_corrupt_record'

# The raw event as producers send it. Fields are optional here so that a missing one surfaces as a
# reject reason of ours instead of a parse failure of Spark's.
RAW_SCHEMA = T.StructType(
    [
        T.StructField('event_id', T.StringType()),
        T.StructField('event_time', T.StringType()),
        T.StructField('event_type', T.StringType()),
        T.StructField('site', T.StringType()),
        T.StructField('visitor_id', T.StringType()),
        T.StructField('session_id', T.StringType()),
        T.StructField('url', T.StringType()),
        T.StructField('referrer', T.StringType()),
        T.StructField('user_agent', T.StringType()),
        T.StructField('country', T.StringType()),
        T.StructField('screen_width', T.IntegerType()),
        T.StructField('screen_height', T.IntegerType()),
        T.StructField('custom', T.MapType(T.StringType(), T.StringType())),
    ]
)
RAW_COLUMNS = [field.name for field in RAW_SCHEMA.fields]

# A line of _rejects/: the reason, the line (or its fields as parsed), the run.
REJECT_SCHEMA = 'reason string, raw string, run_id string'

# Why a line is rejected, checked in this order; the first that applies is recorded.
REJECT_REASONS = (
    'malformed_json',
    'wrong_type',
    'missing_event_time',
    'invalid_event_time',
    'missing_site',
    'missing_session_id',
)

# ---------------------------------------------------------------------------------------------------
# Reference data. Plain mappings so that they can grow (or move to a file passed as a job argument)
# without touching the expressions that use them.
# ---------------------------------------------------------------------------------------------------

# Site → IANA time zone for local time parts; --site-timezones adds to or overrides it. Unknown → UTC.
SITE_TIMEZONES: dict[str, str] = {
    'news.example.com': 'America/New_York',
    'shop.example.de': 'Europe/Berlin',
    'blog.example.fr': 'Europe/Paris',
    'video.example.jp': 'Asia/Tokyo',
    'travel.example.com.au': 'Australia/Sydney',
    'sport.example.co.uk': 'Europe/London',
    'recipes.example.com.br': 'America/Sao_Paulo',
    'games.example.in': 'Asia/Kolkata',
    'music.example.es': 'Europe/Madrid',
    'tech.example.io': 'America/Los_Angeles',
    'weather.example.za': 'Africa/Johannesburg',
    'finance.example.ae': 'Asia/Dubai',
}

_REGION_COUNTRIES = {
    'North America': 'US CA',
    'Latin America': 'MX BR AR CL CO PE VE EC GT CU BO DO HN PY SV NI CR PA UY PR JM TT',
    'Europe': 'GB IE FR DE AT CH BE NL LU IT ES PT DK SE NO FI IS PL CZ SK HU RO BG GR HR SI RS BA ME MK AL '
    'EE LV LT UA BY MD RU CY MT',
    'Middle East': 'AE SA QA KW BH OM YE IL JO LB SY IQ IR TR',
    'Africa': 'ZA NG KE EG MA DZ TN GH ET TZ UG SN CI CM AO ZW ZM MZ RW',
    'Asia Pacific': 'CN JP KR TW HK MO IN PK BD LK NP SG MY TH VN PH ID KH MM LA MN KZ UZ AU NZ FJ PG',
}
# ISO 3166-1 alpha-2 → sales region. Unknown or missing → 'Unknown'.
COUNTRY_REGIONS: dict[str, str] = {
    country: region for region, countries in _REGION_COUNTRIES.items() for country in countries.split()
}

SEARCH_HOSTS = r'(^|\.)(google|bing|yahoo|duckduckgo|baidu|yandex|ecosia|naver|seznam|ask|startpage)\.[a-z.]+$'
SOCIAL_HOSTS = (
    r'(^|\.)(facebook\.com|fb\.me|instagram\.com|linkedin\.com|lnkd\.in|reddit\.com|pinterest\.[a-z.]+'
    r'|tiktok\.com|youtube\.com|youtu\.be|twitter\.com|x\.com|t\.co|vk\.com|threads\.net|snapchat\.com)$'
)
CLICK_ID_PARAMS = r'[?&](gclid|fbclid|msclkid|dclid|ttclid)='
# Case-sensitive on purpose: user agents spell their tokens one way, and (?i) makes every match slower.
BOT_AGENTS = r'[Bb]ot\b|[Cc]rawl|[Ss]pider|Slurp|Headless|Lighthouse'
# Every match of BOT_AGENTS contains one of these: a substring test that rules out almost every user agent
# before the regex runs (an alternation led by a character class is tried at every position of the string).
BOT_AGENT_TOKENS = ('ot', 'rawl', 'pider', 'Slurp', 'Headless', 'Lighthouse')
# An ISO-8601 date-time in UTC written with Z, seconds and at most microseconds: the form producers send.
UTC_EVENT_TIME = r'^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$'
# scheme://host[:port] then the path: a regex is several times cheaper than parse_url's java.net.URI.
URL_HOST = r'^[A-Za-z][A-Za-z0-9+.-]*://(?:[^/?#@]*@)?([^/?#:]+)'
URL_PATH = r'^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*([^?#]*)'


# ---------------------------------------------------------------------------------------------------
# The enrichment registry. An enrichment is a function from the run's context to named Spark column
# expressions; `apply_enrichments` adds them in registry order, so an entry may use the raw columns and
# the outputs of the entries above it. Adding one is one decorated function:
#
#   @enrichment('screen', inputs=('screen_width',), outputs=('screen_class',))
#   def screen(ctx):
#       """Screen width bucket: small / medium / large."""
#       return {'screen_class': F.when(F.col('screen_width') < 768, 'small')...}
#
# Only built-in column expressions: a Python UDF would ship every row to a Python worker and back.
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnrichmentContext:
    site_timezones: Mapping[str, str]
    country_regions: Mapping[str, str]


@dataclass(frozen=True)
class Enrichment:
    name: str
    description: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    build: Callable[[EnrichmentContext], dict[str, Column]]
    shuffles: bool = False


REGISTRY: list[Enrichment] = []


def enrichment(name: str, inputs: tuple[str, ...], outputs: tuple[str, ...], shuffles: bool = False):
    """Registers the decorated function; its docstring is the enrichment's documentation. `shuffles` marks an
    entry whose columns need the rows of a group together (a window): see apply_enrichments."""

    def register(build):
        description = inspect.getdoc(build)
        if not description:
            raise ValueError(f'enrichment {name!r} needs a docstring: it is its documentation')
        if any(entry.name == name for entry in REGISTRY):
            raise ValueError(f'enrichment {name!r} is registered twice')
        taken = {column for entry in REGISTRY for column in entry.outputs} | set(RAW_COLUMNS)
        if taken & set(outputs):
            raise ValueError(f'enrichment {name!r} redefines column(s) {sorted(taken & set(outputs))}')
        if any(column.startswith('_') for column in outputs):
            raise ValueError(f'enrichment {name!r}: a column starting with _ is a helper, not an output')
        REGISTRY.append(Enrichment(name, description, tuple(inputs), tuple(outputs), build, shuffles))
        return build

    return register


def _lookup(mapping: Mapping[str, str], key: Column) -> Column:
    """mapping[key], null when the key is missing or null. One hashed IN-list per distinct value: a literal map
    column would be searched key by key on every row (Spark's map lookup is linear)."""
    by_value: dict[str, list[str]] = {}
    for item, value in sorted(mapping.items()):
        by_value.setdefault(value, []).append(item)
    looked_up = None
    for value, items in sorted(by_value.items(), key=lambda pair: -len(pair[1])):  # the biggest lists first
        test = key.isin(*items)
        looked_up = F.when(test, value) if looked_up is None else looked_up.when(test, value)
    return looked_up if looked_up is not None else F.lit(None).cast('string')


def _contains_any(column: Column, literals) -> Column:
    """column contains one of the literals: what rlike('a|b|c') of plain literals tests, without a regex. When the
    literals share a prefix of two characters or more, a string without it is ruled out in one scan, not one per
    literal (each test scans the string)."""
    test = None
    for literal in literals:
        test = column.contains(literal) if test is None else test | column.contains(literal)
    prefix = os.path.commonprefix(list(literals))
    return column.contains(prefix) & test if len(literals) > 1 and len(prefix) >= 2 else test


def _query_param(name: str) -> Column:
    """Helper for a query parameter of `url`: the raw value, '' when present but empty, null when absent.
    The substring test keeps the regex off the URLs that cannot match (most have no campaign parameters)."""
    return F.when(F.col('url').contains(f'{name}='), F.regexp_extract('url', rf'[?&]{name}=([^&#]*)', 1))


def _decoded(raw: Column) -> Column:
    """The parameter percent-decoded when the encoding is valid (url_decode throws otherwise); null when empty.
    Without a % the encoding is valid by definition, so the validity regex only runs on values that have one."""
    present = raw != ''
    valid = ~raw.contains('%') | raw.rlike(r'^([^%]|%[0-9A-Fa-f]{2})*$')
    return F.when(present & valid, F.url_decode(raw)).when(present, raw)


def _normalised_host(raw_host: Column) -> Column:
    """Lower case without a leading `www.`; null for '' (no host: not an absolute URL)."""
    host = F.lower(raw_host)
    return F.when(
        raw_host != '', F.when(host.startswith('www.'), host.substr(F.lit(5), F.length(host))).otherwise(host)
    )


def _wall_clock(site_timezones: Mapping[str, str], site: Column, instant: Column) -> Column:
    """The instant as wall-clock time in the site's zone (UTC for an unmapped site): from_utc_timestamp shifts the
    instant, and read back in the UTC session zone it is the local wall clock. One call per zone, with the zone as a
    literal: Spark resolves a literal zone once, but a zone read from a column on every row (a regex each time)."""
    sites_by_zone: dict[str, list[str]] = {}
    for name, zone in sorted(site_timezones.items()):
        sites_by_zone.setdefault(zone, []).append(name)
    shifted = None
    for zone, sites in sorted(sites_by_zone.items(), key=lambda pair: -len(pair[1])):  # the biggest lists first
        test, value = site.isin(*sites), F.from_utc_timestamp(instant, zone)
        shifted = F.when(test, value) if shifted is None else shifted.when(test, value)
    unmapped = F.from_utc_timestamp(instant, 'UTC')
    return unmapped if shifted is None else shifted.otherwise(unmapped)


def _bot(ua: Column) -> Column:
    return _contains_any(ua, BOT_AGENT_TOKENS) & ua.rlike(BOT_AGENTS)


# An entry may also return helper columns, named with a leading `_`: apply_enrichments computes them once,
# in a projection below the entry's outputs (an expression used in several places would otherwise be
# evaluated in each), and drops them. They are not outputs and need not be declared.


@enrichment('page', inputs=('url',), outputs=('page_host', 'page_path'))
def page(ctx):
    """Host (lower case, without www.) and path of the page the event happened on."""
    host = F.col('_page_url_host')  # '' when the URL has no scheme://host
    return {
        '_page_url_host': F.regexp_extract('url', URL_HOST, 1),
        'page_host': _normalised_host(host),
        'page_path': F.when(host != '', F.regexp_extract('url', URL_PATH, 1)),
    }


@enrichment('utm', inputs=('url',), outputs=('utm_source', 'utm_medium', 'utm_campaign', 'utm_term', 'utm_content'))
def utm(ctx):
    """Campaign parameters (utm_*) of the page URL, percent-decoded; null when absent."""
    parts = ('source', 'medium', 'campaign', 'term', 'content')
    return {
        **{f'_utm_{part}_raw': _query_param(f'utm_{part}') for part in parts},
        **{f'utm_{part}': _decoded(F.col(f'_utm_{part}_raw')) for part in parts},
    }


@enrichment(
    'referrer', inputs=('referrer', 'url', 'page_host', 'utm_source'), outputs=('referrer_host', 'referrer_category')
)
def referrer(ctx):
    """Referrer host and category: campaign (utm_* or an ad click id on the page URL), direct (no referrer),
    internal (same site), search, social or other."""
    host = F.col('_referrer_host')
    url = F.col('url')
    click_id = _contains_any(url, ('clid=', 'msclkid=')) & url.rlike(CLICK_ID_PARAMS)
    category = (
        F.when(F.col('utm_source').isNotNull() | click_id, 'campaign')
        .when(F.col('referrer').isNull() | (F.trim('referrer') == ''), 'direct')
        .when(host == F.col('page_host'), 'internal')
        .when(host.rlike(SEARCH_HOSTS), 'search')
        .when(host.rlike(SOCIAL_HOSTS), 'social')
        .otherwise('other')
    )
    return {
        '_referrer_host': _normalised_host(F.regexp_extract('referrer', URL_HOST, 1)),
        'referrer_host': host,
        'referrer_category': category,
    }


@enrichment('device', inputs=('user_agent',), outputs=('device_type',))
def device(ctx):
    """Device type from the user agent: bot, tablet, mobile, desktop, or unknown without a user agent."""
    ua = F.col('user_agent')
    return {
        'device_type': F.when(ua.isNull() | (F.trim(ua) == ''), 'unknown')
        .when(_bot(ua), 'bot')
        .when(
            _contains_any(ua, ('iPad', 'Tablet', 'Kindle', 'Silk/', 'PlayBook'))
            | (ua.contains('Android') & ~ua.contains('Mobile')),
            'tablet',
        )
        .when(
            _contains_any(ua, ('Mobi', 'iPhone', 'iPod', 'Android', 'Windows Phone', 'BlackBerry', 'Opera Mini')),
            'mobile',
        )
        .otherwise('desktop')
    }


@enrichment('browser', inputs=('user_agent', 'device_type'), outputs=('browser_family',))
def browser(ctx):
    """Browser family from the user agent. Order matters: Edge, Opera and Samsung Internet also say Chrome,
    and Chrome also says Safari."""
    ua = F.col('user_agent')
    # A bot for device_type is a bot here: the same test (a blank agent, which device calls unknown, is no bot).
    return {
        'browser_family': F.when(ua.isNull(), 'Other')
        .when(F.col('device_type') == 'bot', 'Bot')
        .when(_contains_any(ua, ('Edg/', 'Edge/', 'EdgA/', 'EdgiOS/')), 'Edge')
        .when(_contains_any(ua, ('OPR/', 'Opera')), 'Opera')
        .when(ua.contains('SamsungBrowser/'), 'Samsung Internet')
        .when(_contains_any(ua, ('Firefox/', 'FxiOS/')), 'Firefox')
        .when(_contains_any(ua, ('Chrome/', 'CriOS/', 'Chromium/')), 'Chrome')
        .when(ua.contains('Safari/'), 'Safari')
        .when(_contains_any(ua, ('MSIE ', 'Trident/')), 'Internet Explorer')
        .otherwise('Other')
    }


@enrichment('os', inputs=('user_agent',), outputs=('os_family',))
def operating_system(ctx):
    """Operating system family from the user agent. iOS before macOS: iOS agents say "like Mac OS X"."""
    ua = F.col('user_agent')
    return {
        'os_family': F.when(ua.isNull(), 'Other')
        .when(_contains_any(ua, ('iPhone', 'iPad', 'iPod')), 'iOS')
        .when(ua.contains('Android'), 'Android')
        .when(ua.contains('Windows'), 'Windows')
        .when(ua.contains('CrOS'), 'Chrome OS')
        .when(_contains_any(ua, ('Mac OS X', 'Macintosh')), 'macOS')
        .when(_contains_any(ua, ('Linux', 'X11')), 'Linux')
        .otherwise('Other')
    }


@enrichment(
    'local_time',
    inputs=('site', 'event_ts'),
    outputs=('site_timezone', 'local_time', 'local_date', 'local_hour', 'local_day_of_week', 'is_weekend', 'day_part'),
)
def local_time(ctx):
    """Time parts in the site's time zone (site → zone from the mapping, UTC when unknown): wall-clock
    local_time (timestamp without zone), date, hour, ISO day of week (1 = Monday), weekend flag and day part
    (night 0-5, morning 6-11, afternoon 12-17, evening 18-23)."""
    zone = F.col('_site_zone')
    wall_clock = F.col('_local_wall_clock')
    hour = F.hour(wall_clock)
    iso_day = (F.dayofweek(wall_clock) + 5) % 7 + 1
    return {
        '_site_zone': F.coalesce(_lookup(ctx.site_timezones, F.col('site')), F.lit('UTC')),
        '_local_wall_clock': _wall_clock(ctx.site_timezones, F.col('site'), F.col('event_ts')),
        'site_timezone': zone,
        'local_time': wall_clock.cast('timestamp_ntz'),
        'local_date': F.to_date(wall_clock),
        'local_hour': hour,
        'local_day_of_week': iso_day,
        'is_weekend': iso_day >= 6,
        'day_part': (
            F.when(hour < 6, 'night').when(hour < 12, 'morning').when(hour < 18, 'afternoon').otherwise('evening')
        ),
    }


@enrichment(
    'visit',
    inputs=('site', 'session_id', 'event_ts', 'event_id', 'page_path', 'referrer_category'),
    outputs=(
        'session_event_count',
        'session_event_index',
        'session_start',
        'session_duration_seconds',
        'landing_page',
        'entry_channel',
        'is_landing',
        'is_exit',
        'is_bounce',
    ),
    shuffles=True,
)
def visit(ctx):
    """Visit features over the events of a session in this run's input: event count, the event's position,
    start and duration, landing page and entry channel (the first event's page and referrer category), and
    landing / exit / bounce flags. One window (one shuffle, one sort) serves all of them."""
    ordered = Window.partitionBy('site', 'session_id').orderBy('event_ts', 'event_id')
    session = ordered.rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    # Each window function once, as a helper: written inline, every use (index in is_landing and is_exit,
    # count in is_exit and is_bounce, start twice) would be one more function the window evaluates per row.
    count, index, start, end = (
        F.col('_visit_count'),
        F.col('_visit_index'),
        F.col('_visit_start'),
        F.col('_visit_end'),
    )
    return {
        '_visit_count': F.count(F.lit(1)).over(session),
        '_visit_index': F.row_number().over(ordered),
        '_visit_start': F.min('event_ts').over(session),
        '_visit_end': F.max('event_ts').over(session),
        '_visit_landing_page': F.first('page_path').over(session),
        '_visit_entry_channel': F.first('referrer_category').over(session),
        'session_event_count': count,
        'session_event_index': index,
        'session_start': start,
        'session_duration_seconds': (F.unix_millis(end) - F.unix_millis(start)) / 1000,
        'landing_page': F.col('_visit_landing_page'),
        'entry_channel': F.col('_visit_entry_channel'),
        'is_landing': index == 1,
        'is_exit': index == count,
        'is_bounce': count == 1,
    }


@enrichment('region', inputs=('country',), outputs=('region',))
def region(ctx):
    """Sales region of the visitor's country (ISO 3166-1 alpha-2, any case); Unknown when not mapped."""
    return {'region': F.coalesce(_lookup(ctx.country_regions, F.upper(F.trim('country'))), F.lit('Unknown'))}


def apply_enrichments(events: DataFrame, ctx: EnrichmentContext, registry: list[Enrichment] = REGISTRY) -> DataFrame:
    """Adds every entry's columns; the result has the input's columns, then each entry's outputs in registry
    order. Entries that a shuffling entry does not need (directly or through another entry) are computed
    after its shuffle instead of before: their columns then do not travel through it, nor through its sort."""
    columns_so_far = list(events.columns)
    helpers_so_far = set()
    built = {}
    for entry in registry:
        missing = [column for column in entry.inputs if column not in columns_so_far]
        if missing:
            raise ValueError(
                f'enrichment {entry.name!r} needs column(s) {missing}: register it after the entries that produce them'
            )
        columns = entry.build(ctx)
        outputs = [name for name in columns if not name.startswith('_')]
        if outputs != list(entry.outputs):
            raise ValueError(f'enrichment {entry.name!r} returned {outputs}, declared {list(entry.outputs)}')
        helpers = [name for name in columns if name.startswith('_')]
        clash = [name for name in helpers if name in columns_so_far or name in helpers_so_far]
        if clash:
            raise ValueError(f'enrichment {entry.name!r}: helper column(s) {clash} already exist')
        helpers_so_far.update(helpers)
        built[entry.name] = columns
        columns_so_far += outputs

    needed, early = set(), set()
    for entry in reversed(registry):
        if entry.shuffles or needed & set(entry.outputs):
            early.add(entry.name)
            needed |= set(entry.inputs)
    for entry in [e for e in registry if e.name in early] + [e for e in registry if e.name not in early]:
        columns = built[entry.name]
        helpers = {name: column for name, column in columns.items() if name.startswith('_')}
        if helpers:
            events = events.withColumns(helpers)
        events = events.withColumns({name: column for name, column in columns.items() if name not in helpers})
    return events.select(*columns_so_far)


# ---------------------------------------------------------------------------------------------------
# Validation: every line read becomes either a valid event (with event_ts) or a reject with a reason.
# ---------------------------------------------------------------------------------------------------


def _blank(name: str) -> Column:
    return F.col(name).isNull() | (F.trim(name) == '')


def _event_ts() -> Column:
    """event_time as a timestamp; null when it is not an ISO-8601 date-time. Spark resolves a zone suffix by
    compiling two regular expressions on every row, so the usual form, UTC written as a trailing Z, is cast without
    its Z: in the UTC session zone that the job sets, the same instant. Any other form is cast as it is."""
    without_z = F.expr('try_cast(substr(event_time, 1, length(event_time) - 1) AS TIMESTAMP)')
    # try_cast: null instead of an exception under ANSI mode; the pattern keeps numbers (cast as years) out.
    as_is = F.expr('try_cast(event_time AS TIMESTAMP)')
    event_time = F.col('event_time')
    return F.when(event_time.rlike(UTC_EVENT_TIME), without_z).when(
        event_time.rlike(r'^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}'), as_is
    )


def classify(raw: DataFrame) -> DataFrame:
    """Adds event_ts (the parsed event time, UTC) and reject_reason (null for a valid event). Expects the session
    time zone to be UTC, as run sets it."""
    event_ts = _event_ts()
    corrupt = F.col(CORRUPT_COLUMN)
    reason = (
        F.when(corrupt.isNotNull() & F.expr(f'json_object_keys({CORRUPT_COLUMN})').isNull(), 'malformed_json')
        .when(corrupt.isNotNull(), 'wrong_type')
        .when(F.col('event_time').isNull(), 'missing_event_time')
        .when(F.col('event_ts').isNull(), 'invalid_event_time')
        .when(_blank('site'), 'missing_site')
        .when(_blank('session_id'), 'missing_session_id')
    )
    return raw.withColumn('event_ts', event_ts).withColumn('reject_reason', reason)


def valid_events(classified: DataFrame) -> DataFrame:
    """The valid events of classify's output, without the validation columns, and with a site Spark knows is
    never null: a valid event has a site, so coalesce changes no value, but a nullable partition column makes
    the write map '' to null first and sort every row again by that new column, although the visit window's
    sort (site, session, time) already is the order the write needs."""
    return (
        classified.where(F.col('reject_reason').isNull())
        .drop(CORRUPT_COLUMN, 'reject_reason')
        .withColumn('site', F.coalesce(F.col('site'), F.lit('')))
    )


def read_raw(spark: SparkSession, uri: str) -> DataFrame:
    # recursiveFileLookup: an input prefix may hold nested dt=… folders; no partition columns are inferred.
    schema = T.StructType(RAW_SCHEMA.fields + [T.StructField(CORRUPT_COLUMN, T.StringType())])
    return (
        spark.read.schema(schema)
        .option('mode', 'PERMISSIVE')
        .option('columnNameOfCorruptRecord', CORRUPT_COLUMN)
        .option('recursiveFileLookup', 'true')
        .json(uri)
    )


# ---------------------------------------------------------------------------------------------------
# The run.
# ---------------------------------------------------------------------------------------------------


class JobError(Exception):
    """A failure the job explains in one line (exit code 1)."""


def output_paths(output: str, run_id: str, run_date: str) -> dict[str, str]:
    base = output.rstrip('/')
    return {
        'events': base,
        'rejects': f'{base}/_rejects/dt={run_date}',
        'metrics': f'{base}/_metrics/dt={run_date}/{_file_safe(run_id)}.json',
    }


def _file_safe(name: str) -> str:
    # Hadoop paths choke on ':' and friends; keep a run id's readable characters, replace the rest.
    return re.sub(r'[^A-Za-z0-9._=+-]', '_', name)


def _hadoop_path(spark: SparkSession, uri: str):
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    return path, path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())


def check_input(spark: SparkSession, uri: str) -> None:
    try:
        path, fs = _hadoop_path(spark, uri)
        matches = fs.globStatus(path)
    except Exception as error:  # bad scheme, unreachable bucket, no permission
        raise JobError(f'cannot read input {uri}: {_first_line(error)}') from error
    if not matches:
        raise JobError(f'input not found: {uri}')


def write_text(spark: SparkSession, uri: str, text: str) -> None:
    """Writes a small file through Hadoop's FileSystem: local paths and s3:// alike, replaced whole."""
    path, fs = _hadoop_path(spark, uri)
    stream = fs.create(path, True)
    try:
        stream.write(bytearray(text.encode('utf-8')))
    finally:
        stream.close()


def remove_stale_staging(spark: SparkSession, uri: str) -> None:
    """Deletes the staging folders (.spark-staging-<job id>) that killed attempts left in the folder the events
    are written to: hidden from readers, but each would stay there for good, beside the run's partitions."""
    path, fs = _hadoop_path(spark, f'{uri}/.spark-staging-*')
    for status in fs.globStatus(path) or []:
        fs.delete(status.getPath(), True)


def load_site_timezones(spark: SparkSession, uri: str) -> dict[str, str]:
    mapping = dict(SITE_TIMEZONES)
    if uri:
        text = '\n'.join(row.value for row in spark.read.text(uri, wholetext=True).collect())
        try:
            extra = json.loads(text)
        except ValueError as error:
            raise JobError(f'--site-timezones {uri} is not JSON: {error}') from error
        if not isinstance(extra, dict) or not all(isinstance(v, str) for v in extra.values()):
            raise JobError(f'--site-timezones {uri} must be a JSON object of site → time zone name')
        mapping.update(extra)
    zone_id = spark.sparkContext._jvm.java.time.ZoneId
    for site, zone in mapping.items():
        try:
            zone_id.of(zone)  # Spark resolves zones with java.time: check with the same rules
        except Exception as error:
            raise JobError(f'unknown time zone {zone!r} for site {site!r}') from error
    return mapping


def tune(spark: SparkSession) -> None:
    """Session settings the job's plan runs faster with; none changes a value it writes."""
    # HotSpot never compiles a method over 8,000 bytes of bytecode: it runs interpreted for good. Spark's advice on
    # HotSpot is this limit, above which a stage falls back from whole-stage code generation to running operator by
    # operator, with generated functions split small enough to compile. The stage after the shuffle is such a one.
    spark.conf.set('spark.sql.codegen.hugeMethodLimit', '8000')
    # At least two reduce tasks per core: with fewer, adaptive execution coalesced the shuffle into three partitions
    # for two cores, and the third ran alone for a third of the stage.
    spark.conf.set(
        'spark.sql.adaptive.coalescePartitions.minPartitionNum', str(2 * spark.sparkContext.defaultParallelism)
    )


def run(spark: SparkSession, args: argparse.Namespace) -> dict:
    """Runs the job; returns the metrics it wrote."""
    started = time.time()
    spark.conf.set('spark.sql.session.timeZone', 'UTC')  # event_ts and local_time depend on it
    tune(spark)
    check_input(spark, args.input)
    ctx = EnrichmentContext(load_site_timezones(spark, args.site_timezones), COUNTRY_REGIONS)
    paths = output_paths(args.output, args.run_id, args.run_date)

    # Two passes over the input (events, then rejects) and no cache: a day of raw events does not fit in
    # memory on EMR either. The counts ride along the first pass as observed metrics; the observation sits
    # above the split, so it sees every line.
    counts = Observation('counts')
    classified = classify(read_raw(spark, args.input)).observe(
        counts,
        F.count(F.lit(1)).alias('rowsIn'),
        *[F.count(F.when(F.col('reject_reason') == reason, 1)).alias(reason) for reason in REJECT_REASONS],
    )

    events = apply_enrichments(valid_events(classified), ctx).withColumn('run_id', F.lit(args.run_id))
    # The run date is the path, not a column: a constant partition column would be a sort key the window's
    # order does not start with. Same layout (<output>/dt=<run-date>/site=<site>/), same dynamic overwrite;
    # Spark's staging folder is now under dt=<run-date>/, so a killed attempt's is removed here.
    events_path = f'{paths["events"]}/dt={args.run_date}'
    remove_stale_staging(spark, events_path)
    (
        events.write.mode('overwrite')
        .option('partitionOverwriteMode', 'dynamic')  # replace only this run's dt/site partitions
        .option('compression', args.compression)
        .partitionBy('site')
        .parquet(events_path)
    )
    observed = counts.get
    by_reason = {reason: observed[reason] for reason in REJECT_REASONS}

    # A reject keeps the line as it came when Spark could not parse it, else the fields as parsed. The
    # second read of the input only happens when the first pass counted a reject.
    if sum(by_reason.values()):
        rejects = (
            classify(read_raw(spark, args.input))
            .where(F.col('reject_reason').isNotNull())
            .select(
                F.col('reject_reason').alias('reason'),
                F.coalesce(F.col(CORRUPT_COLUMN), F.to_json(F.struct(*RAW_COLUMNS))).alias('raw'),
                F.lit(args.run_id).alias('run_id'),
            )
        )
    else:
        rejects = spark.createDataFrame([], REJECT_SCHEMA)
    # Plain overwrite of the run's own folder, also when empty: an earlier attempt's rejects go away.
    # repartition, not coalesce: coalesce(1) would read the whole input in a single task.
    rejects.repartition(1).write.mode('overwrite').json(paths['rejects'])

    rows_rejected = sum(by_reason.values())
    rows_out = observed['rowsIn'] - rows_rejected
    metrics = {
        'runId': args.run_id,
        'runDate': args.run_date,
        'input': args.input,
        'output': args.output,
        'rowsIn': observed['rowsIn'],
        'rowsOut': rows_out,
        'rowsRejected': rows_rejected,
        'rejectsByReason': by_reason,
        'durationSeconds': round(time.time() - started, 3),
        'finishedAt': dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds'),
        'enrichments': [entry.name for entry in REGISTRY],
        'sparkVersion': spark.version,
        'paths': paths,
    }
    write_text(spark, paths['metrics'], json.dumps(metrics, indent=2) + '\n')
    return metrics


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog='denormalize.py', description='Denormalize raw web events into enriched Parquet.'
    )
    parser.add_argument('--input', required=True, help='JSON lines: file, folder or glob (s3:// or local)')
    parser.add_argument('--output', required=True, help='output root (s3:// or local)')
    parser.add_argument('--run-id', required=True)
    parser.add_argument('--run-date', required=True, help='YYYY-MM-DD: the output dt partition')
    parser.add_argument('--site-timezones', default='', help='JSON object site → IANA zone, merged over the defaults')
    parser.add_argument(
        '--compression',
        default='zstd',
        choices=('zstd', 'snappy', 'gzip', 'none'),
        help='Parquet compression codec (default zstd)',
    )
    args = parser.parse_args(argv)
    for name in ('input', 'output', 'run_id'):
        if not getattr(args, name).strip():
            parser.error(f'--{name.replace("_", "-")} must not be empty')
    try:
        if not re.fullmatch(r'\d{4}-\d{2}-\d{2}', args.run_date):
            raise ValueError
        dt.date.fromisoformat(args.run_date)
    except ValueError:
        parser.error(f'--run-date must be a date YYYY-MM-DD, got {args.run_date!r}')
    return args


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _describe(error: BaseException) -> str:
    """One line for an unexpected failure: the Java exception behind a Py4J error, else the Python one."""
    java_exception = getattr(error, 'java_exception', None)
    text = java_exception.toString() if java_exception is not None else f'{type(error).__name__}: {error}'
    return text.strip().splitlines()[0]


def main(argv: list[str] = None, spark: SparkSession = None) -> int:
    """Entry point; exits 2 on bad arguments (argparse), 1 on any failure, with the reason on stderr.
    With a session given (tests) it neither creates nor stops one."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    own_session = spark is None
    if own_session:
        # Spark's own INFO log stays on, as on EMR: step logs show the stages, and the local emulator
        # reads the driver log to tell when the first Spark job starts.
        spark = SparkSession.builder.appName(f'denormalize {args.run_id}').getOrCreate()
    failure = None
    try:
        metrics = run(spark, args)
    except JobError as error:
        failure = str(error)
    except Exception as error:  # a Spark failure: the full trace for the step log, then one line
        traceback.print_exc()
        failure = _describe(error)
    finally:
        if own_session:
            spark.stop()
    if failure:
        # Spark logs its shutdown after this, so the reason is printed as an exception line would be:
        # that is what step failure reports (EMR's, the local emulator's) pick out of a step's output.
        print(f'denormalize.JobError: {failure}', file=sys.stderr)
        return 1
    print(
        f'denormalize: run {metrics["runId"]}: {metrics["rowsIn"]} rows in, {metrics["rowsOut"]} out, '
        f'{metrics["rowsRejected"]} rejected in {metrics["durationSeconds"]} s; '
        f'metrics at {metrics["paths"]["metrics"]}'
    )
    return 0


if __name__ == '__main__':
    sys.exit(main())
