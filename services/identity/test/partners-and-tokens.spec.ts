/**
 * The service as deployed by default (development sign-in off): the issuer's JWKS and tokens, partner bootstrap
 * and locations, and the rules around company admins, deactivation, paging and idempotent creation.
 */
import { servedDocs } from '@lib/testing';
import { createRemoteJWKSet, jwtVerify, SignJWT } from 'jose';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { MAX_PARTNER_LOCATIONS } from '../src/partners/usecases/add-location.use-case';
import { CompletePartnerBootstrap } from '../src/partners/usecases/complete-partner-bootstrap.use-case';
import { AUDIENCE, BootedIdentity, bootIdentity, IdentityClient, ISSUER, signingKey } from './identity.harness';

jest.setTimeout(60_000);

const key = signingKey();
let booted: BootedIdentity;
let client: IdentityClient;

beforeAll(async () => {
  booted = await bootIdentity({ DEV_SIGN_IN_ENABLED: 'false', JWT_SIGNING_KEY: key.pem, JWT_KEY_ID: 'k-test', JWT_TTL_SECONDS: '120' });
  client = booted.client;
});

afterAll(async () => {
  await booted?.close();
});

/** What an outside OIDC issuer would hand out; here signed with the service's configured key. */
function token(userId: string, partnerId: string, ttl = 300) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ partnerId })
    .setProtectedHeader({ alg: 'RS256', kid: 'k-test' })
    .setSubject(userId)
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt(now)
    .setExpirationTime(now + ttl)
    .sign(key.privateKey);
}

const suffix = () => randomUUID().slice(0, 8);

async function partner(locationIds = [`L-${suffix()}`]) {
  const partnerId = `P-${randomUUID()}`;
  const email = `ga-${suffix()}@example.com`;
  const answer = await client.call('POST', '/v1/partners', {
    operator: true,
    body: { partnerId, name: 'Contoso', locations: locationIds.map((locationId) => ({ locationId, country: 'de', legalName: 'Contoso GmbH' })), globalAdmin: { email, displayName: 'Ada' } },
  });
  expect(answer.status).toBe(201);
  await client.settled('partners', partnerId);
  await client.settled('users', answer.body.globalAdminUserId);
  return { partnerId, locationIds, ga: { userId: answer.body.globalAdminUserId as string, email, token: await token(answer.body.globalAdminUserId, partnerId) } };
}

describe('issuer', () => {
  it('has development sign-in off by default: the route answers 404', async () => {
    const answer = await client.call('POST', '/v1/dev/sign-in', { body: { email: 'anyone@example.com' } });
    expect(answer.status).toBe(404);
    expect(answer.headers.get('content-type')).toContain('application/problem+json');
    // Even with a body it would refuse: the route does not exist.
    expect((await client.call('POST', '/v1/dev/sign-in', { body: { email: 'bad', extra: 1 } })).status).toBe(404);
  });

  it('listens on every address by default, and on this machine only with HOST=127.0.0.1 (as npm start runs it)', async () => {
    // Node's own choice without HOST: `::` (IPv6 and IPv4) where the machine has IPv6, else 0.0.0.0; the client reaches
    // it on 127.0.0.1 either way.
    expect(['::', '0.0.0.0']).toContain((booted.service.app.getHttpServer().address() as AddressInfo).address);
    expect((await fetch(`http://127.0.0.1:${(booted.service.app.getHttpServer().address() as AddressInfo).port}/health/live`)).status).toBe(200);
    const local = await bootIdentity({ HOST: '127.0.0.1' });
    try {
      expect((local.service.app.getHttpServer().address() as AddressInfo).address).toBe('127.0.0.1');
    } finally {
      await local.close();
    }
  });

  it('publishes its public key at /.well-known/jwks.json without a token, and only the public half', async () => {
    const answer = await client.call('GET', '/.well-known/jwks.json');
    expect(answer.status).toBe(200);
    expect(answer.body.keys).toEqual([{ kty: 'RSA', n: expect.any(String), e: 'AQAB', kid: 'k-test', alg: 'RS256', use: 'sig' }]);
    // Public, and kept a while by caches; a partner's data is kept by none (its errors neither).
    expect(answer.headers.get('cache-control')).toBe('public, max-age=300');
    const p = await partner();
    for (const read of [await client.call('GET', `/v1/partners/${p.partnerId}`, { operator: true }), await client.call('GET', '/v1/users', { token: p.ga.token }), await client.call('GET', '/v1/users')]) {
      expect(read.headers.get('cache-control')).toBe('no-store');
    }
    // A token signed with the configured private key verifies against the published set, as other services do it.
    const jwt = await token('u', 'p');
    await expect(jwtVerify(jwt, createRemoteJWKSet(new URL(`${client.url}/.well-known/jwks.json`)), { issuer: ISSUER, audience: AUDIENCE })).resolves.toBeDefined();
  });

  it('accepts tokens of its own key for known users, and refuses an unknown user with 403', async () => {
    const p = await partner();
    expect(await client.call('GET', '/v1/me', { token: p.ga.token })).toMatchObject({ status: 200, body: { userId: p.ga.userId, roles: [{ role: 'GLOBAL_ADMIN', locationIds: ['*'] }] } });
    expect((await client.call('GET', '/v1/me', { token: await token(randomUUID(), p.partnerId) })).status).toBe(403);
    // The token says partner A, the user belongs to another partner: unknown there.
    const q = await partner();
    expect((await client.call('GET', '/v1/me', { token: await token(q.ga.userId, p.partnerId) })).status).toBe(403);
  });
});

