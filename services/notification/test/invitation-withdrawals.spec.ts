import { nextFiscalYear, NotificationSent, ProgramSnapshot, ProgramState, Topics } from '@lib/contracts';
import { eventually, outboxSettled, RunningService, TopicWatch } from '@lib/testing';
import { randomUUID } from 'node:crypto';
import { notificationUnderTest } from './support/boot';
import { emailId, issuedTo, publishInvitationEvent } from './support/invitation-events';
import { RETRIED_QUICKLY, waitingEmails } from './support/waiting-emails';
import { CURRENT_FY, recipient, World } from './support/world';

jest.setTimeout(120_000);

/**
 * Emails about an invitation that are still waiting (an SMTP server answering 4xx, an outage: retries run for about an
 * hour) when what they say stops being true: the invitation was revoked (SPEC 1, Invitations 5), or the location the
 * admin-needed email is about got an Incentives admin who received the invitation. The events are shaped as the
 * invitations service publishes them (services/invitations/src/invitations/invitation-events.ts).
 */
let service: RunningService;
let watch: TopicWatch;
const { issuer, kafka, smtp, mongo } = notificationUnderTest(RETRIED_QUICKLY, { watch: [Topics.notifications], ready: (up) => ({ service, watch } = up) });

const { messages, waitingAfterRefusal, checkedAgain, settled } = waitingEmails(mongo, smtp, () => service);

/** One invitation of a location, as the invitations service names it in every event about it. */
function anInvitation(world: World, locationId: string) {
  const programId = `prog-${randomUUID().slice(0, 8)}`;
  return {
    invitationId: `inv-${randomUUID()}`,
    programId,
    programName: 'Azure Partner Incentives',
    partnerId: world.partnerId,
    locationId,
    fiscalYear: CURRENT_FY,
  };
}


function outcomesOf(id: string) {
  return watch.find((m) => (m.envelope?.data as { notificationId?: string } | undefined)?.notificationId === id);
}

/** The only outcome published for the message: NotificationCancelled, with the reason (never NotificationSent). */
function withdrawnOnly(id: string, reason: string): void {
  expect(outcomesOf(id).map((m) => [m.envelope!.type, (m.envelope!.data as { reason?: string }).reason])).toEqual([['NotificationCancelled', reason]]);
}

/**
 * Every outcome the service wrote for these messages is on the watch (outboxSettled): NotificationSent/Failed/Cancelled wait in
 * the message's outbox and a relay publishes them later, so "none was published", checked right after the status
 * write, would pass even with one on its way.
 */
function outcomesSettled(world: World, ...ids: string[]): Promise<void> {
  return outboxSettled({ collection: messages(), filter: { _id: { $in: ids } }, kafka, watch, topic: Topics.notifications, keys: [world.partnerId] });
}

