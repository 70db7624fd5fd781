/**
 * The article's story, end to end: five services as processes, real Kafka, MongoDB and SMTP, spoken to only as
 * outside systems and people would (HTTP, Kafka, SMTP).
 */
import { Topics } from '@lib/contracts';
import { deadLetterTopic, DeadLetterHeaders } from '@lib/contracts';
import { addresses, freePort, PROJECT_ROOT, TestKafka, TopicWatch, uniqueName } from '@lib/testing';
import { startKafka } from '@lib/testing/infra/kafka';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { assignRole, Client, eligibility, eventually, importUsers, registerPartner, usBankProfile, usTaxProfile } from './client';
import { Platform } from './platform';

jest.setTimeout(180_000);

const SUBJECT = 'Partner Incentive Enrollment Invitation';
const platform = new Platform();
const client = new Client(platform);
let kafka: TestKafka;
let watch: TopicWatch;
let broker: { brokers: string[]; stop(): Promise<void> };
let brokerDir: string;
let brokerPorts: { brokerPort: number; controllerPort: number };

const run = randomUUID().slice(0, 6);
const P = `P-${run}`; // the program that needs eligibility
const OPEN = `OPEN-${run}`; // an open program
const A = `LOC-A-${run}`;
const B = `LOC-B-${run}`;
const state: Record<string, any> = {};

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

beforeAll(async () => {
  // Its own broker, so the fault suite can restart it where the services expect it.
  brokerDir = join(PROJECT_ROOT, '.local', 'run', uniqueName('e2e-kafka'));
  brokerPorts = { brokerPort: await freePort(), controllerPort: await freePort() };
  broker = await startKafka({ root: PROJECT_ROOT, dataDir: brokerDir, ...brokerPorts });
  process.env.KAFKA_BROKERS = broker.brokers.join(',');
  await platform.start();
  kafka = new TestKafka();
  watch = await kafka.watch([Topics.invitations, Topics.enrollments, Topics.notifications]);
}, 300_000);

afterAll(async () => {
  await kafka?.close();
  await platform.stop();
  await broker?.stop();
  if (brokerDir) rmSync(brokerDir, { recursive: true, force: true });
});

