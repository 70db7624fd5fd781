/**
 * What every payout-profiles integration spec needs: the service booted against the run's real broker and
 * database, a partner with users in each role (made known the only way the service learns them: identity
 * events on the broker), programs on programs.events.v1, HTTP helpers and valid request bodies.
 */
import { PayoutRules, ProgramSnapshot, Role, Topics, UserSnapshot } from '@lib/contracts';
import { bootService, eventually, OPERATOR_KEY, RunningService, TestIssuer, TestKafka } from '@lib/testing';
import { MongoClient } from 'mongodb';
import { randomBytes, randomUUID } from 'node:crypto';
import { AppModule } from '../src/app.module';

export const ENCRYPTION_KEYS = { k0: randomBytes(32).toString('base64'), k1: randomBytes(32).toString('base64') };

export interface Harness {
  service: RunningService;
  issuer: TestIssuer;
  kafka: TestKafka;
  mongo: MongoClient;
  db: ReturnType<MongoClient['db']>;
  close(): Promise<void>;
}

/**
 * The service gets a database and a consumer group of its own (named after `suite`), placed at the end of the
 * topics it consumes: every spec registers its partners, users and programs after the service started, so it
 * needs nothing older, and on a broker shared by the whole run (or by every run on a dev machine) replaying the
 * identity history of every other spec would take minutes.
 */
export async function startHarness(suite: string, env: Record<string, string> = {}): Promise<Harness> {
  const issuer = await new TestIssuer().start();
  const kafka = new TestKafka();
  const service = await bootService(AppModule, {
    name: `payout-profiles-${suite}`,
    env: {
      ...issuer.env(),
      PAYOUT_ENCRYPTION_KEYS: Object.entries(ENCRYPTION_KEYS).map(([id, key]) => `${id}:${key}`).join(','),
      PAYOUT_ENCRYPTION_ACTIVE_KEY_ID: 'k1',
      TAX_EXPIRY_SCAN_INTERVAL_MS: "0",
      KAFKA_PARTITIONS_CONCURRENCY: '6',
      ...env,
    },
    startAtEndOf: [Topics.identity, Topics.programs, Topics.validationResults],
  });
  const mongo = await new MongoClient(process.env.MONGO_URL!, { directConnection: true }).connect();
  const db = mongo.db(service.env.MONGO_DB);
  return {
    service,
    issuer,
    kafka,
    mongo,
    db,
    close: async () => {
      await service.close();
      await kafka.close();
      await mongo.close();
      await issuer.stop();
    },
  };
}

export type CallerName =
  | 'adminOfLocation'
  | 'adminOfOtherLocation'
  | 'incentivesUser'
  | 'companyAdmin'
  | 'plainUser'
  | 'otherPartnerAdmin';

/** A partner with three locations and one user per role; another partner with its own admin. */
export interface World {
  partnerId: string;
  otherPartnerId: string;
  /** L1 and L3: adminOfLocation is Incentives admin there; L2: adminOfOtherLocation's. */
  L1: string;
  L2: string;
  L3: string;
  otherLocation: string;
  users: Record<CallerName, { userId: string; partnerId: string }>;
  token(caller: CallerName): Promise<string>;
}

function snapshot(userId: string, partnerId: string, roles: Array<[Role, string[]]>): UserSnapshot {
  return {
    userId,
    partnerId,
    email: `${userId}@example.com`,
    displayName: userId,
    active: true,
    roles: roles.map(([role, locationIds]) => ({ role, locationIds })),
    revision: roles.length + 1,
  };
}

