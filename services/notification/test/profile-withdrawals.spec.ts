import { Envelope, Topics } from '@lib/contracts';
import { eventually, RunningService } from '@lib/testing';
import { randomUUID } from 'node:crypto';
import { notificationUnderTest } from './support/boot';
import { emailId } from './support/invitation-events';
import { RETRIED_QUICKLY, waitingEmails } from './support/waiting-emails';
import { TestUser, World } from './support/world';

jest.setTimeout(120_000);

/**
 * Emails about a bank or tax profile that are still waiting (an SMTP server answering 4xx: retries run for about an
 * hour) when what they say stops being true: the rejected profile was changed and submitted again, or the forms of an
 * expiring tax profile were renewed. The events are shaped as payout-profiles publishes them (profile-events.ts).
 */
let service: RunningService;
const { issuer, kafka, smtp, mongo } = notificationUnderTest(RETRIED_QUICKLY, { ready: (up) => ({ service } = up) });

const { messages, waitingAfterRefusal, checkedAgain, settled } = waitingEmails(mongo, smtp, () => service);

/** A tax profile's event, keyed by its location as payout-profiles keys it. */
function taxEvent(world: World, locationId: string, type: string, data: Record<string, unknown>): Promise<Envelope> {
  return kafka.publishEvent(Topics.payoutProfiles, locationId, {
    type,
    data: { profileKind: 'TAX', partnerId: world.partnerId, locationId, reasons: [], ...data },
  });
}

/** A bank profile's event, keyed by its partner as payout-profiles keys it. */
function bankEvent(world: World, type: string, data: Record<string, unknown>): Promise<Envelope> {
  return kafka.publishEvent(Topics.payoutProfiles, world.partnerId, {
    type,
    data: { profileKind: 'BANK', partnerId: world.partnerId, name: 'Main EUR account', reasons: [], ...data },
  });
}

/** Same key, same partition: once the marker's email reached `other`, every event published before it is consumed. */
async function consumedUpTo(world: World, locationId: string, other: TestUser): Promise<void> {
  const marker = await taxEvent(world, locationId, 'ProfileActionRequired', { profileId: `tax-${randomUUID()}`, revision: 1, status: 'ACTION_REQUIRED', reasons: ['Marker'] });
  await eventually(async () => expect(smtp.to(other.email).some((m) => m.parsed.messageId?.startsWith(`<${marker.eventId}.`))).toBe(true), 60_000);
}

/** A location with two Incentives admins: one whose emails the server refuses (they wait), one for the markers. */
async function locationWithAdmins(name: string) {
  const world = new World(kafka, issuer, service);
  const [location] = await world.register(name);
  const admin = await world.user('Waiting', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);
  const other = await world.user('Marker', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);
  smtp.refuse(admin.email, Infinity);
  return { world, location, admin, other };
}

