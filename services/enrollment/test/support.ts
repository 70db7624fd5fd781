/**
 * What every enrollment integration spec needs: the service booted against the run's real broker and database,
 * a partner with users in each role (known to the service the only way it learns them: identity events on the
 * broker), and the outside world's events (eligibility, agreements, payout profiles, invitations) published on
 * their real topics, plus HTTP helpers.
 */
import { ALL_TOPICS, fiscalYearOf, fiscalYearRange, nextFiscalYear, PayoutRules, ProfileEvent, Role, Topics, UserSnapshot } from '@lib/contracts';
import { bootService, eventually, OPERATOR_KEY, outboxSettled, RunningService, TestIssuer, TestKafka, TopicWatch, uniqueName } from '@lib/testing';
import { Clock } from '@lib/platform';
import type { Type } from '@nestjs/common';
import { MongoClient } from 'mongodb';
import { randomUUID } from 'node:crypto';
import { AppModule } from '../src/app.module';
import { enrollmentId } from '../src/common/ids';
import { groupAtEnd, watchFromNow } from './kafka-group';

export { groupAtEnd };

/**
 * The fiscal year of tomorrow, and the next: the programs the specs enroll in are in CURRENT_FY (Enroll refuses a
 * year that is over), so the specs read the same on any date. Tomorrow's, so that a run started on June 30 that goes
 * past midnight still enrolls in a year that is not over (enrolling in a year not started yet is allowed). Years
 * seeded straight into the database may stay literal.
 */
export const CURRENT_FY = fiscalYearOf(new Date(Date.now() + 86_400_000));
export const NEXT_FY = nextFiscalYear(CURRENT_FY);
/** A fiscal year decades ahead that no spec seeds on its own: not begun, no enrollment of it but a spec's own. */
export const DISTANT_FY = fiscalYearOf(new Date(Date.now() + 30 * 365 * 86_400_000));
/** A tax profile expiry 18 months after NEXT_FY ends (a 1 January): valid through every rollover the specs run. */
export const TAX_VALID_UNTIL = new Date(Date.UTC(fiscalYearRange(NEXT_FY).end.getUTCFullYear() + 2, 0, 1)).toISOString();

export interface Harness {
  service: RunningService;
  issuer: TestIssuer;
  kafka: TestKafka;
  watch: TopicWatch;
  mongo: MongoClient;
  db: ReturnType<MongoClient['db']>;
  close(): Promise<void>;
}

export async function startHarness(env: Record<string, string> = {}): Promise<Harness> {
  const issuer = await new TestIssuer().start();
  const kafka = new TestKafka();
  const groupId = uniqueName('enrollment');
  await groupAtEnd(groupId, ALL_TOPICS);
  const service = await bootService(AppModule, {
    name: 'enrollment',
    env: { ...issuer.env(), KAFKA_GROUP_ID: groupId, ROLLOVER_CRON: 'off', PAYOUT_PROFILES_API_URL: 'http://payout.test', ...env },
  });
  const watcher = await watchFromNow([Topics.enrollments, Topics.programs]);
  const watch = watcher.watch;
  const mongo = await new MongoClient(process.env.MONGO_URL!, { directConnection: true }).connect();
  const db = mongo.db(service.env.MONGO_DB);
  return {
    service,
    issuer,
    kafka,
    watch,
    mongo,
    db,
    close: async () => {
      await service.close();
      await watcher.close();
      await kafka.close();
      await mongo.close();
      await issuer.stop();
    },
  };
}

export type CallerName = 'admin' | 'adminOfOther' | 'incentivesUser' | 'companyAdmin' | 'plainUser' | 'otherPartnerAdmin';

/** A partner with three locations and one user per role; another partner with its own admin. */
export interface World {
  run: string;
  partnerId: string;
  otherPartnerId: string;
  /** L1, L3: `admin` is Incentives admin there; L2: `adminOfOther`'s. */
  L1: string;
  L2: string;
  L3: string;
  otherLocation: string;
  users: Record<CallerName, { userId: string; partnerId: string }>;
  token(caller: CallerName): Promise<string>;
}