describe('an invitation email still waiting', () => {
  it('is cancelled, never sent, when the invitation is revoked meanwhile (no NotificationSent)', async () => {
    const world = new World(kafka, issuer, service);
    const [location] = await world.register('Contoso Revoked');
    const admin = await world.user('Waiting', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);
    const other = await world.user('Marker', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);
    smtp.refuse(admin.email, Infinity);

    const invitation = anInvitation(world, location);
    const issue = await publishInvitationEvent(kafka, 'InvitationIssued', issuedTo(invitation, [admin]));
    const id = emailId(issue, admin);
    await waitingAfterRefusal(id, admin);

    const revoked = await publishInvitationEvent(kafka, 'InvitationRevoked', { ...invitation, reasons: ['Location no longer eligible'] });
    // Delivered again (the ledger drops it) and sent again under another event id (the $max keeps one time): nothing more.
    await kafka.publish(Topics.invitations, location, revoked);
    await kafka.publish(Topics.invitations, location, { ...revoked, eventId: randomUUID() });
    // Same key, same partition: once this one's email arrives, the revocation has been consumed.
    const marker = await publishInvitationEvent(kafka, 'InvitationIssued', issuedTo(anInvitation(world, location), [other]));
    await smtp.waitFor(other.email);
    await checkedAgain(id);
    smtp.refuse(admin.email, 0);

    const stored = await settled(id);
    expect(stored).toMatchObject({ status: 'CANCELLED', lastError: 'invitation revoked before delivery' });
    expect(smtp.to(admin.email)).toHaveLength(0);
    await outcomesSettled(world, id);
    withdrawnOnly(id, 'invitation revoked before delivery');
    // The inbox entry stays as it was written (see the README): it was delivered when it was written.
    expect(await messages().findOne({ _id: `${issue.eventId}:${admin.userId}:INBOX` })).toMatchObject({ status: 'SENT' });
    expect((await messages().findOne({ _id: emailId(marker, other) }))?.status).toBe('SENT');
  });

  it('of an invitation issued again after its revocation (same invitation id, later event) is still sent', async () => {
    const world = new World(kafka, issuer, service);
    const [location] = await world.register('Contoso Reissued');
    const admin = await world.user('Again', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);
    smtp.refuse(admin.email, Infinity);

    const invitation = anInvitation(world, location);
    const first = await publishInvitationEvent(kafka, 'InvitationIssued', issuedTo(invitation, [admin]));
    await waitingAfterRefusal(emailId(first, admin), admin);
    await publishInvitationEvent(kafka, 'InvitationRevoked', { ...invitation, reasons: ['Location no longer eligible'] });
    // Eligible again: the invitations service issues the same invitation (same id) as a new cycle.
    const again = await publishInvitationEvent(kafka, 'InvitationIssued', issuedTo(invitation, [admin]));
    // Consumed after the revocation (same partition): both emails wait for the server now.
    await eventually(async () => expect((await messages().findOne({ _id: emailId(again, admin) }))?.attempts).toBeGreaterThanOrEqual(1), 60_000);
    await checkedAgain(emailId(first, admin));
    smtp.refuse(admin.email, 0);

    expect(await settled(emailId(again, admin))).toMatchObject({ status: 'SENT' });
    expect(await settled(emailId(first, admin))).toMatchObject({ status: 'CANCELLED', lastError: 'invitation revoked before delivery' });
    const [sent] = await watch.waitFor<NotificationSent>((m) => (m.envelope?.data as { notificationId?: string })?.notificationId === emailId(again, admin));
    expect(sent.envelope!.data).toMatchObject({ template: 'invitation', causationEventType: 'InvitationIssued' });
    expect(smtp.to(admin.email).map((m) => m.parsed.messageId)).toEqual([`<${again.eventId}.${admin.userId}.EMAIL@incentives.local>`]);
    await outcomesSettled(world, emailId(first, admin));
    withdrawnOnly(emailId(first, admin), 'invitation revoked before delivery');
  });

  it('of an invitation issued again is still sent when the instance that revoked it had a clock ahead: the versions order them', async () => {
    const world = new World(kafka, issuer, service);
    const [location] = await world.register('Contoso Skewed');
    const admin = await world.user('Skewed', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);
    smtp.refuse(admin.email, Infinity);

    const invitation = anInvitation(world, location);
    const now = Date.now();
    const first = await publishInvitationEvent(kafka, 'InvitationIssued', { ...issuedTo(invitation, [admin]), invitationVersion: 1 }, new Date(now - 60_000));
    await waitingAfterRefusal(emailId(first, admin), admin);
    // Revoked (version 2) by an instance whose clock runs a minute ahead of the one that issues it again (version 3).
    await publishInvitationEvent(kafka, 'InvitationRevoked', { ...invitation, invitationVersion: 2, reasons: ['Location no longer eligible'] }, new Date(now + 60_000));
    const again = await publishInvitationEvent(kafka, 'InvitationIssued', { ...issuedTo(invitation, [admin]), invitationVersion: 3 }, new Date(now));
    await eventually(async () => expect((await messages().findOne({ _id: emailId(again, admin) }))?.attempts).toBeGreaterThanOrEqual(1), 60_000);
    await checkedAgain(emailId(first, admin));
    smtp.refuse(admin.email, 0);

    expect(await settled(emailId(again, admin))).toMatchObject({ status: 'SENT' });
    expect(await settled(emailId(first, admin))).toMatchObject({ status: 'CANCELLED', lastError: 'invitation revoked before delivery' });
    expect(smtp.to(admin.email).map((m) => m.parsed.messageId)).toEqual([`<${again.eventId}.${admin.userId}.EMAIL@incentives.local>`]);
  });
});

/** The program as the enrollment service publishes it on programs.events.v1 (key programId): its event, sent. */
function sendProgram(programId: string, revision: number, state: ProgramState, fiscalYear = CURRENT_FY, occurredAt?: Date) {
  const program: ProgramSnapshot = {
    programId,
    name: 'Azure Partner Incentives',
    fiscalYear,
    requiresEligibility: true,
    payoutRules: { allowedCurrencies: ['USD'], allowedPaymentMethods: ['ELECTRONIC_BANK_TRANSFER'], taxProfileRequired: true },
    state,
    revision,
  };
  return kafka.publishEvent(Topics.programs, programId, { type: revision === 1 ? 'ProgramCreated' : 'ProgramUpdated', source: 'enrollment', data: { program }, occurredAt });
}