describe('documentation', () => {
  it('serves OpenAPI with every endpoint and its schemas', async () => {
    await expect(servedDocs(client.url, ['/v1/partners'])).resolves.toBeDefined(); // the page at /docs too
    const docs = await client.call('GET', '/docs-json');
    expect(docs.status).toBe(200);
    expect(Object.keys(docs.body.paths)).toEqual(
      expect.arrayContaining([
        '/.well-known/jwks.json',
        '/v1/dev/sign-in',
        '/v1/partners',
        '/v1/partners/{partnerId}/locations',
        '/v1/users',
        '/v1/users/import',
        '/v1/users/{userId}/deactivate',
        '/v1/users/{userId}/roles',
        '/v1/locations/{locationId}/incentives-admins',
      ]),
    );
    expect(docs.body.components.schemas.RoleChangeInput.properties.role.enum).toEqual(['GLOBAL_ADMIN', 'ACCOUNT_ADMIN', 'INCENTIVES_ADMIN', 'INCENTIVES_USER']);
    // Every endpoint that honours Idempotency-Key says so.
    const headers = (path: string) => (docs.body.paths[path].post.parameters ?? []).filter((p: { in: string }) => p.in === 'header').map((p: { name: string }) => p.name);
    for (const path of ['/v1/partners', '/v1/partners/{partnerId}/locations', '/v1/users', '/v1/users/import']) expect(headers(path)).toContain('Idempotency-Key');
    // Errors are documented as problem+json, on every operation.
    expect(docs.body.components.schemas.ProblemDetails.required).toEqual(['type', 'title', 'status']);
    for (const [path, item] of Object.entries<any>(docs.body.paths)) {
      for (const operation of Object.values<any>(item)) expect([path, operation.responses.default?.content?.['application/problem+json']]).toEqual([path, expect.anything()]);
    }
  });
});

