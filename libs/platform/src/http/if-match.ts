import { CallHandler, createParamDecorator, ExecutionContext, HttpStatus, Injectable, NestInterceptor } from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import type { Observable } from 'rxjs';
import { ProblemException, Problems } from './problem';
import { routeArgs } from './route-args';

/**
 * The version an If-Match header names: `"3"` (the ETag as sent) or `3` -> 3. A weak ETag (`W/"3"`) never matches
 * (If-Match compares strongly, RFC 9110 13.1.1): 412. Anything else is a 400 on the If-Match field: a list or `*`
 * names no one version to check against, and the platform's updates are checked against the version the client read.
 */
export function ifMatchVersion(header: unknown): number {
  const value = typeof header === 'string' ? header.trim() : '';
  if (/^W\/"\d+"$/.test(value)) {
    throw new ProblemException(
      HttpStatus.PRECONDITION_FAILED,
      'weak-etag',
      'A weak ETag never matches',
      'If-Match compares ETags strongly, so a weak one (W/"...") never matches; send the ETag as the resource gave it, e.g. "3".',
    );
  }
  const match = VERSION_TAG.exec(value);
  if (!match) throw Problems.field('If-Match', 'must be one ETag of the resource as it was sent, e.g. "3"');
  return Number(match[1] ?? match[2]);
}

/** `"3"` or `3` (a version as the platform writes it: no leading zero, since "03" is not the ETag "3"). */
const VERSION_TAG = /^"(0|[1-9]\d*)"$|^(0|[1-9]\d*)$/;

/** The If-Match header in one form for one version (`3` and `"3"` both `"3"`); anything else as sent, trimmed. */
export function ifMatchTag(header: string | string[]): string {
  const value = String(header).trim();
  const match = VERSION_TAG.exec(value);
  return match ? `"${match[1] ?? match[2]}"` : value;
}

/**
 * The answers If-Match brings, in the operation's OpenAPI document: 412, and 428 when it is required. The header itself
 * is declared by the route (@ApiHeader, with what its version means there); the OpenAPI spec checks that it is.
 */
function documented(required: boolean) {
  return (target: object, key: string | symbol | undefined): void => {
    const descriptor = Object.getOwnPropertyDescriptor(target, key!)!;
    ApiResponse({ status: 412, description: 'The resource changed since it was read: its current version is in currentVersion' })(target, key!, descriptor);
    if (required) ApiResponse({ status: 428, description: 'If-Match is required' })(target, key!, descriptor);
  };
}

/** The factories of IfMatch and OptionalIfMatch, by which IfMatchTakenInterceptor finds the handlers that take it. */
function requiredIfMatch(_: unknown, ctx: ExecutionContext): number {
  const header = ctx.switchToHttp().getRequest().headers['if-match'];
  if (typeof header !== 'string' || header.trim() === '') throw Problems.preconditionRequired();
  return ifMatchVersion(header);
}

function optionalIfMatch(_: unknown, ctx: ExecutionContext): number | undefined {
  const header = ctx.switchToHttp().getRequest().headers['if-match'];
  return header === undefined ? undefined : ifMatchVersion(header);
}

/** The resource version a client read, from `If-Match: "3"`; 428 when absent. */
export const IfMatch = createParamDecorator(requiredIfMatch, [documented(true)]);

/**
 * If-Match when the client sends one (a stale one answers 412), for changes that are safe to repeat without it:
 * merges and set-to-a-value operations (assigning a role, setting a default bank profile, Submit), where a client
 * that wants to act only on the version it read can still say so.
 */
export const OptionalIfMatch = createParamDecorator(optionalIfMatch, [documented(false)]);

/** Whether the handler has an @IfMatch or @OptionalIfMatch parameter (Nest's route-argument metadata, by factory). */
function declaresIfMatch(controller: object, method: string): boolean {
  return routeArgs(controller, method).some(([, { factory }]) => factory === requiredIfMatch || factory === optionalIfMatch);
}

/**
 * If-Match on a write that checks no version (a creation, an action such as marking a notice read, an operator's run)
 * is refused (400 naming the header), not dropped: the client asked that the write happen only on the version it read,
 * and this write would happen whatever it is now (as If-None-Match on a write: noConditionalGet). Reads ignore it.
 * An interceptor, after every guard, as NoUnknownQueryInterceptor: a request without a valid credential still gets 401.
 */
@Injectable()
export class IfMatchTakenInterceptor implements NestInterceptor {
  private readonly takesIfMatch = new WeakMap<object, boolean>();

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() === 'http') {
      const request = context.switchToHttp().getRequest<Request>();
      const read = request.method === 'GET' || request.method === 'HEAD';
      if (!read && request.headers['if-match'] !== undefined && !this.takes(context)) {
        throw Problems.field('If-Match', 'is not taken by this write, which checks no version: send it without (a creation takes an Idempotency-Key)');
      }
    }
    return next.handle();
  }

  private takes(context: ExecutionContext): boolean {
    const handler = context.getHandler();
    let takes = this.takesIfMatch.get(handler);
    if (takes === undefined) {
      takes = declaresIfMatch(context.getClass(), handler.name);
      this.takesIfMatch.set(handler, takes);
    }
    return takes;
  }
}

export function setETag(response: Response, version: number): void {
  response.setHeader('ETag', `"${version}"`);
}
