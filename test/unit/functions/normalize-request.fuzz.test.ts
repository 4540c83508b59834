/**
 * Bad input, generated: at least 1,000 malformed inputs per trigger shape (the S3 event, the schedule, the
 * console start) go to normalize-request's handler. Each must fail with Request.Invalid, a message that
 * starts with the field it names, a bounded size, and no AWS call at all (so no claim, lease or cluster can
 * follow). A few of them also go through the local runtime, which must claim and create nothing.
 */
import { lambdaContext } from './env';
import { GlueClient } from '@aws-sdk/client-glue';
import { S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { handler } from '../../../functions/normalize-request/handler';
import { resetClients } from '../../../lib/aws/clients';
import { malformedTriggerShapes, validTriggers } from '../../support/malformedTriggers';

const RUNS = 1_000;
const glue = mockClient(GlueClient);
const s3 = mockClient(S3Client);
const RAW = process.env.RAW_BUCKET!;

const shapes = malformedTriggerShapes(RAW);

const tally: Record<string, { generated: number; rejectedCleanly: number }> = {};

beforeEach(() => {
  glue.reset();
  s3.reset();
  resetClients();
});
afterAll(() => {
  console.log(
    `fuzzed normalize-request: ${Object.entries(tally)
      .map(([shape, t]) => `${shape} ${t.rejectedCleanly}/${t.generated} rejected cleanly`)
      .join(', ')}`,
  );
});

describe('normalize-request on malformed input (fast-check)', () => {
  it.each(shapes)('%s: every malformed input fails with Request.Invalid naming the field, and calls no AWS service', async (shape, arbitrary) => {
    const counts = { generated: 0, rejectedCleanly: 0 };
    tally[shape] = counts;
    await fc.assert(
      fc.asyncProperty(arbitrary, async (trigger) => {
        counts.generated += 1;
        const error = await handler({ trigger }, lambdaContext).then(
          (result) => ({ name: 'accepted', message: JSON.stringify(result).slice(0, 200), field: '' }),
          (e) => e,
        );
        expect(error.name).toBe('Request.Invalid');
        expect(typeof error.field).toBe('string');
        expect(error.field.length).toBeGreaterThan(0);
        expect(error.message.startsWith(`${error.field}: `)).toBe(true);
        expect(error.message.length).toBeLessThan(2_200);
        expect(glue.calls()).toHaveLength(0);
        expect(s3.calls()).toHaveLength(0);
        counts.rejectedCleanly += 1;
      }),
      { numRuns: RUNS, seed: 20261201 },
    );
    expect(counts).toEqual({ generated: RUNS, rejectedCleanly: RUNS });
  });

  it('accepts the valid base of each shape (negative control: the generators mutate something that matters)', async () => {
    glue.onAnyCommand().resolves({ Partition: { Values: ['2026-11-26'] } });
    s3.onAnyCommand().resolves({ Contents: [{ Key: 'k', Size: 1 }] });
    for (const trigger of validTriggers(RAW)) {
      await expect(handler({ trigger }, lambdaContext)).resolves.toMatchObject({ attempt: 1 });
    }
  });

  it('does not let a __proto__ key in the input change any object', async () => {
    await handler({ trigger: JSON.parse('{"job": "denormalize-events", "__proto__": {"polluted": true}}') }, lambdaContext).catch(() => undefined);

    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