/** The program's event sent (sendProgram), once this service holds that revision. */
async function publishProgram(programId: string, revision: number, state: ProgramState, fiscalYear = CURRENT_FY, occurredAt?: Date): Promise<void> {
  await sendProgram(programId, revision, state, fiscalYear, occurredAt);
  // Another topic than the invitation's: its own partition, so no marker event; the view tells when it was applied.
  await eventually(async () => expect(await mongo.db(service.env.MONGO_DB).collection('programs').findOne({ _id: programId as never })).toMatchObject({ revision, state }), 60_000);
}

describe('an email about an invitation still waiting when its program changes', () => {
  it('is cancelled, never sent, once the program closed, was discontinued or moved to the next fiscal year', async () => {
    const world = new World(kafka, issuer, service);
    const [closed, discontinued, moved] = await world.register('Fabrikam Closed', 'Fabrikam Discontinued', 'Fabrikam Moved');
    const global = await world.user('Global', [{ role: 'GLOBAL_ADMIN', locationIds: ['*'] }]);
    // Three invitation emails at most: a fourth within the digest window would be gathered into a digest.
    const admin = await world.user('Admin', [{ role: 'INCENTIVES_ADMIN', locationIds: [closed, discontinued, moved] }]);
    for (const user of [admin, global]) smtp.refuse(user.email, Infinity);

    const invitations = [closed, discontinued, moved].map((location) => anInvitation(world, location));
    for (const invitation of invitations) await publishProgram(invitation.programId, 1, 'OPEN');
    const issued = await Promise.all(invitations.map((invitation) => publishInvitationEvent(kafka, 'InvitationIssued', issuedTo(invitation, [admin]))));
    // The request to assign an Incentives admin to the closed program's location: withdrawn as well.
    const request = await publishInvitationEvent(kafka, 'AdminAssignmentRequested', { ...invitations[0], recipients: [recipient(global)] });
    const ids = issued.map((event) => emailId(event, admin));
    await Promise.all([...ids.map((id) => waitingAfterRefusal(id, admin)), waitingAfterRefusal(emailId(request, global), global)]);

    await publishProgram(invitations[0].programId, 2, 'CLOSED');
    await publishProgram(invitations[1].programId, 2, 'DISCONTINUED');
    await publishProgram(invitations[2].programId, 2, 'OPEN', nextFiscalYear(CURRENT_FY));
    for (const id of [...ids, emailId(request, global)]) await checkedAgain(id);
    for (const user of [admin, global]) smtp.refuse(user.email, 0);

    expect(await settled(ids[0])).toMatchObject({ status: 'CANCELLED', lastError: 'program CLOSED before delivery' });
    expect(await settled(ids[1])).toMatchObject({ status: 'CANCELLED', lastError: 'program DISCONTINUED before delivery' });
    expect(await settled(ids[2])).toMatchObject({ status: 'CANCELLED', lastError: `program moved to ${nextFiscalYear(CURRENT_FY)} before delivery` });
    expect(await settled(emailId(request, global))).toMatchObject({ status: 'CANCELLED', lastError: 'program CLOSED before delivery' });
    expect(smtp.to(admin.email)).toHaveLength(0);
    expect(smtp.to(global.email)).toHaveLength(0);
    await outcomesSettled(world, ...ids, emailId(request, global));
    const reasons = ['program CLOSED', 'program DISCONTINUED', `program moved to ${nextFiscalYear(CURRENT_FY)}`];
    ids.forEach((id, i) => withdrawnOnly(id, `${reasons[i]} before delivery`));
    withdrawnOnly(emailId(request, global), 'program CLOSED before delivery');
  });

  it('is sent while this service`s view of the program is behind the invitations service`s, withdrawn when that service`s was behind a closing (the revision it decided by tells)', async () => {
    const world = new World(kafka, issuer, service);
    const [reopened, moved, lagging] = await world.register('Fabrikam Reopened', 'Fabrikam Moved Meanwhile', 'Fabrikam Lagging');
    const admin = await world.user('Behind', [{ role: 'INCENTIVES_ADMIN', locationIds: [reopened, moved, lagging] }]);
    const invitations = [reopened, moved, lagging].map((location) => anInvitation(world, location));
    // Closed at revision 2 as far as this service knows; the invitations service saw it reopen (revision 3), and issued.
    await publishProgram(invitations[0].programId, 1, 'OPEN');
    await publishProgram(invitations[0].programId, 2, 'CLOSED');
    // Still in the year before the invitation's as far as this service knows; the program moved since (revision 2).
    await publishProgram(invitations[1].programId, 1, 'OPEN');
    // Closed at revision 2; the invitations service, behind, issued under revision 1 after the close.
    await publishProgram(invitations[2].programId, 1, 'OPEN');
    await publishProgram(invitations[2].programId, 2, 'CLOSED');
    const issue = (invitation: (typeof invitations)[number], programRevision: number) =>
      publishInvitationEvent(kafka, 'InvitationIssued', { ...issuedTo(invitation, [admin]), programRevision });
    const sent = [await issue(invitations[0], 3), await issue({ ...invitations[1], fiscalYear: nextFiscalYear(CURRENT_FY) }, 2)];
    const late = await issue(invitations[2], 1);
    for (const event of sent) expect(await settled(emailId(event, admin))).toMatchObject({ status: 'SENT' });
    expect(await settled(emailId(late, admin))).toMatchObject({ status: 'CANCELLED', lastError: 'program CLOSED before delivery' });
    expect(smtp.to(admin.email).map((m) => m.parsed.messageId).sort()).toEqual(sent.map((event) => `<${event.eventId}.${admin.userId}.EMAIL@incentives.local>`).sort());
  });

  it('of an event without the revision it was decided by (written before it did) is compared by time', async () => {
    const world = new World(kafka, issuer, service);
    const [location] = await world.register('Fabrikam Older Event');
    const admin = await world.user('Older', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);
    const invitation = anInvitation(world, location);
    // Closed a minute before the event: the invitations service saw it reopen since (unseen here).
    await publishProgram(invitation.programId, 1, 'OPEN', CURRENT_FY, new Date(Date.now() - 120_000));
    await publishProgram(invitation.programId, 2, 'CLOSED', CURRENT_FY, new Date(Date.now() - 60_000));
    const event = await publishInvitationEvent(kafka, 'InvitationIssued', issuedTo(invitation, [admin]));
    expect(await settled(emailId(event, admin))).toMatchObject({ status: 'SENT' });
  });

  it('applies a program`s events by revision: an older one arriving late changes nothing', async () => {
    const world = new World(kafka, issuer, service);
    const [location] = await world.register('Fabrikam Late Revision');
    const admin = await world.user('Late', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);
    smtp.refuse(admin.email, Infinity);
    const invitation = anInvitation(world, location);
    await publishProgram(invitation.programId, 2, 'OPEN');
    const issue = await publishInvitationEvent(kafka, 'InvitationIssued', issuedTo(invitation, [admin]));
    await waitingAfterRefusal(emailId(issue, admin), admin);

    // Revision 1 (closed) after revision 2 (reopened): the view keeps revision 2.
    const stale = await sendProgram(invitation.programId, 1, 'CLOSED');
    // Handled: in the consumer's ledger.
    const db = mongo.db(service.env.MONGO_DB);
    await eventually(async () => expect(await db.collection('processed_events').findOne({ _id: `${service.env.KAFKA_GROUP_ID}:${stale.eventId}` as never })).not.toBeNull(), 60_000);
    expect(await db.collection('programs').findOne({ _id: invitation.programId as never })).toMatchObject({ revision: 2, state: 'OPEN' });
    smtp.refuse(admin.email, 0);

    expect(await settled(emailId(issue, admin))).toMatchObject({ status: 'SENT' });
  });
});

