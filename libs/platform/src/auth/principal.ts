import { applyDecorators, createParamDecorator, ExecutionContext, SetMetadata } from '@nestjs/common';
import { ApiSecurity } from '@nestjs/swagger';
import type { Request } from 'express';

/** The signed-in user, as proved by a verified access token. What they may do is decided from role views. */
export interface Principal {
  userId: string;
  partnerId: string;
  claims: Record<string, unknown>;
}

/**
 * A request as the guards leave it: `principal` for a user's verified token; `operator` true for the operator
 * credential, or the name of the scoped credential presented (OperatorOnly's `alsoKey`: the payments back office's).
 */
export interface RequestCredentials {
  principal?: Principal;
  operator?: true | string;
}
export type AuthenticatedRequest = Request & RequestCredentials;

export const IS_PUBLIC = 'auth:public';
export const IS_OPERATOR = 'auth:operator';

/** No token needed (health, metrics, docs, JWKS, sign-in). */
export const Public = () => SetMetadata(IS_PUBLIC, true);
/**
 * A second credential an operator endpoint also accepts: a narrower one for an outside system (the payments back
 * office), so that it does not hold the platform-wide operator token. `setting` names the service setting holding it
 * (empty: not accepted); it is sent in `header`.
 */
export interface ScopedKey {
  header: string;
  setting: string;
  /** Who presents it, for the request (`request.operator`) and logs. */
  name: string;
}

/**
 * A platform operator's endpoint: needs the configured operator credential in `X-Operator-Key`, not a user token.
 * With `alsoKey`, that scoped credential is accepted too (on a handler, it overrides the controller's plain one).
 */
export const OperatorOnly = (options: { alsoKey?: ScopedKey } = {}) => {
  if (!options.alsoKey) return SetMetadata(IS_OPERATOR, true);
  SCOPED_KEYS.set(options.alsoKey.name, options.alsoKey);
  // In the OpenAPI document, the scoped credential as the alternative to the operator's (the controller's or the
  // route's @ApiSecurity('operator')): its scheme, named after it, is added by documentConventions.
  return applyDecorators(SetMetadata(IS_OPERATOR, options), ApiSecurity(options.alsoKey.name));
};

/**
 * Every scoped credential some operator endpoint of this process accepts (registered by OperatorOnly as the
 * controllers are defined): one presented where it is not accepted is recognized, and refused with 403, not 401.
 */
const SCOPED_KEYS = new Map<string, ScopedKey>();

export function scopedKeys(): ScopedKey[] {
  return [...SCOPED_KEYS.values()];
}

export const CurrentPrincipal = createParamDecorator((_: unknown, ctx: ExecutionContext): Principal => {
  return ctx.switchToHttp().getRequest().principal;
});
