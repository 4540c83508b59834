/**
 * A failed Task as Step Functions reports it: `Error` is the name Retry/Catch match, `Cause` the text (often
 * JSON) it carries. The interpreter takes `name` as Error and `message` as Cause. Local, not in lib/errors.ts:
 * it carries the names AWS's integrations raise (States.TaskFailed, EMR.*), which no emrflow code raises on AWS.
 */
export class TaskError extends Error {
  constructor(name: string, cause: string) {
    super(cause);
    this.name = name;
  }
}

/** The fields of an SDK v3 service exception the integrations report. */
export function serviceErrorParts(error: unknown): { code: string; message: string; status: number; requestId: string } {
  const e = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number; requestId?: string } };
  return {
    code: e?.name ?? 'UnknownError',
    message: e?.message ?? String(error),
    status: e?.$metadata?.httpStatusCode ?? 400,
    requestId: e?.$metadata?.requestId ?? 'local',
  };
}

/** An SDK output as a Task result: JSON only (dates as ISO strings), without the SDK's `$metadata`. */
export function stepFunctionsJson(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(stepFunctionsJson);
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([key, item]) => key !== '$metadata' && item !== undefined)
        .map(([key, item]) => [key, stepFunctionsJson(item)]),
    );
  }
  return value;
}
