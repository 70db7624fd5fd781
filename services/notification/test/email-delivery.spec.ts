import { createEnvelope, EmailDeadLettered, Envelope, fiscalYearOf, fiscalYearRange, MissingPayoutItemReasons, nextFiscalYear, NotificationFailed, NotificationSent, parseEvent, Topics } from '@lib/contracts';
import { AccessViewUpdater } from '@lib/access';
import { eventually, OPERATOR_KEY, outboxSettled, RunningService, TestIssuer, TestKafka, TopicWatch } from '@lib/testing';
import { MongoClient } from 'mongodb';
import { randomUUID } from 'node:crypto';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { DeliverEmail } from '../src/delivery/usecases/deliver-email.use-case';
import { CreateMessages } from '../src/messages/usecases/create-messages.use-case';
import { IdentityCatchUp } from '../src/recipients/identity-catch-up';
import { bootNotification } from './support/boot';
import { addresses, SmtpTestServer } from '@lib/testing';
import { waitingEmail } from './support/emails';
import { CURRENT_FY, decodeHtml, recipient, TestUser, World } from './support/world';

jest.setTimeout(90_000);

const MAX_ATTEMPTS = 4;
const issuer = new TestIssuer();
const kafka = new TestKafka();
const smtp = new SmtpTestServer();
const mongo = new MongoClient(process.env.MONGO_URL!, { directConnection: true });
let service: RunningService;
let watch: TopicWatch;

/** The Partner Center web app that Get Started links point to: records what was opened. */
const opened: string[] = [];
let portal: Server;
let portalUrl: string;

beforeAll(async () => {
  await Promise.all([issuer.start(), smtp.start(), mongo.connect()]);
  portal = createServer((request, response) => {
    opened.push(request.url ?? '');
    response.setHeader('content-type', 'text/html');
    response.end('<h1>Enroll</h1>');
  });
  await new Promise<void>((resolve) => portal.listen(0, '127.0.0.1', resolve));
  portalUrl = `http://127.0.0.1:${(portal.address() as AddressInfo).port}`;
  watch = await kafka.watch([Topics.notifications, Topics.deliveryDeadLetters]);
  service = await bootNotification(issuer, {
    SMTP_URL: smtp.url,
    PORTAL_BASE_URL: portalUrl,
    NOTIFY_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
    NOTIFY_BACKOFF_MS: '100',
    NOTIFY_POLL_INTERVAL_MS: '250',
    NOTIFY_CONCURRENCY: '3',
    NOTIFY_SMTP_TIMEOUT_MS: '5000',
  });
});

afterAll(async () => {
  await service?.close();
  await kafka.close();
  await smtp.stop();
  await new Promise((resolve) => portal?.close(resolve));
  await mongo.close();
  await issuer.stop();
});

function messages() {
  return mongo.db(service.env.MONGO_DB).collection<Record<string, unknown> & { _id: string }>('messages');
}

/** Who got a message caused by this event on this channel, from the service's own store. */
async function recipientsOf(eventId: string, channel: 'EMAIL' | 'INBOX'): Promise<string[]> {
  const docs = await messages().find({ causationEventId: eventId, channel }).toArray();
  return docs.map((d) => d.userId as string).sort();
}

function outcomes<T>(type: 'NotificationSent' | 'NotificationFailed', notificationId: string) {
  return (m: { envelope?: { type: string; data: unknown } }) =>
    m.envelope?.type === type && (m.envelope.data as { notificationId: string }).notificationId === notificationId;
}

/**
 * Every outcome the service wrote for these messages is on the watch (outboxSettled): NotificationSent/Failed (and a
 * dead letter, which always comes with a NotificationFailed) wait in the message's outbox and a relay publishes them
 * later, so "none was published", checked right after the status write, would pass even with one on its way.
 */
function outcomesSettled(world: World, ...ids: string[]): Promise<void> {
  return outboxSettled({ collection: messages(), filter: { _id: { $in: ids } }, kafka, watch, topic: Topics.notifications, keys: [world.partnerId] });
}

async function sent(notificationId: string): Promise<NotificationSent> {
  const [message] = await watch.waitFor<NotificationSent>(outcomes('NotificationSent', notificationId), { timeoutMs: 30_000 });
  return message.envelope!.data;
}

function invitation(world: World, locationId: string, recipients: TestUser[], overrides: Record<string, unknown> = {}) {
  const programId = `prog-${randomUUID().slice(0, 8)}`;
  return {
    invitationId: `inv-${randomUUID()}`,
    programId,
    programName: 'Azure Partner Incentives',
    partnerId: world.partnerId,
    locationId,
    fiscalYear: CURRENT_FY,
    recipients: recipients.map(recipient),
    channels: ['EMAIL', 'NOTICE'],
    getStartedUrl: `${portalUrl}/incentives/enroll?programId=${programId}&locationId=${locationId}&fy=${CURRENT_FY}`,
    requiresEligibility: true,
    ...overrides,
  };
}

async function invite(world: World, locationId: string, recipients: TestUser[], overrides: Record<string, unknown> = {}) {
  return kafka.publishEvent(Topics.invitations, locationId, {
    type: 'InvitationIssued',
    data: invitation(world, locationId, recipients, overrides),
  });
}

/** A fiscal year that ends after any run of this file (a reminder read after its year's end tells nobody), and its last day. */
const REMINDED_END = fiscalYearRange(nextFiscalYear(fiscalYearOf(new Date()))).end.toISOString();
const REMINDED_LAST_DAY = `June 30, ${new Date(REMINDED_END).getUTCFullYear()}`;

function enrollment(world: World, locationId: string, extra: Record<string, unknown> = {}) {
  return {
    enrollmentId: `enr-${randomUUID()}`,
    programId: 'prog-growth',
    programName: 'Azure Growth',
    partnerId: world.partnerId,
    locationId,
    fiscalYear: 'FY27',
    status: 'ACTION_REQUIRED',
    reasons: [],
    missing: [],
    revision: 2,
    ...extra,
  };
}

describe('invitation email', () => {
  it('reaches the Incentives admin with the exact subject, the sender name and a working Get Started link', async () => {
    const world = new World(kafka, issuer, service);
    const [location] = await world.register('Contoso Ltd');
    const admin = await world.user('Avery', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);

    const event = await invite(world, location, [admin]);
    const [mail] = await smtp.waitFor(admin.email);

    expect(mail.parsed.subject).toBe('Partner Incentive Enrollment Invitation');
    expect(addresses(mail.parsed.from)).toEqual([{ name: 'Partner Center', address: 'no-reply@partnercenter.local' }]);
    expect(addresses(mail.parsed.to)).toEqual([{ name: admin.displayName, address: admin.email }]);
    expect(mail.parsed.messageId).toBe(`<${event.eventId}.${admin.userId}.EMAIL@incentives.local>`);
    // Sent by a program (RFC 3834): no out-of-office reply to it.
    expect(mail.parsed.headers.get('auto-submitted')).toBe('auto-generated');
    expect(mail.parsed.text).toContain(`Hello ${admin.displayName},`);
    expect(mail.parsed.text).toContain('Contoso Ltd');

    const data = event.data as { getStartedUrl: string };
    const anchor = /<a href="([^"]+)"[^>]*>Get Started<\/a>/.exec(String(mail.parsed.html));
    expect(anchor).not.toBeNull();
    const href = decodeHtml(anchor![1]);
    expect(href).toBe(data.getStartedUrl);
    const page = await fetch(href);
    expect(page.status).toBe(200);
    expect(opened).toContain(new URL(data.getStartedUrl).pathname + new URL(data.getStartedUrl).search);
    expect(mail.parsed.text).toContain(`Get Started: ${data.getStartedUrl}`);

    const outcome = await sent(`${event.eventId}:${admin.userId}:EMAIL`);
    expect(outcome).toMatchObject({
      userId: admin.userId,
      email: admin.email,
      channel: 'EMAIL',
      template: 'invitation',
      causationEventId: event.eventId,
      causationEventType: 'InvitationIssued',
      attempts: 1,
      mailMessageId: mail.parsed.messageId,
    });
    const [published] = watch.find(outcomes('NotificationSent', `${event.eventId}:${admin.userId}:EMAIL`));
    expect(published.key).toBe(world.partnerId);
    expect(published.envelope).toMatchObject({ source: 'notification', causationId: event.eventId, partnerId: world.partnerId });
    // The inbox entry is delivered when it is written.
    expect(await sent(`${event.eventId}:${admin.userId}:INBOX`)).toMatchObject({ channel: 'INBOX', template: 'invitation' });
  });

  it('goes to a late Incentives admin too (InvitationDelivered), but never to a deactivated one', async () => {
    const world = new World(kafka, issuer, service);
    const [location] = await world.register('Contoso GmbH');
    const late = await world.user('Late', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);
    const gone = await world.deactivate(await world.user('Gone', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]));

    const event = await kafka.publishEvent(Topics.invitations, location, {
      type: 'InvitationDelivered',
      data: invitation(world, location, [late, gone]),
    });
    const [mail] = await smtp.waitFor(late.email);
    expect(mail.parsed.subject).toBe('Partner Incentive Enrollment Invitation');
    expect(await recipientsOf(event.eventId, 'EMAIL')).toEqual([late.userId]);
    expect(await recipientsOf(event.eventId, 'INBOX')).toEqual([late.userId]);
    expect(smtp.to(gone.email)).toHaveLength(0);
  });

  it('sends no email for an open program, but puts the invitation in the inbox', async () => {
    const world = new World(kafka, issuer, service);
    const [location] = await world.register('Fabrikam Inc');
    const admin = await world.user('Open', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);

    const open = await invite(world, location, [admin], { requiresEligibility: false, channels: ['NOTICE'] });
    await sent(`${open.eventId}:${admin.userId}:INBOX`);
    expect(await recipientsOf(open.eventId, 'EMAIL')).toEqual([]);
    expect(await recipientsOf(open.eventId, 'INBOX')).toEqual([admin.userId]);

    // An invitation that requires eligibility, consumed after it, is mailed: the open one never was.
    const required = await invite(world, location, [admin]);
    const mails = await smtp.waitFor(admin.email);
    await sent(`${required.eventId}:${admin.userId}:EMAIL`);
    expect(mails.map((m) => m.parsed.messageId)).toEqual([`<${required.eventId}.${admin.userId}.EMAIL@incentives.local>`]);
  });

  it('notifies nobody about an event older than NOTIFY_MAX_EVENT_AGE_MS (a replay from the start mails nobody again)', async () => {
    const world = new World(kafka, issuer, service);
    const [location] = await world.register('Coho Winery');
    const admin = await world.user('Replay', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);

    const old = createEnvelope({
      type: 'InvitationIssued',
      source: 'invitations',
      data: invitation(world, location, [admin]),
      occurredAt: new Date(Date.now() - 8 * 24 * 3_600_000),
    });
    await kafka.publish(Topics.invitations, location, old);
    // Same key, same partition: consumed after the old one.
    const fresh = await invite(world, location, [admin]);
    await sent(`${fresh.eventId}:${admin.userId}:EMAIL`);
    expect(await messages().countDocuments({ causationEventId: old.eventId })).toBe(0);
    expect(smtp.to(admin.email).map((m) => m.parsed.messageId)).toEqual([`<${fresh.eventId}.${admin.userId}.EMAIL@incentives.local>`]);
  });
});

