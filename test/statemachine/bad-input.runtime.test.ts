/**
 * A handful of the generated malformed inputs (test/support/malformedTriggers.ts) through the whole local
 * runtime: each execution fails with Request.Invalid (or, over 256 KiB, is refused before it exists), and
 * nothing is claimed, listed or created.
 */
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import fc from 'fast-check';
import { startLocalRuntime, type LocalRuntime } from '../../local/runner';
import { malformedTriggerShapes } from '../support/malformedTriggers';

jest.setTimeout(60_000);
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

const PER_SHAPE = 4;
let runtime: LocalRuntime;
beforeAll(async () => {
  runtime = await startLocalRuntime({ timeScale: 0.001, simulateSteps: true });
});
afterAll(() => runtime.stop());

const claims = async () => (await new DynamoDBClient({}).send(new ScanCommand({ TableName: runtime.tables.ClaimsTable }))).Count ?? 0;

describe('malformed triggers through the local runtime', () => {
  it.each([0, 1, 2])('shape %i: each sample fails before any side effect', async (index) => {
    const [shape, arbitrary] = malformedTriggerShapes(runtime.buckets.RawBucket)[index];
    const samples = fc.sample(arbitrary, { numRuns: PER_SHAPE, seed: 1201 + index });

    for (const input of samples) {
      const outcome = await runtime.run(input).catch((error) => ({ refused: error.name }));
      if ('refused' in outcome) {
        expect({ shape, refused: outcome.refused }).toEqual({ shape, refused: 'ValidationException' });
        continue;
      }
      expect({ shape, status: outcome.status, error: outcome.error }).toEqual({ shape, status: 'FAILED', error: 'Request.Invalid' });
      expect(outcome.timeline.map((entry) => entry.state)).toEqual(['NormalizeRequest', 'RequestInvalid']);
      expect(outcome.clustersCreated).toBe(0);
      // The only call is cleanup-execution's ListClusters (every FAILED execution goes to it), which finds nothing.
      expect(Object.keys(outcome.emulatorCalls)).toEqual(['EMR.ListClusters']);
      expect(outcome.ruleDeliveries.map((delivery) => (delivery.result as any)?.terminated)).toEqual([[]]);
    }
    expect(await claims()).toBe(0);
  });
});
