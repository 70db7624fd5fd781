import { createLocalJWKSet, exportJWK, generateKeyPair, JWTVerifyGetKey, SignJWT } from 'jose';
import { InvalidTokenError, JwtVerifier } from './jwt-verifier';

const ISSUER = 'https://issuer.test';
const config = { JWT_ISSUER: ISSUER, JWT_AUDIENCE: 'incentives-platform', JWT_PARTNER_CLAIM: 'partnerId', JWT_USER_CLAIM: 'sub', JWKS_URL: 'https://unused.test/jwks' };

let sign: (claims: Record<string, unknown>, expiresInSeconds: number) => Promise<string>;
let keys: JWTVerifyGetKey;
let keyLookups: number;

beforeAll(async () => {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const local = createLocalJWKSet({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256' }] });
  keys = (header, token) => {
    keyLookups++;
    return local(header, token);
  };
  sign = (claims, expiresInSeconds) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setIssuer(ISSUER)
      .setAudience('incentives-platform')
      .setSubject('u1')
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + expiresInSeconds)
      .sign(privateKey);
});

beforeEach(() => {
  keyLookups = 0;
});

afterEach(() => jest.useRealTimers());

/** Moves the clock (Date and new Date(), which the token checks read) forward. */
function later(ms: number): void {
  const now = Date.now();
  jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask', 'setTimeout', 'setInterval'] });
  jest.setSystemTime(now + ms);
}

function verifier(): JwtVerifier {
  return new JwtVerifier(config as never, keys);
}

it('checks a token once and answers the same token from memory until it expires', async () => {
  const v = verifier();
  const token = await sign({ partnerId: 'p1' }, 600);
  expect(await v.verify(token)).toMatchObject({ userId: 'u1', partnerId: 'p1' });
  expect(await v.verify(token)).toMatchObject({ userId: 'u1', partnerId: 'p1' });
  expect(keyLookups).toBe(1);

  // Past its expiry the remembered answer is gone, and the check itself refuses the token.
  later(601_000);
  await expect(v.verify(token)).rejects.toThrow(new InvalidTokenError('The access token has expired.'));
});

it('checks the signature again after five minutes even when the token lives longer', async () => {
  const v = verifier();
  const token = await sign({ partnerId: 'p1' }, 3_600);
  await v.verify(token);
  later(5 * 60_000 + 1);
  await v.verify(token);
  expect(keyLookups).toBe(2);
});

it('never answers another token from memory, not even one with the same signature', async () => {
  const v = verifier();
  const token = await sign({ partnerId: 'p1' }, 600);
  await v.verify(token);
  const [header, , signature] = token.split('.');
  const forged = `${header}.${Buffer.from(JSON.stringify({ sub: 'u2', partnerId: 'p2', iss: ISSUER, aud: 'incentives-platform' })).toString('base64url')}.${signature}`;
  await expect(v.verify(forged)).rejects.toThrow(new InvalidTokenError('The access token is not valid.'));
});

it('hands out a copy: a caller changing its principal changes nobody else’s', async () => {
  const v = verifier();
  const token = await sign({ partnerId: 'p1' }, 600);
  const first = await v.verify(token);
  first.partnerId = 'changed';
  expect((await v.verify(token)).partnerId).toBe('p1');
});

it('reads the user id from JWT_USER_CLAIM when the issuer carries it in a claim of its own, and refuses a token without it', async () => {
  const v = new JwtVerifier({ ...config, JWT_USER_CLAIM: 'platformUserId' } as never, keys);
  expect(await v.verify(await sign({ partnerId: 'p1', platformUserId: 'u-42' }, 600))).toMatchObject({ userId: 'u-42', partnerId: 'p1' });
  // `sub` (here the directory's own subject) is not the user id then.
  await expect(v.verify(await sign({ partnerId: 'p1' }, 600))).rejects.toThrow(new InvalidTokenError('The access token lacks platformUserId or partnerId.'));
  await expect(v.verify(await sign({ partnerId: 'p1', platformUserId: '' }, 600))).rejects.toThrow(InvalidTokenError);
});
