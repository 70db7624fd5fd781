/**
 * Authorization matrix over the real HTTP app: every endpoint, for every kind of caller, answers the documented
 * status. Roles reach the service only as identity events on the broker.
 */
import { Topics } from '@lib/contracts';
import { eventually } from '@lib/testing';
import { randomUUID } from 'node:crypto';
import { RecordedValidationDto } from '../src/operator/dto/operator.dto';
import { addUser, call, CallerName, createWorld, Harness, ibanProfile, ifMatch, operator, publishProgram, startHarness, usProfile, usTaxProfile, World } from './support';

jest.setTimeout(120_000);

type Caller = CallerName | 'noToken' | 'expiredToken' | 'foreignKeyToken';
const CALLERS: Caller[] = [
  'adminOfLocation',
  'adminOfOtherLocation',
  'incentivesUser',
  'companyAdmin',
  'plainUser',
  'otherPartnerAdmin',
  'noToken',
  'expiredToken',
  'foreignKeyToken',
];

/** The back office's own credential (VALIDATOR_TOKEN), not the operator token. */
const VALIDATOR_TOKEN = 'back-office-validator-credential';

let h: Harness;
let w: World;
let bankProfileId: string;
/** A bank profile of the partner that is no location's default. */
let spareProfileId: string;
let programId: string;

beforeAll(async () => {
  h = await startHarness('authorization', { VALIDATOR_TOKEN });
  w = await createWorld(h);
  const admin = await w.token('adminOfLocation');
  const created = await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: usProfile() });
  expect(created.status).toBe(201);
  bankProfileId = created.body.profileId;
  spareProfileId = (await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: ibanProfile() })).body.profileId;
  expect((await call(h, 'POST', `/v1/locations/${w.L1}/tax-profile`, { token: admin, body: usTaxProfile() })).status).toBe(201);
  expect((await call(h, 'PUT', `/v1/locations/${w.L1}/default-bank-profile`, { token: admin, body: { bankProfileId, currency: 'USD' } })).status).toBe(201);
  programId = (await publishProgram(h, { allowedCurrencies: ['USD'], allowedPaymentMethods: ['ELECTRONIC_BANK_TRANSFER'], taxProfileRequired: true })).programId;
}, 180_000);

afterAll(() => h?.close());

async function tokenOf(caller: Caller): Promise<string | undefined> {
  switch (caller) {
    case 'noToken':
      return undefined;
    case 'expiredToken':
      return h.issuer.token({ sub: w.users.adminOfLocation.userId, partnerId: w.partnerId, expiresInSeconds: -120 });
    case 'foreignKeyToken':
      return h.issuer.token({ sub: w.users.adminOfLocation.userId, partnerId: w.partnerId, foreignKey: true });
    default:
      return w.token(caller);
  }
}

/** The current ETag of a resource, read by the location's admin. */
async function etag(path: string): Promise<string> {
  const answer = await call(h, 'GET', path, { token: await w.token('adminOfLocation') });
  expect(answer.status).toBe(200);
  return answer.headers.get('etag')!;
}

interface Endpoint {
  name: string;
  request(): Promise<{ method: string; path: string; body?: unknown; headers?: Record<string, string> }>;
  expect: Record<Caller, number>;
  /** Checks on a successful answer, e.g. that another partner's own list holds nothing of ours. */
  verify?(caller: Caller, body: any): void;
}

const UNAUTHENTICATED = { noToken: 401, expiredToken: 401, foreignKeyToken: 401 } as const;
/** Editing a location's data: its admin only; another partner's location is not found. */
const LOCATION_ADMIN = {
  adminOfLocation: 200,
  adminOfOtherLocation: 403,
  incentivesUser: 403,
  companyAdmin: 403,
  plainUser: 403,
  otherPartnerAdmin: 404,
  ...UNAUTHENTICATED,
};
/** The same, for locations named in the body: another partner's is a 400 naming `locationIds`, as an unknown one. */
const BODY_LOCATIONS_ADMIN = { ...LOCATION_ADMIN, otherPartnerAdmin: 400 };
/** Reading a location's data: anyone with an incentives role there, or a company admin. */
const LOCATION_READER = { ...LOCATION_ADMIN, incentivesUser: 200, companyAdmin: 200 };
/** Lists of the caller's own partner: everyone with a payout-related role. */
const PARTNER_LIST = {
  adminOfLocation: 200,
  adminOfOtherLocation: 200,
  incentivesUser: 200,
  companyAdmin: 200,
  plainUser: 403,
  otherPartnerAdmin: 200,
  ...UNAUTHENTICATED,
};
const notOurs = (caller: Caller, items: Array<{ partnerId: string }>) => {
  if (caller === 'otherPartnerAdmin') expect(items.filter((i) => i.partnerId === w.partnerId)).toEqual([]);
  else expect(items.length).toBeGreaterThan(0);
};

