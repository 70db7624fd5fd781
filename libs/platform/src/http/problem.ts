import { HttpException, HttpStatus } from '@nestjs/common';
import { ValidationError } from 'class-validator';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export interface FieldProblem {
  field: string;
  message: string;
}

/** RFC 9457 problem details. */
export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  errors?: FieldProblem[];
  [extension: string]: unknown;
}

/** An HTTP error that carries its problem document; use cases throw these (or Nest's own HttpExceptions). */
export class ProblemException extends HttpException {
  constructor(
    status: HttpStatus,
    readonly problemType: string,
    readonly title: string,
    detail?: string,
    readonly extensions: Record<string, unknown> = {},
  ) {
    super({ title, detail }, status);
  }

  /** Sent as `Retry-After` (seconds): when the same request may succeed. */
  retryAfterSeconds?: number;

  retryAfter(seconds: number): this {
    this.retryAfterSeconds = Math.max(1, Math.ceil(seconds));
    return this;
  }

  /** Sent as `WWW-Authenticate` with a 401 (RFC 9110 11.6.1): how to authenticate. */
  challenges?: string;

  challenge(value: string): this {
    this.challenges = value;
    return this;
  }

  /** Its details (deployment internals: key ids, settings) go to operators only; anyone else gets a plain 500. */
  operatorsOnly = false;

  forOperatorsOnly(): this {
    this.operatorsOnly = true;
    return this;
  }
}

/**
 * A conflict that is only momentary: what the request changes kept changing under it, so nothing was done, and the same
 * request sent again may well succeed. Never stored as an Idempotency-Key's answer.
 */
export class RetryableProblem extends ProblemException {
  /** Read by the consumer library (no import of this one): a consumed event that meets it is retried, not dead-lettered. */
  readonly retryable = true;
}

/** class-validator's type checks: when one fails, the field's other rules say nothing useful. */
const TYPE_RULES = new Set(['isString', 'isInt', 'isNumber', 'isBoolean', 'isArray', 'isObject', 'isDate', 'isDateString']);

export function flattenValidationErrors(errors: ValidationError[], prefix = ''): FieldProblem[] {
  return errors.flatMap((error) => {
    const field = prefix ? `${prefix}.${error.property}` : error.property;
    const constraints = Object.entries(error.constraints ?? {});
    // A field left out fails every rule it has ("must be an email", "must be shorter than 254 characters"): say it
    // is missing (or, sent as null, that it must not be: a change may leave a field out, never null it). One of the
    // wrong type fails its length and format rules too: say only that its type is wrong. (Not for a field that should
    // not be there at all, even sent as null.)
    const absent = (error.value === undefined || error.value === null) && !('whitelistValidation' in (error.constraints ?? {}));
    const wrongType = constraints.filter(([rule]) => TYPE_RULES.has(rule));
    const missing = error.value === null ? `${field} must not be null` : `${field} is required`;
    const messages = absent && constraints.length ? [missing] : (wrongType.length ? wrongType : constraints).map(([, message]) => message);
    const own = messages.map((message) => ({ field, message }));
    return [...own, ...flattenValidationErrors(error.children ?? [], field)];
  });
}

export class ValidationProblem extends ProblemException {
  constructor(readonly fieldErrors: FieldProblem[], detail = 'The request has invalid fields.') {
    super(HttpStatus.BAD_REQUEST, 'validation-error', 'Your request parameters did not validate.', detail, {
      errors: fieldErrors,
    });
  }
}

/** What a 503 for a dependency that did not answer asks a client to wait: about a failover or a driver's reconnect. */
const DEPENDENCY_RETRY_AFTER_SECONDS = 5;

export const Problems = {
  notFound: (what: string) => new ProblemException(HttpStatus.NOT_FOUND, 'not-found', 'Not Found', `${what} was not found.`),
  forbidden: (detail: string) => new ProblemException(HttpStatus.FORBIDDEN, 'forbidden', 'Forbidden', detail),
  conflict: (detail: string, extensions?: Record<string, unknown>) =>
    new ProblemException(HttpStatus.CONFLICT, 'conflict', 'Conflict', detail, extensions),
  // Retry-After as every 409 and 503 is documented with (OpenAPI): a second, the write that held it off being short;
  // a longer wait where one is known (a rollover running) is set over it.
  busy: (detail: string) => new RetryableProblem(HttpStatus.CONFLICT, 'busy', 'Try again', detail).retryAfter(1),
  preconditionFailed: (current: number) =>
    new ProblemException(
      HttpStatus.PRECONDITION_FAILED,
      'stale-version',
      'The resource has changed',
      `If-Match does not match the current version ${current}; read it again and retry.`,
      { currentVersion: current },
    ),
  preconditionRequired: () =>
    new ProblemException(
      HttpStatus.PRECONDITION_REQUIRED,
      'if-match-required',
      'If-Match required',
      'Send If-Match with the version (ETag) of the resource you read.',
    ),
  unprocessable: (detail: string, extensions?: Record<string, unknown>) =>
    new ProblemException(HttpStatus.UNPROCESSABLE_ENTITY, 'unprocessable', 'Request cannot be carried out', detail, extensions),
  field: (field: string, message: string) => new ValidationProblem([{ field, message }]),
  /**
   * The database or the broker did not answer (an outage, a failover): nothing to fix in the request, only to wait. A
   * write the connection broke under may have been applied all the same: a change is sent again with its If-Match
   * (412 if it was) and a creation with its Idempotency-Key.
   */
  dependencyUnavailable: () =>
    new ProblemException(
      HttpStatus.SERVICE_UNAVAILABLE,
      'dependency-unavailable',
      'Service Unavailable',
      'A database or message broker this service needs did not answer, so the request may or may not have taken effect. ' +
        'Send it again shortly: a change with the same If-Match, a creation with the same Idempotency-Key.',
    ).retryAfter(DEPENDENCY_RETRY_AFTER_SECONDS),
};