describe('partners and locations', () => {
  it('registers a partner (operator only) and shows it to its users and operators, 404 to other partners', async () => {
    const p = await partner();
    const q = await partner();
    expect((await client.call('POST', '/v1/partners', { token: p.ga.token, body: {} })).status).toBe(401);
    const view = { partnerId: p.partnerId, name: 'Contoso', locations: [{ locationId: p.locationIds[0], country: 'DE', legalName: 'Contoso GmbH' }] };
    expect(await client.call('GET', `/v1/partners/${p.partnerId}`, { operator: true })).toMatchObject({ status: 200, body: view });
    expect(await client.call('GET', `/v1/partners/${p.partnerId}`, { token: p.ga.token })).toMatchObject({ status: 200, body: view });
    expect((await client.call('GET', `/v1/partners/${p.partnerId}`, { token: q.ga.token })).status).toBe(404);
    expect((await client.call('GET', `/v1/partners/${p.partnerId}`, { headers: { 'x-operator-key': 'wrong' } })).status).toBe(401);
    expect((await client.call('GET', `/v1/partners/${p.partnerId}`)).status).toBe(401);
  });

  it('shows a user the locations their roles name; company admins and a role on every location see all', async () => {
    const [L1, L2, L3] = [`L-${suffix()}`, `L-${suffix()}`, `L-${suffix()}`];
    const p = await partner([L1, L2, L3]);
    const user = await client.createUser(p.ga.token);
    const account = await client.createUser(p.ga.token, { companyRole: 'ACCOUNT_ADMIN' });
    const everywhere = await client.createUser(p.ga.token);
    const locationsOf = async (userId: string) =>
      ((await client.call('GET', `/v1/partners/${p.partnerId}`, { token: await token(userId, p.partnerId) })).body.locations as Array<{ locationId: string }>).map((l) => l.locationId);
    expect(await locationsOf(user.userId)).toEqual([]);
    await client.assign(p.ga.token, user.userId, 'INCENTIVES_USER', [L1]);
    await client.assign(p.ga.token, user.userId, 'INCENTIVES_ADMIN', [L3]);
    expect(await locationsOf(user.userId)).toEqual([L1, L3]);
    await client.assign(p.ga.token, everywhere.userId, 'INCENTIVES_USER', ['*']);
    expect(await locationsOf(everywhere.userId)).toEqual([L1, L2, L3]);
    expect(await locationsOf(account.userId)).toEqual([L1, L2, L3]);
    expect(await locationsOf(p.ga.userId)).toEqual([L1, L2, L3]);
  });

  // Location ids are assigned outside the platform: a partner's own admin adding one could take another partner's id
  // before that partner is registered (its decisions then dead-lettered for good), or learn which ids are taken.
  it("lets only the operator add locations: not the partner's Global admin, not an Account admin, not another partner", async () => {
    const p = await partner();
    const q = await partner();
    const account = await client.createUser(p.ga.token, { companyRole: 'ACCOUNT_ADMIN' });
    const add = (who: { token?: string; operator?: boolean }, locationId = `L-${suffix()}`) =>
      client.call('POST', `/v1/partners/${p.partnerId}/locations`, { ...who, body: { locationId, country: 'NL', legalName: 'Contoso BV' } });
    expect((await add({ operator: true })).status).toBe(201);
    await client.settled('partners', p.partnerId);
    // Another partner's location id, as a Global admin would try it: refused before anything is looked up.
    const taken = (await client.call('GET', `/v1/partners/${q.partnerId}`, { operator: true })).body.locations[0].locationId;
    for (const who of [{ token: p.ga.token }, { token: await token(account.userId, p.partnerId) }, { token: q.ga.token }, {}]) {
      expect((await add(who)).status).toBe(401);
      expect((await add(who, taken)).status).toBe(401);
    }
    expect((await client.call('GET', `/v1/partners/${p.partnerId}`, { operator: true })).body.locations).toHaveLength(2);
  });

  it(`refuses a location past ${MAX_PARTNER_LOCATIONS} per partner (409 naming locationId): the partner stays one document that can be written`, async () => {
    const p = await partner();
    const has = ((await booted.db.collection('partners').findOne({ _id: p.partnerId as never }))!.locations as unknown[]).length;
    const filler = Array.from({ length: MAX_PARTNER_LOCATIONS - 1 - has }, (_, i) => ({ locationId: `F-${p.partnerId}-${i}`, country: 'US', legalName: `Filler ${i}` }));
    await booted.db.collection('partners').updateOne({ _id: p.partnerId as never }, { $push: { locations: { $each: filler } } } as never);
    const add = (locationId: string) => client.call('POST', `/v1/partners/${p.partnerId}/locations`, { operator: true, body: { locationId, country: 'NL', legalName: 'Contoso BV' } });
    const last = `L-${suffix()}`;
    expect((await add(last)).status).toBe(201);
    const over = `L-${suffix()}`;
    const refused = await add(over);
    expect(refused.status).toBe(409);
    expect(refused.body.errors).toEqual([{ field: 'locationId', message: `the partner already has ${MAX_PARTNER_LOCATIONS} locations, the most one partner may have` }]);
    expect(await booted.db.collection('location_claims').findOne({ _id: over as never })).toBeNull();
    // The same location again still answers as before (nothing to add).
    expect((await add(last)).status).toBe(200);
  });

  it('finishes a registration interrupted between the partner and its first admin when it is retried', async () => {
    const partnerId = `P-${randomUUID()}`;
    const pending = { userId: randomUUID(), email: `ga-${suffix()}@example.com`, displayName: 'Ada' };
    const locationId = `L-${suffix()}`;
    // The state a crash right after the first write leaves behind.
    await booted.db.collection('location_claims').insertOne({ _id: locationId as never, partnerId });
    await booted.db.collection('partners').insertOne({
      _id: partnerId as never,
      name: 'Contoso',
      locations: [{ locationId, country: 'DE', legalName: 'Contoso GmbH' }],
      pendingAdmin: pending,
      version: 1,
    });
    const retry = await client.call('POST', '/v1/partners', {
      operator: true,
      body: { partnerId, name: 'Contoso', locations: [{ locationId, country: 'DE', legalName: 'Contoso GmbH' }], globalAdmin: { email: pending.email, displayName: 'Ada' } },
    });
    expect(retry).toMatchObject({ status: 201, body: { partnerId, globalAdminUserId: pending.userId } });
    expect(await booted.db.collection('partners').findOne({ _id: partnerId as never })).not.toHaveProperty('pendingAdmin');
    expect((await client.call('GET', '/v1/me', { token: await token(pending.userId, partnerId) })).body.roles).toEqual([{ role: 'GLOBAL_ADMIN', locationIds: ['*'] }]);
    // Once complete, registering again is a conflict.
    const again = await client.call('POST', '/v1/partners', {
      operator: true,
      body: { partnerId, name: 'Contoso', locations: [{ locationId, country: 'DE', legalName: 'Contoso GmbH' }], globalAdmin: { email: pending.email, displayName: 'Ada' } },
    });
    expect(again.status).toBe(409);
    expect(await booted.db.collection('users').countDocuments({ partnerId })).toBe(1);
  });

  it('answers 409 to another registration under the partnerId of an interrupted one; only the same one (locations in any order) finishes it', async () => {
    const partnerId = `P-${randomUUID()}`;
    const pending = { userId: randomUUID(), email: `ga-${suffix()}@example.com`, displayName: 'Ada' };
    const [L1, L2, L3] = [`L-${suffix()}`, `L-${suffix()}`, `L-${suffix()}`];
    const stored = [
      { locationId: L1, country: 'DE', legalName: 'Contoso GmbH' },
      { locationId: L2, country: 'FR', legalName: 'Contoso SARL' },
    ];
    await booted.db.collection('location_claims').insertMany([{ _id: L1 as never, partnerId }, { _id: L2 as never, partnerId }]);
    await booted.db.collection('partners').insertOne({ _id: partnerId as never, name: 'Contoso', locations: stored, pendingAdmin: pending, version: 1 });
    const same = { partnerId, name: 'Contoso', locations: [stored[1], { ...stored[0], country: 'de' }], globalAdmin: { email: pending.email.toUpperCase(), displayName: 'Ada' } };
    const others = [
      { ...same, name: 'Contoso Holding' },
      { ...same, locations: [...same.locations, { locationId: L3, country: 'IT', legalName: 'Contoso Srl' }] },
      { ...same, locations: [stored[0]] },
      { ...same, locations: [stored[0], { ...stored[1], legalName: 'Other SARL' }] },
      { ...same, locations: [stored[0], { ...stored[1], country: 'BE' }] },
      { ...same, globalAdmin: { ...same.globalAdmin, displayName: 'Grace' } },
    ];
    for (const body of others) {
      const answer = await client.call('POST', '/v1/partners', { operator: true, body });
      expect({ status: answer.status, errors: answer.body.errors }).toEqual({ status: 409, errors: [{ field: 'partnerId', message: 'is already registered' }] });
      expect(answer.headers.get('content-type')).toContain('application/problem+json');
    }
    expect(await booted.db.collection('location_claims').findOne({ _id: L3 as never })).toBeNull();
    expect(await booted.db.collection('partners').findOne({ _id: partnerId as never })).toMatchObject({ name: 'Contoso', locations: stored, pendingAdmin: pending });
    expect(await booted.db.collection('users').countDocuments({ partnerId })).toBe(0);

    const retry = await client.call('POST', '/v1/partners', { operator: true, body: same });
    expect(retry).toMatchObject({ status: 201, body: { partnerId, globalAdminUserId: pending.userId } });
    expect(await booted.db.collection('partners').findOne({ _id: partnerId as never })).not.toHaveProperty('pendingAdmin');
  });

  it('finishes a registration without partnerId that failed after the partner was written, retried under its Idempotency-Key', async () => {
    const locationId = `L-${suffix()}`;
    const body = { name: 'Contoso', locations: [{ locationId, country: 'DE', legalName: 'Contoso GmbH' }], globalAdmin: { email: `ga-${suffix()}@example.com`, displayName: 'Ada' } };
    const headers = { 'idempotency-key': randomUUID() };
    const startedAt = new Date();
    // The first admin's write fails: the partner (and its locations) is written, the request answers 500.
    const bootstrap = booted.service.app.get(CompletePartnerBootstrap);
    const failing = jest.spyOn(bootstrap, 'execute').mockRejectedValueOnce(new Error('database gone'));
    const first = await client.call('POST', '/v1/partners', { operator: true, body, headers });
    failing.mockRestore();
    expect(first.status).toBe(500);
    const written = await booted.db.collection('partners').findOne({ 'locations.locationId': locationId } as never);
    expect(written).toHaveProperty('pendingAdmin');

    const retry = await client.call('POST', '/v1/partners', { operator: true, body, headers });
    expect(retry).toMatchObject({ status: 201, body: { partnerId: written!._id, globalAdminUserId: written!.pendingAdmin.userId } });
    expect(await booted.db.collection('partners').countDocuments({ 'locations.locationId': locationId } as never)).toBe(1);
    expect(await booted.db.collection('partners').findOne({ _id: written!._id })).not.toHaveProperty('pendingAdmin');
    // Its answer lost again, once complete (the sweep, a restart, or this retry finished it): the same partner again.
    expect((await booted.db.collection('idempotency_keys').deleteMany({ createdAt: { $gte: startedAt } })).deletedCount).toBeGreaterThan(0);
    const again = await client.call('POST', '/v1/partners', { operator: true, body, headers });
    expect(again).toMatchObject({ status: 201, body: { partnerId: written!._id, globalAdminUserId: written!.pendingAdmin.userId } });
    expect(await booted.db.collection('users').countDocuments({ partnerId: written!._id })).toBe(1);
    // The same key with another registration, once its answer is gone: 422 (the key was used), nothing written.
    expect((await booted.db.collection('idempotency_keys').deleteMany({ createdAt: { $gte: startedAt } })).deletedCount).toBeGreaterThan(0);
    const otherLocation = `L-${suffix()}`;
    const other = await client.call('POST', '/v1/partners', { operator: true, body: { ...body, locations: [{ locationId: otherLocation, country: 'DE', legalName: 'Other' }] }, headers });
    expect(other).toMatchObject({ status: 422, body: { type: expect.stringMatching(/idempotency-key-reused$/) } });
    expect(await booted.db.collection('partners').countDocuments({ 'locations.locationId': otherLocation } as never)).toBe(0);
  });

  it('finishes such a registration without a retry too, on the sweep that runs every few minutes (not only at start)', async () => {
    const partnerId = `P-${randomUUID()}`;
    const pending = { userId: randomUUID(), email: `ga-${suffix()}@example.com`, displayName: 'Ada' };
    const locationId = `L-${suffix()}`;
    await booted.db.collection('location_claims').insertOne({ _id: locationId as never, partnerId });
    await booted.db.collection('partners').insertOne({ _id: partnerId as never, name: 'Contoso', locations: [{ locationId, country: 'DE', legalName: 'Contoso GmbH' }], pendingAdmin: pending, version: 1 });
    await booted.service.app.get(CompletePartnerBootstrap).sweep();
    expect(await booted.db.collection('partners').findOne({ _id: partnerId as never })).not.toHaveProperty('pendingAdmin');
    expect((await client.call('GET', '/v1/me', { token: await token(pending.userId, partnerId) })).body.roles).toEqual([{ role: 'GLOBAL_ADMIN', locationIds: ['*'] }]);
  });

  it('finishes the other pending registrations when one fails, and reports the run failed (the next retries it)', async () => {
    const seeded = await Promise.all(
      ['failing', 'finished'].map(async (tag) => {
        const partnerId = `P-${tag}-${randomUUID()}`;
        const locationId = `L-${suffix()}`;
        const pending = { userId: randomUUID(), email: `ga-${tag}-${suffix()}@example.com`, displayName: 'Ada' };
        await booted.db.collection('partners').insertOne({ _id: partnerId as never, name: 'Contoso', locations: [{ locationId, country: 'DE', legalName: 'Contoso GmbH' }], pendingAdmin: pending, version: 1 });
        return partnerId;
      }),
    );
    const [failing, finished] = seeded;
    const bootstrap = booted.service.app.get(CompletePartnerBootstrap);
    const execute = bootstrap.execute.bind(bootstrap);
    const spy = jest.spyOn(bootstrap, 'execute').mockImplementation(async (partner) => {
      if (partner._id === failing) throw new Error('database gone');
      return execute(partner);
    });
    try {
      await expect(bootstrap.sweep()).rejects.toThrow(new RegExp(`not finished: ${failing}`));
    } finally {
      spy.mockRestore();
    }
    expect(await booted.db.collection('partners').findOne({ _id: finished as never })).not.toHaveProperty('pendingAdmin');
    expect(await booted.db.collection('partners').findOne({ _id: failing as never })).toHaveProperty('pendingAdmin');
    await bootstrap.sweep();
    expect(await booted.db.collection('partners').findOne({ _id: failing as never })).not.toHaveProperty('pendingAdmin');
  });
});

