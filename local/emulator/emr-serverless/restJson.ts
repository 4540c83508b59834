/**
 * REST-JSON, the protocol of EMR Serverless (botocore's `protocol: rest-json`): the operation is the method and
 * path, inputs are path labels, query strings and a JSON body; errors carry their type in `x-amzn-ErrorType`
 * and their own HTTP status (ValidationException 400, ResourceNotFoundException 404, ConflictException 409,
 * ServiceQuotaExceededException 402, InternalServerException 500, as the model's error shapes say).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export class RestJsonError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = type;
  }
}

export const validation = (message: string) => new RestJsonError('ValidationException', message, 400);
export const notFound = (message: string) => new RestJsonError('ResourceNotFoundException', message, 404);
export const conflict = (message: string) => new RestJsonError('ConflictException', message, 409);

export interface RestRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  body: Record<string, unknown>;
}

/** The signing name in a SigV4 Authorization header's credential scope (`…/<region>/<service>/aws4_request`). */
export function signingService(authorization: string | undefined): string | null {
  const match = /Credential=[^/]+\/\d{8}\/[^/]+\/([^/]+)\/aws4_request/.exec(authorization ?? '');
  return match ? match[1] : null;
}

export async function readRestRequest(req: IncomingMessage, url: URL): Promise<RestRequest> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  let body: Record<string, unknown> = {};
  if (text.trim()) {
    try {
      const parsed = JSON.parse(text);
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      body = parsed;
    } catch {
      throw validation('The request body is not a JSON object.');
    }
  }
  return { method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, body };
}

export function sendRestJson(res: ServerResponse, requestId: string, body: unknown): void {
  const payload = JSON.stringify(body ?? {});
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), 'x-amzn-requestid': requestId });
  res.end(payload);
}

export function sendRestJsonError(res: ServerResponse, requestId: string, error: RestJsonError): void {
  const payload = JSON.stringify({ message: error.message });
  res.writeHead(error.status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(payload),
    'x-amzn-requestid': requestId,
    'x-amzn-errortype': error.type,
  });
  res.end(payload);
}
