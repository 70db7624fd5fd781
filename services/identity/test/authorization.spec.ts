/**
 * The authorization matrix over the real HTTP app: every action for every kind of caller, with the status the
 * rules give (SPEC 1, Roles; tenancy first: another partner's resources answer 404, never 403).
 * Valid tokens come from the service's own development sign-in; the expired one is signed with the service's
 * real key, the foreign one with a key its JWKS does not publish.
 */
import { decodeJwt, decodeProtectedHeader, SignJWT } from 'jose';
import { generateKeyPairSync, KeyObject, randomUUID } from 'node:crypto';
import { Answer, AUDIENCE, BootedIdentity, bootIdentity, IdentityClient, ISSUER, signingKey } from './identity.harness';

jest.setTimeout(60_000);

type CallerName = 'global admin' | 'account admin' | 'incentives admin' | 'incentives user' | 'plain user' | 'other partner' | 'no token' | 'expired token' | 'foreign key';
const CALLERS: CallerName[] = ['global admin', 'account admin', 'incentives admin', 'incentives user', 'plain user', 'other partner', 'no token', 'expired token', 'foreign key'];

const key = signingKey();
let booted: BootedIdentity;
let client: IdentityClient;
let A: Awaited<ReturnType<IdentityClient['registerPartner']>>;
let B: Awaited<ReturnType<IdentityClient['registerPartner']>>;
let userOfB: string;
const tokens = {} as Record<CallerName, string | undefined>;

function craft(privateKey: KeyObject, { sub, partnerId, exp }: { sub: string; partnerId: string; exp: number }) {
  return new SignJWT({ partnerId })
    .setProtectedHeader({ alg: 'RS256', kid: 'identity-1' })
    .setSubject(sub)
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt(exp - 900)
    .setExpirationTime(exp)
    .sign(privateKey);
}

beforeAll(async () => {
  booted = await bootIdentity({ JWT_SIGNING_KEY: key.pem });
  client = booted.client;
  const suffix = randomUUID().slice(0, 8);
  A = await client.registerPartner([`A1-${suffix}`, `A2-${suffix}`]);
  B = await client.registerPartner([`B1-${suffix}`]);
  const ga = A.globalAdmin.token;
  const account = await client.createUser(ga, { companyRole: 'ACCOUNT_ADMIN' });
  const incentivesAdmin = await client.createUser(ga);
  const incentivesUser = await client.createUser(ga);
  const plain = await client.createUser(ga);
  await client.assign(ga, incentivesAdmin.userId, 'INCENTIVES_ADMIN', [A.locationIds[0]]);
  await client.assign(ga, incentivesUser.userId, 'INCENTIVES_USER', [A.locationIds[0]]);
  userOfB = (await client.createUser(B.globalAdmin.token)).userId;

  tokens['global admin'] = ga;
  tokens['account admin'] = await client.signIn(account.email);
  tokens['incentives admin'] = await client.signIn(incentivesAdmin.email);
  tokens['incentives user'] = await client.signIn(incentivesUser.email);
  tokens['plain user'] = await client.signIn(plain.email);
  tokens['other partner'] = B.globalAdmin.token;
  tokens['no token'] = undefined;
  const now = Math.floor(Date.now() / 1000);
  tokens['expired token'] = await craft(key.privateKey, { sub: A.globalAdmin.userId, partnerId: A.partnerId, exp: now - 60 });
  const foreign = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  tokens['foreign key'] = await craft(foreign, { sub: A.globalAdmin.userId, partnerId: A.partnerId, exp: now + 600 });
});

afterAll(async () => {
  await booted?.close();
});

/** A fresh user of partner A, made by its Global admin, so every case starts from the same state. */
async function freshUserOfA(roles: Array<[string, string[]]> = []): Promise<string> {
  const { userId } = await client.createUser(A.globalAdmin.token);
  for (const [role, locationIds] of roles) await client.assign(A.globalAdmin.token, userId, role, locationIds);
  return userId;
}

