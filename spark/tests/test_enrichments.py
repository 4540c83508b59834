"""One test per registry entry: small rows in, the entry's columns out."""

import datetime as dt

import pytest

import denormalize

WINDOWS_CHROME = (
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36'
)
WINDOWS_EDGE = WINDOWS_CHROME + ' Edg/130.0.2849.68'
WINDOWS_OPERA = WINDOWS_CHROME + ' OPR/114.0.0.0'
WINDOWS_FIREFOX = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0'
WINDOWS_IE = 'Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko'
MAC_SAFARI = (
    'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) '
    'Version/18.1 Safari/605.1.15'
)
LINUX_FIREFOX = 'Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0'
CHROMEBOOK = (
    'Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36'
)
IPHONE_SAFARI = (
    'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) '
    'Version/18.1 Mobile/15E148 Safari/604.1'
)
IPHONE_CHROME = (
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) '
    'CriOS/130.0.6723.90 Mobile/15E148 Safari/604.1'
)
IPHONE_FIREFOX = (
    'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) '
    'FxiOS/132.0 Mobile/15E148 Safari/605.1.15'
)
ANDROID_CHROME = (
    'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36'
)
ANDROID_SAMSUNG = (
    'Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) '
    'SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36'
)
ANDROID_TABLET = (
    'Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36'
)
IPAD = (
    'Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) '
    'Version/18.1 Mobile/15E148 Safari/604.1'
)
GOOGLEBOT = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)'
CURL = 'curl/8.5.0'


def outputs(rows, columns):
    return [tuple(row[column] for column in columns) for row in rows]


def test_page_splits_the_url_into_a_normalised_host_and_a_path(enrich):
    rows = enrich(
        [
            {'url': 'https://WWW.Shop.Example.de/products/12?utm_source=x#top'},
            {'url': 'https://news.example.com'},
            {'url': 'not a url'},
        ],
        through='page',
    )

    assert outputs(rows, ['page_host', 'page_path']) == [
        ('shop.example.de', '/products/12'),
        ('news.example.com', ''),
        (None, None),
    ]


def test_utm_extracts_and_decodes_campaign_parameters(enrich):
    rows = enrich(
        [
            {
                'url': 'https://a.example/?utm_source=google&utm_medium=cpc&utm_campaign=winter%20sale&utm_term=red+shoes'
                '&utm_content=banner_1'
            },
            {'url': 'https://a.example/p?x=1&utm_campaign=50%off&utm_source=partner#frag'},
            {'url': 'https://a.example/p?my_utm_source=no&utm_source='},
        ],
        through='utm',
    )

    columns = ['utm_source', 'utm_medium', 'utm_campaign', 'utm_term', 'utm_content']
    assert outputs(rows, columns) == [
        ('google', 'cpc', 'winter sale', 'red shoes', 'banner_1'),
        ('partner', None, '50%off', None, None),  # invalid percent-encoding is kept as it came
        (None, None, None, None, None),
    ]


def test_referrer_categorises_campaign_direct_internal_search_social_and_other(enrich):
    page = 'https://www.news.example.com/article/1'
    rows = enrich(
        [
            {'url': page + '?utm_source=newsletter', 'referrer': None},
            {'url': page + '?gclid=abc', 'referrer': 'https://www.google.com/'},
            {'url': page, 'referrer': None},
            {'url': page, 'referrer': '  '},
            {'url': page, 'referrer': 'https://news.example.com/'},
            {'url': page, 'referrer': 'https://www.google.de/search?q=x'},
            {'url': page, 'referrer': 'https://search.yahoo.com/search?p=x'},
            {'url': page, 'referrer': 'https://t.co/AbC123'},
            {'url': page, 'referrer': 'https://m.facebook.com/'},
            {'url': page, 'referrer': 'https://news.ycombinator.com/'},
            {'url': page, 'referrer': 'https://notgoogle.example/'},
        ],
        through='referrer',
    )

    assert outputs(rows, ['referrer_host', 'referrer_category']) == [
        (None, 'campaign'),
        ('google.com', 'campaign'),
        (None, 'direct'),
        (None, 'direct'),
        ('news.example.com', 'internal'),
        ('google.de', 'search'),
        ('search.yahoo.com', 'search'),
        ('t.co', 'social'),
        ('m.facebook.com', 'social'),
        ('news.ycombinator.com', 'other'),
        ('notgoogle.example', 'other'),
    ]


