import { AccessPolicy } from '@lib/access';
import { Role, Topics } from '@lib/contracts';
import { eventually, RunningService, servedDocs, TestIssuer, TestKafka } from '@lib/testing';
import { getModelToken } from '@nestjs/mongoose';
import { Model } from 'mongoose';
import { randomUUID } from 'node:crypto';
import { Message } from '../src/messages/message.schema';
import { bootNotification } from './support/boot';
import { SmtpTestServer } from '@lib/testing';
import { CURRENT_FY, recipient, TestUser, World } from './support/world';

jest.setTimeout(60_000);

const issuer = new TestIssuer();
const kafka = new TestKafka();
const smtp = new SmtpTestServer();
let service: RunningService;

beforeAll(async () => {
  await Promise.all([issuer.start(), smtp.start()]);
  // Counts stop at 7 (NOTIFY_INBOX_COUNT_LIMIT): above every inbox here but the one that checks the limit.
  service = await bootNotification(issuer, { SMTP_URL: smtp.url, PORTAL_BASE_URL: 'https://partner.example', NOTIFY_INBOX_COUNT_LIMIT: '7' });
});

afterAll(async () => {
  await service?.close();
  await kafka.close();
  await smtp.stop();
  await issuer.stop();
});

interface Entry {
  id: string;
  template: string;
  subject: string;
  text: string;
  link?: string;
  locationId?: string;
  eventType: string;
  read: boolean;
  readAt?: string;
  createdAt: string;
}

