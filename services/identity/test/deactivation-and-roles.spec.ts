/**
 * Changes that race each other on users: a partner always keeps an active Global admin (two admins removing each
 * other at the same moment), a role is never granted to a user deactivated meanwhile, and a directory import
 * reactivates only the users the directory itself deactivated.
 */
import { randomUUID } from 'node:crypto';
import { PartnersRepository } from '../src/partners/partners.repository';
import { ImportUsers } from '../src/users/usecases/import-users.use-case';
import { DuplicateUserError, UsersRepository } from '../src/users/users.repository';
import { BootedIdentity, bootIdentity, IdentityClient } from './identity.harness';

jest.setTimeout(120_000);

const LIST_RESPONSE = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';

/** POST /v1/users/import of these SCIM resources, as `token`'s caller. */
const importUsers = (token: string, resources: unknown[]) => client.call('POST', '/v1/users/import', { token, body: { schemas: [LIST_RESPONSE], Resources: resources } });
let booted: BootedIdentity;
let client: IdentityClient;

beforeAll(async () => {
  booted = await bootIdentity();
  client = booted.client;
});

afterAll(async () => {
  await booted?.close();
});

const activeGlobalAdmins = (partnerId: string) =>
  booted.db.collection('users').countDocuments({ partnerId, active: true, grants: 'GLOBAL_ADMIN:*' });

const revision = async (token: string, userId: string): Promise<number> => (await client.call('GET', `/v1/users/${userId}`, { token })).body.revision;

/**
 * Holds every user write of `type` until `count` of them wait (or `ms` passed), so requests sent together all read
 * before any of them writes: the interleaving a race needs, every time rather than by luck. A request that never
 * reaches its write because it waits for the partner's Global admin lease the held one holds lets that one go when it
 * is first refused the lease (waiting out `ms` instead would use up its own wait for the lease on a slow machine).
 */
async function withWritesHeldTogether<T>(type: string, run: () => Promise<T>, count = 2, ms = 1_500): Promise<T> {
  const users = booted.service.app.get(UsersRepository);
  const partners = booted.service.app.get(PartnersRepository);
  const write = users.change.bind(users);
  const takeLease = partners.takeGlobalAdminLease.bind(partners);
  const waiting: Array<() => void> = [];
  const releaseAll = () => waiting.forEach((release) => release());
  const spy = jest.spyOn(users, 'change').mockImplementation(async (...args) => {
    if (args[2] === type) {
      await new Promise<void>((resolve) => {
        waiting.push(resolve);
        if (waiting.length >= count) releaseAll();
        setTimeout(resolve, ms);
      });
    }
    return write(...args);
  });
  const leaseSpy = jest.spyOn(partners, 'takeGlobalAdminLease').mockImplementation(async (...args) => {
    const taken = await takeLease(...args);
    if (!taken) releaseAll();
    return taken;
  });
  try {
    return await run();
  } finally {
    spy.mockRestore();
    leaseSpy.mockRestore();
  }
}

/** A partner with two Global admins, both signed in. */
async function twoGlobalAdmins() {
  const p = await client.registerPartner();
  const second = await client.createUser(p.globalAdmin.token, { companyRole: 'GLOBAL_ADMIN' });
  const first = p.globalAdmin;
  return { ...p, first, second: { ...second, token: await client.signIn(second.email, p.partnerId) } };
}

/** The answer to `request`, with `meanwhile` run right before the repository's `write` first writes (a race lost). */
async function racing<T>(write: 'change' | 'takeOverDeactivation' | 'create', meanwhile: () => Promise<void>, request: () => Promise<T>): Promise<T> {
  const users = booted.service.app.get(UsersRepository);
  const original = (users[write] as (...args: unknown[]) => Promise<unknown>).bind(users);
  const spy = jest.spyOn(users, write).mockImplementationOnce((async (...args: unknown[]) => {
    await meanwhile();
    return original(...args);
  }) as never);
  try {
    return await request();
  } finally {
    spy.mockRestore();
  }
}

/** The answer to an import of `list` by `token`, with `meanwhile` run once its first entry is written. */
async function importingWhile(token: string, list: object, meanwhile: () => Promise<void>) {
  const importer = booted.service.app.get(ImportUsers) as unknown as { importOne: (...args: unknown[]) => Promise<unknown> };
  const importOne = importer.importOne.bind(importer);
  const spy = jest.spyOn(importer, 'importOne').mockImplementationOnce(async (...args) => {
    const done = await importOne(...args);
    await meanwhile();
    return done;
  });
  try {
    return await client.call('POST', '/v1/users/import', { token, body: list });
  } finally {
    spy.mockRestore();
  }
}