describe('users', () => {
  it('lets only a Global admin create company admins; an Account admin creates plain users', async () => {
    const p = await partner();
    const account = await client.createUser(p.ga.token, { companyRole: 'ACCOUNT_ADMIN' });
    const accountToken = await token(account.userId, p.partnerId);
    const asAccount = (companyRole?: string) =>
      client.call('POST', '/v1/users', { token: accountToken, body: { email: `x-${suffix()}@example.com`, displayName: 'X', ...(companyRole && { companyRole }) } });
    expect((await asAccount()).status).toBe(201);
    expect((await asAccount('ACCOUNT_ADMIN')).status).toBe(403);
    expect((await asAccount('GLOBAL_ADMIN')).body.detail).toBe('Only a Global admin can create a user with the GLOBAL_ADMIN role.');
    const global = await client.call('POST', '/v1/users', { token: p.ga.token, body: { email: `g-${suffix()}@example.com`, displayName: 'G', companyRole: 'GLOBAL_ADMIN' } });
    expect(global).toMatchObject({ status: 201, body: { roles: [{ role: 'GLOBAL_ADMIN', locationIds: ['*'] }], revision: 1 } });
    expect(global.headers.get('etag')).toBe('"1"');
    expect(global.headers.get('location')).toBe(`/v1/users/${global.body.userId}`);
  });

  it('answers a retried creation (same Idempotency-Key) with the first answer and creates one user', async () => {
    const p = await partner();
    const body = { email: `idem-${suffix()}@example.com`, displayName: 'Once' };
    const headers = { 'idempotency-key': randomUUID() };
    const first = await client.call('POST', '/v1/users', { token: p.ga.token, body, headers });
    const second = await client.call('POST', '/v1/users', { token: p.ga.token, body, headers });
    expect(first.status).toBe(201);
    expect(second).toMatchObject({ status: 201, body: first.body });
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(await booted.db.collection('users').countDocuments({ partnerId: p.partnerId })).toBe(2);
  });

  it("answers a location's addition retried with the same Idempotency-Key with the first answer (201), added once", async () => {
    const p = await partner();
    const locationId = `L-${suffix()}`;
    const headers = { 'idempotency-key': randomUUID() };
    const body = { locationId, country: 'FR', legalName: 'Contoso SARL' };
    const first = await client.call('POST', `/v1/partners/${p.partnerId}/locations`, { operator: true, body, headers });
    expect(first.status).toBe(201);
    const second = await client.call('POST', `/v1/partners/${p.partnerId}/locations`, { operator: true, body, headers });
    // The first answer, not the 200 "already there" the same body gets without the key.
    expect(second).toMatchObject({ status: 201, body: first.body });
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    const stored = await booted.db.collection('partners').findOne({ _id: p.partnerId as never });
    expect(stored!.locations.filter((l: { locationId: string }) => l.locationId === locationId)).toHaveLength(1);
  });

  it('answers a creation retried after its answer was lost (its key taken over) with the user it made, not 409 on its email', async () => {
    const p = await partner();
    const body = { email: `lost-${suffix()}@example.com`, displayName: 'Once' };
    const headers = { 'idempotency-key': randomUUID() };
    const startedAt = new Date();
    const first = await client.call('POST', '/v1/users', { token: p.ga.token, body, headers });
    expect(first.status).toBe(201);
    expect((await booted.db.collection('idempotency_keys').deleteMany({ createdAt: { $gte: startedAt } })).deletedCount).toBeGreaterThan(0);
    const retry = await client.call('POST', '/v1/users', { token: p.ga.token, body, headers });
    expect(retry).toMatchObject({ status: 201, body: first.body });
    expect(await booted.db.collection('users').countDocuments({ partnerId: p.partnerId })).toBe(2);
    // Another request for the same email is still refused.
    expect((await client.call('POST', '/v1/users', { token: p.ga.token, body, headers: { 'idempotency-key': randomUUID() } })).status).toBe(409);
    // Another request under the same key, its answer gone: 422, not the first user.
    expect((await booted.db.collection('idempotency_keys').deleteMany({ createdAt: { $gte: startedAt } })).deletedCount).toBeGreaterThan(0);
    const other = await client.call('POST', '/v1/users', { token: p.ga.token, body: { ...body, email: `other-${suffix()}@example.com` }, headers });
    expect(other).toMatchObject({ status: 422, body: { type: expect.stringMatching(/idempotency-key-reused$/) } });
    expect(await booted.db.collection('users').countDocuments({ partnerId: p.partnerId })).toBe(2);
    // That 422 is not the key's answer: the first request, retried, still gets its user.
    expect(await client.call('POST', '/v1/users', { token: p.ga.token, body, headers })).toMatchObject({ status: 201, body: first.body });
  });

  it('pages through users by email', async () => {
    const p = await partner();
    for (const n of [3, 1, 2]) await client.createUser(p.ga.token, { email: `user${n}@example.com` });
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await client.call('GET', `/v1/users?limit=2${cursor ? `&cursor=${cursor}` : ''}`, { token: p.ga.token });
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.items.map((u: any) => u.email));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual([p.ga.email, 'user1@example.com', 'user2@example.com', 'user3@example.com']);
  });

  it('pages past a user whose email is long in UTF-8 (its cursor is longer than the email)', async () => {
    const p = await partner();
    const long = `${'a'.repeat(64)}@${Array.from({ length: 10 }, () => '\u65e5'.repeat(8)).join('.')}.jp`;
    await client.createUser(p.ga.token, { email: long });
    await client.createUser(p.ga.token, { email: 'zed@example.com' });
    const first = await client.call('GET', '/v1/users?limit=1', { token: p.ga.token });
    expect(first.body.items.map((u: any) => u.email)).toEqual([long]);
    expect(first.body.nextCursor.length).toBeGreaterThan(400);
    const second = await client.call('GET', `/v1/users?limit=1&cursor=${first.body.nextCursor}`, { token: p.ga.token });
    expect(second.status).toBe(200);
    expect(second.body.items.map((u: any) => u.email)).toEqual([p.ga.email]);
  });

  it('keeps a partner administrable: no self-deactivation, no revoking your own Global admin role, Account admins cannot deactivate company admins', async () => {
    const p = await partner();
    const account = await client.createUser(p.ga.token, { companyRole: 'ACCOUNT_ADMIN' });
    const accountToken = await token(account.userId, p.partnerId);
    expect((await client.call('POST', `/v1/users/${p.ga.userId}/deactivate`, { token: p.ga.token, headers: { 'if-match': '"1"' } })).status).toBe(409);
    expect((await client.call('POST', `/v1/users/${p.ga.userId}/deactivate`, { token: accountToken, headers: { 'if-match': '"1"' } })).status).toBe(403);
    expect((await client.call('DELETE', `/v1/users/${p.ga.userId}/roles`, { token: p.ga.token, body: { role: 'GLOBAL_ADMIN', locationIds: ['*'] } })).status).toBe(409);
    // A Global admin may assign incentive roles to themselves.
    const self = await client.call('POST', `/v1/users/${p.ga.userId}/roles`, { token: p.ga.token, body: { role: 'INCENTIVES_ADMIN', locationIds: ['*'] } });
    expect(self).toMatchObject({ status: 200, body: { roles: [{ role: 'GLOBAL_ADMIN', locationIds: ['*'] }, { role: 'INCENTIVES_ADMIN', locationIds: ['*'] }] } });
    await client.settled('users', p.ga.userId);
    // Held on *: revoking every location of the partner removes the role, as '*' does.
    const all = await client.call('DELETE', `/v1/users/${p.ga.userId}/roles`, { token: p.ga.token, body: { role: 'INCENTIVES_ADMIN', locationIds: p.locationIds } });
    expect(all).toMatchObject({ status: 200, body: { roles: [{ role: 'GLOBAL_ADMIN', locationIds: ['*'] }] } });
  });

  it('lists the Incentives admins of a location, directly or through *, active ones only', async () => {
    const [L1, L2] = [`L-${suffix()}`, `L-${suffix()}`];
    const p = await partner([L1, L2]);
    const direct = await client.createUser(p.ga.token, { email: `a-${suffix()}@example.com` });
    const all = await client.createUser(p.ga.token, { email: `b-${suffix()}@example.com` });
    const elsewhere = await client.createUser(p.ga.token, { email: `c-${suffix()}@example.com` });
    const gone = await client.createUser(p.ga.token, { email: `d-${suffix()}@example.com` });
    await client.assign(p.ga.token, direct.userId, 'INCENTIVES_ADMIN', [L1]);
    await client.assign(p.ga.token, all.userId, 'INCENTIVES_ADMIN', ['*']);
    await client.assign(p.ga.token, elsewhere.userId, 'INCENTIVES_ADMIN', [L2]);
    const held = await client.assign(p.ga.token, gone.userId, 'INCENTIVES_ADMIN', [L1]);
    expect((await client.call('POST', `/v1/users/${gone.userId}/deactivate`, { token: p.ga.token, headers: { 'if-match': `"${held.revision}"` } })).status).toBe(200);
    const answer = await client.call('GET', `/v1/locations/${L1}/incentives-admins`, { token: p.ga.token });
    expect(answer.status).toBe(200);
    // By email: a-... holds L1 directly, b-... holds '*'; c-... (L2 only) and the deactivated d-... are not listed.
    expect(answer.body.items.map((i: any) => [i.userId, i.locationIds])).toEqual([
      [direct.userId, [L1]],
      [all.userId, ['*']],
    ]);
    expect((await client.call('GET', `/v1/locations/NOPE-${suffix()}/incentives-admins`, { token: p.ga.token })).status).toBe(404);

    // An Incentives admin of L1 and L2 listed to an Incentives admin of L1 alone: with L1, not with L2 (no role there).
    await client.assign(p.ga.token, elsewhere.userId, 'INCENTIVES_ADMIN', [L1, L2]);
    const asked = await client.call('GET', `/v1/locations/${L1}/incentives-admins`, { token: await token(direct.userId, p.partnerId) });
    expect(asked.status).toBe(200);
    expect(asked.body.items.find((i: any) => i.userId === elsewhere.userId)?.locationIds).toEqual([L1]);
    expect(asked.body.items.find((i: any) => i.userId === all.userId)?.locationIds).toEqual(['*']);
    const byAdmin = await client.call('GET', `/v1/locations/${L1}/incentives-admins`, { token: p.ga.token });
    expect([...byAdmin.body.items.find((i: any) => i.userId === elsewhere.userId).locationIds].sort()).toEqual([L1, L2].sort());
    expect(byAdmin.body).not.toHaveProperty('nextCursor');

    // A page at a time, by email: a-, b-, c- (the deactivated d- left out).
    const first = await client.call('GET', `/v1/locations/${L1}/incentives-admins?limit=2`, { token: p.ga.token });
    expect(first.status).toBe(200);
    expect(first.body.items.map((i: any) => i.userId)).toEqual([direct.userId, all.userId]);
    expect(typeof first.body.nextCursor).toBe('string');
    const second = await client.call('GET', `/v1/locations/${L1}/incentives-admins?limit=2&cursor=${encodeURIComponent(first.body.nextCursor)}`, { token: p.ga.token });
    expect(second.body.items.map((i: any) => i.userId)).toEqual([elsewhere.userId]);
    expect(second.body).not.toHaveProperty('nextCursor');
    // Another list's cursor, or a limit out of range: 400 naming it.
    const users = await client.call('GET', '/v1/users?limit=1', { token: p.ga.token });
    const foreign = await client.call('GET', `/v1/locations/${L1}/incentives-admins?cursor=${encodeURIComponent(users.body.nextCursor)}`, { token: p.ga.token });
    expect(foreign).toMatchObject({ status: 400, body: { errors: [expect.objectContaining({ field: 'cursor' })] } });
    expect((await client.call('GET', `/v1/locations/${L1}/incentives-admins?limit=0`, { token: p.ga.token })).status).toBe(400);
  });

  it('reactivates a user the directory lists as active again, and refuses roles for deactivated users', async () => {
    const p = await partner();
    const list = (active: boolean) => ({
      schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'],
      Resources: [{ externalId: `e-${p.partnerId}`, userName: `dir-${p.partnerId.toLowerCase()}@example.com`, active }],
    });
    // As a SCIM client sends it.
    const created = await client.call('POST', '/v1/users/import', { token: p.ga.token, body: list(true), headers: { 'content-type': 'application/scim+json' } });
    expect(created.status).toBe(200);
    const userId = created.body.results[0].userId;
    await client.settled('users', userId);
    expect((await client.call('POST', '/v1/users/import', { token: p.ga.token, body: list(false) })).body.results[0].outcome).toBe('deactivated');
    await client.settled('users', userId);
    const refused = await client.call('POST', `/v1/users/${userId}/roles`, { token: p.ga.token, body: { role: 'INCENTIVES_USER', locationIds: ['*'] } });
    expect(refused.status).toBe(409);
    const back = await client.call('POST', '/v1/users/import', { token: p.ga.token, body: list(true) });
    expect(back.body.results[0]).toMatchObject({ outcome: 'updated', reason: 'reactivated', userId });
    expect((await client.call('GET', `/v1/users/${userId}`, { token: p.ga.token })).body).toMatchObject({ active: true, revision: 3, roles: [] });
  });

  it('deactivates a known user the directory lists as inactive, also when the entry cannot be imported otherwise (a name too long, no email, an email taken)', async () => {
    const p = await partner();
    const taken = await client.createUser(p.ga.token, { email: `taken-${suffix()}@example.com` });
    const entries = ['long', 'mailless', 'moving'].map((tag) => ({ externalId: `e-${tag}-${p.partnerId}`, userName: `${tag}-${suffix()}@example.com` }));
    const list = (resources: unknown[]) => ({ schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'], Resources: resources });
    const created = await client.call('POST', '/v1/users/import', { token: p.ga.token, body: list(entries.map((e) => ({ ...e, active: true }))) });
    expect(created.body.summary).toMatchObject({ created: 3 });
    const ids = created.body.results.map((r: { userId: string }) => r.userId);
    for (const id of ids) await client.assign(p.ga.token, id, 'INCENTIVES_ADMIN', ['*']);

    const disabled = await client.call('POST', '/v1/users/import', {
      token: p.ga.token,
      body: list([
        { ...entries[0], active: false, displayName: 'x'.repeat(256) },
        { externalId: entries[1].externalId, userName: 'not an email', active: 'False' },
        { ...entries[2], userName: taken.email, active: false },
      ]),
    });
    expect(disabled.status).toBe(200);
    expect(disabled.body.summary).toMatchObject({ deactivated: 3, rejected: 0 });
    expect(disabled.body.results.map((r: { reason: string }) => r.reason)).toEqual([
      expect.stringMatching(/^deactivated as the directory says; .*displayName is longer than 200 characters/),
      expect.stringMatching(/no valid email address/),
      expect.stringMatching(/email is already used/),
    ]);
    for (const [i, id] of ids.entries()) {
      const user = (await client.call('GET', `/v1/users/${id}`, { token: p.ga.token })).body;
      expect(user).toMatchObject({ active: false, email: entries[i].userName }); // nothing else of the entry applied
    }
  });

  it('takes the first entry of an externalId also when a later one cannot be imported but says inactive: that one is rejected', async () => {
    const p = await partner();
    const list = (resources: unknown[]) => ({ schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'], Resources: resources });
    const externalId = `e-dup-${p.partnerId}`;
    const created = await client.call('POST', '/v1/users/import', { token: p.ga.token, body: list([{ externalId, userName: `old-${suffix()}@example.com` }]) });
    const userId = created.body.results[0].userId;
    const moved = `new-${suffix()}@example.com`;
    const imported = await client.call('POST', '/v1/users/import', {
      token: p.ga.token,
      body: list([{ externalId, userName: moved, active: true }, { externalId, userName: 'not an email', active: false }]),
    });
    expect(imported.body.results.map((r: { outcome: string }) => r.outcome)).toEqual(['updated', 'rejected']);
    expect(imported.body.results[1].reason).toBe('externalId appears more than once in this import');
    expect((await client.call('GET', `/v1/users/${userId}`, { token: p.ga.token })).body).toMatchObject({ active: true, email: moved });
  });

  it('keeps the display name of a user the directory sends no name for; names only a new user by its email', async () => {
    const p = await partner();
    const grace = await client.createUser(p.ga.token, { email: `grace-${suffix()}@example.com`, displayName: 'Grace Hopper' });
    const fresh = `fresh-${suffix()}@example.com`;
    const list = {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'],
      Resources: [
        { externalId: `e-${suffix()}`, userName: grace.email, emails: [{ value: grace.email, primary: true }] },
        { externalId: `e-${suffix()}`, userName: fresh },
      ],
    };
    const linked = await client.call('POST', '/v1/users/import', { token: p.ga.token, body: list });
    expect(linked.body.results.map((r: any) => [r.outcome, r.reason])).toEqual([
      ['updated', 'linked to the directory by email'],
      ['created', undefined],
    ]);
    expect((await client.call('GET', `/v1/users/${grace.userId}`, { token: p.ga.token })).body).toMatchObject({ displayName: 'Grace Hopper', revision: 2 });
    expect((await client.call('GET', `/v1/users/${linked.body.results[1].userId}`, { token: p.ga.token })).body).toMatchObject({ email: fresh, displayName: fresh });
    await client.settled('users', grace.userId);
    // The same export again: nothing to change (no rename to the email, no UserUpdated).
    const again = await client.call('POST', '/v1/users/import', { token: p.ga.token, body: list });
    expect(again.body.summary).toEqual({ created: 0, updated: 0, deactivated: 0, unchanged: 2, rejected: 0 });
    expect((await client.call('GET', `/v1/users/${grace.userId}`, { token: p.ga.token })).body).toMatchObject({ displayName: 'Grace Hopper', revision: 2 });
  });

  it('rejects the one entry whose name is no well-formed Unicode, imports the rest, and ignores what an attribute it does not read holds', async () => {
    const p = await partner();
    const good = `good-${suffix()}@example.com`;
    const list = {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'],
      Resources: [
        { externalId: `e-${suffix()}`, userName: good, displayName: 'Good Name', title: 'Cut mid-emoji \ud83d' },
        { externalId: `e-${suffix()}`, userName: `bad-${suffix()}@example.com`, displayName: 'Bad \ud83d' },
      ],
    };
    const imported = await client.call('POST', '/v1/users/import', { token: p.ga.token, body: list, headers: { 'content-type': 'application/scim+json' } });
    expect(imported.status).toBe(200);
    expect(imported.body.results.map((r: any) => [r.outcome, r.reason])).toEqual([
      ['created', undefined],
      ['rejected', 'externalId and the names must be well-formed Unicode text (a lone surrogate)'],
    ]);
    expect((await client.call('GET', `/v1/users/${imported.body.results[0].userId}`, { token: p.ga.token })).body).toMatchObject({ email: good, displayName: 'Good Name' });
    // Elsewhere in a body such text is refused whole (400), as on any other route.
    const created = await client.call('POST', '/v1/users', { token: p.ga.token, body: { email: `x-${suffix()}@example.com`, displayName: 'Bad \ud83d' } });
    expect(created.status).toBe(400);
    expect(created.body.errors).toEqual([{ field: 'displayName', message: 'must be well-formed Unicode text (it holds a lone surrogate)' }]);
  });

  it('clears a stored given or family name the directory sends empty', async () => {
    const p = await partner();
    const email = `ada-${suffix()}@example.com`;
    const entry = (name: Record<string, unknown>) => ({
      schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'],
      Resources: [{ externalId: `e-${p.partnerId}`, userName: email, displayName: 'Ada Lovelace', name }],
    });
    const created = await client.call('POST', '/v1/users/import', { token: p.ga.token, body: entry({ givenName: 'Ada', familyName: 'Lovelace' }) });
    const userId = created.body.results[0].userId;
    expect((await client.call('GET', `/v1/users/${userId}`, { token: p.ga.token })).body).toMatchObject({ givenName: 'Ada', familyName: 'Lovelace' });
    await client.settled('users', userId);
    const cleared = await client.call('POST', '/v1/users/import', { token: p.ga.token, body: entry({ givenName: '', familyName: 'Lovelace' }) });
    expect(cleared.body.results[0]).toMatchObject({ outcome: 'updated', reason: 'givenName', userId });
    const user = (await client.call('GET', `/v1/users/${userId}`, { token: p.ga.token })).body;
    expect(user).toMatchObject({ displayName: 'Ada Lovelace', familyName: 'Lovelace', revision: 2 });
    expect(user).not.toHaveProperty('givenName');
    await client.settled('users', userId);
    // Not sent at all: the stored family name stays.
    expect((await client.call('POST', '/v1/users/import', { token: p.ga.token, body: entry({}) })).body.results[0].outcome).toBe('unchanged');
  });
});
