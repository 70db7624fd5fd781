import { Inject, Injectable } from '@nestjs/common';
import { errors, JWTPayload, jwtVerify, JWTVerifyGetKey } from 'jose';
import { CONFIG } from '../config/config';
import type { PlatformConfig } from '../platform.module';
import { resilientRemoteKeySet } from './issuer-keys';
import { Principal } from './principal';

/** Where verification keys come from: the issuer's JWKS by default; the identity service uses its own key set. */
export const JWKS_KEY_SOURCE = Symbol('JWKS_KEY_SOURCE');

export class InvalidTokenError extends Error {
  override readonly name = 'InvalidTokenError';
}

/** Tokens remembered as verified; the oldest is forgotten first. */
const CACHE_ENTRIES = 5_000;
/**
 * A verified token is checked again after this long. A key removed from the JWKS (compromised) stops working within
 * this plus the key set's cache age (resilientRemoteKeySet: 10 minutes), about 15 minutes, and not while the issuer's
 * endpoint cannot be read (the keys held go on); to cut it off at once, restart the services after removing it.
 */
const CACHE_MAX_AGE_MS = 5 * 60_000;
/** The clock skew allowed between the token's issuer and this replica (`exp`, `nbf`, `iat`). */
export const CLOCK_TOLERANCE_SECONDS = 30;

/**
 * Verifies access tokens against the configured issuer, audience and JWKS only. A client sends its token with every
 * request until it expires, and an RSA signature check was a tenth of an Enroll call's CPU: a token verified once is
 * remembered (by the whole token, so nothing but the exact same bytes matches) until it expires, at most 5 minutes.
 */
@Injectable()
export class JwtVerifier {
  private keys?: JWTVerifyGetKey;
  private readonly verified = new Map<string, { principal: Principal; until: number }>();

  constructor(
    @Inject(CONFIG) private readonly config: PlatformConfig,
    @Inject(JWKS_KEY_SOURCE) private readonly keySource: JWTVerifyGetKey | null,
  ) {}

  private get keySet(): JWTVerifyGetKey {
    this.keys ??= this.keySource ?? resilientRemoteKeySet(new URL(this.config.JWKS_URL));
    return this.keys;
  }

  async verify(token: string): Promise<Principal> {
    const known = this.verified.get(token);
    if (known) {
      if (Date.now() < known.until) return { ...known.principal };
      this.verified.delete(token); // expired, or time to check the signature again: verify below says which
    }
    const principal = await this.verifyOnce(token);
    const expiresAt = typeof principal.claims.exp === 'number' ? principal.claims.exp * 1000 : Date.now();
    const until = Math.min(expiresAt, Date.now() + CACHE_MAX_AGE_MS);
    if (until > Date.now()) {
      if (this.verified.size >= CACHE_ENTRIES) this.verified.delete(this.verified.keys().next().value!);
      this.verified.set(token, { principal: { ...principal }, until });
    }
    return principal;
  }

  private async verifyOnce(token: string): Promise<Principal> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.keySet, {
        issuer: this.config.JWT_ISSUER,
        audience: this.config.JWT_AUDIENCE,
        algorithms: ['RS256', 'ES256', 'PS256'],
        // An access token without an expiry would be good for as long as its key is published.
        requiredClaims: ['exp'],
        // The issuer's clock and this replica's may differ a little: a fresh token whose `nbf` (or `iat`) is a second
        // ahead would be refused, and the client sent to sign in again for a token refused the same way.
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
      }));
    } catch (error) {
      if (error instanceof errors.JWTExpired) throw new InvalidTokenError('The access token has expired.');
      if (error instanceof errors.JOSEError) throw new InvalidTokenError('The access token is not valid.');
      throw error;
    }
    // jose compares `iat` with the clock only given a maximum token age: a token issued in the future (an issuer whose
    // clock runs ahead) would be good for longer than it says. Refused as one not valid yet (`nbf`) is.
    if (typeof payload.iat === 'number' && payload.iat > Date.now() / 1000 + CLOCK_TOLERANCE_SECONDS) {
      throw new InvalidTokenError('The access token is not valid.');
    }
    const userId = payload[this.config.JWT_USER_CLAIM];
    const partnerId = payload[this.config.JWT_PARTNER_CLAIM];
    if (typeof userId !== 'string' || !userId || typeof partnerId !== 'string' || !partnerId) {
      throw new InvalidTokenError(`The access token lacks ${this.config.JWT_USER_CLAIM} or ${this.config.JWT_PARTNER_CLAIM}.`);
    }
    return { userId, partnerId, claims: payload };
  }
}
