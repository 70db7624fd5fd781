import {
  applyDecorators,
  CanActivate,
  createParamDecorator,
  ExecutionContext,
  Inject,
  Injectable,
  UseGuards,
} from '@nestjs/common';
import { ApiBearerAuth, ApiSecurity } from '@nestjs/swagger';
import { CONFIG } from '../config/config';
import type { PlatformConfig } from '../platform.module';
import { CHALLENGES, hasOperatorKey, unauthorized, verifyBearer } from './auth.guard';
import { JwtVerifier } from './jwt-verifier';
import { AuthenticatedRequest, Principal, Public } from './principal';

/** Who called an endpoint open to both platform operators and signed-in users. */
export type Caller = { operator: true } | { operator: false; principal: Principal };


/**
 * Accepts the operator credential (X-Operator-Key) or a user's bearer token, checked exactly as the platform's
 * guard does. Used only where both may act (identity: reading a partner, operator or its users; enrollment: reading
 * the program catalog, which only operators change).
 */
@Injectable()
export class OperatorOrUserGuard implements CanActivate {
  constructor(
    private readonly verifier: JwtVerifier,
    @Inject(CONFIG) private readonly config: PlatformConfig,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    if (request.headers['x-operator-key'] !== undefined) {
      if (!hasOperatorKey(request, this.config)) throw unauthorized('The X-Operator-Key credential is not valid.', CHALLENGES.operator);
      request.operator = true;
      return true;
    }
    request.principal = await verifyBearer(
      request,
      this.verifier,
      'Send an access token (Authorization: Bearer <token>) or the operator credential (X-Operator-Key).',
      `${CHALLENGES.bearer}, ${CHALLENGES.operator}`,
    );
    return true;
  }
}

export const OperatorOrUser = () =>
  applyDecorators(Public(), UseGuards(OperatorOrUserGuard), ApiSecurity('operator'), ApiBearerAuth());

export const CurrentCaller = createParamDecorator((_: unknown, ctx: ExecutionContext): Caller => {
  const request = ctx.switchToHttp().getRequest<AuthenticatedRequest>();
  return request.operator ? { operator: true } : { operator: false, principal: request.principal! };
});