describe('an email about a profile still waiting', () => {
  it('"could not validate" is cancelled once the profile is changed and submitted again (a later revision), not sent', async () => {
    const { world, location, admin, other } = await locationWithAdmins('Contoso Resubmitted');
    const profileId = `tax-${randomUUID()}`;
    const rejected = await taxEvent(world, location, 'ProfileActionRequired', { profileId, revision: 2, status: 'ACTION_REQUIRED', reasons: ['The TIN does not match'] });
    await waitingAfterRefusal(emailId(rejected, admin), admin);

    await taxEvent(world, location, 'ProfileSubmittedForValidation', { profileId, revision: 3, status: 'PENDING_VALIDATION' });
    await consumedUpTo(world, location, other);
    await checkedAgain(emailId(rejected, admin));
    smtp.refuse(admin.email, 0);

    expect(await settled(emailId(rejected, admin))).toMatchObject({ status: 'CANCELLED', lastError: expect.stringContaining('the profile changed since (revision 3)') });
    expect(smtp.to(admin.email).filter((m) => m.parsed.messageId?.startsWith(`<${rejected.eventId}.`))).toHaveLength(0);
    // The inbox entry stays as it was written: it was delivered then.
    expect(await messages().findOne({ _id: `${rejected.eventId}:${admin.userId}:INBOX` })).toMatchObject({ status: 'SENT' });
  });

  it('"expires on" is cancelled once the forms expire at another date, and still sent after an edit that keeps the date', async () => {
    const { world, location, admin, other } = await locationWithAdmins('Contoso Renewed');
    const soon = new Date(Date.now() + 20 * 86_400_000).toISOString();
    const later = new Date(Date.now() + 400 * 86_400_000).toISOString();
    const [renewed, edited] = [`tax-${randomUUID()}`, `tax-${randomUUID()}`];
    for (const profileId of [renewed, edited]) {
      await taxEvent(world, location, 'ProfileApproved', { profileId, revision: 1, status: 'APPROVED', expiresAt: soon });
    }
    const expiring = await Promise.all([renewed, edited].map((profileId) => taxEvent(world, location, 'TaxProfileExpiring', { profileId, expiresAt: soon, daysLeft: 20 })));
    for (const event of expiring) await waitingAfterRefusal(emailId(event, admin), admin);

    await taxEvent(world, location, 'ProfileSubmittedForValidation', { profileId: renewed, revision: 2, status: 'PENDING_VALIDATION', expiresAt: later });
    await taxEvent(world, location, 'ProfileSubmittedForValidation', { profileId: edited, revision: 2, status: 'PENDING_VALIDATION', expiresAt: soon });
    await consumedUpTo(world, location, other);
    for (const event of expiring) await checkedAgain(emailId(event, admin));
    smtp.refuse(admin.email, 0);

    expect(await settled(emailId(expiring[0], admin))).toMatchObject({ status: 'CANCELLED', lastError: `the profile's forms expire on ${later.slice(0, 10)} since` });
    expect(await settled(emailId(expiring[1], admin))).toMatchObject({ status: 'SENT' });
  });
});

