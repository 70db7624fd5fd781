/**
 * Bad input: every refused request answers application/problem+json naming the offending field, and nothing
 * stored changes (the service's own database is read before and after, outbox aside since the relay drains it).
 */
import { Keyset } from '@lib/platform';
import { Db } from 'mongodb';
import { randomUUID } from 'node:crypto';
import { PartnersRepository } from '../src/partners/partners.repository';
import { BootedIdentity, bootIdentity, IdentityClient } from './identity.harness';

jest.setTimeout(60_000);

const LIST_RESPONSE = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
let booted: BootedIdentity;
let client: IdentityClient;
let db: Db;
let A: Awaited<ReturnType<IdentityClient['registerPartner']>>;
let B: Awaited<ReturnType<IdentityClient['registerPartner']>>;
let existing: { userId: string; email: string };
let ga: string;

beforeAll(async () => {
  booted = await bootIdentity();
  ({ client, db } = booted);
  const suffix = randomUUID().slice(0, 8);
  A = await client.registerPartner([`A1-${suffix}`]);
  B = await client.registerPartner([`B1-${suffix}`]);
  ga = A.globalAdmin.token;
  existing = await client.createUser(ga, { email: `Existing-Jos\u00e9-${suffix}@Example.com` });
});

afterAll(async () => {
  await booted?.close();
});

/** Everything identity stores, without the outbox entries the relay removes as it publishes. */
async function stored() {
  const all = async (name: string) =>
    (await db.collection(name).find({}, { projection: { outbox: 0 } }).sort({ _id: 1 }).toArray()).map((d) => JSON.stringify(d));
  return { users: await all('users'), partners: await all('partners'), claims: await all('location_claims') };
}

interface BadInput {
  name: string;
  method: string;
  path: () => string;
  token?: () => string;
  operator?: boolean;
  body?: () => unknown;
  raw?: string;
  headers?: Record<string, string>;
  status: number;
  /** The field the answer must name; undefined for malformed bodies (no field to name). */
  field?: string;
  type?: string;
}

/** Other lists' orders (a location list's, one field like the users'; a bank profile list's), for their cursors. */
const otherList = new Keyset<{ _id: string }>('locations', ['_id']);
const otherService = new Keyset<{ nameKey: string; _id: string }>('bank-profiles', ['nameKey', '_id']);

const scim = (resources: unknown[] = []) => ({ schemas: [LIST_RESPONSE], Resources: resources });
const location = (locationId: string) => ({ locationId, country: 'FR', legalName: 'X SARL' });
const register = (extra: Record<string, unknown> = {}) => ({
  partnerId: `P-${randomUUID()}`,
  name: 'New Partner',
  locations: [location(`N-${randomUUID().slice(0, 8)}`)],
  globalAdmin: { email: `ga-${randomUUID().slice(0, 8)}@example.com`, displayName: 'GA' },
  ...extra,
});

