import { isInfrastructure } from '@lib/messaging';
import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import { STATUS_CODES } from 'node:http';
import { throwError } from 'rxjs';
import type { Request, Response } from 'express';
import { loggedUrl } from '../logging/redaction';
import { withoutDuplicateKeyValues } from '../tracing/tracing';
import { methodNotAllowed } from './method-not-allowed';
import { PROBLEM_CONTENT_TYPE, ProblemDetails, ProblemException, Problems } from './problem';
import type { AuthenticatedRequest } from '../auth/principal';

const TYPE_BASE = 'https://incentives.partner.example/problems/';
const DEPENDENCY_LOG_EVERY_MS = 10_000;

/**
 * What a body the JSON parser refused in strict mode (objects and arrays only) is, when it is valid JSON all the same:
 * `null`, `a number`, `a string` or `a boolean` (body-parser keeps the raw body on its error); undefined otherwise.
 */
function jsonScalar(raw: unknown): string | undefined {
  if (typeof raw !== 'string') return undefined;
  try {
    const value: unknown = JSON.parse(raw);
    return value === null ? 'null' : typeof value === 'object' ? undefined : `a ${typeof value}`;
  } catch {
    return undefined;
  }
}

/** Every HTTP error leaves as application/problem+json. In a Kafka context the error is passed on untouched. */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  private readonly logger = new Logger('HTTP');
  /** Requests answered 503 for a dependency since the last line said so (one line per DEPENDENCY_LOG_EVERY_MS). */
  private unavailable = { since: 0, count: 0 };

  catch(exception: unknown, host: ArgumentsHost) {
    if (host.getType() !== 'http') return throwError(() => exception);
    const request = host.switchToHttp().getRequest<AuthenticatedRequest>();
    const response = host.switchToHttp().getResponse<Response>();
    // A path that exists under other methods: 405 with Allow, not Nest's 404.
    const wrongMethod = methodNotAllowed(exception, request);
    if (wrongMethod) response.setHeader('Allow', wrongMethod.allow);
    // The database or broker not answering: 503 with Retry-After (the client may retry the same request), not a 500.
    const down = !wrongMethod && isInfrastructure(exception);
    if (down) this.dependencyDown(exception);
    const thrown = wrongMethod?.problem ?? (down ? Problems.dependencyUnavailable() : exception);
    // Details meant for operators (logged below all the same) are not shown to anyone else: not to a user, nor to the
    // holder of a narrower credential (`request.operator` then names it: the payments back office's).
    const shown = thrown instanceof ProblemException && thrown.operatorsOnly && request.operator !== true ? new Error(thrown.message) : thrown;
    const problem = this.toProblemAt(shown, request);
    // A 503 thrown on purpose (not ready yet, busy) is an answer, not a failure: readiness probes poll it at start.
    if (problem.status >= 500 && !(problem.status === 503 && thrown instanceof HttpException)) {
      // An error no use case mapped: a duplicate key quotes its values (an email address), which no log keeps.
      this.logger.error(`${request.method} ${loggedUrl(request.originalUrl)}: ${withoutDuplicateKeyValues(String((exception as Error)?.stack ?? exception))}`);
    }
    if (thrown instanceof ProblemException && thrown.retryAfterSeconds) response.setHeader('Retry-After', String(thrown.retryAfterSeconds));
    if (thrown instanceof ProblemException && thrown.challenges) response.setHeader('WWW-Authenticate', thrown.challenges);
    response.status(problem.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem));
    return undefined;
  }

  /**
   * One warning line (no stack: the driver's error says what it is) per DEPENDENCY_LOG_EVERY_MS while a dependency does
   * not answer, with how many requests were answered 503 since the last: an outage under load is not a line per request.
   */
  private dependencyDown(error: unknown): void {
    this.unavailable.count += 1;
    const now = Date.now();
    if (now - this.unavailable.since < DEPENDENCY_LOG_EVERY_MS) return;
    const { name, message } = error as { name?: unknown; message?: unknown };
    this.logger.warn(`${this.unavailable.count} request(s) answered 503, a dependency not answering: ${String(name)}: ${withoutDuplicateKeyValues(String(message))}`);
    this.unavailable = { since: now, count: 0 };
  }

  /** The problem document of an error answering `request` (its `instance`). */
  toProblemAt(exception: unknown, request: Request): ProblemDetails {
    return { ...this.toProblem(exception), instance: request.originalUrl };
  }

  toProblem(exception: unknown): ProblemDetails {
    if (exception instanceof ProblemException) {
      return {
        ...exception.extensions,
        type: TYPE_BASE + exception.problemType,
        title: exception.title,
        status: exception.getStatus(),
        ...(exception.getResponse() as { detail?: string }).detail !== undefined && {
          detail: (exception.getResponse() as { detail?: string }).detail,
        },
      };
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const body = exception.getResponse();
      const message =
        typeof body === 'string' ? body : ((body as { message?: string | string[] }).message ?? exception.message);
      // Structured bodies (e.g. the health check's per-dependency report) travel as extension members.
      const { statusCode: _s, message: _m, error: _e, ...extensions } =
        typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
      return {
        ...extensions,
        type: status === 404 ? TYPE_BASE + 'not-found' : 'about:blank',
        title: STATUS_CODES[status] ?? 'Error',
        status,
        detail: Array.isArray(message) ? message.join('; ') : message,
      };
    }
    if (exception instanceof SyntaxError && (exception as { status?: number }).status === 400) {
      // Not the parser's message: on Node 20 it quotes part of the body, which may hold a secret.
      const position = /at position (\d+)/.exec(exception.message)?.[1];
      const scalar = jsonScalar((exception as { body?: unknown }).body);
      const detail = scalar
        ? `The request body must be a JSON object, not ${scalar}.`
        : `The request body is not valid JSON${position === undefined ? '' : ` (at position ${position})`}.`;
      return { type: TYPE_BASE + 'malformed-body', title: 'Malformed JSON body', status: 400, detail };
    }
    const parsing = bodyParserProblem(exception);
    if (parsing) return parsing;
    const status = (exception as { status?: number })?.status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      return { type: 'about:blank', title: STATUS_CODES[status] ?? 'Error', status, detail: (exception as Error).message };
    }
    return {
      type: 'about:blank',
      title: 'Internal Server Error',
      status: HttpStatus.INTERNAL_SERVER_ERROR,
      detail: 'An unexpected error occurred.',
    };
  }
}

/** The body parser's refusals (http-errors with a `type`), typed as the platform's problems are; null for another error. */
function bodyParserProblem(exception: unknown): ProblemDetails | null {
  const { type, status, limit, charset, encoding } = (exception ?? {}) as { type?: unknown; status?: unknown; limit?: unknown; charset?: unknown; encoding?: unknown };
  if (typeof type !== 'string' || typeof status !== 'number') return null;
  switch (type) {
    case 'entity.too.large':
      return { type: TYPE_BASE + 'body-too-large', title: 'Request body too large', status: 413, detail: `The request body is larger than the ${limit} bytes a request may send.` };
    case 'request.aborted':
      return { type: TYPE_BASE + 'request-aborted', title: 'Request aborted', status: 400, detail: 'The request ended before its body did.' };
    case 'charset.unsupported':
      return { type: TYPE_BASE + 'unsupported-media-type', title: 'Unsupported Media Type', status: 415, detail: `Send the body as JSON in UTF-8, not ${charset}.` };
    case 'encoding.unsupported':
      return { type: TYPE_BASE + 'unsupported-media-type', title: 'Unsupported Media Type', status: 415, detail: `Send the body without Content-Encoding ${encoding} (gzip and deflate are read).` };
    default:
      return null;
  }
}
