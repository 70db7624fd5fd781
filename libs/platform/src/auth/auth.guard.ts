import { CanActivate, ExecutionContext, HttpStatus, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';
import { CONFIG } from '../config/config';
import { ProblemException } from '../http/problem';
import type { PlatformConfig } from '../platform.module';
import { InvalidTokenError, JwtVerifier } from './jwt-verifier';
import { IS_OPERATOR, IS_PUBLIC, Principal } from './principal';

export const unauthorized = (detail: string) =>
  new ProblemException(HttpStatus.UNAUTHORIZED, 'unauthorized', 'Authentication required', detail);

/** Whether the request carries the operator credential (X-Operator-Key), compared in constant time. */
export function hasOperatorKey(request: Request, operatorToken: string): boolean {
  const header = request.headers['x-operator-key'];
  if (typeof header !== 'string' || !header || !operatorToken) return false;
  const given = Buffer.from(header);
  const expected = Buffer.from(operatorToken);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** The caller of the request's bearer token; 401 without one (`missing` says what to send) or when it is not valid. */
export async function verifyBearer(request: Request, verifier: JwtVerifier, missing: string): Promise<Principal> {
  const match = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '');
  if (!match) throw unauthorized(missing);
  try {
    return await verifier.verify(match[1]);
  } catch (error) {
    if (error instanceof InvalidTokenError) throw unauthorized(error.message);
    throw error;
  }
}

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
      if (!hasOperatorKey(request, this.config.OPERATOR_TOKEN)) {
        throw unauthorized('This operation needs the operator credential in the X-Operator-Key header.');
      }
      request.operator = true;
      return true;
    }
    request.principal = await verifyBearer(request, this.verifier, 'Send an access token: Authorization: Bearer <token>.');
    return true;
  }
}
