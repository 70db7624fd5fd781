import { CONFIG, InvalidTokenError, JwtVerifier, PlatformConfig, Principal, ProblemException, Public } from '@lib/platform';
import {
  applyDecorators,
  CanActivate,
  createParamDecorator,
  ExecutionContext,
  HttpStatus,
  Inject,
  Injectable,
  UseGuards,
} from '@nestjs/common';
import { ApiBearerAuth, ApiSecurity } from '@nestjs/swagger';
import type { Request } from 'express';
import { timingSafeEqual } from 'node:crypto';

/** Who called an endpoint open to both platform operators and signed-in users. */
export type Caller = { operator: true } | { operator: false; principal: Principal };

type CallerRequest = Request & { principal?: Principal; operator?: boolean };

const unauthorized = (detail: string) =>
  new ProblemException(HttpStatus.UNAUTHORIZED, 'unauthorized', 'Authentication required', detail);

/**
 * Accepts the operator credential (X-Operator-Key) or a user's bearer token, checked exactly as the platform's
 * guard does. Used only where both may act (adding a location: operator or the partner's Global admin).
 */
@Injectable()
export class OperatorOrUserGuard implements CanActivate {
  constructor(
    private readonly verifier: JwtVerifier,
    @Inject(CONFIG) private readonly config: PlatformConfig,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<CallerRequest>();
    const operatorKey = request.headers['x-operator-key'];
    if (operatorKey !== undefined) {
      const given = Buffer.from(String(operatorKey));
      const expected = Buffer.from(this.config.OPERATOR_TOKEN);
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        throw unauthorized('The X-Operator-Key credential is not valid.');
      }
      request.operator = true;
      return true;
    }
    const match = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '');
    if (!match) throw unauthorized('Send an access token (Authorization: Bearer <token>) or the operator credential (X-Operator-Key).');
    try {
      request.principal = await this.verifier.verify(match[1]);
    } catch (error) {
      if (error instanceof InvalidTokenError) throw unauthorized(error.message);
      throw error;
    }
    return true;
  }
}

export const OperatorOrUser = () =>
  applyDecorators(Public(), UseGuards(OperatorOrUserGuard), ApiSecurity('operator'), ApiBearerAuth());

export const CurrentCaller = createParamDecorator((_: unknown, ctx: ExecutionContext): Caller => {
  const request = ctx.switchToHttp().getRequest<CallerRequest>();
  return request.operator ? { operator: true } : { operator: false, principal: request.principal! };
});
