import { Trace } from '@lib/messaging';
import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Params } from 'nestjs-pino';

/** Secrets never reach a log line, whatever object they travel in. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers["x-operator-key"]',
  'req.headers.cookie',
  '*.password',
  '*.accountNumber',
  '*.iban',
  '*.taxId',
  '*.vatId',
  '*.routingNumber',
  '*.token',
  '*.accessToken',
];

const CORRELATION_HEADER = 'x-correlation-id';

export function pinoParams(service: string, level: string): Params {
  return {
    pinoHttp: {
      level,
      base: { service },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      genReqId: (request) => Trace.current()?.correlationId ?? String(request.headers[CORRELATION_HEADER] ?? randomUUID()),
      // Not `customProps` as well: it made two child loggers per request to add what the mixin adds to every line.
      mixin: () => {
        const trace = Trace.current();
        return trace ? { correlationId: trace.correlationId, causationId: trace.causationId } : {};
      },
      autoLogging: { ignore: (request) => /^\/(health|metrics)/.test(request.url ?? '') },
      serializers: {
        req: (req: { method: string; url: string; id: string }) => ({ method: req.method, url: req.url, id: req.id }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
    },
  };
}

/** Every request runs inside a trace, so its events and log lines carry its correlation id. */
export function correlationMiddleware(request: Request, response: Response, next: NextFunction): void {
  const header = request.headers[CORRELATION_HEADER];
  const correlationId = typeof header === 'string' && /^[\w.:-]{1,100}$/.test(header) ? header : randomUUID();
  response.setHeader(CORRELATION_HEADER, correlationId);
  Trace.run({ correlationId, causationId: correlationId }, next);
}