describe('the last active Global admin', () => {
  it('survives two Global admins deactivating each other at the same moment: one 200, one 409', async () => {
    const p = await twoGlobalAdmins();
    const [r1, r2] = [await revision(p.first.token, p.second.userId), await revision(p.first.token, p.first.userId)];
    const answers = await withWritesHeldTogether('UserDeactivated', () =>
      Promise.all([
        client.call('POST', `/v1/users/${p.second.userId}/deactivate`, { token: p.first.token, headers: { 'if-match': `"${r1}"` } }),
        client.call('POST', `/v1/users/${p.first.userId}/deactivate`, { token: p.second.token, headers: { 'if-match': `"${r2}"` } }),
      ]),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409]);
    expect(answers.find((a) => a.status === 409)!.body.detail).toMatch(/last active Global admin/);
    expect(await activeGlobalAdmins(p.partnerId)).toBe(1);
    // The lease is given back: nothing is left on the partner document.
    expect(await booted.db.collection('partners').findOne({ _id: p.partnerId as never })).not.toHaveProperty('globalAdminChange');
  });

  it('a Global admin deactivated while their own removal of another waited for the lease removes nobody: 409 busy, then 403', async () => {
    const p = await twoGlobalAdmins();
    const third = await client.createUser(p.first.token, { companyRole: 'GLOBAL_ADMIN' });
    const thirdToken = await client.signIn(third.email, p.partnerId);
    const [rFirst, rSecond] = [await revision(p.first.token, p.first.userId), await revision(p.first.token, p.second.userId)];
    // The third deactivates the second; while that write holds the lease, the second (still active when checked)
    // deactivates the first, and waits for the lease.
    const users = booted.service.app.get(UsersRepository);
    const partners = booted.service.app.get(PartnersRepository);
    const write = users.change.bind(users);
    const takeLease = partners.takeGlobalAdminLease.bind(partners);
    // The second's request has passed its checks once it is refused the lease the third's write holds.
    let refusedLease!: () => void;
    const secondWaits = new Promise<void>((resolve) => (refusedLease = resolve));
    const leaseSpy = jest.spyOn(partners, 'takeGlobalAdminLease').mockImplementation(async (...args) => {
      const taken = await takeLease(...args);
      if (!taken) refusedLease();
      return taken;
    });
    let bySecond: Promise<{ status: number; body: any }> | undefined;
    const spy = jest.spyOn(users, 'change').mockImplementation(async (...args) => {
      if (args[2] === 'UserDeactivated' && args[0]._id === p.second.userId && !bySecond) {
        bySecond = client.call('POST', `/v1/users/${p.first.userId}/deactivate`, { token: p.second.token, headers: { 'if-match': `"${rFirst}"` } });
        await Promise.race([secondWaits, new Promise((resolve) => setTimeout(resolve, 10_000))]);
      }
      return write(...args);
    });
    let byThird;
    try {
      byThird = await client.call('POST', `/v1/users/${p.second.userId}/deactivate`, { token: thirdToken, headers: { 'if-match': `"${rSecond}"` } });
      expect(byThird.status).toBe(200);
      const answer = await bySecond!;
      expect(answer.status).toBe(409);
      expect(answer.body.type).toMatch(/\/busy$/);
    } finally {
      spy.mockRestore();
      leaseSpy.mockRestore();
    }
    expect((await client.call('GET', `/v1/users/${p.first.userId}`, { token: p.first.token })).body.active).toBe(true);
    const retried = await client.call('POST', `/v1/users/${p.first.userId}/deactivate`, { token: p.second.token, headers: { 'if-match': `"${rFirst}"` } });
    expect(retried.status).toBe(403);
    expect(await activeGlobalAdmins(p.partnerId)).toBe(2);
  });

  it('survives two Global admins revoking GLOBAL_ADMIN from each other at the same moment', async () => {
    const p = await twoGlobalAdmins();
    const revoke = { role: 'GLOBAL_ADMIN', locationIds: ['*'] };
    const answers = await withWritesHeldTogether('RoleRevoked', () =>
      Promise.all([
        client.call('DELETE', `/v1/users/${p.second.userId}/roles`, { token: p.first.token, body: revoke }),
        client.call('DELETE', `/v1/users/${p.first.userId}/roles`, { token: p.second.token, body: revoke }),
      ]),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409]);
    expect(await activeGlobalAdmins(p.partnerId)).toBe(1);
  });

  it('survives a directory import deactivating a Global admin who deactivates the importer at the same moment', async () => {
    const p = await twoGlobalAdmins();
    const externalId = `e-${randomUUID()}`;
    const list = (active: boolean) => ({ schemas: [LIST_RESPONSE], Resources: [{ externalId, userName: p.second.email, active }] });
    // Link the second Global admin to the directory first.
    expect((await client.call('POST', '/v1/users/import', { token: p.first.token, body: list(true) })).body.results[0].outcome).toBe('updated');
    await client.settled('users', p.second.userId);
    const r = await revision(p.first.token, p.first.userId);
    const [imported, deactivated] = await withWritesHeldTogether('UserDeactivated', () =>
      Promise.all([
        client.call('POST', '/v1/users/import', { token: p.first.token, body: list(false) }),
        client.call('POST', `/v1/users/${p.first.userId}/deactivate`, { token: p.second.token, headers: { 'if-match': `"${r}"` } }),
      ]),
    );
    // Exactly one of the two deactivations happens; the import reports the other as rejected, or the endpoint 409.
    const outcomes = [imported.status === 200 && imported.body.results[0].outcome, deactivated.status];
    expect([
      ['deactivated', 409],
      ['rejected', 200],
    ]).toContainEqual(outcomes);
    if (outcomes[0] === 'rejected') expect(imported.body.results[0].reason).toMatch(/^not deactivated: .*last active Global admin/);
    expect(await activeGlobalAdmins(p.partnerId)).toBe(1);
  });

  it('stops an import whose admin is deactivated while it runs: the entries after are rejected with why, nothing of them written', async () => {
    const p = await twoGlobalAdmins();
    const emails = [1, 2, 3].map((i) => `dir-${i}-${randomUUID().slice(0, 8)}@example.com`);
    const list = { schemas: [LIST_RESPONSE], Resources: emails.map((email, i) => ({ externalId: `e-${i}-${randomUUID()}`, userName: email })) };
    // Another Global admin deactivates the importer once the first entry is written.
    const imported = await importingWhile(p.first.token, list, async () => {
      const r = await revision(p.second.token, p.first.userId);
      expect((await client.call('POST', `/v1/users/${p.first.userId}/deactivate`, { token: p.second.token, headers: { 'if-match': `"${r}"` } })).status).toBe(200);
    });
    expect(imported.status).toBe(200);
    expect(imported.body.results.map((r: { outcome: string; reason?: string }) => [r.outcome, r.reason])).toEqual([
      ['created', undefined],
      ['rejected', 'not imported: the importing admin was deactivated, or lost the right to import users, during the import'],
      ['rejected', 'not imported: the importing admin was deactivated, or lost the right to import users, during the import'],
    ]);
    expect(await booted.db.collection('users').countDocuments({ partnerId: p.partnerId, email: { $in: emails } })).toBe(1);
  });

  it('goes on with an import whose admin gained a role while it ran: a Global admin it deactivates further down is deactivated', async () => {
    const p = await twoGlobalAdmins();
    const directoryAdmin = { externalId: `ga-${randomUUID()}`, userName: `dir-ga-${randomUUID().slice(0, 8)}@example.com` };
    const created = await importUsers(p.first.token, [directoryAdmin]);
    const adminId = created.body.results[0].userId;
    expect((await client.call('POST', `/v1/users/${adminId}/roles`, { token: p.first.token, body: { role: 'GLOBAL_ADMIN', locationIds: ['*'] } })).status).toBe(200);

    // Another Global admin gives the importer a role once the first entry is written.
    const fresh = { externalId: `e-${randomUUID()}`, userName: `dir-${randomUUID().slice(0, 8)}@example.com` };
    const imported = await importingWhile(p.first.token, { schemas: [LIST_RESPONSE], Resources: [fresh, { ...directoryAdmin, active: false }] }, async () => {
      expect((await client.call('POST', `/v1/users/${p.first.userId}/roles`, { token: p.second.token, body: { role: 'INCENTIVES_USER', locationIds: ['*'] } })).status).toBe(200);
    });
    expect(imported.status).toBe(200);
    expect(imported.body.results.map((r: { outcome: string }) => r.outcome)).toEqual(['created', 'deactivated']);
    expect(await booted.db.collection('users').findOne({ _id: adminId as never })).toMatchObject({ active: false });
  });

  it('links an entry to a user created by hand with its email while the import ran, as one read before (not rejected)', async () => {
    const p = await client.registerPartner();
    const email = `hand-${randomUUID().slice(0, 8)}@example.com`;
    // The import read no user with this email; an admin creates one by hand before the entry's create writes.
    const imported = await racing(
      'create',
      async () => expect((await client.call('POST', '/v1/users', { token: p.globalAdmin.token, body: { email, displayName: 'By Hand' } })).status).toBe(201),
      () => importUsers(p.globalAdmin.token, [{ externalId: 'e-hand', userName: email }]),
    );
    expect(imported.body.results.map((r: { outcome: string }) => r.outcome)).toEqual(['updated']);
    const stored = await booted.db.collection('users').find({ partnerId: p.partnerId, email }).toArray();
    expect(stored).toEqual([expect.objectContaining({ externalId: 'e-hand', _id: imported.body.results[0].userId })]);
  });

  it("refuses an entry that moves its user to an email a hand-made user holds, naming the email (it is not re-planned as that user)", async () => {
    const p = await client.registerPartner();
    const [first, taken] = [`dir-${randomUUID().slice(0, 8)}@example.com`, `hand-${randomUUID().slice(0, 8)}@example.com`];
    const imported = await importUsers(p.globalAdmin.token, [{ externalId: 'e-move', userName: first }]);
    const userId = imported.body.results[0].userId;
    const hand = await client.call('POST', '/v1/users', { token: p.globalAdmin.token, body: { email: taken, displayName: 'By Hand' } });
    expect(hand.status).toBe(201);
    const moved = await importUsers(p.globalAdmin.token, [{ externalId: 'e-move', userName: taken }]);
    expect(moved.body.results.map((r: { outcome: string; reason?: string; userId?: string }) => [r.outcome, r.reason, r.userId])).toEqual([
      ['rejected', 'email is already used by another user of this partner', userId],
    ]);
    expect(await booted.db.collection('users').findOne({ _id: hand.body.userId as never })).not.toHaveProperty('externalId');
  });

  it('names externalId, not the email, when linking an entry is refused for its externalId', async () => {
    const p = await client.registerPartner();
    const email = `hand-${randomUUID().slice(0, 8)}@example.com`;
    expect((await client.call('POST', '/v1/users', { token: p.globalAdmin.token, body: { email, displayName: 'By Hand' } })).status).toBe(201);
    // Another import wrote a user with the entry's externalId, and removed it again, between this link's reads and its write.
    const users = booted.service.app.get(UsersRepository);
    const spy = jest.spyOn(users, 'change').mockRejectedValueOnce(new DuplicateUserError('externalId'));
    let imported;
    try {
      imported = await importUsers(p.globalAdmin.token, [{ externalId: 'e-taken', userName: email }]);
    } finally {
      spy.mockRestore();
    }
    expect(imported.body.results.map((r: { outcome: string; reason?: string }) => [r.outcome, r.reason])).toEqual([['rejected', 'externalId is already used by another user of this partner']]);
  });

  it('does not wait for a lease its holder left behind (crashed), and answers "try again" while one is held', async () => {
    const p = await twoGlobalAdmins();
    const partners = booted.db.collection('partners');
    await partners.updateOne({ _id: p.partnerId as never }, { $set: { globalAdminChange: { token: 'crashed', until: new Date(Date.now() - 1_000) } } });
    const r = await revision(p.first.token, p.second.userId);
    const deactivated = await client.call('POST', `/v1/users/${p.second.userId}/deactivate`, { token: p.first.token, headers: { 'if-match': `"${r}"` } });
    expect(deactivated.status).toBe(200);
    expect(await partners.findOne({ _id: p.partnerId as never })).not.toHaveProperty('globalAdminChange');

    const third = await client.createUser(p.first.token, { companyRole: 'GLOBAL_ADMIN' });
    await partners.updateOne({ _id: p.partnerId as never }, { $set: { globalAdminChange: { token: 'busy', until: new Date(Date.now() + 60_000) } } });
    const busy = await client.call('DELETE', `/v1/users/${third.userId}/roles`, { token: p.first.token, body: { role: 'GLOBAL_ADMIN', locationIds: ['*'] } });
    expect(busy).toMatchObject({ status: 409, body: { type: expect.stringMatching(/\/busy$/) } });
    expect(await activeGlobalAdmins(p.partnerId)).toBe(2);
  });

  it('ends an import that meets a held lease with "try again", which its Idempotency-Key does not keep', async () => {
    const p = await twoGlobalAdmins();
    const externalId = `e-${randomUUID()}`;
    const list = (active: boolean) => ({ schemas: [LIST_RESPONSE], Resources: [{ externalId, userName: p.second.email, active }] });
    expect((await client.call('POST', '/v1/users/import', { token: p.first.token, body: list(true) })).body.results[0].outcome).toBe('updated');
    await client.settled('users', p.second.userId);
    const partners = booted.db.collection('partners');
    await partners.updateOne({ _id: p.partnerId as never }, { $set: { globalAdminChange: { token: 'held', until: new Date(Date.now() + 60_000) } } });
    const key = { 'idempotency-key': `import-${randomUUID()}` };
    const busy = await client.call('POST', '/v1/users/import', { token: p.first.token, body: list(false), headers: key });
    expect(busy).toMatchObject({ status: 409, body: { type: expect.stringMatching(/\/busy$/) } });
    expect(await activeGlobalAdmins(p.partnerId)).toBe(2);

    await partners.updateOne({ _id: p.partnerId as never }, { $unset: { globalAdminChange: 1 } });
    const again = await client.call('POST', '/v1/users/import', { token: p.first.token, body: list(false), headers: key });
    expect(again.status).toBe(200);
    expect(again.body.results[0].outcome).toBe('deactivated');
    expect(await activeGlobalAdmins(p.partnerId)).toBe(1);
  });

  it('does not write under a lease whose taking answered late (its time runs from the asking): "try again", nothing changed', async () => {
    const p = await twoGlobalAdmins();
    const partners = booted.service.app.get(PartnersRepository);
    const take = partners.takeGlobalAdminLease.bind(partners);
    const slow = jest.spyOn(partners, 'takeGlobalAdminLease').mockImplementation(async (...args) => {
      const taken = await take(...args);
      await new Promise((r) => setTimeout(r, 3_200));
      return taken;
    });
    try {
      const r = await revision(p.first.token, p.second.userId);
      const late = await client.call('POST', `/v1/users/${p.second.userId}/deactivate`, { token: p.first.token, headers: { 'if-match': `"${r}"` } });
      expect(late).toMatchObject({ status: 409, body: { type: expect.stringMatching(/\/busy$/) } });
    } finally {
      slow.mockRestore();
    }
    expect(await activeGlobalAdmins(p.partnerId)).toBe(2);
  });
});