describe('admin needed', () => {
  it('tells the Global admin which location needs an Incentives admin', async () => {
    const world = new World(kafka, issuer, service);
    const [location] = await world.register('Northwind Traders');
    const global = await world.user('Gloria', [{ role: 'GLOBAL_ADMIN', locationIds: ['*'] }]);

    const event = await kafka.publishEvent(Topics.invitations, location, {
      type: 'AdminAssignmentRequested',
      data: {
        invitationId: `inv-${randomUUID()}`,
        programId: 'prog-1',
        programName: 'Azure Growth',
        partnerId: world.partnerId,
        locationId: location,
        fiscalYear: CURRENT_FY,
        recipients: [recipient(global)],
      },
    });
    const [mail] = await smtp.waitFor(global.email);
    expect(mail.parsed.subject).toBe(`Action needed: assign an Incentives admin to Northwind Traders (${location})`);
    expect(mail.parsed.text).toContain(`Location Northwind Traders (${location}) is eligible for Azure Growth`);
    expect(mail.parsed.text).toContain('assign the Incentives admin role on this location');
    expect(addresses(mail.parsed.from)[0].name).toBe('Partner Center');
    await sent(`${event.eventId}:${global.userId}:EMAIL`);
  });

  it('when the request names nobody, goes to the active Global and Account admins of the partner', async () => {
    const world = new World(kafka, issuer, service);
    const [location] = await world.register('Litware');
    const global = await world.user('Global', [{ role: 'GLOBAL_ADMIN', locationIds: ['*'] }]);
    const account = await world.user('Account', [{ role: 'ACCOUNT_ADMIN', locationIds: ['*'] }]);
    const former = await world.deactivate(await world.user('Former', [{ role: 'ACCOUNT_ADMIN', locationIds: ['*'] }]));
    const incentives = await world.user('Incentives', [{ role: 'INCENTIVES_USER', locationIds: [location] }]);

    const event = await kafka.publishEvent(Topics.invitations, location, {
      type: 'AdminAssignmentRequested',
      data: { invitationId: `inv-${randomUUID()}`, programId: 'prog-1', partnerId: world.partnerId, locationId: location, fiscalYear: CURRENT_FY, recipients: [] },
    });
    await smtp.waitFor(global.email);
    await smtp.waitFor(account.email);
    expect(await recipientsOf(event.eventId, 'EMAIL')).toEqual([account.userId, global.userId].sort());
    expect(smtp.to(former.email)).toHaveLength(0);
    expect(smtp.to(incentives.email)).toHaveLength(0);
  });

  it('a Global admin the request names who has lost the role since (the view has caught up) is told nothing; the others are', async () => {
    const world = new World(kafka, issuer, service);
    const [location] = await world.register('Proseware');
    const kept = await world.user('Kept', [{ role: 'GLOBAL_ADMIN', locationIds: ['*'] }]);
    const demoted = await world.changeRoles(await world.user('Demoted', [{ role: 'GLOBAL_ADMIN', locationIds: ['*'] }]), []);

    const event = await kafka.publishEvent(Topics.invitations, location, {
      type: 'AdminAssignmentRequested',
      data: { invitationId: `inv-${randomUUID()}`, programId: 'prog-1', partnerId: world.partnerId, locationId: location, fiscalYear: CURRENT_FY, recipients: [recipient(kept), recipient(demoted)] },
    });
    await smtp.waitFor(kept.email);
    await sent(`${event.eventId}:${kept.userId}:EMAIL`);
    expect(await recipientsOf(event.eventId, 'EMAIL')).toEqual([kept.userId]);
    expect(await recipientsOf(event.eventId, 'INBOX')).toEqual([kept.userId]);
    expect(smtp.to(demoted.email)).toHaveLength(0);
  });

  // The invitations service named them from its own role view, behind identity's: the revocation reached this
  // service's view first. Waiting for the view to catch up to the invitation's time tells a revoked role from a grant
  // this view has not heard of yet.
  it('an Incentives admin an invitation names who has lost the role there since (the view knows it) is told nothing; the others are', async () => {
    const world = new World(kafka, issuer, service);
    const [location, other] = await world.register('Litware', 'Fabrikam');
    const kept = await world.user('Kept', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);
    const revoked = await world.changeRoles(await world.user('Revoked', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]), [
      { role: 'INCENTIVES_ADMIN', locationIds: [other] },
    ]);

    const event = await invite(world, location, [kept, revoked]);
    await smtp.waitFor(kept.email);
    await sent(`${event.eventId}:${kept.userId}:EMAIL`);
    expect(await recipientsOf(event.eventId, 'EMAIL')).toEqual([kept.userId]);
    expect(await recipientsOf(event.eventId, 'INBOX')).toEqual([kept.userId]);
    expect(smtp.to(revoked.email)).toHaveLength(0);
  });
});