function snapshot(userId: string, partnerId: string, roles: Array<[Role, string[]]>, revision: number): UserSnapshot {
  return {
    userId,
    partnerId,
    email: `${userId}@example.com`,
    displayName: userId,
    active: true,
    roles: roles.map(([role, locationIds]) => ({ role, locationIds })),
    revision,
  };
}

/** Publishes the partners (PartnerRegistered) and full user snapshots; waits until the service's role view has them. */
export async function createWorld(h: Harness): Promise<World> {
  const run = randomUUID().slice(0, 8);
  const partnerId = `partner-${run}`;
  const otherPartnerId = `other-${run}`;
  const [L1, L2, L3, otherLocation] = [`L1-${run}`, `L2-${run}`, `L3-${run}`, `LX-${run}`];
  const roles: Record<CallerName, [string, Array<[Role, string[]]>]> = {
    admin: [partnerId, [['INCENTIVES_ADMIN', [L1, L3]]]],
    adminOfOther: [partnerId, [['INCENTIVES_ADMIN', [L2]]]],
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
    const userId = `${caller}-${run}`;
    users[caller] = { userId, partnerId: pid };
    await h.kafka.publishEvent(Topics.identity, pid, { type: 'UserCreated', partnerId: pid, data: { user: snapshot(userId, pid, [], 1) } });
    if (grants.length) {
      const [role, locationIds] = grants[0];
      await h.kafka.publishEvent(Topics.identity, pid, {
        type: 'RoleAssigned',
        partnerId: pid,
        data: { user: snapshot(userId, pid, grants, 2), role, locationIds },
      });
    }
  }
  const expected = Object.fromEntries(Object.entries(roles).map(([caller, [, grants]]) => [users[caller as CallerName].userId, grants.length ? 2 : 1]));
  await eventually(async () => {
    const docs = await h.db.collection<{ _id: string; revision: number }>('access_users').find({ _id: { $in: Object.keys(expected) } }).toArray();
    const locations = await h.db.collection('access_locations').countDocuments({ _id: { $in: [L1, L2, L3, otherLocation] } as never });
    expect({ users: Object.fromEntries(docs.map((d) => [d._id, d.revision])), locations }).toEqual({ users: expected, locations: 4 });
  }, 60_000);
  return {
    run,
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

export interface Answer<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

/**
 * The operator's renewal reminders of CURRENT_FY, with the service's clock pinned within that year's last month:
 * CURRENT_FY is tomorrow's year, which on June 30 has not begun (reminders for it would be refused, 409
 * fiscal-year-not-started), whatever day the suite runs.
 */
export async function remindCurrentYear(h: Harness) {
  const clock = jest.spyOn(h.service.app.get(Clock), 'now').mockReturnValue(new Date(+fiscalYearRange(CURRENT_FY).end - 10 * 86_400_000));
  try {
    return await call(h, 'POST', '/v1/operator/renewal-reminders', { operator: true, body: { fiscalYear: CURRENT_FY } });
  } finally {
    clock.mockRestore();
  }
}

export async function call<T = any>(
  h: Harness,
  method: string,
  path: string,
  { token, body, headers = {}, operator = false }: { token?: string; body?: unknown; headers?: Record<string, string>; operator?: boolean } = {},
): Promise<Answer<T>> {
  const response = await fetch(`${h.service.url}${path}`, {
    method,
    headers: {
      ...(body !== undefined && { 'content-type': 'application/json' }),
      ...(token && { authorization: `Bearer ${token}` }),
      ...(operator && { 'x-operator-key': OPERATOR_KEY }),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined, headers: response.headers };
}

export const RULES: PayoutRules = { allowedCurrencies: ['USD', 'EUR'], allowedPaymentMethods: ['ELECTRONIC_BANK_TRANSFER'], taxProfileRequired: true };

/** Creates a program through the operator API (and so publishes it on programs.events.v1). */
export async function createProgram(
  h: Harness,
  overrides: { requiresEligibility?: boolean; fiscalYear?: string; payoutRules?: PayoutRules; state?: string } = {},
): Promise<{ programId: string; name: string; fiscalYear: string; revision: number }> {
  const programId = `program-${randomUUID().slice(0, 8)}`;
  const answer = await call(h, 'POST', '/v1/programs', {
    operator: true,
    body: { programId, name: `Growth ${programId}`, fiscalYear: CURRENT_FY, requiresEligibility: true, payoutRules: RULES, ...overrides },
  });
  expect(answer.status).toBe(201);
  return answer.body;
}

/** `occurredAt`: when the eligibility system decided (now unless given: a decision made before, published late). */
export async function eligibility(
  h: Harness,
  w: { partnerId: string },
  programId: string,
  locationId: string,
  eligible: boolean,
  fiscalYear = CURRENT_FY,
  reasons: string[] = [],
  occurredAt?: Date,
) {
  return h.kafka.publishEvent(Topics.eligibility, locationId, {
    type: 'EligibilityDetermined',
    source: 'eligibility-system',
    partnerId: w.partnerId,
    locationId,
    data: { programId, locationId, partnerId: w.partnerId, fiscalYear, eligible, reasons },
    ...(occurredAt && { occurredAt }),
  });
}

/**
 * InvitationIssued as the invitations service publishes it, to the world's `admin` (invitation id
 * `inv-<program>-<location>` unless given).
 */
export async function issueInvitation(
  h: Harness,
  w: { partnerId: string; users: { admin: { userId: string } } },
  program: { programId: string; name: string; fiscalYear: string },
  locationId: string,
  invitationId = `inv-${program.programId}-${locationId}`,
  invitationVersion?: number,
) {
  return h.kafka.publishEvent(Topics.invitations, locationId, {
    type: 'InvitationIssued',
    source: 'invitations',
    partnerId: w.partnerId,
    data: {
      invitationId,
      programId: program.programId,
      programName: program.name,
      partnerId: w.partnerId,
      locationId,
      fiscalYear: program.fiscalYear,
      recipients: [{ userId: w.users.admin.userId, email: `${w.users.admin.userId}@example.com` }],
      channels: ['EMAIL', 'NOTICE'],
      getStartedUrl: 'https://partner.example.com/incentives/enroll',
      requiresEligibility: true,
      ...(invitationVersion !== undefined && { invitationVersion }),
    },
  });
}

/** The agreements system says the partner's agreement is (in)active, as of `occurredAt` (default: now). */
export async function agreement(h: Harness, partnerId: string, active: boolean, occurredAt?: Date) {
  return h.kafka.publishEvent(Topics.agreements, partnerId, { type: 'AgreementStatusChanged', source: 'agreements-system', partnerId, data: { partnerId, active }, occurredAt });
}

/** A profile event as payout-profiles publishes it (bank: key partnerId; tax: key locationId). */
/** `occurredAt`: when payout-profiles made the change (now unless given: one made before, consumed late). */
export async function profileEvent(h: Harness, type: string, profile: ProfileEvent, occurredAt?: Date) {
  const key = profile.profileKind === 'TAX' ? profile.locationId! : profile.partnerId;
  return h.kafka.publishEvent(Topics.payoutProfiles, key, { type, source: 'payout-profiles', partnerId: profile.partnerId, data: profile, ...(occurredAt && { occurredAt }) });
}

/** An enrollment document as the service stores it, for a test to write straight into its database. */
export function storedEnrollment(fields: { programId: string; programName: string; partnerId: string; locationId: string; fiscalYear: string; status: string; version: number } & Record<string, unknown>) {
  const now = new Date();
  return {
    _id: enrollmentId(fields),
    reasons: [],
    missing: [],
    bankChosen: false,
    evaluatedAt: now,
    createdAt: now,
    updatedAt: now,
    ...fields,
  };
}

export function bankProfile(partnerId: string, overrides: Partial<ProfileEvent> = {}): ProfileEvent {
  return {
    profileId: `bank-${randomUUID().slice(0, 8)}`,
    profileKind: 'BANK',
    partnerId,
    revision: 1,
    status: 'PENDING_VALIDATION',
    reasons: [],
    name: 'USD account',
    country: 'US',
    currency: 'USD',
    paymentMethod: 'ELECTRONIC_BANK_TRANSFER',
    maskedAccount: '****6789',
    ...overrides,
  };
}

export function taxProfile(partnerId: string, locationId: string, overrides: Partial<ProfileEvent> = {}): ProfileEvent {
  return {
    profileId: `tax-${randomUUID().slice(0, 8)}`,
    profileKind: 'TAX',
    partnerId,
    locationId,
    revision: 1,
    status: 'PENDING_VALIDATION',
    reasons: [],
    name: 'Contoso Inc',
    country: 'US',
    expiresAt: TAX_VALID_UNTIL,
    ...overrides,
  };
}

export async function defaultBankProfile(h: Harness, partnerId: string, locationId: string, bankProfileId: string, currency = 'USD') {
  return h.kafka.publishEvent(Topics.payoutProfiles, locationId, {
    type: 'DefaultBankProfileAssigned',
    source: 'payout-profiles',
    partnerId,
    data: { partnerId, locationId, bankProfileId, currency },
  });
}

/** Waits until the service's profile view holds this revision and status of the profile. */
export async function profileKnown(h: Harness, profile: ProfileEvent): Promise<void> {
  await eventually(async () => {
    const view = await h.db.collection<{ _id: string; revision: number; status: string }>('profile_view').findOne({ _id: profile.profileId });
    expect({ revision: view?.revision, status: view?.status }).toEqual({ revision: profile.revision, status: profile.status });
  });
}

/** Approved bank + tax profiles, the bank one the location's default, known to the service. */
export async function approvedProfiles(h: Harness, partnerId: string, locationId: string, tax: Partial<ProfileEvent> = {}) {
  const bank = bankProfile(partnerId, { status: 'APPROVED' });
  const taxP = taxProfile(partnerId, locationId, { status: 'APPROVED', ...tax });
  await profileEvent(h, 'ProfileApproved', bank);
  await profileEvent(h, 'ProfileApproved', taxP);
  await defaultBankProfile(h, partnerId, locationId, bank.profileId);
  await profileKnown(h, bank);
  await profileKnown(h, taxP);
  await eventually(async () => {
    const view = await h.db.collection<{ _id: string; bankProfileId: string }>('default_bank_profile_view').findOne({ _id: locationId });
    expect(view?.bankProfileId).toBe(bank.profileId);
  });
  return { bank, tax: taxP };
}

/** Waits until the eligibility view holds a decision for the (program, location, fiscal year). */
export async function eligibilityKnown(h: Harness, programId: string, locationId: string, fiscalYear = CURRENT_FY, eligible = true) {
  await eventually(async () => {
    const view = await h.db.collection<{ _id: string; years: Record<string, { eligible: boolean }> }>('eligibility_view').findOne({ _id: `${programId}|${locationId}` });
    expect(view?.years?.[fiscalYear]?.eligible).toBe(eligible);
  });
}

/** Events of one enrollment seen on enrollments.events.v1. */
export function enrollmentEvents(h: Harness, enrollmentId: string) {
  return h.watch.find<{ enrollmentId: string }>((m) => m.topic === Topics.enrollments && m.envelope?.data.enrollmentId === enrollmentId);
}

export async function waitForEnrollmentEvent(h: Harness, enrollmentId: string, type: string, count = 1) {
  return h.watch.waitFor<any>((m) => m.topic === Topics.enrollments && m.envelope?.type === type && m.envelope?.data.enrollmentId === enrollmentId, { count });
}

/** Every event the service has written about the enrollments `filter` selects is on the watch (outboxSettled). */
export function enrollmentEventsSettled(h: Harness, filter: { programId: string } | { locationId: string }, keys: string[]): Promise<void> {
  return outboxSettled({ collection: h.db.collection('enrollments'), filter, kafka: h.kafka, watch: h.watch, topic: Topics.enrollments, keys });
}

/**
 * The harness and world of a spec file: started before its tests, closed after them; `ready` receives them (the
 * spec keeps them in its own `h` and `w`).
 */
export function withHarness(ready: (h: Harness, w: World) => void, env: Record<string, string> = {}): void {
  let harness: Harness | undefined;
  beforeAll(async () => {
    harness = await startHarness(env);
    ready(harness, await createWorld(harness));
  });
  afterAll(() => harness?.close());
}

/** The instance the service's own code uses (looked up in the module that provides it), to spy on or call directly. */
export function serviceOf<T>(h: Harness, module: Type<unknown>, type: Type<T>): T {
  return h.service.app.select(module).get(type, { strict: true });
}
