import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidRequestError } from '../../../lib/errors';
import { CLAIM_TTL_SECONDS, crawlPlan, JobInputSchema, parseTrigger, partitionToCheck, type RequestContext } from '../../../lib/domain/request';
import { parseRequestInput } from '../../../lib/schema';
import { ARTIFACTS, job, RAW } from '../fixtures';

const NOW = new Date('2026-11-27T05:00:00Z');
const ctx: RequestContext = {
  jobs: [job(), job({ name: 'sessions', inputPrefix: 'events/sessions/', catalog: undefined })],
  rawBucket: RAW,
  artifactsBucket: ARTIFACTS,
  now: NOW,
};
// The S3 example names the local raw bucket (so `emrflow run` accepts it); these tests use their own.
const example = (name: string) => {
  const input = JSON.parse(readFileSync(join(__dirname, '../../../examples/inputs', name), 'utf8'));
  if (input.detail?.bucket) input.detail.bucket.name = RAW;
  return input;
};

function s3Event(key: string, overrides: Record<string, unknown> = {}) {
  const event = example('s3-upload.json');
  event.detail.object.key = key;
  return { ...event, ...overrides };
}

function invalid(trigger: unknown, c: RequestContext = ctx): InvalidRequestError {
  try {
    parseTrigger(trigger, c);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect((error as Error).name).toBe('Request.Invalid');
    return error as InvalidRequestError;
  }
  throw new Error('expected Request.Invalid');
}

describe('S3 upload events, marker mode (the default)', () => {
  it('runs once over the whole dt= partition when its _SUCCESS marker lands, with job + date as the run id', () => {
    const request = parseTrigger(example('s3-upload.json'), ctx);

    expect(request).toMatchObject({
      trigger: 's3',
      runDate: '2026-11-26',
      runId: 'denormalize-events-2026-11-26',
      job: { name: 'denormalize-events' },
      input: { bucket: RAW, key: 'events/dt=2026-11-26/', uri: `s3://${RAW}/events/dt=2026-11-26/` },
      output: { bucket: ARTIFACTS, key: 'denormalized/events/', uri: `s3://${ARTIFACTS}/denormalized/events/` },
      claimExpiresAt: NOW.getTime() / 1000 + CLAIM_TTL_SECONDS,
    });
  });

  it("gives every delivery of the marker, a re-upload and the day's schedule the same run id, so all but one stop at ClaimRun", () => {
    const first = parseTrigger(example('s3-upload.json'), ctx);
    const duplicate = parseTrigger({ ...example('s3-upload.json'), id: 'another-event-id', time: '2026-11-27T03:00:00Z' }, ctx);
    const reupload = example('s3-upload.json');
    reupload.detail.object.sequencer = '0067469A79C8F1FFFF';

    expect(duplicate.runId).toBe(first.runId);
    expect(parseTrigger(reupload, ctx).runId).toBe(first.runId);
    expect(parseTrigger({ job: 'denormalize-events', date: '2026-11-26' }, ctx).runId).toBe(first.runId);
  });

  it('takes a configured marker name instead of _SUCCESS', () => {
    const c = { ...ctx, jobs: [job({ s3Trigger: { mode: 'marker', marker: 'READY' } })] };

    expect(parseTrigger(s3Event('events/dt=2026-11-26/READY'), c).input.key).toBe('events/dt=2026-11-26/');
    expect(invalid(s3Event('events/dt=2026-11-26/_SUCCESS'), c).message).toMatch(/only a "READY" object completes a partition/);
  });

  it('refuses a data object, saying which key would start the run (the rule never sends one)', () => {
    expect(invalid(s3Event('events/dt=2026-11-26/part-0001.json')).message).toBe(
      'detail.object.key: "events/dt=2026-11-26/part-0001.json" does not start a run of denormalize-events: its s3Trigger is ' +
        'marker mode, so only a "_SUCCESS" object completes a partition (upload events/dt=YYYY-MM-DD/_SUCCESS after the data)',
    );
  });

  it('runs over the folder of a marker outside any dt= partition, dated by the event, with the folder in the id', () => {
    const request = parseTrigger(s3Event('events/backfill/_SUCCESS'), ctx);

    expect(request.runDate).toBe('2026-11-27');
    expect(request.input.key).toBe('events/backfill/');
    expect(request.runId).toMatch(/^denormalize-events-2026-11-27-[0-9a-f]{16}$/);
    expect(partitionToCheck(request)).toBeNull();
  });

  it('picks the job with the longest matching inputPrefix', () => {
    expect(parseTrigger(s3Event('events/sessions/dt=2026-11-26/_SUCCESS'), ctx).job.name).toBe('sessions');
    expect(parseTrigger(s3Event('events/dt=2026-11-26/_SUCCESS'), ctx).job.name).toBe('denormalize-events');
  });
});