describe('exactly one email per (event, recipient, channel)', () => {
  it('sends one email for an event delivered twice, and consuming it yet again creates and publishes nothing', async () => {
    const world = new World(kafka, issuer, service);
    const [location] = await world.register('Tailspin Toys');
    const admin = await world.user('Dup', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);

    const event = await invite(world, location, [admin]);
    await kafka.publish(Topics.invitations, location, event);
    await smtp.waitFor(admin.email);
    const id = `${event.eventId}:${admin.userId}:EMAIL`;
    await sent(id);

    // As if a crash had fallen between the effect and the consumer's ledger: the event is handled once more.
    await service.app.get(CreateMessages).execute(Topics.invitations, event);

    const marker = await invite(world, location, [admin]);
    await smtp.waitFor(admin.email, { count: 2 });
    await sent(`${marker.eventId}:${admin.userId}:EMAIL`);
    expect(smtp.to(admin.email).filter((m) => m.parsed.messageId === `<${event.eventId}.${admin.userId}.EMAIL@incentives.local>`)).toHaveLength(1);
    expect(await messages().countDocuments({ causationEventId: event.eventId })).toBe(2);
    expect(watch.find(outcomes('NotificationSent', id))).toHaveLength(1);
    expect(watch.find(outcomes('NotificationSent', `${event.eventId}:${admin.userId}:INBOX`))).toHaveLength(1);
  });

  it('resends an email abandoned in the middle of a send once its lease expires, with the same Message-ID', async () => {
    const world = new World(kafka, issuer, service);
    const [location] = await world.register('Wide World Importers');
    const admin = await world.user('Crash', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);
    const eventId = randomUUID();
    const id = `${eventId}:${admin.userId}:EMAIL`;
    const now = Date.now();
    // What a worker killed during its first SMTP exchange leaves behind.
    await messages().insertOne({
      _id: id,
      channel: 'EMAIL',
      partnerId: world.partnerId,
      locationId: location,
      userId: admin.userId,
      email: admin.email,
      displayName: admin.displayName,
      causationEventId: eventId,
      causationEventType: 'InvitationIssued',
      correlationId: randomUUID(),
      template: 'invitation',
      subject: 'Partner Incentive Enrollment Invitation',
      text: 'Get Started: https://example.test/',
      html: '<a href="https://example.test/">Get Started</a>',
      status: 'SENDING',
      attempts: 1,
      nextAttemptAt: new Date(now - 2_000),
      leaseUntil: new Date(now - 1),
      leaseToken: 'the-dead-worker',
      read: false,
      createdAt: new Date(now - 2_000),
    });

    const [mail] = await smtp.waitFor(admin.email);
    expect(mail.parsed.messageId).toBe(`<${eventId}.${admin.userId}.EMAIL@incentives.local>`);
    expect(await sent(id)).toMatchObject({ attempts: 2, causationEventId: eventId });
    await eventually(async () => expect((await messages().findOne({ _id: id }))?.status).toBe('SENT'));
  });

  it('claims emails due together with one lease each, and leaves one that another worker claimed meanwhile to it', async () => {
    const eventId = randomUUID();
    const now = Date.now();
    // Not due for the worker's own scan (as of two hours on, only the claims below take them).
    const email = (userId: string, fields: Record<string, unknown>) =>
      waitingEmail({ partnerId: 'p-claims', userId, email: `${userId}@example.test`, causationEventId: eventId, nextAttemptAt: new Date(now + 3_600_000), createdAt: new Date(now), ...fields });
    await messages().insertMany([
      email('u-a', { status: 'PENDING', attempts: 0 }),
      email('u-b', { status: 'PENDING', attempts: 0 }),
      email('u-c', { status: 'SENDING', attempts: 1, leaseToken: 'another-worker', leaseUntil: new Date(now + 60_000) }),
    ]);
    const ids = ['u-a', 'u-b', 'u-c'].map((u) => `${eventId}:${u}:EMAIL`);

    // Not due now: a claim by id takes nothing before its time. Two hours on, it takes them.
    expect(await service.app.get(DeliverEmail).claimManyById(ids, 0)).toEqual([]);
    const later = new Date(now + 2 * 3_600_000);
    const claimed = await service.app.get(DeliverEmail).claimManyById(ids, 0, later);

    expect(claimed.map((m) => m._id).sort()).toEqual(ids.slice(0, 2));
    expect(new Set(claimed.map((m) => m.leaseToken)).size).toBe(1);
    const stored = await messages().find({ _id: { $in: ids } }).sort({ _id: 1 }).toArray();
    expect(stored.map((m) => [m.status, m.attempts, m.leaseToken === claimed[0].leaseToken])).toEqual([
      ['SENDING', 1, true],
      ['SENDING', 1, true],
      ['SENDING', 1, false],
    ]);
    expect(stored[2].leaseToken).toBe('another-worker');
    expect(await service.app.get(DeliverEmail).claimManyById(ids, 0, later)).toEqual([]);
    await messages().deleteMany({ _id: { $in: ids } });
  });

  it('does not send an email whose lease ran out before the send and that another worker holds now', async () => {
    const world = new World(kafka, issuer, service);
    const [location] = await world.register('Relecloud');
    const admin = await world.user('Stalled', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);
    // This worker claimed it, then stalled past its lease (a database failover); another worker took it over since.
    const email = waitingEmail({
      partnerId: world.partnerId,
      userId: admin.userId,
      email: admin.email,
      displayName: admin.displayName,
      status: 'SENDING',
      attempts: 2,
      leaseToken: 'another-worker',
      leaseUntil: new Date(Date.now() + 60_000),
    });
    await messages().insertOne(email as never);
    const mine = { ...email, leaseToken: 'this-worker', leaseUntil: new Date(Date.now() - 1_000) };
    const outcome = await service.app.get(DeliverEmail).execute(mine as never);
    expect(outcome).toEqual({ status: 'LEASE_LOST' });
    expect(smtp.attempts.get(admin.email)).toBeUndefined();
    expect(await messages().findOne({ _id: email._id })).toMatchObject({ status: 'SENDING', leaseToken: 'another-worker', attempts: 2 });
    await messages().deleteOne({ _id: email._id });
  });

  it('sends nothing to a recipient deactivated while the email waited', async () => {
    const world = new World(kafka, issuer, service);
    const [location] = await world.register('Relecloud');
    const gone = await world.deactivate(await world.user('Waited', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]));
    // Created while they were active, and still waiting (a backlog, or a retry) when they were deactivated.
    const { _id: id } = await storeWaiting(world, gone);
    await eventually(async () => expect((await messages().findOne({ _id: id }))?.status).toBe('CANCELLED'));
    expect(smtp.to(gone.email)).toHaveLength(0);
    expect(smtp.attempts.get(gone.email)).toBeUndefined();
    // Its consumers learn how it ended: withdrawn, why, after the attempt made before (storeWaiting: 1).
    await outcomesSettled(world, id);
    expect(watch.find((m) => m.raw.includes(id)).map((m) => [m.envelope?.type, m.envelope?.data])).toEqual([
      ['NotificationCancelled', expect.objectContaining({ notificationId: id, userId: gone.userId, reason: 'recipient deactivated before delivery', attempts: 1 })],
    ]);
  });

  // Approved, then a profile edited a second later: ENROLLED then VALIDATING. The first email waiting (a retry, or sent
  // at the same time) must not arrive last, dated newest, and leave the admin believing it.
  // A reminder asks for something before its fiscal year ends: read after that (a consumer behind), or retried past it,
  // it would ask for what can no longer be done (the rollover has decided the enrollment).
  it('sends no renewal reminder once its fiscal year has ended: none planned for an event read after, a waiting one withdrawn', async () => {
    const world = new World(kafka, issuer, service);
    const [location] = await world.register('Fourth Coffee');
    const admin = await world.user('Rowan', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);
    const late = await kafka.publishEvent(Topics.enrollments, location, {
      type: 'EnrollmentRenewalAtRisk',
      data: enrollment(world, location, { status: 'ACTION_REQUIRED', fiscalYear: 'FY26', fiscalYearEndsAt: '2026-07-01T00:00:00.000Z', kind: 'NOT_COMPLETED', missing: ['BANK_PROFILE_MISSING'] }),
    });
    // Same key, same partition: consumed after the late one.
    const marker = await kafka.publishEvent(Topics.enrollments, location, { type: 'EnrollmentActionRequired', data: enrollment(world, location, { missing: ['BANK_PROFILE_MISSING'] }) });
    await sent(`${marker.eventId}:${admin.userId}:EMAIL`);
    expect(await messages().countDocuments({ causationEventId: late.eventId })).toBe(0);

    const { _id: waiting } = await storeWaiting(world, admin, { template: 'enrollment-renewal-at-risk', causationEventType: 'EnrollmentRenewalAtRisk', sendBefore: new Date(Date.now() - 1_000) });
    await eventually(async () => expect(await messages().findOne({ _id: waiting })).toMatchObject({ status: 'CANCELLED', lastError: expect.stringMatching(/moment passed/) }));
    expect(smtp.to(admin.email)).toHaveLength(1);
  });

  it('withdraws a waiting email about an enrollment status once a later change of that enrollment has its email; a later one still goes', async () => {
    const world = new World(kafka, issuer, service);
    const [location] = await world.register('Wingtip');
    const admin = await world.user('Quinn', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);
    const data = enrollment(world, location, { status: 'VALIDATING', previousStatus: 'ENROLLED', revision: 6 });
    const validating = await kafka.publishEvent(Topics.enrollments, location, { type: 'EnrollmentValidating', data });
    await sent(`${validating.eventId}:${admin.userId}:EMAIL`);
    // The ENROLLED email of revision 5, still waiting: withdrawn, never sent.
    const { _id: older } = await storeWaiting(world, admin, { enrollmentStatus: { enrollmentId: data.enrollmentId, revision: 5 } });
    await eventually(async () => expect(await messages().findOne({ _id: older })).toMatchObject({ status: 'CANCELLED', lastError: expect.stringMatching(/changed again since/) }));
    // One of a later revision (or another enrollment's) is not held back by it.
    const { _id: newer } = await storeWaiting(world, admin, { enrollmentStatus: { enrollmentId: data.enrollmentId, revision: 7 } });
    await eventually(async () => expect((await messages().findOne({ _id: newer }))?.status).toBe('SENT'));
    expect(smtp.to(admin.email).map((m) => m.parsed.subject)).toEqual([expect.stringMatching(/validat/i), 'Enrolled']);
  });

  it('withdraws a waiting renewal reminder once a later change of the enrollment has its email (not one leaving it to complete); a reminder withdraws no status email itself', async () => {
    const world = new World(kafka, issuer, service);
    const [location] = await world.register('Wingtip Two');
    const admin = await world.user('Reese', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);
    const data = enrollment(world, location, { status: 'VALIDATING', previousStatus: 'ACTION_REQUIRED', revision: 6 });
    const validating = await kafka.publishEvent(Topics.enrollments, location, { type: 'EnrollmentValidating', data });
    await sent(`${validating.eventId}:${admin.userId}:EMAIL`);
    const reminder = (revision: number) => ({
      template: 'enrollment-renewal-at-risk',
      causationEventType: 'EnrollmentRenewalAtRisk',
      subject: 'Reminder: not completed',
      enrollmentStatus: { enrollmentId: data.enrollmentId, revision, reminder: true },
    });
    // "Not completed", sent at revision 5 and retried: the admin has submitted since (revision 6, its email sent).
    const { _id: stale } = await storeWaiting(world, admin, reminder(5));
    await eventually(async () => expect(await messages().findOne({ _id: stale })).toMatchObject({ status: 'CANCELLED', lastError: expect.stringMatching(/changed again since/) }));
    // A reminder of a later revision holds back no status email of an earlier one: both go.
    const { _id: later } = await storeWaiting(world, admin, reminder(8));
    const { _id: status } = await storeWaiting(world, admin, { enrollmentStatus: { enrollmentId: data.enrollmentId, revision: 7 } });
    await eventually(async () => {
      expect((await messages().findOne({ _id: status }))?.status).toBe('SENT');
      expect((await messages().findOne({ _id: later }))?.status).toBe('SENT');
    });
    // A later change that leaves it to complete (a profile rejected: ACTION_REQUIRED) does not answer the reminder,
    // whose year-end deadline its email does not tell: the reminder goes too.
    await storeWaiting(world, admin, { enrollmentStatus: { enrollmentId: data.enrollmentId, revision: 10, stillToComplete: true } });
    const { _id: answeredNot } = await storeWaiting(world, admin, reminder(9));
    await eventually(async () => expect((await messages().findOne({ _id: answeredNot }))?.status).toBe('SENT'));
  });

  it("withdraws a company admin's waiting action email (told while the location had no Incentives admin) once a later change of the enrollment has a message for anyone", async () => {
    const world = new World(kafka, issuer, service);
    const [location] = await world.register('Wingtip North');
    const global = await world.user('Gale', [{ role: 'GLOBAL_ADMIN', locationIds: ['*'] }]);
    const admin = await world.user('Quill', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);
    const data = enrollment(world, location, { status: 'VALIDATING', previousStatus: 'ACTION_REQUIRED', revision: 6 });
    // The admin appointed since acted on it: its next change is told to them, not to the Global admin.
    const validating = await kafka.publishEvent(Topics.enrollments, location, { type: 'EnrollmentValidating', data });
    await sent(`${validating.eventId}:${admin.userId}:EMAIL`);
    const companyAudience = { roles: ['GLOBAL_ADMIN', 'ACCOUNT_ADMIN'] };
    const { _id: older } = await storeWaiting(world, global, {
      template: 'enrollment-action-required',
      causationEventType: 'EnrollmentActionRequired',
      audience: companyAudience,
      enrollmentStatus: { enrollmentId: data.enrollmentId, revision: 5 },
    });
    await eventually(async () => expect(await messages().findOne({ _id: older })).toMatchObject({ status: 'CANCELLED', lastError: expect.stringMatching(/changed again since/) }));
    const { _id: newer } = await storeWaiting(world, global, { audience: companyAudience, enrollmentStatus: { enrollmentId: data.enrollmentId, revision: 7 } });
    await eventually(async () => expect((await messages().findOne({ _id: newer }))?.status).toBe('SENT'));
    expect(smtp.to(global.email)).toHaveLength(1);
    // Their "not completed" reminder (assign someone) too, by a later change that leaves it to complete: someone holds
    // the role now (a reminder to the location's admins stays: such a change does not answer it).
    await storeWaiting(world, admin, { enrollmentStatus: { enrollmentId: data.enrollmentId, revision: 9, stillToComplete: true } });
    const { _id: reminder } = await storeWaiting(world, global, { audience: companyAudience, enrollmentStatus: { enrollmentId: data.enrollmentId, revision: 8, reminder: true } });
    await eventually(async () => expect(await messages().findOne({ _id: reminder })).toMatchObject({ status: 'CANCELLED', lastError: expect.stringMatching(/changed again since/) }));
  });

  it('sends nothing to a recipient who lost the role the email was addressed for while it waited; another role elsewhere does not count', async () => {
    const world = new World(kafka, issuer, service);
    const [location, other] = await world.register('Relecloud', 'Northwind');
    const admin = await world.user('Revoked', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);
    const kept = await world.user('Kept', [{ role: 'INCENTIVES_ADMIN', locationIds: ['*'] }]);
    // Created while they were Incentives admins of `location`; the first one's role there is revoked (they stay an
    // Incentives admin of another location) while the emails wait.
    const revoked = await world.changeRoles(admin, [{ role: 'INCENTIVES_ADMIN', locationIds: [other] }]);
    const audience = { roles: ['INCENTIVES_ADMIN'], locationIds: [location] };
    const { _id: id } = await storeWaiting(world, revoked, { audience, locationId: location });
    const { _id: keptId } = await storeWaiting(world, kept, { audience, locationId: location });
    expect(await sent(keptId)).toMatchObject({ email: kept.email });
    await eventually(async () => expect(await messages().findOne({ _id: id })).toMatchObject({ status: 'CANCELLED', lastError: 'recipient no longer holds the role the message was addressed for' }));
    expect(smtp.to(revoked.email)).toHaveLength(0);
    expect(smtp.attempts.get(revoked.email)).toBeUndefined();
    await outcomesSettled(world, id);
    const [cancelled, ...more] = watch.find((m) => m.raw.includes(id));
    expect(more).toHaveLength(0);
    expect(cancelled.envelope).toMatchObject({
      type: 'NotificationCancelled',
      locationId: location,
      data: { notificationId: id, locationId: location, reason: 'recipient no longer holds the role the message was addressed for' },
    });
    expect(cancelled.key).toBe(world.partnerId);
  });

  // A waiting email whose recipient left is handed over to whoever holds the role now (HandOverMessages), but not once
  // a later change of its enrollment has a message: told to the company admins, since the location had no Incentives
  // admin left, that one says where it stands, and the older one handed to them would arrive after it.
  it("hands over nothing of a status email whose recipient left once a later change of the enrollment has a message, whoever got it", async () => {
    const { world, location, global, leavers: [gone] } = await leftLocation('Tailspin', 'Gone');
    const earlier = actionRequired(world, location);
    const later = await kafka.publishEvent(Topics.enrollments, location, { type: 'EnrollmentActionRequired', data: { ...earlier.data, revision: 3, missing: ['BANK_PROFILE_MISSING'] } });
    await sent(`${later.eventId}:${global.userId}:EMAIL`);
    // The earlier change's email to Gone, planned while they held the role and still waiting (a retry).
    const id = await waitingForHandOver(world, gone, earlier);
    await cancelledFor(id, gone);
    expect(await recipientsOf(earlier.eventId, 'EMAIL')).toEqual([gone.userId]);
    expect(await recipientsOf(earlier.eventId, 'INBOX')).toEqual([]);
    await outcomesSettled(world, id);
    expect(cancellations(id)).toEqual([expect.not.objectContaining({ handedOver: true })]);
  });

  it('hands over nothing of an event older than NOTIFY_MAX_EVENT_AGE_MS: it tells nobody any more', async () => {
    const { world, location, global, leavers: [gone] } = await leftLocation('Tailspin Old', 'Aged');
    const old = actionRequired(world, location, { occurredAt: new Date(Date.now() - 8 * 24 * 3_600_000) });
    const oldId = await waitingForHandOver(world, gone, old);
    await cancelledFor(oldId, gone);
    expect(await messages().countDocuments({ causationEventId: old.eventId, userId: global.userId })).toBe(0);
    // A fresh one is handed over (the same path, to the same Global admin).
    const fresh = actionRequired(world, location);
    const freshId = await waitingForHandOver(world, gone, fresh);
    await cancelledFor(freshId, gone);
    expect(await sent(`${fresh.eventId}:${global.userId}:EMAIL`)).toMatchObject({ email: global.email, enrollmentId: fresh.data.enrollmentId });
    // Its consumers read which cancellation was handed over.
    await outcomesSettled(world, oldId, freshId);
    expect(cancellations(oldId)).toEqual([expect.not.objectContaining({ handedOver: true })]);
    expect(cancellations(freshId)).toEqual([expect.objectContaining({ handedOver: true, enrollmentId: fresh.data.enrollmentId })]);
  });

  it('says it was handed over on each cancellation of the event, the second leaver\'s too, and hands it over once', async () => {
    const { world, location, global, leavers } = await leftLocation('Tailspin Both', 'Ada', 'Bo');
    const envelope = actionRequired(world, location);
    const ids: string[] = [];
    for (const leaver of leavers) ids.push(await waitingForHandOver(world, leaver, envelope, leavers));
    for (const [i, leaver] of leavers.entries()) await cancelledFor(ids[i], leaver);
    expect(await sent(`${envelope.eventId}:${global.userId}:EMAIL`)).toMatchObject({ email: global.email });
    await outcomesSettled(world, ...ids);
    for (const id of ids) expect(cancellations(id)).toEqual([expect.objectContaining({ handedOver: true })]);
    expect(smtp.to(global.email).filter((m) => m.parsed.messageId?.startsWith(`<${envelope.eventId}.`))).toHaveLength(1);
  });

  it("shows a leaver made the partner's only company admin their inbox entry again, under the role they hold now", async () => {
    const world = new World(kafka, issuer, service);
    const [location] = await world.register('Tailspin Alone');
    const promoted = await world.changeRoles(await world.user('Pat', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]), [{ role: 'ACCOUNT_ADMIN', locationIds: ['*'] }]);
    const envelope = actionRequired(world, location);
    const id = await waitingForHandOver(world, promoted, envelope);
    const inboxId = `${envelope.eventId}:${promoted.userId}:INBOX`;
    await messages().insertOne({ ...(await messages().findOne({ _id: id }))!, _id: inboxId, channel: 'INBOX', status: 'SENT', attempts: 1 });
    await cancelledFor(id, promoted);
    expect(await messages().findOne({ _id: inboxId })).toMatchObject({ audience: { roles: ['GLOBAL_ADMIN', 'ACCOUNT_ADMIN'] } });
    await outcomesSettled(world, id);
    expect(cancellations(id)).toEqual([expect.objectContaining({ handedOver: true })]);
  });

  it("sends nothing to a recipient the view knows as another partner's user (named by mistake while it did not know them)", async () => {
    const world = new World(kafka, issuer, service);
    const other = new World(kafka, issuer, service);
    const [location] = await world.register('Relecloud');
    await other.register('Woodgrove');
    const foreign = await other.user('Foreign', [{ role: 'INCENTIVES_ADMIN', locationIds: ['*'] }]);
    const { _id: id } = await storeWaiting(world, foreign, { locationId: location });
    await eventually(async () => expect(await messages().findOne({ _id: id })).toMatchObject({ status: 'CANCELLED', lastError: "recipient is not a user of the message's partner" }));
    expect(smtp.attempts.get(foreign.email)).toBeUndefined();
  });

  // The ledger no longer holding the event (past PROCESSED_EVENTS_RETENTION_MS, a consumer group started anew on the same
  // database): handled again, it must not reach whoever holds the role now with news that was not theirs.
  it('handled again after the ledger lost it, tells nobody it did not tell the first time: not an admin appointed since', async () => {
    const world = new World(kafka, issuer, service);
    const [location] = await world.register('Proseware');
    const first = await world.user('First', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);
    const rejected = await kafka.publishEvent(Topics.enrollments, location, {
      type: 'EnrollmentActionRequired',
      partnerId: world.partnerId,
      locationId: location,
      data: enrollment(world, location, { reasons: ['The bank account holder does not match the legal name'] }),
    });
    await sent(`${rejected.eventId}:${first.userId}:EMAIL`);
    // Nobody to tell yet: a request for an Incentives admin at a partner without Global or Account admins.
    const [bare] = await world.register('Proseware East');
    const request = createEnvelope({
      type: 'AdminAssignmentRequested',
      source: 'invitations',
      partnerId: world.partnerId,
      locationId: bare,
      data: { invitationId: `inv-${randomUUID()}`, programId: 'prog-1', programName: 'Azure Growth', partnerId: world.partnerId, locationId: bare, fiscalYear: CURRENT_FY, recipients: [] },
    });
    await service.app.get(CreateMessages).execute(Topics.invitations, request);
    expect(await messages().countDocuments({ causationEventId: request.eventId })).toBe(0);

    const appointed = await world.user('Appointed', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);
    const global = await world.user('Global', [{ role: 'GLOBAL_ADMIN', locationIds: ['*'] }]);
    await service.app.get(CreateMessages).execute(Topics.enrollments, rejected);
    await service.app.get(CreateMessages).execute(Topics.invitations, request);

    expect(await recipientsOf(rejected.eventId, 'EMAIL')).toEqual([first.userId]);
    expect(await recipientsOf(rejected.eventId, 'INBOX')).toEqual([first.userId]);
    expect(await messages().countDocuments({ causationEventId: request.eventId })).toBe(0);
    // A message of its recipient lost (the handler died between its writes): written again for them only.
    expect((await messages().deleteOne({ _id: `${rejected.eventId}:${first.userId}:INBOX` })).deletedCount).toBe(1);
    await service.app.get(CreateMessages).execute(Topics.enrollments, rejected);
    expect(await recipientsOf(rejected.eventId, 'INBOX')).toEqual([first.userId]);
    expect(smtp.to(appointed.email)).toHaveLength(0);
    expect(smtp.to(global.email)).toHaveLength(0);
  });

  it('records the audience of the emails it creates: an enrollment event addresses the Incentives admins of its location', async () => {
    const world = new World(kafka, issuer, service);
    const [location] = await world.register('Relecloud');
    const admin = await world.user('Addressed', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);
    const envelope = createEnvelope({
      type: 'EnrollmentEnrolled',
      source: 'enrollment',
      partnerId: world.partnerId,
      data: {
        enrollmentId: `e-${randomUUID()}`,
        programId: 'prog-audience',
        partnerId: world.partnerId,
        locationId: location,
        fiscalYear: 'FY27',
        status: 'ENROLLED',
        reasons: [],
      },
    });
    await service.app.get(CreateMessages).execute(Topics.enrollments, envelope);
    const stored = await messages().findOne({ _id: `${envelope.eventId}:${admin.userId}:EMAIL` });
    expect(stored).toMatchObject({ audience: { roles: ['INCENTIVES_ADMIN'], locationIds: [location] } });
    expect(await sent(`${envelope.eventId}:${admin.userId}:EMAIL`)).toMatchObject({ email: admin.email });
  });

  it('waits for an invited recipient the view does not know in that role yet (identity events lagging): sent, with its audience', async () => {
    const world = new World(kafka, issuer, service);
    const [location] = await world.register('Relecloud');
    const lagging = await world.user('Lagging', []);
    // The grant is published before the invitation (the invitations service saw it), but this view applies it late.
    // The grant is held until the invitation's handler waits for the view to catch up (at most 15 s: a handler that
    // does not wait sends at once, and the waits asserted below name none for the invitation).
    const updater = service.app.get(AccessViewUpdater);
    const apply = updater.apply.bind(updater);
    const catchUp = service.app.get(IdentityCatchUp);
    const waitFor = catchUp.waitFor.bind(catchUp);
    const waitedFor: string[] = [];
    let waitBegun!: () => void;
    const begun = new Promise<void>((resolve) => (waitBegun = resolve));
    const waits = jest.spyOn(catchUp, 'waitFor').mockImplementation((occurredAt, stopping) => {
      waitedFor.push(occurredAt);
      waitBegun();
      return waitFor(occurredAt, stopping);
    });
    let held = false;
    const spy = jest.spyOn(updater, 'apply').mockImplementation(async (type, data) => {
      if ((data as { user?: { userId: string } }).user?.userId === lagging.userId && type === 'UserUpdated') {
        held = true;
        await Promise.race([begun, new Promise((resolve) => setTimeout(resolve, 15_000))]);
      }
      return apply(type, data);
    });
    try {
      const granted = { ...lagging, roles: [{ role: 'INCENTIVES_ADMIN' as const, locationIds: [location] }], revision: lagging.revision + 1 };
      const { token: _token, ...snapshot } = granted;
      await kafka.publishEvent(Topics.identity, world.partnerId, { type: 'UserUpdated', data: { user: snapshot } });
      const event = await invite(world, location, [granted]);
      const id = `${event.eventId}:${lagging.userId}:EMAIL`;
      expect(await sent(id)).toMatchObject({ email: lagging.email });
      expect(held).toBe(true);
      expect(waitedFor).toContain(event.occurredAt);
      expect(await messages().findOne({ _id: id })).toMatchObject({ audience: { roles: ['INCENTIVES_ADMIN'], locationIds: [location] } });
    } finally {
      spy.mockRestore();
      waits.mockRestore();
    }
  });

  it('sends to the current address of a recipient whose email changed while the email waited, and records it', async () => {
    const world = new World(kafka, issuer, service);
    const [location] = await world.register('Relecloud');
    const before = await world.user('Moved', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);
    const after = await world.changeEmail(before, `moved-${randomUUID().slice(0, 8)}@fabrikam.example`);
    // Created with the old address, and still waiting when the address changed.
    const { _id: id } = await storeWaiting(world, before);
    expect(await sent(id)).toMatchObject({ email: after.email, attempts: 2 });
    expect(await messages().findOne({ _id: id })).toMatchObject({ status: 'SENT', email: after.email, displayName: after.displayName });
    expect(smtp.to(after.email).map((m) => m.parsed.subject)).toEqual(['Enrolled']);
    expect(smtp.attempts.get(before.email)).toBeUndefined();
  });
});

