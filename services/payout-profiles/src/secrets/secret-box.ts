import { CONFIG, ConfigError, ProblemException } from '@lib/platform';
import { HttpStatus, Inject, Injectable } from '@nestjs/common';
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import type { PayoutConfig } from '../config';
import { plain } from './masking';

/** A secret as stored: AES-256-GCM ciphertext, its nonce and tag, and the id of the key that sealed it. */
export interface SealedSecret {
  keyId: string;
  iv: string;
  tag: string;
  ciphertext: string;
}

const ALGORITHM = 'aes-256-gcm';
/** The GCM authentication tag's length seal writes, the only one open accepts. */
const TAG_BYTES = 16;

/**
 * A superseded secret (an account number or tax id an edit replaced), kept only as a keyed digest: enough to recognise
 * it when a late validation result quotes it (to mask it), not to read it back.
 */
export interface SecretDigest {
  keyId: string;
  digest: string;
}

/** The superseded secrets' digests with these added: the most recent MOST_SUPERSEDED (late results quote recent ones). */
export function superseded(kept: SecretDigest[] | undefined, added: SecretDigest[]): SecretDigest[] {
  return [...(kept ?? []), ...added].slice(-MOST_SUPERSEDED);
}

const MOST_SUPERSEDED = 20;

/** A secret as compared: without the separators people quote it with, in upper case. */
export const normalizeSecret = (value: string) => plain(value).toUpperCase();

/**
 * A stored secret this instance cannot open: sealed with a key id PAYOUT_ENCRYPTION_KEYS no longer lists (a key
 * removed before its values were re-sealed), or that does not open with the key of that id (the key material under
 * the id changed, or the value was altered). A server-side fault, not the caller's: 500 problem+json naming the key
 * id and the profile field, never the value, instead of a bare "Internal Server Error". The cure is to put the key
 * back in PAYOUT_ENCRYPTION_KEYS and run `POST /v1/operator/secrets/reseal` (README, key rotation).
 */
export class SecretUnavailable extends ProblemException {
  constructor(
    readonly keyId: string,
    readonly context: string,
    readonly reason: 'KEY_NOT_CONFIGURED' | 'DOES_NOT_OPEN',
  ) {
    const detail =
      reason === 'KEY_NOT_CONFIGURED'
        ? `The secret ${context} is sealed with key ${keyId}, which PAYOUT_ENCRYPTION_KEYS does not list: the key was removed ` +
          'before every secret was re-sealed with the active key. Put it back, then re-seal (POST /v1/operator/secrets/reseal).'
        : `The secret ${context} does not open with key ${keyId} (a different key under that id, or an altered value).`;
    super(HttpStatus.INTERNAL_SERVER_ERROR, 'secret-key-unavailable', 'Stored secret cannot be decrypted', detail, { keyId, secret: context });
    // Key ids and settings are the operators' business: a partner's user gets a plain 500 (the log has it all).
    this.forOperatorsOnly();
    // The logged line (the problem filter logs a 5xx with its stack) says what happened, not only the class name.
    this.message = detail;
  }
}

/**
 * Authenticated encryption of account numbers, IBANs and tax ids. New secrets use the active key; any listed
 * key still opens what it sealed, so keys rotate by adding a new id, making it active, and re-sealing
 * what is stored (ResealSecrets: `POST /v1/operator/secrets/reseal`) before the old id is removed.
 * The context (profile id + field) is bound as associated data, so a sealed value copied into another profile or
 * field does not open.
 */
@Injectable()
export class SecretBox {
  private readonly keys: Map<string, Buffer>;
  private readonly activeKeyId: string;