async function rolesOf(userId: string) {
  return (await client.call('GET', `/v1/users/${userId}`, { token: A.globalAdmin.token })).body.roles;
}

interface Action {
  name: string;
  run(caller: CallerName, token?: string): Promise<Answer>;
  /** After a refused call: the target is as it was. */
  unchanged?: () => Promise<void>;
  /** After an accepted call. */
  accepted?: (caller: CallerName, answer: Answer) => Promise<void>;
}

function roleAction(verb: 'assign' | 'revoke', role: 'INCENTIVES_ADMIN' | 'INCENTIVES_USER' | 'ACCOUNT_ADMIN' | 'GLOBAL_ADMIN'): Action {
  let target = '';
  let before: unknown;
  return {
    name: `${verb} ${role}`,
    async run(_, token) {
      const locationIds = role === 'ACCOUNT_ADMIN' || role === 'GLOBAL_ADMIN' ? ['*'] : [A.locationIds[1]];
      target = await freshUserOfA(verb === 'revoke' ? [[role, locationIds]] : []);
      before = await rolesOf(target);
      return client.call(verb === 'assign' ? 'POST' : 'DELETE', `/v1/users/${target}/roles`, { token, body: { role, locationIds } });
    },
    unchanged: async () => expect(await rolesOf(target)).toEqual(before),
  };
}

const actions: Array<[Action, Record<CallerName, number>]> = [];
const unauthenticated = { 'no token': 401, 'expired token': 401, 'foreign key': 401 } as const;
function row(action: Action, expected: Omit<Record<CallerName, number>, keyof typeof unauthenticated>) {
  actions.push([action, { ...expected, ...unauthenticated }]);
}