describe('an admin-needed email still waiting', () => {
  it('is cancelled, never sent, once the invitation was delivered to an Incentives admin assigned meanwhile', async () => {
    const world = new World(kafka, issuer, service);
    const [location] = await world.register('Northwind Assigned');
    const global = await world.user('Global', [{ role: 'GLOBAL_ADMIN', locationIds: ['*'] }]);
    smtp.refuse(global.email, Infinity);

    const invitation = anInvitation(world, location);
    const request = await publishInvitationEvent(kafka, 'AdminAssignmentRequested', { ...invitation, recipients: [recipient(global)] });
    const id = emailId(request, global);
    await waitingAfterRefusal(id, global);

    // The Global admin assigns an Incentives admin; the waiting invitation is delivered to them.
    const late = await world.user('Assigned', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);
    const delivered = await publishInvitationEvent(kafka, 'InvitationDelivered', issuedTo(invitation, [late]));
    // The invitation itself reaches the new admin (and tells that the delivery has been consumed).
    const [mail] = await smtp.waitFor(late.email);
    expect(mail.parsed.messageId).toBe(`<${delivered.eventId}.${late.userId}.EMAIL@incentives.local>`);
    await checkedAgain(id);
    smtp.refuse(global.email, 0);

    expect(await settled(id)).toMatchObject({
      status: 'CANCELLED',
      lastError: 'an Incentives admin was assigned and received the invitation before delivery',
    });
    expect(smtp.to(global.email)).toHaveLength(0);
    await outcomesSettled(world, id);
    withdrawnOnly(id, 'an Incentives admin was assigned and received the invitation before delivery');
  });
});