const cases: BadInput[] = [
  // users
  { name: 'create user: malformed JSON', method: 'POST', path: () => '/v1/users', token: () => ga, raw: '{"email": "a@b.c",', status: 400, type: 'malformed-body' },
  { name: 'create user: unknown field', method: 'POST', path: () => '/v1/users', token: () => ga, body: () => ({ email: 'n@example.com', displayName: 'N', admin: true }), status: 400, field: 'admin' },
  { name: 'create user: bad email', method: 'POST', path: () => '/v1/users', token: () => ga, body: () => ({ email: 'not-an-email', displayName: 'N' }), status: 400, field: 'email' },
  { name: 'create user: missing displayName', method: 'POST', path: () => '/v1/users', token: () => ga, body: () => ({ email: 'n@example.com' }), status: 400, field: 'displayName' },
  { name: 'create user: blank displayName', method: 'POST', path: () => '/v1/users', token: () => ga, body: () => ({ email: 'n@example.com', displayName: '   ' }), status: 400, field: 'displayName' },
  { name: 'create user: unknown company role', method: 'POST', path: () => '/v1/users', token: () => ga, body: () => ({ email: 'n@example.com', displayName: 'N', companyRole: 'INCENTIVES_ADMIN' }), status: 400, field: 'companyRole' },
  { name: 'create user: duplicate email (other case)', method: 'POST', path: () => '/v1/users', token: () => ga, body: () => ({ email: existing.email.toUpperCase(), displayName: 'Twin' }), status: 409, field: 'email' },
  { name: 'create user: duplicate email (decomposed: e and a combining accent)', method: 'POST', path: () => '/v1/users', token: () => ga, body: () => ({ email: existing.email.normalize('NFD'), displayName: 'Twin' }), status: 409, field: 'email' },
  { name: 'create user: email with a zero-width space', method: 'POST', path: () => '/v1/users', token: () => ga, body: () => ({ email: `\u200b${existing.email}`, displayName: 'Twin' }), status: 400, field: 'email' },
  { name: 'list users: bad limit', method: 'GET', path: () => '/v1/users?limit=0', token: () => ga, status: 400, field: 'limit' },
  { name: 'list users: forged cursor', method: 'GET', path: () => '/v1/users?cursor=%25%25', token: () => ga, status: 400, field: 'cursor' },
  // Valid base64url of a would-be email key ("m"): not a cursor this list gave.
  { name: 'list users: made-up cursor', method: 'GET', path: () => '/v1/users?cursor=bQ', token: () => ga, status: 400, field: 'cursor' },
  { name: "list users: another list's cursor of the same shape", method: 'GET', path: () => `/v1/users?cursor=${otherList.cursorOf({ _id: 'a@example.com' })}`, token: () => ga, status: 400, field: 'cursor' },
  { name: "list users: another list's cursor", method: 'GET', path: () => `/v1/users?cursor=${otherService.cursorOf({ nameKey: 'zed', _id: 'x' })}`, token: () => ga, status: 400, field: 'cursor' },
  { name: 'deactivate: bad If-Match', method: 'POST', path: () => `/v1/users/${existing.userId}/deactivate`, token: () => ga, headers: { 'if-match': 'yesterday' }, status: 400, field: 'If-Match' },
  // roles
  { name: 'assign: malformed JSON', method: 'POST', path: () => `/v1/users/${existing.userId}/roles`, token: () => ga, raw: '{role:', status: 400, type: 'malformed-body' },
  { name: 'assign: unknown field', method: 'POST', path: () => `/v1/users/${existing.userId}/roles`, token: () => ga, body: () => ({ role: 'INCENTIVES_ADMIN', locationIds: A.locationIds, until: '2030' }), status: 400, field: 'until' },
  { name: 'assign: unknown role', method: 'POST', path: () => `/v1/users/${existing.userId}/roles`, token: () => ga, body: () => ({ role: 'SUPER_ADMIN', locationIds: A.locationIds }), status: 400, field: 'role' },
  { name: 'assign: unknown location id', method: 'POST', path: () => `/v1/users/${existing.userId}/roles`, token: () => ga, body: () => ({ role: 'INCENTIVES_ADMIN', locationIds: [A.locationIds[0], 'NOPE-1'] }), status: 400, field: 'locationIds' },
  { name: "assign: another partner's location id", method: 'POST', path: () => `/v1/users/${existing.userId}/roles`, token: () => ga, body: () => ({ role: 'INCENTIVES_ADMIN', locationIds: B.locationIds }), status: 400, field: 'locationIds' },
  { name: 'assign: * with other locations', method: 'POST', path: () => `/v1/users/${existing.userId}/roles`, token: () => ga, body: () => ({ role: 'INCENTIVES_USER', locationIds: ['*', A.locationIds[0]] }), status: 400, field: 'locationIds' },
  { name: 'assign: empty location list', method: 'POST', path: () => `/v1/users/${existing.userId}/roles`, token: () => ga, body: () => ({ role: 'INCENTIVES_USER', locationIds: [] }), status: 400, field: 'locationIds' },
  { name: 'assign: company role on a location', method: 'POST', path: () => `/v1/users/${existing.userId}/roles`, token: () => ga, body: () => ({ role: 'ACCOUNT_ADMIN', locationIds: A.locationIds }), status: 400, field: 'locationIds' },
  { name: 'revoke: unknown location id', method: 'DELETE', path: () => `/v1/users/${existing.userId}/roles`, token: () => ga, body: () => ({ role: 'INCENTIVES_ADMIN', locationIds: ['NOPE-2'] }), status: 400, field: 'locationIds' },
  // import
  { name: 'import: malformed JSON', method: 'POST', path: () => '/v1/users/import', token: () => ga, raw: '[{"schemas"', status: 400, type: 'malformed-body' },
  // Over the 1 MB a body may have (a directory export of more users than that: split it).
  { name: 'import: a body over 1 MB', method: 'POST', path: () => '/v1/users/import', token: () => ga, raw: JSON.stringify({ schemas: [LIST_RESPONSE], Resources: [{ userName: 'x'.repeat(1_100_000) }] }), status: 413 },
  { name: 'import: not a ListResponse', method: 'POST', path: () => '/v1/users/import', token: () => ga, body: () => ({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], Resources: [{ externalId: 'x', userName: 'x@example.com' }] }), status: 400, field: 'schemas' },
  { name: 'import: unknown top-level field', method: 'POST', path: () => '/v1/users/import', token: () => ga, body: () => ({ ...scim([{ externalId: 'x', userName: 'x@example.com' }]), Operations: [] }), status: 400, field: 'Operations' },
  { name: 'import: Resources not a list', method: 'POST', path: () => '/v1/users/import', token: () => ga, body: () => ({ schemas: [LIST_RESPONSE], Resources: { externalId: 'x' } }), status: 400, field: 'Resources' },
  // partners and locations (operator)
  { name: 'register: bad country', method: 'POST', path: () => '/v1/partners', operator: true, body: () => register({ locations: [{ ...location('C-1'), country: 'XX' }] }), status: 400, field: 'locations.0.country' },
  { name: 'register: a list where a location belongs', method: 'POST', path: () => '/v1/partners', operator: true, body: () => register({ locations: [[]] }), status: 400, field: 'locations' },
  { name: 'register: unknown nested field', method: 'POST', path: () => '/v1/partners', operator: true, body: () => register({ locations: [{ ...location('C-2'), vat: 'x' }] }), status: 400, field: 'locations.0.vat' },
  { name: 'register: bad admin email', method: 'POST', path: () => '/v1/partners', operator: true, body: () => register({ globalAdmin: { email: 'nope', displayName: 'GA' } }), status: 400, field: 'globalAdmin.email' },
  { name: 'register: blank name', method: 'POST', path: () => '/v1/partners', operator: true, body: () => register({ name: ' \t ' }), status: 400, field: 'name' },
  { name: 'register: blank legal name', method: 'POST', path: () => '/v1/partners', operator: true, body: () => register({ locations: [{ ...location('E-1'), legalName: '  ' }] }), status: 400, field: 'locations.0.legalName' },
  { name: 'register: a list for the admin', method: 'POST', path: () => '/v1/partners', operator: true, body: () => register({ globalAdmin: [] }), status: 400, field: 'globalAdmin' },
  { name: 'register: blank admin name', method: 'POST', path: () => '/v1/partners', operator: true, body: () => register({ globalAdmin: { email: 'ga@example.com', displayName: ' ' } }), status: 400, field: 'globalAdmin.displayName' },
  { name: 'register: a location listed twice', method: 'POST', path: () => '/v1/partners', operator: true, body: () => register({ locations: [location('D-1'), location('D-2'), location('D-1')] }), status: 400, field: 'locations.2.locationId' },
  { name: "register: another partner's location id", method: 'POST', path: () => '/v1/partners', operator: true, body: () => register({ locations: [location(`F-${randomUUID().slice(0, 6)}`), location(B.locationIds[0])] }), status: 409, field: 'locations.1.locationId' },
  { name: 'register: partner id taken', method: 'POST', path: () => '/v1/partners', operator: true, body: () => register({ partnerId: A.partnerId }), status: 409, field: 'partnerId' },
  { name: 'register: malformed JSON', method: 'POST', path: () => '/v1/partners', operator: true, raw: 'name=x', headers: {}, status: 400, field: undefined, type: 'malformed-body' },
  { name: 'register: a form body, not JSON', method: 'POST', path: () => '/v1/partners', operator: true, raw: 'name=x', headers: { 'content-type': 'application/x-www-form-urlencoded' }, status: 415, type: 'unsupported-media-type' },
  // Nested objects would be replaced whole, not merged as RFC 7396 says: refused rather than half applied.
  { name: 'create user: a merge patch', method: 'POST', path: () => '/v1/users', token: () => ga, raw: '{"email": "m@example.com", "displayName": "M"}', headers: { 'content-type': 'application/merge-patch+json' }, status: 415, type: 'unsupported-media-type' },
  { name: 'create user: JSON sent as text/plain', method: 'POST', path: () => '/v1/users', token: () => ga, raw: '{"email": "t@example.com", "displayName": "T"}', headers: { 'content-type': 'text/plain' }, status: 415, type: 'unsupported-media-type' },
  { name: "add location: another partner's id", method: 'POST', path: () => `/v1/partners/${A.partnerId}/locations`, operator: true, body: () => location(B.locationIds[0]), status: 409, field: 'locationId' },
  { name: 'add location: bad country', method: 'POST', path: () => `/v1/partners/${A.partnerId}/locations`, operator: true, body: () => ({ ...location('G-1'), country: 'Germany' }), status: 400, field: 'country' },
  { name: 'add location: blank legal name', method: 'POST', path: () => `/v1/partners/${A.partnerId}/locations`, operator: true, body: () => ({ ...location('G-2'), legalName: '   ' }), status: 400, field: 'legalName' },
  { name: 'add location: existing id with other details', method: 'POST', path: () => `/v1/partners/${A.partnerId}/locations`, operator: true, body: () => ({ ...location(A.locationIds[0]), legalName: 'Renamed' }), status: 409, field: 'locationId' },
  // sign-in
  { name: 'sign-in: bad email', method: 'POST', path: () => '/v1/dev/sign-in', body: () => ({ email: 'nope' }), status: 400, field: 'email' },
];

