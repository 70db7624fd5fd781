import { Envelope, NotificationSent, Topics } from '@lib/contracts';
import { eventually, OPERATOR_KEY, outboxSettled, RunningService, TopicWatch } from '@lib/testing';
import { randomUUID } from 'node:crypto';
import { InvitationDigests } from '../src/delivery/invitation-digests';
import { DeliverEmail } from '../src/delivery/usecases/deliver-email.use-case';
import { notificationUnderTest } from './support/boot';
import { emailId, issuedTo, publishInvitationEvent } from './support/invitation-events';
import { CURRENT_FY, TestUser, World } from './support/world';

jest.setTimeout(120_000);

/**
 * A user given the Incentives admin role on every location (`*`) of a partner is delivered each open invitation of the
 * partner (one InvitationDelivered each, as DeliverToLateAdmins publishes them): their first invitation emails go one
 * by one, the ones that follow within the window are sent as one email listing them (InvitationDigests).
 */
const WINDOW_MS = 8_000;
let service: RunningService;
let watch: TopicWatch;
const { issuer, kafka, smtp, mongo } = notificationUnderTest(
  { NOTIFY_POLL_INTERVAL_MS: '250', NOTIFY_DIGEST_AFTER: '2', NOTIFY_DIGEST_WINDOW_MS: String(WINDOW_MS) },
  { watch: [Topics.notifications, Topics.deliveryDeadLetters], ready: (up) => ({ service, watch } = up) },
);

type Stored = Record<string, unknown> & { _id: string; status: string; digest?: { id: string } & Record<string, unknown> };

function messages() {
  return mongo.db(service.env.MONGO_DB).collection<Stored>('messages');
}

function anInvitation(world: World, locationId: string, programName: string) {
  return {
    invitationId: `inv-${randomUUID()}`,
    programId: `prog-${randomUUID().slice(0, 8)}`,
    programName,
    partnerId: world.partnerId,
    locationId,
    fiscalYear: CURRENT_FY,
  };
}





/** The invitation emails of these events, once every one is written. */
async function written(events: Envelope[], user: TestUser): Promise<Stored[]> {
  return eventually(async () => {
    const found = await messages().find({ _id: { $in: events.map((e) => emailId(e, user)) } }).toArray();
    expect(found).toHaveLength(events.length);
    return found;
  }, 60_000);
}

/** The fields of an email of `admin` caused by an InvitationDelivered, as the tests that store one by hand write it. */
function storedEmail(world: World, admin: TestUser, createdAt: Date) {
  return { channel: 'EMAIL', partnerId: world.partnerId, userId: admin.userId, email: admin.email, causationEventId: randomUUID(), causationEventType: 'InvitationDelivered', correlationId: randomUUID(), read: false, createdAt };
}

function outcomeOf(id: string): Promise<NotificationSent> {
  return watch
    .waitFor<NotificationSent>((m) => (m.envelope?.data as { notificationId?: string } | undefined)?.notificationId === id)
    .then(([m]) => m.envelope!.data);
}

