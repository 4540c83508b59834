/**
 * Malformed inputs of each trigger shape, for the fuzz tests: each generator starts from a valid input and
 * breaks something that matters (a required field missing or of the wrong type, another bucket or event
 * type, a key no job claims, a bad date, URI or run id, an unknown or prototype key), or is no object at all.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';

export function malformedTriggerShapes(rawBucket: string): Array<[string, fc.Arbitrary<unknown>]> {
  const s3Example = () => {
    const event = JSON.parse(readFileSync(join(__dirname, '../../examples/inputs/s3-upload.json'), 'utf8'));
    event.detail.bucket.name = rawBucket;
    event.resources = [`arn:aws:s3:::${rawBucket}`];
    return event;
  };

  /** Sets (or deletes, with `undefined`) a dotted path as a JSON document would hold it: own properties only. */
  function withPath(base: unknown, path: string, value: unknown): any {
    const copy = JSON.parse(JSON.stringify(base));
    const parts = path.split('.');
    let node = copy;
    for (const part of parts.slice(0, -1)) node = node[part];
    const last = parts.at(-1)!;
    if (value === undefined) delete node[last];
    else Object.defineProperty(node, last, { value, enumerable: true, writable: true, configurable: true });
    return copy;
  }

  /** A JSON object with prototype keys as own properties, as JSON.parse makes them. */
  const prototypeObject = (inner: unknown) =>
    fc.constantFrom('__proto__', 'constructor', 'prototype').map((key) => JSON.parse(`{${JSON.stringify(key)}: ${JSON.stringify(inner)}}`));

  const scalarsAndArrays = fc.oneof(
    fc.integer(),
    fc.double({ noNaN: true }),
    fc.boolean(),
    fc.constant(null),
    fc.string(),
    fc.array(fc.jsonValue(), { maxLength: 3 }),
  );
  const wrongType = fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string(), { maxLength: 2 }), fc.object({ maxDepth: 1 }));
  const hostileString = fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.string({ unit: 'grapheme', maxLength: 40 }),
    fc.constantFrom('', ' ', '../../etc/passwd', '${jndi:ldap://x}', '<script>', "'; DROP TABLE runs; --", '\u0000', '\ud800', 'x'.repeat(300_000)),
  );

  const S3_REQUIRED = ['source', 'detail-type', 'time', 'detail', 'detail.bucket', 'detail.bucket.name', 'detail.object', 'detail.object.key'];
  const s3Malformed: fc.Arbitrary<unknown> = fc.oneof(
    fc.constantFrom(...S3_REQUIRED).map((path) => withPath(s3Example(), path, undefined)),
    fc.tuple(fc.constantFrom(...S3_REQUIRED, 'detail.object.sequencer'), wrongType).map(([path, value]) => withPath(s3Example(), path, value)),
    hostileString.filter((name) => name !== rawBucket).map((name) => withPath(s3Example(), 'detail.bucket.name', name)),
    hostileString.filter((type) => type !== 'Object Created').map((type) => withPath(s3Example(), 'detail-type', type)),
    fc.constantFrom('Object Deleted', 'Object Restore Completed', 'Object Tags Added').map((type) => withPath(s3Example(), 'detail-type', type)),
    hostileString.filter((source) => source !== 'aws.s3').map((source) => withPath(s3Example(), 'source', source)),
    hostileString.filter((key) => !key.startsWith('events/')).map((key) => withPath(s3Example(), 'detail.object.key', key)),
    fc
      .constantFrom('events/dt=2026-13-01/a.json', 'events/dt=2026-02-30/a.json', 'events/dt=yesterday/a.json', 'events/dt=2026-11-26/')
      .map((key) => withPath(s3Example(), 'detail.object.key', key)),
    prototypeObject(s3Example().detail).map((detail) => withPath(s3Example(), 'detail', detail)),
    prototypeObject(s3Example().detail.object).map((object) => withPath(s3Example(), 'detail.object', object)),
    fc.constant({ Records: [{ s3: { bucket: { name: rawBucket }, object: { key: 'events/dt=2026-11-26/a.json' } } }] }),
    scalarsAndArrays,
  );

  const jobMalformed = (base: Record<string, unknown>, allowed: string[]): fc.Arbitrary<unknown> =>
    fc.oneof(
      fc.constant(withPath(base, 'job', undefined)),
      wrongType.map((job) => withPath(base, 'job', job)),
      hostileString.filter((job) => job !== 'denormalize-events').map((job) => withPath(base, 'job', job)),
      wrongType.map((trigger) => withPath(base, 'trigger', trigger)),
      hostileString.filter((trigger) => trigger !== 'schedule' && trigger !== 'console').map((trigger) => withPath(base, 'trigger', trigger)),
      fc
        .oneof(
          wrongType,
          hostileString.filter((time) => !/^\d{4}-\d{2}-\d{2}T/.test(time)),
        )
        .map((time) => withPath(base, 'time', time)),
      fc
        .oneof(wrongType, hostileString, fc.constantFrom('2026-02-30', '2026-13-01', '26-11-2026', '2026-11-26T00:00:00Z'))
        .map((date) => withPath(base, 'date', date)),
      fc
        .oneof(
          wrongType,
          hostileString.filter((uri) => !/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\/.+/.test(uri)),
          fc.constantFrom('s3://bucket', 's3://bucket/', 'https://x/y', 's3://UPPER/x'),
        )
        .map((input) => withPath(base, 'input', input)),
      fc
        .oneof(
          wrongType,
          hostileString.filter((runId) => !/^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$/.test(runId)),
        )
        .map((runId) => withPath(base, 'runId', runId)),
      fc
        .tuple(fc.oneof(fc.constantFrom('__proto__', 'constructor', 'prototype', 'dat', 'Job', 'jobs'), fc.string({ minLength: 1 })), fc.jsonValue())
        .filter(([key]) => !allowed.includes(key))
        .map(([key, value]) => withPath(base, key, value)),
      prototypeObject(base),
      scalarsAndArrays,
    );

  const JOB_FIELDS = ['job', 'trigger', 'time', 'date', 'input', 'runId'];
  return [
    ['S3 event', s3Malformed],
    ['schedule', jobMalformed({ job: 'denormalize-events', trigger: 'schedule', time: '2026-11-27T02:00:00Z' }, JOB_FIELDS)],
    [
      'console',
      jobMalformed({ job: 'denormalize-events', date: '2026-11-26', input: `s3://${rawBucket}/events/dt=2026-11-26/`, runId: 'rerun-1' }, JOB_FIELDS),
    ],
  ];
}

/** The valid input of each shape the generators start from. */
export function validTriggers(rawBucket: string): unknown[] {
  const event = JSON.parse(readFileSync(join(__dirname, '../../examples/inputs/s3-upload.json'), 'utf8'));
  event.detail.bucket.name = rawBucket;
  event.resources = [`arn:aws:s3:::${rawBucket}`];
  return [
    event,
    { job: 'denormalize-events', trigger: 'schedule', time: '2026-11-27T02:00:00Z' },
    { job: 'denormalize-events', date: '2026-11-26', runId: 'rerun-1' },
  ];
}
