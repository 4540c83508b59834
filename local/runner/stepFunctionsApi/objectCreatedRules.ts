/**
 * S3 → EventBridge → Step Functions while `emrflow emulator` serves: every object written through the
 * emulator's S3 (an `aws s3 cp` of a partition's `_SUCCESS` marker, an SDK PutObject) becomes S3's
 * "Object Created" event, and each state machine whose EventBridge rule in serverless.yml matches it starts
 * an execution through the Step Functions API, named as EventBridge names its starts (a UUID), so
 * `list-executions`, `describe-execution` and `get-execution-history` show it as on AWS.
 *
 * Only the emulator command turns this on: `emrflow run` / `upload` start their one run themselves.
 */
import { objectCreatedEvent } from '../s3Event';
import type { ServerlessConfig } from '../serverless-config';
import { eventBridgeTargets } from '../triggers';
import type { StepFunctionsApi } from './service';

export type ObjectCreated = { bucket: string; key: string; size: number; etag: string };

export function objectCreatedRules(
  config: ServerlessConfig,
  api: () => StepFunctionsApi | null,
  onError: (error: unknown) => void,
): (object: ObjectCreated) => void {
  return (object) => {
    const event = objectCreatedEvent(object, { region: config.region, accountId: config.accountId });
    void (async () => {
      const stepFunctions = api();
      if (!stepFunctions) return;
      for (const machine of await eventBridgeTargets(config, event)) await stepFunctions.startForRule(machine, event);
    })().catch(onError);
  };
}