async function call(token: string | undefined, path: string, method = 'GET') {
  const response = await fetch(`${service.url}${path}`, {
    method,
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  const text = await response.text();
  return { status: response.status, type: response.headers.get('content-type'), body: text ? JSON.parse(text) : undefined };
}

async function unread(user: TestUser): Promise<number> {
  const { status, body } = await call(user.token, '/v1/inbox/unread-count');
  expect(status).toBe(200);
  return body.unread;
}

function enrollmentEvent(world: World, locationId: string, type: string, status: string) {
  return kafka.publishEvent(Topics.enrollments, locationId, {
    type,
    data: {
      enrollmentId: `enr-${randomUUID()}`,
      programId: 'prog-growth',
      programName: 'Azure Growth',
      partnerId: world.partnerId,
      locationId,
      fiscalYear: 'FY27',
      status,
      reasons: [],
      missing: ['TAX_PROFILE_MISSING'],
      revision: 1,
    },
  });
}

describe('inbox', () => {
  let world: World;
  let location: string;
  let avery: TestUser;
  let blake: TestUser;
  let stranger: TestUser;
  const events: string[] = [];

  beforeAll(async () => {
    world = new World(kafka, issuer, service);
    [location] = await world.register('Contoso Ltd');
    avery = await world.user('Avery', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);
    blake = await world.user('Blake', [{ role: 'GLOBAL_ADMIN', locationIds: ['*'] }]);
    const elsewhere = new World(kafka, issuer, service);
    await elsewhere.register('Fabrikam');
    stranger = await elsewhere.user('Stranger', [{ role: 'GLOBAL_ADMIN', locationIds: ['*'] }]);

    // Three messages for Avery, one at a time so that their order is known; one for Blake.
    const invitation = await kafka.publishEvent(Topics.invitations, location, {
      type: 'InvitationIssued',
      data: {
        invitationId: `inv-${randomUUID()}`,
        programId: 'prog-growth',
        programName: 'Azure Growth',
        partnerId: world.partnerId,
        locationId: location,
        fiscalYear: CURRENT_FY,
        recipients: [recipient(avery)],
        channels: ['EMAIL', 'NOTICE'],
        getStartedUrl: `https://partner.example/incentives/enroll?programId=prog-growth&locationId=${location}`,
        requiresEligibility: true,
      },
    });
    events.push(invitation.eventId);
    await eventually(async () => expect(await unread(avery)).toBe(1));
    events.push((await enrollmentEvent(world, location, 'EnrollmentActionRequired', 'ACTION_REQUIRED')).eventId);
    await eventually(async () => expect(await unread(avery)).toBe(2));
    events.push((await enrollmentEvent(world, location, 'EnrollmentValidating', 'VALIDATING')).eventId);
    await eventually(async () => expect(await unread(avery)).toBe(3));
    await kafka.publishEvent(Topics.invitations, location, {
      type: 'AdminAssignmentRequested',
      data: { invitationId: `inv-${randomUUID()}`, programId: 'prog-x', partnerId: world.partnerId, locationId: location, fiscalYear: CURRENT_FY, recipients: [recipient(blake)] },
    });
    await eventually(async () => expect(await unread(blake)).toBe(1));
  });

  it('needs a valid token', async () => {
    expect((await call(undefined, '/v1/inbox')).status).toBe(401);
    const forged = await issuer.token({ sub: avery.userId, partnerId: world.partnerId, foreignKey: true });
    const response = await call(forged, '/v1/inbox/unread-count');
    expect(response.status).toBe(401);
    expect(response.type).toMatch(/application\/problem\+json/);
  });

  it('refuses a user the service does not know, a token for another partner, and a deactivated user', async () => {
    const unknown = await issuer.token({ sub: `u-${randomUUID()}`, partnerId: world.partnerId });
    expect((await call(unknown, '/v1/inbox')).status).toBe(403);
    const otherPartner = await issuer.token({ sub: avery.userId, partnerId: `p-${randomUUID()}` });
    expect((await call(otherPartner, '/v1/inbox')).status).toBe(403);
    const leaving = await world.deactivate(await world.user('Leaving', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]));
    const response = await call(leaving.token, '/v1/inbox/unread-count');
    expect(response.status).toBe(403);
    expect(response.body.detail).toMatch(/deactivated/);
  });

  it('lists my own messages, newest first, page by page', async () => {
    const { status, body } = await call(avery.token, '/v1/inbox');
    expect(status).toBe(200);
    expect(body).toMatchObject({ total: 3 });
    expect(body).not.toHaveProperty('nextCursor');
    const items = body.items as Entry[];
    expect(items.map((i) => i.id)).toEqual([...events].reverse().map((e) => `${e}:${avery.userId}:INBOX`));
    expect(items.map((i) => i.eventType)).toEqual(['EnrollmentValidating', 'EnrollmentActionRequired', 'InvitationIssued']);
    const invitation = items[2];
    expect(invitation).toMatchObject({
      template: 'invitation',
      subject: 'Partner Incentive Enrollment Invitation',
      link: `https://partner.example/incentives/enroll?programId=prog-growth&locationId=${location}`,
      locationId: location,
      read: false,
    });
    expect(invitation.text).toContain('Get Started: https://partner.example/incentives/enroll');
    expect(items[1].text).toContain('A tax profile for the location');
    expect(Date.parse(items[0].createdAt)).toBeGreaterThanOrEqual(Date.parse(items[2].createdAt));

    const first = await call(avery.token, '/v1/inbox?limit=2');
    const second = await call(avery.token, `/v1/inbox?limit=2&cursor=${first.body.nextCursor}`);
    expect(first.body.items.map((i: Entry) => i.id)).toEqual(items.slice(0, 2).map((i) => i.id));
    expect(second.body).toMatchObject({ total: 3 });
    expect(second.body).not.toHaveProperty('nextCursor');
    expect(second.body.items.map((i: Entry) => i.id)).toEqual([items[2].id]);

    const blakes = await call(blake.token, '/v1/inbox');
    expect(blakes.body.total).toBe(1);
    expect(blakes.body.items[0]).toMatchObject({ template: 'admin-assignment-requested', eventType: 'AdminAssignmentRequested' });
    expect((await call(stranger.token, '/v1/inbox')).body).toMatchObject({ total: 0, items: [] });
  });

  it('counts unread messages and marks one read, once', async () => {
    const id = `${events[0]}:${avery.userId}:INBOX`;
    const before = await unread(avery);
    const marked = await call(avery.token, `/v1/inbox/${encodeURIComponent(id)}/read`, 'POST');
    expect(marked.status).toBe(200);
    expect(marked.body).toMatchObject({ id, read: true });
    expect(Date.parse(marked.body.readAt)).not.toBeNaN();
    expect(await unread(avery)).toBe(before - 1);

    const again = await call(avery.token, `/v1/inbox/${encodeURIComponent(id)}/read`, 'POST');
    expect(again.status).toBe(200);
    expect(again.body.readAt).toBe(marked.body.readAt);
    expect(await unread(avery)).toBe(before - 1);
    const listed = (await call(avery.token, '/v1/inbox')).body.items as Entry[];
    expect(listed.find((i) => i.id === id)).toMatchObject({ read: true, readAt: marked.body.readAt });
    expect(listed.filter((i) => !i.read)).toHaveLength(before - 1);
  });

  it("answers 404 for someone else's message, and leaves it unread", async () => {
    const id = `${events[1]}:${avery.userId}:INBOX`;
    for (const other of [blake, stranger]) {
      const response = await call(other.token, `/v1/inbox/${encodeURIComponent(id)}/read`, 'POST');
      expect(response.status).toBe(404);
      expect(response.type).toMatch(/application\/problem\+json/);
      expect(JSON.stringify(response.body)).not.toContain('Azure Growth');
    }
    expect((await call(avery.token, '/v1/inbox')).body.items.find((i: Entry) => i.id === id)).toMatchObject({ read: false });
    expect((await call(avery.token, `/v1/inbox/${encodeURIComponent(`nope:${avery.userId}:INBOX`)}/read`, 'POST')).status).toBe(404);
    // The email copy of a message is not an inbox entry.
    expect((await call(avery.token, `/v1/inbox/${encodeURIComponent(`${events[1]}:${avery.userId}:EMAIL`)}/read`, 'POST')).status).toBe(404);
  });

  // SPEC §4 "Unknown fields are rejected": marking read takes no body, so a field sent is refused, not ignored.
  it('refuses a field sent to mark a message read: 400 problem+json naming it, the message still unread', async () => {
    const id = `${events[2]}:${avery.userId}:INBOX`;
    const path = `/v1/inbox/${encodeURIComponent(id)}/read`;
    const before = await unread(avery);
    const response = await fetch(`${service.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${avery.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ read: false }),
    });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(((await response.json()) as { errors: unknown }).errors).toEqual([{ field: 'read', message: 'property read should not exist' }]);
    expect(await unread(avery)).toBe(before);
    expect((await call(avery.token, '/v1/inbox')).body.items.find((i: Entry) => i.id === id)).toMatchObject({ read: false });
  });

  it('rejects bad paging and unknown parameters with 400 problem+json naming the field', async () => {
    for (const [query, field] of [
      ['limit=0', 'limit'],
      ['limit=101', 'limit'],
      ['limit=abc', 'limit'],
      ['cursor=nope', 'cursor'],
      [`cursor=${Buffer.from(JSON.stringify(['notices', { date: new Date().toISOString() }, 'x'])).toString('base64url')}`, 'cursor'], // another list's
      ['page=2', 'page'], // the page numbers of before
    ]) {
      const response = await call(avery.token, `/v1/inbox?${query}`);
      expect(response.status).toBe(400);
      expect(response.type).toMatch(/application\/problem\+json/);
      expect(response.body.errors).toEqual([expect.objectContaining({ field })]);
    }
  });
});

// SPEC 1, Roles 4: users see data only for the locations they hold a role on. An entry is shown while the caller's
// current roles still put them in its audience, as its email would be sent (README, Endpoints).
/**
 * The identity service's RoleRevoked / RoleAssigned of `change` (with the user's whole snapshot after it, next revision);
 * returns once the view has it.
 */
async function roleEvent(
  world: World,
  type: 'RoleRevoked' | 'RoleAssigned',
  user: TestUser,
  change: { role: Role; locationIds: string[] },
  roles: TestUser['roles'],
): Promise<TestUser> {
  const { token, ...snapshot } = user;
  const next = { ...snapshot, roles, revision: user.revision + 1 };
  await kafka.publishEvent(Topics.identity, world.partnerId, { type, data: { user: next, ...change } });
  await eventually(async () => expect((await service.app.get(AccessPolicy).user(user.userId))?.revision).toBe(next.revision));
  return { ...next, token };
}

describe('inbox after a role is taken away', () => {
  let world: World;
  let l1: string;
  let l2: string;
  let dana: TestUser;
  let erin: TestUser;
  /** Dana's entries about L1 (hidden once she is no longer its Incentives admin), and the ones she keeps. */
  const aboutL1: string[] = [];
  const kept: string[] = [];
  let adminNeeded: string;

  const bankAction = (locationIds: string[]) =>
    kafka.publishEvent(Topics.payoutProfiles, world.partnerId, {
      type: 'ProfileActionRequired',
      data: {
        profileId: `bank-${randomUUID()}`,
        profileKind: 'BANK',
        partnerId: world.partnerId,
        locationIds,
        revision: 2,
        status: 'ACTION_REQUIRED',
        reasons: ['Account holder name does not match'],
        name: 'East USD account',
        maskedAccount: '****6789',
      },
    });

  beforeAll(async () => {
    world = new World(kafka, issuer, service);
    [l1, l2] = await world.register('Contoso East', 'Contoso West');
    dana = await world.user('Dana', [
      { role: 'INCENTIVES_ADMIN', locationIds: [l1] },
      { role: 'INCENTIVES_ADMIN', locationIds: [l2] },
    ]);
    erin = await world.user('Erin', [
      { role: 'GLOBAL_ADMIN', locationIds: ['*'] },
      { role: 'INCENTIVES_ADMIN', locationIds: [l2] },
    ]);
    const entry = (eventId: string, user: TestUser = dana) => `${eventId}:${user.userId}:INBOX`;
    // Oldest first, one at a time: the ones she keeps, then those about L1 (the newest, the first page).
    const events: Array<[string[], () => Promise<{ eventId: string }>]> = [
      [kept, () => enrollmentEvent(world, l2, 'EnrollmentActionRequired', 'ACTION_REQUIRED')],
      [kept, () => bankAction([l1, l2])],
      [kept, () => bankAction(['*'])],
      [aboutL1, () => enrollmentEvent(world, l1, 'EnrollmentActionRequired', 'ACTION_REQUIRED')],
      [
        aboutL1,
        () =>
          kafka.publishEvent(Topics.invitations, l1, {
            type: 'InvitationIssued',
            data: {
              invitationId: `inv-${randomUUID()}`,
              programId: 'prog-growth',
              programName: 'Azure Growth',
              partnerId: world.partnerId,
              locationId: l1,
              fiscalYear: CURRENT_FY,
              recipients: [recipient(dana)],
              channels: ['NOTICE'],
              getStartedUrl: `https://partner.example/incentives/enroll?programId=prog-growth&locationId=${l1}`,
              requiresEligibility: false,
            },
          }),
      ],
      [aboutL1, () => bankAction([l1])],
    ];
    for (const [list, publish] of events) {
      list.push(entry((await publish()).eventId));
      await eventually(async () => expect(await unread(dana)).toBe(kept.length + aboutL1.length));
    }
    const request = await kafka.publishEvent(Topics.invitations, l1, {
      type: 'AdminAssignmentRequested',
      data: { invitationId: `inv-${randomUUID()}`, programId: 'prog-x', partnerId: world.partnerId, locationId: l1, fiscalYear: CURRENT_FY, recipients: [recipient(erin)] },
    });
    adminNeeded = entry(request.eventId, erin);
    await eventually(async () => expect((await call(erin.token, '/v1/inbox')).body.items.map((i: Entry) => i.id)).toContain(adminNeeded));
  });

  it('hides the entries about a location whose role was revoked from the list, its pages and the unread count, and shows them again when it is given back', async () => {
    const before = await call(dana.token, '/v1/inbox');
    expect(before.body.total).toBe(6);
    expect(await unread(dana)).toBe(6);

    dana = await roleEvent(world, 'RoleRevoked', dana, { role: 'INCENTIVES_ADMIN', locationIds: [l1] }, [{ role: 'INCENTIVES_ADMIN', locationIds: [l2] }]);
    const after = await call(dana.token, '/v1/inbox');
    expect(after.status).toBe(200);
    expect(after.body.total).toBe(3);
    expect((after.body.items as Entry[]).map((i) => i.id)).toEqual([...kept].reverse());
    expect(JSON.stringify(after.body)).not.toContain(l1);
    expect(await unread(dana)).toBe(3);
    // Filtered in the query: the newest entries are the hidden ones, and the first page is still full.
    const first = await call(dana.token, '/v1/inbox?limit=2');
    const second = await call(dana.token, `/v1/inbox?limit=2&cursor=${first.body.nextCursor}`);
    expect(first.body).toMatchObject({ total: 3 });
    expect(first.body.items.map((i: Entry) => i.id)).toEqual([kept[2], kept[1]]);
    expect(second.body.items.map((i: Entry) => i.id)).toEqual([kept[0]]);

    for (const id of aboutL1) {
      const response = await call(dana.token, `/v1/inbox/${encodeURIComponent(id)}/read`, 'POST');
      expect(response.status).toBe(404);
      expect(response.type).toMatch(/application\/problem\+json/);
      // Nothing of the entry (its program, its profile, the account's last digits), but the id the caller sent, which a
      // random UUID may well spell "6789" in.
      const answered = JSON.stringify(response.body).split(encodeURIComponent(id)).join('').split(id).join('');
      expect(answered).not.toMatch(/Azure Growth|East USD|6789/);
    }
    expect(await unread(dana)).toBe(3);

    dana = await roleEvent(world, 'RoleAssigned', dana, { role: 'INCENTIVES_ADMIN', locationIds: [l1] }, [{ role: 'INCENTIVES_ADMIN', locationIds: [l1, l2] }]);
    const back = await call(dana.token, '/v1/inbox');
    expect(back.body.total).toBe(6);
    // Not marked read while hidden.
    expect((back.body.items as Entry[]).filter((i) => aboutL1.includes(i.id)).map((i) => i.read)).toEqual([false, false, false]);
    expect(await unread(dana)).toBe(6);
  });

  it('shows an Incentives admin of every location (`*`) the entries of each location', async () => {
    dana = await world.changeRoles(dana, [{ role: 'INCENTIVES_ADMIN', locationIds: ['*'] }]);
    expect((await call(dana.token, '/v1/inbox')).body.total).toBe(6);
    expect(await unread(dana)).toBe(6);
  });

  it('checks an entry that records its audience against it, as its email is', async () => {
    const messages = service.app.get<Model<Message>>(getModelToken(Message.name));
    const id = `ev-${randomUUID()}:${dana.userId}:INBOX`;
    await messages.collection.insertOne({
      _id: id as never,
      channel: 'INBOX',
      partnerId: world.partnerId,
      userId: dana.userId,
      email: dana.email,
      audience: { roles: ['INCENTIVES_ADMIN'], locationIds: [l1] },
      causationEventId: id.split(':')[0],
      causationEventType: 'ProfileActionRequired',
      correlationId: randomUUID(),
      template: 'profile-action-required',
      subject: 'Action required: your bank profile East USD account',
      text: 'Account holder name does not match',
      status: 'SENT',
      attempts: 1,
      read: false,
      createdAt: new Date(),
    });
    const listed = async () => ((await call(dana.token, '/v1/inbox')).body.items as Entry[]).some((i) => i.id === id);
    expect(await listed()).toBe(true);
    dana = await world.changeRoles(dana, [{ role: 'INCENTIVES_ADMIN', locationIds: [l2] }]);
    expect(await listed()).toBe(false);
    expect((await call(dana.token, `/v1/inbox/${encodeURIComponent(id)}/read`, 'POST')).status).toBe(404);
    dana = await world.changeRoles(dana, [{ role: 'INCENTIVES_ADMIN', locationIds: [l1] }]);
    expect(await listed()).toBe(true);
  });

  it('hides a request for an Incentives admin from an admin who is no longer a Global or Account admin', async () => {
    const path = `/v1/inbox/${encodeURIComponent(adminNeeded)}/read`;
    const ids = async () => ((await call(erin.token, '/v1/inbox')).body.items as Entry[]).map((i) => i.id);
    // Also an Incentives admin of L2: the entries about L2 are hers either way.
    const aboutL2 = (await ids()).filter((id) => id !== adminNeeded);
    expect(await unread(erin)).toBe(aboutL2.length + 1);

    erin = await roleEvent(world, 'RoleRevoked', erin, { role: 'GLOBAL_ADMIN', locationIds: ['*'] }, [{ role: 'INCENTIVES_ADMIN', locationIds: [l2] }]);
    expect(await ids()).toEqual(aboutL2);
    expect(await unread(erin)).toBe(aboutL2.length);
    expect((await call(erin.token, path, 'POST')).status).toBe(404);

    erin = await world.changeRoles(erin, [{ role: 'ACCOUNT_ADMIN', locationIds: ['*'] }]);
    expect(await ids()).toEqual([adminNeeded]);
    expect((await call(erin.token, path, 'POST')).body).toMatchObject({ id: adminNeeded, read: true });
    expect(await unread(erin)).toBe(0);
  });
});

