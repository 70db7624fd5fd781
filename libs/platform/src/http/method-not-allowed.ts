import { HttpStatus, NotFoundException } from '@nestjs/common';
import type { Request } from 'express';
import { ProblemException } from './problem';

interface RouteLayer {
  route?: { path: string; methods: Record<string, boolean> };
  match(path: string): boolean;
}

/**
 * The methods the application's routes answer on this request's path (Express's router, after no route took the
 * request), `HEAD` with `GET` as Express serves it; empty when no route has the path. Routes with a wildcard are
 * middleware Nest mounts for every path and method (`forRoutes('*')`), not endpoints.
 */
export function allowedMethods(request: Request): string[] {
  const stack = ((request.app as unknown as { _router?: { stack?: RouteLayer[] } })?._router?.stack ?? []) as RouteLayer[];
  const methods = new Set<string>();
  for (const layer of stack) {
    if (!layer.route || String(layer.route.path).includes('*') || !layer.match(request.path)) continue;
    for (const [method, on] of Object.entries(layer.route.methods)) if (on && method !== '_all') methods.add(method.toUpperCase());
  }
  if (methods.has('GET')) methods.add('HEAD');
  return [...methods].sort();
}

/**
 * The 405 (with the methods to put in `Allow`) for a request no route took because of its method (RFC 9110 15.5.6),
 * instead of the 404 Nest answers when no route matched: the path exists, under other methods. Undefined otherwise.
 */
export function methodNotAllowed(exception: unknown, request: Request): { problem: ProblemException; allow: string } | undefined {
  // Nest's handler for requests no route took throws exactly this; a handler's own 404 says what was not found.
  if (!(exception instanceof NotFoundException) || exception.message !== `Cannot ${request.method} ${request.originalUrl}`) return undefined;
  const allowed = allowedMethods(request);
  if (!allowed.length || allowed.includes(request.method)) return undefined;
  const allow = allowed.join(', ');
  const problem = new ProblemException(
    HttpStatus.METHOD_NOT_ALLOWED,
    'method-not-allowed',
    'Method not allowed',
    `${request.method} is not allowed on ${request.path}; it answers ${allow}.`,
  );
  return { problem, allow };
}
