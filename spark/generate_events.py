#!/usr/bin/env python3
"""Deterministic generator of raw web events (JSON lines), the input of denormalize.py.

    generate_events.py --events N --date YYYY-MM-DD --out <file, dir/ or -> [--seed S] [--malformed-rate R]

The same arguments always give byte-identical output, so tests, `npm start` and the benchmark can all
rely on exact counts. Standard library only: it runs with any python3, without the Spark venv.

Distributions, chosen to exercise every enrichment the way real traffic does:
- sites: Zipf-like (a few big sites, a long tail), each with its own pages and visitor pool;
- sessions: several events each (geometric, mean ~5), seconds to minutes apart, more of them in the
  site's local daytime;
- devices: a desktop/mobile/tablet mix with real-looking user agents (Chrome, Safari, Firefox, Edge,
  Samsung Internet, Opera, bots);
- referrers: direct, search, social, campaign links with UTM parameters, other sites; later events of a
  session are referred by the previous page;
- countries: weighted towards the sites' home markets, with a long tail.
A fraction (--malformed-rate) of lines is broken on purpose, in each of the ways the job must reject:
bad JSON, a missing event time, an unparsable event time, a field of the wrong type.
"""

import argparse
import bisect
import datetime as dt
import itertools
import json
import math
import os
import random
import sys

# (host, IANA time zone, home countries): the job's default site → time zone mapping holds the same hosts.
SITES = [
    ('news.example.com', 'America/New_York', ['US', 'CA']),
    ('shop.example.de', 'Europe/Berlin', ['DE', 'AT', 'CH']),
    ('blog.example.fr', 'Europe/Paris', ['FR', 'BE']),
    ('video.example.jp', 'Asia/Tokyo', ['JP']),
    ('travel.example.com.au', 'Australia/Sydney', ['AU', 'NZ']),
    ('sport.example.co.uk', 'Europe/London', ['GB', 'IE']),
    ('recipes.example.com.br', 'America/Sao_Paulo', ['BR', 'AR']),
    ('games.example.in', 'Asia/Kolkata', ['IN']),
    ('music.example.es', 'Europe/Madrid', ['ES', 'MX']),
    ('tech.example.io', 'America/Los_Angeles', ['US']),
    ('weather.example.za', 'Africa/Johannesburg', ['ZA', 'NG', 'KE']),
    ('finance.example.ae', 'Asia/Dubai', ['AE', 'SA', 'EG']),
]
SITE_WEIGHTS = [1 / (rank**1.1) for rank in range(1, len(SITES) + 1)]

# Visitors from outside the site's home market come from these, in this proportion.
OTHER_COUNTRIES = [
    'US',
    'GB',
    'DE',
    'FR',
    'IN',
    'BR',
    'JP',
    'CN',
    'CA',
    'AU',
    'NL',
    'IT',
    'ES',
    'PL',
    'SE',
    'MX',
    'KR',
    'ID',
    'TR',
    'NG',
    'ZA',
    'SG',
    'PH',
    'VN',
    'UA',
    'IE',
    'PT',
    'CL',
]
HOME_SHARE = 0.8

