import { ConfigError, JwtVerifier } from '@lib/platform';
import { generateKeyPairSync } from 'node:crypto';
import { createLocalJWKSet, decodeProtectedHeader } from 'jose';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import type { IdentityConfig } from '../config';
import { SigningKeys } from './signing-keys';

const ISSUER = 'http://identity.test';
const AUDIENCE = 'incentives-api';

const config = (fields: Partial<IdentityConfig> = {}) =>
  ({
    TOKEN_ISSUER: 'self',
    DEV_SIGN_IN_ENABLED: true,
    JWT_SIGNING_KEY: '',
    JWT_KEY_ID: 'identity-1',
    JWT_PREVIOUS_KEYS: '',
    JWT_NEXT_KEYS: '',
    JWT_TTL_SECONDS: 900,
    JWT_ISSUER: ISSUER,
    JWT_AUDIENCE: AUDIENCE,
    JWT_PARTNER_CLAIM: 'partnerId',
    JWT_USER_CLAIM: 'sub',
    ...fields,
  }) as unknown as IdentityConfig;

/** Identity's JWKS endpoint, serving whichever key set identity has now (a restart swaps it). */
async function jwksEndpoint(): Promise<{ url: string; serve(keys: SigningKeys): void; close(): Promise<void> }> {
  let current: SigningKeys | undefined;
  const server: Server = createServer((_, response) => {
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify(current!.jwks()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`,
    serve: (keys) => (current = keys),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('SigningKeys: the kid of the signing key', () => {
  it('a generated key has JWT_KEY_ID followed by its own thumbprint, in the JWKS and in every token', async () => {
    const keys = new SigningKeys(config());
    const [jwk] = keys.jwks().keys;
    expect(jwk.kid).toMatch(/^identity-1-[A-Za-z0-9_-]{16}$/);
    const { accessToken } = await keys.issue('U1', 'P1');
    expect(decodeProtectedHeader(accessToken).kid).toBe(jwk.kid);
    // Another start, another key: another kid.
    expect(new SigningKeys(config()).jwks().keys[0].kid).not.toBe(jwk.kid);
  });

  it('a configured key keeps JWT_KEY_ID as its kid', () => {
    const { privateKey } = require('node:crypto').generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
    const keys = new SigningKeys(config({ JWT_SIGNING_KEY: pem, JWT_KEY_ID: 'k-2026' }));
    expect(keys.jwks().keys[0].kid).toBe('k-2026');
  });

  // Another service verifies with identity's JWKS, fetched once and kept for up to 10 minutes. Identity restarted
  // without JWT_SIGNING_KEY (docker-compose's default) signs with a new key: its tokens must still be accepted there.
  it("another service accepts tokens of identity's new generated key after a restart, with the old key set still cached", async () => {
    const endpoint = await jwksEndpoint();
    try {
      const verifier = new JwtVerifier(
        { JWKS_URL: endpoint.url, JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE, JWT_USER_CLAIM: 'sub', JWT_PARTNER_CLAIM: 'partnerId' } as never,
        null,
      );
      const before = new SigningKeys(config());
      endpoint.serve(before);
      expect(await verifier.verify((await before.issue('U1', 'P1')).accessToken)).toMatchObject({ userId: 'U1', partnerId: 'P1' });

      // A restart takes longer than the verifier's 5 s cooldown between two fetches of the key set (10 minutes' cache).
      const now = Date.now();
      jest.spyOn(Date, 'now').mockReturnValue(now + 10_000);
      const restarted = new SigningKeys(config());
      endpoint.serve(restarted);
      expect(await verifier.verify((await restarted.issue('U2', 'P1')).accessToken)).toMatchObject({ userId: 'U2', partnerId: 'P1' });
    } finally {
      jest.restoreAllMocks();
      await endpoint.close();
    }
  });
});

describe('SigningKeys: a signing key rotated out (JWT_PREVIOUS_KEYS)', () => {
  const pem = () =>
    (require('node:crypto').generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
  const verifierOf = (keys: SigningKeys) =>
    new JwtVerifier({ JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE, JWT_USER_CLAIM: 'sub', JWT_PARTNER_CLAIM: 'partnerId' } as never, createLocalJWKSet(keys.jwks()));

  it('stays published and its tokens accepted, while new tokens are signed with the new key', async () => {
    const old = new SigningKeys(config({ JWT_SIGNING_KEY: pem(), JWT_KEY_ID: 'k-2026-11' }));
    const issuedBefore = (await old.issue('U1', 'P1')).accessToken;
    const rotated = new SigningKeys(config({ JWT_SIGNING_KEY: pem(), JWT_KEY_ID: 'k-2026-12', JWT_PREVIOUS_KEYS: JSON.stringify(old.jwks()) }));
    expect(rotated.jwks().keys.map((k) => k.kid)).toEqual(['k-2026-12', 'k-2026-11']);
    expect(await verifierOf(rotated).verify(issuedBefore)).toMatchObject({ userId: 'U1' });
    const issuedAfter = (await rotated.issue('U2', 'P1')).accessToken;
    expect(decodeProtectedHeader(issuedAfter).kid).toBe('k-2026-12');
    expect(await verifierOf(rotated).verify(issuedAfter)).toMatchObject({ userId: 'U2' });
    // Without it, the rotation refuses every token signed before (what it did).
    const bare = new SigningKeys(config({ JWT_SIGNING_KEY: pem(), JWT_KEY_ID: 'k-2026-12' }));
    await expect(verifierOf(bare).verify(issuedBefore)).rejects.toThrow('The access token is not valid.');
  });

  // A rolling restart onto a new key: the replicas not restarted yet must accept the new key's tokens, and so must a
  // service that fetched the key set from one of them.
  it('a key to come (JWT_NEXT_KEYS) is published and accepted before any replica signs with it: no replica refuses another in the rotation', async () => {
    const [oldPem, newPem] = [pem(), pem()];
    const newPublic = new SigningKeys(config({ JWT_SIGNING_KEY: newPem, JWT_KEY_ID: 'k-2026-12' })).jwks();
    // Step 1 done everywhere: still signing with the old key, the new one published.
    const announced = new SigningKeys(config({ JWT_SIGNING_KEY: oldPem, JWT_KEY_ID: 'k-2026-11', JWT_NEXT_KEYS: JSON.stringify(newPublic) }));
    expect(announced.jwks().keys.map((k) => k.kid)).toEqual(['k-2026-11', 'k-2026-12']);
    expect(decodeProtectedHeader((await announced.issue('U0', 'P1')).accessToken).kid).toBe('k-2026-11');
    // Step 2 under way: a restarted replica signs with the new key; one not restarted yet accepts its tokens.
    const oldJwks = { keys: announced.jwks().keys.filter((k) => k.kid !== 'k-2026-12') };
    const restarted = new SigningKeys(config({ JWT_SIGNING_KEY: newPem, JWT_KEY_ID: 'k-2026-12', JWT_PREVIOUS_KEYS: JSON.stringify(oldJwks) }));
    const fromRestarted = (await restarted.issue('U1', 'P1')).accessToken;
    expect(await verifierOf(announced).verify(fromRestarted)).toMatchObject({ userId: 'U1' });
    expect(await verifierOf(restarted).verify((await announced.issue('U2', 'P1')).accessToken)).toMatchObject({ userId: 'U2' });
    // In one step (no JWT_NEXT_KEYS first), the replica not restarted yet refused it.
    const unannounced = new SigningKeys(config({ JWT_SIGNING_KEY: oldPem, JWT_KEY_ID: 'k-2026-11' }));
    await expect(verifierOf(unannounced).verify(fromRestarted)).rejects.toThrow('The access token is not valid.');
    // The second step with JWT_NEXT_KEYS left as it was: the signing key's own entry, dropped (not refused at start).
    const leftOver = new SigningKeys(config({ JWT_SIGNING_KEY: newPem, JWT_KEY_ID: 'k-2026-12', JWT_PREVIOUS_KEYS: JSON.stringify(oldJwks), JWT_NEXT_KEYS: JSON.stringify(newPublic) }));
    expect(leftOver.jwks().keys.map((k) => k.kid)).toEqual(['k-2026-12', 'k-2026-11']);
    expect(() => new SigningKeys(config({ JWT_SIGNING_KEY: oldPem, JWT_KEY_ID: 'k-now', JWT_NEXT_KEYS: 'not json' }))).toThrow('Invalid configuration: JWT_NEXT_KEYS (must be a JWKS');
    // A kid both settings name is refused at start.
    expect(() => new SigningKeys(config({ JWT_SIGNING_KEY: oldPem, JWT_KEY_ID: 'k-now', JWT_PREVIOUS_KEYS: JSON.stringify(newPublic), JWT_NEXT_KEYS: JSON.stringify(newPublic) }))).toThrow(
      'Invalid configuration: JWT_NEXT_KEYS (key 0 has the kid k-2026-12 of another key)',
    );
  });

  it.each([
    ['not a JWKS', 'k1', /must be a JWKS/],
    ['a private key', JSON.stringify({ keys: [{ kty: 'RSA', n: 'AQAB', e: 'AQAB', d: 'AQAB', kid: 'old' }] }), /holds a private part/],
    ['the signing key\'s kid', JSON.stringify({ keys: [{ kty: 'RSA', n: 'AQAB', e: 'AQAB', kid: 'k-now' }] }), /kid k-now of another key/],
    ['an EC key', JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', x: 'AQAB', y: 'AQAB', kid: 'old' }] }), /must be an RSA public key/],
  ])('refuses %s at start', (_, value, message) => {
    expect(() => new SigningKeys(config({ JWT_SIGNING_KEY: pem(), JWT_KEY_ID: 'k-now', JWT_PREVIOUS_KEYS: value }))).toThrow(message);
  });

  // A ConfigError stops the service with one line naming the setting (runService), without the key or a stack trace.
  it.each([
    ['not a PEM key', 'not-a-key', /^Invalid configuration: JWT_SIGNING_KEY \(must be an RSA private key in PEM; /],
    ['an EC key', 'ec', /^Invalid configuration: JWT_SIGNING_KEY \(must be an RSA key: tokens are signed RS256\)$/],
    // jose refuses to sign RS256 with it: every sign-in would be a 500.
    ['an RSA key of 1024 bits', 'rsa1024', /^Invalid configuration: JWT_SIGNING_KEY \(must be an RSA key of at least 2048 bits, not 1024\)$/],
  ])('refuses a JWT_SIGNING_KEY that is %s with a configuration error naming it', (_, value, message) => {
    const generated = (type: 'ec' | 'rsa') =>
      (type === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 1024 })).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const key = value === 'ec' ? generated('ec') : value === 'rsa1024' ? generated('rsa') : value;
    let error: unknown;
    try {
      new SigningKeys(config({ JWT_SIGNING_KEY: key }));
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain(key.trim().split('\n')[1] ?? key);
  });
});