describe('a bank profile\'s "could not validate" email still waiting', () => {
  const handedOverTo = async (eventId: string) =>
    (await mongo.db(service.env.MONGO_DB).collection<{ _id: string; handedOverTo?: string[] }>('planned_events').findOne({ _id: eventId }))?.handedOverTo ?? [];

  it('is cancelled for an admin of a location the profile stopped serving (locationIds narrowed, the same revision), still sent to one of a location it serves', async () => {
    const world = new World(kafka, issuer, service);
    const [left, kept] = await world.register('Contoso Left Behind', 'Contoso Still Served');
    const leftAdmin = await world.user('Left', [{ role: 'INCENTIVES_ADMIN', locationIds: [left] }]);
    const bothAdmin = await world.user('Both', [{ role: 'INCENTIVES_ADMIN', locationIds: [left, kept] }]);
    const keptAdmin = await world.user('Kept', [{ role: 'INCENTIVES_ADMIN', locationIds: [kept] }]);
    for (const user of [leftAdmin, bothAdmin]) smtp.refuse(user.email, Infinity);
    const profileId = `bank-${randomUUID()}`;
    const rejection = { profileId, revision: 2, status: 'ACTION_REQUIRED', reasons: ['IBAN does not exist'] };
    const rejected = await bankEvent(world, 'ProfileActionRequired', { ...rejection, version: 3, locationIds: [left, kept] });
    for (const user of [leftAdmin, bothAdmin]) await waitingAfterRefusal(emailId(rejected, user), user);

    // Narrowed to `kept` alone: a version of the same revision (nothing to validate again). An older version arriving
    // late changes nothing.
    await bankEvent(world, 'ProfileUpdated', { ...rejection, version: 4, locationIds: [kept] });
    await bankEvent(world, 'ProfileUpdated', { ...rejection, version: 2, locationIds: [left, kept] });
    // Same key (the partner), same partition: once the marker reached `keptAdmin`, the changes are consumed.
    const marker = await bankEvent(world, 'ProfileActionRequired', { profileId: `bank-${randomUUID()}`, revision: 1, version: 1, status: 'ACTION_REQUIRED', reasons: ['Marker'], locationIds: [kept] });
    await eventually(async () => expect(smtp.to(keptAdmin.email).some((m) => m.parsed.messageId?.startsWith(`<${marker.eventId}.`))).toBe(true), 60_000);
    for (const user of [leftAdmin, bothAdmin]) await checkedAgain(emailId(rejected, user));
    for (const user of [leftAdmin, bothAdmin]) smtp.refuse(user.email, 0);

    expect(await settled(emailId(rejected, leftAdmin))).toMatchObject({ status: 'CANCELLED', lastError: "the profile no longer serves the recipient's locations" });
    expect(smtp.to(leftAdmin.email)).toHaveLength(0);
    expect(await settled(emailId(rejected, bothAdmin))).toMatchObject({ status: 'SENT' });
    expect(smtp.to(keptAdmin.email).filter((m) => m.parsed.messageId?.startsWith(`<${rejected.eventId}.`))).toHaveLength(1);
    // Nothing handed over: the admins of the location it still serves were told.
    expect(await handedOverTo(rejected.eventId)).toEqual([]);
  });

  it('is handed over to an Incentives admin of a location it serves now when none it told is one', async () => {
    const world = new World(kafka, issuer, service);
    const [left, kept] = await world.register('Contoso Narrowed Away', 'Contoso Without Admin');
    const leftAdmin = await world.user('Left', [{ role: 'INCENTIVES_ADMIN', locationIds: [left] }]);
    smtp.refuse(leftAdmin.email, Infinity);
    const profileId = `bank-${randomUUID()}`;
    const rejection = { profileId, revision: 1, status: 'ACTION_REQUIRED', reasons: ['IBAN does not exist'] };
    // `kept` has no Incentives admin yet: only `leftAdmin` is told.
    const rejected = await bankEvent(world, 'ProfileActionRequired', { ...rejection, version: 1, locationIds: [left, kept] });
    await waitingAfterRefusal(emailId(rejected, leftAdmin), leftAdmin);

    const appointed = await world.user('Appointed', [{ role: 'INCENTIVES_ADMIN', locationIds: [kept] }]);
    await bankEvent(world, 'ProfileUpdated', { ...rejection, version: 2, locationIds: [kept] });
    const marker = await bankEvent(world, 'ProfileActionRequired', { profileId: `bank-${randomUUID()}`, revision: 1, version: 1, status: 'ACTION_REQUIRED', reasons: ['Marker'], locationIds: [kept] });
    await eventually(async () => expect(smtp.to(appointed.email).some((m) => m.parsed.messageId?.startsWith(`<${marker.eventId}.`))).toBe(true), 60_000);
    await checkedAgain(emailId(rejected, leftAdmin));
    smtp.refuse(leftAdmin.email, 0);

    expect(await settled(emailId(rejected, leftAdmin))).toMatchObject({ status: 'CANCELLED', lastError: "the profile no longer serves the recipient's locations" });
    const [mail] = await eventually(async () => {
      const told = smtp.to(appointed.email).filter((m) => m.parsed.messageId?.startsWith(`<${rejected.eventId}.`));
      expect(told).toHaveLength(1);
      return told;
    }, 60_000);
    expect(mail.parsed.text).toContain('IBAN does not exist');
    expect(await handedOverTo(rejected.eventId)).toEqual([appointed.userId]);
    expect(smtp.to(leftAdmin.email)).toHaveLength(0);
  });

  it('narrowed from every location (*): still sent to an admin of every location, cancelled for an admin of one it no longer serves', async () => {
    const world = new World(kafka, issuer, service);
    const [left, kept] = await world.register('Contoso All Before', 'Contoso Only After');
    const everywhere = await world.user('Everywhere', [{ role: 'INCENTIVES_ADMIN', locationIds: ['*'] }]);
    const leftAdmin = await world.user('Left', [{ role: 'INCENTIVES_ADMIN', locationIds: [left] }]);
    for (const user of [everywhere, leftAdmin]) smtp.refuse(user.email, Infinity);
    const profileId = `bank-${randomUUID()}`;
    const rejection = { profileId, revision: 1, status: 'ACTION_REQUIRED', reasons: ['IBAN does not exist'] };
    const rejected = await bankEvent(world, 'ProfileActionRequired', { ...rejection, version: 1, locationIds: ['*'] });
    for (const user of [everywhere, leftAdmin]) await waitingAfterRefusal(emailId(rejected, user), user);

    await bankEvent(world, 'ProfileUpdated', { ...rejection, version: 2, locationIds: [kept] });
    const other = await world.user('Marker', [{ role: 'INCENTIVES_ADMIN', locationIds: [kept] }]);
    const marker = await bankEvent(world, 'ProfileActionRequired', { profileId: `bank-${randomUUID()}`, revision: 1, version: 1, status: 'ACTION_REQUIRED', reasons: ['Marker'], locationIds: [kept] });
    await eventually(async () => expect(smtp.to(other.email).some((m) => m.parsed.messageId?.startsWith(`<${marker.eventId}.`))).toBe(true), 60_000);
    for (const user of [everywhere, leftAdmin]) await checkedAgain(emailId(rejected, user));
    for (const user of [everywhere, leftAdmin]) smtp.refuse(user.email, 0);

    expect(await settled(emailId(rejected, leftAdmin))).toMatchObject({ status: 'CANCELLED', lastError: "the profile no longer serves the recipient's locations" });
    expect(await settled(emailId(rejected, everywhere))).toMatchObject({ status: 'SENT' });
    // `everywhere`, told, is an admin of the location it serves now: nobody more.
    expect(await handedOverTo(rejected.eventId)).toEqual([]);
  });
});