  constructor(@Inject(CONFIG) config: Pick<PayoutConfig, 'PAYOUT_ENCRYPTION_KEYS' | 'PAYOUT_ENCRYPTION_ACTIVE_KEY_ID'>) {
    this.keys = new Map(Object.entries(config.PAYOUT_ENCRYPTION_KEYS).map(([id, key]) => [id, Buffer.from(key, 'base64')]));
    this.activeKeyId = config.PAYOUT_ENCRYPTION_ACTIVE_KEY_ID;
    if (!this.keys.has(this.activeKeyId)) {
      throw new ConfigError(
        `Invalid configuration: PAYOUT_ENCRYPTION_ACTIVE_KEY_ID (${this.activeKeyId} is not a key id of PAYOUT_ENCRYPTION_KEYS)`,
      );
    }
  }

  seal(plaintext: string, context: string): SealedSecret {
    const iv = randomBytes(12);
    const cipher = createCipheriv(ALGORITHM, this.keys.get(this.activeKeyId)!, iv);
    cipher.setAAD(Buffer.from(context));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return {
      keyId: this.activeKeyId,
      iv: iv.toString('base64'),
      tag: cipher.getAuthTag().toString('base64'),
      ciphertext: ciphertext.toString('base64'),
    };
  }

  /** The key id new secrets are sealed with; a secret sealed with another one is due for re-sealing. */
  get activeKey(): string {
    return this.activeKeyId;
  }

  /** The digest of a secret under the active key (see SecretDigest). */
  digest(secret: string): SecretDigest {
    return { keyId: this.activeKeyId, digest: this.hmac(this.activeKeyId, normalizeSecret(secret))! };
  }

  /**
   * Whether a candidate (normalized) is the secret of one of these digests: one HMAC per key id per candidate, whatever
   * the number of digests. Digests under a key no longer configured never match (the safety net of masking still
   * applies to what they stood for).
   */
  digestMatcher(digests: SecretDigest[]): (candidate: string) => boolean {
    const byKey = new Map<string, Set<string>>();
    for (const d of digests) {
      if (!this.keys.has(d.keyId)) continue;
      const set = byKey.get(d.keyId) ?? new Set<string>();
      set.add(d.digest);
      byKey.set(d.keyId, set);
    }
    return (candidate) => [...byKey].some(([keyId, set]) => set.has(this.hmac(keyId, candidate)!));
  }

  private hmac(keyId: string, value: string): string | undefined {
    const key = this.keys.get(keyId);
    if (!key) return undefined;
    let derived = this.digestKeys.get(keyId);
    if (!derived) {
      derived = Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'payout-profiles secret digest', 32));
      this.digestKeys.set(keyId, derived);
    }
    return createHmac('sha256', derived).update(value).digest('base64');
  }

  private readonly digestKeys = new Map<string, Buffer>();

  /**
   * The secret, or undefined when it does not open (SecretUnavailable): for comparisons only, where an unreadable
   * stored value counts as different from any value sent (an edit replacing it is what cures it).
   */
  openIfAvailable(sealed: SealedSecret, context: string): string | undefined {
    try {
      return this.open(sealed, context);
    } catch (error) {
      if (error instanceof SecretUnavailable) return undefined;
      throw error;
    }
  }

  /** Throws SecretUnavailable (naming the key id and the context, never the value) when it cannot open. */
  open(sealed: SealedSecret, context: string): string {
    const key = this.keys.get(sealed.keyId);
    if (!key) throw new SecretUnavailable(sealed.keyId, context, 'KEY_NOT_CONFIGURED');
    try {
      // The whole 16-byte tag seal writes, and no shorter: Node takes 4 to 16 bytes otherwise (DEP0182), and a short
      // tag stored by whoever could write to the database would make a forged ciphertext that much easier to pass.
      const tag = Buffer.from(sealed.tag, 'base64');
      if (tag.length !== TAG_BYTES) throw new Error(`a tag of ${tag.length} bytes`);
      const decipher = createDecipheriv(ALGORITHM, key, Buffer.from(sealed.iv, 'base64'), { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(context));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(Buffer.from(sealed.ciphertext, 'base64')), decipher.final()]).toString('utf8');
    } catch {
      throw new SecretUnavailable(sealed.keyId, context, 'DOES_NOT_OPEN');
    }
  }
}
