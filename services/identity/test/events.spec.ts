/**
 * Events on the real broker: each operation publishes its documented event on identity.events.v1, keyed by
 * partnerId, valid against the contract, with the full user snapshot and a revision that grows by one per change;
 * role changes of a partner arrive in order; assigning what is held publishes nothing.
 */
import { parseEvent, Topics } from '@lib/contracts';
import { ReceivedMessage, TestKafka, TopicWatch } from '@lib/testing';
import { randomUUID } from 'node:crypto';
import { BootedIdentity, bootIdentity, IdentityClient } from './identity.harness';

jest.setTimeout(60_000);

const kafka = new TestKafka();
let watch: TopicWatch;
let booted: BootedIdentity;
let client: IdentityClient;

beforeAll(async () => {
  watch = await kafka.watch([Topics.identity]);
  booted = await bootIdentity();
  client = booted.client;
});

afterAll(async () => {
  await booted?.close();
  await kafka.close();
});

type Msg = ReceivedMessage<any>;
const ofPartner = (partnerId: string) => (m: Msg) => m.envelope?.partnerId === partnerId;
const ofUser = (userId: string) => (m: Msg) => m.envelope?.data?.user?.userId === userId;

/**
 * Delivery is at-least-once: the relay may publish an event again (same eventId) after a crash, or when its
 * removal of published entries races a write to the same document. Consumers drop repeats; so do these checks,
 * which look at first deliveries and require every repeat to be an exact copy of an earlier message.
 */
function firstDeliveries(messages: Msg[]): Msg[] {
  const seen = new Map<string, string>();
  return messages.filter((m) => {
    const id = m.envelope!.eventId;
    if (seen.has(id)) {
      expect(m.raw).toBe(seen.get(id));
      return false;
    }
    seen.set(id, m.raw);
    return true;
  });
}

/** Waits until `count` distinct events match. */
async function distinct(predicate: (m: Msg) => boolean, count: number): Promise<Msg[]> {
  for (let n = count; ; n++) {
    const unique = firstDeliveries(await watch.waitFor<any>(predicate, { count: n }));
    if (unique.length >= count) return unique;
  }
}

/** Waits for the event, then checks what every identity event must be. */
async function one(predicate: (m: Msg) => boolean): Promise<Msg> {
  const [message] = await watch.waitFor<any>(predicate);
  expectWellFormed(message);
  return message;
}

function expectWellFormed(message: Msg) {
  expect(() => parseEvent(Topics.identity, message.raw)).not.toThrow();
  expect(parseEvent(Topics.identity, message.raw).known).toBe(true);
  expect(message.key).toBe(message.envelope!.partnerId);
  expect(message.envelope).toMatchObject({ source: 'identity', version: 1, eventId: expect.any(String), correlationId: expect.any(String) });
}

/** A later change of the same user: everything its document emitted before has been published by then. */
async function barrier(token: string, userId: string, locationId: string) {
  await client.assign(token, userId, 'INCENTIVES_USER', [locationId]);
  await watch.waitFor<any>((m) => ofUser(userId)(m) && m.envelope?.type === 'RoleAssigned' && m.envelope.data.role === 'INCENTIVES_USER' && m.envelope.data.locationIds.includes(locationId));
}