const program = (programId: string, requiresEligibility: boolean) => ({
  programId,
  name: requiresEligibility ? `Azure Growth ${run}` : `Open Skilling ${run}`,
  fiscalYear: 'FY27',
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

  it('2. "A eligible for P, FY27": the admin of A gets the invitation email and a home-page notice that goes away once selected', async () => {
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
    const first = await client.expect(201, 'enrollment', 'POST', '/v1/enrollments', { token: state.alice, body: { programId: P, locationId: A } }).catch(async () =>
      client.expect(200, 'enrollment', 'POST', '/v1/enrollments', { token: state.alice, body: { programId: P, locationId: A } }),
    );
    expect(first.nextAction).toBe('CONTINUE');
    expect(first.status).toBe('ACTION_REQUIRED');
    expect(first.missing).toEqual(expect.arrayContaining(['BANK_PROFILE_MISSING', 'TAX_PROFILE_MISSING']));
    state.enrollmentId = first.enrollmentId;

    const bank = await client.expect(201, 'payout-profiles', 'POST', '/v1/bank-profiles', { token: state.alice, body: usBankProfile(`USD main ${run}`) });
    state.bankProfileId = bank.profileId ?? bank.id;
    await client.expect(200, 'payout-profiles', 'PUT', `/v1/locations/${A}/default-bank-profile`, {
      token: state.alice,
      body: { bankProfileId: state.bankProfileId, currency: 'USD' },
    });
    const tax = await client.expect(201, 'payout-profiles', 'POST', `/v1/locations/${A}/tax-profile`, { token: state.alice, body: usTaxProfile('Contoso Inc') });
    state.taxProfileId = tax.profileId ?? tax.id;
    expect(JSON.stringify(tax)).not.toContain('12-3456789');

    const proposed = await eventually(async () => {
      const again = await client.call('enrollment', 'POST', '/v1/enrollments', { token: state.alice, body: { programId: P, locationId: A } });
      expect([200, 201]).toContain(again.status);
      expect(again.body.nextAction).toBe('SUBMIT');
      return again.body;
    }, 30_000);
    expect(proposed.enrollmentId).toBe(state.enrollmentId);
    expect(proposed.proposal).toEqual(expect.objectContaining({ bankProfileId: state.bankProfileId, taxProfileId: state.taxProfileId }));

    const submitted = await client.expect(200, 'enrollment', 'POST', `/v1/enrollments/${state.enrollmentId}/submit`, { token: state.alice }).catch(async () =>
      client.expect(201, 'enrollment', 'POST', `/v1/enrollments/${state.enrollmentId}/submit`, { token: state.alice }),
    );
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

  it('6. the open program is on the overview with no invitation email; an Incentives user, another partner and an anonymous caller are refused', async () => {
    const overview = await eventually(async () => {
      const body = await client.expect(200, 'invitations', 'GET', '/v1/overview', { token: state.alice });
      expect(JSON.stringify(body)).toContain(OPEN);
      return body;
    });
    expect(JSON.stringify(overview)).toContain(P);
    expect(watch.ofType('InvitationIssued', (m) => (m.envelope?.data as { programId?: string })?.programId === OPEN)).toHaveLength(0);
    expect(platform.smtp.received.filter((m) => String(m.parsed.html).includes(OPEN))).toHaveLength(0);

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
    expect((await client.call('payout-profiles', 'GET', `/v1/bank-profiles/${state.bankProfileId}`, { token: outsider })).status).toBe(404);
    expect((await client.call('identity', 'GET', `/v1/users/${state.ids[state.emails.alice]}`, { token: outsider })).status).toBe(404);

    // Nobody signed in: 401 everywhere.
    for (const [service, path] of [['enrollment', '/v1/enrollments'], ['invitations', '/v1/overview'], ['payout-profiles', '/v1/bank-profiles'], ['notification', '/v1/inbox'], ['identity', '/v1/users']] as const) {
      expect((await client.call(service, 'GET', path)).status).toBe(401);
    }
  });

  it('7. rollover: continued into FY28 while the agreement is active; expired with the reason after the agreement goes inactive', async () => {
    await client.expect(200, 'enrollment', 'POST', '/v1/operator/rollover', { operator: true, body: { fromFiscalYear: 'FY27' } }).catch(async () =>
      client.expect(202, 'enrollment', 'POST', '/v1/operator/rollover', { operator: true, body: { fromFiscalYear: 'FY27' } }),
    );
    const renewed = await eventually(async () => {
      const list = await client.expect(200, 'enrollment', 'GET', `/v1/enrollments?locationId=${A}&programId=${P}`, { token: state.alice });
      const items = (list.items ?? list) as Array<{ fiscalYear: string; status: string; enrollmentId: string }>;
      const fy28 = items.find((e) => e.fiscalYear === 'FY28');
      expect(fy28?.status).toBe('ENROLLED');
      return fy28!;
    }, 60_000);

    await kafka.publishEvent(Topics.agreements, state.partnerId, {
      type: 'AgreementStatusChanged',
      source: 'agreements-system',
      partnerId: state.partnerId,
      data: { partnerId: state.partnerId, active: false },
    });
    // The enrollment service learns of it from the topic; the next rollover expires the enrollment.
    await eventually(async () => {
      await client.call('enrollment', 'POST', '/v1/operator/rollover', { operator: true, body: { fromFiscalYear: 'FY28' } });
      const enrollment = await client.expect(200, 'enrollment', 'GET', `/v1/enrollments/${renewed.enrollmentId}`, { token: state.alice });
      expect(enrollment.status).toBe('EXPIRED');
      expect(JSON.stringify(enrollment.reasons ?? enrollment)).toMatch(/agreement/i);
    }, 60_000, 1_000);
    await eventually(async () => {
      const expired = platform.smtp.to(state.emails.alice).filter((m) => /has expired/.test(String(m.parsed.subject)));
      expect(expired).toHaveLength(1);
      expect(String(expired[0].parsed.text)).toMatch(/agreement/i);
    }, 60_000);
  });

  it('sent every email once: no (recipient, subject) twice', () => {
    const seen = platform.smtp.received.map((m) => `${m.to.join(',')}|${m.parsed.subject}|${m.parsed.messageId}`);
    expect(new Set(seen).size).toBe(seen.length);
  });
});

describe('surviving faults in the middle of the journey', () => {
  const F = `LOC-FA-${run}`;
  const f: Record<string, any> = {};
  const invitationsTo = (email: string) => platform.smtp.to(email).filter((m) => m.parsed.subject === SUBJECT);

  it('kill -9 of identity after creating a user, then a restart: the user and the role still reach every service', async () => {
    const partner = await registerPartner(client, 'Northwind', [{ locationId: F, country: 'US' }]);
    Object.assign(f, partner);
    f.gaToken = await client.signIn(partner.globalAdminEmail);
    f.adminEmail = `dana.${run}@northwind.example`;
    const user = await client.expect(201, 'identity', 'POST', '/v1/users', { token: f.gaToken, body: { email: f.adminEmail, displayName: 'Dana Admin' } });
    await platform.kill('identity');
    await platform.startService('identity');
    await assignRole(client, f.gaToken, user.userId, 'INCENTIVES_ADMIN', [F]);
    f.admin = await client.signIn(f.adminEmail);
  });

  it('kill -9 of invitations right after the decision, and of notification right after the invitation: one email, once', async () => {
    await eligibility(kafka, f.partnerId, F, P, true);
    await platform.kill('invitations');
    await platform.startService('invitations');
    await watch.waitFor((m) => m.envelope?.type === 'InvitationIssued' && (m.envelope.data as { locationId?: string }).locationId === F, { timeoutMs: 60_000 });
    await platform.kill('notification');
    await platform.startService('notification');
    await platform.smtp.waitFor(f.adminEmail, { timeoutMs: 60_000 });
    await new Promise((r) => setTimeout(r, 2_000));
    expect(invitationsTo(f.adminEmail)).toHaveLength(1);
  });

  it('kill -9 of payout-profiles right after a profile is created, and of enrollment right after Submit: no event lost', async () => {
    const bank = await client.expect(201, 'payout-profiles', 'POST', '/v1/bank-profiles', { token: f.admin, body: usBankProfile(`USD ${run}`) });
    f.bankProfileId = bank.profileId ?? bank.id;
    await platform.kill('payout-profiles');
    await platform.startService('payout-profiles');
    await client.expect(200, 'payout-profiles', 'PUT', `/v1/locations/${F}/default-bank-profile`, { token: f.admin, body: { bankProfileId: f.bankProfileId, currency: 'USD' } });
    const tax = await client.expect(201, 'payout-profiles', 'POST', `/v1/locations/${F}/tax-profile`, { token: f.admin, body: usTaxProfile('Northwind Inc') });
    f.taxProfileId = tax.profileId ?? tax.id;
    const enrollment = await eventually(async () => {
      const answer = await client.call('enrollment', 'POST', '/v1/enrollments', { token: f.admin, body: { programId: P, locationId: F } });
      expect(answer.body.nextAction).toBe('SUBMIT');
      return answer.body;
    }, 60_000);
    f.enrollmentId = enrollment.enrollmentId;
    const submitted = await client.call('enrollment', 'POST', `/v1/enrollments/${f.enrollmentId}/submit`, { token: f.admin });
    expect([200, 201]).toContain(submitted.status);
    await platform.kill('enrollment');
    await platform.startService('enrollment');
    await watch.waitFor((m) => m.envelope?.type === 'EnrollmentValidating' && (m.envelope.data as { enrollmentId?: string }).enrollmentId === f.enrollmentId, { timeoutMs: 60_000 });
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

  it('sent no email twice through all of it', () => {
    expect(invitationsTo(f.adminEmail)).toHaveLength(1);
    const seen = platform.smtp.received.map((m) => `${m.to.join(',')}|${m.parsed.messageId}`);
    expect(new Set(seen).size).toBe(seen.length);
  });
});