describe('roles and deactivation', () => {
  it('grants no role to a user deactivated between the read and the write of the grant (409)', async () => {
    const p = await client.registerPartner();
    const user = await client.createUser(p.globalAdmin.token);
    const users = booted.service.app.get(UsersRepository);
    const spy = jest.spyOn(users, 'change');
    // The first write of the grant finds the user deactivated by another admin just before it.
    spy.mockImplementationOnce(async (...args) => {
      const deactivated = await client.call('POST', `/v1/users/${user.userId}/deactivate`, { token: p.globalAdmin.token, headers: { 'if-match': '"1"' } });
      expect(deactivated.status).toBe(200);
      // The grant's own write, on the user as it read it: stale now, so the use case reads the user again.
      return UsersRepository.prototype.change.apply(users, args);
    });
    try {
      const grant = await client.call('POST', `/v1/users/${user.userId}/roles`, { token: p.globalAdmin.token, body: { role: 'INCENTIVES_ADMIN', locationIds: ['*'] } });
      expect(grant.status).toBe(409);
    } finally {
      spy.mockRestore();
    }
    const stored = await booted.db.collection('users').findOne({ _id: user.userId as never });
    expect(stored).toMatchObject({ active: false, roles: [], revision: 2 });
  });

  it('answers a deactivated admin 403 on a retry with the same Idempotency-Key, not the stored 201 (its token is still valid)', async () => {
    const p = await twoGlobalAdmins();
    const body = { email: `idem-${randomUUID().slice(0, 8)}@example.com`, displayName: 'Once' };
    const headers = { 'idempotency-key': randomUUID() };
    const first = await client.call('POST', '/v1/users', { token: p.second.token, body, headers });
    expect(first.status).toBe(201);
    await client.settled('users', first.body.userId);
    const r = await revision(p.first.token, p.second.userId);
    expect((await client.call('POST', `/v1/users/${p.second.userId}/deactivate`, { token: p.first.token, headers: { 'if-match': `"${r}"` } })).status).toBe(200);

    const retry = await client.call('POST', '/v1/users', { token: p.second.token, body, headers });
    expect(retry.status).toBe(403);
    expect(retry.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(retry.body.detail).toMatch(/deactivated/);
    expect(retry.headers.get('idempotent-replayed')).toBeNull();
    expect(await booted.db.collection('users').countDocuments({ partnerId: p.partnerId, email: body.email })).toBe(1);
  });
});

describe('directory import: emails moving between entries of one file', () => {
  it('gives an email freed by an earlier entry of the same file to a new user (updated, then created)', async () => {
    const p = await client.registerPartner();
    const [moving, arriving] = [`m-${randomUUID()}`, `a-${randomUUID()}`];
    const [oldEmail, newEmail] = [`old-${randomUUID().slice(0, 8)}@example.com`, `new-${randomUUID().slice(0, 8)}@example.com`];
    const body = (resources: object[]) => ({ schemas: [LIST_RESPONSE], Resources: resources });
    const first = await client.call('POST', '/v1/users/import', { token: p.globalAdmin.token, body: body([{ externalId: moving, userName: oldEmail, active: true }]) });
    const movingId = first.body.results[0].userId;
    await client.settled('users', movingId);

    // The directory moved the user to a new address, and a new user has the old one.
    const next = await client.call('POST', '/v1/users/import', {
      token: p.globalAdmin.token,
      body: body([
        { externalId: moving, userName: newEmail, active: true },
        { externalId: arriving, userName: oldEmail, active: true },
      ]),
    });
    expect(next.status).toBe(200);
    expect(next.body.results.map((r: any) => [r.externalId, r.outcome])).toEqual([
      [moving, 'updated'],
      [arriving, 'created'],
    ]);
    const read = async (userId: string) => (await client.call('GET', `/v1/users/${userId}`, { token: p.globalAdmin.token })).body;
    expect(await read(movingId)).toMatchObject({ email: newEmail });
    expect(await read(next.body.results[1].userId)).toMatchObject({ email: oldEmail });
  });
});

describe('directory import and deactivation by an admin', () => {
  it("does not reactivate (and so give back the roles of) a user an admin deactivated; it does reactivate the directory's own", async () => {
    const p = await client.registerPartner();
    const [byAdmin, byDirectory] = [`a-${randomUUID()}`, `d-${randomUUID()}`];
    const entry = (externalId: string, active: boolean) => ({ externalId, userName: `${externalId}@example.com`, active });
    const list = (adminActive: boolean, directoryActive: boolean) => ({
      schemas: [LIST_RESPONSE],
      Resources: [entry(byAdmin, adminActive), entry(byDirectory, directoryActive)],
    });
    const created = await client.call('POST', '/v1/users/import', { token: p.globalAdmin.token, body: list(true, true) });
    const [adminUserId, directoryUserId] = created.body.results.map((r: any) => r.userId);
    await client.settled('users', adminUserId);
    await client.settled('users', directoryUserId);
    const held = await client.assign(p.globalAdmin.token, adminUserId, 'INCENTIVES_ADMIN', ['*']);

    // The admin deactivates one; the directory deactivates the other.
    const deactivated = await client.call('POST', `/v1/users/${adminUserId}/deactivate`, { token: p.globalAdmin.token, headers: { 'if-match': `"${held.revision}"` } });
    expect(deactivated.status).toBe(200);
    await client.settled('users', adminUserId);
    expect((await client.call('POST', '/v1/users/import', { token: p.globalAdmin.token, body: list(true, false) })).body.summary).toMatchObject({ deactivated: 1 });
    await client.settled('users', directoryUserId);

    // Both active in the directory again: only the directory's own deactivation is undone.
    const back = await client.call('POST', '/v1/users/import', { token: p.globalAdmin.token, body: list(true, true) });
    expect(back.body.results.map((r: any) => [r.userId, r.outcome, r.reason])).toEqual([
      [adminUserId, 'unchanged', 'deactivated by an admin: not reactivated'],
      [directoryUserId, 'updated', 'reactivated'],
    ]);
    const read = async (userId: string) => (await client.call('GET', `/v1/users/${userId}`, { token: p.globalAdmin.token })).body;
    expect(await read(adminUserId)).toMatchObject({ active: false, roles: [{ role: 'INCENTIVES_ADMIN', locationIds: ['*'] }] });
    expect(await read(directoryUserId)).toMatchObject({ active: true });
    // Who deactivated is recorded, and cleared on reactivation.
    const stored = (userId: string) => booted.db.collection('users').findOne({ _id: userId as never });
    expect(await stored(adminUserId)).toMatchObject({ deactivatedBy: p.globalAdmin.userId });
    expect(await stored(directoryUserId)).not.toHaveProperty('deactivatedBy');
  });

  it("deactivates a leaver whose address the directory gave to a new hire listed before them, and one whose `Active` is spelled in another case", async () => {
    const p = await client.registerPartner();
    const [leaver, other, newHire] = [`l-${randomUUID()}`, `o-${randomUUID()}`, `n-${randomUUID()}`];
    const address = `jo-${randomUUID().slice(0, 8)}@example.com`;
    const first = await importUsers(p.globalAdmin.token, [{ externalId: leaver, userName: address, active: true }, { externalId: other, userName: `${other}@example.com`, active: true }]);
    const [leaverId, otherId] = first.body.results.map((r: any) => r.userId);
    await client.settled('users', leaverId);
    await client.settled('users', otherId);

    const next = await importUsers(p.globalAdmin.token, [
      { externalId: newHire, userName: address, active: true },
      { externalId: leaver, userName: address, active: false },
      { ExternalId: other, UserName: `${other}@example.com`, Active: 'False' },
    ]);
    expect(next.status).toBe(200);
    // The new hire waits for the address (the deactivated leaver still holds it); the leaver and the other are deactivated.
    expect(next.body.results.map((r: any) => [r.externalId, r.outcome])).toEqual([
      [newHire, 'rejected'],
      [leaver, 'deactivated'],
      [other, 'deactivated'],
    ]);
    const read = async (userId: string) => (await client.call('GET', `/v1/users/${userId}`, { token: p.globalAdmin.token })).body;
    expect(await read(leaverId)).toMatchObject({ active: false, email: address });
    expect(await read(otherId)).toMatchObject({ active: false });
  });

  it.each([
    // Listed after, the leaver's entry is refused as the email's second one (mapScimResources) and touches nobody.
    ['before', false, 'unchanged'],
    ['after', true, 'rejected'],
  ])('links a user created by hand to the active entry with its email, never to a leaver listed %s it with the same address', async (_, leaverLast, leaverOutcome) => {
    const p = await client.registerPartner();
    const address = `hand-${randomUUID().slice(0, 8)}@example.com`;
    const { userId } = await client.createUser(p.globalAdmin.token, { email: address });
    const held = await client.assign(p.globalAdmin.token, userId, 'INCENTIVES_ADMIN', ['*']);
    const [leaver, newHire] = [`l-${randomUUID()}`, `n-${randomUUID()}`];
    const entries = [
      { externalId: leaver, userName: address, active: false },
      { externalId: newHire, userName: address, active: true },
    ];
    const imported = await importUsers(p.globalAdmin.token, leaverLast ? entries.reverse() : entries);
    expect(imported.status).toBe(200);
    const outcomes = Object.fromEntries(imported.body.results.map((r: any) => [r.externalId, [r.outcome, r.userId]]));
    expect(outcomes).toEqual({ [newHire]: ['updated', userId], [leaver]: [leaverOutcome, undefined] });
    await client.settled('users', userId);
    const user = (await client.call('GET', `/v1/users/${userId}`, { token: p.globalAdmin.token })).body;
    expect(user).toMatchObject({ active: true, email: address, externalId: newHire, roles: held.roles });

    // The same file again (the next sync): the new hire unchanged, the leaver as before (not rejected now that the
    // user with the address is linked).
    const again = await importUsers(p.globalAdmin.token, entries);
    expect(Object.fromEntries(again.body.results.map((r: any) => [r.externalId, r.outcome]))).toEqual({ [newHire]: 'unchanged', [leaver]: leaverOutcome });
  });

  it("still deactivates the user created by hand with a leaver's address when the active entry with it is linked already (its user moving to that address)", async () => {
    const p = await client.registerPartner();
    const address = `hand-${randomUUID().slice(0, 8)}@example.com`;
    const { userId } = await client.createUser(p.globalAdmin.token, { email: address });
    const [leaver, mover] = [`l-${randomUUID()}`, `m-${randomUUID()}`];
    const first = await importUsers(p.globalAdmin.token, [{ externalId: mover, userName: `${mover}@example.com`, active: true }]);
    const moverId = first.body.results[0].userId;
    await client.settled('users', moverId);

    const imported = await importUsers(p.globalAdmin.token, [
      { externalId: leaver, userName: address, active: false },
      { externalId: mover, userName: address, active: true },
    ]);
    expect(imported.body.results.map((r: any) => [r.externalId, r.outcome])).toEqual([
      [leaver, 'deactivated'],
      [mover, 'rejected'],
    ]);
    expect(imported.body.results[0].userId).toBe(userId);
    await client.settled('users', userId);
    expect((await client.call('GET', `/v1/users/${userId}`, { token: p.globalAdmin.token })).body).toMatchObject({ active: false, externalId: leaver });
  });

  it('an admin deactivating a user the directory deactivated first makes it theirs: the directory listing it active again does not reactivate it', async () => {
    const p = await client.registerPartner();
    const externalId = `x-${randomUUID()}`;
    const list = (active: boolean) => ({ schemas: [LIST_RESPONSE], Resources: [{ externalId, userName: `${externalId}@example.com`, active }] });
    const userId = (await client.call('POST', '/v1/users/import', { token: p.globalAdmin.token, body: list(true) })).body.results[0].userId;
    await client.settled('users', userId);
    const held = await client.assign(p.globalAdmin.token, userId, 'INCENTIVES_ADMIN', ['*']);
    // The directory deactivates it; the admin, offboarding it, deactivates it too (answered as it is: inactive).
    expect((await client.call('POST', '/v1/users/import', { token: p.globalAdmin.token, body: list(false) })).body.summary).toMatchObject({ deactivated: 1 });
    await client.settled('users', userId);
    const read = async () => (await client.call('GET', `/v1/users/${userId}`, { token: p.globalAdmin.token })).body;
    const deactivated = await client.call('POST', `/v1/users/${userId}/deactivate`, { token: p.globalAdmin.token, headers: { 'if-match': `"${(await read()).revision}"` } });
    expect(deactivated).toMatchObject({ status: 200, body: { active: false, revision: held.revision + 1 } });

    const back = await client.call('POST', '/v1/users/import', { token: p.globalAdmin.token, body: list(true) });
    expect(back.body.results.map((r: any) => [r.outcome, r.reason])).toEqual([['unchanged', 'deactivated by an admin: not reactivated']]);
    expect(await read()).toMatchObject({ active: false, roles: [{ role: 'INCENTIVES_ADMIN', locationIds: ['*'] }] });
  });

  // The takeover is no new revision: an import that read the user before it (a long file) must not write on that read.
  it('also when the import read the user before the admin took the deactivation over: the import reads it again and leaves it', async () => {
    const p = await client.registerPartner();
    const externalId = `r-${randomUUID()}`;
    const list = (active: boolean) => ({ schemas: [LIST_RESPONSE], Resources: [{ externalId, userName: `${externalId}@example.com`, active }] });
    const userId = (await client.call('POST', '/v1/users/import', { token: p.globalAdmin.token, body: list(true) })).body.results[0].userId;
    await client.settled('users', userId);
    await client.assign(p.globalAdmin.token, userId, 'INCENTIVES_ADMIN', ['*']);
    expect((await client.call('POST', '/v1/users/import', { token: p.globalAdmin.token, body: list(false) })).body.summary).toMatchObject({ deactivated: 1 });
    await client.settled('users', userId);
    const read = async () => (await client.call('GET', `/v1/users/${userId}`, { token: p.globalAdmin.token })).body;
    const { revision } = await read();

    // The import has planned the reactivation from its read; the admin takes the deactivation over before it writes.
    const users = booted.service.app.get(UsersRepository);
    const write = users.change.bind(users);
    let tookOver: { status: number } | undefined;
    const spy = jest.spyOn(users, 'change').mockImplementation(async (...args) => {
      if (!tookOver && args[0]._id === userId && args[1].active === true) {
        tookOver = await client.call('POST', `/v1/users/${userId}/deactivate`, { token: p.globalAdmin.token, headers: { 'if-match': `"${revision}"` } });
      }
      return write(...args);
    });
    let back;
    try {
      back = await client.call('POST', '/v1/users/import', { token: p.globalAdmin.token, body: list(true) });
    } finally {
      spy.mockRestore();
    }
    expect(tookOver?.status).toBe(200);
    expect(back.body.results.map((r: any) => [r.outcome, r.reason])).toEqual([['unchanged', 'deactivated by an admin: not reactivated']]);
    expect(await read()).toMatchObject({ active: false, revision, roles: [{ role: 'INCENTIVES_ADMIN', locationIds: ['*'] }] });
    expect(await booted.db.collection('users').findOne({ _id: userId as never })).toMatchObject({ deactivatedBy: p.globalAdmin.userId });
  });

  /** A partner's user imported from its directory (given `role` first), then deactivated by it; its revision then. */
  async function deactivatedByDirectory(role?: { role: string; locationIds: string[] }) {
    const p = await client.registerPartner();
    const externalId = `u-${randomUUID()}`;
    const list = (active: boolean) => ({ schemas: [LIST_RESPONSE], Resources: [{ externalId, userName: `${externalId}@example.com`, active }] });
    const userId = (await client.call('POST', '/v1/users/import', { token: p.globalAdmin.token, body: list(true) })).body.results[0].userId;
    await client.settled('users', userId);
    if (role) expect((await client.call('POST', `/v1/users/${userId}/roles`, { token: p.globalAdmin.token, body: role })).status).toBe(200);
    expect((await client.call('POST', '/v1/users/import', { token: p.globalAdmin.token, body: list(false) })).body.summary).toMatchObject({ deactivated: 1 });
    await client.settled('users', userId);
    const { revision } = (await client.call('GET', `/v1/users/${userId}`, { token: p.globalAdmin.token })).body;
    return { p, userId, list, revision: revision as number };
  }

  // Revoking some locations of a role held on `*` leaves it on the partner's other locations as read before the write:
  // one added in between was not among them, and nobody revoked it.
  it("some locations revoked of a role held on *: a location added to the partner while the revoke wrote stays held", async () => {
    const [L1, L2] = [`L-${randomUUID().slice(0, 8)}`, `L-${randomUUID().slice(0, 8)}`];
    const p = await client.registerPartner([L1, L2]);
    const { userId } = await client.createUser(p.globalAdmin.token);
    expect((await client.call('POST', `/v1/users/${userId}/roles`, { token: p.globalAdmin.token, body: { role: 'INCENTIVES_ADMIN', locationIds: ['*'] } })).status).toBe(200);
    const L3 = `L-${randomUUID().slice(0, 8)}`;
    const answer = await racing(
      'change',
      async () => {
        const added = await client.call('POST', `/v1/partners/${p.partnerId}/locations`, { operator: true, body: { locationId: L3, country: 'US', legalName: 'Contoso Inc.' } });
        expect(added.status).toBe(201);
      },
      () => client.call('DELETE', `/v1/users/${userId}/roles`, { token: p.globalAdmin.token, body: { role: 'INCENTIVES_ADMIN', locationIds: [L1] } }),
    );
    expect(answer.status).toBe(200);
    expect(answer.body.roles).toEqual([{ role: 'INCENTIVES_ADMIN', locationIds: [L2, L3].sort() }]);
    const stored = (await client.call('GET', `/v1/users/${userId}`, { token: p.globalAdmin.token })).body;
    expect(stored.roles).toEqual([{ role: 'INCENTIVES_ADMIN', locationIds: [L2, L3].sort() }]);
  });

  it('a role revoked with If-Match while an admin takes the directory\'s deactivation over (no new revision) is revoked, not 412 with the version sent', async () => {
    const role = { role: 'INCENTIVES_ADMIN', locationIds: ['*'] };
    const { p, userId, revision } = await deactivatedByDirectory(role);
    const ifMatch = { 'if-match': `"${revision}"` };
    // The revoke has read the user; an admin takes the deactivation over (who deactivated it: not a new revision)
    // before the revoke writes.
    const answer = await racing(
      'change',
      async () => expect((await client.call('POST', `/v1/users/${userId}/deactivate`, { token: p.globalAdmin.token, headers: ifMatch })).status).toBe(200),
      () => client.call('DELETE', `/v1/users/${userId}/roles`, { token: p.globalAdmin.token, body: role, headers: ifMatch }),
    );
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ active: false, roles: [], revision: revision + 1 });
    expect(await booted.db.collection('users').findOne({ _id: userId as never })).toMatchObject({ deactivatedBy: p.globalAdmin.userId });
  });

  it('a reactivation while another admin takes the directory\'s deactivation over (no new revision) reactivates, not 412 with the version sent', async () => {
    const { p, userId, revision } = await deactivatedByDirectory();
    const ifMatch = { 'if-match': `"${revision}"` };
    const answer = await racing(
      'change',
      async () => expect((await client.call('POST', `/v1/users/${userId}/deactivate`, { token: p.globalAdmin.token, headers: ifMatch })).status).toBe(200),
      () => client.call('POST', `/v1/users/${userId}/reactivate`, { token: p.globalAdmin.token, headers: ifMatch }),
    );
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ active: true, revision: revision + 1 });
    expect(await booted.db.collection('users').findOne({ _id: userId as never })).not.toHaveProperty('deactivatedBy');
  });

  it('two admins taking the directory\'s deactivation over at once both get 200: the second is not 412 with the version it sent', async () => {
    const { p, userId, revision } = await deactivatedByDirectory();
    const ifMatch = { 'if-match': `"${revision}"` };
    // Both have read it deactivated by the directory; the first takes it over before the second writes.
    const answer = await racing(
      'takeOverDeactivation',
      async () => expect((await client.call('POST', `/v1/users/${userId}/deactivate`, { token: p.globalAdmin.token, headers: ifMatch })).status).toBe(200),
      () => client.call('POST', `/v1/users/${userId}/deactivate`, { token: p.globalAdmin.token, headers: ifMatch }),
    );
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ active: false, revision });
    expect(await booted.db.collection('users').findOne({ _id: userId as never })).toMatchObject({ deactivatedBy: p.globalAdmin.userId, revision });
  });

  it('an admin taking over a deactivation the directory has just undone gets 412 with the new revision, not the old copy', async () => {
    const { p, userId, list, revision } = await deactivatedByDirectory();
    // The admin has read it inactive; the directory reactivates it before the takeover writes.
    const answer = await racing(
      'takeOverDeactivation',
      async () => expect((await client.call('POST', '/v1/users/import', { token: p.globalAdmin.token, body: list(true) })).body.summary).toMatchObject({ updated: 1 }),
      () => client.call('POST', `/v1/users/${userId}/deactivate`, { token: p.globalAdmin.token, headers: { 'if-match': `"${revision}"` } }),
    );
    expect(answer.status).toBe(412);
    expect(answer.body).toMatchObject({ currentVersion: revision + 1 });
    expect((await client.call('GET', `/v1/users/${userId}`, { token: p.globalAdmin.token })).body).toMatchObject({ active: true, revision: revision + 1 });
  });
});
