/**
 * The article's story, end to end: five services as processes, real Kafka, MongoDB and SMTP, spoken to only as
 * outside systems and people would (HTTP, Kafka, SMTP).
 */
import { Topics } from '@lib/contracts';
import { deadLetterTopic, DeadLetterHeaders } from '@lib/contracts';
import { addresses, freePort, groupCaughtUp, PROJECT_ROOT, runDir, TestKafka, TopicWatch } from '@lib/testing';
import { startKafka } from '@lib/testing/infra/kafka';
import { Kafka, logLevel } from 'kafkajs';
import { MongoClient } from 'mongodb';
import { readFileSync, rmSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { assignRole, Client, CURRENT_FY, eligibility, eventually, importUsers, NEXT_FY, registerPartner, usBankProfile, usTaxProfile } from './client';
import { mailMessageId } from '../../services/notification/src/messages/notification-events';
import { Platform, ServiceName, SERVICES } from './platform';

jest.setTimeout(180_000);

const SUBJECT = 'Partner Incentive Enrollment Invitation';
// No daily rollover job: a run of it during the test would make the operator's rollover answer 409 (already running).
const platform = new Platform({ env: { enrollment: { ROLLOVER_CRON: 'off' } } });
const client = new Client(platform);
let kafka: TestKafka;
let watch: TopicWatch;
let broker: { brokers: string[]; stop(): Promise<void> };
let brokerDir: string;
let brokerPorts: { brokerPort: number; controllerPort: number };
const WATCHED = [Topics.invitations, Topics.enrollments, Topics.notifications, Topics.payoutProfiles];

const run = randomUUID().slice(0, 6);
const P = `P-${run}`; // the program that needs eligibility
const OPEN = `OPEN-${run}`; // an open program
const S = `S-${run}`; // a sentinel program that needs eligibility: its invitation shows that the decisions before it were handled
const PROGRAM_NAMES: Record<string, string> = { [P]: `Azure Growth ${run}`, [OPEN]: `Open Skilling ${run}`, [S]: `Sentinel ${run}` };
const A = `LOC-A-${run}`;
const B = `LOC-B-${run}`;
const state: Record<string, any> = {};

/**
 * Waits until `service` has handled everything published on `topics` so far (its consumer group committed up to
 * the end offsets as they are now): a precondition that no HTTP read of the service shows.
 */
const handled = (service: ServiceName, topics: string[]) => groupCaughtUp(platform.groupId(service), topics, { timeoutMs: 60_000 });

/** Waits until an event of `type` whose data matches `data` is on the watched topics. */
const published = (type: string, data: Record<string, unknown>) =>
  watch.waitFor((m) => m.envelope?.type === type && Object.entries(data).every(([k, v]) => (m.envelope!.data as Record<string, unknown>)?.[k] === v), { timeoutMs: 60_000 });

/** An attribute value as a browser reads it (Handlebars escapes `=` and `&` in attributes). */
function decodeEntities(value: string): string {
  return value
    .replace(/&#x([0-9a-f]+);/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)))
    .replace(/&#(\d+);/g, (_, dec: string) => String.fromCharCode(Number(dec)))
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** Where an invitation email's Get Started link leads: `programId@locationId`. */
function invitationTarget(mail: { parsed: { html?: unknown } }): string | undefined {
  const link = /href="([^"]+)"[^>]*>\s*Get Started/.exec(String(mail.parsed.html))?.[1];
  if (!link) return undefined;
  const url = new URL(decodeEntities(link));
  return `${url.searchParams.get('programId')}@${url.searchParams.get('locationId')}`;
}

/** The invitation emails an address received, for one program when given. */
const invitationsTo = (email: string, programId?: string) =>
  platform.smtp.to(email).filter((m) => m.parsed.subject === SUBJECT && (programId === undefined || invitationTarget(m)?.startsWith(`${programId}@`)));

/**
 * What an email is about, to count them: recipient and subject, and for invitations (one subject for every
 * program) the program and location of the link. Two emails with the same key are the same email sent twice,
 * whatever their Message-ID.
 */
function mailKey(mail: { to: string[]; parsed: { subject?: string; html?: unknown } }): string {
  const key = `${mail.to.join(',')} | ${mail.parsed.subject}`;
  return mail.parsed.subject === SUBJECT ? `${key} | ${invitationTarget(mail)}` : key;
}

/** How the emails name a location: its legal name (`registerPartner`: "<partner> <locationId>") and id. */
const locationLabel = (partner: string, locationId: string) => `${partner} ${locationId} (${locationId})`;

/** How many emails were received per key, for the given recipients. */
function mailCounts(recipients: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  const counted = new Set<string | undefined>();
  for (const mail of platform.smtp.received.filter((m) => m.to.some((to) => recipients.map((r) => r.toLowerCase()).includes(to)))) {
    const id = mail.parsed.messageId;
    if (counted.has(id) && resentAfterKill.has(id!)) continue;
    counted.add(id);
    counts[mailKey(mail)] = (counts[mailKey(mail)] ?? 0) + 1;
  }
  return counts;
}

/**
 * The Message-IDs of emails a kill -9 of notification caught between the SMTP server's acceptance and the SENT
 * write: sent again once their lease ran out, with the same Message-ID (README of notification, Delivery guarantees
 * 5: at-least-once at the SMTP edge). `mailCounts` counts such an email once; the kill test checks that this is all
 * its second copy is.
 */
const resentAfterKill = new Set<string>();

/** The one look inside a killed service: the types of the events still in a document's outbox (never published). */
async function outboxTypes(service: ServiceName, collection: string, id: string): Promise<string[]> {
  const mongo = new MongoClient(process.env.MONGO_URL!);
  try {
    const stored = await mongo.db(platform.database(service)).collection<{ _id: string; outbox?: Array<{ value: string }> }>(collection).findOne({ _id: id });
    return (stored?.outbox ?? []).map((e) => JSON.parse(e.value).type);
  } finally {
    await mongo.close();
  }
}

/** The broker back where the services expect it, and a fresh watch (from the beginning): the old one's consumer lived through the stop. */
async function restartBroker(): Promise<void> {
  broker = await startKafka({ root: PROJECT_ROOT, dataDir: brokerDir, ...brokerPorts });
  watch = await kafka.watch(WATCHED);
}

beforeAll(async () => {
  // Its own broker, so the fault suite can restart it where the services expect it.
  brokerDir = runDir('e2e-kafka');
  brokerPorts = { brokerPort: await freePort(), controllerPort: await freePort() };
  broker = await startKafka({ root: PROJECT_ROOT, dataDir: brokerDir, ...brokerPorts });
  process.env.KAFKA_BROKERS = broker.brokers.join(',');
  await platform.start();
  kafka = new TestKafka();
  watch = await kafka.watch(WATCHED);
}, 300_000);

afterAll(async () => {
  await kafka?.close();
  await platform.stop();
  await broker?.stop();
  if (brokerDir) rmSync(brokerDir, { recursive: true, force: true });
});

const program = (programId: string, requiresEligibility: boolean) => ({
  programId,
  name: PROGRAM_NAMES[programId],
  fiscalYear: CURRENT_FY,
  requiresEligibility,
  payoutRules: { allowedCurrencies: ['USD', 'EUR'], allowedPaymentMethods: ['ELECTRONIC_BANK_TRANSFER'], taxProfileRequired: true },
  state: 'OPEN',
});

describe('the incentives enrollment journey', () => {
  it('1. an operator registers a partner with two locations; the Global admin imports users and makes one Incentives admin of A only', async () => {
    const partner = await registerPartner(client, 'Contoso', [
      { locationId: A, country: 'US' },
      { locationId: B, country: 'DE' },
    ]);
    Object.assign(state, partner);
    state.gaToken = await client.signIn(partner.globalAdminEmail);
    const emails = { alice: `alice.${run}@contoso.example`, bob: `bob.${run}@contoso.example`, uma: `uma.${run}@contoso.example` };
    const ids = await importUsers(client, state.gaToken, [
      { externalId: `ext-alice-${run}`, email: emails.alice, givenName: 'Alice', familyName: 'Admin' },
      { externalId: `ext-bob-${run}`, email: emails.bob, givenName: 'Bob', familyName: 'Later' },
      { externalId: `ext-uma-${run}`, email: emails.uma, givenName: 'Uma', familyName: 'User' },
    ]);
    Object.assign(state, { emails, ids });
    await assignRole(client, state.gaToken, ids[emails.alice], 'INCENTIVES_ADMIN', [A]);
    await assignRole(client, state.gaToken, ids[emails.uma], 'INCENTIVES_USER', [A]);
    state.alice = await client.signIn(emails.alice);
    state.uma = await client.signIn(emails.uma);

    const admins = await client.expect(200, 'identity', 'GET', `/v1/locations/${A}/incentives-admins`, { token: state.gaToken });
    expect(JSON.stringify(admins)).toContain(emails.alice);
    expect(JSON.stringify(admins)).not.toContain(emails.bob);

    await client.expect(201, 'enrollment', 'POST', '/v1/programs', { operator: true, body: program(P, true) });
    await client.expect(201, 'enrollment', 'POST', '/v1/programs', { operator: true, body: program(OPEN, false) });
  });

  it(`2. "A eligible for P, ${CURRENT_FY}": the admin of A gets the invitation email and a home-page notice that goes away once selected`, async () => {
    // Invitations picks whom to invite from its own view of the roles: once it has Alice's role (and the program), the
    // decision invites her. Before, it would ask the Global admin to assign one first (and then invite her).
    // Step 1's answers came before identity's and enrollment's relays published its changes: once they have, what
    // `handled` waits for includes them.
    await platform.relayed('identity');
    await platform.relayed('enrollment');
    await handled('invitations', [Topics.identity, Topics.programs]);
    await eligibility(kafka, state.partnerId, A, P, true);
    const [mail] = await platform.smtp.waitFor(state.emails.alice, { timeoutMs: 60_000 });
    expect(mail.parsed.subject).toBe(SUBJECT);
    expect(addresses(mail.parsed.from)[0].name).toBe('Partner Center');
    const link = /href="([^"]+)"[^>]*>\s*Get Started/.exec(String(mail.parsed.html))?.[1];
    expect(link).toBeDefined();
    const url = new URL(decodeEntities(link!));
    expect(url.searchParams.get('programId')).toBe(P);
    expect(url.searchParams.get('locationId')).toBe(A);

    const notices = await eventually(async () => {
      const list = await client.expect(200, 'invitations', 'GET', '/v1/notices', { token: state.alice });
      const items = (list.items ?? list) as Array<{ invitationId: string; programId: string; locationId: string }>;
      const mine = items.filter((n) => n.programId === P && n.locationId === A);
      expect(mine).toHaveLength(1);
      return mine;
    });
    const selected = await client.expect(200, 'invitations', 'POST', `/v1/notices/${notices[0].invitationId}/select`, { token: state.alice });
    expect(selected.getStartedUrl).toBe(url.toString());
    const after = await client.expect(200, 'invitations', 'GET', '/v1/notices', { token: state.alice });
    expect(JSON.stringify(after)).not.toContain(notices[0].invitationId);
  });

  it('3. "B eligible" with no Incentives admin: the Global admin is asked to assign one; once assigned, that admin is invited', async () => {
    await eligibility(kafka, state.partnerId, B, P, true);
    const asked = await platform.smtp.waitFor(state.globalAdminEmail, { timeoutMs: 60_000 });
    expect(asked[0].parsed.subject).toMatch(/assign an Incentives admin/);
    expect(String(asked[0].parsed.text)).toContain(B);
    expect(platform.smtp.to(state.emails.bob)).toHaveLength(0);

    await assignRole(client, state.gaToken, state.ids[state.emails.bob], 'INCENTIVES_ADMIN', [B]);
    const [mail] = await platform.smtp.waitFor(state.emails.bob, { timeoutMs: 60_000 });
    expect(mail.parsed.subject).toBe(SUBJECT);
    expect(String(mail.parsed.html)).toContain(encodeURIComponent(B).replace(/%2D/g, '-'));
  });

  it('4. the admin of A enrolls with no profiles (Continue), creates a bank profile, makes it the default, adds the tax profile, enrolls again (proposed) and submits (Validating)', async () => {
    // Enroll needs, in the enrollment service's views, Alice's role on A and the eligible decision of step 2: wait for
    // both, then enroll once. The invitation's INVITED enrollment (if already consumed) is not started yet: 201.
    await eventually(async () => expect((await client.call('enrollment', 'GET', `/v1/enrollments?locationId=${A}`, { token: state.alice })).status).toBe(200), 60_000);
    await handled('enrollment', [Topics.eligibility]);
    const first = await client.expect(201, 'enrollment', 'POST', '/v1/enrollments', { token: state.alice, body: { programId: P, locationId: A } });
    expect(first.nextAction).toBe('CONTINUE');
    expect(first.status).toBe('ACTION_REQUIRED');
    expect(first.missing).toEqual(expect.arrayContaining(['BANK_PROFILE_MISSING', 'TAX_PROFILE_MISSING']));
    state.enrollmentId = first.enrollmentId;

    const bank = await client.expect(201, 'payout-profiles', 'POST', '/v1/bank-profiles', { token: state.alice, body: usBankProfile(`USD main ${run}`) });
    state.bankProfileId = bank.profileId ?? bank.id;
    await client.expect(201, 'payout-profiles', 'PUT', `/v1/locations/${A}/default-bank-profile`, {
      token: state.alice,
      body: { bankProfileId: state.bankProfileId, currency: 'USD' },
    });
    const tax = await client.expect(201, 'payout-profiles', 'POST', `/v1/locations/${A}/tax-profile`, { token: state.alice, body: usTaxProfile('Contoso Inc') });
    state.taxProfileId = tax.profileId ?? tax.id;
    expect(JSON.stringify(tax)).not.toContain('12-3456789');

    // Continue reads the profiles from the enrollment service's view: wait until the three facts are published and
    // consumed, then enroll again once (the enrollment exists and was started: 200).
    await published('ProfileCreated', { profileId: state.bankProfileId });
    await published('DefaultBankProfileAssigned', { locationId: A, bankProfileId: state.bankProfileId });
    await published('ProfileCreated', { profileId: state.taxProfileId });
    await handled('enrollment', [Topics.payoutProfiles]);
    const proposed = await client.expect(200, 'enrollment', 'POST', '/v1/enrollments', { token: state.alice, body: { programId: P, locationId: A } });
    expect(proposed.nextAction).toBe('SUBMIT');
    expect(proposed.status).toBe('INVITED');
    expect(proposed.enrollmentId).toBe(state.enrollmentId);
    expect(proposed.proposal).toEqual(expect.objectContaining({ bankProfileId: state.bankProfileId, taxProfileId: state.taxProfileId }));

    const submitted = await client.expect(200, 'enrollment', 'POST', `/v1/enrollments/${state.enrollmentId}/submit`, { token: state.alice });
    expect(submitted.status).toBe('VALIDATING');
  });

  it('5. the validator approves both profiles on the results topic: the enrollment is Enrolled and the admin is emailed', async () => {
    const requests = await kafka.watch([Topics.validationRequests]);
    for (const profileId of [state.bankProfileId, state.taxProfileId]) {
      const [request] = await requests.waitFor<{ profileId: string; profileKind: 'BANK' | 'TAX'; revision: number }>((m) => (m.envelope?.data as { profileId?: string })?.profileId === profileId, { timeoutMs: 30_000 });
      const { profileKind, revision } = request.envelope!.data;
      await kafka.publishEvent(Topics.validationResults, state.partnerId, {
        type: 'ProfileValidationCompleted',
        source: 'payments-back-office',
        partnerId: state.partnerId,
        data: { profileId, profileKind, revision, outcome: 'APPROVED', reasons: [] },
      });
    }
    await eventually(async () => {
      const enrollment = await client.expect(200, 'enrollment', 'GET', `/v1/enrollments/${state.enrollmentId}`, { token: state.alice });
      expect(enrollment.status).toBe('ENROLLED');
    }, 60_000);
    await eventually(async () => {
      const subjects = platform.smtp.to(state.emails.alice).map((m) => m.parsed.subject);
      expect(subjects.some((s) => /is enrolled in/.test(String(s)))).toBe(true);
    }, 60_000);
  });

  it('6. the open program is on the overview with no invitation email, even with an eligible decision; an Incentives user, another partner and an anonymous caller are refused', async () => {
    await client.expect(201, 'enrollment', 'POST', '/v1/programs', { operator: true, body: program(S, true) });
    const programsOfA = async () => {
      const body = await client.expect(200, 'invitations', 'GET', '/v1/overview', { token: state.alice });
      const location = (body.locations as Array<{ locationId: string; programs: Array<{ programId: string; invitationId?: string }> }>).find((l) => l.locationId === A);
      return location?.programs ?? [];
    };
    // The invitations service knows the open program (listed without any decision) before the decisions below. (S is
    // listed only once invited; a decision that comes before its program waits for it and then becomes the invitation.)
    await eventually(async () => expect((await programsOfA()).map((p) => p.programId)).toEqual(expect.arrayContaining([P, OPEN])), 60_000);

    // An eligible decision for the open program, then one for the sentinel program on the same key (A): the
    // sentinel's invitation email means the open program's decision was handled (and mailed, had it been invited).
    await eligibility(kafka, state.partnerId, A, OPEN, true);
    await eligibility(kafka, state.partnerId, A, S, true);
    await published('InvitationIssued', { programId: S, locationId: A });
    await eventually(async () => expect(invitationsTo(state.emails.alice, S)).toHaveLength(1), 60_000);
    await eventually(async () => {
      const list = await client.expect(200, 'invitations', 'GET', '/v1/notices', { token: state.alice });
      expect((list.items as Array<{ programId: string }>).map((n) => n.programId)).toContain(S);
    });

    expect(watch.ofType('InvitationIssued', (m) => (m.envelope?.data as { programId?: string })?.programId === OPEN)).toHaveLength(0);
    expect(platform.smtp.received.filter((m) => String(m.parsed.html).includes(OPEN) || String(m.parsed.text).includes(OPEN))).toHaveLength(0);
    expect(invitationsTo(state.emails.alice).map(invitationTarget).sort()).toEqual([`${P}@${A}`, `${S}@${A}`].sort());
    const notices = await client.expect(200, 'invitations', 'GET', '/v1/notices', { token: state.alice });
    expect((notices.items as Array<{ programId: string }>).map((n) => n.programId)).not.toContain(OPEN);
    // The same read shows the sentinel's invitation, and none for the open program.
    const programs = await programsOfA();
    expect(programs.find((p) => p.programId === S)?.invitationId).toEqual(expect.any(String));
    const open = programs.find((p) => p.programId === OPEN);
    expect(open).toBeDefined();
    expect(open!.invitationId).toBeUndefined();

    // An Incentives user reads but never enrolls.
    const asUser = await client.call('enrollment', 'POST', '/v1/enrollments', { token: state.uma, body: { programId: OPEN, locationId: A } });
    expect(asUser.status).toBe(403);
    expect(asUser.headers.get('content-type')).toContain('application/problem+json');
    expect((await client.call('enrollment', 'GET', `/v1/enrollments/${state.enrollmentId}`, { token: state.uma })).status).toBe(200);
    expect((await client.call('payout-profiles', 'POST', '/v1/bank-profiles', { token: state.uma, body: usBankProfile(`uma ${run}`) })).status).toBe(403);

    // Another partner sees nothing of this one.
    const other = await registerPartner(client, 'Fabrikam', [{ locationId: `LOC-F-${run}`, country: 'US' }]);
    const outsider = await client.signIn(other.globalAdminEmail);
    // Once each service knows the new user (from identity's events), another partner's resources are 404.
    await eventually(async () => expect((await client.call('enrollment', 'GET', `/v1/enrollments?locationId=LOC-F-${run}`, { token: outsider })).status).toBe(200));
    expect((await client.call('enrollment', 'GET', `/v1/enrollments/${state.enrollmentId}`, { token: outsider })).status).toBe(404);
    // payout-profiles consumes identity's events on its own: until it has this user, it answers 403 (no roles yet).
    await eventually(async () => expect((await client.call('payout-profiles', 'GET', '/v1/bank-profiles', { token: outsider })).status).toBe(200));
    expect((await client.call('payout-profiles', 'GET', `/v1/bank-profiles/${state.bankProfileId}`, { token: outsider })).status).toBe(404);
    expect((await client.call('identity', 'GET', `/v1/users/${state.ids[state.emails.alice]}`, { token: outsider })).status).toBe(404);

    // Nobody signed in: 401 everywhere.
    for (const [service, path] of [['enrollment', '/v1/enrollments'], ['invitations', '/v1/overview'], ['payout-profiles', '/v1/bank-profiles'], ['notification', '/v1/inbox'], ['identity', '/v1/users']] as const) {
      expect((await client.call(service, 'GET', path)).status).toBe(401);
    }
  });

  it(`7. rollover: continued into ${NEXT_FY} while the agreement is active; expired with the reason after the agreement goes inactive`, async () => {
    // 200 when done: the renewed enrollment is there as soon as it answers.
    const report = await client.expect(200, 'enrollment', 'POST', '/v1/operator/rollover', { operator: true, body: { fromFiscalYear: CURRENT_FY } });
    expect(report).toMatchObject({ fromFiscalYear: CURRENT_FY, toFiscalYear: NEXT_FY, renewed: 1, complete: true });
    const list = await client.expect(200, 'enrollment', 'GET', `/v1/enrollments?locationId=${A}&programId=${P}`, { token: state.alice });
    const renewed = (list.items as Array<{ fiscalYear: string; status: string; enrollmentId: string }>).find((e) => e.fiscalYear === NEXT_FY);
    expect(renewed?.status).toBe('ENROLLED');

    await kafka.publishEvent(Topics.agreements, state.partnerId, {
      type: 'AgreementStatusChanged',
      source: 'agreements-system',
      partnerId: state.partnerId,
      data: { partnerId: state.partnerId, active: false },
    });
    // The enrollment service learns of it from the topic; once it has, the next rollover expires the enrollment.
    await handled('enrollment', [Topics.agreements]);
    // NEXT_FY is not over: a run now leaves the enrollment valid until the year ends (SPEC 1, Enrollment 6). The operator
    // ends the year early on purpose (endYearNow), as the run at its end would decide.
    const early = await client.expect(200, 'enrollment', 'POST', '/v1/operator/rollover', { operator: true, body: { fromFiscalYear: NEXT_FY } });
    expect(early).toMatchObject({ fromFiscalYear: NEXT_FY, renewed: 0, expired: 0, leftForYearEnd: 1, complete: true });
    expect((await client.expect(200, 'enrollment', 'GET', `/v1/enrollments/${renewed!.enrollmentId}`, { token: state.alice })).status).toBe('ENROLLED');
    const second = await client.expect(200, 'enrollment', 'POST', '/v1/operator/rollover', { operator: true, body: { fromFiscalYear: NEXT_FY, endYearNow: true } });
    expect(second).toMatchObject({ fromFiscalYear: NEXT_FY, renewed: 0, expired: 1, complete: true });
    const enrollment = await client.expect(200, 'enrollment', 'GET', `/v1/enrollments/${renewed!.enrollmentId}`, { token: state.alice });
    expect(enrollment.status).toBe('EXPIRED');
    expect(JSON.stringify(enrollment.reasons)).toMatch(/agreement/i);
    await eventually(async () => {
      const expired = platform.smtp.to(state.emails.alice).filter((m) => /has expired/.test(String(m.parsed.subject)) && String(m.parsed.subject).includes(PROGRAM_NAMES[P]));
      expect(expired.map((m) => String(m.parsed.text).match(/agreement/i) !== null)).toEqual([true]);
    }, 60_000);
  });

  it('sent every email once: each (recipient, subject), and each invitation per program and location, exactly as many times as expected', async () => {
    const { alice, bob, uma } = state.emails;
    const [a, b, growth] = [locationLabel('Contoso', A), locationLabel('Contoso', B), PROGRAM_NAMES[P]];
    // Every email of the journey, each once (the Incentives user gets none); the last ones were awaited above.
    await eventually(
      async () =>
        expect(mailCounts([alice, bob, uma, state.globalAdminEmail])).toEqual({
          [`${alice} | ${SUBJECT} | ${P}@${A}`]: 1,
          [`${alice} | ${SUBJECT} | ${S}@${A}`]: 1,
          [`${alice} | Action required: ${growth} enrollment for ${a}`]: 1,
          [`${alice} | ${growth} enrollment for ${a}: validating enrollment`]: 1,
          [`${alice} | ${a} is enrolled in ${growth}`]: 1,
          [`${alice} | ${growth} enrollment for ${a} continues into ${NEXT_FY}`]: 1,
          [`${alice} | ${growth} enrollment for ${a} has expired`]: 1,
          [`${bob} | ${SUBJECT} | ${P}@${B}`]: 1,
          [`${state.globalAdminEmail} | Action needed: assign an Incentives admin to ${b}`]: 1,
        }),
      30_000,
      250,
    );
  });
});