/** Publishes the partners and users on identity.events.v1 and waits until the service's role view has them. */
export async function createWorld(h: Harness): Promise<World> {
  const id = randomUUID().slice(0, 8);
  const partnerId = `partner-${id}`;
  const otherPartnerId = `other-${id}`;
  const [L1, L2, L3, otherLocation] = [`L1-${id}`, `L2-${id}`, `L3-${id}`, `LX-${id}`];
  const roles: Record<CallerName, [string, Array<[Role, string[]]>]> = {
    adminOfLocation: [partnerId, [['INCENTIVES_ADMIN', [L1, L3]]]],
    adminOfOtherLocation: [partnerId, [['INCENTIVES_ADMIN', [L2]]]],
    incentivesUser: [partnerId, [['INCENTIVES_USER', [L1, L3]]]],
    companyAdmin: [partnerId, [['GLOBAL_ADMIN', ['*']]]],
    plainUser: [partnerId, []],
    otherPartnerAdmin: [otherPartnerId, [['INCENTIVES_ADMIN', ['*']]]],
  };
  const location = (locationId: string, country: string) => ({ locationId, country, legalName: `Contoso ${locationId}` });
  await h.kafka.publishEvent(Topics.identity, partnerId, {
    type: 'PartnerRegistered',
    partnerId,
    data: { partnerId, name: 'Contoso', locations: [location(L1, 'US'), location(L2, 'DE'), location(L3, 'GB')] },
  });
  await h.kafka.publishEvent(Topics.identity, otherPartnerId, {
    type: 'PartnerRegistered',
    partnerId: otherPartnerId,
    data: { partnerId: otherPartnerId, name: 'Fabrikam', locations: [location(otherLocation, 'FR')] },
  });
  const users = {} as World['users'];
  for (const [caller, [pid, grants]] of Object.entries(roles) as Array<[CallerName, [string, Array<[Role, string[]]>]]>) {
    const userId = `${caller}-${id}`;
    users[caller] = { userId, partnerId: pid };
    const user = snapshot(userId, pid, grants);
    await h.kafka.publishEvent(Topics.identity, pid, { type: 'UserCreated', partnerId: pid, data: { user: { ...user, roles: [], revision: 1 } } });
    for (const [role, locationIds] of grants) {
      await h.kafka.publishEvent(Topics.identity, pid, { type: 'RoleAssigned', partnerId: pid, data: { user, role, locationIds } });
    }
  }
  const expected = Object.fromEntries(Object.values(roles).map(([, grants], i) => [Object.values(users)[i].userId, grants.length ? 2 : 1]));
  await eventually(async () => {
    const docs = await h.db.collection<{ _id: string; revision: number }>('access_users').find({ _id: { $in: Object.keys(expected) } }).toArray();
    const locations = await h.db.collection<{ _id: string }>('access_locations').countDocuments({ _id: { $in: [L1, L2, L3, otherLocation] } });
    expect({ users: Object.fromEntries(docs.map((d) => [d._id, d.revision])), locations }).toEqual({ users: expected, locations: 4 });
  }, 170_000);
  return {
    partnerId,
    otherPartnerId,
    L1,
    L2,
    L3,
    otherLocation,
    users,
    token: (caller) => h.issuer.token({ sub: users[caller].userId, partnerId: users[caller].partnerId }),
  };
}

/**
 * One more user of a partner, with these grants (e.g. an Incentives admin of every location, which the world has not),
 * made known through identity.events.v1; waits until the service's role view has them. Answers a token of theirs.
 */
export async function addUser(h: Harness, partnerId: string, name: string, grants: Array<[Role, string[]]>): Promise<{ userId: string; token(): Promise<string> }> {
  const userId = `${name}-${randomUUID().slice(0, 8)}`;
  const user = snapshot(userId, partnerId, grants);
  await h.kafka.publishEvent(Topics.identity, partnerId, { type: 'UserCreated', partnerId, data: { user: { ...user, roles: [], revision: 1 } } });
  for (const [role, locationIds] of grants) {
    await h.kafka.publishEvent(Topics.identity, partnerId, { type: 'RoleAssigned', partnerId, data: { user, role, locationIds } });
  }
  await eventually(async () => {
    const doc = await h.db.collection<{ _id: string; revision: number }>('access_users').findOne({ _id: userId });
    expect(doc?.revision).toBe(user.revision);
  }, 60_000);
  return { userId, token: () => h.issuer.token({ sub: userId, partnerId }) };
}