describe('S3 upload events, per-object mode', () => {
  const perObject = { ...ctx, jobs: [job({ s3Trigger: { mode: 'per-object' } })] };

  it('runs over the uploaded object alone, writing under an output prefix of its own', () => {
    const request = parseTrigger(s3Event('events/dt=2026-11-26/part-0001.json'), perObject);

    expect(request).toMatchObject({
      runDate: '2026-11-26',
      input: { key: 'events/dt=2026-11-26/part-0001.json' },
      output: { key: 'denormalized/events/by-object/dt=2026-11-26/part-0001.json/' },
    });
    expect(request.runId).toMatch(/^denormalize-events-2026-11-26-[0-9a-f]{16}$/);
    expect(partitionToCheck(request)).toBeNull();
  });

  it('gives a duplicate delivery (same sequencer) the same run id, and other objects other ids and outputs', () => {
    const key = 'events/dt=2026-11-26/part-0001.json';
    const first = parseTrigger(s3Event(key), perObject);
    const duplicate = parseTrigger({ ...s3Event(key), id: 'another-event-id' }, perObject);
    const other = parseTrigger(s3Event('events/dt=2026-11-26/part-0002.json'), perObject);

    expect(duplicate.runId).toBe(first.runId);
    expect(other.runId).not.toBe(first.runId);
    expect(other.output.key.startsWith(first.output.key) || first.output.key.startsWith(other.output.key)).toBe(false);
  });

  it('falls back to the etag when the event has no sequencer', () => {
    const event = s3Event('events/dt=2026-11-26/part-0001.json');
    delete event.detail.object.sequencer;

    expect(parseTrigger(event, perObject).runId).toMatch(/^denormalize-events-2026-11-26-[0-9a-f]{16}$/);
  });

  it('dates an object outside any dt= partition by the event, and refuses keys without the configured suffix', () => {
    const withSuffix = { ...ctx, jobs: [job({ s3Trigger: { mode: 'per-object', suffix: '.json' } })] };

    expect(parseTrigger(s3Event('events/backfill.json'), perObject).runDate).toBe('2026-11-27');
    expect(invalid(s3Event('events/dt=2026-11-26/notes.txt'), withSuffix).message).toMatch(/per-object mode for keys ending in "\.json"/);
  });
});

describe('S3 upload events, either mode', () => {
  it('rejects a key that matches no job, naming the known prefixes', () => {
    expect(invalid(s3Event('foo/bar.json')).message).toBe(
      'detail.object.key: "foo/bar.json" matches no job\'s inputPrefix in config/jobs.json (known: events/, events/sessions/)',
    );
  });

  it('rejects an upload to another bucket than the raw bucket', () => {
    const event = example('s3-upload.json');
    event.detail.bucket.name = 'someone-else';

    expect(invalid(event).field).toBe('detail.bucket.name');
  });

  it.each([
    ['a non-S3 source', { source: 'aws.ec2' }, 'source'],
    ['another detail type', { 'detail-type': 'Object Deleted' }, 'detail-type'],
  ])('rejects %s', (_, overrides, field) => {
    expect(invalid(s3Event('events/dt=2026-11-26/_SUCCESS', overrides)).field).toBe(field);
  });

  it('rejects an impossible partition date and a folder marker', () => {
    expect(invalid(s3Event('events/dt=2026-02-30/_SUCCESS')).field).toBe('detail.object.key');
    expect(invalid(s3Event('events/dt=2026-11-26/')).message).toMatch(/folder marker/);
    expect(invalid(s3Event('events/dt=2026-11-26/'), { ...ctx, jobs: [job({ s3Trigger: { mode: 'per-object' } })] }).message).toMatch(/folder marker/);
  });

  it('rejects an event without sequencer and etag, since the run id needs one', () => {
    const event = example('s3-upload.json');
    delete event.detail.object.sequencer;
    delete event.detail.object.etag;

    expect(invalid(event).field).toBe('detail.object.sequencer');
  });

  it('points S3 notification (Records) payloads at the EventBridge route', () => {
    expect(invalid({ Records: [] }).message).toMatch(/EventBridge/);
  });
});