/** The services that consume events (identity only publishes). */
const CONSUMING = ['invitations', 'enrollment', 'payout-profiles', 'notification'] as const;

/** The samples of `name` on a service's /metrics. */
async function samples(service: ServiceName, name: string): Promise<Array<{ labels: string; value: number }>> {
  const text = await (await fetch(`${platform.url(service)}/metrics`)).text();
  return [...text.matchAll(new RegExp(`^${name}(?:\\{([^}]*)\\})? (\\S+)$`, 'gm'))].map((match) => ({ labels: match[1] ?? '', value: Number(match[2]) }));
}

/**
 * As /metrics tells it: every consumer group has caught up (lag 0 on every partition it reads), every outbox relay
 * drains with nothing left unpublished, and no email waits (none due, none waiting for a retry).
 */
async function settledEverywhere(timeoutMs = 30_000): Promise<void> {
  await eventually(async () => {
    for (const service of CONSUMING) {
      const lag = await samples(service, 'kafka_consumer_group_lag');
      expect({ service, partitions: lag.length > 0 }).toEqual({ service, partitions: true });
      expect({ service, behind: lag.filter(({ value }) => value > 0) }).toEqual({ service, behind: [] });
    }
    for (const service of SERVICES) {
      const [lastSuccess] = await samples(service, 'outbox_relay_last_success_timestamp_seconds');
      expect({ service, recent: Date.now() / 1_000 - lastSuccess.value < 30 }).toEqual({ service, recent: true });
      expect({ service, oldest: (await samples(service, 'outbox_oldest_unpublished_seconds'))[0].value }).toEqual({ service, oldest: 0 });
    }
  }, timeoutMs, 1_000);
  await eventually(async () => {
    const [due, oldest, retrying] = await Promise.all(
      ['notification_emails_due', 'notification_email_oldest_due_seconds', 'notification_emails_retry_scheduled'].map(async (name) => (await samples('notification', name)).map(({ value }) => value)),
    );
    expect({ due, oldest, retrying }).toEqual({ due: [0], oldest: [0], retrying: [0] });
  }, timeoutMs, 1_000);
}