export async function publishProgram(h: Harness, rules: PayoutRules, overrides: Partial<ProgramSnapshot> = {}): Promise<ProgramSnapshot> {
  const program: ProgramSnapshot = {
    programId: `program-${randomUUID().slice(0, 8)}`,
    name: 'Solutions Partner incentive',
    fiscalYear: 'FY27',
    requiresEligibility: true,
    payoutRules: rules,
    state: 'OPEN',
    revision: 1,
    ...overrides,
  };
  await h.kafka.publishEvent(Topics.programs, program.programId, { type: 'ProgramCreated', data: { program } });
  return program;
}

export interface Answer<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

/** A body sent as this text, for JSON that JSON.stringify cannot write here (nested thousands of levels deep). */
export class RawJson {
  constructor(readonly text: string) {}
}

export async function call<T = any>(
  h: Harness,
  method: string,
  path: string,
  { token, body, headers = {} }: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Answer<T>> {
  const response = await fetch(`${h.service.url}${path}`, {
    method,
    headers: {
      ...(body !== undefined && { 'content-type': 'application/json' }),
      ...(token && { authorization: `Bearer ${token}` }),
      ...headers,
    },
    body: body === undefined ? undefined : body instanceof RawJson ? body.text : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined, headers: response.headers };
}

export const operator = { 'x-operator-key': OPERATOR_KEY };

export function ifMatch(version: number | string): Record<string, string> {
  return { 'if-match': `"${version}"` };
}

export const VALID = {
  iban: 'DE89370400440532013000',
  usAccount: '000123456789',
  routing: '021000021',
  tin: '12-3456789',
  vat: 'DE123456789',
};

export function ibanProfile(overrides: Record<string, unknown> = {}) {
  return {
    name: `EUR account ${randomUUID().slice(0, 8)}`,
    country: 'DE',
    currency: 'EUR',
    paymentMethod: 'ELECTRONIC_BANK_TRANSFER',
    account: { iban: 'DE89 3704 0044 0532 0130 00', bic: 'COBADEFFXXX' },
    beneficiary: { name: 'Contoso GmbH', email: 'payments@contoso.example' },
    ...overrides,
  };
}

export function usProfile(overrides: Record<string, unknown> = {}) {
  return {
    name: `USD account ${randomUUID().slice(0, 8)}`,
    country: 'US',
    currency: 'USD',
    paymentMethod: 'ELECTRONIC_BANK_TRANSFER',
    account: { accountNumber: VALID.usAccount, routingNumber: VALID.routing, accountType: 'CHECKING' },
    beneficiary: { name: 'Contoso Inc', email: 'payments@contoso.example' },
    ...overrides,
  };
}

export function inDays(days: number): string {
  return new Date(Date.now() + days * 86_400_000).toISOString();
}

export function usTaxProfile(overrides: Record<string, unknown> = {}) {
  return {
    businessProfile: {
      legalName: 'Contoso Inc',
      address: { line1: '1 Microsoft Way', city: 'Redmond', region: 'WA', postalCode: '98052', country: 'US' },
    },
    incorporation: 'US',
    incorporationCountry: 'US',
    taxId: VALID.tin,
    documents: [{ fileName: 'w-9.pdf', contentType: 'application/pdf', sizeBytes: 120_000, uploadedAt: new Date().toISOString() }],
    expiresAt: inDays(365),
    ...overrides,
  };
}

export function nonUsTaxProfile(overrides: Record<string, unknown> = {}) {
  return {
    businessProfile: { legalName: 'Contoso GmbH', address: { line1: 'Unter den Linden 1', city: 'Berlin', country: 'DE' } },
    incorporation: 'NON_US',
    incorporationCountry: 'DE',
    vatId: VALID.vat,
    documents: [{ fileName: 'w-8ben-e.pdf', contentType: 'application/pdf', sizeBytes: 98_000, uploadedAt: new Date().toISOString() }],
    expiresAt: inDays(365),
    ...overrides,
  };
}
