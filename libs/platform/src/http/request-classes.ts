import { INestApplication, Type } from '@nestjs/common';
import { ROUTE_ARGS_METADATA } from '@nestjs/common/constants';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum';
import { ModulesContainer } from '@nestjs/core';

/**
 * The classes the app's routes read a whole body or query string into (`@Body() dto: SomeDto`, `@Query() q: SomeQuery`):
 * what the OpenAPI document's request schemas are made from, and whose class-validator rules it states.
 */
export function requestClasses(app: Pick<INestApplication, 'get'>): Array<Type<unknown>> {
  const found = new Set<Type<unknown>>();
  for (const { controllers } of app.get(ModulesContainer).values()) {
    for (const { metatype } of controllers.values()) {
      if (!metatype) continue;
      for (const name of Object.getOwnPropertyNames(metatype.prototype)) {
        const types = (Reflect.getMetadata('design:paramtypes', metatype.prototype, name) ?? []) as Array<Type<unknown> | undefined>;
        const args = (Reflect.getMetadata(ROUTE_ARGS_METADATA, metatype, name) ?? {}) as Record<string, { index: number; data?: unknown }>;
        for (const [key, { index, data }] of Object.entries(args)) {
          const type = types[index];
          const kind = Number(key.split(':')[0]);
          if (data !== undefined || !type || [Object, String, Number, Boolean, Array].includes(type as never)) continue;
          if (kind === RouteParamtypes.BODY || kind === RouteParamtypes.QUERY) found.add(type);
        }
      }
    }
  }
  return [...found];
}
