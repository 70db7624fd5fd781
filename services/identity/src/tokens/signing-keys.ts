import { CONFIG, ConfigError } from '@lib/platform';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { JWK, SignJWT } from 'jose';
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, KeyObject, randomUUID } from 'node:crypto';
import type { IdentityConfig } from '../config';

export interface IssuedToken {
  accessToken: string;
  tokenType: 'Bearer';
  expiresIn: number;
}

/**
 * The issuer's RS256 key: from JWT_SIGNING_KEY, or generated at start (tokens then die with the process,
 * which is fine for local use only). Publishes the public half as a JWKS and signs access tokens.
 * With TOKEN_ISSUER=external identity issues nothing: there is no key, and development sign-in is refused at start.
 */
@Injectable()
export class SigningKeys {
  private readonly logger = new Logger(SigningKeys.name);
  private readonly privateKey?: KeyObject;
  private readonly publicJwk?: JWK;
  /** JWT_KEY_ID; for a generated key, followed by its thumbprint (see below). */
  private readonly keyId: string = '';
  /** Keys rotated out (JWT_PREVIOUS_KEYS) and keys to come (JWT_NEXT_KEYS): published and accepted, not used to sign. */
  private readonly otherJwks: JWK[] = [];

  constructor(@Inject(CONFIG) private readonly config: IdentityConfig) {
    if (config.TOKEN_ISSUER === 'external') {
      if (config.DEV_SIGN_IN_ENABLED) {
        throw new ConfigError(
          'Invalid configuration: DEV_SIGN_IN_ENABLED (must be false with TOKEN_ISSUER=external: identity issues no tokens, nobody would accept them)',
        );
      }
      if (config.JWT_SIGNING_KEY.trim()) this.logger.warn('JWT_SIGNING_KEY is ignored: TOKEN_ISSUER=external, identity issues no tokens.');
      return;
    }
    if (config.DEV_SIGN_IN_ENABLED) {
      this.logger.warn('DEV_SIGN_IN_ENABLED=true: anyone who reaches this service gets any user\'s token for an email (POST /v1/dev/sign-in); development only.');
    }
    const pem = config.JWT_SIGNING_KEY.replace(/\\n/g, '\n').trim();
    if (pem) {
      try {
        this.privateKey = createPrivateKey({ key: pem, format: 'pem' });
      } catch (error) {
        // Not the key, nor the parser's words about it (they may quote it): which setting, and what it must be.
        throw new ConfigError(`Invalid configuration: JWT_SIGNING_KEY (must be an RSA private key in PEM; ${(error as { code?: string }).code ?? 'not readable'})`);
      }
      if (this.privateKey.asymmetricKeyType !== 'rsa') throw new ConfigError('Invalid configuration: JWT_SIGNING_KEY (must be an RSA key: tokens are signed RS256)');
      // jose refuses to sign RS256 with a shorter one (every sign-in a 500, the service started and its JWKS served).
      const bits = this.privateKey.asymmetricKeyDetails?.modulusLength ?? 0;
      if (bits < 2048) throw new ConfigError(`Invalid configuration: JWT_SIGNING_KEY (must be an RSA key of at least 2048 bits, not ${bits})`);
    } else {
      this.logger.warn(
        'JWT_SIGNING_KEY is not set: generated a signing key for this process only. Tokens stop working at restart; set JWT_SIGNING_KEY outside local use.',
      );
      this.privateKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    }
    const { kty, n, e } = createPublicKey(this.privateKey).export({ format: 'jwk' }) as { kty: string; n: string; e: string };
    // A generated key is new at every start, under the same JWT_KEY_ID: the other services, holding the old key set
    // for up to 10 minutes, would find the old key under that kid and refuse every new token (a verifier fetches the
    // key set again only for a kid it does not know). The key's own RFC 7638 thumbprint in its kid makes it one they
    // do not know. A configured key keeps JWT_KEY_ID as its kid (rotating it is the operator's, with a new kid).
    this.keyId = pem ? config.JWT_KEY_ID : `${config.JWT_KEY_ID}-${thumbprint({ e, kty, n }).slice(0, 16)}`;
    this.publicJwk = { kty, n, e, kid: this.keyId, alg: 'RS256', use: 'sig' };
    const taken = new Set([this.keyId]);
    // A key to come that is the signing key now (JWT_NEXT_KEYS left as it was in the rotation's second step) is the
    // signing key's own entry: dropped, not refused as another key with its kid (which would stop every replica).
    const isSigningKey = (jwk: JWK) => jwk.kid === this.keyId && jwk.n === n && jwk.e === e;
    const nextKeys = parseJwks(config.JWT_NEXT_KEYS);
    const remaining = nextKeys?.filter((jwk) => !isSigningKey(jwk as JWK));
    // Not a JWKS: as it is, for publishedKeys to refuse it naming what is wrong.
    const next = remaining === undefined ? config.JWT_NEXT_KEYS : remaining.length ? JSON.stringify({ keys: remaining }) : '';
    this.otherJwks = [...publishedKeys('JWT_PREVIOUS_KEYS', config.JWT_PREVIOUS_KEYS, taken), ...publishedKeys('JWT_NEXT_KEYS', next, taken)];
  }