const ENDPOINTS: Endpoint[] = [
  {
    name: 'POST /v1/bank-profiles',
    request: async () => ({ method: 'POST', path: '/v1/bank-profiles', body: ibanProfile() }),
    // Any Incentives admin creates in their own partner; another partner's admin creates in theirs.
    expect: { ...PARTNER_LIST, adminOfLocation: 201, adminOfOtherLocation: 201, otherPartnerAdmin: 201, incentivesUser: 403, companyAdmin: 403 },
    verify: (caller, body) => expect(body.partnerId).toBe(caller === 'otherPartnerAdmin' ? w.otherPartnerId : w.partnerId),
  },
  {
    name: 'GET /v1/bank-profiles',
    request: async () => ({ method: 'GET', path: '/v1/bank-profiles' }),
    expect: PARTNER_LIST,
    verify: (caller, body) => notOurs(caller, body.items),
  },
  {
    // It serves L1 and L3 (adminOfLocation's, by default): the admin of L2 alone holds no role on them.
    name: 'GET /v1/bank-profiles/:id',
    request: async () => ({ method: 'GET', path: `/v1/bank-profiles/${bankProfileId}` }),
    expect: { ...PARTNER_LIST, adminOfOtherLocation: 403, otherPartnerAdmin: 404 },
    verify: (_, body) => expect(body.account.maskedAccount).toBe('****6789'),
  },
  {
    // L1's default: it is L1's bank profile too, so only an Incentives admin of L1 edits it.
    name: 'PATCH /v1/bank-profiles/:id (a default of L1)',
    request: async () => ({
      method: 'PATCH',
      path: `/v1/bank-profiles/${bankProfileId}`,
      body: { name: `renamed ${randomUUID()}` },
      headers: { 'if-match': await etag(`/v1/bank-profiles/${bankProfileId}`) },
    }),
    expect: LOCATION_ADMIN,
  },
  {
    // No location's default, but it serves L1 and L3 (its creator's locations): only an Incentives admin of both edits it.
    name: 'PATCH /v1/bank-profiles/:id (no location default)',
    request: async () => ({
      method: 'PATCH',
      path: `/v1/bank-profiles/${spareProfileId}`,
      body: { name: `renamed ${randomUUID()}` },
      headers: { 'if-match': await etag(`/v1/bank-profiles/${spareProfileId}`) },
    }),
    expect: LOCATION_ADMIN,
  },
  {
    name: 'POST /v1/locations/:id/tax-profile',
    // L3 has no tax profile: only its admin creates one (once; every other caller is refused).
    request: async () => ({ method: 'POST', path: `/v1/locations/${w.L3}/tax-profile`, body: usTaxProfile() }),
    expect: { ...LOCATION_ADMIN, adminOfLocation: 201 },
  },
  {
    name: 'GET /v1/locations/:id/tax-profile',
    request: async () => ({ method: 'GET', path: `/v1/locations/${w.L1}/tax-profile` }),
    expect: LOCATION_READER,
    verify: (_, body) => expect(body.maskedTaxId).toBe('****6789'),
  },
  {
    name: 'PATCH /v1/locations/:id/tax-profile',
    request: async () => ({
      method: 'PATCH',
      path: `/v1/locations/${w.L1}/tax-profile`,
      body: { businessProfile: { legalName: `Contoso ${randomUUID()}`, address: { line1: '1 Way', city: 'Redmond', country: 'US' } } },
      headers: { 'if-match': await etag(`/v1/locations/${w.L1}/tax-profile`) },
    }),
    expect: LOCATION_ADMIN,
  },
  {
    name: 'GET /v1/tax-profiles',
    request: async () => ({ method: 'GET', path: '/v1/tax-profiles' }),
    expect: PARTNER_LIST,
    verify: (caller, body) => {
      if (caller === 'adminOfOtherLocation') expect(body.items).toEqual([]); // L2 has none; L1's is not theirs to see
      else if (caller === 'otherPartnerAdmin') expect(body.items).toEqual([]);
      else expect(body.items.map((i: { locationId: string }) => i.locationId)).toContain(w.L1);
    },
  },
  {
    name: 'PUT /v1/locations/:id/default-bank-profile',
    request: async () => ({ method: 'PUT', path: `/v1/locations/${w.L1}/default-bank-profile`, body: { bankProfileId, currency: 'USD' } }),
    expect: LOCATION_ADMIN,
  },
  {
    name: 'GET /v1/locations/:id/default-bank-profile',
    request: async () => ({ method: 'GET', path: `/v1/locations/${w.L1}/default-bank-profile` }),
    expect: LOCATION_READER,
    verify: (_, body) => expect(body).toMatchObject({ bankProfileId, currency: 'USD' }),
  },
  {
    name: 'POST /v1/default-bank-profiles',
    request: async () => ({ method: 'POST', path: '/v1/default-bank-profiles', body: { bankProfileId, currency: 'USD', locationIds: [w.L1, w.L3] } }),
    expect: BODY_LOCATIONS_ADMIN,
  },
  {
    name: 'GET /v1/default-bank-profiles',
    request: async () => ({ method: 'GET', path: '/v1/default-bank-profiles' }),
    expect: PARTNER_LIST,
    verify: (caller, body) => {
      const locations = body.items.map((i: { locationId: string }) => i.locationId);
      if (caller === 'adminOfOtherLocation' || caller === 'otherPartnerAdmin') expect(locations).not.toContain(w.L1);
      else expect(locations).toContain(w.L1);
    },
  },
  {
    name: 'GET /v1/readiness',
    request: async () => ({ method: 'GET', path: `/v1/readiness?programId=${programId}&locationId=${w.L1}` }),
    expect: LOCATION_READER,
    verify: (_, body) => expect(body).toMatchObject({ bankProfileId, ready: false }),
  },
  {
    // Last: it frees L1 (the endpoints above read its default).
    name: 'DELETE /v1/locations/:id/default-bank-profile',
    request: async () => ({ method: 'DELETE', path: `/v1/locations/${w.L1}/default-bank-profile` }),
    expect: { ...LOCATION_ADMIN, adminOfLocation: 204 },
  },
];

