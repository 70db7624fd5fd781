/**
 * Identity pointed at an outside OIDC issuer (TOKEN_ISSUER=external), as production does (SPEC 4): it verifies
 * access tokens with the issuer's JWKS at JWKS_URL, exactly like the other services, and no longer with its own key.
 * The issuer is a small HTTP server in this test publishing the JWKS of an RSA key only the test holds.
 */
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { randomUUID } from 'node:crypto';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { BootedIdentity, bootIdentity, IdentityClient, signingKey } from './identity.harness';

jest.setTimeout(60_000);

const COMPANY_ISSUER = 'https://login.company.test/partner-center';
const COMPANY_AUDIENCE = 'incentives-platform-external';
const PARTNER_CLAIM = 'partner_id';
/** The company issuer's claim holding the identity user id (its `sub` is the directory's own subject). */
const USER_CLAIM = 'platform_user_id';
const COMPANY_KID = 'company-1';

/** Identity's own key, configured as if it were the issuer: tokens signed with it must now be refused. */
const ownKey = signingKey();
type SigningKey = Parameters<SignJWT['sign']>[0];
let companyKey: SigningKey;
let jwksServer: Server;
let jwksRequests = 0;
let booted: BootedIdentity;
let client: IdentityClient;

beforeAll(async () => {
  const pair = await generateKeyPair('RS256');
  companyKey = pair.privateKey;
  const jwks = { keys: [{ ...(await exportJWK(pair.publicKey)), kid: COMPANY_KID, alg: 'RS256', use: 'sig' }] };
  jwksServer = createServer((request, response) => {
    jwksRequests += 1;
    if (request.url !== '/.well-known/jwks.json') {
      response.statusCode = 404;
      return response.end();
    }
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify(jwks));
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
  const { port } = jwksServer.address() as AddressInfo;
  booted = await bootIdentity({
    TOKEN_ISSUER: 'external',
    JWT_ISSUER: COMPANY_ISSUER,
    JWT_AUDIENCE: COMPANY_AUDIENCE,
    JWT_PARTNER_CLAIM: PARTNER_CLAIM,
    JWT_USER_CLAIM: USER_CLAIM,
    JWKS_URL: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    DEV_SIGN_IN_ENABLED: 'false',
    JWT_SIGNING_KEY: ownKey.pem,
    JWT_KEY_ID: 'identity-1',
  });
  client = booted.client;
});

afterAll(async () => {
  await booted?.close();
  await new Promise<void>((resolve) => (jwksServer ? jwksServer.close(() => resolve()) : resolve()));
});

/**
 * A token as the company issuer (or, with `key` and `kid`, someone else) hands it out: the identity user id in
 * USER_CLAIM, the directory's own subject in `sub`.
 */
function token(userId: string, partnerId: string, { key = companyKey, kid = COMPANY_KID }: { key?: SigningKey; kid?: string } = {}) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ [PARTNER_CLAIM]: partnerId, [USER_CLAIM]: userId })
    .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
    .setSubject(`directory-oid-${randomUUID()}`)
    .setIssuer(COMPANY_ISSUER)
    .setAudience(COMPANY_AUDIENCE)
    .setIssuedAt(now - 10)
    .setExpirationTime(now + 300)
    .sign(key);
}

/** A partner registered by an operator (no token needed), with its Global admin: the identity user the token names. */
async function registerPartner() {
  const partnerId = `P-${randomUUID()}`;
  const locationId = `L-${randomUUID().slice(0, 8)}`;
  const answer = await client.call('POST', '/v1/partners', {
    operator: true,
    body: {
      partnerId,
      name: 'Contoso',
      locations: [{ locationId, country: 'DE', legalName: 'Contoso GmbH' }],
      globalAdmin: { email: `ga-${randomUUID().slice(0, 8)}@example.com`, displayName: 'Ada' },
    },
  });
  expect(answer.status).toBe(201);
  await client.settled('partners', partnerId);
  await client.settled('users', answer.body.globalAdminUserId);
  return { partnerId, userId: answer.body.globalAdminUserId as string };
}

describe('TOKEN_ISSUER=external', () => {
  it("accepts a token of the external issuer, verified with the JWKS at JWKS_URL: GET /v1/me answers the token's user", async () => {
    const { partnerId, userId } = await registerPartner();
    const me = await client.call('GET', '/v1/me', { token: await token(userId, partnerId) });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ userId, partnerId, active: true });
    // The key came from the issuer's JWKS endpoint over HTTP (then cached by the verifier).
    expect(jwksRequests).toBeGreaterThanOrEqual(1);
    // The same holds for any call that needs a valid token: the admin reads its partner.
    expect((await client.call('GET', `/v1/partners/${partnerId}`, { token: await token(userId, partnerId) })).status).toBe(200);
  });

  it('reads the user from JWT_USER_CLAIM: a token naming the user only in `sub` is refused (401)', async () => {
    const { partnerId, userId } = await registerPartner();
    const subOnly = await new SignJWT({ [PARTNER_CLAIM]: partnerId })
      .setProtectedHeader({ alg: 'RS256', kid: COMPANY_KID, typ: 'JWT' })
      .setSubject(userId)
      .setIssuer(COMPANY_ISSUER)
      .setAudience(COMPANY_AUDIENCE)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(companyKey);
    const answer = await client.call('GET', '/v1/me', { token: subOnly });
    expect(answer.status).toBe(401);
    expect(answer.body.detail).toBe(`The access token lacks ${USER_CLAIM} or ${PARTNER_CLAIM}.`);
  });

  it("rejects a token signed with identity's own key (401): identity is not the issuer", async () => {
    const { partnerId, userId } = await registerPartner();
    const own = await token(userId, partnerId, { key: ownKey.privateKey, kid: 'identity-1' });
    const answer = await client.call('GET', '/v1/me', { token: own });
    expect(answer.status).toBe(401);
    expect(answer.headers.get('content-type')).toContain('application/problem+json');
  });

  it('rejects a token signed with a key the issuer does not publish, under its kid (401)', async () => {
    const { partnerId, userId } = await registerPartner();
    const stranger = (await generateKeyPair('RS256')).privateKey;
    expect((await client.call('GET', '/v1/me', { token: await token(userId, partnerId, { key: stranger }) })).status).toBe(401);
  });

  it('publishes no keys of its own: /.well-known/jwks.json answers 404', async () => {
    const answer = await client.call('GET', '/.well-known/jwks.json');
    expect(answer.status).toBe(404);
    expect(answer.headers.get('content-type')).toContain('application/problem+json');
    // Not kept by caches (as every error): once identity issues tokens again, its keys are read at once.
    expect(answer.headers.get('cache-control')).toBe('no-store');
  });
});
