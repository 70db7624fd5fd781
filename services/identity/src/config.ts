import { baseConfigSpec, loadConfig } from '@lib/platform';
import { bool, num, str, url } from 'envalid';

/** Settings of the identity service, validated with the common ones at start (see README). */
export const identityConfigSpec = {
  /** Identity verifies its own tokens with its local key set; the URL is only what it advertises. */
  JWKS_URL: url({ default: 'http://localhost:3000/.well-known/jwks.json', desc: 'JWKS of the issuer (identity itself)' }),
  JWT_SIGNING_KEY: str({ default: '', desc: 'RSA private key, PKCS8 PEM (\\n escapes allowed); generated at start when empty' }),
  JWT_KEY_ID: str({ default: 'identity-1', desc: '`kid` of the signing key in the JWKS and token headers' }),
  JWT_TTL_SECONDS: num({ default: 900, desc: 'Lifetime of issued access tokens' }),
  DEV_SIGN_IN_ENABLED: bool({ default: false, desc: 'Enables POST /v1/dev/sign-in (development only)' }),
  IMPORT_MAX_USERS: num({ default: 1000, desc: 'Largest SCIM ListResponse accepted by one import request' }),
};

const fullSpec = () => ({ ...baseConfigSpec('identity'), ...identityConfigSpec });
export type IdentityConfig = ReturnType<typeof loadConfig<ReturnType<typeof fullSpec>>>;
