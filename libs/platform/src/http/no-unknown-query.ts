import { CallHandler, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
import type { Observable } from 'rxjs';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum';
import { FORBIDDEN_KEYS } from './body-shape';
import { routeArgs } from './route-args';
import { ValidationProblem } from './problem';

/**
 * Refuses query parameters on a handler that declares none (SPEC §4 "Unknown fields are rejected"). A handler with a
 * `@Query()` DTO has its parameters checked by the global validation pipe (unknown ones refused there); one without
 * never shows the query to the pipe, so `GET /v1/notices?colour=blue` would be answered as if nothing had been sent.
 * Here it answers 400 problem+json naming each parameter, as the pipe words an unknown body field. An interceptor, so
 * that it runs after every guard, the routes' own too (a public route's operator-or-user check, a disabled route's
 * 404): a request without a valid credential still gets 401, and a query string tells nothing of a route it may not use.
 * On a handler with a `@Query()` DTO, only parameters named as Object's own properties are refused here.
 */
@Injectable()
export class NoUnknownQueryInterceptor implements NestInterceptor {
  private readonly takesQuery = new WeakMap<object, boolean>();

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    this.check(context);
    return next.handle();
  }

  /** Throws the 400 for parameters sent to a handler that declares none. */
  private check(context: ExecutionContext): void {
    if (context.getType() !== 'http') return;
    const handler = context.getHandler();
    let takes = this.takesQuery.get(handler);
    if (takes === undefined) {
      takes = declaresQuery(context.getClass(), handler.name);
      this.takesQuery.set(handler, takes);
    }
    const request = context.switchToHttp().getRequest<{ query?: Record<string, unknown>; originalUrl?: string }>();
    const query = (request.query ?? {}) as object;
    // A handler with a query DTO: the pipe refuses unknown parameters, except those named as Object's own properties
    // (`toString`, `constructor`...), which class-transformer skips without a word (as in a body: FORBIDDEN_KEYS).
    // `__proto__` (also as `__proto__[x]`) the query parser drops before anyone reads the query: found in the URL.
    const names = [...Object.keys(query).filter((name) => !takes || FORBIDDEN_KEYS.has(name)), ...droppedNames(request.originalUrl)];
    if (names.length) throw new ValidationProblem(names.map((name) => ({ field: name, message: `property ${name} should not exist` })));
  }
}

/** The parameters of the URL's query string that the query parser drops (`__proto__`, `__proto__[x]`), once. */
function droppedNames(url: string | undefined): string[] {
  const at = url?.indexOf('?') ?? -1;
  if (at < 0) return [];
  const names = [...new URLSearchParams(url!.slice(at + 1)).keys()].map((name) => name.split('[')[0]);
  return names.includes('__proto__') ? ['__proto__'] : [];
}

/** Whether the handler has a `@Query()` parameter (whole query or one of its fields). */
function declaresQuery(controller: object, method: string): boolean {
  return routeArgs(controller, method).some(([key]) => key.split(':')[0] === String(RouteParamtypes.QUERY));
}