describe('invitation emails to one recipient in a short while', () => {
  it('go one by one up to NOTIFY_DIGEST_AFTER, then in one email listing the others; a revoked one is left out', async () => {
    const world = new World(kafka, issuer, service);
    const locations = await world.register('Contoso One', 'Contoso Two', 'Contoso Three', 'Contoso Four', 'Contoso Five');
    const admin = await world.user('Everywhere', [{ role: 'INCENTIVES_ADMIN', locationIds: ['*'] }]);

    const invitations = [...locations.map((l, i) => anInvitation(world, l, `Program ${i + 1}`)), anInvitation(world, locations[0], 'Program 6')];
    const events = [];
    for (const invitation of invitations) events.push(await publishInvitationEvent(kafka, 'InvitationDelivered', issuedTo(invitation, [admin])));
    const stored = await written(events, admin);
    const alone = stored.filter((m) => !m.digest);
    const gathered = stored.filter((m) => m.digest);
    expect(alone).toHaveLength(2);
    expect(gathered).toHaveLength(4);
    expect(new Set(gathered.map((m) => m.digest!.id)).size).toBe(1);
    expect(gathered.every((m) => m.status === 'HELD' && m.attempts === undefined)).toBe(true);
    const digestId = gathered[0].digest!.id;
    // Enqueued by id (another instance's plan said it goes alone): no claim by id takes one gathered.
    expect(await service.app.get(DeliverEmail).claimById(gathered[1]._id, 0)).toBeNull();

    // One of the gathered invitations is revoked before the digest goes out (its location no longer eligible).
    const revokedEmail = gathered[0];
    const revoked = invitations[events.findIndex((e) => emailId(e, admin) === revokedEmail._id)];
    await publishInvitationEvent(kafka, 'InvitationRevoked', { ...revoked, reasons: ['Location no longer eligible'] });

    const mails = await smtp.waitFor(admin.email, { count: 3, timeoutMs: 60_000 });
    const digestMail = mails.find((m) => m.parsed.subject === 'Partner Incentive Enrollment Invitation' && /3 invitations/.test(m.parsed.text ?? ''));
    expect(digestMail).toBeDefined();
    // The subject SPEC names (Invitations 1), on the digest too: a partner's mail rule matching it takes all three.
    expect(mails.filter((m) => m.parsed.subject === 'Partner Incentive Enrollment Invitation')).toHaveLength(3);
    expect(digestMail!.parsed.messageId).toBe(`<${digestId.replace(/:/g, '.')}@incentives.local>`);
    const text = digestMail!.parsed.text!;
    const listed = gathered.filter((m) => m._id !== revokedEmail._id);
    for (const email of listed) {
      const invitation = invitations[events.findIndex((e) => emailId(e, admin) === email._id)];
      expect(text).toContain(`${invitation.programName}, fiscal year ${CURRENT_FY}`);
      expect(text).toContain(`Get Started: http://portal.test/incentives/enroll?programId=${invitation.programId}&locationId=${invitation.locationId}`);
    }
    expect(text).not.toContain(revoked.programName);
    expect(text).toContain('Hello Everywhere');
    expect(digestMail!.parsed.html).toContain('Incentives overview');

    // Each gathered email ends as the digest did, with its own NotificationSent carrying the digest's Message-ID.
    await eventually(async () => {
      const now = await messages().find({ _id: { $in: gathered.map((m) => m._id) } }).toArray();
      expect(now.find((m) => m._id === revokedEmail._id)).toMatchObject({ status: 'CANCELLED', lastError: 'invitation revoked before delivery' });
      for (const email of listed) expect(now.find((m) => m._id === email._id)).toMatchObject({ status: 'SENT', sentIn: digestId });
    }, 30_000);
    for (const email of listed) {
      expect(await outcomeOf(email._id)).toMatchObject({ template: 'invitation', mailMessageId: digestMail!.parsed.messageId, causationEventType: 'InvitationDelivered' });
    }
    for (const email of alone) expect(await outcomeOf(email._id)).toMatchObject({ mailMessageId: `<${email._id.replace(/:/g, '.')}@incentives.local>` });
    // The digest itself caused nothing: no outcome of its own. The revoked invitation's email it left out: withdrawn.
    await outboxSettled({ collection: messages(), filter: { _id: { $in: [digestId, revokedEmail._id] } }, kafka, watch, topic: Topics.notifications, keys: [world.partnerId] });
    const about = (id: string) => watch.find((m) => (m.envelope?.data as { notificationId?: string })?.notificationId === id);
    expect(about(digestId)).toHaveLength(0);
    expect(about(revokedEmail._id).map((m) => [m.envelope!.type, m.envelope!.data])).toEqual([
      ['NotificationCancelled', expect.objectContaining({ reason: 'invitation revoked before delivery', attempts: 0, invitationId: expect.any(String) })],
    ]);
    expect(await messages().findOne({ _id: digestId })).toMatchObject({ status: 'SENT', template: 'invitation-digest' });
    // Every invitation is in the inbox, one entry each, as always.
    const inbox = await messages().countDocuments({ _id: { $in: events.map((e) => `${e.eventId}:${admin.userId}:INBOX`) } });
    expect(inbox).toBe(6);
    expect(smtp.to(admin.email)).toHaveLength(3);
  });

  it('counts an invitation email handled again (its ledger entry gone) once toward the digest: the next one still goes by itself', async () => {
    const world = new World(kafka, issuer, service);
    const [first, second] = await world.register('Tailspin One', 'Tailspin Two');
    const admin = await world.user('Twice', [{ role: 'INCENTIVES_ADMIN', locationIds: ['*'] }]);
    const delivered = await publishInvitationEvent(kafka, 'InvitationDelivered', issuedTo(anInvitation(world, first, 'Program A'), [admin]));
    await written([delivered], admin);
    // Handled again twice, as after the ledger's retention removed its entry (a replay of the topic): nothing new.
    const ledger = mongo.db(service.env.MONGO_DB).collection('processed_events');
    const entry = { _id: `${service.env.KAFKA_GROUP_ID}:${delivered.eventId}` as never };
    for (let again = 0; again < 2; again++) {
      await eventually(async () => expect(await ledger.findOne(entry)).not.toBeNull(), 60_000);
      await ledger.deleteOne(entry);
      await kafka.publish(Topics.invitations, first, delivered);
    }
    await eventually(async () => expect(await ledger.findOne(entry)).not.toBeNull(), 60_000);

    // The second invitation is this recipient's second email of the window (NOTIFY_DIGEST_AFTER 2): sent by itself.
    const next = await publishInvitationEvent(kafka, 'InvitationDelivered', issuedTo(anInvitation(world, second, 'Program B'), [admin]));
    const [email] = await written([next], admin);
    expect(email.digest).toBeUndefined();
    expect(email.status).not.toBe('HELD');
    expect(await smtp.waitFor(admin.email, { count: 2, timeoutMs: 60_000 })).toHaveLength(2);
  });

  it('sends a digest left with one invitation as that invitation email, under the digest Message-ID', async () => {
    const world = new World(kafka, issuer, service);
    const locations = await world.register('Fabrikam One', 'Fabrikam Two', 'Fabrikam Three');
    const admin = await world.user('Third', [{ role: 'INCENTIVES_ADMIN', locationIds: ['*'] }]);
    const invitations = locations.map((l, i) => anInvitation(world, l, `Fabrikam Program ${i + 1}`));
    const events = [];
    for (const invitation of invitations) events.push(await publishInvitationEvent(kafka, 'InvitationDelivered', issuedTo(invitation, [admin])));
    const [held] = (await written(events, admin)).filter((m) => m.digest);

    const mails = await smtp.waitFor(admin.email, { count: 3, timeoutMs: 60_000 });
    const inDigest = mails.find((m) => m.parsed.messageId === `<${held.digest!.id.replace(/:/g, '.')}@incentives.local>`);
    expect(inDigest?.parsed.subject).toBe('Partner Incentive Enrollment Invitation');
    const invitation = invitations[events.findIndex((e) => emailId(e, admin) === held._id)];
    expect(inDigest?.parsed.text).toContain(`eligible to enroll in ${invitation.programName}`);
    expect(await outcomeOf(held._id)).toMatchObject({ mailMessageId: inDigest!.parsed.messageId });
  });

  it('sends one written after its digest went out by itself', async () => {
    const world = new World(kafka, issuer, service);
    const [location] = await world.register('Late Location');
    const admin = await world.user('Late', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);
    const digestId = `invitation-digest-${randomUUID()}:${admin.userId}:EMAIL`;
    const lateId = `${randomUUID()}:${admin.userId}:EMAIL`;
    const base = { ...storedEmail(world, admin, new Date()), attempts: 0 };
    await messages().insertOne({ ...base, _id: digestId, template: 'invitation-digest', subject: 's', text: 't', status: 'SENT' });
    const digest = { id: digestId, programLabel: 'Late Program', locationLabel: location, fiscalYear: CURRENT_FY };
    await messages().insertOne({ ...base, _id: lateId, template: 'invitation', subject: 'Partner Incentive Enrollment Invitation', text: 'Late Program', html: '<p>Late Program</p>', status: 'HELD', digest });

    const released = await service.app.get(InvitationDigests).releaseLate([{ _id: lateId, digest }]);
    expect(released).toEqual([lateId]);
    // Out of the digest, due by itself (the worker's scan may have claimed it already).
    const stored = await messages().findOne({ _id: lateId });
    expect(['PENDING', 'SENDING', 'SENT']).toContain(stored?.status);
    expect(stored?.digest).toBeUndefined();
    // The scan finds it due; a second release finds nothing HELD.
    const [mail] = await smtp.waitFor(admin.email, { timeoutMs: 30_000 });
    expect(mail.parsed.messageId).toBe(`<${lateId.replace(/:/g, '.')}@incentives.local>`);
    expect(await service.app.get(InvitationDigests).releaseLate([{ _id: lateId, digest }])).toEqual([]);
  });

  it('cancelled, cancels the emails its claim took, and sends by itself one it did not take (gathered while it was composed)', async () => {
    const world = new World(kafka, issuer, service);
    const [location] = await world.register('Cancelled Digest');
    const admin = await world.user('Cancelled', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);
    const digestId = `invitation-digest-${randomUUID()}:${admin.userId}:EMAIL`;
    const takenId = `${randomUUID()}:${admin.userId}:EMAIL`;
    const lateId = `${randomUUID()}:${admin.userId}:EMAIL`;
    const token = randomUUID();
    const base = { ...storedEmail(world, admin, new Date()), attempts: 0 };
    const item = { template: 'invitation', subject: 'Partner Incentive Enrollment Invitation', text: 'Joined Program', html: '<p>Joined Program</p>' };
    const digest = { id: digestId, programLabel: 'Joined Program', locationLabel: location, fiscalYear: CURRENT_FY };
    await messages().insertOne({ ...base, _id: digestId, template: 'invitation-digest', subject: 's', text: 't', status: 'CANCELLED', attempts: 1 });
    await messages().insertOne({ ...base, ...item, _id: takenId, status: 'DIGESTING', leaseToken: token, digest });
    await messages().insertOne({ ...base, ...item, _id: lateId, status: 'HELD', digest });

    await service.app.get(InvitationDigests).cancelAll(digestId, 'none of the invitation emails it gathered is to be sent any more', token);
    expect(await messages().findOne({ _id: takenId })).toMatchObject({ status: 'CANCELLED', lastError: expect.stringContaining('its digest email was cancelled') });
    const [cancelled] = await watch.waitFor((m) => m.envelope?.type === 'NotificationCancelled' && (m.envelope.data as { notificationId: string }).notificationId === takenId);
    expect(cancelled.envelope!.data).toMatchObject({ reason: expect.stringContaining('its digest email was cancelled'), attempts: 0 });
    const late = await messages().findOne({ _id: lateId });
    expect(['PENDING', 'SENDING', 'SENT']).toContain(late?.status);
    expect(late?.digest).toBeUndefined();
    const [mail] = await smtp.waitFor(admin.email, { timeoutMs: 30_000 });
    expect(mail.parsed.messageId).toBe(`<${lateId.replace(/:/g, '.')}@incentives.local>`);
  });

  it('composed by a claim whose lease the next claim took (it stalled past it), leaves that claim its emails: lease lost, nothing taken back', async () => {
    const world = new World(kafka, issuer, service);
    const [location] = await world.register('Fenced Digest');
    const admin = await world.user('Fenced', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);
    const digestId = `invitation-digest-${randomUUID()}:${admin.userId}:EMAIL`;
    const [stalled, current] = [randomUUID(), randomUUID()];
    const base = { ...storedEmail(world, admin, new Date()), attempts: 0 };
    const item = { template: 'invitation', subject: 'Partner Incentive Enrollment Invitation', text: 'Fenced Program', html: '<p>Fenced Program</p>' };
    const digest = { id: digestId, programLabel: 'Fenced Program', locationLabel: location, fiscalYear: CURRENT_FY };
    const sendingIds = [`${randomUUID()}:${admin.userId}:EMAIL`, `${randomUUID()}:${admin.userId}:EMAIL`];
    // The next claim holds the digest and is sending the emails it took; far in the future, so that no worker claims it.
    const later = new Date(Date.now() + 3_600_000);
    await messages().insertOne({ ...base, _id: digestId, template: 'invitation-digest', subject: 's', text: 't', status: 'SENDING', attempts: 2, leaseToken: current, leaseUntil: later, nextAttemptAt: later });
    for (const id of sendingIds) await messages().insertOne({ ...base, ...item, _id: id, status: 'DIGESTING', leaseToken: current, digest, digestClaim: 2 });
    const digests = service.app.get(InvitationDigests);
    const claimOf = (leaseToken: string, attempts: number) => ({ _id: digestId, userId: admin.userId, partnerId: world.partnerId, email: admin.email, displayName: 'Fenced', leaseToken, attempts });

    // The lease another's: not started.
    expect(await digests.compose(claimOf(stalled, 1))).toEqual({ leaseLost: true });
    for (const id of sendingIds) expect(await messages().findOne({ _id: id })).toMatchObject({ status: 'DIGESTING', leaseToken: current });
    // Stalled between its lease check and its takeover (the digest read as its own then): the emails a later claim took
    // stay that claim's.
    await messages().updateOne({ _id: digestId }, { $set: { leaseToken: stalled } });
    expect(await digests.compose(claimOf(stalled, 1))).toBeNull();
    for (const id of sendingIds) expect(await messages().findOne({ _id: id })).toMatchObject({ status: 'DIGESTING', leaseToken: current, digestClaim: 2 });
    // The claim holding it composes them as before.
    await messages().updateOne({ _id: digestId }, { $set: { leaseToken: current } });
    const own = await digests.compose(claimOf(current, 2));
    expect(own && 'emails' in own ? own.emails.map((e) => e._id).sort() : own).toEqual([...sendingIds].sort());
    // Sent again by an operator since (its attempts from 0 again): a claim after the resend, with fewer attempts than
    // the stalled one from before it, still outranks it.
    const resent = randomUUID();
    await messages().updateOne({ _id: digestId }, { $set: { leaseToken: resent, resends: 1, attempts: 1 } });
    const afterResend = await digests.compose({ ...claimOf(resent, 1), resends: 1 });
    expect(afterResend && 'emails' in afterResend ? afterResend.emails.map((e) => e._id).sort() : afterResend).toEqual([...sendingIds].sort());
    await messages().updateOne({ _id: digestId }, { $set: { leaseToken: stalled } });
    expect(await digests.compose(claimOf(stalled, 3))).toBeNull();
    for (const id of sendingIds) expect(await messages().findOne({ _id: id })).toMatchObject({ status: 'DIGESTING', leaseToken: resent, digestClaim: 1_000_001 });
    await messages().deleteMany({ _id: { $in: [digestId, ...sendingIds] } });
  });

  it('greets its recipient by the name it goes to: renamed while it waited, by the new one', async () => {
    const world = new World(kafka, issuer, service);
    const [location] = await world.register('Renamed Recipient');
    const admin = await world.user('Renamed', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);
    const digestId = `invitation-digest-${randomUUID()}:${admin.userId}:EMAIL`;
    const token = randomUUID();
    const base = { ...storedEmail(world, admin, new Date()), attempts: 0 };
    const item = { template: 'invitation', subject: 'Partner Incentive Enrollment Invitation', text: 'Renamed Program', html: '<p>Renamed Program</p>' };
    const digest = { id: digestId, programLabel: 'Renamed Program', locationLabel: location, fiscalYear: CURRENT_FY };
    const ids = [`${randomUUID()}:${admin.userId}:EMAIL`, `${randomUUID()}:${admin.userId}:EMAIL`];
    const later = new Date(Date.now() + 3_600_000);
    await messages().insertOne({ ...base, _id: digestId, template: 'invitation-digest', subject: 's', text: 't', displayName: 'Old Name', status: 'SENDING', attempts: 2, leaseToken: token, leaseUntil: later, nextAttemptAt: later });
    for (const id of ids) await messages().insertOne({ ...base, ...item, _id: id, status: 'DIGESTING', leaseToken: token, digest, digestClaim: 2 });
    const claim = { _id: digestId, userId: admin.userId, partnerId: world.partnerId, email: admin.email, displayName: 'Old Name', leaseToken: token, attempts: 2 };

    const composed = await service.app.get(InvitationDigests).compose(claim, undefined, { email: admin.email, displayName: 'New Name' });
    const content = composed && 'content' in composed ? composed.content : undefined;
    expect(content?.text).toContain('Hello New Name,');
    expect(content?.html).toContain('Hello New Name,');
    expect(`${content?.text}${content?.html}`).not.toContain('Old Name');
    await messages().deleteMany({ _id: { $in: [digestId, ...ids] } });
  });

  it('sends by itself an email a digest that is over left behind, once a window and a lease have passed (the sweep)', async () => {
    const world = new World(kafka, issuer, service);
    const [location] = await world.register('Left Behind');
    const admin = await world.user('Behind', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);
    const digestId = `invitation-digest-${randomUUID()}:${admin.userId}:EMAIL`;
    const leftId = `${randomUUID()}:${admin.userId}:EMAIL`;
    const waitingId = `${randomUUID()}:${admin.userId}:EMAIL`;
    const base = storedEmail(world, admin, new Date(Date.now() - WINDOW_MS - 3_600_000));
    const item = { template: 'invitation', subject: 'Partner Incentive Enrollment Invitation', text: 'Left Program', html: '<p>Left Program</p>' };
    // Cancelled by a claim that stopped before it could cancel its emails (one it had taken, under its token).
    await messages().insertOne({ ...base, _id: digestId, template: 'invitation-digest', subject: 's', text: 't', status: 'CANCELLED', attempts: 1 });
    await messages().insertOne({ ...base, ...item, _id: leftId, status: 'DIGESTING', leaseToken: randomUUID(), digest: { id: digestId, programLabel: 'Left Program', locationLabel: location, fiscalYear: CURRENT_FY } });
    // A digest still to be sent keeps its own, however old.
    const openId = `invitation-digest-${randomUUID()}:${admin.userId}:EMAIL`;
    await messages().insertOne({ ...base, _id: openId, template: 'invitation-digest', subject: 's', text: 't', status: 'RETRY', attempts: 1, nextAttemptAt: new Date(Date.now() + 3_600_000) });
    await messages().insertOne({ ...base, ...item, _id: waitingId, status: 'HELD', digest: { id: openId, programLabel: 'Waiting Program', locationLabel: location, fiscalYear: CURRENT_FY } });

    const released = await service.app.get(InvitationDigests).sweep();
    expect(released).toContain(leftId);
    expect(released).not.toContain(waitingId);
    expect(await messages().findOne({ _id: waitingId })).toMatchObject({ status: 'HELD' });
    const [mail] = await smtp.waitFor(admin.email, { timeoutMs: 30_000 });
    expect(mail.parsed.messageId).toBe(`<${leftId.replace(/:/g, '.')}@incentives.local>`);
    expect(await outcomeOf(leftId)).toMatchObject({ template: 'invitation', attempts: 1 });
  });
  it('claimed again after an earlier claim sent it and stopped before recording so, sends an email gathered since by itself, not under the Message-ID already used', async () => {
    const world = new World(kafka, issuer, service);
    const [location] = await world.register('Sent Before');
    const admin = await world.user('Before', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);
    const base = storedEmail(world, admin, new Date(Date.now() - 60_000));
    const item = { template: 'invitation', subject: 'Partner Incentive Enrollment Invitation', text: 'Program', html: '<p>Program</p>' };
    const digestId = `invitation-digest-${randomUUID()}:${admin.userId}:EMAIL`;
    // Its earlier claim settled what it sent (SENT within it), then stopped: the digest is due again, its lease gone.
    const sentId = `${randomUUID()}:${admin.userId}:EMAIL`;
    const lateId = `${randomUUID()}:${admin.userId}:EMAIL`;
    await messages().insertOne({ ...base, ...item, _id: sentId, status: 'SENT', sentIn: digestId, attempts: 1, digest: { id: digestId, programLabel: 'Sent', locationLabel: location, fiscalYear: CURRENT_FY } });
    await messages().insertOne({ ...base, ...item, text: 'Late Program', _id: lateId, status: 'HELD', digest: { id: digestId, programLabel: 'Late', locationLabel: location, fiscalYear: CURRENT_FY } });
    await messages().insertOne({ ...base, _id: digestId, template: 'invitation-digest', subject: 's', text: 't', status: 'SENDING', attempts: 1, leaseToken: randomUUID(), leaseUntil: new Date(Date.now() - 1_000), nextAttemptAt: new Date(Date.now() - 60_000) });

    const [mail] = await smtp.waitFor(admin.email, { timeoutMs: 30_000 });
    expect(mail.parsed.messageId).toBe(`<${lateId.replace(/:/g, '.')}@incentives.local>`);
    expect(mail.parsed.text).toContain('Late Program');
    expect(await outcomeOf(lateId)).toMatchObject({ template: 'invitation', mailMessageId: mail.parsed.messageId });
    await eventually(async () => expect(await messages().findOne({ _id: digestId })).toMatchObject({ status: 'SENT' }), 30_000);
    expect(await messages().findOne({ _id: lateId })).toMatchObject({ status: 'SENT' });
    expect((await messages().findOne({ _id: lateId }))?.digest).toBeUndefined();
    expect(smtp.to(admin.email)).toHaveLength(1);
  });

  it('claimed again after an earlier claim failed it and stopped before recording so, fails with the error its emails recorded, not an older one', async () => {
    const world = new World(kafka, issuer, service);
    const [location] = await world.register('Failed Before');
    const admin = await world.user('Refused', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);
    const base = storedEmail(world, admin, new Date(Date.now() - 60_000));
    const digestId = `invitation-digest-${randomUUID()}:${admin.userId}:EMAIL`;
    const failedId = `${randomUUID()}:${admin.userId}:EMAIL`;
    const refusal = '550 5.1.1 no such mailbox';
    await messages().insertOne({
      ...base, template: 'invitation', subject: 'Partner Incentive Enrollment Invitation', text: 'Program', _id: failedId, status: 'FAILED', attempts: 2, lastError: refusal, failedAt: new Date(),
      digest: { id: digestId, programLabel: 'Refused', locationLabel: location, fiscalYear: CURRENT_FY },
    });
    // Its first attempt was retried (that error stayed on it); its second failed for good, and its claim stopped there.
    await messages().insertOne({
      ...base, _id: digestId, template: 'invitation-digest', subject: 's', text: 't', status: 'SENDING', attempts: 2, lastError: '451 4.3.0 try again later',
      leaseToken: randomUUID(), leaseUntil: new Date(Date.now() - 1_000), nextAttemptAt: new Date(Date.now() - 60_000),
    });

    await eventually(async () => expect(await messages().findOne({ _id: digestId })).toMatchObject({ status: 'FAILED', lastError: refusal }), 30_000);
    const [letter] = await watch.waitFor((m) => m.topic === Topics.deliveryDeadLetters && (m.envelope?.data as { notificationId?: string })?.notificationId === digestId);
    expect(letter.envelope!.data).toMatchObject({ error: refusal, attempts: 2 });
    expect(smtp.to(admin.email)).toHaveLength(0);
  });

  it('sweeps past the emails of a digest still open, however many, to those a digest that is over left behind', async () => {
    const world = new World(kafka, issuer, service);
    const [location] = await world.register('Past The Open');
    const admin = await world.user('Past', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);
    const base = storedEmail(world, admin, new Date(Date.now() - WINDOW_MS - 3_600_000));
    const item = { template: 'invitation', subject: 'Partner Incentive Enrollment Invitation', text: 'Program', html: '<p>Program</p>' };
    // A digest retried through an SMTP outage holds more emails than a page; their ids come first.
    const openId = `invitation-digest-${randomUUID()}:${admin.userId}:EMAIL`;
    await messages().insertOne({ ...base, _id: openId, template: 'invitation-digest', subject: 's', text: 't', status: 'RETRY', attempts: 3, nextAttemptAt: new Date(Date.now() + 3_600_000) });
    const held = [0, 1, 2].map((i) => ({ ...base, ...item, _id: `0000000${i}-${randomUUID()}:${admin.userId}:EMAIL`, status: 'HELD', digest: { id: openId, programLabel: `Open ${i}`, locationLabel: location, fiscalYear: CURRENT_FY } }));
    await messages().insertMany(held);
    const overId = `invitation-digest-${randomUUID()}:${admin.userId}:EMAIL`;
    await messages().insertOne({ ...base, _id: overId, template: 'invitation-digest', subject: 's', text: 't', status: 'SENT', attempts: 1 });
    const leftId = `zzzz-${randomUUID()}:${admin.userId}:EMAIL`;
    await messages().insertOne({ ...base, ...item, _id: leftId, status: 'HELD', digest: { id: overId, programLabel: 'Left', locationLabel: location, fiscalYear: CURRENT_FY } });

    // Pages of two: the open digest's three fill the first and start the second.
    const released = await service.app.get(InvitationDigests).sweep(new Date(), 2);
    expect(released).toContain(leftId);
    for (const email of held) expect(released).not.toContain(email._id);
    expect(await messages().countDocuments({ _id: { $in: held.map((e) => e._id) }, status: 'HELD' })).toBe(3);
    expect(await outcomeOf(leftId)).toMatchObject({ template: 'invitation', attempts: 1 });
    await messages().updateOne({ _id: openId }, { $set: { status: 'CANCELLED' } });
    await messages().deleteMany({ _id: { $in: held.map((e) => e._id) } });
  });

  it("sent again by an operator after it failed, goes again as one email with the emails that failed with it; one of them named by its id goes by itself", async () => {
    const world = new World(kafka, issuer, service);
    const [location] = await world.register('Failed Digest');
    const admin = await world.user('Again', [{ role: 'INCENTIVES_ADMIN', locationIds: ['*'] }]);
    const failedAt = new Date(Date.now() - 60_000);
    const base = { ...storedEmail(world, admin, new Date(Date.now() - 3_600_000)), attempts: 3, failedAt, lastError: '451 mailbox busy' };
    const digestId = `invitation-digest-${randomUUID()}:${admin.userId}:EMAIL`;
    await messages().insertOne({ ...base, _id: digestId, template: 'invitation-digest', subject: 's', text: 't', status: 'FAILED' });
    const gathered = ['First', 'Second', 'Third', 'Cancelled'].map((name) => ({
      ...base,
      _id: `${randomUUID()}:${admin.userId}:EMAIL`,
      template: 'invitation',
      subject: 'Partner Incentive Enrollment Invitation',
      text: `${name} Program`,
      link: `http://portal.test/incentives/enroll?programId=${name}`,
      status: name === 'Cancelled' ? 'CANCELLED' : 'FAILED',
      digest: { id: digestId, programLabel: `${name} Program`, locationLabel: location, fiscalYear: CURRENT_FY },
    }));
    await messages().insertMany(gathered);
    const [first, second, third, cancelled] = gathered;
    const resend = async (body: object) => {
      const response = await fetch(`${service.url}/v1/operator/emails/resend`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-operator-key': OPERATOR_KEY },
        body: JSON.stringify(body),
      });
      expect(response.status).toBe(200);
      return (await response.json()) as { resent: string[]; notResent: unknown[]; remaining: number };
    };

    // One of them named by its id: by itself, out of the digest.
    expect(await resend({ notificationIds: [third._id] })).toMatchObject({ resent: [third._id] });
    const [alone] = await smtp.waitFor(admin.email, { timeoutMs: 30_000 });
    expect(alone.parsed.messageId).toBe(`<${third._id.replace(/:/g, '.')}@incentives.local>`);
    expect(await outcomeOf(third._id)).toMatchObject({ resend: 1, attempts: 1 });

    // The window finds the digest, not the emails it gathered: they go with it, held for it again.
    expect(await resend({ failedSince: new Date(failedAt.getTime() - 1_000).toISOString(), partnerId: world.partnerId })).toEqual({ resent: [digestId], notResent: [], remaining: 0 });
    const mails = await smtp.waitFor(admin.email, { count: 2, timeoutMs: 30_000 });
    const digestMail = mails.find((m) => m.parsed.messageId === `<${digestId.replace(/:/g, '.')}@incentives.local>`);
    expect(digestMail?.parsed.text).toContain('2 invitations');
    expect(digestMail?.parsed.text).toContain('First Program');
    expect(digestMail?.parsed.text).toContain('Second Program');
    expect(digestMail?.parsed.text).not.toContain('Third Program');
    for (const email of [first, second]) {
      expect(await outcomeOf(email._id)).toMatchObject({ resend: 1, mailMessageId: digestMail!.parsed.messageId });
      expect(await messages().findOne({ _id: email._id })).toMatchObject({ status: 'SENT', sentIn: digestId, resends: 1 });
    }
    expect(await messages().findOne({ _id: cancelled._id })).toMatchObject({ status: 'CANCELLED' });
    expect(await messages().findOne({ _id: digestId })).toMatchObject({ status: 'SENT', resends: 1 });
    expect(smtp.to(admin.email)).toHaveLength(2);

    // Another one named together with one of its emails, the digest first: that email still goes by itself.
    const otherId = `invitation-digest-${randomUUID()}:${admin.userId}:EMAIL`;
    await messages().insertOne({ ...base, _id: otherId, template: 'invitation-digest', subject: 's', text: 't', status: 'FAILED' });
    const [named, kept] = ['Named', 'Kept'].map((name) => ({
      ...base,
      _id: `${randomUUID()}:${admin.userId}:EMAIL`,
      template: 'invitation',
      subject: 'Partner Incentive Enrollment Invitation',
      text: `${name} Program`,
      status: 'FAILED',
      digest: { id: otherId, programLabel: `${name} Program`, locationLabel: location, fiscalYear: CURRENT_FY },
    }));
    await messages().insertMany([named, kept]);
    const both = await resend({ notificationIds: [otherId, named._id] });
    expect([...both.resent].sort()).toEqual([otherId, named._id].sort());
    const four = await smtp.waitFor(admin.email, { count: 4, timeoutMs: 30_000 });
    expect(four.find((m) => m.parsed.messageId === `<${named._id.replace(/:/g, '.')}@incentives.local>`)?.parsed.text).toContain('Named Program');
    // The digest left with one email sends it as that email, under the digest's Message-ID.
    expect(four.find((m) => m.parsed.messageId === `<${otherId.replace(/:/g, '.')}@incentives.local>`)?.parsed.text).toContain('Kept Program');
  });
});
