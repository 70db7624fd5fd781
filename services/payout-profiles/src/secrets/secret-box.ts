import { CONFIG, ConfigError } from '@lib/platform';
import { Inject, Injectable } from '@nestjs/common';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { PayoutConfig } from '../config';

/** A secret as stored: AES-256-GCM ciphertext, its nonce and tag, and the id of the key that sealed it. */
export interface SealedSecret {
  keyId: string;
  iv: string;
  tag: string;
  ciphertext: string;
}

const ALGORITHM = 'aes-256-gcm';

/**
 * Authenticated encryption of account numbers, IBANs and tax ids. New secrets use the active key; any listed
 * key still opens what it sealed, so keys rotate by adding a new id, making it active, and re-saving profiles
 * before the old id is removed. The context (profile id + field) is bound as associated data, so a sealed
 * value copied into another profile or field does not open.
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

  open(sealed: SealedSecret, context: string): string {
    const key = this.keys.get(sealed.keyId);
    if (!key) throw new Error(`Secret sealed with key ${sealed.keyId}, which is no longer configured`);
    const decipher = createDecipheriv(ALGORITHM, key, Buffer.from(sealed.iv, 'base64'));
    decipher.setAAD(Buffer.from(context));
    decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(sealed.ciphertext, 'base64')), decipher.final()]).toString('utf8');
  }
}