describe("what /metrics tells a platform team after the journey", () => {
  it('every consumer group has caught up (lag 0 on every partition it reads), every outbox relay drains with nothing left unpublished, and no email waits', async () => {
    await settledEverywhere();
    // Notification reads identity events in a group of its own: both of its groups are there.
    const groups = new Set((await samples('notification', 'kafka_consumer_group_lag')).map(({ labels }) => /group="([^"]+)"/.exec(labels)?.[1]));
    expect([...groups].some((group) => group?.endsWith('-identity'))).toBe(true);
    expect(groups.size).toBe(2);
  });
});

describe('surviving faults in the middle of the journey', () => {
  const F = `LOC-FA-${run}`;
  const f: Record<string, any> = {};
  /** Role-guarded reads of each service: 200 for a user with a role on F, 403 for a user of the partner without one. */
  const needsRoleOnF = (): Array<[ServiceName, string]> => [
    ['enrollment', `/v1/enrollments?locationId=${F}`],
    ['invitations', `/v1/invitations?locationId=${F}`],
    ['payout-profiles', `/v1/readiness?programId=${P}&locationId=${F}`],
  ];
  const statusesOnF = async (token: string) =>
    Promise.all(needsRoleOnF().map(async ([service, path]) => `${service} ${(await client.call(service, 'GET', path, { token })).status}`));

  it('kill -9 of identity after creating a user and giving a role, before its relay could publish them, then a restart: the user and the role still reach every service', async () => {
    const partner = await registerPartner(client, 'Northwind', [{ locationId: F, country: 'US' }]);
    Object.assign(f, partner);
    f.gaToken = await client.signIn(partner.globalAdminEmail);
    f.adminEmail = `dana.${run}@northwind.example`;
    // The partner and its Global admin reached every service (so what is left unpublished below is the user's).
    await eventually(async () => expect(await statusesOnF(f.gaToken)).toEqual(needsRoleOnF().map(([service]) => `${service} 200`)), 60_000, 250);

    // The crash window, made real: with the broker down, identity's relay cannot publish what the two writes put in
    // its outbox, so the kill -9 surely comes before the events left the process.
    await broker.stop();
    const user = await client.expect(201, 'identity', 'POST', '/v1/users', { token: f.gaToken, body: { email: f.adminEmail, displayName: 'Dana Admin' } });
    await assignRole(client, f.gaToken, user.userId, 'INCENTIVES_ADMIN', [F]);
    f.admin = await client.signIn(f.adminEmail);
    // No service knows the role yet.
    expect(await statusesOnF(f.admin)).toEqual(needsRoleOnF().map(([service]) => `${service} 403`));
    await platform.kill('identity');

    // The one look inside: both events are still in the user's outbox after the kill (never published).
    expect(await outboxTypes('identity', 'users', user.userId)).toEqual(['UserCreated', 'RoleAssigned']);

    await restartBroker();
    await platform.startService('identity');

    // Published by the restarted identity, the user and the role reach every service: each answers its role-guarded
    // read with 200 (it answered 403 above), and identity still has the role.
    await eventually(async () => expect(await statusesOnF(f.admin)).toEqual(needsRoleOnF().map(([service]) => `${service} 200`)), 120_000, 500);
    const dana = await client.expect(200, 'identity', 'GET', `/v1/users/${user.userId}`, { token: f.gaToken });
    expect(dana.roles).toEqual([expect.objectContaining({ role: 'INCENTIVES_ADMIN', locationIds: [F] })]);
    const me = await client.expect(200, 'identity', 'GET', '/v1/me', { token: f.admin });
    expect(me.email).toBe(f.adminEmail);
  });

  // Unlike the kills around it, this one does not hold its window open (both services read from the broker, which
  // must run): each kill lands wherever the service is, before, during or after the handling; whichever, one email.
  it('kill -9 of invitations as the decision is published, and of notification as the invitation is: one email, once, wherever the kills land', async () => {
    await eligibility(kafka, f.partnerId, F, P, true);
    await platform.kill('invitations');
    await platform.startService('invitations');
    await published('InvitationIssued', { programId: P, locationId: F });
    await platform.kill('notification');
    await platform.startService('notification');
    await eventually(async () => expect(invitationsTo(f.adminEmail, P).length).toBeGreaterThan(0), 60_000);
    // Sentinel: a later decision on the same key (F). Its invitation is on the same partition after P's, so once its
    // email is here, a redelivery of P's invitation would have been mailed already.
    await eligibility(kafka, f.partnerId, F, S, true);
    await eventually(async () => expect(invitationsTo(f.adminEmail, S)).toHaveLength(1), 60_000);
    // An email the kill caught in the middle of a send is sent again only once its lease expires (NOTIFY_LEASE_MS,
    // 60 s), long after the sentinel: count once every email of P's invitations has its final status.
    const issuedForP = () => watch.ofType<{ programId: string; locationId: string }>('InvitationIssued', (m) => m.envelope!.data.programId === P && m.envelope!.data.locationId === F);
    const mongo = new MongoClient(process.env.MONGO_URL!);
    let emails: Array<{ _id: string; status: string; attempts: number }>;
    try {
      const messages = mongo.db(platform.database('notification')).collection<{ _id: string; status: string; attempts: number }>('messages');
      emails = await eventually(async () => {
        const found = await messages.find({ channel: 'EMAIL', causationEventId: { $in: issuedForP().map((m) => m.envelope!.eventId) } }).toArray();
        expect(found.length).toBeGreaterThan(0);
        expect(found.filter((e) => !['SENT', 'FAILED', 'CANCELLED'].includes(e.status)).map((e) => `${e._id} ${e.status}`)).toEqual([]);
        return found;
      }, 90_000, 500);
    } finally {
      await mongo.close();
    }
    // One email: one message, one Message-ID. The kill may land after the SMTP server accepted it and before the SENT
    // write; then, and only then, the same email (same Message-ID) went out again on a second claim after its lease.
    expect(emails.map((e) => e.status)).toEqual(['SENT']);
    const mails = invitationsTo(f.adminEmail, P);
    expect(mails.map((m) => m.parsed.messageId)).toEqual(mails.map(() => mailMessageId(emails[0]._id)));
    if (mails.length > 1) {
      expect(mails).toHaveLength(2);
      expect(emails[0].attempts).toBeGreaterThanOrEqual(2);
      resentAfterKill.add(mails[0].parsed.messageId!);
    } else {
      expect(mails).toHaveLength(1);
    }
  });

  it('kill -9 of payout-profiles right after a profile is created, and of enrollment right after Submit, before their relays could publish: no event lost', async () => {
    // The crash window, made real as for identity: with the broker down, the relay cannot publish what the write put
    // in the outbox, so the kill -9 surely comes before the event left the process.
    await broker.stop();
    const bank = await client.expect(201, 'payout-profiles', 'POST', '/v1/bank-profiles', { token: f.admin, body: usBankProfile(`USD ${run}`) });
    f.bankProfileId = bank.profileId ?? bank.id;
    await platform.kill('payout-profiles');
    expect(await outboxTypes('payout-profiles', 'bank_profiles', f.bankProfileId)).toContain('ProfileCreated');
    await restartBroker();
    await platform.startService('payout-profiles');
    await client.expect(201, 'payout-profiles', 'PUT', `/v1/locations/${F}/default-bank-profile`, { token: f.admin, body: { bankProfileId: f.bankProfileId, currency: 'USD' } });
    const tax = await client.expect(201, 'payout-profiles', 'POST', `/v1/locations/${F}/tax-profile`, { token: f.admin, body: usTaxProfile('Northwind Inc') });
    f.taxProfileId = tax.profileId ?? tax.id;
    // Enroll reads the eligible decision and the three profile facts from the enrollment service's views: wait until
    // they are published (the bank profile's by the restarted payout-profiles) and consumed, then enroll once.
    await published('ProfileCreated', { profileId: f.bankProfileId });
    await published('DefaultBankProfileAssigned', { locationId: F, bankProfileId: f.bankProfileId });
    await published('ProfileCreated', { profileId: f.taxProfileId });
    await handled('enrollment', [Topics.eligibility, Topics.payoutProfiles]);
    const enrollment = await client.expect(201, 'enrollment', 'POST', '/v1/enrollments', { token: f.admin, body: { programId: P, locationId: F } });
    expect(enrollment).toMatchObject({ status: 'INVITED', nextAction: 'SUBMIT', missing: [] });
    f.enrollmentId = enrollment.enrollmentId;
    await published('EnrollmentStarted', { enrollmentId: f.enrollmentId });

    await broker.stop();
    const submitted = await client.expect(200, 'enrollment', 'POST', `/v1/enrollments/${f.enrollmentId}/submit`, { token: f.admin });
    expect(submitted.status).toBe('VALIDATING');
    await platform.kill('enrollment');
    expect(await outboxTypes('enrollment', 'enrollments', f.enrollmentId)).toContain('EnrollmentValidating');
    await restartBroker();
    await platform.startService('enrollment');
    await published('EnrollmentValidating', { enrollmentId: f.enrollmentId });
  });

  it('a restart of the Kafka broker, and malformed messages on every external topic: they are dead-lettered and the journey goes on', async () => {
    await broker.stop();
    await new Promise((r) => setTimeout(r, 2_000));
    broker = await startKafka({ root: PROJECT_ROOT, dataDir: brokerDir, ...brokerPorts });
    const dead = await kafka.watch([Topics.eligibility, Topics.agreements, Topics.validationResults].map(deadLetterTopic));
    for (const topic of [Topics.eligibility, Topics.agreements, Topics.validationResults]) {
      await kafka.publish(topic, f.partnerId, '{"this is": "not an envelope"');
    }
    const requests = await kafka.watch([Topics.validationRequests]);
    for (const profileId of [f.bankProfileId, f.taxProfileId]) {
      const [request] = await requests.waitFor<{ profileId: string; profileKind: 'BANK' | 'TAX'; revision: number }>((m) => (m.envelope?.data as { profileId?: string })?.profileId === profileId, { timeoutMs: 60_000 });
      await kafka.publishEvent(Topics.validationResults, f.partnerId, {
        type: 'ProfileValidationCompleted',
        source: 'payments-back-office',
        partnerId: f.partnerId,
        data: { profileId, profileKind: request.envelope!.data.profileKind, revision: request.envelope!.data.revision, outcome: 'APPROVED', reasons: [] },
      });
    }
    await eventually(async () => {
      const enrollment = await client.expect(200, 'enrollment', 'GET', `/v1/enrollments/${f.enrollmentId}`, { token: f.admin });
      expect(enrollment.status).toBe('ENROLLED');
    }, 90_000);
    const enrolledMails = await eventually(async () => {
      const mails = platform.smtp.to(f.adminEmail).filter((m) => /is enrolled in/.test(String(m.parsed.subject)));
      expect(mails.length).toBeGreaterThan(0);
      return mails;
    }, 60_000);
    expect(enrolledMails).toHaveLength(1);

    // Each consumer of an external topic dead-lettered the malformed message with where it came from.
    const expected: Array<[string, string]> = [
      [Topics.eligibility, platform.groupId('invitations')],
      [Topics.eligibility, platform.groupId('enrollment')],
      [Topics.agreements, platform.groupId('enrollment')],
      [Topics.validationResults, platform.groupId('payout-profiles')],
    ];
    for (const [topic, group] of expected) {
      await dead.waitFor(
        (m) => m.headers[DeadLetterHeaders.originalTopic] === topic && m.headers[DeadLetterHeaders.consumerGroup] === group && m.key === f.partnerId,
        { timeoutMs: 60_000 },
      );
    }
  });

  it('sent no email twice through all of it', async () => {
    const [fa, growth] = [locationLabel('Northwind', F), PROGRAM_NAMES[P]];
    await eventually(
      async () =>
        expect(mailCounts([f.adminEmail, f.globalAdminEmail])).toEqual({
          [`${f.adminEmail} | ${SUBJECT} | ${P}@${F}`]: 1,
          [`${f.adminEmail} | ${SUBJECT} | ${S}@${F}`]: 1,
          [`${f.adminEmail} | ${growth} enrollment for ${fa}: validating enrollment`]: 1,
          [`${f.adminEmail} | ${fa} is enrolled in ${growth}`]: 1,
        }),
      30_000,
      250,
    );
    // Nor anything of the journey again after the restarts: no (recipient, subject[, invitation]) twice in the whole run.
    const everyMail = mailCounts(platform.smtp.received.flatMap((m) => m.to));
    expect(Object.entries(everyMail).filter(([, count]) => count !== 1)).toEqual([]);
    expect(Object.keys(everyMail)).toHaveLength(13);
  });
});

