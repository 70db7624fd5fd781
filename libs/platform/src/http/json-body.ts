import { HttpStatus, Logger } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { AsyncResource } from 'node:async_hooks';
import { PROBLEM_CONTENT_TYPE, ProblemException } from './problem';
import { ProblemFilter } from './problem.filter';

/**
 * A body that is not JSON answers 415: the JSON parser would leave it unread, and the request would then fail
 * validation field by field as if it had sent nothing.
 */
export function requireJsonBody(request: Request, _response: Response, next: NextFunction): void {
  const hasBody = Number(request.headers['content-length'] ?? 0) > 0 || request.headers['transfer-encoding'] !== undefined;
  // A merge patch (RFC 7396) merges nested objects and removes what is null; a JSON patch is a list of operations.
  // Read as application/json, a PATCH's nested object (an address, a beneficiary) would replace the stored one whole,
  // the fields the client meant to keep lost: refused, saying how a PATCH here is read.
  const patch = hasBody && request.is(['application/merge-patch+json', 'application/json-patch+json']);
  if (patch) {
    const detail =
      `${patch} is not applied as its RFC says: send application/json, whose fields replace the stored ones ` +
      '(a nested object whole, with every field it keeps), and whose fields left out are kept.';
    return next(new ProblemException(HttpStatus.UNSUPPORTED_MEDIA_TYPE, 'unsupported-media-type', 'Unsupported Media Type', detail));
  }
  if (!hasBody || request.is(['application/json', 'application/*+json'])) return next();
  const detail = `Send the body as JSON (Content-Type: application/json), not ${request.headers['content-type'] ?? 'without a Content-Type'}.`;
  // Answered by bodyErrorHandler, as the body parser's own errors are.
  const refuse = () => next(new ProblemException(HttpStatus.UNSUPPORTED_MEDIA_TYPE, 'unsupported-media-type', 'Unsupported Media Type', detail));
  // Sent chunked without a Content-Type: a client streaming a body it may leave empty (a Submit's), which only its end
  // tells. Nothing: no body. A first byte: refused at once, the rest read and dropped (the connection stays usable).
  // The stream's events come from the connection's context: the request's (its trace, its correlation id) is bound to
  // what they decide, as the body parser does.
  if (request.headers['content-type'] === undefined && request.headers['content-length'] === undefined) {
    let decided = false;
    const decide = AsyncResource.bind((answer: () => void) => {
      if (decided) return;
      decided = true;
      answer();
    });
    request.on('data', (chunk: Buffer) => chunk.length > 0 && decide(refuse));
    request.once('end', () => decide(next));
    // The client went away before the body's end (or Node's requestTimeout ended it): the body parser's own error for
    // it (400 request-aborted), not a 500.
    request.once('error', () => decide(() => next(Object.assign(new Error('request aborted'), { status: 400, type: 'request.aborted' }))));
    return;
  }
  refuse();
}

/**
 * Body-parser errors happen before routing; they still answer problem+json, and are logged (the request log is written
 * by a middleware that runs after the body parser: such a request would leave no line at all).
 */
export function bodyErrorHandler(error: unknown, request: Request, response: Response, next: NextFunction): void {
  if (response.headersSent) return next(error);
  const problem = new ProblemFilter().toProblemAt(error, request);
  BODY_ERRORS.log(`${request.method} ${request.path} answered ${problem.status} before routing: ${problem.title}`);
  response.status(problem.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem));
}

const BODY_ERRORS = new Logger('HttpBody');
