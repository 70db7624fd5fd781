import { Problems } from '@lib/platform';
import { createParamDecorator, ExecutionContext } from '@nestjs/common';

/**
 * If-Match when the client sends one (same format as the platform's @IfMatch(); a stale one answers 412), for
 * operations that are safe to repeat without it (Submit: submitting twice changes nothing).
 */
export const OptionalIfMatch = createParamDecorator((_: unknown, ctx: ExecutionContext): number | undefined => {
  const header = ctx.switchToHttp().getRequest().headers['if-match'];
  if (header === undefined) return undefined;
  const match = typeof header === 'string' ? /^(?:W\/)?"?(\d+)"?$/.exec(header.trim()) : null;
  if (!match) throw Problems.field('If-Match', 'must be the ETag of the resource, e.g. "3"');
  return Number(match[1]);
});