describe('schedule and console inputs', () => {
  it('runs a schedule on the day that ended before it fired, with job+date as the run id', () => {
    const request = parseTrigger({ job: 'denormalize-events', trigger: 'schedule', time: '2026-11-25T02:00:00Z' }, ctx);

    expect(request).toMatchObject({ trigger: 'schedule', runDate: '2026-11-24', runId: 'denormalize-events-2026-11-24' });
    expect(request.input.key).toBe('events/dt=2026-11-24/');
  });

  it('lets a schedule name its date explicitly', () => {
    const request = parseTrigger({ job: 'denormalize-events', trigger: 'schedule', time: '2026-11-25T02:00:00Z', date: '2026-11-20' }, ctx);

    expect(request.runDate).toBe('2026-11-20');
  });

  it('defaults a schedule to yesterday and a console start to today (UTC) without a time', () => {
    expect(parseTrigger(example('schedule.json'), ctx)).toMatchObject({ trigger: 'schedule', runDate: '2026-11-26' });
    expect(parseTrigger({ job: 'denormalize-events' }, ctx)).toMatchObject({ trigger: 'console', runDate: '2026-11-27' });
  });

  it('takes a console date, input and run id override', () => {
    const request = parseTrigger({ job: 'denormalize-events', date: '2026-11-20', input: 's3://other-bucket/replay/', runId: 'replay-1' }, ctx);

    expect(request).toMatchObject({
      trigger: 'console',
      runDate: '2026-11-20',
      runId: 'replay-1',
      input: { bucket: 'other-bucket', key: 'replay/', uri: 's3://other-bucket/replay/' },
    });
    expect(partitionToCheck(request)).toBeNull();
  });

  it('accepts the documented console example', () => {
    expect(parseTrigger(example('console.json'), ctx)).toMatchObject({ runId: 'denormalize-events-2026-11-26' });
  });

  it.each([
    [{ job: 'nope' }, 'job', /known: denormalize-events, sessions/],
    [{ job: 'denormalize-events', date: '26.11.2026' }, 'date', /YYYY-MM-DD/],
    [{ job: 'denormalize-events', input: 'https://x/y' }, 'input', /s3:\/\/bucket\/key/],
    [{ job: 'denormalize-events', runId: 'has space' }, 'runId', /letters, digits/],
    [{ job: 'denormalize-events', dat: '2026-11-26' }, 'dat', /unknown field/],
    [{ job: 'denormalize-events', time: 'yesterday' }, 'time', /ISO 8601/],
    [{ job: 'denormalize-events', trigger: 'manual' }, 'trigger', /schedule/],
  ])('rejects %j naming the field', (input, field, message) => {
    const error = invalid(input);
    expect(error.field).toBe(field);
    expect(error.message).toMatch(message);
  });

  it('rejects input that is no object, and an object without a job', () => {
    expect(invalid('denormalize-events').field).toBe('(input)');
    expect(invalid({ date: '2026-11-26' }).message).toBe('job: is required: the job to run, from config/jobs.json');
  });
});

/** Per trigger shape: a misspelt key, a wrong type, a missing required field, an out-of-range value. */
describe.each([
  {
    shape: 'S3 "Object Created" event',
    cases: [
      // AWS writes this event and adds fields over time, so a misspelt key shows as the field it hides.
      [
        'a misspelt key (detail.objet)',
        () => ({ ...example('s3-upload.json'), detail: { ...example('s3-upload.json').detail, object: undefined, objet: {} } }),
        'detail.object: is required (an object)',
      ],
      [
        'a wrong type',
        () => ({ ...example('s3-upload.json'), time: 1764640800 }),
        'time: must be an ISO 8601 timestamp such as 2026-11-27T02:00:00Z, got number 1764640800',
      ],
      [
        'a missing required field',
        () => ({ ...example('s3-upload.json'), 'detail-type': undefined }),
        'detail-type: must be "Object Created": the EventBridge rule must match only that',
      ],
      [
        'an out-of-range value',
        () => s3Event('events/dt=2026-11-31/_SUCCESS'),
        'detail.object.key: the dt= segment of "events/dt=2026-11-31/_SUCCESS" must be a calendar date YYYY-MM-DD',
      ],
    ],
  },
  {
    shape: 'schedule input',
    cases: [
      [
        'a misspelt key (tigger)',
        () => ({ job: 'denormalize-events', tigger: 'schedule', time: '2026-11-25T02:00:00Z' }),
        /^tigger: unknown field; did you mean "trigger"\? allowed: job, trigger, time, date, input, runId, priority \(see examples\/inputs\/README.md\)$/,
      ],
      [
        'a wrong type',
        () => ({ job: 'denormalize-events', trigger: 'schedule', time: 1764640800 }),
        'time: must be an ISO 8601 timestamp such as 2026-11-27T02:00:00Z, got number 1764640800',
      ],
      ['a missing required field', () => ({ trigger: 'schedule', time: '2026-11-25T02:00:00Z' }), 'job: is required: the job to run, from config/jobs.json'],
      [
        'an out-of-range value',
        () => ({ job: 'denormalize-events', trigger: 'schedule', date: '2026-02-30' }),
        'date: must be a calendar date YYYY-MM-DD, got "2026-02-30"',
      ],
    ],
  },
  {
    shape: 'console input',
    cases: [
      ['a misspelt key (dat)', () => ({ job: 'denormalize-events', dat: '2026-11-26' }), /^dat: unknown field; did you mean "date"\? allowed: /],
      ['a wrong type', () => ({ job: 'denormalize-events', runId: 5 }), 'runId: must be a string, got number 5'],
      ['a missing required field', () => ({ date: '2026-11-26' }), 'job: is required: the job to run, from config/jobs.json'],
      [
        'an out-of-range value (a 300 KB runId is echoed cut short)',
        () => ({ job: 'denormalize-events', runId: 'r'.repeat(300_000) }),
        /^runId: must be 1-80 letters, digits, '\.', '_' or '-', starting with a letter or digit, got "r{78}…$/,
      ],
    ],
  },
] as Array<{ shape: string; cases: Array<[string, () => unknown, string | RegExp]> }>)('$shape', ({ cases }) => {
  it.each(cases)('%s is a Request.Invalid naming the field and the fix', (_, input, message) => {
    const actual = invalid(input()).message;
    if (typeof message === 'string') expect(actual).toBe(message);
    else expect(actual).toMatch(message);
  });
});

