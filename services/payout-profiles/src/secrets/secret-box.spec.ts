import { ConfigError } from '@lib/platform';
import { randomBytes } from 'node:crypto';
import { encryptionKeys } from '../config';
import { maskSecret } from './masking';
import { SecretBox, SecretUnavailable } from './secret-box';

const k1 = randomBytes(32).toString('base64');
const k2 = randomBytes(32).toString('base64');
const box = (keys: Record<string, string>, active: string) =>
  new SecretBox({ PAYOUT_ENCRYPTION_KEYS: keys, PAYOUT_ENCRYPTION_ACTIVE_KEY_ID: active });

describe('SecretBox (AES-256-GCM)', () => {
  it('seals without the clear value and opens it again', () => {
    const sealed = box({ k1 }, 'k1').seal('DE89370400440532013000', 'p1:account');
    expect(sealed.keyId).toBe('k1');
    expect(JSON.stringify(sealed)).not.toContain('370400440532013000');
    expect(box({ k1 }, 'k1').open(sealed, 'p1:account')).toBe('DE89370400440532013000');
  });

  it('uses a fresh nonce every time', () => {
    const b = box({ k1 }, 'k1');
    expect(b.seal('same', 'c').ciphertext === b.seal('same', 'c').ciphertext).toBe(false);
  });

  it('rotates: new secrets use the active key, old key ids still open', () => {
    const old = box({ k1 }, 'k1').seal('123456789', 'p:taxId');
    const rotated = box({ k1, k2 }, 'k2');
    expect(rotated.seal('x', 'c').keyId).toBe('k2');
    expect(rotated.open(old, 'p:taxId')).toBe('123456789');
    expect(() => box({ k2 }, 'k2').open(old, 'p:taxId')).toThrow(/k1/);
  });

  // Not a plain Error (a bare 500 with a stack): a problem naming the key id and the secret, never its value.
  it('a secret sealed with a key no longer configured is a SecretUnavailable problem naming the key id', () => {
    const old = box({ k1 }, 'k1').seal('123456789', 'p:taxId');
    let thrown: unknown;
    try {
      box({ k2 }, 'k2').open(old, 'p:taxId');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(SecretUnavailable);
    const problem = thrown as SecretUnavailable;
    expect(problem.getStatus()).toBe(500);
    expect(problem).toMatchObject({ keyId: 'k1', reason: 'KEY_NOT_CONFIGURED', problemType: 'secret-key-unavailable' });
    expect(problem.extensions).toEqual({ keyId: 'k1', secret: 'p:taxId' });
    expect(problem.message).toMatch(/sealed with key k1, which PAYOUT_ENCRYPTION_KEYS does not list/);
    expect(problem.message).not.toContain('123456789');
    // Another key under the same id does not open it either: the same problem, saying so.
    expect(() => box({ k1: k2 }, 'k1').open(old, 'p:taxId')).toThrow(expect.objectContaining({ keyId: 'k1', reason: 'DOES_NOT_OPEN' }));
  });

  it('refuses a tampered ciphertext or a secret moved to another context', () => {
    const b = box({ k1 }, 'k1');
    const sealed = b.seal('123456789', 'p1:taxId');
    const flipped = Buffer.from(sealed.ciphertext, 'base64');
    flipped[0] ^= 1;
    expect(() => b.open({ ...sealed, ciphertext: flipped.toString('base64') }, 'p1:taxId')).toThrow();
    expect(() => b.open(sealed, 'p2:taxId')).toThrow();
  });

  // Node checks only as many bytes of a tag as it is given (4 to 16): a 4-byte tag stored in its place would be 2^32
  // tries from a forged ciphertext passing, not 2^128.
  it('refuses a tag shorter than the 16 bytes it seals with, also its genuine first bytes', () => {
    const b = box({ k1 }, 'k1');
    const sealed = b.seal('123456789', 'p1:taxId');
    expect(Buffer.from(sealed.tag, 'base64')).toHaveLength(16);
    for (const bytes of [4, 8, 12, 15]) {
      const short = Buffer.from(sealed.tag, 'base64').subarray(0, bytes).toString('base64');
      expect(() => b.open({ ...sealed, tag: short }, 'p1:taxId')).toThrow(SecretUnavailable);
    }
    expect(b.open(sealed, 'p1:taxId')).toBe('123456789');
  });

  it('stops at start when the active key is not configured', () => {
    expect(() => box({ k1 }, 'k9')).toThrow(ConfigError);
  });

  it('masks to the last four characters', () => {
    expect(maskSecret('DE89370400440532013000')).toBe('****3000');
  });
});

describe('PAYOUT_ENCRYPTION_KEYS', () => {
  const parse = (value: string) => encryptionKeys()._parse(value);
  it('parses key ids and 32-byte keys', () => expect(parse(`k1:${k1}, k2:${k2}`)).toEqual({ k1, k2 }));
  it.each(['', 'k1', `k1:${randomBytes(16).toString('base64')}`, `k1:${k1},k1:${k2}`])('rejects %j', (value) =>
    expect(() => parse(value)).toThrow(),
  );
});
