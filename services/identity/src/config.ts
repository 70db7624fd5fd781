import { baseConfigSpec, flag, httpUrl, loadConfig, MAX_BODY_ARRAY_ITEMS, nonEmpty, wholeNumber } from '@lib/platform';
import { str } from 'envalid';

/** Who issues the access tokens identity accepts: identity itself, or an outside OIDC issuer (see README, "Token issuer"). */
export const TOKEN_ISSUERS = ['self', 'external'] as const;
export type TokenIssuer = (typeof TOKEN_ISSUERS)[number];

/** Settings of the identity service, validated with the common ones at start (see README). */
export const identityConfigSpec = {
  TOKEN_ISSUER: str<TokenIssuer>({
    choices: TOKEN_ISSUERS,
    default: 'self',
    desc: 'self: identity issues tokens and verifies them with its own key; external: tokens come from the issuer at JWKS_URL',
  }),
  /** Verification keys of the external issuer. With TOKEN_ISSUER=self identity verifies with its own key and never reads it. */
  JWKS_URL: httpUrl({
    default: undefined,
    requiredWhen: (env) => env.TOKEN_ISSUER === 'external',
    desc: "The external issuer's JWKS endpoint: required with TOKEN_ISSUER=external, not used with TOKEN_ISSUER=self",
  }),
  JWT_SIGNING_KEY: str({ default: '', desc: 'RSA private key, PKCS8 PEM (\\n escapes allowed); generated at start when empty (TOKEN_ISSUER=self only)' }),
  JWT_KEY_ID: nonEmpty({ default: 'identity-1', desc: '`kid` of the signing key in the JWKS and token headers (TOKEN_ISSUER=self only; a key generated at start gets this followed by its thumbprint)' }),
  JWT_TTL_SECONDS: wholeNumber(1)({ default: 900, desc: 'Lifetime of issued access tokens' }),
  JWT_PREVIOUS_KEYS: str({
    default: '',
    desc: 'TOKEN_ISSUER=self only: the JWKS ({"keys":[...]}, as /.well-known/jwks.json served it) of signing keys rotated out, still published and accepted until the tokens they signed expire (JWT_TTL_SECONDS); empty: none',
  }),
  JWT_NEXT_KEYS: str({
    default: '',
    desc: 'TOKEN_ISSUER=self only: the JWKS of the public keys of signing keys to come, published and accepted before any replica signs with them, so that a rolling restart onto a new key has no replica refusing the tokens of another; empty: none',
  }),
  DEV_SIGN_IN_ENABLED: flag({ default: false, desc: 'Enables POST /v1/dev/sign-in (development only; TOKEN_ISSUER=self only)' }),
  // At most the longest list any request body may hold (checked before the import reads it).
  IMPORT_MAX_USERS: wholeNumber(1, MAX_BODY_ARRAY_ITEMS)({ default: 1000, desc: `Largest SCIM ListResponse accepted by one import request (1 to ${MAX_BODY_ARRAY_ITEMS})` }),
};

const fullSpec = () => ({ ...baseConfigSpec('identity'), ...identityConfigSpec });
export type IdentityConfig = ReturnType<typeof loadConfig<ReturnType<typeof fullSpec>>>;
