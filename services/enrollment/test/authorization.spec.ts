/**
 * Authorization matrix over the real HTTP app: every endpoint, for every kind of caller, answers the documented
 * status. Roles reach the service only as identity events on the broker; tokens come from a real JWKS issuer.
 */
import { OPERATOR_KEY } from '@lib/testing';
import { approvedProfiles, call, CallerName, createProgram, DISTANT_FY, eligibility, eligibilityKnown, Harness, withHarness, World } from './support';

jest.setTimeout(120_000);

type Caller = CallerName | 'operator' | 'unknownUser' | 'noToken' | 'expiredToken' | 'foreignKeyToken';
const CALLERS: Caller[] = [
  'admin',
  'adminOfOther',
  'incentivesUser',
  'companyAdmin',
  'plainUser',
  'otherPartnerAdmin',
  'unknownUser',
  'operator',
  'noToken',
  'expiredToken',
  'foreignKeyToken',
];

let h: Harness;
let w: World;
let programId: string;
let enrollmentId: string;

withHarness((harness, world) => ((h = harness), (w = world)));
beforeAll(async () => {
  programId = (await createProgram(h)).programId;
  await eligibility(h, w, programId, w.L1, true);
  await eligibilityKnown(h, programId, w.L1);
  await approvedProfiles(h, w.partnerId, w.L1);
  const enrolled = await call(h, 'POST', '/v1/enrollments', { token: await w.token('admin'), body: { programId, locationId: w.L1 } });
  expect(enrolled.status).toBe(201);
  enrollmentId = enrolled.body.enrollmentId;
});

async function headersOf(caller: Caller): Promise<Record<string, string>> {
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  switch (caller) {
    case 'noToken':
      return {};
    case 'operator':
      return { 'x-operator-key': OPERATOR_KEY };
    case 'unknownUser':
      return bearer(await h.issuer.token({ sub: `nobody-${w.run}`, partnerId: w.partnerId }));
    case 'expiredToken':
      return bearer(await h.issuer.token({ sub: w.users.admin.userId, partnerId: w.partnerId, expiresInSeconds: -120 }));
    case 'foreignKeyToken':
      return bearer(await h.issuer.token({ sub: w.users.admin.userId, partnerId: w.partnerId, foreignKey: true }));
    default:
      return bearer(await w.token(caller));
  }
}

const UNAUTHENTICATED = { noToken: 401, expiredToken: 401, foreignKeyToken: 401 } as const;
/** Operator endpoints: the X-Operator-Key credential, never a user token. */
const OPERATOR = {
  admin: 401,
  adminOfOther: 401,
  incentivesUser: 401,
  companyAdmin: 401,
  plainUser: 401,
  otherPartnerAdmin: 401,
  unknownUser: 401,
  ...UNAUTHENTICATED,
};
/**
 * The catalog and the lists: anyone holding a role in their partner (a company role, or an incentives role on some
 * location); a user with none, or unknown to identity, 403 (SPEC 1, Roles 2: "everyone else gets 403").
 */
const SIGNED_IN = {
  admin: 200,
  adminOfOther: 200,
  incentivesUser: 200,
  companyAdmin: 200,
  plainUser: 403,
  otherPartnerAdmin: 200,
  unknownUser: 403,
  operator: 401,
  ...UNAUTHENTICATED,
};
/** Acting on a location's enrollment: its Incentives admin only; another partner's is not found. */
const LOCATION_ADMIN = {
  admin: 200,
  adminOfOther: 403,
  incentivesUser: 403,
  companyAdmin: 403,
  plainUser: 403,
  otherPartnerAdmin: 404,
  unknownUser: 403,
  operator: 401,
  ...UNAUTHENTICATED,
};

interface Endpoint {
  name: string;
  request(): { method: string; path: string; body?: unknown; headers?: Record<string, string> };
  expect: Record<Caller, number>;
  verify?(caller: Caller, body: any): void;
}