describe('an email about a profile whose recipient was renamed while it waited', () => {
  it('greets them by their name now, at their current address', async () => {
    const { world, location, admin } = await locationWithAdmins('Contoso Renamed');
    const rejected = await taxEvent(world, location, 'ProfileActionRequired', { profileId: `tax-${randomUUID()}`, revision: 1, status: 'ACTION_REQUIRED', reasons: ['The TIN does not match'] });
    const id = emailId(rejected, admin);
    await waitingAfterRefusal(id, admin);
    expect((await messages().findOne({ _id: id }))!.text).toContain(`Hello ${admin.displayName},`);

    const renamed = await world.rename(admin, 'Jane Smith');
    await checkedAgain(id);
    smtp.refuse(admin.email, 0);

    expect(await settled(id)).toMatchObject({ status: 'SENT', displayName: 'Jane Smith', text: expect.stringContaining('Hello Jane Smith,') });
    const [mail] = smtp.to(renamed.email).filter((m) => m.parsed.messageId?.startsWith(`<${rejected.eventId}.`));
    expect(mail.parsed.text).toContain('Hello Jane Smith,');
    expect(mail.parsed.html).toContain('Hello Jane Smith,');
    expect(mail.parsed.text).toContain('The TIN does not match');
    expect(mail.parsed.text).not.toContain(`Hello ${admin.displayName}`);
  });
});