# (user agent, screen sizes, weight). Weights approximate a 2020s web mix: about 55% mobile.
USER_AGENTS = [
    (
        'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) '
        'Chrome/130.0.0.0 Safari/537.36',
        [(1920, 1080), (1366, 768), (1536, 864)],
        20,
    ),
    (
        'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) '
        'Chrome/130.0.0.0 Safari/537.36 Edg/130.0.2849.68',
        [(1920, 1080), (1536, 864)],
        6,
    ),
    (
        'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0',
        [(1920, 1080), (2560, 1440)],
        4,
    ),
    (
        'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) '
        'Version/18.1 Safari/605.1.15',
        [(1440, 900), (1512, 982)],
        5,
    ),
    (
        'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) '
        'Chrome/130.0.0.0 Safari/537.36',
        [(1440, 900), (1728, 1117)],
        5,
    ),
    (
        'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36',
        [(1920, 1080)],
        1,
    ),
    (
        'Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) '
        'Chrome/130.0.0.0 Safari/537.36',
        [(1366, 768)],
        1,
    ),
    ('Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0', [(1920, 1080)], 1),
    (
        'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) '
        'Chrome/129.0.0.0 Safari/537.36 OPR/114.0.0.0',
        [(1920, 1080)],
        1,
    ),
    (
        'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) '
        'Version/18.1 Mobile/15E148 Safari/604.1',
        [(390, 844), (393, 852), (430, 932)],
        18,
    ),
    (
        'Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) '
        'CriOS/130.0.6723.90 Mobile/15E148 Safari/604.1',
        [(390, 844)],
        3,
    ),
    (
        'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) '
        'Chrome/130.0.0.0 Mobile Safari/537.36',
        [(412, 915), (360, 800), (384, 854)],
        22,
    ),
    (
        'Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) '
        'SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36',
        [(384, 832)],
        5,
    ),
    ('Mozilla/5.0 (Android 14; Mobile; rv:132.0) Gecko/132.0 Firefox/132.0', [(412, 915)], 1),
    (
        'Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) '
        'Version/18.1 Mobile/15E148 Safari/604.1',
        [(820, 1180), (1024, 1366)],
        4,
    ),
    (
        'Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) '
        'Chrome/130.0.0.0 Safari/537.36',
        [(1600, 2560)],
        1,
    ),
    ('Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)', [(1024, 768)], 1),
    ('Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)', [(1024, 768)], 1),
]

SEARCH_REFERRERS = [
    'https://www.google.com/',
    'https://www.google.de/',
    'https://www.bing.com/search?q=news',
    'https://duckduckgo.com/',
    'https://search.yahoo.com/search?p=recipes',
    'https://yandex.ru/search/?text=weather',
    'https://www.baidu.com/s?wd=games',
]
SOCIAL_REFERRERS = [
    'https://www.facebook.com/',
    'https://m.facebook.com/',
    'https://t.co/AbC123xYz',
    'https://www.instagram.com/',
    'https://www.linkedin.com/feed/',
    'https://www.reddit.com/r/news/',
    'https://www.youtube.com/',
    'https://www.tiktok.com/',
    'https://x.com/home',
]
OTHER_REFERRERS = [
    'https://news.ycombinator.com/',
    'https://en.wikipedia.org/wiki/Web_analytics',
    'https://www.partner-site.net/links',
    'https://forum.example.org/t/12345',
]
CAMPAIGNS = [  # (utm_source, utm_medium, utm_campaign, referrer or None)
    ('newsletter', 'email', 'weekly_digest', None),
    ('google', 'cpc', 'black_friday_2026', 'https://www.google.com/'),
    ('facebook', 'paid_social', 'winter%20sale', 'https://www.facebook.com/'),
    ('partner', 'affiliate', 'spring_launch', 'https://www.partner-site.net/links'),
    ('bing', 'cpc', 'brand_terms', 'https://www.bing.com/'),
]
# entry referrer kind: weight
ENTRY_KINDS = [('direct', 30), ('search', 35), ('social', 15), ('campaign', 12), ('other', 8)]

PAGE_SECTIONS = ['', 'news', 'products', 'article', 'category', 'search', 'account', 'checkout', 'about']
EVENT_TYPES = [('page_view', 70), ('click', 18), ('scroll', 8), ('conversion', 2), ('video_play', 2)]
CUSTOM_PLANS = ['free', 'free', 'free', 'plus', 'premium']
LANGUAGES = ['en', 'de', 'fr', 'ja', 'es', 'pt', 'hi', 'ar']

# One encoder for all lines: json.dumps with non-default separators builds a new encoder per call.
_to_json = json.JSONEncoder(separators=(',', ':')).encode

MALFORMED_KINDS = ['bad_json', 'missing_event_time', 'invalid_event_time', 'wrong_type']


class WeightedChoice:
    """O(log n) weighted draw from a fixed table; random.choices recomputes cumulative weights every call."""

    def __init__(self, items, weights):
        self.items = list(items)
        self.cumulative = list(itertools.accumulate(weights))
        self.total = self.cumulative[-1]

    def draw(self, rng):
        return self.items[bisect.bisect_right(self.cumulative, rng.random() * self.total)]


