import type { NextFunction, Request, Response } from 'express';
import { Problems } from './problem';

/**
 * Our ETags are the resources' versions, for If-Match (SPEC 4), not cache validators: an answer can change while its
 * version does not (an enrollment's program renamed, its next action as the program or the clock moves on, another
 * viewer's wording). Express answers 304 to an If-None-Match naming the ETag a handler set, and a browser revalidating
 * its copy kept the stale one: conditional GETs are not served, every read answers in full. On a write, If-None-Match
 * and If-Unmodified-Since are conditions the write must not run without (`If-None-Match: *`: create only, never
 * replace, RFC 9110 13.1), which no write here checks: refused (400 naming the header), not dropped, so that a
 * create-only PUT never replaces what is there. If-Match is the write's condition here.
 */
export function noConditionalGet(request: Request, response: Response, next: NextFunction): void {
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    const unchecked = (['If-None-Match', 'If-Unmodified-Since'] as const).find((name) => request.headers[name.toLowerCase()] !== undefined);
    if (unchecked) {
      return next(Problems.field(unchecked, 'is not taken on a write: send If-Match with the ETag read (an update), or an Idempotency-Key (a creation)'));
    }
  }
  delete request.headers['if-none-match'];
  delete request.headers['if-modified-since'];
  // Nor are answers kept by caches on the way: they are a partner's data (a back office's decrypted details behind
  // X-Operator-Key, which is no Authorization header a shared cache would know to leave alone). A route whose answer is
  // public says so itself, in its handler once it answers (the JWKS: res.setHeader), never with @Header, which Nest
  // applies before the handler runs, to its error answers too.
  response.setHeader('Cache-Control', 'no-store');
  next();
}
