import { Trace, Tracing } from '@lib/messaging';
import { isUuid } from '@lib/contracts';
import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Params } from 'nestjs-pino';
import pino, { DestinationStream, Logger as PinoLogger } from 'pino';
import { loggedUrl } from './redaction';

export { loggedUrl, REDACTED_QUERY_PARAMS } from './redaction';

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

/** The request's correlation id, echoed in every answer (correlationMiddleware). */
export const CORRELATION_HEADER = 'x-correlation-id';
/** The request's own id (the causationId of the events it causes), in every answer (correlationMiddleware). */
export const REQUEST_ID_HEADER = 'x-request-id';

/** The JSON logs of a service: every line names it by SERVICE_NAME (as its process metrics do), from LOG_LEVEL up. */
export function pinoParams({ SERVICE_NAME, LOG_LEVEL }: { SERVICE_NAME: string; LOG_LEVEL: string }): Params {
  return {
    pinoHttp: {
      level: LOG_LEVEL,
      base: { service: SERVICE_NAME },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      genReqId: () => Trace.current()?.causationId ?? randomUUID(),
      // Not `customProps` as well: it made two child loggers per request to add what the mixin adds to every line.
      mixin: () => {
        const trace = Trace.current();
        const ids = trace ? { correlationId: trace.correlationId, causationId: trace.causationId } : {};
        return Tracing.enabled ? { ...ids, ...Tracing.activeIds() } : ids;
      },
      autoLogging: { ignore: (request) => /^\/(health|metrics)/.test(request.url ?? '') },
      serializers: {
        req: (req: { method: string; url: string; id: string }) => ({ method: req.method, url: loggedUrl(req.url ?? ''), id: req.id }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
    },
  };
}

/**
 * Every request runs inside a trace, so its events and log lines carry its ids (SPEC 3: both UUIDs): the
 * correlation id the client sent in X-Correlation-Id when it is a UUID (a new one otherwise), and a new request id
 * as the causation id of the events it causes (the request caused them). Both are echoed in the answer's headers.
 */
export function correlationMiddleware(request: Request, response: Response, next: NextFunction): void {
  const header = request.headers[CORRELATION_HEADER];
  const correlationId = isUuid(header) ? header.toLowerCase() : randomUUID();
  const requestId = randomUUID();
  response.setHeader(CORRELATION_HEADER, correlationId);
  response.setHeader(REQUEST_ID_HEADER, requestId);
  Trace.run({ correlationId, causationId: requestId }, next);
}

const auditLoggers = new Map<string, PinoLogger>();
/** Off in a process whose services were made with their logs off (tests: CreateOptions.logs false). */
let auditLogs = true;

export function turnAuditLogsOff(): void {
  auditLogs = false;
}

/**
 * An audit line: written whatever LOG_LEVEL says (`LOG_LEVEL=error` keeps it too), in the same JSON form as the
 * service's other lines (`service`: its SERVICE_NAME, the trace ids) and marked `audit: true`, so that a log pipeline
 * can keep it apart. For what must be traceable afterwards: who read decrypted secrets. `destination`: where it goes
 * (stdout, written synchronously as the service's other lines; a test's).
 */
export function auditLog(service: string, message: string, fields: Record<string, unknown> = {}, destination?: DestinationStream): void {
  if (!destination && !auditLogs) return;
  let logger = destination ? pino({ base: { service }, level: 'info' }, destination) : auditLoggers.get(service);
  if (!logger) auditLoggers.set(service, (logger = pino({ base: { service }, level: 'info' }, pino.destination({ dest: 1, sync: true }))));
  const trace = Trace.current();
  const ids = trace ? { correlationId: trace.correlationId, causationId: trace.causationId } : {};
  logger.info({ audit: true, ...ids, ...(Tracing.enabled ? Tracing.activeIds() : {}), ...fields }, message);
}
