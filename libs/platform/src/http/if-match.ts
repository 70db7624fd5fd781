import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import type { Response } from 'express';
import { Problems } from './problem';

/** The resource version a client read, from `If-Match: "3"` (or W/"3"); 428 when absent. */
export const IfMatch = createParamDecorator((_: unknown, ctx: ExecutionContext): number => {
  const header = ctx.switchToHttp().getRequest().headers['if-match'];
  if (typeof header !== 'string' || header.trim() === '') throw Problems.preconditionRequired();
  const match = /^(?:W\/)?"?(\d+)"?$/.exec(header.trim());
  if (!match) throw Problems.field('If-Match', 'must be the ETag of the resource, e.g. "3"');
  return Number(match[1]);
});

export function setETag(response: Response, version: number): void {
  response.setHeader('ETag', `"${version}"`);
}
