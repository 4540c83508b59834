"""The whole job on small files: rejects, metrics, output layout, idempotent reruns, argument errors."""

import glob
import json
import os

import pytest

import denormalize
import generate_events

RUN_DATE = '2026-11-27'


def event(**fields):
    base = {
        'event_id': 'e-1',
        'event_time': '2026-11-27T10:00:00Z',
        'site': 'news.example.com',
        'visitor_id': 'v-1',
        'session_id': 's-1',
        'url': 'https://news.example.com/',
        'user_agent': 'Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0.0.0 Safari/537.36',
        'country': 'US',
        'screen_width': 1920,
        'screen_height': 1080,
        'custom': {'plan': 'free'},
    }
    return json.dumps({**base, **fields})


def job_args(input_path, output_path, run_id='run-1', run_date=RUN_DATE):
    return denormalize.parse_args(
        ['--input', str(input_path), '--output', str(output_path), '--run-id', run_id, '--run-date', run_date]
    )


def part_files(root, run_date='*'):
    return sorted(glob.glob(os.path.join(root, f'dt={run_date}', 'site=*', 'part-*.parquet')))


MALFORMED = {  # line → the reason it must be rejected with
    '{"event_id":"x1","event_time":"2026-11-27T10:00:00Z","site":"news.exa': 'malformed_json',
    'not json at all': 'malformed_json',
    '[1, 2, 3]': 'malformed_json',
    event(event_id='x2', screen_width='wide'): 'wrong_type',
    event(event_id='x3', custom='plan=free'): 'wrong_type',
    json.dumps({'event_id': 'x4', 'site': 'news.example.com', 'session_id': 's-9'}): 'missing_event_time',
    event(event_id='x5', event_time='yesterday at noon'): 'invalid_event_time',
    event(event_id='x6', event_time=1764237600): 'invalid_event_time',
    event(event_id='x7', site=''): 'missing_site',
    event(event_id='x8', session_id=None): 'missing_session_id',
}


@pytest.fixture(scope='module')
def mixed_run(spark, tmp_path_factory):
    """3 valid events on two sites plus one line of every malformed kind (and a blank line, not a record)."""
    root = tmp_path_factory.mktemp('mixed')
    valid = [
        event(event_id='v1'),
        event(event_id='v2', event_time='2026-11-27T10:05:00Z'),
        event(event_id='v3', site='shop.example.de', session_id='s-2'),
    ]
    lines = valid[:2] + list(MALFORMED) + [''] + valid[2:]
    (root / 'in').mkdir()
    (root / 'in' / 'part-0001.json').write_text('\n'.join(lines) + '\n')
    args = job_args(root / 'in', root / 'out')

    metrics = denormalize.run(spark, args)

    return {'root': root, 'metrics': metrics, 'valid': len(valid)}


def test_every_malformed_kind_is_counted_by_reason(mixed_run):
    metrics = mixed_run['metrics']

    assert (metrics['rowsIn'], metrics['rowsOut'], metrics['rowsRejected']) == (13, 3, 10)
    assert metrics['rejectsByReason'] == {
        'malformed_json': 3,
        'wrong_type': 2,
        'missing_event_time': 1,
        'invalid_event_time': 2,
        'missing_site': 1,
        'missing_session_id': 1,
    }


def test_rejects_keep_each_line_with_its_reason_under_the_run_date(spark, mixed_run):
    rejects_dir = mixed_run['root'] / 'out' / '_rejects' / f'dt={RUN_DATE}'

    rows = [
        json.loads(line) for path in sorted(rejects_dir.glob('part-*.json')) for line in path.read_text().splitlines()
    ]

    assert sorted((row['reason'], row['run_id']) for row in rows) == sorted(
        (reason, 'run-1') for reason in MALFORMED.values()
    )
    unparsable = {row['raw'] for row in rows if row['reason'] in ('malformed_json', 'wrong_type')}
    assert unparsable == {line for line, reason in MALFORMED.items() if reason in ('malformed_json', 'wrong_type')}
    assert {json.loads(row['raw'])['event_id'] for row in rows if row['reason'] == 'invalid_event_time'} == {'x5', 'x6'}


def test_metrics_file_is_written_under_the_run_date_and_run_id(mixed_run):
    path = mixed_run['root'] / 'out' / '_metrics' / f'dt={RUN_DATE}' / 'run-1.json'

    written = json.loads(path.read_text())

    assert written == mixed_run['metrics']
    assert written['runId'] == 'run-1' and written['durationSeconds'] > 0
    assert written['enrichments'] == [entry.name for entry in denormalize.REGISTRY]


def test_valid_events_land_in_parquet_partitioned_by_run_date_and_site(spark, mixed_run):
    out = mixed_run['root'] / 'out'

    frame = spark.read.parquet(str(out))

    assert {os.path.relpath(os.path.dirname(path), out) for path in part_files(str(out))} == {
        f'dt={RUN_DATE}/site=news.example.com',
        f'dt={RUN_DATE}/site=shop.example.de',
    }
    assert sorted(row.event_id for row in frame.select('event_id').collect()) == ['v1', 'v2', 'v3']
    enrichment_columns = {column for entry in denormalize.REGISTRY for column in entry.outputs}
    assert enrichment_columns <= set(frame.columns)
    assert not {'_corrupt_record', 'reject_reason'} & set(frame.columns)