describe('inbox pages while entries arrive', () => {
  it('a page read after a new entry arrived starts after the last one seen: nothing repeats, nothing is skipped', async () => {
    const world = new World(kafka, issuer, service);
    const [location] = await world.register('Contoso Paging');
    const casey = await world.user('Casey', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);
    const ids: string[] = [];
    for (const [type, status] of [['EnrollmentActionRequired', 'ACTION_REQUIRED'], ['EnrollmentValidating', 'VALIDATING'], ['EnrollmentEnrolled', 'ENROLLED']]) {
      ids.push(`${(await enrollmentEvent(world, location, type, status)).eventId}:${casey.userId}:INBOX`);
      await eventually(async () => expect(await unread(casey)).toBe(ids.length));
    }
    const first = await call(casey.token, '/v1/inbox?limit=2');
    expect(first.body.items.map((i: Entry) => i.id)).toEqual([ids[2], ids[1]]);

    // A new entry at the top: with page numbers, page 2 would begin with ids[1] again.
    const newest = `${(await enrollmentEvent(world, location, 'EnrollmentActionRequired', 'ACTION_REQUIRED')).eventId}:${casey.userId}:INBOX`;
    await eventually(async () => expect(await unread(casey)).toBe(4));
    const second = await call(casey.token, `/v1/inbox?limit=2&cursor=${first.body.nextCursor}`);
    expect(second.body).toMatchObject({ total: 4 });
    expect(second.body.items.map((i: Entry) => i.id)).toEqual([ids[0]]);
    expect(second.body).not.toHaveProperty('nextCursor');
    expect((await call(casey.token, '/v1/inbox?limit=1')).body.items.map((i: Entry) => i.id)).toEqual([newest]);
  });
});

