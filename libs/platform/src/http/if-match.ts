import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';
import type { Response } from 'express';
import { Problems } from './problem';

/** `"3"`, `W/"3"` or `3` -> 3; anything else is a 400 on the If-Match field. */
function version(header: unknown): number {
  const match = typeof header === 'string' ? /^(?:W\/)?"?(\d+)"?$/.exec(header.trim()) : null;
  if (!match) throw Problems.field('If-Match', 'must be the ETag of the resource, e.g. "3"');
  return Number(match[1]);
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

/** The resource version a client read, from `If-Match: "3"` (or W/"3"); 428 when absent. */
export const IfMatch = createParamDecorator(
  (_: unknown, ctx: ExecutionContext): number => {
    const header = ctx.switchToHttp().getRequest().headers['if-match'];
    if (typeof header !== 'string' || header.trim() === '') throw Problems.preconditionRequired();
    return version(header);
  },
  [documented(true)],
);

/**
 * If-Match when the client sends one (a stale one answers 412), for changes that are safe to repeat without it:
 * merges and set-to-a-value operations (assigning a role, setting a default bank profile, Submit), where a client
 * that wants to act only on the version it read can still say so.
 */
export const OptionalIfMatch = createParamDecorator(
  (_: unknown, ctx: ExecutionContext): number | undefined => {
    const header = ctx.switchToHttp().getRequest().headers['if-match'];
    return header === undefined ? undefined : version(header);
  },
  [documented(false)],
);

export function setETag(response: Response, version: number): void {
  response.setHeader('ETag', `"${version}"`);
}