describe('an "expires on" email sent on a later day than it was written', () => {
  it('is counted again as of the day it goes ("in N days"), for its recipient as addressed now, and recorded as sent', async () => {
    const { world, location, admin } = await locationWithAdmins('Contoso Counted Again');
    const profileId = `tax-${randomUUID()}`;
    const expiresAt = new Date(Date.now() + 10 * 86_400_000).toISOString();
    await taxEvent(world, location, 'ProfileApproved', { profileId, revision: 1, status: 'APPROVED', expiresAt });
    const expiring = await taxEvent(world, location, 'TaxProfileExpiring', { profileId, expiresAt, daysLeft: 10 });
    const id = emailId(expiring, admin);
    await waitingAfterRefusal(id, admin);
    const today = (await messages().findOne({ _id: id }))!.text as string;
    expect(today).toMatch(/\(in (9|10) days\)/);

    // As if written two days ago, when the count was two more: "(in 12 days)" in what it stored.
    const stale = (text: string) => text.replace(/\(in \d+ days\)/, '(in 12 days)');
    const written = (await messages().findOne({ _id: id }))!;
    await messages().updateOne(
      { _id: id },
      { $set: { createdAt: new Date(Date.now() - 2 * 86_400_000), subject: stale(written.subject as string), text: stale(written.text as string), html: stale(written.html as string) } },
    );
    await checkedAgain(id);
    smtp.refuse(admin.email, 0);

    expect(await settled(id)).toMatchObject({ status: 'SENT', text: today });
    const [mail] = smtp.to(admin.email).filter((m) => m.parsed.messageId?.startsWith(`<${expiring.eventId}.`));
    expect(mail.parsed.text).toContain(today.match(/\(in \d+ days\)/)![0]);
    expect(mail.parsed.text).not.toContain('(in 12 days)');
    expect(mail.parsed.html).not.toContain('(in 12 days)');
    expect(mail.parsed.text).toContain(`Hello ${admin.displayName}`);
  });

  it("goes as written to a company admin told in place of the location's Incentives admin, once one was appointed since (their wording says why)", async () => {
    const world = new World(kafka, issuer, service);
    const [location] = await world.register('Contoso Nobody Then');
    const global = await world.user('Global', [{ role: 'GLOBAL_ADMIN', locationIds: ['*'] }]);
    smtp.refuse(global.email, Infinity);
    const profileId = `tax-${randomUUID()}`;
    const expiresAt = new Date(Date.now() + 10 * 86_400_000).toISOString();
    const expiring = await taxEvent(world, location, 'TaxProfileExpiring', { profileId, expiresAt, daysLeft: 10 });
    const id = emailId(expiring, global);
    await waitingAfterRefusal(id, global);
    const stale = (text: string) => text.replace(/\(in \d+ days\)/, '(in 12 days)');
    const written = (await messages().findOne({ _id: id }))!;
    expect(written.text).toContain('Nobody holds the Incentives admin role on Contoso Nobody Then');
    await messages().updateOne({ _id: id }, { $set: { createdAt: new Date(Date.now() - 2 * 86_400_000), text: stale(written.text as string) } });

    await world.user('Appointed', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);
    await checkedAgain(id);
    smtp.refuse(global.email, 0);

    expect(await settled(id)).toMatchObject({ status: 'SENT' });
    const [mail] = smtp.to(global.email).filter((m) => m.parsed.messageId?.startsWith(`<${expiring.eventId}.`));
    expect(mail.parsed.text).toContain('Nobody holds the Incentives admin role on Contoso Nobody Then');
    expect(mail.parsed.text).toContain('(in 12 days)');
  });
});

/**
 * An email asking someone to act, cancelled while it waits because its recipient left (the role revoked there, or
 * deactivated): what it asks goes to whoever holds the role now, when nobody it told still does (HandOverMessages).
 */
