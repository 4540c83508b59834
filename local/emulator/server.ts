/**
 * One node:http server for every emulated service: a request with `X-Amz-Target: ElasticMapReduce.*` or
 * `AWSGlue.*` is AWS JSON 1.1; one signed for `emr-serverless` is EMR Serverless REST-JSON; anything else is
 * S3 REST (path-style). Signatures are not verified.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { EmitEvent } from './events';
import type { FaultInjector } from './faults';
import { AwsServiceError, sendJson, sendJsonError, type JsonOperation, type JsonRequest } from './protocol';
import type { IdFactory } from './random';
import type { S3Service } from './s3/S3Service';
import type { EmrServerlessService } from './emr-serverless/EmrServerlessService';
import { readRestRequest, RestJsonError, sendRestJson, sendRestJsonError, signingService } from './emr-serverless/restJson';

export interface CallCounter {
  count(service: 'EMR' | 'Glue' | 'S3' | 'EMRServerless', operation: string, throttled: boolean): void;
}

export interface ServerDeps {
  emr: Record<string, JsonOperation>;
  glue: Record<string, JsonOperation>;
  s3: S3Service;
  emrServerless: EmrServerlessService;
  faults: FaultInjector;
  ids: IdFactory;
  calls: CallCounter;
  emit: EmitEvent;
}

const JSON_SERVICES = { 'ElasticMapReduce.': 'EMR', 'AWSGlue.': 'Glue' } as const;

async function readJson(req: IncomingMessage): Promise<JsonRequest> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text.trim()) return {};
  try {
    const parsed = JSON.parse(text);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed;
  } catch {
    // fall through to the error below
  }
  throw new AwsServiceError('SerializationException', 'The request body is not a JSON object.');
}

export function createEmulatorServer(deps: ServerDeps): http.Server {
  let authNoted = false;

  const handleJson = async (target: string, req: IncomingMessage, res: ServerResponse, requestId: string) => {
    const prefix = (Object.keys(JSON_SERVICES) as Array<keyof typeof JSON_SERVICES>).find((p) => target.startsWith(p));
    if (!prefix) {
      req.resume();
      sendJsonError(res, requestId, new AwsServiceError('UnknownOperationException', `The emulator does not serve ${target}.`));
      return;
    }
    const service = JSON_SERVICES[prefix];
    const operationName = target.slice(prefix.length);
    const operations = service === 'EMR' ? deps.emr : deps.glue;
    const operation = Object.hasOwn(operations, operationName) ? operations[operationName] : undefined;
    const throttled = operation !== undefined && service === 'EMR' && deps.faults.throttles(operationName);
    const injected = operation !== undefined && service === 'EMR' && !throttled ? deps.faults.takeApiError(operationName) : null;
    deps.calls.count(service, operationName, throttled);
    try {
      const input = await readJson(req);
      if (!operation) throw new AwsServiceError('UnknownOperationException', `${service} operation ${operationName} is not supported by the emulator.`);
      if (throttled) throw new AwsServiceError('ThrottlingException', 'Rate exceeded');
      if (injected) throw new AwsServiceError(injected.code, injected.message, injected.status ?? 400);
      sendJson(res, requestId, await operation(input));
    } catch (error) {
      if (error instanceof AwsServiceError) {
        sendJsonError(res, requestId, error);
      } else {
        sendJsonError(res, requestId, new AwsServiceError('InternalServerError', (error as Error).message, 500));
      }
    }
  };

  // EMR Serverless is REST-JSON on paths (/applications/…) that could also be S3 bucket names: the SigV4
  // credential scope, which every SDK and the CLI send, tells them apart.
  const handleEmrServerless = async (req: IncomingMessage, res: ServerResponse, requestId: string) => {
    try {
      const request = await readRestRequest(req, new URL(req.url ?? '/', 'http://emulator'));
      const route = deps.emrServerless.route(request);
      deps.calls.count('EMRServerless', route?.operation ?? `${request.method} ${request.path}`, false);
      if (!route) throw new RestJsonError('ResourceNotFoundException', `The emulator does not serve EMR Serverless ${request.method} ${request.path}.`, 404);
      sendRestJson(res, requestId, await route.run());
    } catch (error) {
      sendRestJsonError(res, requestId, error instanceof RestJsonError ? error : new RestJsonError('InternalServerException', (error as Error).message, 500));
    }
  };

  return http.createServer((req, res) => {
    const requestId = deps.ids.requestId();
    if (!authNoted && req.headers.authorization) {
      authNoted = true;
      deps.emit({
        resource: 'note',
        id: '',
        state: 'NOTE',
        message: 'requests are signed; the emulator accepts any credentials and does not verify signatures',
      });
    }
    const target = req.headers['x-amz-target'];
    const done =
      typeof target === 'string' && target
        ? handleJson(target, req, res, requestId)
        : signingService(req.headers.authorization) === 'emr-serverless'
          ? handleEmrServerless(req, res, requestId)
          : deps.s3.handle(req, res, new URL(req.url ?? '/', 'http://emulator'), requestId).then((operation) => deps.calls.count('S3', operation, false));
    done.catch((error) => {
      if (!res.headersSent) res.writeHead(500);
      res.end(String(error));
    });
  });
}