describe('strictness of the job input, and its negative control', () => {
  const misspelt = { job: 'denormalize-events', dat: '2026-11-26' };

  it('rejects the misspelt key with the strict schema and accepts it with the same schema made lenient', () => {
    expect(() => parseRequestInput(JobInputSchema, misspelt)).toThrow(/^dat: unknown field/);
    expect(parseRequestInput(JobInputSchema.strip(), misspelt)).toEqual({ job: 'denormalize-events' });
  });

  it("accepts a field AWS adds to its S3 event later, dropping it (the event is AWS's, not a person's)", () => {
    expect(parseTrigger({ ...example('s3-upload.json'), 'new-aws-field': 1 }, ctx).runDate).toBe('2026-11-26');
  });
});

describe('prototype keys', () => {
  it.each([
    ['__proto__', '{"job": "denormalize-events", "__proto__": {"runId": "injected"}}'],
    ['constructor', '{"job": "denormalize-events", "constructor": {"prototype": {"polluted": true}}}'],
  ])('rejects a %s key in a job input', (key, json) => {
    expect(invalid(JSON.parse(json)).field).toBe(key);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).runId).toBeUndefined();
  });

  it('drops a __proto__ key from an S3 event without it reaching the request or any prototype', () => {
    const event = JSON.parse(JSON.stringify(example('s3-upload.json')).replace('"detail":', '"__proto__": {"polluted": true}, "detail":'));
    const request = parseTrigger(event, ctx);
    expect(request.trigger).toBe('s3');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(request)).toBe(Object.prototype);
  });
});

describe('crawl plan', () => {
  const parsed = parseTrigger({ job: 'denormalize-events', date: '2026-11-26' }, ctx);

  it('looks up the run date in the job catalog table', () => {
    expect(partitionToCheck(parsed)).toEqual({ database: 'emrflow_raw', table: 'events', values: ['2026-11-26'] });
  });

  it('needs no crawl when the partition is registered', () => {
    expect(crawlPlan(parsed, { found: true })).toEqual({
      required: false,
      crawler: 'emrflow-raw-events',
      reason: 'partition dt=2026-11-26 is registered in emrflow_raw.events',
    });
  });

  it('crawls when the partition or the table is missing, and says which', () => {
    expect(crawlPlan(parsed, { found: false, missing: 'partition' })).toMatchObject({
      required: true,
      reason: expect.stringMatching(/partition dt=2026-11-26/),
    });
    expect(crawlPlan(parsed, { found: false, missing: 'table' })).toMatchObject({ required: true, reason: expect.stringMatching(/table emrflow_raw.events/) });
  });

  it('never crawls for a job without a catalog entry', () => {
    const sessions = parseTrigger({ job: 'sessions' }, ctx);
    expect(partitionToCheck(sessions)).toBeNull();
    expect(crawlPlan(sessions, null)).toEqual({ required: false, crawler: null, reason: expect.stringMatching(/no catalog entry/) });
  });
});

describe('a console start’s priority', () => {
  it('overrides the job’s catalog priority for this run only', () => {
    const urgent = parseTrigger({ job: 'denormalize-events', date: '2026-11-26', priority: 'high' }, ctx);
    const plain = parseTrigger({ job: 'denormalize-events', date: '2026-11-26' }, ctx);

    expect(urgent.job.priority).toBe('high');
    expect(plain.job.priority).toBe(ctx.jobs[0].priority);
  });

  it('rejects a priority that is not one of low, normal, high', () => {
    expect(() => parseTrigger({ job: 'denormalize-events', priority: 'urgent' }, ctx)).toThrow(/^priority: /);
  });
});