describe('bad input', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    const before = await stored();
    const answer = await client.call(c.method, c.path(), {
      token: c.token?.(),
      operator: c.operator,
      body: c.body?.(),
      raw: c.raw,
      headers: c.headers,
    });
    expect({ status: answer.status, body: answer.body }).toMatchObject({ status: c.status });
    expect(answer.headers.get('content-type')).toContain('application/problem+json');
    expect(answer.body).toMatchObject({ status: c.status, title: expect.any(String), instance: expect.stringMatching(/^\/v1\//) });
    if (c.type) expect(answer.body.type).toMatch(new RegExp(`/${c.type}$`));
    if (c.field) expect(answer.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ field: c.field, message: expect.any(String) })]));
    expect(await stored()).toEqual(before);
  });

  it('says a JSON null body must be an object, not that it is not JSON', async () => {
    const answer = await client.call('POST', '/v1/users', { token: ga, raw: 'null' });
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ type: expect.stringMatching(/\/malformed-body$/), detail: 'The request body must be a JSON object, not null.' });
  });

  it.each([
    ['POST', () => '/v1/users', '[{"email":"array@example.com","displayName":"A"}]'],
    ['POST', () => `/v1/users/${existing.userId}/roles`, '[]'],
  ])('says a JSON array body (%s %s) must be an object, naming no field it never sent', async (method, path, raw) => {
    const answer = await client.call(method, path(), { token: ga, raw });
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ type: expect.stringMatching(/\/malformed-body$/), detail: 'The request body must be a JSON object, not an array.' });
    expect(JSON.stringify(answer.body)).not.toContain('constructor');
  });

  it('says a blank name must not be blank', async () => {
    const answer = await client.call('POST', '/v1/users', { token: ga, body: { email: 'blank@example.com', displayName: '   ' } });
    expect(answer.body.errors).toEqual([{ field: 'displayName', message: 'displayName must not be blank' }]);
  });

  it('gives back the location ids a registration claimed when the registration fails after claiming them', async () => {
    const locationId = `R-${randomUUID().slice(0, 8)}`;
    const body = () => ({ name: 'Fabrikam', locations: [location(locationId)], globalAdmin: { email: `ga-${randomUUID().slice(0, 8)}@example.com`, displayName: 'GA' } });
    const partners = booted.service.app.get(PartnersRepository);
    const spy = jest.spyOn(partners, 'register').mockRejectedValueOnce(new Error('the database went away'));
    try {
      // No partnerId: the failed attempt's generated id is never seen again, so a claim left under it would be lost.
      expect((await client.call('POST', '/v1/partners', { operator: true, body: body() })).status).toBe(500);
    } finally {
      spy.mockRestore();
    }
    expect(await db.collection('location_claims').findOne({ _id: locationId as never })).toBeNull();
    expect((await client.call('POST', '/v1/partners', { operator: true, body: body() })).status).toBe(201);
  });

  it("checks a role's locations are the partner's without reading its list of locations (only to name the unknown ones)", async () => {
    // A user of its own: the other tests expect `existing` unchanged.
    const target = await client.createUser(ga, { email: `roles-${randomUUID().slice(0, 8)}@example.com` });
    const partners = booted.service.app.get(PartnersRepository);
    const reads = jest.spyOn(partners, 'find');
    try {
      const known = await client.call('POST', `/v1/users/${target.userId}/roles`, { token: ga, body: { role: 'INCENTIVES_USER', locationIds: [A.locationIds[0]] } });
      expect(known.status).toBe(200);
      expect(reads.mock.calls.filter(([partnerId]) => partnerId === A.partnerId)).toEqual([]);
      const unknown = await client.call('POST', `/v1/users/${target.userId}/roles`, { token: ga, body: { role: 'INCENTIVES_USER', locationIds: [A.locationIds[0], 'NOPE-4'] } });
      expect(unknown.status).toBe(400);
      expect(unknown.body.errors).toEqual([expect.objectContaining({ field: 'locationIds', message: expect.stringContaining('NOPE-4') })]);
      expect(unknown.body.errors[0].message).not.toContain(A.locationIds[0]);
    } finally {
      reads.mockRestore();
    }
  });

  it("answers another partner's location exactly like an unknown one", async () => {
    const ask = (locationIds: string[]) =>
      client.call('POST', `/v1/users/${existing.userId}/roles`, { token: ga, body: { role: 'INCENTIVES_ADMIN', locationIds } });
    const [foreign, unknown] = [await ask(B.locationIds), await ask(['NOPE-3'])];
    const shape = (body: any) => ({ ...body, instance: undefined, errors: body.errors.map((e: any) => ({ ...e, message: e.message.replace(/: .*$/, '') })) });
    expect(foreign.status).toBe(unknown.status);
    expect(shape(foreign.body)).toEqual(shape(unknown.body));
  });

  it('refuses deactivation without If-Match (428) and with a stale one (412), changing nothing', async () => {
    const before = await stored();
    const missing = await client.call('POST', `/v1/users/${existing.userId}/deactivate`, { token: ga });
    expect(missing.status).toBe(428);
    const stale = await client.call('POST', `/v1/users/${existing.userId}/deactivate`, { token: ga, headers: { 'if-match': '"7"' } });
    expect(stale).toMatchObject({ status: 412, body: { currentVersion: 1 } });
    expect(await stored()).toEqual(before);
  });

  // SPEC §4 "Unknown fields are rejected": deactivation takes no body, so any field sent is unknown.
  it('refuses a field sent to deactivate (which takes no body): 400 naming it, the user still active', async () => {
    const user = await client.createUser(ga, { email: `nobody-${randomUUID().slice(0, 8)}@example.com` });
    const path = `/v1/users/${user.userId}/deactivate`;
    const before = await stored();
    const answer = await client.call('POST', path, { token: ga, headers: { 'if-match': '"1"' }, body: { reason: 'left the company' } });
    expect(answer.status).toBe(400);
    expect(answer.headers.get('content-type')).toContain('application/problem+json');
    expect(answer.body).toMatchObject({ status: 400, type: expect.stringMatching(/\/validation-error$/), instance: path });
    expect(answer.body.errors).toEqual([{ field: 'reason', message: 'property reason should not exist' }]);
    expect(await stored()).toEqual(before);
    expect((await client.call('GET', `/v1/users/${user.userId}`, { token: ga })).body).toMatchObject({ active: true });
    // An empty JSON object is no field: still a deactivation.
    expect((await client.call('POST', path, { token: ga, headers: { 'if-match': '"1"' }, body: {} })).body).toMatchObject({ active: false });
  });

  // The same for the query of a handler that takes none (no @Query() DTO for the validation pipe to check it against).
  it('refuses a query parameter sent to deactivate or to read a user (which take none): 400 naming it, nothing changed', async () => {
    const user = await client.createUser(ga, { email: `noquery-${randomUUID().slice(0, 8)}@example.com` });
    const before = await stored();
    const deactivate = await client.call('POST', `/v1/users/${user.userId}/deactivate?reason=left`, { token: ga, headers: { 'if-match': '"1"' } });
    expect(deactivate.status).toBe(400);
    expect(deactivate.headers.get('content-type')).toContain('application/problem+json');
    expect(deactivate.body.errors).toEqual([{ field: 'reason', message: 'property reason should not exist' }]);
    const read = await client.call('GET', `/v1/users/${user.userId}?fields=all`, { token: ga });
    expect(read).toMatchObject({ status: 400, body: { errors: [{ field: 'fields', message: 'property fields should not exist' }] } });
    expect(await stored()).toEqual(before);
    // Without a token the answer stays 401: authentication comes first.
    expect((await client.call('GET', `/v1/users/${user.userId}?fields=all`, {})).status).toBe(401);
  });

  it('deactivates with no body at all (no Content-Type), and documents no required body', async () => {
    const user = await client.createUser(ga, { email: `nobody-${randomUUID().slice(0, 8)}@example.com` });
    const answer = await client.call('POST', `/v1/users/${user.userId}/deactivate`, { token: ga, headers: { 'if-match': '"1"' } });
    expect(answer).toMatchObject({ status: 200, body: { active: false } });
    const docs = await client.call('GET', '/docs-json');
    expect(docs.body.paths['/v1/users/{userId}/deactivate'].post.requestBody?.required ?? false).toBe(false);
  });

  it('takes an optional If-Match on role changes: a stale one answers 412 and changes nothing, the current one applies', async () => {
    const user = await client.createUser(ga, { email: `roles-${randomUUID().slice(0, 8)}@example.com` });
    const path = `/v1/users/${user.userId}/roles`;
    const grant = { role: 'INCENTIVES_ADMIN', locationIds: A.locationIds };
    const first = await client.call('POST', path, { token: ga, body: grant, headers: { 'if-match': '"1"' } });
    expect(first.status).toBe(200);
    const etag = first.headers.get('etag')!;
    expect(etag).toBe('"2"');

    const before = await stored();
    for (const [method, target] of [['POST', path], ['DELETE', path], ['POST', `${path}/revoke`]] as const) {
      const stale = await client.call(method, target, { token: ga, body: { role: 'INCENTIVES_USER', locationIds: A.locationIds }, headers: { 'if-match': '"1"' } });
      expect(stale).toMatchObject({ status: 412, body: { currentVersion: 2 } });
    }
    expect(await stored()).toEqual(before);

    const revoked = await client.call('DELETE', path, { token: ga, body: grant, headers: { 'if-match': etag } });
    expect(revoked.status).toBe(200);
    expect(revoked.headers.get('etag')).toBe('"3"');
    // Without If-Match a role change merges into whatever the user holds now, as before.
    expect((await client.call('POST', path, { token: ga, body: grant })).status).toBe(200);
  });

  it('reports bad directory entries one by one and imports the good ones', async () => {
    const good = `good-${randomUUID().slice(0, 8)}@example.com`;
    const answer = await client.call('POST', '/v1/users/import', {
      token: ga,
      body: scim([
        { externalId: `x-${randomUUID()}`, userName: good, displayName: 'Good' },
        { userName: 'noid@example.com' },
        { externalId: `y-${randomUUID()}`, userName: 'not an email' },
        { externalId: `z-${randomUUID()}`, userName: existing.email.toUpperCase() },
        // Entries that are no User object: each rejected, as the others are.
        null,
        'someone@example.com',
      ]),
    });
    expect(answer.status).toBe(200);
    expect(answer.body.summary).toEqual({ created: 1, updated: 1, deactivated: 0, unchanged: 0, rejected: 4 });
    expect(answer.body.results.map((r: any) => [r.index, r.outcome, r.reason])).toEqual([
      [0, 'created', undefined],
      [1, 'rejected', 'externalId is required'],
      [2, 'rejected', 'no valid email address (emails[].value or userName)'],
      // The user created by hand with that email is linked to the directory entry.
      [3, 'updated', expect.stringContaining('linked to the directory by email')],
      [4, 'rejected', 'resource is not a SCIM User object'],
      [5, 'rejected', 'resource is not a SCIM User object'],
    ]);
  });

  it('answers an export with no users (an empty ListResponse, as SCIM sends for an empty group or past the last page) with nothing done', async () => {
    // With Resources empty, or left out (RFC 7644 3.4.2 requires it only when totalResults is not zero).
    for (const body of [{ schemas: [LIST_RESPONSE], totalResults: 0, Resources: [] }, { schemas: [LIST_RESPONSE], totalResults: 0 }]) {
      const answer = await client.call('POST', '/v1/users/import', { token: ga, body });
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual({ summary: { created: 0, updated: 0, deactivated: 0, unchanged: 0, rejected: 0 }, results: [] });
    }
    // Resources that is no list, null, or left out of a list saying it has users (a truncated export) is refused.
    for (const body of [{ schemas: [LIST_RESPONSE], Resources: {} }, { schemas: [LIST_RESPONSE], Resources: null }, { schemas: [LIST_RESPONSE], totalResults: 500 }]) {
      const bad = await client.call('POST', '/v1/users/import', { token: ga, body });
      expect(bad).toMatchObject({ status: 400, body: { errors: [expect.objectContaining({ field: 'Resources' })] } });
    }
  });
});