/**
 * An email of an enrollment event to `user` (addressed as an Incentives admin of the event's location), planned while
 * they held the role and still waiting (a retry), the event kept for a hand-over as CreateMessages keeps it.
 */
async function waitingForHandOver(world: World, user: TestUser, envelope: Envelope<{ enrollmentId: string; revision: number; locationId: string }>, told = [user]): Promise<string> {
  const { enrollmentId, revision, locationId } = envelope.data;
  await mongo
    .db(service.env.MONGO_DB)
    .collection<{ _id: string }>('planned_events')
    .updateOne(
      { _id: envelope.eventId },
      { $setOnInsert: { recipients: told.map((u) => u.userId), plannedAt: new Date(), handOver: { topic: Topics.enrollments, envelope } } },
      { upsert: true },
    );
  const { _id } = await storeWaiting(world, user, {
    _id: `${envelope.eventId}:${user.userId}:EMAIL`,
    causationEventId: envelope.eventId,
    causationEventType: envelope.type,
    template: 'enrollment-action-required',
    locationId,
    audience: { roles: ['INCENTIVES_ADMIN'], locationIds: [locationId] },
    enrollmentStatus: { enrollmentId, revision },
  });
  return _id;
}

/** The email is cancelled: its recipient no longer holds the role it was addressed for. */
async function cancelledFor(id: string, user: TestUser): Promise<void> {
  await eventually(async () => expect(await messages().findOne({ _id: id })).toMatchObject({ userId: user.userId, status: 'CANCELLED', lastError: 'recipient no longer holds the role the message was addressed for' }));
}

