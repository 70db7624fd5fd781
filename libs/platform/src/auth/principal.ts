import { createParamDecorator, ExecutionContext, SetMetadata } from '@nestjs/common';

/** The signed-in user, as proved by a verified access token. What they may do is decided from role views. */
export interface Principal {
  userId: string;
  partnerId: string;
  claims: Record<string, unknown>;
}

export const IS_PUBLIC = 'auth:public';
export const IS_OPERATOR = 'auth:operator';

/** No token needed (health, metrics, docs, JWKS, sign-in). */
export const Public = () => SetMetadata(IS_PUBLIC, true);
/** A platform operator's endpoint: needs the configured operator credential in `X-Operator-Key`, not a user token. */
export const OperatorOnly = () => SetMetadata(IS_OPERATOR, true);

export const CurrentPrincipal = createParamDecorator((_: unknown, ctx: ExecutionContext): Principal => {
  return ctx.switchToHttp().getRequest().principal;
});