  /** Whether identity is the token issuer (TOKEN_ISSUER=self), hence has a key to sign with and publish. */
  get issuing(): boolean {
    return this.privateKey !== undefined;
  }

  /** The public keys, as served at /.well-known/jwks.json and used by this service to verify tokens (none when external). */
  jwks(): { keys: JWK[] } {
    return { keys: this.publicJwk ? [{ ...this.publicJwk }, ...this.otherJwks.map((jwk) => ({ ...jwk }))] : [] };
  }

  async issue(userId: string, partnerId: string): Promise<IssuedToken> {
    if (!this.privateKey) throw new Error('identity issues no tokens with TOKEN_ISSUER=external');
    const now = Math.floor(Date.now() / 1000);
    const ttl = this.config.JWT_TTL_SECONDS;
    // The user id in `sub`, and in JWT_USER_CLAIM as well when the deployment reads it from another claim.
    const accessToken = await new SignJWT({ [this.config.JWT_PARTNER_CLAIM]: partnerId, ...(this.config.JWT_USER_CLAIM !== 'sub' && { [this.config.JWT_USER_CLAIM]: userId }) })
      .setProtectedHeader({ alg: 'RS256', kid: this.keyId, typ: 'JWT' })
      .setSubject(userId)
      .setIssuer(this.config.JWT_ISSUER)
      .setAudience(this.config.JWT_AUDIENCE)
      .setIssuedAt(now)
      .setExpirationTime(now + ttl)
      .setJti(randomUUID())
      .sign(this.privateKey);
    return { accessToken, tokenType: 'Bearer', expiresIn: ttl };
  }
}

/**
 * JWT_PREVIOUS_KEYS: the JWKS of keys rotated out, as /.well-known/jwks.json served it before (copy it from there).
 * Rotating the signing key (JWT_SIGNING_KEY and a new JWT_KEY_ID) would otherwise make every token it signed fail at
 * once, here and, once they fetch the new key set, in every service. JWT_NEXT_KEYS: the public keys of signing keys
 * to come, published and accepted before a replica signs with one: without it, during the rolling restart onto a new
 * key, the replicas not restarted yet (and a service that fetched the key set from one) refuse the new key's tokens.
 * Public RSA keys with a kid no other key has (`taken`, which this adds to); refused at start otherwise, naming what is
 * wrong (no key material is secret here).
 */
function publishedKeys(setting: string, value: string, taken: Set<string>): JWK[] {
  if (!value.trim()) return [];
  const refuse = (why: string) => new ConfigError(`Invalid configuration: ${setting} (${why})`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw refuse('must be a JWKS, {"keys":[...]}, as /.well-known/jwks.json serves it');
  }
  const keys = (parsed as { keys?: unknown })?.keys;
  if (!Array.isArray(keys)) throw refuse('must be a JWKS, {"keys":[...]}, as /.well-known/jwks.json serves it');
  return keys.map((key: Record<string, unknown>, i) => {
    if (key?.kty !== 'RSA' || typeof key.n !== 'string' || typeof key.e !== 'string') throw refuse(`key ${i} must be an RSA public key (kty, n, e)`);
    if ('d' in key) throw refuse(`key ${i} holds a private part (d): publish public keys only`);
    if (typeof key.kid !== 'string' || !key.kid) throw refuse(`key ${i} must have a kid`);
    if (taken.has(key.kid)) throw refuse(`key ${i} has the kid ${key.kid} of another key`);
    taken.add(key.kid);
    try {
      createPublicKey({ key: { kty: 'RSA', n: key.n, e: key.e }, format: 'jwk' });
    } catch {
      throw refuse(`key ${i} is not a valid RSA public key`);
    }
    return { kty: 'RSA', n: key.n, e: key.e, kid: key.kid, alg: 'RS256', use: 'sig' };
  });
}

/** The keys of a JWKS setting, or undefined when it is empty or not a JWKS (publishedKeys then says what is wrong). */
function parseJwks(value: string): unknown[] | undefined {
  if (!value.trim()) return undefined;
  try {
    const keys = (JSON.parse(value) as { keys?: unknown })?.keys;
    return Array.isArray(keys) ? keys : undefined;
  } catch {
    return undefined;
  }
}

/** The RFC 7638 thumbprint of an RSA public key (SHA-256 of its required members in lexicographic order), base64url. */
function thumbprint({ e, kty, n }: { e: string; kty: string; n: string }): string {
  return createHash('sha256').update(JSON.stringify({ e, kty, n })).digest('base64url');
}
