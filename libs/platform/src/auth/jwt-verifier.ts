import { Inject, Injectable } from '@nestjs/common';
import { createRemoteJWKSet, errors, JWTPayload, jwtVerify, JWTVerifyGetKey } from 'jose';
import { CONFIG } from '../config/config';
import type { PlatformConfig } from '../platform.module';
import { Principal } from './principal';

/** Where verification keys come from: the issuer's JWKS by default; the identity service uses its own key set. */
export const JWKS_KEY_SOURCE = Symbol('JWKS_KEY_SOURCE');

export class InvalidTokenError extends Error {
  override readonly name = 'InvalidTokenError';
}

/** Verifies access tokens against the configured issuer, audience and JWKS only. */
@Injectable()
export class JwtVerifier {
  private keys?: JWTVerifyGetKey;

  constructor(
    @Inject(CONFIG) private readonly config: PlatformConfig,
    @Inject(JWKS_KEY_SOURCE) private readonly keySource: JWTVerifyGetKey | null,
  ) {}

  private get keySet(): JWTVerifyGetKey {
    this.keys ??=
      this.keySource ?? createRemoteJWKSet(new URL(this.config.JWKS_URL), { cooldownDuration: 5_000, cacheMaxAge: 600_000 });
    return this.keys;
  }

  async verify(token: string): Promise<Principal> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.keySet, {
        issuer: this.config.JWT_ISSUER,
        audience: this.config.JWT_AUDIENCE,
        algorithms: ['RS256', 'ES256', 'PS256'],
      }));
    } catch (error) {
      if (error instanceof errors.JWTExpired) throw new InvalidTokenError('The access token has expired.');
      if (error instanceof errors.JOSEError) throw new InvalidTokenError('The access token is not valid.');
      throw error;
    }
    const partnerId = payload[this.config.JWT_PARTNER_CLAIM];
    if (typeof payload.sub !== 'string' || typeof partnerId !== 'string') {
      throw new InvalidTokenError(`The access token lacks sub or ${this.config.JWT_PARTNER_CLAIM}.`);
    }
    return { userId: payload.sub, partnerId, claims: payload };
  }
}