describe('inbox counts of a large inbox', () => {
  it('stop at NOTIFY_INBOX_COUNT_LIMIT and say the inbox holds at least that many; every entry is still listed', async () => {
    const world = new World(kafka, issuer, service);
    const [location] = await world.register('Contoso Large Inbox');
    const drew = await world.user('Drew', [{ role: 'INCENTIVES_ADMIN', locationIds: [location] }]);
    const ids: string[] = [];
    for (let i = 0; i < 9; i++) ids.push(`${(await enrollmentEvent(world, location, 'EnrollmentActionRequired', 'ACTION_REQUIRED')).eventId}:${drew.userId}:INBOX`);
    // All nine written: the newest page of nine holds them.
    await eventually(async () => expect((await call(drew.token, '/v1/inbox?limit=20')).body.items).toHaveLength(9));
    const page = await call(drew.token, '/v1/inbox?limit=20');
    expect(page.body).toMatchObject({ total: 7, totalAtLeast: true });
    expect(new Set(page.body.items.map((i: Entry) => i.id))).toEqual(new Set(ids));
    expect((await call(drew.token, '/v1/inbox/unread-count')).body).toEqual({ unread: 7, unreadAtLeast: true });

    // Three read: six unread, counted exactly; the inbox still holds more than seven.
    for (const id of ids.slice(0, 3)) expect((await call(drew.token, `/v1/inbox/${encodeURIComponent(id)}/read`, 'POST')).status).toBe(200);
    expect((await call(drew.token, '/v1/inbox/unread-count')).body).toEqual({ unread: 6 });
    expect((await call(drew.token, '/v1/inbox?limit=1')).body).toMatchObject({ total: 7, totalAtLeast: true });
  });
});

describe('documentation', () => {
  it('serves the OpenAPI page at /docs and the document at /docs-json', async () => {
    await expect(servedDocs(service.url, ['/v1/inbox'])).resolves.toBeDefined();
  });
});