describe.each(ENDPOINTS.map((e) => [e.name, e] as const))('%s', (_, endpoint) => {
  it.each(CALLERS.map((c) => [c, endpoint.expect[c]] as const))('%s -> %d', async (caller, status) => {
    const { method, path, body, headers } = await endpoint.request();
    const answer = await call(h, method, path, { token: await tokenOf(caller), body, headers });
    expect(`${answer.status} ${JSON.stringify(answer.body ?? null)}`).toMatch(new RegExp(`^${status} `));
    if (status >= 400) {
      expect(answer.headers.get('content-type')).toMatch(/application\/problem\+json/);
      expect(answer.body.status).toBe(status);
    } else {
      endpoint.verify?.(caller, answer.body);
    }
  });
});

describe('operator endpoints: the operator credential only; the back office credential only where it reads details and decides', () => {
  // `validator`: what the back office credential (X-Validator-Key) gets.
  const requests = () => [
    { method: 'GET', path: `/v1/operator/profiles/${bankProfileId}`, ok: 200, validator: 200 },
    { method: 'POST', path: `/v1/operator/profiles/${bankProfileId}/validation`, body: { revision: 1, outcome: 'APPROVED', reasons: [] }, ok: 200, validator: 200 },
    // Known, but not accepted there: 403 (a wrong or missing credential is 401).
    { method: 'POST', path: '/v1/operator/tax-expiry-scan', ok: 200, validator: 403 },
    { method: 'POST', path: '/v1/operator/secrets/reseal', ok: 200, validator: 403 },
  ];
  it.each([
    ['operator key', operator, undefined, 'ok'],
    ['validator key', { 'x-validator-key': VALIDATOR_TOKEN }, undefined, 'validator'],
    ['wrong validator key', { 'x-validator-key': `${VALIDATOR_TOKEN}-not` }, undefined, 401],
    ['operator key sent as the validator key', { 'x-validator-key': operator['x-operator-key'] }, undefined, 401],
    ['wrong operator key', { 'x-operator-key': 'not-the-key' }, undefined, 401],
    ['Incentives admin token', {}, 'adminOfLocation', 401],
    ['company admin token', {}, 'companyAdmin', 401],
    ['nothing', {}, undefined, 401],
  ] as const)('%s', async (_, headers, caller, expected) => {
    for (const request of requests()) {
      const token = caller ? await w.token(caller) : undefined;
      const answer = await call(h, request.method, request.path, { token, body: request.body, headers });
      expect(`${request.method} ${request.path} ${answer.status}`).toBe(
        `${request.method} ${request.path} ${expected === 'ok' ? request.ok : expected === 'validator' ? request.validator : expected}`,
      );
    }
  });
});

