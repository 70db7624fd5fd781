import * as jose from 'jose';
import { createLocalJWKSet, exportJWK, generateKeyPair, JWK, JWTVerifyGetKey, KeyLike, SignJWT } from 'jose';
import { randomUUID } from 'node:crypto';
import { createServer, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { ProblemException } from '../http/problem';
import { verifyBearer } from './auth.guard';
import { ISSUER_KEYS_RETRY_MS, IssuerKeysUnavailableError, resilientRemoteKeySet } from './issuer-keys';
import { CLOCK_TOLERANCE_SECONDS, InvalidTokenError, JwtVerifier } from './jwt-verifier';

const ISSUER = 'https://issuer.test';
const config = { JWT_ISSUER: ISSUER, JWT_AUDIENCE: 'incentives-platform', JWT_PARTNER_CLAIM: 'partnerId', JWT_USER_CLAIM: 'sub', JWKS_URL: 'https://unused.test/jwks' };

let sign: (claims: Record<string, unknown>, expiresInSeconds: number, issuedFor?: { issuer?: string; audience?: string }) => Promise<string>;
let keys: JWTVerifyGetKey;
let keyLookups: number;

beforeAll(async () => {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const local = createLocalJWKSet({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256' }] });
  keys = (header, token) => {
    keyLookups++;
    return local(header, token);
  };
  sign = (claims, expiresInSeconds, issuedFor = {}) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setIssuer(issuedFor.issuer ?? ISSUER)
      .setAudience(issuedFor.audience ?? 'incentives-platform')
      .setSubject('u1')
      .setIssuedAt(typeof claims.iat === 'number' ? claims.iat : undefined) // the claims' own `iat` when they have one
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
  jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask', 'setTimeout', 'setInterval', 'performance', 'hrtime'] });
  jest.setSystemTime(now + ms);
}

function verifier(): JwtVerifier {
  return new JwtVerifier(config as never, keys);
}

// A company identity provider signs tokens for many applications with the same keys: one for another application, or
// from another issuer trusted with the same key set, is refused although its signature holds.
it.each([
  ['another audience (a token issued for another application)', { audience: 'other-app' }],
  ['another issuer', { issuer: 'https://other-issuer.test' }],
])('refuses a token signed with the issuer\'s key but for %s', async (_, issuedFor) => {
  const token = await sign({ partnerId: 'p1' }, 600, issuedFor);
  await expect(verifier().verify(token)).rejects.toBeInstanceOf(InvalidTokenError);
});

it('checks a token once and answers the same token from memory until it expires', async () => {
  const v = verifier();
  const token = await sign({ partnerId: 'p1' }, 600);
  expect(await v.verify(token)).toMatchObject({ userId: 'u1', partnerId: 'p1' });
  expect(await v.verify(token)).toMatchObject({ userId: 'u1', partnerId: 'p1' });
  expect(keyLookups).toBe(1);

  // Past its expiry (and the clock skew allowed) the remembered answer is gone, and the check itself refuses the token.
  later(600_000 + CLOCK_TOLERANCE_SECONDS * 1000 + 1_000);
  await expect(v.verify(token)).rejects.toThrow(new InvalidTokenError('The access token has expired.'));
});

it("allows the clock skew between the issuer and this replica: a token from an issuer a few seconds ahead, or just expired by this clock", async () => {
  const v = verifier();
  // The issuer's clock 10 s ahead: not valid before (`nbf`) and issued (`iat`) 10 s from now by this replica's clock.
  const ahead = Math.floor(Date.now() / 1000) + 10;
  const fromAhead = await sign({ partnerId: 'p1', nbf: ahead, iat: ahead }, 600);
  expect(await v.verify(fromAhead)).toMatchObject({ partnerId: 'p1' });
  const shortLived = await sign({ partnerId: 'p1' }, 60);
  later(60_000 + 10_000);
  expect(await verifier().verify(shortLived)).toMatchObject({ partnerId: 'p1' });
  // Beyond the tolerance: not yet valid, or expired.
  const farAhead = Math.floor(Date.now() / 1000) + CLOCK_TOLERANCE_SECONDS + 60;
  await expect(v.verify(await sign({ partnerId: 'p1', nbf: farAhead }, 600))).rejects.toThrow(new InvalidTokenError('The access token is not valid.'));
  // Issued (`iat`) beyond it, with no `nbf` (identity's tokens carry none): not valid yet either.
  await expect(v.verify(await sign({ partnerId: 'p1', iat: farAhead }, 600))).rejects.toThrow(new InvalidTokenError('The access token is not valid.'));
  later(CLOCK_TOLERANCE_SECONDS * 1000);
  await expect(verifier().verify(shortLived)).rejects.toThrow(new InvalidTokenError('The access token has expired.'));
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

describe('a token without an expiry', () => {
  it('is refused: it would be good for as long as its key is published', async () => {
    const { privateKey, publicKey } = await generateKeyPair('RS256');
    const local = createLocalJWKSet({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k9', alg: 'RS256' }] });
    const token = await new SignJWT({ partnerId: 'p1' })
      .setProtectedHeader({ alg: 'RS256', kid: 'k9' })
      .setIssuer(ISSUER)
      .setAudience('incentives-platform')
      .setSubject('u1')
      .sign(privateKey);
    await expect(new JwtVerifier(config as never, local).verify(token)).rejects.toThrow(new InvalidTokenError('The access token is not valid.'));
  });
});

/**
 * The issuer's JWKS endpoint going away for a while (identity restarting, a rolling deploy): valid tokens keep working
 * with the keys last read, and only what cannot be checked without the endpoint answers 503 (retry), never 401.
 */
describe("the issuer's JWKS endpoint failing", () => {
  let server: Server;
  let url: string;
  let answer: 'keys' | 503 | 'not json' | 'hang' | 'stall' = 'keys';
  /** The requests a hanging or stalled endpoint has not answered (in full), answered at the end of the test. */
  const hanging: ServerResponse[] = [];
  let jwks: { keys: JWK[] };
  let fetches = 0;
  const signers = new Map<string, KeyLike>();

  const signWith = (kid: string, claims: Record<string, unknown> = { partnerId: 'p1' }) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid })
      .setIssuer(ISSUER)
      .setAudience('incentives-platform')
      .setSubject(`u-${randomUUID()}`) // a new token each time: the verifier's memory never answers it
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + 3_600)
      .sign(signers.get(kid)!);
  const addKey = async (kid: string) => {
    const { privateKey, publicKey } = await generateKeyPair('RS256');
    signers.set(kid, privateKey);
    jwks.keys.push({ ...(await exportJWK(publicKey)), kid, alg: 'RS256' });
  };
  const remoteVerifier = () => new JwtVerifier({ ...config, JWKS_URL: url } as never, null);

  beforeAll(async () => {
    jwks = { keys: [] };
    await addKey('k1');
    server = createServer((_, response) => {
      fetches++;
      if (answer === 'hang') hanging.push(response);
      else if (answer === 'stall') {
        // The headers and the start of the key set, then nothing, the connection kept open.
        response.writeHead(200, { 'content-type': 'application/json' }).write('{"keys":[');
        hanging.push(response);
      }
      else if (answer === 503) response.writeHead(503).end('restarting');
      else response.writeHead(200, { 'content-type': 'application/json' }).end(answer === 'keys' ? JSON.stringify(jwks) : '<html>');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
  });

  afterAll(() => new Promise((resolve) => server.close(resolve)));

  beforeEach(() => {
    answer = 'keys';
    fetches = 0;
  });

  afterEach(() => {
    for (const response of hanging.splice(0)) {
      if (response.headersSent) response.end(']}');
      else response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks));
    }
  });

  /** Once the server has taken `count` requests (a fetch started in the background reaches it a moment later). */
  const fetched = async (count: number) => {
    for (let i = 0; i < 100 && fetches < count; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(fetches).toBe(count);
  };

  it.each([[503 as const], ['not json' as const]])(
    'answering %s: tokens signed with a key read before keep verifying, the endpoint asked again only every few seconds',
    async (failure) => {
      const v = remoteVerifier();
      expect(await v.verify(await signWith('k1'))).toMatchObject({ partnerId: 'p1' });
      expect(fetches).toBe(1);
      answer = failure;
      later(10 * 60_000 + 1); // past the 10 minutes the key set is kept: jose reads it again
      expect(await v.verify(await signWith('k1'))).toMatchObject({ partnerId: 'p1' });
      expect(await v.verify(await signWith('k1'))).toMatchObject({ partnerId: 'p1' });
      await fetched(2); // the failed read; the second token was checked with the keys held
      // A key the held set lacks while the endpoint fails: 503, the endpoint not asked again (a token of it waits for the
      // background read if that is still under way, so that read is over after this).
      await addKey(`k-${randomUUID()}`);
      const rotated = [...signers.keys()].at(-1)!;
      await expect(v.verify(await signWith(rotated))).rejects.toBeInstanceOf(IssuerKeysUnavailableError);
      expect(fetches).toBe(2);
      later(ISSUER_KEYS_RETRY_MS + 1);
      answer = 'keys';
      expect(await v.verify(await signWith(rotated))).toMatchObject({ partnerId: 'p1' }); // back: the new key is read
    },
  );

  // jose fetches a key set older than its 10 minutes before it answers: an endpoint that answers nothing held every
  // request for the fetch's timeout (5 s), every few seconds.
  it('an endpoint that hangs once the key set is old: tokens are checked with the keys held at once, the fetch in the background', async () => {
    const v = remoteVerifier();
    expect(await v.verify(await signWith('k1'))).toMatchObject({ partnerId: 'p1' });
    answer = 'hang';
    later(10 * 60_000 + 1);
    const started = performance.now();
    for (let i = 0; i < 3; i++) expect(await v.verify(await signWith('k1'))).toMatchObject({ partnerId: 'p1' });
    expect(performance.now() - started).toBeLessThan(2_000);
    await fetched(2); // one fetch for all of them
  });

  // jose's timeout covers the wait for the answer's headers only: a body that stalled held the fetch, which every later
  // lookup joins, for as long as the connection stayed open (a token with a new key id waited with it, with no answer).
  it('an endpoint that stalls in the middle of its answer: a key id not held is 503 once the fetch times out, and the endpoint is read again', async () => {
    const v = new JwtVerifier({ ...config, JWKS_URL: url } as never, resilientRemoteKeySet(new URL(url), { timeoutMs: 300 }));
    expect(await v.verify(await signWith('k1'))).toMatchObject({ partnerId: 'p1' });
    answer = 'stall';
    later(10 * 60_000 + 1);
    await addKey('k-stalled');
    const started = performance.now();
    await expect(v.verify(await signWith('k-stalled'))).rejects.toBeInstanceOf(IssuerKeysUnavailableError);
    expect(performance.now() - started).toBeLessThan(3_000);
    expect(await v.verify(await signWith('k1'))).toMatchObject({ partnerId: 'p1' }); // the keys held still verify
    answer = 'keys';
    later(ISSUER_KEYS_RETRY_MS + 1);
    expect(await v.verify(await signWith('k-stalled'))).toMatchObject({ partnerId: 'p1' });
  });

  it('while the endpoint fails, the keys held are imported once, not again for every token', async () => {
    const v = remoteVerifier();
    await v.verify(await signWith('k1'));
    answer = 503;
    later(10 * 60_000 + 1);
    const imports = jest.spyOn(jose, 'createLocalJWKSet');
    try {
      for (let i = 0; i < 5; i++) expect(await v.verify(await signWith('k1'))).toMatchObject({ partnerId: 'p1' });
      expect(imports).toHaveBeenCalledTimes(1);
    } finally {
      imports.mockRestore();
    }
  });

  it('a key the held set lacks while the endpoint fails, or no keys ever read: 503 to retry, not 401', async () => {
    const v = remoteVerifier();
    answer = 503;
    await expect(v.verify(await signWith('k1'))).rejects.toBeInstanceOf(IssuerKeysUnavailableError);
    answer = 'keys';
    later(ISSUER_KEYS_RETRY_MS + 1);
    await v.verify(await signWith('k1'));
    answer = 503;
    await addKey('k-new');
    later(ISSUER_KEYS_RETRY_MS + 1);
    const token = await signWith('k-new');
    await expect(v.verify(token)).rejects.toBeInstanceOf(IssuerKeysUnavailableError);

    const request = { headers: { authorization: `Bearer ${token}` } } as never;
    const refusal = await verifyBearer(request, v, 'send a token').catch((error: ProblemException) => error);
    expect(refusal).toBeInstanceOf(ProblemException);
    expect((refusal as ProblemException).getStatus()).toBe(503);
    expect((refusal as ProblemException).retryAfterSeconds).toBe(ISSUER_KEYS_RETRY_MS / 1000);
    // The issuer's address and the token's key id are for the log, not for a caller not authenticated yet.
    const detail = JSON.stringify((refusal as ProblemException).getResponse());
    expect(detail).toContain('Send the same request again shortly');
    expect(detail).not.toContain('k-new');
    expect(detail).not.toContain(new URL(url).host);
  });

  it('a token its keys do not sign is still 401 while the endpoint answers', async () => {
    const v = remoteVerifier();
    const forged = await signWith('k1');
    const [header, payload] = forged.split('.');
    const other = await signWith('k1', { partnerId: 'p2' });
    await expect(v.verify(`${header}.${payload}.${other.split('.')[2]}`)).rejects.toThrow(new InvalidTokenError('The access token is not valid.'));
  });
});