def parse_args(argv):
    parser = argparse.ArgumentParser(description='Generate deterministic raw web events as JSON lines.')
    parser.add_argument('--events', type=int, required=True, help='number of lines to write (malformed included)')
    parser.add_argument('--date', required=True, help='YYYY-MM-DD (UTC) the events happen on')
    parser.add_argument(
        '--out',
        required=True,
        help="output file; a directory (existing, or ending with '/') gets part-00000.json; '-' is stdout",
    )
    parser.add_argument('--seed', type=int, default=42)
    parser.add_argument(
        '--malformed-rate', type=float, default=0.001, help='share of lines broken on purpose (default 0.001)'
    )
    args = parser.parse_args(argv)
    if args.events < 0:
        parser.error('--events must be >= 0')
    if not 0 <= args.malformed_rate <= 1:
        parser.error('--malformed-rate must be between 0 and 1')
    try:
        args.day = dt.datetime.strptime(args.date, '%Y-%m-%d').replace(tzinfo=dt.timezone.utc)
    except ValueError:
        parser.error(f'--date must be YYYY-MM-DD, got {args.date!r}')
    return args


class EventGenerator:
    def __init__(self, seed, day, malformed_rate):
        self.rng = random.Random(seed)
        self.day_start = day.timestamp()
        self.malformed_rate = malformed_rate
        self.sites = WeightedChoice(range(len(SITES)), SITE_WEIGHTS)
        self.agents = WeightedChoice(range(len(USER_AGENTS)), [w for _, _, w in USER_AGENTS])
        self.entry_kinds = WeightedChoice([k for k, _ in ENTRY_KINDS], [w for _, w in ENTRY_KINDS])
        self.event_types = WeightedChoice([k for k, _ in EVENT_TYPES], [w for _, w in EVENT_TYPES])
        # Per site: a page catalogue whose popularity is Zipf-like, and a visitor pool where returning
        # visitors are common (Zipf over visitor ranks).
        self.pages = []
        for _host, _tz, _countries in SITES:
            paths = ['/'] + [
                f'/{section}/{self.rng.randrange(10_000, 99_999)}' if section else '/'
                for section in PAGE_SECTIONS[1:]
                for _ in range(6)
            ]
            self.pages.append(WeightedChoice(paths, [1 / (rank**0.9) for rank in range(1, len(paths) + 1)]))
        self.visitor_ranks = WeightedChoice(range(1, 50_001), [1 / (rank**0.7) for rank in range(1, 50_001)])
        # Local daytime is busier: hour-of-day weights, a smooth day curve peaking around 20:00 local.
        self.local_hours = WeightedChoice(range(24), [1.2 + math.sin((h - 14) / 24 * 2 * math.pi) for h in range(24)])
        self.utc_offsets = [self._utc_offset_hours(tz, day) for _, tz, _ in SITES]
        self.session_counter = 0
        self.malformed_count = 0

    @staticmethod
    def _utc_offset_hours(tz_name, day):
        try:
            from zoneinfo import ZoneInfo

            return ZoneInfo(tz_name).utcoffset(day.replace(tzinfo=None)).total_seconds() / 3600
        except Exception:  # zoneinfo or tzdata unavailable: daytime shape only, no tz shift
            return 0.0

    def hex_id(self, bits):
        return f'{self.rng.getrandbits(bits):0{bits // 4}x}'

    def lines(self, count):
        """Yields `count` JSON lines, session after session."""
        emitted = 0
        while emitted < count:
            for event in self.session():
                if emitted == count:
                    return
                emitted += 1
                if self.malformed_rate and self.rng.random() < self.malformed_rate:
                    self.malformed_count += 1
                    yield self.malformed(event)
                else:
                    yield _to_json(event)

    def session(self):
        rng = self.rng
        site_index = self.sites.draw(rng)
        host, _tz, home_countries = SITES[site_index]
        self.session_counter += 1
        visitor_id = f'v-{site_index:02d}-{self.visitor_ranks.draw(rng):06d}'
        session_id = f's-{self.session_counter:09d}-{self.hex_id(32)}'
        agent, screens, _ = USER_AGENTS[self.agents.draw(rng)]
        width, height = screens[rng.randrange(len(screens))]
        country = rng.choice(home_countries) if rng.random() < HOME_SHARE else rng.choice(OTHER_COUNTRIES)
        local_hour = self.local_hours.draw(rng)
        utc_hour = (local_hour - self.utc_offsets[site_index]) % 24
        # Whole-day UTC window: a session starts within its local busy hour, mapped back to the UTC day.
        start = self.day_start + (utc_hour * 3600 + rng.random() * 3600) % 86_400
        custom = {
            'plan': rng.choice(CUSTOM_PLANS),
            'ab_group': rng.choice('AB'),
            'logged_in': 'true' if rng.random() < 0.35 else 'false',
            'lang': rng.choice(LANGUAGES),
        }

        kind = self.entry_kinds.draw(rng)
        query = ''
        if kind == 'direct':
            referrer = None
        elif kind == 'search':
            referrer = rng.choice(SEARCH_REFERRERS)
        elif kind == 'social':
            referrer = rng.choice(SOCIAL_REFERRERS)
        elif kind == 'campaign':
            source, medium, campaign, referrer = rng.choice(CAMPAIGNS)
            query = f'?utm_source={source}&utm_medium={medium}&utm_campaign={campaign}'
            if medium == 'cpc':
                query += f'&utm_term=kw{rng.randrange(100)}&gclid={self.hex_id(64)}'
        else:
            referrer = rng.choice(OTHER_REFERRERS)

        # Geometric number of events, mean ~5, a quarter of sessions bounce after one event.
        events = 1 if rng.random() < 0.25 else 2 + int(rng.expovariate(1 / 4))
        pages = self.pages[site_index]
        clock = start
        for index in range(events):
            url = f'https://{host}{pages.draw(rng)}{query if index == 0 else ""}'
            yield {
                'event_id': self.hex_id(128),
                'event_time': _iso_utc(clock),
                'event_type': 'page_view' if index == 0 else self.event_types.draw(rng),
                'site': host,
                'visitor_id': visitor_id,
                'session_id': session_id,
                'url': url,
                'referrer': referrer,
                'user_agent': agent,
                'country': country,
                'screen_width': width,
                'screen_height': height,
                'custom': custom,
            }
            referrer = url
            clock += rng.expovariate(1 / 40)

    def malformed(self, event):
        kind = MALFORMED_KINDS[self.rng.randrange(len(MALFORMED_KINDS))]
        if kind == 'bad_json':
            text = _to_json(event)
            return text[: self.rng.randrange(10, len(text) - 1)]
        broken = dict(event)
        if kind == 'missing_event_time':
            del broken['event_time']
        elif kind == 'invalid_event_time':
            broken['event_time'] = 'yesterday at noon'
        else:
            broken['screen_width'] = 'wide'
        return _to_json(broken)