describe('a decision sent with the back office credential is the back office\'s', () => {
  it('is recorded as BACK_OFFICE: one contradicting a decided revision is kept in the history (200), where the operator gets 409', async () => {
    const created = await call(h, 'POST', '/v1/bank-profiles', { token: await w.token('adminOfLocation'), body: usProfile() });
    const id = created.body.profileId as string;
    const decide = (headers: Record<string, string>, outcome: string) =>
      call(h, 'POST', `/v1/operator/profiles/${id}/validation`, { headers, body: { revision: 1, outcome, reasons: outcome === 'APPROVED' ? [] : ['Account closed'] } });
    expect((await decide(operator, 'APPROVED')).body).toMatchObject({ effect: 'APPLIED', status: 'APPROVED' });

    const backOffice = await decide({ 'x-validator-key': VALIDATOR_TOKEN }, 'ACTION_REQUIRED');
    expect(backOffice.status).toBe(200);
    expect(backOffice.body).toMatchObject({ effect: 'ALREADY_DECIDED', status: 'APPROVED' });
    // The same outcome with another note: confirmed (the very same decision again would be a DUPLICATE).
    const confirmed = await call(h, 'POST', `/v1/operator/profiles/${id}/validation`, { headers: { 'x-validator-key': VALIDATOR_TOKEN }, body: { revision: 1, outcome: 'APPROVED', reasons: ['Checked again'] } });
    expect(confirmed.body).toMatchObject({ effect: 'CONFIRMED', status: 'APPROVED' });
    // The OpenAPI document lists what the back office is answered (a client generated from it takes each).
    const documented = (Reflect.getMetadata('swagger/apiModelProperties', RecordedValidationDto.prototype, 'effect') as { enum: string[] }).enum;
    expect(documented).toEqual(expect.arrayContaining(['APPLIED', 'OUTDATED', 'DUPLICATE', backOffice.body.effect, confirmed.body.effect]));
    expect((await decide(operator, 'ACTION_REQUIRED')).status).toBe(409);
    const stored = await h.db.collection<{ _id: string; validationHistory: Array<{ source: string; effect: string }> }>('bank_profiles').findOne({ _id: id });
    expect(stored!.validationHistory.map((r) => `${r.source} ${r.effect}`)).toEqual(['OPERATOR APPLIED', 'BACK_OFFICE ALREADY_DECIDED', 'BACK_OFFICE CONFIRMED']);
  });
});