UA_CASES = [  # user agent, device type, browser family, OS family
    (WINDOWS_CHROME, 'desktop', 'Chrome', 'Windows'),
    (WINDOWS_EDGE, 'desktop', 'Edge', 'Windows'),
    (WINDOWS_OPERA, 'desktop', 'Opera', 'Windows'),
    (WINDOWS_FIREFOX, 'desktop', 'Firefox', 'Windows'),
    (WINDOWS_IE, 'desktop', 'Internet Explorer', 'Windows'),
    (MAC_SAFARI, 'desktop', 'Safari', 'macOS'),
    (LINUX_FIREFOX, 'desktop', 'Firefox', 'Linux'),
    (CHROMEBOOK, 'desktop', 'Chrome', 'Chrome OS'),
    (IPHONE_SAFARI, 'mobile', 'Safari', 'iOS'),
    (IPHONE_CHROME, 'mobile', 'Chrome', 'iOS'),
    (IPHONE_FIREFOX, 'mobile', 'Firefox', 'iOS'),
    (ANDROID_CHROME, 'mobile', 'Chrome', 'Android'),
    (ANDROID_SAMSUNG, 'mobile', 'Samsung Internet', 'Android'),
    (ANDROID_TABLET, 'tablet', 'Chrome', 'Android'),
    (IPAD, 'tablet', 'Safari', 'iOS'),
    (GOOGLEBOT, 'bot', 'Bot', 'Other'),
    (CURL, 'desktop', 'Other', 'Other'),
    (None, 'unknown', 'Other', 'Other'),
]


@pytest.fixture(scope='module')
def user_agent_rows(enrich):
    return enrich([{'user_agent': case[0]} for case in UA_CASES], through='os')


def test_device_type_tells_bots_tablets_phones_and_desktops_apart(user_agent_rows):
    assert [row['device_type'] for row in user_agent_rows] == [case[1] for case in UA_CASES]


def test_browser_family_is_the_browser_and_not_the_engine_it_imitates(user_agent_rows):
    assert [row['browser_family'] for row in user_agent_rows] == [case[2] for case in UA_CASES]


def test_os_family_puts_ios_before_macos(user_agent_rows):
    assert [row['os_family'] for row in user_agent_rows] == [case[3] for case in UA_CASES]


def test_local_time_uses_the_site_time_zone_with_daylight_saving(enrich):
    rows = enrich(
        [
            {'site': 'news.example.com', 'event_time': '2026-11-27T03:30:00Z'},  # New York, EST
            {'site': 'news.example.com', 'event_time': '2026-07-01T03:30:00Z'},  # New York, EDT
            {'site': 'video.example.jp', 'event_time': '2026-11-27T16:00:00.250Z'},  # Tokyo, Saturday
            {'site': 'travel.example.com.au', 'event_time': '2026-11-27T01:00:00+01:00'},  # Sydney, AEDT
            {'site': 'unmapped.example', 'event_time': '2026-11-29T13:15:00Z'},  # UTC, Sunday
        ],
        through='local_time',
    )

    columns = ['site_timezone', 'local_time', 'local_date', 'local_hour', 'local_day_of_week', 'is_weekend', 'day_part']
    assert outputs(rows, columns) == [
        ('America/New_York', dt.datetime(2026, 11, 26, 22, 30), dt.date(2026, 11, 26), 22, 4, False, 'evening'),
        ('America/New_York', dt.datetime(2026, 6, 30, 23, 30), dt.date(2026, 6, 30), 23, 2, False, 'evening'),
        ('Asia/Tokyo', dt.datetime(2026, 11, 28, 1, 0, 0, 250000), dt.date(2026, 11, 28), 1, 6, True, 'night'),
        ('Australia/Sydney', dt.datetime(2026, 11, 27, 11, 0), dt.date(2026, 11, 27), 11, 5, False, 'morning'),
        ('UTC', dt.datetime(2026, 11, 29, 13, 15), dt.date(2026, 11, 29), 13, 7, True, 'afternoon'),
    ]