describe('an email asking to act whose recipient left while it waited', () => {
  const told = async (eventId: string, user: TestUser) =>
    eventually(async () => expect(smtp.to(user.email).some((m) => m.parsed.messageId?.startsWith(`<${eventId}.`))).toBe(true), 60_000);
  const planned = (eventId: string) => mongo.db(service.env.MONGO_DB).collection<{ _id: string; recipients: string[]; handedOverTo?: string[] }>('planned_events').findOne({ _id: eventId });
  const plannedFor = async (eventId: string) => ((await planned(eventId))?.recipients ?? []).sort();
  const handedOverTo = async (eventId: string) => (await planned(eventId))?.handedOverTo ?? [];

  it("goes to the partner's Global and Account admins once the location's only Incentives admin has left it: email and inbox", async () => {
    const world = new World(kafka, issuer, service);
    const [location, elsewhere] = await world.register('Contoso Handed Over', 'Contoso Elsewhere');
    const admin = await world.user('Leaving', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);
    const global = await world.user('Gail', [{ role: 'GLOBAL_ADMIN', locationIds: ['*'] }]);
    const account = await world.user('Abe', [{ role: 'ACCOUNT_ADMIN', locationIds: ['*'] }]);
    smtp.refuse(admin.email, Infinity);
    const rejected = await taxEvent(world, location, 'ProfileActionRequired', { profileId: `tax-${randomUUID()}`, revision: 1, status: 'ACTION_REQUIRED', reasons: ['The TIN does not match'] });
    await waitingAfterRefusal(emailId(rejected, admin), admin);

    await world.changeRoles(admin, [{ role: 'INCENTIVES_ADMIN', locationIds: [elsewhere] }]);

    expect(await settled(emailId(rejected, admin))).toMatchObject({ status: 'CANCELLED', lastError: 'recipient no longer holds the role the message was addressed for' });
    for (const companyAdmin of [global, account]) await told(rejected.eventId, companyAdmin);
    const [mail] = smtp.to(global.email).filter((m) => m.parsed.messageId?.startsWith(`<${rejected.eventId}.`));
    expect(mail.parsed.text).toContain(`Nobody holds the Incentives admin role on Contoso Handed Over (${location}), so this message goes to your company's Global and Account admins`);
    expect(mail.parsed.text).toContain('The TIN does not match');
    for (const companyAdmin of [global, account]) {
      expect(await messages().findOne({ _id: `${rejected.eventId}:${companyAdmin.userId}:INBOX` })).toMatchObject({ status: 'SENT', audience: { roles: ['GLOBAL_ADMIN', 'ACCOUNT_ADMIN'] } });
    }
    // Recorded as told, and as handed over to them.
    expect(await plannedFor(rejected.eventId)).toEqual([admin.userId, global.userId, account.userId].sort());
    expect((await handedOverTo(rejected.eventId)).sort()).toEqual([global.userId, account.userId].sort());
  });

  // Told as an Incentives admin, they are found again as a company admin: not someone still holding the role it was
  // told for, so the other company admins are told.
  it('goes to the company admins when its only Incentives admin is made an Account admin while it waits', async () => {
    const world = new World(kafka, issuer, service);
    const [location] = await world.register('Contoso Promoted');
    const admin = await world.user('Promoted', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);
    const global = await world.user('Gwyn', [{ role: 'GLOBAL_ADMIN', locationIds: ['*'] }]);
    smtp.refuse(admin.email, Infinity);
    const rejected = await taxEvent(world, location, 'ProfileActionRequired', { profileId: `tax-${randomUUID()}`, revision: 1, status: 'ACTION_REQUIRED', reasons: ['Forms unsigned'] });
    await waitingAfterRefusal(emailId(rejected, admin), admin);

    await world.changeRoles(admin, [{ role: 'ACCOUNT_ADMIN', locationIds: ['*'] }]);

    expect(await settled(emailId(rejected, admin))).toMatchObject({ status: 'CANCELLED' });
    await told(rejected.eventId, global);
    expect(await plannedFor(rejected.eventId)).toEqual([admin.userId, global.userId].sort());
  });

  it('goes to an Incentives admin appointed since; nobody more while someone it told still holds the role', async () => {
    const world = new World(kafka, issuer, service);
    const [appointed, shared, elsewhere] = await world.register('Contoso Appointed', 'Contoso Shared', 'Contoso Far');
    const global = await world.user('Gus', [{ role: 'GLOBAL_ADMIN', locationIds: ['*'] }]);
    const leaving = await world.user('Lee', [{ role: 'INCENTIVES_ADMIN', locationIds: [appointed, shared] }]);
    const staying = await world.user('Sam', [{ role: 'INCENTIVES_ADMIN', locationIds: [shared] }]);
    smtp.refuse(leaving.email, Infinity);
    const event = (locationId: string) =>
      taxEvent(world, locationId, 'ProfileActionRequired', { profileId: `tax-${randomUUID()}`, revision: 1, status: 'ACTION_REQUIRED', reasons: ['Forms unsigned'] });
    const [alone, together] = [await event(appointed), await event(shared)];
    for (const waiting of [alone, together]) await waitingAfterRefusal(emailId(waiting, leaving), leaving);
    await told(together.eventId, staying);

    const newcomer = await world.user('Nia', [{ role: 'INCENTIVES_ADMIN', locationIds: [appointed] }]);
    await world.changeRoles(leaving, [{ role: 'INCENTIVES_ADMIN', locationIds: [elsewhere] }]);

    for (const waiting of [alone, together]) expect(await settled(emailId(waiting, leaving))).toMatchObject({ status: 'CANCELLED' });
    // The location has an Incentives admin again: they are told, not the company admins.
    await told(alone.eventId, newcomer);
    expect(await plannedFor(alone.eventId)).toEqual([leaving.userId, newcomer.userId].sort());
    // Sam, told, still holds the role there: handed over to nobody (written before the cancellation, so none now).
    expect(await plannedFor(together.eventId)).toEqual([leaving.userId, staying.userId].sort());
    expect(await handedOverTo(together.eventId)).toEqual([]);
    expect(await handedOverTo(alone.eventId)).toEqual([newcomer.userId]);
    expect(await messages().countDocuments({ causationEventId: { $in: [alone.eventId, together.eventId] }, userId: global.userId })).toBe(0);
  });
});
