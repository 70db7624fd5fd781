import { createHash, randomBytes } from 'node:crypto';
import { fingerprintKey, FingerprintKeySettings, legacyRequestHash, requestFingerprint } from './idempotency-fingerprint';
import { idempotencyCaller } from './idempotency';

const request = { params: { partnerId: 'P1' }, body: { kind: 'TAX', tin: '123456789' } };
const id = 'U1|POST /v1/tax-profiles|key-1';
const settings = (overrides: Partial<FingerprintKeySettings> = {}): FingerprintKeySettings => ({
  IDEMPOTENCY_FINGERPRINT_KEY: '',
  OPERATOR_TOKEN: 'an-operator-key-of-16+',
  ...overrides,
});

/** fingerprintKey as a freshly started process (another replica, or after a restart) computes it. */
function inAnotherProcess(s: FingerprintKeySettings): Buffer {
  let key!: Buffer;
  jest.isolateModules(() => {
    key = (require('./idempotency-fingerprint') as typeof import('./idempotency-fingerprint')).fingerprintKey(s);
  });
  return key;
}

describe('Idempotency-Key request fingerprints', () => {
  it('are not the plain SHA-256 of the request (recomputable from a guessed body), and a retry gets the same one', () => {
    const key = fingerprintKey(settings());
    const fingerprint = requestFingerprint(key, id, request);
    const canonical = JSON.stringify({ params: request.params, body: request.body });
    for (const input of [canonical, JSON.stringify(request.body)]) {
      for (const encoding of ['base64url', 'base64', 'hex'] as const) expect(fingerprint).not.toBe(createHash('sha256').update(input).digest(encoding));
    }
    expect(fingerprint).not.toBe(legacyRequestHash(request));
    // A retry: the same request, parsed again.
    expect(requestFingerprint(key, id, JSON.parse(JSON.stringify(request)))).toBe(fingerprint);
    expect(requestFingerprint(key, id, { ...request, body: { ...request.body, tin: '123456780' } })).not.toBe(fingerprint);
    expect(requestFingerprint(key, id, { ...request, params: { partnerId: 'P2' } })).not.toBe(fingerprint);
  });

  it('differ between records (keys, callers, routes) of the same body', () => {
    const key = fingerprintKey(settings());
    expect(requestFingerprint(key, 'U1|POST /v1/tax-profiles|key-2', request)).not.toBe(requestFingerprint(key, id, request));
  });

  it('use IDEMPOTENCY_FINGERPRINT_KEY when it is set', () => {
    const secret = randomBytes(32);
    const key = fingerprintKey(settings({ IDEMPOTENCY_FINGERPRINT_KEY: secret.toString('base64') }));
    expect(key.equals(secret)).toBe(true);
    const other = fingerprintKey(settings({ IDEMPOTENCY_FINGERPRINT_KEY: randomBytes(32).toString('base64') }));
    expect(requestFingerprint(other, id, request)).not.toBe(requestFingerprint(key, id, request));
    // The operator token plays no part then.
    expect(fingerprintKey(settings({ IDEMPOTENCY_FINGERPRINT_KEY: secret.toString('base64'), OPERATOR_TOKEN: 'another-operator-key' })).equals(secret)).toBe(true);
  });

  it('without it, derive the key from OPERATOR_TOKEN: the same on every replica and after a restart, never random', () => {
    const here = fingerprintKey(settings());
    const elsewhere = inAnotherProcess(settings());
    expect(elsewhere.equals(here)).toBe(true);
    expect(requestFingerprint(elsewhere, id, request)).toBe(requestFingerprint(here, id, request));
    expect(here).toHaveLength(32);
    // Not the token itself, nor a fast hash of it.
    const token = settings().OPERATOR_TOKEN;
    expect(here.equals(Buffer.from(token))).toBe(false);
    expect(here.equals(createHash('sha256').update(token).digest())).toBe(false);
  });

  it('a new OPERATOR_TOKEN (while the setting is unset) gives a new key', () => {
    const first = fingerprintKey(settings());
    const second = fingerprintKey(settings({ OPERATOR_TOKEN: 'another-operator-key' }));
    expect(second.equals(first)).toBe(false);
    expect(fingerprintKey(settings()).equals(first)).toBe(true);
  });

  it('are the same for the same JSON with its fields in another order, at any depth (arrays keep theirs)', () => {
    const key = fingerprintKey(settings());
    const reordered = { params: { partnerId: 'P1' }, body: { tin: '123456789', kind: 'TAX' } };
    expect(requestFingerprint(key, id, reordered)).toBe(requestFingerprint(key, id, request));
    const nested = (body: unknown) => requestFingerprint(key, id, { params: {}, body });
    expect(nested({ a: { x: 1, y: [{ p: 1, q: 2 }] } })).toBe(nested({ a: { y: [{ q: 2, p: 1 }], x: 1 } }));
    expect(nested({ list: [1, 2] })).not.toBe(nested({ list: [2, 1] }));
  });

  it('count If-Match: a request under another precondition, or none, is another request', () => {
    const key = fingerprintKey(settings());
    const under = (ifMatch?: string) => requestFingerprint(key, id, { ...request, ...(ifMatch !== undefined && { ifMatch }) });
    expect(under('"3"')).toBe(under('"3"'));
    expect(under('"3"')).not.toBe(under('"5"'));
    expect(under('"3"')).not.toBe(under());
  });

  it('version 1 (records stored before) is the body as sent without If-Match: a retry of such a record still matches it', () => {
    const key = fingerprintKey(settings());
    expect(requestFingerprint(key, id, { ...request, ifMatch: '"3"' }, 1)).toBe(requestFingerprint(key, id, request, 1));
    expect(requestFingerprint(key, id, request, 1)).not.toBe(requestFingerprint(key, id, request));
  });
});

describe('idempotencyCaller: whose keys a request uses, as the auth guard verified it', () => {
  it.each([
    ['a user', { principal: { userId: 'u-1', partnerId: 'p-1', claims: {} } }, 'u-1'],
    ['the operator', { operator: true as const }, 'operator'],
    // Not the operator's keys, also when a wrong X-Operator-Key came with it (the header alone proves nothing).
    ['a scoped credential', { operator: 'payments back office' }, 'credential:payments back office'],
    ['nobody verified', {}, 'anonymous'],
  ])('%s', (_, request, caller) => {
    expect(idempotencyCaller(request)).toBe(caller);
  });
});