def test_a_rerun_replaces_its_partitions_rejects_and_metrics_without_duplicates(spark, tmp_path):
    generate_events.main(
        [
            '--events',
            '400',
            '--date',
            RUN_DATE,
            '--out',
            str(tmp_path / 'in') + '/',
            '--seed',
            '7',
            '--malformed-rate',
            '0.05',
        ]
    )
    out = tmp_path / 'out'
    other_day = out / 'dt=2026-11-26' / 'site=news.example.com'
    other_day.mkdir(parents=True)
    (other_day / 'part-00000-earlier-run.parquet').write_bytes(b'another run date: must stay untouched')
    first = denormalize.run(spark, job_args(tmp_path / 'in', out))
    first_files = part_files(str(out), RUN_DATE)
    # What a killed attempt can leave in a partition: a file the retry must not keep.
    stale = os.path.join(os.path.dirname(first_files[0]), 'part-99999-killed-attempt.c000.zstd.parquet')
    with open(stale, 'wb') as handle:
        handle.write(b'partial')
    # What a killed attempt can leave beside the partitions: Spark's staging folder of its dynamic overwrite.
    staging = out / f'dt={RUN_DATE}' / '.spark-staging-killed-attempt' / 'site=news.example.com'
    staging.mkdir(parents=True)
    (staging / 'part-00000-killed-attempt.c000.zstd.parquet').write_bytes(b'partial')

    second = denormalize.run(spark, job_args(tmp_path / 'in', out))

    todays = spark.read.parquet(str(out / f'dt={RUN_DATE}'))
    assert (second['rowsIn'], second['rowsOut'], second['rowsRejected']) == (
        first['rowsIn'],
        first['rowsOut'],
        first['rowsRejected'],
    )
    assert first['rowsIn'] == 400 and first['rowsRejected'] > 0
    assert todays.count() == todays.select('event_id').distinct().count() == first['rowsOut']
    assert len(part_files(str(out), RUN_DATE)) == len(first_files)
    assert not os.path.exists(stale)
    assert not (out / f'dt={RUN_DATE}' / '.spark-staging-killed-attempt').exists()
    assert (other_day / 'part-00000-earlier-run.parquet').exists()
    assert len(list((out / '_rejects' / f'dt={RUN_DATE}').glob('part-*.json'))) == 1
    assert [p.name for p in (out / '_metrics' / f'dt={RUN_DATE}').glob('*.json')] == ['run-1.json']


def test_a_missing_input_fails_with_a_clear_message(spark, tmp_path, capsys):
    code = denormalize.main(
        [
            '--input',
            str(tmp_path / 'nothing-here'),
            '--output',
            str(tmp_path / 'out'),
            '--run-id',
            'r',
            '--run-date',
            RUN_DATE,
        ],
        spark=spark,
    )

    assert code == 1
    assert f'denormalize.JobError: input not found: {tmp_path / "nothing-here"}' in capsys.readouterr().err
    assert not (tmp_path / 'out').exists()


@pytest.mark.parametrize(
    'argv, message',
    [
        (['--output', 'o', '--run-id', 'r', '--run-date', RUN_DATE], 'the following arguments are required: --input'),
        (['--input', 'i', '--output', 'o', '--run-id', 'r', '--run-date', '27/11/2026'], '--run-date must be a date'),
        (['--input', 'i', '--output', 'o', '--run-id', 'r', '--run-date', '2026-02-30'], '--run-date must be a date'),
        (['--input', 'i', '--output', 'o', '--run-id', ' ', '--run-date', RUN_DATE], '--run-id must not be empty'),
        (
            ['--input', 'i', '--output', 'o', '--run-id', 'r', '--run-date', RUN_DATE, '--bogus'],
            'unrecognized arguments',
        ),
    ],
)
def test_bad_arguments_exit_2_with_the_reason(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        denormalize.parse_args(argv)

    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_run_ids_become_safe_metrics_file_names():
    paths = denormalize.output_paths('s3://artifacts/denormalized/events/', 'denormalize-events:2026-11-27#1', RUN_DATE)

    assert paths == {
        'events': 's3://artifacts/denormalized/events',
        'rejects': f's3://artifacts/denormalized/events/_rejects/dt={RUN_DATE}',
        'metrics': f's3://artifacts/denormalized/events/_metrics/dt={RUN_DATE}/denormalize-events_2026-11-27_1.json',
    }


def test_an_empty_input_folder_gives_zero_counts(spark, tmp_path):
    (tmp_path / 'in').mkdir()

    metrics = denormalize.run(spark, job_args(tmp_path / 'in', tmp_path / 'out'))

    assert (metrics['rowsIn'], metrics['rowsOut'], metrics['rowsRejected']) == (0, 0, 0)
    assert part_files(str(tmp_path / 'out')) == []
