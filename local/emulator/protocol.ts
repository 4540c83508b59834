/**
 * AWS JSON 1.1 (EMR, Glue): `POST /` with `X-Amz-Target: <Service>.<Operation>`. Errors carry the type in
 * both the `__type` body field and the `x-amzn-ErrorType` header; the SDK reads `__type` first.
 */
import type { ServerResponse } from 'node:http';

/**
 * An error an emulated service returns (the emulator's, and the runner's Step Functions endpoint), with the type
 * name and HTTP status AWS uses for it. Local: a wire reply the SDK rebuilds its own error from, not an error a
 * Retry/Catch matches.
 */
export class AwsServiceError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
    this.name = type;
  }
}

export const validation = (message: string) => new AwsServiceError('ValidationException', message);
export const invalidRequest = (message: string) => new AwsServiceError('InvalidRequestException', message);

export function sendJson(res: ServerResponse, requestId: string, body: unknown): void {
  const payload = JSON.stringify(body ?? {});
  res.writeHead(200, {
    'content-type': 'application/x-amz-json-1.1',
    'content-length': Buffer.byteLength(payload),
    'x-amzn-requestid': requestId,
  });
  res.end(payload);
}

export function sendJsonError(res: ServerResponse, requestId: string, error: AwsServiceError): void {
  const payload = JSON.stringify({ __type: error.type, message: error.message });
  res.writeHead(error.status, {
    'content-type': 'application/x-amz-json-1.1',
    'content-length': Buffer.byteLength(payload),
    'x-amzn-requestid': requestId,
    'x-amzn-errortype': error.type,
  });
  res.end(payload);
}

/**
 * An SDK shape as it travels in AWS JSON 1.1: the SDK's types say `Date` where the wire carries epoch
 * seconds, so the emulator keeps its records in this form and the SDK's own member names and types.
 */
export type OnTheWire<T> = T extends Date
  ? number
  : T extends ReadonlyArray<infer U>
    ? Array<OnTheWire<U>>
    : T extends object
      ? { [K in keyof T]: OnTheWire<T[K]> }
      : T;

/** A JSON 1.1 operation: takes the parsed request, returns the response object (or throws AwsServiceError). */
export type JsonOperation = (input: JsonRequest) => unknown | Promise<unknown>;

/** A JSON 1.1 request body as parsed: an object whose members each operation narrows (validate.ts, or its SDK shape). */
export type JsonRequest = Record<string, unknown>;