_DAY_MS = 86_400_000
_day_prefixes = {}


def _iso_utc(epoch_seconds):
    # Integer arithmetic with a per-day cache: datetime.strftime was a third of the generator's time.
    millis = int(epoch_seconds * 1000)
    day, in_day = divmod(millis, _DAY_MS)
    prefix = _day_prefixes.get(day)
    if prefix is None:
        prefix = _day_prefixes[day] = dt.datetime.fromtimestamp(day * 86_400, dt.timezone.utc).strftime('%Y-%m-%dT')
    seconds, ms = divmod(in_day, 1000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return f'{prefix}{hour:02d}:{minute:02d}:{second:02d}.{ms:03d}Z'


def open_output(out):
    if out == '-':
        return sys.stdout, '<stdout>'
    if out.endswith('/') or os.path.isdir(out):
        os.makedirs(out, exist_ok=True)
        out = os.path.join(out, 'part-00000.json')
    else:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    return open(out, 'w', encoding='utf-8', buffering=1 << 20), out


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    generator = EventGenerator(args.seed, args.day, args.malformed_rate)
    stream, path = open_output(args.out)
    written = 0
    try:
        batch = []
        for line in generator.lines(args.events):
            batch.append(line)
            if len(batch) == 10_000:
                stream.write('\n'.join(batch) + '\n')
                written += len(batch)
                batch = []
        if batch:
            stream.write('\n'.join(batch) + '\n')
            written += len(batch)
    finally:
        if stream is not sys.stdout:
            stream.close()
    print(
        f'generate_events: wrote {written} events ({generator.malformed_count} malformed) for {args.date} to {path}',
        file=sys.stderr,
    )


if __name__ == '__main__':
    main()
