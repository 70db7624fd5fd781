import { Logger } from '@nestjs/common';
import { createLocalJWKSet, JWTVerifyGetKey } from 'jose';
import type { IdentityConfig } from '../config';
import { SigningKeys } from './signing-keys';

/**
 * The keys identity verifies access tokens with (the platform's JWKS_KEY_SOURCE). TOKEN_ISSUER=self: its own key
 * set, not fetched over HTTP from itself. TOKEN_ISSUER=external: none here (null), so the platform fetches the JWKS at
 * JWKS_URL, exactly as the other services do.
 */
export function verificationKeys(config: IdentityConfig, keys: SigningKeys): JWTVerifyGetKey | null {
  const logger = new Logger('TokenIssuer');
  if (config.TOKEN_ISSUER === 'external') {
    // Without the user and password the URL may hold (sent as Basic auth): a log line keeps no secret.
    const { origin, pathname } = new URL(config.JWKS_URL!); // required with TOKEN_ISSUER=external (config)
    logger.log(`TOKEN_ISSUER=external: verifying tokens of ${config.JWT_ISSUER} with the JWKS at ${origin}${pathname}`);
    return null;
  }
  logger.log(`TOKEN_ISSUER=self: identity issues the tokens (${config.JWT_ISSUER}) and verifies them with its own key; JWKS_URL is not used`);
  return createLocalJWKSet(keys.jwks());
}
