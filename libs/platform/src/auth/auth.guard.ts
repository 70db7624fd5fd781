import { CanActivate, ExecutionContext, HttpStatus, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';
import { CONFIG } from '../config/config';
import { ProblemException } from '../http/problem';
import type { PlatformConfig } from '../platform.module';
import { InvalidTokenError, JwtVerifier } from './jwt-verifier';
import { IS_OPERATOR, IS_PUBLIC } from './principal';

const unauthorized = (detail: string) =>
  new ProblemException(HttpStatus.UNAUTHORIZED, 'unauthorized', 'Authentication required', detail);

/** Global guard: every HTTP route needs a verified bearer token unless marked @Public() or @OperatorOnly(). */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly verifier: JwtVerifier,
    @Inject(CONFIG) private readonly config: PlatformConfig,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, targets)) return true;
    const request = context.switchToHttp().getRequest<Request & { principal?: unknown; operator?: boolean }>();

    if (this.reflector.getAllAndOverride<boolean>(IS_OPERATOR, targets)) {
      const given = Buffer.from(String(request.headers['x-operator-key'] ?? ''));
      const expected = Buffer.from(this.config.OPERATOR_TOKEN);
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        throw unauthorized('This operation needs the operator credential in the X-Operator-Key header.');
      }
      request.operator = true;
      return true;
    }

    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) throw unauthorized('Send an access token: Authorization: Bearer <token>.');
    try {
      request.principal = await this.verifier.verify(match[1]);
    } catch (error) {
      if (error instanceof InvalidTokenError) throw unauthorized(error.message);
      throw error;
    }
    return true;
  }
}