// A refused creation created nobody: the partner's Global admin then creates that email (201, not 409 as taken).
let sentEmail = '';
row(
  {
    name: 'create user',
    run: (_, token) => {
      sentEmail = `n-${randomUUID().slice(0, 8)}@example.com`;
      return client.call('POST', '/v1/users', { token, body: { email: sentEmail, displayName: 'New' } });
    },
    accepted: async (caller, answer) => expect(answer.body.partnerId).toBe(caller === 'other partner' ? B.partnerId : A.partnerId),
    unchanged: async () =>
      expect((await client.call('POST', '/v1/users', { token: A.globalAdmin.token, body: { email: sentEmail, displayName: 'New' } })).status).toBe(201),
  },
  // The other partner's Global admin creates the user in its own partner B (the body cannot name a partner).
  { 'global admin': 201, 'account admin': 201, 'incentives admin': 403, 'incentives user': 403, 'plain user': 403, 'other partner': 201 },
);
row(
  {
    name: 'import users (SCIM)',
    run: (_, token) => {
      sentEmail = `s-${randomUUID().slice(0, 8)}@example.com`;
      return client.call('POST', '/v1/users/import', {
        token,
        body: { schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'], Resources: [{ externalId: randomUUID(), userName: sentEmail, active: true }] },
      });
    },
    unchanged: async () =>
      expect((await client.call('POST', '/v1/users', { token: A.globalAdmin.token, body: { email: sentEmail, displayName: 'New' } })).status).toBe(201),
    accepted: async (caller, answer) => {
      expect(answer.body.summary).toMatchObject({ created: 1 });
      const imported = await client.call('GET', `/v1/users/${answer.body.results[0].userId}`, { token: A.globalAdmin.token });
      expect(imported.status).toBe(caller === 'other partner' ? 404 : 200);
    },
  },
  { 'global admin': 200, 'account admin': 403, 'incentives admin': 403, 'incentives user': 403, 'plain user': 403, 'other partner': 200 },
);
for (const [verb, role] of [
  ['assign', 'INCENTIVES_ADMIN'],
  ['revoke', 'INCENTIVES_ADMIN'],
  ['assign', 'INCENTIVES_USER'],
  ['revoke', 'INCENTIVES_USER'],
] as const) {
  row(roleAction(verb, role), { 'global admin': 200, 'account admin': 200, 'incentives admin': 403, 'incentives user': 403, 'plain user': 403, 'other partner': 404 });
}
// The company roles: a Global admin's alone to give and take (an Account admin must not make itself, or anyone, one).
for (const [verb, role] of [
  ['assign', 'ACCOUNT_ADMIN'],
  ['revoke', 'ACCOUNT_ADMIN'],
  ['assign', 'GLOBAL_ADMIN'],
  ['revoke', 'GLOBAL_ADMIN'],
] as const) {
  row(roleAction(verb, role), { 'global admin': 200, 'account admin': 403, 'incentives admin': 403, 'incentives user': 403, 'plain user': 403, 'other partner': 404 });
}
row(
  { name: 'list INCENTIVES_ADMIN holders of a location', run: (_, token) => client.call('GET', `/v1/locations/${A.locationIds[0]}/incentives-admins`, { token }) },
  // Incentives admin of that very location may see its fellow admins.
  { 'global admin': 200, 'account admin': 200, 'incentives admin': 200, 'incentives user': 403, 'plain user': 403, 'other partner': 404 },
);
row(
  {
    name: "read another partner's user",
    // Each caller asks for a user of the partner it does not belong to.
    run: (caller, token) => client.call('GET', `/v1/users/${caller === 'other partner' ? A.globalAdmin.userId : userOfB}`, { token }),
  },
  { 'global admin': 404, 'account admin': 404, 'incentives admin': 404, 'incentives user': 404, 'plain user': 404, 'other partner': 404 },
);
row(
  { name: 'read a user of the own partner', run: async (_, token) => client.call('GET', `/v1/users/${await freshUserOfA()}`, { token }) },
  { 'global admin': 200, 'account admin': 200, 'incentives admin': 403, 'incentives user': 403, 'plain user': 403, 'other partner': 404 },
);
row(
  { name: 'list users', run: (_, token) => client.call('GET', '/v1/users', { token }) },
  { 'global admin': 200, 'account admin': 200, 'incentives admin': 403, 'incentives user': 403, 'plain user': 403, 'other partner': 200 },
);
{
  let target = '';
  row(
    {
      name: 'deactivate a user',
      async run(_, token) {
        target = await freshUserOfA();
        return client.call('POST', `/v1/users/${target}/deactivate`, { token, headers: { 'if-match': '"1"' } });
      },
      unchanged: async () =>
        expect((await client.call('GET', `/v1/users/${target}`, { token: A.globalAdmin.token })).body).toMatchObject({ active: true, revision: 1 }),
    },
    { 'global admin': 200, 'account admin': 200, 'incentives admin': 403, 'incentives user': 403, 'plain user': 403, 'other partner': 404 },
  );
}
{
  let target = '';
  row(
    {
      name: 'reactivate a user',
      async run(_, token) {
        target = await freshUserOfA();
        const off = await client.call('POST', `/v1/users/${target}/deactivate`, { token: A.globalAdmin.token, headers: { 'if-match': '"1"' } });
        expect(off.status).toBe(200);
        return client.call('POST', `/v1/users/${target}/reactivate`, { token, headers: { 'if-match': '"2"' } });
      },
      accepted: async (_, answer) => expect(answer.body).toMatchObject({ active: true, revision: 3 }),
      unchanged: async () =>
        expect((await client.call('GET', `/v1/users/${target}`, { token: A.globalAdmin.token })).body).toMatchObject({ active: false, revision: 2 }),
    },
    { 'global admin': 200, 'account admin': 200, 'incentives admin': 403, 'incentives user': 403, 'plain user': 403, 'other partner': 404 },
  );
}

const cases = actions.flatMap(([action, expected]) => CALLERS.map((caller) => [action.name, caller, expected[caller], action] as const));

describe('authorization matrix', () => {
  it.each(cases)('%s as %s -> %i', async (_, caller, status, action) => {
    const answer = await action.run(caller, tokens[caller]);
    expect({ status: answer.status, body: answer.body }).toMatchObject({ status });
    if (status >= 400) {
      expect(answer.headers.get('content-type')).toContain('application/problem+json');
      expect(answer.body).toMatchObject({ status, title: expect.any(String), detail: expect.any(String) });
      // How to authenticate (RFC 9110 11.6.1), and, for a token sent and refused, why (RFC 6750 3.1).
      if (status === 401) {
        expect(answer.headers.get('www-authenticate')).toMatch(
          caller === 'no token' ? /^Bearer realm="incentives-platform"(,|$)/ : /^Bearer realm="incentives-platform", error="invalid_token"$/,
        );
      }
      await action.unchanged?.();
    } else {
      await action.accepted?.(caller, answer);
    }
  });
});

describe('tokens', () => {
  it('issues short-lived RS256 tokens naming the user, the partner, the issuer and the audience', async () => {
    const jwt = tokens['account admin']!;
    expect(decodeProtectedHeader(jwt)).toMatchObject({ alg: 'RS256', kid: 'identity-1' });
    const claims = decodeJwt(jwt);
    expect(claims).toMatchObject({ iss: ISSUER, aud: AUDIENCE, partnerId: A.partnerId, sub: expect.any(String) });
    expect(claims.exp! - claims.iat!).toBe(900);
    const signedIn = await client.call('POST', '/v1/dev/sign-in', { body: { email: A.globalAdmin.email.toUpperCase() } });
    expect(signedIn).toMatchObject({ status: 200, body: { tokenType: 'Bearer', expiresIn: 900, accessToken: expect.any(String) } });
    expect(decodeJwt(signedIn.body.accessToken).sub).toBe(A.globalAdmin.userId);
  });

  it('asks which partner when the email exists in several, and refuses unknown emails', async () => {
    const email = `twice-${randomUUID().slice(0, 8)}@example.com`;
    const inA = await client.createUser(A.globalAdmin.token, { email });
    const inB = await client.createUser(B.globalAdmin.token, { email });
    const ambiguous = await client.call('POST', '/v1/dev/sign-in', { body: { email } });
    expect(ambiguous).toMatchObject({ status: 400, body: { errors: [{ field: 'partnerId' }] } });
    expect(decodeJwt(await client.signIn(email, B.partnerId))).toMatchObject({ sub: inB.userId, partnerId: B.partnerId });
    expect(decodeJwt(await client.signIn(email, A.partnerId))).toMatchObject({ sub: inA.userId, partnerId: A.partnerId });
    const unknown = await client.call('POST', '/v1/dev/sign-in', { body: { email: 'nobody@example.com' } });
    expect([unknown.status, unknown.headers.get('www-authenticate')]).toEqual([401, 'Bearer realm="incentives-platform"']);
  });

  it('explains why a token is refused', async () => {
    expect((await client.call('GET', '/v1/me', { token: tokens['expired token'] })).body.detail).toBe('The access token has expired.');
    expect((await client.call('GET', '/v1/me', { token: tokens['foreign key'] })).body.detail).toBe('The access token is not valid.');
    expect((await client.call('GET', '/v1/me')).body.detail).toMatch(/Authorization: Bearer/);
    // An operator's endpoint names the operator credential's header instead.
    const operatorOnly = await client.call('POST', '/v1/partners', { body: {} });
    expect([operatorOnly.status, operatorOnly.headers.get('www-authenticate')]).toEqual([401, 'X-Operator-Key realm="incentives-platform"']);
  });

  it('refuses a deactivated user at sign-in and on every call with a token issued before', async () => {
    const { userId, email } = await client.createUser(A.globalAdmin.token);
    const token = await client.signIn(email);
    expect((await client.call('GET', '/v1/me', { token })).status).toBe(200);
    const off = await client.call('POST', `/v1/users/${userId}/deactivate`, { token: A.globalAdmin.token, headers: { 'if-match': '"1"' } });
    expect(off.status).toBe(200);
    expect((await client.call('POST', '/v1/dev/sign-in', { body: { email } })).status).toBe(403);
    expect(await client.call('GET', '/v1/me', { token })).toMatchObject({ status: 403, body: { detail: 'Your account is deactivated.' } });
  });
});