def test_local_time_takes_its_site_zones_from_the_run_context(enrich):
    ctx = denormalize.EnrichmentContext({'intranet.example': 'Asia/Kolkata'}, denormalize.COUNTRY_REGIONS)

    rows = enrich([{'site': 'intranet.example', 'event_time': '2026-11-27T00:00:00Z'}], through='local_time', ctx=ctx)

    assert outputs(rows, ['site_timezone', 'local_time']) == [('Asia/Kolkata', dt.datetime(2026, 11, 27, 5, 30))]


def test_visit_features_follow_event_time_within_each_site_session(enrich):
    rows = enrich(
        [  # input order is not time order; the same session id on another site is another visit
            {
                'event_id': 'a2',
                'session_id': 's-a',
                'event_time': '2026-11-27T10:01:30Z',
                'url': 'https://news.example.com/b',
                'referrer': 'https://news.example.com/a',
            },
            {
                'event_id': 'a1',
                'session_id': 's-a',
                'event_time': '2026-11-27T10:00:00Z',
                'url': 'https://news.example.com/a',
                'referrer': 'https://www.google.com/',
            },
            {
                'event_id': 'a3',
                'session_id': 's-a',
                'event_time': '2026-11-27T10:02:00.500Z',
                'url': 'https://news.example.com/c',
                'referrer': 'https://news.example.com/b',
            },
            {
                'event_id': 'b1',
                'session_id': 's-a',
                'site': 'shop.example.de',
                'event_time': '2026-11-27T09:00:00Z',
                'url': 'https://shop.example.de/x',
            },
        ],
        through='visit',
    )

    columns = [
        'event_id',
        'session_event_count',
        'session_event_index',
        'session_start',
        'session_duration_seconds',
        'landing_page',
        'entry_channel',
        'is_landing',
        'is_exit',
        'is_bounce',
    ]
    start = dt.datetime(2026, 11, 27, 10, 0)
    assert outputs(rows, columns) == [
        ('a1', 3, 1, start, 120.5, '/a', 'search', True, False, False),
        ('a2', 3, 2, start, 120.5, '/a', 'search', False, False, False),
        ('a3', 3, 3, start, 120.5, '/a', 'search', False, True, False),
        ('b1', 1, 1, dt.datetime(2026, 11, 27, 9, 0), 0.0, '/x', 'direct', True, True, True),
    ]


def test_region_maps_countries_in_any_case_and_unknowns(enrich):
    rows = enrich(
        [
            {'country': 'de'},
            {'country': 'US'},
            {'country': ' jp '},
            {'country': 'BR'},
            {'country': 'ZA'},
            {'country': 'AE'},
            {'country': 'ZZ'},
            {'country': None},
        ],
        through='region',
    )

    assert [row['region'] for row in rows] == [
        'Europe',
        'North America',
        'Asia Pacific',
        'Latin America',
        'Africa',
        'Middle East',
        'Unknown',
        'Unknown',
    ]


def test_every_registry_entry_is_documented_and_tested_here():
    tested = {'page', 'utm', 'referrer', 'device', 'browser', 'os', 'local_time', 'visit', 'region'}

    assert [entry.name for entry in denormalize.REGISTRY if entry.name not in tested] == []
    assert all(entry.description and entry.outputs for entry in denormalize.REGISTRY)


def test_an_entry_registered_before_the_columns_it_needs_is_refused(spark):
    frame = spark.createDataFrame([], denormalize.RAW_SCHEMA)
    visit_first = [entry for entry in denormalize.REGISTRY if entry.name == 'visit']
    ctx = denormalize.EnrichmentContext({}, {})

    with pytest.raises(ValueError, match="'visit' needs column"):
        denormalize.apply_enrichments(frame, ctx, visit_first)
