import { ROUTE_ARGS_METADATA } from '@nestjs/common/constants';

/**
 * The parameters a route handler declares, as Nest records them (`@Query()`, `@Body()`, a custom decorator's
 * `factory`...), keyed `<type>:<index>` (a custom one `<type><CUSTOM>:<index>`). What the interceptors that refuse what
 * a handler does not take read (NoUnknownQueryInterceptor, IfMatchTakenInterceptor).
 */
export function routeArgs(controller: object, method: string): Array<[key: string, arg: { factory?: unknown }]> {
  return Object.entries((Reflect.getMetadata(ROUTE_ARGS_METADATA, controller, method) ?? {}) as Record<string, { factory?: unknown }>);
}
