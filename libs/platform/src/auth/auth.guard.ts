import { CanActivate, ExecutionContext, HttpStatus, Inject, Injectable, Logger } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';
import { CONFIG } from '../config/config';
import { ProblemException } from '../http/problem';
import type { PlatformConfig } from '../platform.module';
import { ISSUER_KEYS_RETRY_MS, IssuerKeysUnavailableError } from './issuer-keys';
import { InvalidTokenError, JwtVerifier } from './jwt-verifier';
import { AuthenticatedRequest, IS_OPERATOR, IS_PUBLIC, Principal, ScopedKey, scopedKeys } from './principal';

/** The protection space named in the platform's authentication challenges. */
const REALM = 'incentives-platform';

/** The challenges of a 401 (WWW-Authenticate): a bearer token (RFC 6750), or the operator credential's header. */
export const CHALLENGES = {
  bearer: `Bearer realm="${REALM}"`,
  /** A token was sent and refused (RFC 6750 3.1). */
  invalidToken: `Bearer realm="${REALM}", error="invalid_token"`,
  operator: `X-Operator-Key realm="${REALM}"`,
};

/** A 401 problem with the challenge (WWW-Authenticate) that says how to authenticate instead. */
export const unauthorized = (detail: string, challenge: string = CHALLENGES.bearer) =>
  new ProblemException(HttpStatus.UNAUTHORIZED, 'unauthorized', 'Authentication required', detail).challenge(challenge);

/**
 * Whether the request's X-Operator-Key is the operators' credential: OPERATOR_TOKEN, or during its rotation the one it
 * replaces (OPERATOR_PREVIOUS_TOKEN), so that replicas restarted with the new one and those still on the old one accept
 * the same callers until every replica has the new one.
 */
export function hasOperatorKey(request: Request, config: Pick<PlatformConfig, 'OPERATOR_TOKEN' | 'OPERATOR_PREVIOUS_TOKEN'>): boolean {
  return hasKey(request, 'x-operator-key', config.OPERATOR_TOKEN) || hasKey(request, 'x-operator-key', config.OPERATOR_PREVIOUS_TOKEN);
}

/** Whether `header` holds `expected` (never when either is empty), compared in constant time. */
function hasKey(request: Request, header: string, expected: string | undefined): boolean {
  const given = request.headers[header.toLowerCase()];
  return typeof given === 'string' && sameSecret(given, expected);
}

/** Whether the request's `Authorization: Bearer <token>` is `expected` (never when either is empty), in constant time. */
export function hasBearerKey(request: Request, expected: string): boolean {
  const given = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1];
  return given !== undefined && sameSecret(given, expected);
}

function sameSecret(given: string, expected: string | undefined): boolean {
  if (!given || !expected) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

const KEYS_UNAVAILABLE = 'The keys that verify access tokens cannot be read now. Send the same request again shortly.';

/** Logs why the issuer's keys are unavailable at most once per ISSUER_KEYS_RETRY_MS (every request meets it meanwhile). */
const keysUnavailableLog = {
  logger: new Logger('Auth'),
  lastAt: 0,
  warn(message: string): void {
    if (Date.now() - this.lastAt < ISSUER_KEYS_RETRY_MS) return;
    this.lastAt = Date.now();
    this.logger.warn(message);
  },
};

/**
 * The caller of the request's bearer token; 401 without one (`missing` says what to send, `challenge` how) or when it
 * is not valid.
 */
export async function verifyBearer(request: Request, verifier: JwtVerifier, missing: string, challenge: string = CHALLENGES.bearer): Promise<Principal> {
  const match = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '');
  if (!match) throw unauthorized(missing, challenge);
  try {
    return await verifier.verify(match[1]);
  } catch (error) {
    if (error instanceof InvalidTokenError) throw unauthorized(error.message, CHALLENGES.invalidToken);
    // The token may well be valid: the client retries the same request, rather than signing in again.
    // What failed (the issuer's address, the token's key id) is the operators' to read, in the log: not told to a
    // caller not authenticated yet (and the key id is the caller's own input).
    if (error instanceof IssuerKeysUnavailableError) {
      keysUnavailableLog.warn(error.message);
      throw new ProblemException(HttpStatus.SERVICE_UNAVAILABLE, 'issuer-keys-unavailable', 'Token keys unavailable', KEYS_UNAVAILABLE).retryAfter(ISSUER_KEYS_RETRY_MS / 1000);
    }
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
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();

    const operatorOnly = this.reflector.getAllAndOverride<true | { alsoKey: ScopedKey } | undefined>(IS_OPERATOR, targets);
    if (operatorOnly) {
      if (hasOperatorKey(request, this.config)) {
        request.operator = true;
        return true;
      }
      const also = operatorOnly === true ? undefined : operatorOnly.alsoKey;
      if (also && this.presents(request, also)) {
        request.operator = also.name;
        return true;
      }
      // A valid scoped credential of this service, where it is not accepted: known, but not allowed here.
      const elsewhere = scopedKeys().find((key) => key.name !== also?.name && this.presents(request, key));
      if (elsewhere) {
        throw new ProblemException(
          HttpStatus.FORBIDDEN,
          'forbidden',
          'Forbidden',
          `The ${elsewhere.name} credential (${elsewhere.header}) is not accepted by this operation; it needs the operator credential in the X-Operator-Key header.`,
        );
      }
      throw unauthorized(
        `This operation needs the operator credential in the X-Operator-Key header${also ? ` (or the ${also.name} credential in ${also.header})` : ''}.`,
        also ? `${CHALLENGES.operator}, ${also.header} realm="${REALM}"` : CHALLENGES.operator,
      );
    }
    request.principal = await verifyBearer(request, this.verifier, 'Send an access token: Authorization: Bearer <token>.');
    return true;
  }

  /** Whether the request carries this scoped credential, as the service's setting holds it (never when unset). */
  private presents(request: Request, key: ScopedKey): boolean {
    const expected = (this.config as unknown as Record<string, unknown>)[key.setting];
    return typeof expected === 'string' && hasKey(request, key.header, expected);
  }
}