const ENDPOINTS: Endpoint[] = [
  {
    name: 'POST /v1/programs',
    request: () => ({
      method: 'POST',
      path: '/v1/programs',
      body: { name: 'Matrix program', fiscalYear: 'FY27', requiresEligibility: false, payoutRules: { allowedCurrencies: ['USD'], allowedPaymentMethods: ['CHECK'], taxProfileRequired: false } },
    }),
    expect: { ...OPERATOR, operator: 201 },
  },
  {
    name: 'PATCH /v1/programs/:id',
    request: () => ({ method: 'PATCH', path: `/v1/programs/${programId}`, body: { name: `Renamed ${Date.now()}` }, headers: { 'if-match': '*' } }),
    // '*' is not a revision: the operator gets 400 (validated after authentication), everyone else 401.
    expect: { ...OPERATOR, operator: 400 },
  },
  // The operator too: it changes the catalog, and PATCH needs the revision it read.
  {
    name: 'GET /v1/programs',
    request: () => ({ method: 'GET', path: '/v1/programs' }),
    expect: { ...SIGNED_IN, operator: 200 },
    verify: (_caller, body) => expect(body.items.map((p: { programId: string }) => p.programId)).toContain(programId),
  },
  {
    name: 'GET /v1/programs/:id',
    request: () => ({ method: 'GET', path: `/v1/programs/${programId}` }),
    expect: { ...SIGNED_IN, operator: 200 },
    verify: (_caller, body) => expect(body).toMatchObject({ programId, revision: expect.any(Number) }),
  },
  {
    name: 'POST /v1/enrollments',
    request: () => ({ method: 'POST', path: '/v1/enrollments', body: { programId, locationId: w.L1 } }),
    expect: LOCATION_ADMIN,
    verify: (_caller, body) => expect(body.enrollmentId).toBe(enrollmentId),
  },
  {
    name: 'GET /v1/enrollments',
    request: () => ({ method: 'GET', path: '/v1/enrollments' }),
    expect: SIGNED_IN,
    verify: (caller, body) => {
      const ids = body.items.map((e: { enrollmentId: string }) => e.enrollmentId);
      const sees = ['admin', 'incentivesUser', 'companyAdmin'].includes(caller);
      expect(ids.includes(enrollmentId)).toBe(sees);
      if (caller === 'incentivesUser') expect(body.items[0].nextAction).toBeNull();
    },
  },
  {
    name: 'GET /v1/enrollments?locationId=L1',
    request: () => ({ method: 'GET', path: `/v1/enrollments?locationId=${w.L1}` }),
    expect: { ...SIGNED_IN, adminOfOther: 403, plainUser: 403, otherPartnerAdmin: 404, unknownUser: 403 },
  },
  {
    name: 'GET /v1/enrollments/:id',
    request: () => ({ method: 'GET', path: `/v1/enrollments/${enrollmentId}` }),
    expect: { ...LOCATION_ADMIN, incentivesUser: 200, companyAdmin: 200 },
    verify: (caller, body) => expect(body.nextAction === null).toBe(caller !== 'admin'),
  },
  { name: 'POST /v1/enrollments/:id/refresh', request: () => ({ method: 'POST', path: `/v1/enrollments/${enrollmentId}/refresh`, body: {} }), expect: LOCATION_ADMIN },
  {
    name: 'POST /v1/enrollments/:id/submit',
    request: () => ({ method: 'POST', path: `/v1/enrollments/${enrollmentId}/submit` }),
    expect: LOCATION_ADMIN,
    verify: (_caller, body) => expect(body.status).toBe('ENROLLED'),
  },
  {
    name: 'POST /v1/operator/rollover',
    request: () => ({ method: 'POST', path: '/v1/operator/rollover', body: { fromFiscalYear: DISTANT_FY } }),
    expect: { ...OPERATOR, operator: 200 },
  },
  {
    name: 'POST /v1/operator/renewal-reminders',
    request: () => ({ method: 'POST', path: '/v1/operator/renewal-reminders', body: { fiscalYear: DISTANT_FY } }),
    // Authorized, then refused: DISTANT_FY has not begun (409 fiscal-year-not-started; everyone else 401).
    expect: { ...OPERATOR, operator: 409 },
  },
];

describe('authorization matrix', () => {
  for (const endpoint of ENDPOINTS) {
    it(`${endpoint.name}`, async () => {
      const seen: Record<string, number> = {};
      for (const caller of CALLERS) {
        const { method, path, body, headers = {} } = endpoint.request();
        const answer = await call(h, method, path, { body, headers: { ...(await headersOf(caller)), ...headers } });
        seen[caller] = answer.status;
        if (answer.status >= 400) expect(answer.headers.get('content-type')).toContain('application/problem+json');
        else endpoint.verify?.(caller, answer.body);
      }
      expect(seen).toEqual(endpoint.expect);
    });
  }

  it('says why in the problem: the role needed, or no roles at all', async () => {
    const refused = await call(h, 'POST', '/v1/enrollments', { token: await w.token('incentivesUser'), body: { programId, locationId: w.L1 } });
    expect(refused.body.detail).toMatch(/Only an Incentives admin of location/);
    const unknown = await call(h, 'GET', '/v1/enrollments', { headers: await headersOf('unknownUser') });
    expect(unknown.body.detail).toMatch(/no roles/);
  });
});
