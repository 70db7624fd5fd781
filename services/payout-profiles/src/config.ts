import { delayMs, optionalCredential, PlatformConfig, wholeNumber } from '@lib/platform';
import { makeValidator, str } from 'envalid';

/** `k1:<base64 of 32 bytes>,k2:<...>`: every key that may still decrypt stored secrets, by key id. */
export const encryptionKeys = makeValidator<Record<string, string>>((value) => {
  const keys: Record<string, string> = {};
  for (const part of value.split(',').map((s) => s.trim()).filter(Boolean)) {
    const match = /^([A-Za-z0-9_-]{1,32}):(.+)$/.exec(part);
    if (!match) throw new Error('must be keyId:<base64 of 32 bytes>[,keyId:...]');
    if (Buffer.from(match[2], 'base64').length !== 32) throw new Error(`key ${match[1]} must decode to 32 bytes`);
    if (keys[match[1]]) throw new Error(`key id ${match[1]} is listed twice`);
    keys[match[1]] = match[2];
  }
  if (!Object.keys(keys).length) throw new Error('must list at least one key');
  return keys;
});

/** Settings of this service, validated at start with the platform's own. */
export const payoutConfigSpec = {
  PAYOUT_ENCRYPTION_KEYS: encryptionKeys({ desc: 'AES-256-GCM keys for secrets at rest: k1:<base64 32 bytes>,k2:...' }),
  PAYOUT_ENCRYPTION_ACTIVE_KEY_ID: str({ desc: 'The key id new secrets are encrypted with (one of PAYOUT_ENCRYPTION_KEYS)' }),
  TAX_EXPIRY_WINDOW_DAYS: wholeNumber(1)({ default: 30, desc: 'Tax profiles expiring within this many days are reported' }),
  TAX_EXPIRY_SCAN_INTERVAL_MS: delayMs(0)({ default: 3_600_000, desc: 'How often the expiry scan runs; 0 turns the schedule off' }),
  VALIDATOR_TOKEN: optionalCredential({
    default: '',
    desc: "The payments back office's own credential (X-Validator-Key), accepted only where it reads a profile's details and records a decision, at least 16 characters; empty: only the operator credential",
  }),
};

export type PayoutConfig = PlatformConfig & {
  PAYOUT_ENCRYPTION_KEYS: Record<string, string>;
  PAYOUT_ENCRYPTION_ACTIVE_KEY_ID: string;
  TAX_EXPIRY_WINDOW_DAYS: number;
  TAX_EXPIRY_SCAN_INTERVAL_MS: number;
  VALIDATOR_TOKEN: string;
};

/** The back office's credential, as the operator endpoints that accept it name it (OperatorOnly alsoKey). */
export const VALIDATOR_KEY = { header: 'X-Validator-Key', setting: 'VALIDATOR_TOKEN', name: 'validator' };