describe('what the services logged through all of it', () => {
  // SPEC 1, Payout and tax profiles 5: account numbers and tax ids are never logged. The journey sent them in bodies,
  // the services validated, stored, encrypted and published around them, and some were killed and restarted.
  it('no log line of any service holds an account number or a tax id the journey sent', () => {
    const bank = usBankProfile('x').account.accountNumber;
    const tin = usTaxProfile('x').taxId;
    const secrets = [bank, tin, tin.replace('-', '')];
    for (const service of SERVICES) {
      const lines = readFileSync(platform.logFile(service), 'utf8').split('\n').filter(Boolean);
      expect(lines.length).toBeGreaterThan(10); // it logged: the check below looks at something
      const leaking = lines.filter((line) => secrets.some((secret) => line.includes(secret)));
      expect({ service, leaking }).toEqual({ service, leaking: [] });
    }
  });
});

describe('replaying every topic from the start (SPEC 5)', () => {
  /** What says when something ran, not what the events made: the ledger (emptied here), scheduled jobs' marks. */
  const WHEN_IT_RAN = ['processed_events', 'job_marks'];

  /** Every document of the service's database, as stored; what only says when or by whom something ran left out. */
  async function stateOf(service: ServiceName): Promise<Record<string, unknown[]>> {
    const mongo = await MongoClient.connect(process.env.MONGO_URL!);
    try {
      const db = mongo.db(platform.database(service));
      const state: Record<string, unknown[]> = {};
      for (const { name } of await db.listCollections({}, { nameOnly: true }).toArray()) {
        if (WHEN_IT_RAN.includes(name)) continue;
        state[name] = await db.collection(name).find({}, { projection: { outbox: 0 } }).sort({ _id: 1 }).toArray();
      }
      return state;
    } finally {
      await mongo.close();
    }
  }

  /** The ids of the events the service's ledger holds, sorted. */
  async function ledgerOf(service: ServiceName): Promise<string[]> {
    const mongo = await MongoClient.connect(process.env.MONGO_URL!);
    try {
      const entries = await mongo.db(platform.database(service)).collection('processed_events').find({}, { projection: { _id: 1 } }).toArray();
      return entries.map((e) => String(e._id)).sort();
    } finally {
      await mongo.close();
    }
  }

  it('with every processed-event ledger emptied, changes no state of any service and sends no email again', async () => {
    const admin = new Kafka({ brokers: process.env.KAFKA_BROKERS!.split(','), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    /** The topics the group has committed offsets on (the admin lists every topic, -1 where it has none). */
    const committedTopics = async (groupId: string) =>
      (await admin.fetchOffsets({ groupId })).filter((t) => t.partitions.some((p) => p.offset !== '-1')).map((t) => t.topic);
    try {
      const settled = () => settledEverywhere(120_000);
      await settled();
      const mails = platform.smtp.received.length;
      const before = Object.fromEntries(await Promise.all(CONSUMING.map(async (s) => [s, await stateOf(s)] as const)));
      const ledgerBefore = await Promise.all(CONSUMING.map(ledgerOf));

      await Promise.all(CONSUMING.map((service) => platform.kill(service, 'SIGTERM')));
      const mongo = await MongoClient.connect(process.env.MONGO_URL!);
      try {
        for (const service of CONSUMING) {
          await mongo.db(platform.database(service)).collection('processed_events').deleteMany({});
          const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(platform.groupId(service)));
          for (const groupId of groups) {
            for (const topic of await committedTopics(groupId)) await admin.resetOffsets({ groupId, topic, earliest: true });
          }
        }
      } finally {
        await mongo.close();
      }
      await Promise.all(CONSUMING.map((service) => platform.startService(service)));
      await settled();

      const after = Object.fromEntries(await Promise.all(CONSUMING.map(async (s) => [s, await stateOf(s)] as const)));
      const changed: string[] = [];
      for (const service of CONSUMING) {
        for (const name of new Set([...Object.keys(before[service]), ...Object.keys(after[service])])) {
          const [was, is] = [JSON.stringify(before[service][name] ?? []), JSON.stringify(after[service][name] ?? [])];
          if (was !== is) changed.push(`${service}.${name}: ${was.slice(0, 3000)}\n  NOW ${is.slice(0, 3000)}`);
        }
      }
      expect(changed).toEqual([]);
      expect(platform.smtp.received.length).toBe(mails);
      // Not vacuous: every event was handled again (each ledger holds again what it held).
      expect(await Promise.all(CONSUMING.map(ledgerOf))).toEqual(ledgerBefore);
      expect(ledgerBefore.every((ids) => ids.length > 10)).toBe(true);
    } finally {
      await admin.disconnect();
    }
  }, 600_000);
});