describe('unknown caller and unknown resources', () => {
  it('a signed-in user the identity events never mentioned gets 403', async () => {
    const token = await h.issuer.token({ sub: `stranger-${randomUUID()}`, partnerId: w.partnerId });
    expect((await call(h, 'GET', '/v1/bank-profiles', { token })).status).toBe(403);
  });

  it('a user deactivated after a create gets 403 on a retry with the same Idempotency-Key, not the stored 201 (the token is still valid)', async () => {
    const admin = await addUser(h, w.partnerId, 'deactivated-admin', [['INCENTIVES_ADMIN', ['*']]]);
    const token = await admin.token();
    const body = usProfile();
    const headers = { 'idempotency-key': randomUUID() };
    expect((await call(h, 'POST', '/v1/bank-profiles', { token, body, headers })).status).toBe(201);
    const user = {
      userId: admin.userId,
      partnerId: w.partnerId,
      email: `${admin.userId}@example.com`,
      displayName: admin.userId,
      active: false,
      roles: [{ role: 'INCENTIVES_ADMIN' as const, locationIds: ['*'] }],
      revision: 3,
    };
    await h.kafka.publishEvent(Topics.identity, w.partnerId, { type: 'UserDeactivated', partnerId: w.partnerId, data: { user } });
    await eventually(async () => {
      expect(await h.db.collection('access_users').findOne({ _id: admin.userId as never })).toMatchObject({ active: false, revision: 3 });
    }, 60_000);

    const retry = await call(h, 'POST', '/v1/bank-profiles', { token, body, headers });
    expect(retry.status).toBe(403);
    expect(retry.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(retry.body.detail).toMatch(/deactivated/);
    expect(retry.headers.get('idempotent-replayed')).toBeNull();
    expect(await h.db.collection('bank_profiles').countDocuments({ partnerId: w.partnerId, name: body.name })).toBe(1);
  });

  it('a location of no partner answers 404, a missing bank profile 404', async () => {
    const token = await w.token('adminOfLocation');
    expect((await call(h, 'GET', `/v1/locations/nowhere-${randomUUID()}/tax-profile`, { token })).status).toBe(404);
    expect((await call(h, 'GET', `/v1/bank-profiles/${randomUUID()}`, { token })).status).toBe(404);
    expect((await call(h, 'PATCH', `/v1/bank-profiles/${randomUUID()}`, { token, body: { name: 'x' }, headers: ifMatch(1) })).status).toBe(404);
  });
});

describe('a bank profile that is a default belongs to its locations too', () => {
  it("an Incentives admin of another location cannot change L1's default (its account, say): 403, naming L1 only to one who may read the profile; nothing changes", async () => {
    // The matrix above freed L1 last: make the profile its default again.
    const put = await call(h, 'PUT', `/v1/locations/${w.L1}/default-bank-profile`, { token: await w.token('adminOfLocation'), body: { bankProfileId, currency: 'USD' } });
    expect(put.status).toBe(201);
    const before = await h.db.collection('bank_profiles').findOne({ _id: bankProfileId as never }, { projection: { outbox: 0 } });
    const answer = await call(h, 'PATCH', `/v1/bank-profiles/${bankProfileId}`, {
      token: await w.token('adminOfOtherLocation'),
      body: { account: { accountNumber: '000999888777', routingNumber: '021000021' } },
      headers: { 'if-match': await etag(`/v1/bank-profiles/${bankProfileId}`) },
    });
    expect(answer.status).toBe(403);
    // It serves none of their locations: they learn what its GET tells them, nothing of L1.
    expect(answer.body.detail).toBe(`Bank profile ${bankProfileId} serves none of the locations you hold an incentives role on.`);
    expect(await h.db.collection('bank_profiles').findOne({ _id: bankProfileId as never }, { projection: { outbox: 0 } })).toEqual(before);

    // Once it also serves their location L2 (they may read it), the 403 says it is another location's default, counted,
    // not named: L1 is a location they hold no role on.
    await h.db.collection('bank_profiles').updateOne({ _id: bankProfileId as never }, { $set: { locationIds: [w.L1, w.L2].sort() } });
    const readable = await call(h, 'PATCH', `/v1/bank-profiles/${bankProfileId}`, {
      token: await w.token('adminOfOtherLocation'),
      body: { account: { accountNumber: '000999888777', routingNumber: '021000021' } },
      headers: { 'if-match': await etag(`/v1/bank-profiles/${bankProfileId}`) },
    });
    expect(readable.status).toBe(403);
    expect(readable.body.detail).toMatch(/default bank profile of \d location\(s\) you hold no role on: only/);
    expect(readable.body.detail).toMatch(/you are not Incentives admin of \d location\(s\) you hold no role on\.$/);
    expect(readable.body.detail).not.toContain(w.L1);
  });
});

describe('making a bank profile a default: a caller who may not read it learns nothing of it', () => {
  /** What a problem says, for comparing with the GET's (its instance aside). */
  const said = (answer: { status: number; body: any }) => ({ status: answer.status, type: answer.body.type, title: answer.body.title, detail: answer.body.detail });
  const assignments = (profileId: string, locationIds: string[], currency: string) =>
    locationIds.length === 1
      ? [
          { method: 'PUT', path: `/v1/locations/${locationIds[0]}/default-bank-profile`, body: { bankProfileId: profileId, currency } },
          { method: 'POST', path: '/v1/default-bank-profiles', body: { bankProfileId: profileId, currency, locationIds } },
        ]
      : [{ method: 'POST', path: '/v1/default-bank-profiles', body: { bankProfileId: profileId, currency, locationIds } }];

  it("the admin of L2 (or of L2 and L3) gets the GET's 403 for an EUR profile serving L1 only, whatever the currency: no EUR, no L1", async () => {
    const ofL1 = await call(h, 'POST', '/v1/bank-profiles', { token: await w.token('adminOfLocation'), body: ibanProfile({ locationIds: [w.L1] }) });
    expect(ofL1.status).toBe(201);
    const profileId = ofL1.body.profileId as string;
    const adminOfL2L3 = await addUser(h, w.partnerId, 'admin-of-l2-l3', [['INCENTIVES_ADMIN', [w.L2, w.L3]]]);
    for (const [token, locationIds] of [
      [await w.token('adminOfOtherLocation'), [w.L2]],
      [await adminOfL2L3.token(), [w.L2, w.L3]],
    ] as Array<[string, string[]]>) {
      const read = await call(h, 'GET', `/v1/bank-profiles/${profileId}`, { token });
      expect(read.status).toBe(403);
      for (const currency of ['USD', 'EUR']) {
        for (const request of assignments(profileId, locationIds, currency)) {
          const answer = await call(h, request.method, request.path, { token, body: request.body });
          const text = `${request.method} ${request.path} (${currency}): ${answer.status} ${JSON.stringify(answer.body)}`;
          expect({ text, ...said(answer) }).toEqual({ text, ...said(read) });
          expect(answer.headers.get('content-type')).toMatch(/application\/problem\+json/);
          expect(JSON.stringify(answer.body)).not.toContain('EUR');
          expect(JSON.stringify(answer.body)).not.toContain(w.L1);
        }
      }
    }
    for (const locationId of [w.L2, w.L3]) {
      expect((await h.db.collection('default_bank_profiles').findOne({ _id: locationId as never }))?.bankProfileId ?? null).not.toBe(profileId);
    }
    expect((await h.db.collection('bank_profiles').findOne({ _id: profileId as never }))!.defaultFor ?? []).toEqual([]);
  });

  it('a caller who may read it (a role on one of the locations it serves) keeps the answers: 400 naming its currency, 409 location-not-served', async () => {
    const ofL1 = await call(h, 'POST', '/v1/bank-profiles', { token: await w.token('adminOfLocation'), body: ibanProfile({ locationIds: [w.L1] }) });
    const profileId = ofL1.body.profileId as string;
    // Admin of L2, Incentives user of L1: they read the profile (it serves L1), so nothing about it is hidden from them.
    const reader = await addUser(h, w.partnerId, 'admin-of-l2-user-of-l1', [['INCENTIVES_ADMIN', [w.L2]], ['INCENTIVES_USER', [w.L1]]]);
    const token = await reader.token();
    expect((await call(h, 'GET', `/v1/bank-profiles/${profileId}`, { token })).status).toBe(200);
    for (const request of assignments(profileId, [w.L2], 'USD')) {
      const answer = await call(h, request.method, request.path, { token, body: request.body });
      expect([answer.status, answer.body.errors]).toEqual([400, [{ field: 'currency', message: 'must be the currency of the bank profile (EUR)' }]]);
    }
    for (const request of assignments(profileId, [w.L2], 'EUR')) {
      const answer = await call(h, request.method, request.path, { token, body: request.body });
      expect(answer.status).toBe(409);
      expect(answer.body.type).toContain('location-not-served');
      expect(answer.body.detail).toContain(`serves location(s) ${w.L1}, not ${w.L2}`);
    }
  });
});