/**
 * A partner with a location whose Incentives admins (`names`) have all left it for another location, and a Global
 * admin: what they are asked to act on falls to the Global admin (HandOverMessages).
 */
async function leftLocation(partner: string, ...names: string[]) {
  const world = new World(kafka, issuer, service);
  const [location, elsewhere] = await world.register(partner, `${partner} Elsewhere`);
  const global = await world.user(`Global-${names[0]}`, [{ role: 'GLOBAL_ADMIN', locationIds: ['*'] }]);
  const leavers: TestUser[] = [];
  for (const name of names) {
    const admin = await world.user(name, [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);
    leavers.push(await world.changeRoles(admin, [{ role: 'INCENTIVES_ADMIN', locationIds: [elsewhere] }]));
  }
  return { world, location, global, leavers };
}

/** An EnrollmentActionRequired of the location (tax profile missing), as the enrollment service publishes it. */
function actionRequired(world: World, location: string, extra: { occurredAt?: Date; data?: Record<string, unknown> } = {}) {
  const data = enrollment(world, location, { missing: ['TAX_PROFILE_MISSING'], ...extra.data });
  return createEnvelope({ type: 'EnrollmentActionRequired', source: 'enrollment', partnerId: world.partnerId, locationId: location, data, occurredAt: extra.occurredAt });
}

/** The data of the NotificationCancelled events published for the message (once outcomesSettled). */
function cancellations(id: string): Array<Record<string, unknown>> {
  return watch.find((m) => m.envelope?.type === 'NotificationCancelled' && m.raw.includes(id)).map((m) => m.envelope!.data as Record<string, unknown>);
}

/** An enrollment email for `user` stored as waiting (a retry due now), as if created before what the test changes. */
async function storeWaiting(world: World, user: TestUser, fields: Record<string, unknown> = {}) {
  const email = waitingEmail({
    partnerId: world.partnerId,
    userId: user.userId,
    email: user.email,
    displayName: user.displayName,
    causationEventType: 'EnrollmentEnrolled',
    template: 'enrollment-enrolled',
    subject: 'Enrolled',
    text: 'Enrolled',
    html: '<p>Enrolled</p>',
    status: 'RETRY',
    attempts: 1,
    ...fields,
  });
  await messages().insertOne(email as never);
  return email;
}

describe('retries', () => {
  it('delivers exactly one email after the server refused the first attempts', async () => {
    const world = new World(kafka, issuer, service);
    const [location] = await world.register('Adventure Works');
    const admin = await world.user('Busy', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);
    smtp.refuse(admin.email, 2);

    const event = await invite(world, location, [admin]);
    const id = `${event.eventId}:${admin.userId}:EMAIL`;
    expect(await sent(id)).toMatchObject({ attempts: 3, channel: 'EMAIL' });
    expect(smtp.to(admin.email)).toHaveLength(1);
    expect(smtp.attempts.get(admin.email)).toBe(3);
    expect(watch.find(outcomes('NotificationFailed', id))).toHaveLength(0);
    // With backoff (NOTIFY_BACKOFF_MS 100 here, each delay drawn from 80% to 120% of it): the second attempt at least
    // 80 ms after the first, the third at least 160 ms after the second; not at once.
    const [first, second, third] = smtp.attemptTimes.get(admin.email)!;
    expect(second - first).toBeGreaterThanOrEqual(80);
    expect(third - second).toBeGreaterThanOrEqual(160);
  });

  it('keeps one recipient that always fails from holding up the others', async () => {
    const world = new World(kafka, issuer, service);
    const [location] = await world.register('Proseware');
    const stuck = await world.user('Stuck', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);
    const fine = await world.user('Fine', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);
    smtp.refuse(stuck.email, Infinity);

    const event = await invite(world, location, [stuck, fine]);
    expect(await sent(`${event.eventId}:${fine.userId}:EMAIL`)).toMatchObject({ attempts: 1 });
    const [failed] = await watch.waitFor<NotificationFailed>(outcomes('NotificationFailed', `${event.eventId}:${stuck.userId}:EMAIL`));
    expect(failed.envelope!.data).toMatchObject({ attempts: MAX_ATTEMPTS, error: expect.stringMatching(/451/) });
    // Fine's went out before Stuck's retries ran out, by the times stored (the events' arrival on the watch can lag).
    const stored = (user: TestUser) => messages().findOne({ _id: `${event.eventId}:${user.userId}:EMAIL` });
    expect(((await stored(fine))?.sentAt as Date).getTime()).toBeLessThan(((await stored(stuck))?.failedAt as Date).getTime());
    expect(smtp.to(fine.email)).toHaveLength(1);
    expect(smtp.to(stuck.email)).toHaveLength(0);
  });

  it('records NotificationFailed and dead-letters the email when the server is down past the last attempt; the next one goes out', async () => {
    const world = new World(kafka, issuer, service);
    const [location] = await world.register('Blue Yonder');
    const admin = await world.user('Down', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);

    await smtp.stop();
    let first;
    try {
      first = await invite(world, location, [admin]);
      const id = `${first.eventId}:${admin.userId}:EMAIL`;
      const [failed] = await watch.waitFor<NotificationFailed>(outcomes('NotificationFailed', id), { timeoutMs: 30_000 });
      expect(failed.key).toBe(world.partnerId);
      expect(failed.envelope!.data).toMatchObject({
        notificationId: id,
        userId: admin.userId,
        email: admin.email,
        channel: 'EMAIL',
        template: 'invitation',
        causationEventId: first.eventId,
        attempts: MAX_ATTEMPTS,
        error: expect.stringMatching(/ECONNREFUSED|ECONNECTION/),
      });
      const [dead] = await watch.waitFor((m) => m.topic === Topics.deliveryDeadLetters && m.raw.includes(id));
      // An envelope like every message on the platform's topics, which the catalog's class validates.
      const { envelope, known } = parseEvent(Topics.deliveryDeadLetters, dead.raw);
      expect(known).toBe(true);
      expect(envelope).toMatchObject({ type: 'EmailDeadLettered', source: 'notification', partnerId: world.partnerId, causationId: first.eventId });
      expect(dead.key).toBe(world.partnerId);
      expect(envelope.data).toMatchObject({ notificationId: id, email: admin.email, attempts: MAX_ATTEMPTS, subject: 'Partner Incentive Enrollment Invitation' });
      expect((envelope.data as EmailDeadLettered).text).toContain('Get Started');
      expect((await messages().findOne({ _id: id }))?.status).toBe('FAILED');
    } finally {
      await smtp.start();
    }

    const next = await invite(world, location, [admin]);
    const [mail] = await smtp.waitFor(admin.email);
    expect(mail.parsed.messageId).toBe(`<${next.eventId}.${admin.userId}.EMAIL@incentives.local>`);
    await sent(`${next.eventId}:${admin.userId}:EMAIL`);
    expect(smtp.to(admin.email)).toHaveLength(1);
    await outcomesSettled(world, `${first!.eventId}:${admin.userId}:EMAIL`);
    expect(watch.find(outcomes('NotificationSent', `${first!.eventId}:${admin.userId}:EMAIL`))).toHaveLength(0);
  });
});

/** The operator's resend of failed emails (POST /v1/operator/emails/resend): its status and body. */
async function resend(body: Record<string, unknown>): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${service.url}/v1/operator/emails/resend`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-operator-key': OPERATOR_KEY },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('failed emails sent again by an operator', () => {
  it('by id: one failing again is told as a new failure (its own event ids, `resend`, a second dead letter); the others named are said why not', async () => {
    const world = new World(kafka, issuer, service);
    const [location] = await world.register('Wide World Importers');
    const admin = await world.user('Outage', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);
    const other = await world.user('Fine', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);
    smtp.refuse(admin.email, Infinity);
    try {
      const event = await invite(world, location, [admin, other]);
      const id = `${event.eventId}:${admin.userId}:EMAIL`;
      const sentId = `${event.eventId}:${other.userId}:EMAIL`;
      const [failed] = await watch.waitFor<NotificationFailed>(outcomes('NotificationFailed', id), { timeoutMs: 30_000 });
      expect(failed.envelope!.data.resend).toBeUndefined();
      await sent(sentId);

      // Still refused: the resend fails again, after its own attempts, with events of its own.
      const first = await resend({ notificationIds: [id, sentId, `${id}-unknown`, `${event.eventId}:${admin.userId}:INBOX`] });
      expect(first).toEqual({
        status: 200,
        body: {
          resent: [id],
          notResent: [
            { notificationId: sentId, reason: 'it is SENT, not FAILED' },
            { notificationId: `${id}-unknown`, reason: 'no such message' },
            { notificationId: `${event.eventId}:${admin.userId}:INBOX`, reason: 'an inbox entry: it is never sent' },
          ],
          remaining: 0,
        },
      });
      const again = await watch.waitFor<NotificationFailed>((m) => outcomes('NotificationFailed', id)(m) && m.envelope!.data.resend === 1, { timeoutMs: 30_000 });
      expect(again[0].envelope!.data).toMatchObject({ attempts: MAX_ATTEMPTS, resend: 1 });
      expect(again[0].envelope!.eventId).not.toBe(failed.envelope!.eventId);
      const letters = await watch.waitFor((m) => m.topic === Topics.deliveryDeadLetters && m.raw.includes(id), { count: 2, timeoutMs: 30_000 });
      expect(new Set(letters.map((m) => m.envelope!.eventId)).size).toBe(2);
      expect(smtp.attempts.get(admin.email)).toBe(2 * MAX_ATTEMPTS);
    } finally {
      smtp.refuse(admin.email, 0);
    }
  });

  it("by window and partner, a slice at a time: sends the partner's emails that failed in it, does not take back one that failed again since, nor another partner's", async () => {
    const world = new World(kafka, issuer, service);
    const elsewhere = new World(kafka, issuer, service);
    const [location] = await world.register('Litware');
    const [otherLocation] = await elsewhere.register('Fabrikam Residences');
    const admin = await world.user('Window', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);
    const stuck = await world.user('Stubborn', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);
    const stranger = await elsewhere.user('Stranger', [{ role: 'INCENTIVES_ADMIN', locationIds: [otherLocation] }]);
    const since = new Date();
    for (const user of [admin, stuck, stranger]) smtp.refuse(user.email, Infinity);
    try {
      const mine = await invite(world, location, [admin]);
      const theirs = await invite(world, location, [stuck]);
      const other = await invite(elsewhere, otherLocation, [stranger]);
      const id = `${mine.eventId}:${admin.userId}:EMAIL`;
      const stuckId = `${theirs.eventId}:${stuck.userId}:EMAIL`;
      const strangerId = `${other.eventId}:${stranger.userId}:EMAIL`;
      for (const failed of [id, stuckId, strangerId]) await watch.waitFor(outcomes('NotificationFailed', failed), { timeoutMs: 30_000 });
      smtp.refuse(admin.email, 0);

      // Refused: a window must say where it starts; an end before its start; ids and a window at once; not an instant.
      expect(await resend({})).toMatchObject({ status: 400, body: { errors: [expect.objectContaining({ field: 'failedSince' })] } });
      expect(await resend({ failedSince: since.toISOString(), failedBefore: since.toISOString() })).toMatchObject({ status: 400 });
      expect(await resend({ notificationIds: [id], partnerId: world.partnerId })).toMatchObject({ status: 400 });
      expect(await resend({ failedSince: 'yesterday' })).toMatchObject({ status: 400 });

      // One at a time: the first slice leaves one.
      const first = await resend({ failedSince: since.toISOString(), partnerId: world.partnerId, limit: 1 });
      expect(first).toMatchObject({ status: 200, body: { notResent: [], remaining: 1 } });
      const second = await resend({ failedSince: since.toISOString(), partnerId: world.partnerId });
      expect(second).toMatchObject({ status: 200, body: { notResent: [], remaining: 0 } });
      expect([...(first.body.resent as string[]), ...(second.body.resent as string[])].sort()).toEqual([id, stuckId].sort());
      expect(await sent(id)).toMatchObject({ attempts: 1, resend: 1, mailMessageId: `<${id.replace(/:/g, '.')}@incentives.local>` });
      await watch.waitFor((m) => outcomes('NotificationFailed', stuckId)(m) && (m.envelope!.data as NotificationFailed).resend === 1, { timeoutMs: 30_000 });

      // Asked again over the same window: the one that failed again since it was sent again is not taken back.
      expect((await resend({ failedSince: since.toISOString(), partnerId: world.partnerId })).body).toMatchObject({ resent: [], remaining: 0 });
      expect(await messages().findOne({ _id: stuckId })).toMatchObject({ status: 'FAILED', resends: 1 });
      // A window begun after that resend takes it again.
      const later = new Date(((await messages().findOne({ _id: stuckId }))!.resentAt as Date).getTime() + 1);
      expect((await resend({ failedSince: later.toISOString(), partnerId: world.partnerId })).body).toMatchObject({ resent: [stuckId], remaining: 0 });
      await watch.waitFor((m) => outcomes('NotificationFailed', stuckId)(m) && (m.envelope!.data as NotificationFailed).resend === 2, { timeoutMs: 30_000 });
      // The other partner's failure is untouched.
      expect(await messages().findOne({ _id: strangerId })).toMatchObject({ status: 'FAILED' });
      expect((await messages().findOne({ _id: strangerId }))?.resends).toBeUndefined();
      expect(smtp.to(admin.email)).toHaveLength(1);
    } finally {
      for (const user of [admin, stuck, stranger]) smtp.refuse(user.email, 0);
    }
  });

  it('withdraws a resent email whose recipient left since it failed, instead of sending it', async () => {
    const world = new World(kafka, issuer, service);
    const [location] = await world.register('Trey Research');
    const admin = await world.user('Leaver', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);
    smtp.refuse(admin.email, Infinity);
    let id: string;
    try {
      const event = await invite(world, location, [admin]);
      id = `${event.eventId}:${admin.userId}:EMAIL`;
      await watch.waitFor(outcomes('NotificationFailed', id), { timeoutMs: 30_000 });
    } finally {
      smtp.refuse(admin.email, 0);
    }
    await world.deactivate(admin);
    expect((await resend({ notificationIds: [id!] })).body).toMatchObject({ resent: [id!] });
    const [cancelled] = await watch.waitFor((m) => m.envelope?.type === 'NotificationCancelled' && (m.envelope.data as { notificationId: string }).notificationId === id, { timeoutMs: 30_000 });
    expect(cancelled.envelope!.data).toMatchObject({ resend: 1, attempts: 0 });
    expect(smtp.to(admin.email)).toHaveLength(0);
  });
});

describe('enrollment and profile events', () => {
  let world: World;
  let l1: string;
  let l2: string;
  let admin1: TestUser;
  let allLocations: TestUser;
  let admin2: TestUser;
  let reader: TestUser;
  let former: TestUser;

  beforeAll(async () => {
    world = new World(kafka, issuer, service);
    [l1, l2] = await world.register('Contoso East', 'Contoso West');
    admin1 = await world.user('AdminOne', [{ role: 'INCENTIVES_ADMIN', locationIds: [l1] }]);
    allLocations = await world.user('AdminAll', [{ role: 'INCENTIVES_ADMIN', locationIds: ['*'] }]);
    admin2 = await world.user('AdminTwo', [{ role: 'INCENTIVES_ADMIN', locationIds: [l2] }]);
    reader = await world.user('Reader', [{ role: 'INCENTIVES_USER', locationIds: [l1] }]);
    former = await world.deactivate(await world.user('Former', [{ role: 'INCENTIVES_ADMIN', locationIds: [l1] }]));
  });

  it('tells the Incentives admins of the location what is missing, and nobody else', async () => {
    const event = await kafka.publishEvent(Topics.enrollments, l1, {
      type: 'EnrollmentActionRequired',
      data: enrollment(world, l1, { missing: ['BANK_PROFILE_MISSING', 'TAX_PROFILE_MISSING'], reasons: ['<b>No payout</b> details & no tax forms'] }),
    });
    const [mail] = await smtp.waitFor(admin1.email);
    await smtp.waitFor(allLocations.email);
    expect(mail.parsed.subject).toBe(`Action required: Azure Growth enrollment for Contoso East (${l1})`);
    expect(mail.parsed.text).toContain('What is missing:\n- A bank profile for the enrollment\n- A tax profile for the location\n');
    expect(mail.parsed.text).toContain('- <b>No payout</b> details & no tax forms');
    expect(mail.parsed.html).toContain('&lt;b&gt;No payout&lt;/b&gt; details &amp; no tax forms');
    expect(mail.parsed.text).toContain(`${portalUrl}/incentives/payout-and-tax`);
    expect(await recipientsOf(event.eventId, 'EMAIL')).toEqual([admin1.userId, allLocations.userId].sort());
    expect(await recipientsOf(event.eventId, 'INBOX')).toEqual([admin1.userId, allLocations.userId].sort());
    for (const other of [admin2, reader, former]) expect(smtp.to(other.email)).toHaveLength(0);
  });

  it("with no Incentives admin on the location, tells the partner's Global and Account admins what needs action, saying why and where to appoint one; news needing nobody tells nobody", async () => {
    const other = new World(kafka, issuer, service);
    const [lone] = await other.register('Fabrikam North');
    const global = await other.user('Gwen', [{ role: 'GLOBAL_ADMIN', locationIds: ['*'] }]);
    const account = await other.user('Andy', [{ role: 'ACCOUNT_ADMIN', locationIds: ['*'] }]);
    const user = await other.user('Uma', [{ role: 'INCENTIVES_USER', locationIds: [lone] }]);
    const enrolled = await kafka.publishEvent(Topics.enrollments, lone, { type: 'EnrollmentEnrolled', data: enrollment(other, lone, { status: 'ENROLLED', previousStatus: 'VALIDATING' }) });
    const action = await kafka.publishEvent(Topics.enrollments, lone, { type: 'EnrollmentActionRequired', data: enrollment(other, lone, { missing: ['TAX_PROFILE_MISSING'], previousStatus: 'ENROLLED' }) });
    const [mail] = await smtp.waitFor(global.email);
    await smtp.waitFor(account.email);
    expect(mail.parsed.text).toContain(`Nobody holds the Incentives admin role on Fabrikam North (${lone}), so this message goes to your company's Global and Account admins`);
    expect(mail.parsed.text).toContain(`Assign an Incentives admin: ${portalUrl}/account/users?locationId=${lone}&role=INCENTIVES_ADMIN`);
    expect(decodeHtml(mail.parsed.html as string)).toContain(`href="${portalUrl}/account/users?locationId=${lone}&role=INCENTIVES_ADMIN"`);
    expect(await recipientsOf(action.eventId, 'EMAIL')).toEqual([global.userId, account.userId].sort());
    expect(await recipientsOf(action.eventId, 'INBOX')).toEqual([global.userId, account.userId].sort());
    expect(await messages().findOne({ causationEventId: action.eventId, userId: global.userId, channel: 'EMAIL' })).toMatchObject({ audience: { roles: ['GLOBAL_ADMIN', 'ACCOUNT_ADMIN'] } });
    // Handled before it (same key): the news that it is Enrolled asks nothing of anyone.
    expect(await recipientsOf(enrolled.eventId, 'INBOX')).toEqual([]);
    expect(smtp.to(user.email)).toHaveLength(0);
  });

  // The enrollment service gives a reason for each missing item too (MissingPayoutItemReasons): the email lists each
  // item once, and keeps under "Details" only the reasons that tell more.
  it('lists each missing item once: the reasons that only repeat a missing item are left out of the details', async () => {
    const mailOf = async (event: { eventId: string }) => {
      await sent(`${event.eventId}:${admin2.userId}:EMAIL`);
      return smtp.to(admin2.email).find((m) => m.parsed.messageId === `<${event.eventId}.${admin2.userId}.EMAIL@incentives.local>`)!;
    };
    const only = await kafka.publishEvent(Topics.enrollments, l2, {
      type: 'EnrollmentActionRequired',
      data: enrollment(world, l2, {
        missing: ['BANK_PROFILE_MISSING', 'TAX_PROFILE_MISSING'],
        reasons: [MissingPayoutItemReasons.BANK_PROFILE_MISSING, MissingPayoutItemReasons.TAX_PROFILE_MISSING],
      }),
    });
    const mail = await mailOf(only);
    expect(mail.parsed.text).toContain('What is missing:\n- A bank profile for the enrollment\n- A tax profile for the location\n');
    expect(mail.parsed.text).not.toContain('Details:');
    expect(mail.parsed.text).not.toContain(MissingPayoutItemReasons.TAX_PROFILE_MISSING);

    const more = await kafka.publishEvent(Topics.enrollments, l2, {
      type: 'EnrollmentActionRequired',
      data: enrollment(world, l2, {
        missing: ['BANK_PROFILE_MISSING'],
        reasons: [MissingPayoutItemReasons.BANK_PROFILE_MISSING, 'The bank profile "Old" no longer serves this location: choose another bank profile.'],
      }),
    });
    const second = await mailOf(more);
    expect(second.parsed.text).toContain('Details:\n- The bank profile "Old" no longer serves this location: choose another bank profile.\n');
    expect(second.parsed.text).not.toContain(MissingPayoutItemReasons.BANK_PROFILE_MISSING);
  });

  it.each([
    ['EnrollmentValidating', { status: 'VALIDATING' }, /was submitted and its status is now Validating enrollment/],
    // Back in validation after ENROLLED (a profile edited), and continued by the rollover: not "was submitted".
    ['EnrollmentValidating', { status: 'VALIDATING', previousStatus: 'ENROLLED' }, /is being validated again: a bank or tax profile it uses was edited/],
    // After ACTION_REQUIRED: a Submit, or a rejected profile corrected (validated without a Submit): neither is claimed.
    ['EnrollmentValidating', { status: 'VALIDATING', previousStatus: 'ACTION_REQUIRED', taxProfileId: 'tax-1' }, /is now Validating enrollment: Microsoft is validating the bank and tax profiles it uses/],
    // No tax profile (its program requires none, the location has none): the bank profile alone.
    ['EnrollmentValidating', { status: 'VALIDATING', previousStatus: 'ACTION_REQUIRED' }, /is now Validating enrollment: Microsoft is validating the bank profile it uses\./],
    ['EnrollmentValidating', { status: 'VALIDATING', bankProfileId: 'bank-1' }, /Microsoft is validating the bank profile chosen for it\./],
    ['EnrollmentValidating', { status: 'VALIDATING', fiscalYear: 'FY28', fromFiscalYear: 'FY27' }, /continued from fiscal year FY27 into fiscal year FY28[\s\S]*No action is needed/],
    ['EnrollmentRejected', { status: 'ACTION_REQUIRED', fiscalYear: 'FY28', fromFiscalYear: 'FY27', reasons: ['W-9 unsigned'] }, /continued from fiscal year FY27[\s\S]*without being submitted again/],
    ['EnrollmentEnrolled', { status: 'ENROLLED', taxProfileId: 'tax-1' }, /is now Enrolled in Azure Growth[\s\S]*The bank and tax profiles of the enrollment were validated/],
    ['EnrollmentEnrolled', { status: 'ENROLLED' }, /is now Enrolled in Azure Growth[\s\S]*The bank profile of the enrollment was validated/],
    // Submitted, then a new reason while ACTION_REQUIRED (no previousStatus): its validation goes on once corrected.
    ['EnrollmentActionRequired', { status: 'ACTION_REQUIRED', submitted: true, missing: ['PAYMENT_METHOD_NOT_ALLOWED'] }, /needs your action before its validation can go on/],
    // Out of ENROLLED (its required tax profile expired): submitted already, not "before it can be submitted".
    ['EnrollmentActionRequired', { status: 'ACTION_REQUIRED', previousStatus: 'ENROLLED', missing: ['TAX_PROFILE_EXPIRED'] }, /is no longer Enrolled: it needs your action to be enrolled again/],
    ['EnrollmentRejected', { status: 'ACTION_REQUIRED', reasons: ['Bank account holder name does not match'] }, /Bank account holder name does not match/],
    ['EnrollmentRenewed', { status: 'ENROLLED', fiscalYear: 'FY28', fromFiscalYear: 'FY27' }, /continued from fiscal year FY27 into fiscal year FY28/],
    ['EnrollmentExpired', { status: 'EXPIRED', previousStatus: 'ENROLLED', completed: true, started: true, reasons: ['The partner agreement is not active'] }, /has expired[\s\S]*The partner agreement is not active/],
    // A continuation the new year's eligibility decision undid (its admins were told it continues).
    ['EnrollmentIneligible', { status: 'INELIGIBLE', previousStatus: 'ENROLLED', completed: false, reasons: ['Not eligible in FY27'] }, /has ended: its status is now Inactive \/ Ineligible[\s\S]*Not eligible in FY27/],
    // A new reason while ACTION_REQUIRED of one completed in its year (no previousStatus): still "no longer Enrolled".
    ['EnrollmentActionRequired', { status: 'ACTION_REQUIRED', completed: true, missing: ['BANK_PROFILE_MISSING'] }, /is no longer Enrolled: it needs your action to be enrolled again/],
    // fiscalYearEndsAt as the enrollment service sends it: the exclusive end; the year's last day is June 30.
    ['EnrollmentRenewalAtRisk', { status: 'ENROLLED', fiscalYearEndsAt: REMINDED_END, missing: ['TAX_PROFILE_EXPIRED'] }, new RegExp(`ends on ${REMINDED_LAST_DAY}[\\s\\S]*A tax profile whose tax forms have not expired`)],
    // Completed, its tax profile expiring: the rollover continues it, as Action required (not "will not continue").
    [
      'EnrollmentRenewalAtRisk',
      { status: 'ENROLLED', fiscalYearEndsAt: REMINDED_END, kind: 'WILL_NOT_CONTINUE', outcome: 'ACTION_REQUIRED', missing: ['TAX_PROFILE_EXPIRED'] },
      /will continue into the next fiscal year as Action required, not Enrolled[\s\S]*A tax profile whose tax forms have not expired/,
    ],
    ['EnrollmentRenewalAtRisk', { status: 'ENROLLED', fiscalYearEndsAt: REMINDED_END, outcome: 'EXPIRED', reasons: ["The partner's agreement is not active."] }, /will not continue into the next fiscal year/],
    [
      'EnrollmentRenewalAtRisk',
      { status: 'ACTION_REQUIRED', fiscalYearEndsAt: REMINDED_END, kind: 'NOT_COMPLETED', missing: ['BANK_PROFILE_MISSING'] },
      new RegExp(`${REMINDED_LAST_DAY}[\\s\\S]*is not completed: it expires with the fiscal year`),
    ],
  ])('%s reaches the location admins', async (type, extra, body) => {
    const event = await kafka.publishEvent(Topics.enrollments, l2, { type, data: enrollment(world, l2, extra) });
    await sent(`${event.eventId}:${admin2.userId}:EMAIL`);
    const mail = smtp.to(admin2.email).find((m) => m.parsed.messageId === `<${event.eventId}.${admin2.userId}.EMAIL@incentives.local>`)!;
    expect(mail.parsed.text).toMatch(body);
    expect(await recipientsOf(event.eventId, 'EMAIL')).toEqual([admin2.userId, allLocations.userId].sort());
  });

  it('sends a tax profile action to its location admins, a bank profile action without locationIds (an older event) to every Incentives admin of the partner', async () => {
    const tax = await kafka.publishEvent(Topics.payoutProfiles, l2, {
      type: 'ProfileActionRequired',
      data: { profileId: `tax-${randomUUID()}`, profileKind: 'TAX', partnerId: world.partnerId, locationId: l2, revision: 2, status: 'ACTION_REQUIRED', reasons: ['W-8BEN-E is not signed'] },
    });
    const bank = await kafka.publishEvent(Topics.payoutProfiles, world.partnerId, {
      type: 'ProfileActionRequired',
      data: { profileId: `bank-${randomUUID()}`, profileKind: 'BANK', partnerId: world.partnerId, revision: 3, status: 'ACTION_REQUIRED', reasons: ['IBAN does not exist'], name: 'Main EUR account' },
    });
    await sent(`${tax.eventId}:${admin2.userId}:EMAIL`);
    await sent(`${bank.eventId}:${admin1.userId}:EMAIL`);
    expect(await recipientsOf(tax.eventId, 'EMAIL')).toEqual([admin2.userId, allLocations.userId].sort());
    expect(await recipientsOf(bank.eventId, 'EMAIL')).toEqual([admin1.userId, admin2.userId, allLocations.userId].sort());
    const mail = smtp.to(admin1.email).find((m) => m.parsed.messageId?.startsWith(`<${bank.eventId}.`))!;
    expect(mail.parsed.subject).toBe('Action required: your bank profile Main EUR account');
    expect(mail.parsed.text).toContain('IBAN does not exist');
  });

  it('sends a bank profile action to the Incentives admins of the locations it serves (and `*` admins), not to the others', async () => {
    const bankAction = (locationIds: string[]) =>
      kafka.publishEvent(Topics.payoutProfiles, world.partnerId, {
        type: 'ProfileActionRequired',
        data: {
          profileId: `bank-${randomUUID()}`,
          profileKind: 'BANK',
          partnerId: world.partnerId,
          locationIds,
          version: 4,
          revision: 2,
          status: 'ACTION_REQUIRED',
          reasons: ['Account holder name does not match'],
          name: 'East USD account',
          maskedAccount: '****6789',
        },
      });
    const east = await bankAction([l1]);
    const everywhere = await bankAction(['*']);
    // Each event's messages are written together before any is sent: once one went out, all of them exist.
    await sent(`${east.eventId}:${allLocations.userId}:EMAIL`);
    await sent(`${everywhere.eventId}:${admin2.userId}:EMAIL`);
    for (const channel of ['EMAIL', 'INBOX'] as const) {
      expect(await recipientsOf(east.eventId, channel)).toEqual([admin1.userId, allLocations.userId].sort());
      expect(await recipientsOf(everywhere.eventId, channel)).toEqual([admin1.userId, admin2.userId, allLocations.userId].sort());
    }
    const mail = smtp.to(allLocations.email).find((m) => m.parsed.messageId?.startsWith(`<${east.eventId}.`))!;
    expect(mail.parsed.subject).toBe('Action required: your bank profile East USD account (****6789)');
    expect(mail.parsed.text).toContain('Microsoft could not validate the bank profile East USD account (****6789).');
    expect(mail.parsed.text).toContain('Account holder name does not match');
    expect(smtp.to(admin2.email).filter((m) => m.parsed.messageId?.startsWith(`<${east.eventId}.`))).toHaveLength(0);
  });

  it('reminds the location admins of an expiring tax profile', async () => {
    // Forty days ahead of the run (the scan counted 30 left: the email says the fewer), a date alone as payout-profiles sends it.
    const expires = new Date(Date.now() + 40 * 86_400_000);
    const expiresAt = expires.toISOString().slice(0, 10);
    const expiresOn = new Date(`${expiresAt}T00:00:00Z`).toLocaleDateString('en-US', { timeZone: 'UTC', year: 'numeric', month: 'long', day: 'numeric' });
    const event = await kafka.publishEvent(Topics.payoutProfiles, l1, {
      type: 'TaxProfileExpiring',
      data: { profileId: `tax-${randomUUID()}`, partnerId: world.partnerId, locationId: l1, expiresAt, daysLeft: 30 },
    });
    await sent(`${event.eventId}:${admin1.userId}:EMAIL`);
    const mail = smtp.to(admin1.email).find((m) => m.parsed.messageId?.startsWith(`<${event.eventId}.`))!;
    expect(mail.parsed.subject).toBe(`Reminder: the tax profile of Contoso East (${l1}) expires on ${expiresOn}`);
    expect(mail.parsed.text).toContain('(in 30 days)');
    expect(await recipientsOf(event.eventId, 'EMAIL')).toEqual([admin1.userId, allLocations.userId].sort());
  });

  it('tells the location admins of a tax profile that has expired already (reported late) that it expired, not that it expires', async () => {
    const event = await kafka.publishEvent(Topics.payoutProfiles, l1, {
      type: 'TaxProfileExpiring',
      data: { profileId: `tax-${randomUUID()}`, partnerId: world.partnerId, locationId: l1, expiresAt: '2026-11-01T00:00:00.000Z', daysLeft: -3 },
    });
    await sent(`${event.eventId}:${admin1.userId}:EMAIL`);
    const mail = smtp.to(admin1.email).find((m) => m.parsed.messageId?.startsWith(`<${event.eventId}.`))!;
    expect(mail.parsed.subject).toBe(`Action required: the tax profile of Contoso East (${l1}) expired on November 1, 2026`);
    expect(mail.parsed.text).toContain(`The tax profile of Contoso East (${l1}) expired on November 1, 2026.`);
    expect(mail.parsed.text).not.toMatch(/expires on|before then/);
  });
});
