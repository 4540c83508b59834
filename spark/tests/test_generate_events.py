"""The event generator: deterministic, realistic enough to exercise every enrichment, malformed on request."""

import collections
import json

import pytest

import denormalize
import generate_events


def generate(tmp_path, *extra, name='events.json'):
    path = tmp_path / name
    generate_events.main(['--events', '2000', '--date', '2026-11-27', '--out', str(path), *extra])
    return path.read_text().splitlines()


def test_the_same_seed_gives_the_same_lines_and_another_seed_others(tmp_path):
    first = generate(tmp_path, '--seed', '3', name='a.json')
    again = generate(tmp_path, '--seed', '3', name='b.json')
    other = generate(tmp_path, '--seed', '4', name='c.json')

    assert len(first) == 2000
    assert first == again
    assert first != other


def test_events_have_sessions_sites_referrers_and_devices_in_realistic_mixes(tmp_path):
    events = [json.loads(line) for line in generate(tmp_path, '--malformed-rate', '0')]

    sessions = collections.Counter(event['session_id'] for event in events)
    sites = collections.Counter(event['site'] for event in events)
    assert len(events) == 2000 and len({event['event_id'] for event in events}) == 2000
    assert 3 <= len(events) / len(sessions) <= 7
    assert sites.most_common()[0][1] > 4 * sites.most_common()[-1][1]  # Zipf-like: a head and a tail
    assert set(sites) <= set(denormalize.SITE_TIMEZONES)  # every site has a time zone in the job
    assert all(event['event_time'].startswith('2026-11-2') for event in events)
    assert sum('utm_source=' in event['url'] for event in events) > 20
    assert sum(event['referrer'] is None for event in events) > 100
    assert sum('Mobile' in event['user_agent'] for event in events) > 500


def test_the_malformed_rate_breaks_that_share_of_lines(tmp_path):
    lines = generate(tmp_path, '--malformed-rate', '0.1')

    def broken(line):
        try:
            event = json.loads(line)
        except ValueError:
            return True
        return 'event_time' not in event or not event['event_time'][:1].isdigit() or event['screen_width'] == 'wide'

    assert 140 <= sum(map(broken, lines)) <= 260


def test_a_folder_output_gets_a_part_file(tmp_path):
    generate_events.main(['--events', '5', '--date', '2026-11-27', '--out', str(tmp_path / 'raw') + '/'])

    assert len((tmp_path / 'raw' / 'part-00000.json').read_text().splitlines()) == 5


@pytest.mark.parametrize(
    'argv',
    [
        ['--events', '5', '--date', '27.11.2026', '--out', '-'],
        ['--events', '-1', '--date', '2026-11-27', '--out', '-'],
        ['--events', '5', '--date', '2026-11-27', '--out', '-', '--malformed-rate', '2'],
    ],
)
def test_bad_arguments_are_refused(argv):
    with pytest.raises(SystemExit) as exit_info:
        generate_events.main(argv)

    assert exit_info.value.code == 2