describe('identity events', () => {
  // In either order (README: another replica's relay may publish the user first), on one partition.
  it("publishes PartnerRegistered and UserCreated of the first Global admin on the partner's partition, and LocationAdded", async () => {
    const locationId = `L-${randomUUID().slice(0, 8)}`;
    const partner = await client.registerPartner([locationId]);
    const registered = await one((m) => ofPartner(partner.partnerId)(m) && m.envelope?.type === 'PartnerRegistered');
    expect(registered.envelope!.data).toEqual({
      partnerId: partner.partnerId,
      name: `Partner ${partner.partnerId}`,
      locations: [{ locationId, country: 'DE', legalName: `${locationId} GmbH` }],
    });
    const created = await one((m) => ofUser(partner.globalAdmin.userId)(m) && m.envelope?.type === 'UserCreated');
    expect(created.envelope!.data).toEqual({
      user: {
        userId: partner.globalAdmin.userId,
        partnerId: partner.partnerId,
        email: partner.globalAdmin.email,
        displayName: 'Global Admin',
        active: true,
        roles: [{ role: 'GLOBAL_ADMIN', locationIds: ['*'] }],
        revision: 1,
      },
    });
    expect(registered.partition).toBe(created.partition);

    const added = await client.call('POST', `/v1/partners/${partner.partnerId}/locations`, {
      operator: true,
      body: { locationId: `${locationId}-2`, country: 'us', legalName: 'Contoso Inc.' },
    });
    expect(added.status).toBe(201);
    expect(added.headers.get('location')).toBe(`/v1/partners/${partner.partnerId}`);
    await client.settled('partners', partner.partnerId);
    const event = await one((m) => ofPartner(partner.partnerId)(m) && m.envelope?.type === 'LocationAdded');
    expect(event.envelope!.data).toEqual({ partnerId: partner.partnerId, locationId: `${locationId}-2`, country: 'US', legalName: 'Contoso Inc.' });

    // The same location again: answered, unchanged, no second event.
    const again = await client.call('POST', `/v1/partners/${partner.partnerId}/locations`, {
      operator: true,
      body: { locationId: `${locationId}-2`, country: 'US', legalName: 'Contoso Inc.' },
    });
    expect(again.status).toBe(200);
    const later = await client.call('POST', `/v1/partners/${partner.partnerId}/locations`, { operator: true, body: { locationId: `${locationId}-3`, country: 'xk', legalName: 'Contoso Kosova LLC' } });
    // Kosovo, which bank and tax profiles take (XK, as banks and the IBAN registry name it), in any case.
    expect(later.status).toBe(201);
    await watch.waitFor<any>((m) => ofPartner(partner.partnerId)(m) && m.envelope?.data.locationId === `${locationId}-3`);
    expect(firstDeliveries(watch.find<any>((m) => ofPartner(partner.partnerId)(m) && m.envelope?.type === 'LocationAdded')).map((m) => m.envelope!.data.locationId)).toEqual([
      `${locationId}-2`,
      `${locationId}-3`,
    ]);
  });

  // SPEC 3: correlationId and causationId, "uuid of the event or request that caused it": the request's.
  it("names the request that caused an event: the client's X-Correlation-Id, and the request's id (X-Request-Id) as its cause", async () => {
    const locationId = `L-${randomUUID().slice(0, 8)}`;
    const partner = await client.registerPartner([locationId]);
    const correlationId = randomUUID();
    const added = await client.call('POST', `/v1/partners/${partner.partnerId}/locations`, {
      operator: true,
      headers: { 'x-correlation-id': correlationId.toUpperCase() },
      body: { locationId: `${locationId}-2`, country: 'US', legalName: 'Contoso Inc.' },
    });
    expect(added.status).toBe(201);
    const requestId = added.headers.get('x-request-id');
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(added.headers.get('x-correlation-id')).toBe(correlationId);
    const event = await one((m) => ofPartner(partner.partnerId)(m) && m.envelope?.type === 'LocationAdded');
    expect(event.envelope).toMatchObject({ correlationId, causationId: requestId });
  });

  it('publishes UserCreated, RoleAssigned, RoleRevoked and UserDeactivated with the full snapshot and revision + 1 each', async () => {
    const [L1, L2] = [`L-${randomUUID().slice(0, 8)}`, `L-${randomUUID().slice(0, 8)}`];
    const partner = await client.registerPartner([L1, L2]);
    const ga = partner.globalAdmin.token;
    const { userId, email } = await client.createUser(ga, { displayName: 'Ida Admin' });
    await client.assign(ga, userId, 'INCENTIVES_ADMIN', [L1, L2]);
    const revoked = await client.call('DELETE', `/v1/users/${userId}/roles`, { token: ga, body: { role: 'INCENTIVES_ADMIN', locationIds: [L2] } });
    expect(revoked.status).toBe(200);
    expect(revoked.headers.get('etag')).toBe('"3"');
    await client.settled('users', userId);
    const off = await client.call('POST', `/v1/users/${userId}/deactivate`, { token: ga, headers: { 'if-match': '"3"' } });
    expect(off.status).toBe(200);

    const events = await distinct(ofUser(userId), 4);
    events.forEach(expectWellFormed);
    const base = { userId, partnerId: partner.partnerId, email, displayName: 'Ida Admin' };
    expect(events.map((m) => [m.envelope!.type, m.envelope!.data])).toEqual([
      ['UserCreated', { user: { ...base, active: true, roles: [], revision: 1 } }],
      [
        'RoleAssigned',
        {
          user: { ...base, active: true, roles: [{ role: 'INCENTIVES_ADMIN', locationIds: [L1, L2].sort() }], revision: 2 },
          role: 'INCENTIVES_ADMIN',
          locationIds: [L1, L2].sort(),
          changedBy: partner.globalAdmin.userId,
        },
      ],
      [
        'RoleRevoked',
        {
          user: { ...base, active: true, roles: [{ role: 'INCENTIVES_ADMIN', locationIds: [L1] }], revision: 3 },
          role: 'INCENTIVES_ADMIN',
          locationIds: [L2],
          changedBy: partner.globalAdmin.userId,
        },
      ],
      ['UserDeactivated', { user: { ...base, active: false, roles: [{ role: 'INCENTIVES_ADMIN', locationIds: [L1] }], revision: 4 } }],
    ]);
  });

  it("narrows a role held on * in one change: revoking some locations leaves it on the partner's others, one RoleRevoked naming them", async () => {
    const [L1, L2, L3] = [`L-${randomUUID().slice(0, 8)}`, `L-${randomUUID().slice(0, 8)}`, `L-${randomUUID().slice(0, 8)}`];
    const partner = await client.registerPartner([L1, L2, L3]);
    const ga = partner.globalAdmin.token;
    const { userId } = await client.createUser(ga, {});
    await client.assign(ga, userId, 'INCENTIVES_ADMIN', ['*']);
    const narrowed = await client.call('DELETE', `/v1/users/${userId}/roles`, { token: ga, body: { role: 'INCENTIVES_ADMIN', locationIds: [L2] } });
    expect(narrowed).toMatchObject({ status: 200, body: { revision: 3, roles: [{ role: 'INCENTIVES_ADMIN', locationIds: [L1, L3].sort() }] } });
    // The rest, later: the role goes, reported as the locations it held.
    const rest = await client.call('DELETE', `/v1/users/${userId}/roles`, { token: ga, body: { role: 'INCENTIVES_ADMIN', locationIds: [L1, L3] } });
    expect(rest).toMatchObject({ status: 200, body: { revision: 4, roles: [] } });

    const events = await distinct(ofUser(userId), 4);
    expect(events.map((m) => [m.envelope!.type, m.envelope!.data.locationIds, m.envelope!.data.user.roles])).toEqual([
      ['UserCreated', undefined, []],
      ['RoleAssigned', ['*'], [{ role: 'INCENTIVES_ADMIN', locationIds: ['*'] }]],
      ['RoleRevoked', [L2], [{ role: 'INCENTIVES_ADMIN', locationIds: [L1, L3].sort() }]],
      ['RoleRevoked', [L1, L3].sort(), []],
    ]);
  });

  it('reactivates a user an admin deactivated: UserUpdated with active: true, the roles it kept, revision + 1; signs in again', async () => {
    const L1 = `L-${randomUUID().slice(0, 8)}`;
    const partner = await client.registerPartner([L1]);
    const ga = partner.globalAdmin.token;
    const { userId, email } = await client.createUser(ga, { displayName: 'Rex Returning' });
    const assigned = await client.assign(ga, userId, 'INCENTIVES_ADMIN', [L1]);
    await client.settled('users', userId);
    const off = await client.call('POST', `/v1/users/${userId}/deactivate`, { token: ga, headers: { 'if-match': `"${assigned.revision}"` } });
    expect(off).toMatchObject({ status: 200, body: { active: false, revision: assigned.revision + 1 } });
    expect((await client.call('POST', '/v1/dev/sign-in', { body: { email } })).status).toBe(403);
    // Its email is still taken (the user exists): reactivation, not a new user, brings it back.
    expect((await client.call('POST', '/v1/users', { token: ga, body: { email, displayName: 'Rex Again' } })).status).toBe(409);

    // Stale If-Match: 412, nothing changes. An Account admin may reactivate an Incentives admin; a company admin only a Global admin.
    const stale = await client.call('POST', `/v1/users/${userId}/reactivate`, { token: ga, headers: { 'if-match': `"${assigned.revision}"` } });
    expect(stale).toMatchObject({ status: 412, body: { currentVersion: off.body.revision } });
    const accountAdmin = await client.signIn((await client.createUser(ga, { companyRole: 'ACCOUNT_ADMIN' })).email);
    const on = await client.call('POST', `/v1/users/${userId}/reactivate`, { token: accountAdmin, headers: { 'if-match': `"${off.body.revision}"` } });
    expect(on).toMatchObject({ status: 200, body: { active: true, revision: off.body.revision + 1, roles: [{ role: 'INCENTIVES_ADMIN', locationIds: [L1] }] } });
    expect(on.headers.get('etag')).toBe(`"${off.body.revision + 1}"`);
    expect(await booted.db.collection('users').findOne({ _id: userId as never })).not.toHaveProperty('deactivatedBy');
    // Again: nothing changes (same revision), and no second event.
    const again = await client.call('POST', `/v1/users/${userId}/reactivate`, { token: ga, headers: { 'if-match': `"${on.body.revision}"` } });
    expect(again).toMatchObject({ status: 200, body: { active: true, revision: on.body.revision } });
    expect((await client.call('POST', '/v1/dev/sign-in', { body: { email } })).status).toBe(200);

    const events = await distinct(ofUser(userId), 4);
    expect(events.map((m) => [m.envelope!.type, m.envelope!.data.user.active, m.envelope!.data.user.revision])).toEqual([
      ['UserCreated', true, 1],
      ['RoleAssigned', true, 2],
      ['UserDeactivated', false, 3],
      ['UserUpdated', true, 4],
    ]);
    expect(events[3].envelope!.data.user.roles).toEqual([{ role: 'INCENTIVES_ADMIN', locationIds: [L1] }]);

    const globalAdmin = await client.createUser(ga, { companyRole: 'GLOBAL_ADMIN' });
    await client.settled('users', globalAdmin.userId);
    const gaOff = await client.call('POST', `/v1/users/${globalAdmin.userId}/deactivate`, { token: ga, headers: { 'if-match': '"1"' } });
    expect(gaOff.status).toBe(200);
    const refused = await client.call('POST', `/v1/users/${globalAdmin.userId}/reactivate`, { token: accountAdmin, headers: { 'if-match': `"${gaOff.body.revision}"` } });
    expect(refused.status).toBe(403);
    expect(refused.headers.get('content-type')).toContain('application/problem+json');
  });

  it('publishes one event when the same role is assigned twice (and none for revoking what is not held)', async () => {
    const [L1, L2] = [`L-${randomUUID().slice(0, 8)}`, `L-${randomUUID().slice(0, 8)}`];
    const partner = await client.registerPartner([L1, L2]);
    const ga = partner.globalAdmin.token;
    const { userId } = await client.createUser(ga);
    const first = await client.assign(ga, userId, 'INCENTIVES_ADMIN', [L1]);
    const second = await client.assign(ga, userId, 'INCENTIVES_ADMIN', [L1]);
    expect(second.revision).toBe(first.revision);
    const viaStar = await client.assign(ga, userId, 'INCENTIVES_ADMIN', ['*']);
    const coveredByStar = await client.assign(ga, userId, 'INCENTIVES_ADMIN', [L2]);
    expect(coveredByStar.revision).toBe(viaStar.revision);
    const notHeld = await client.call('POST', `/v1/users/${userId}/roles/revoke`, { token: ga, body: { role: 'INCENTIVES_USER', locationIds: [L2] } });
    expect(notHeld).toMatchObject({ status: 200, body: { revision: viaStar.revision } });
    await client.settled('users', userId);
    await barrier(ga, userId, L2);
    expect(firstDeliveries(watch.find<any>(ofUser(userId))).map((m) => [m.envelope!.type, m.envelope!.data.locationIds, m.envelope!.data.user.revision])).toEqual([
      ['UserCreated', undefined, 1],
      ['RoleAssigned', [L1], 2],
      ['RoleAssigned', ['*'], 3],
      ['RoleAssigned', [L2], 4],
    ]);
  });

  it("delivers a partner's role changes in order, on one partition, each user's revisions counting up by one", async () => {
    const [L1, L2, L3] = [1, 2, 3].map(() => `L-${randomUUID().slice(0, 8)}`);
    const partner = await client.registerPartner([L1, L2, L3]);
    const ga = partner.globalAdmin.token;
    const x = (await client.createUser(ga)).userId;
    const y = (await client.createUser(ga)).userId;
    const steps: Array<['assign' | 'revoke', string, string, string[]]> = [
      ['assign', x, 'INCENTIVES_ADMIN', [L1]],
      ['assign', y, 'INCENTIVES_USER', [L1, L2]],
      ['assign', x, 'INCENTIVES_ADMIN', [L2]],
      ['revoke', y, 'INCENTIVES_USER', [L1]],
      ['revoke', x, 'INCENTIVES_ADMIN', [L1]],
      ['assign', x, 'INCENTIVES_USER', ['*']],
      ['assign', y, 'INCENTIVES_ADMIN', [L3]],
      ['revoke', x, 'INCENTIVES_ADMIN', ['*']],
      ['assign', x, 'INCENTIVES_ADMIN', [L3]],
      ['revoke', y, 'INCENTIVES_USER', ['*']],
    ];
    // One change after the other, as fast as they are answered: the order on the topic is the service's (its relay
    // keeps a key's order across documents), not the test's waiting for each event.
    for (const [verb, userId, role, locationIds] of steps) {
      const answer = await client.call(verb === 'assign' ? 'POST' : 'DELETE', `/v1/users/${userId}/roles`, { token: ga, body: { role, locationIds } });
      expect(answer.status).toBe(200);
    }
    const roleEvents = await distinct((m) => ofPartner(partner.partnerId)(m) && /^Role(Assigned|Revoked)$/.test(m.envelope!.type), steps.length);
    roleEvents.forEach(expectWellFormed);
    expect(new Set(roleEvents.map((m) => m.partition)).size).toBe(1);
    // The partner's changes in the order they were made, across its users.
    expect(roleEvents.map((m) => [m.envelope!.data.user.userId, m.envelope!.type, m.envelope!.data.role])).toEqual(
      steps.map(([verb, userId, role]) => [userId, verb === 'assign' ? 'RoleAssigned' : 'RoleRevoked', role]),
    );
    for (const userId of [x, y]) {
      const mine = roleEvents.filter(ofUser(userId));
      const expected = steps.filter(([, id]) => id === userId);
      // Each user's events arrive in the order the changes were made, revision 2, 3, 4...
      expect(mine.map((m) => [m.envelope!.type, m.envelope!.data.role, m.envelope!.data.user.revision])).toEqual(
        expected.map(([verb, , role], i) => [verb === 'assign' ? 'RoleAssigned' : 'RoleRevoked', role, i + 2]),
      );
      // The last snapshot is the user as the API shows it.
      const now = await client.call('GET', `/v1/users/${userId}`, { token: ga });
      expect(mine[mine.length - 1].envelope!.data.user.roles).toEqual(now.body.roles);
    }
    expect(roleEvents.filter(ofUser(x)).at(-1)!.envelope!.data.user.roles).toEqual([
      { role: 'INCENTIVES_ADMIN', locationIds: [L3] },
      { role: 'INCENTIVES_USER', locationIds: ['*'] },
    ]);
  });

  it('publishes what an import does, and nothing when the same file is imported again', async () => {
    const partner = await client.registerPartner([`L-${randomUUID().slice(0, 8)}`]);
    const ga = partner.globalAdmin.token;
    const ext = (n: number) => `${partner.partnerId}-ext-${n}`;
    const resource = (n: number, extra: Record<string, unknown> = {}) => ({
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
      externalId: ext(n),
      userName: `user${n}@${partner.partnerId.toLowerCase()}.example`,
      name: { givenName: `Given${n}`, familyName: 'Family' },
      displayName: `Given${n} Family`,
      emails: [{ value: `user${n}@${partner.partnerId.toLowerCase()}.example`, primary: true, type: 'work' }],
      active: true,
      ...extra,
    });
    const importing = (resources: unknown[]) =>
      client.call('POST', '/v1/users/import', { token: ga, body: { schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'], totalResults: resources.length, Resources: resources } });

    const first = await importing([resource(1), resource(2), resource(3)]);
    expect(first.body.summary).toEqual({ created: 3, updated: 0, deactivated: 0, unchanged: 0, rejected: 0 });
    const ids: string[] = first.body.results.map((r: any) => r.userId);
    for (const id of ids) await client.settled('users', id);
    const created = await distinct((m) => ofPartner(partner.partnerId)(m) && m.envelope?.type === 'UserCreated' && m.envelope.data.externalId !== undefined, 3);
    created.forEach(expectWellFormed);
    expect(created.map((m) => m.envelope!.data.externalId).sort()).toEqual([ext(1), ext(2), ext(3)]);
    expect(created.every((m) => m.envelope!.data.user.roles.length === 0)).toBe(true);

    const same = await importing([resource(1), resource(2), resource(3)]);
    expect(same.body.summary).toEqual({ created: 0, updated: 0, deactivated: 0, unchanged: 3, rejected: 0 });
    expect(same.body.results.map((r: any) => r.userId)).toEqual(ids);

    const changed = await importing([resource(1, { displayName: 'Renamed One' }), resource(2, { active: false }), resource(3)]);
    expect(changed.body.results.map((r: any) => [r.outcome, r.userId])).toEqual([
      ['updated', ids[0]],
      ['deactivated', ids[1]],
      ['unchanged', ids[2]],
    ]);
    const updated = await one((m) => ofUser(ids[0])(m) && m.envelope?.type === 'UserUpdated');
    expect(updated.envelope!.data.user).toMatchObject({ displayName: 'Renamed One', revision: 2, active: true });
    const deactivated = await one((m) => ofUser(ids[1])(m) && m.envelope?.type === 'UserDeactivated');
    expect(deactivated.envelope!.data.user).toMatchObject({ active: false, revision: 2 });

    // Nothing else was published for these users: the unchanged imports emitted nothing.
    await barrier(ga, ids[2], partner.locationIds[0]);
    expect(firstDeliveries(watch.find<any>(ofUser(ids[2]))).map((m) => m.envelope!.type)).toEqual(['UserCreated', 'RoleAssigned']);
    expect(firstDeliveries(watch.find<any>(ofUser(ids[0]))).map((m) => m.envelope!.type)).toEqual(['UserCreated', 'UserUpdated']);
  });
});
