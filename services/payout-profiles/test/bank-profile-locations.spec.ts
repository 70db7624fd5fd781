/**
 * A bank profile serves named locations (`locationIds`, or `['*']`), and only their Incentives admins edit it, make it
 * a location's default, or see it (SPEC 1, Roles 2 and 4). Over the real HTTP app, broker and database; roles reach the
 * service only as identity events. The world: `adminOfLocation` administers L1 and L3, `adminOfOtherLocation` L2,
 * `incentivesUser` reads L1 and L3; `starAdmin` (added here) administers every location.
 */
import { ProfileEvent, Topics } from '@lib/contracts';
import { outboxSettled, ReceivedMessage, TopicWatch } from '@lib/testing';
import { randomUUID } from 'node:crypto';
import { DefaultClaims } from '../src/default-bank-profiles/default-claims';
import { addUser, call, CallerName, createWorld, Harness, ibanProfile, ifMatch, startHarness, World } from './support';

jest.setTimeout(120_000);

let h: Harness;
let w: World;
let watch: TopicWatch;
let starAdmin: () => Promise<string>;

beforeAll(async () => {
  h = await startHarness('bank-profile-locations');
  watch = await h.kafka.watch([Topics.payoutProfiles, Topics.validationRequests]);
  w = await createWorld(h);
  starAdmin = (await addUser(h, w.partnerId, 'star-admin', [['INCENTIVES_ADMIN', ['*']]])).token;
}, 180_000);

afterAll(() => h?.close());

const profiles = () => h.db.collection('bank_profiles');
const defaults = () => h.db.collection('default_bank_profiles');
const stored = (profileId: string) => profiles().findOne({ _id: profileId as never }, { projection: { outbox: 0 } });
const tokenOf = (caller: CallerName | 'starAdmin') => (caller === 'starAdmin' ? starAdmin() : w.token(caller));

async function create(caller: CallerName | 'starAdmin', body: Record<string, unknown> = ibanProfile()) {
  return call(h, 'POST', '/v1/bank-profiles', { token: await tokenOf(caller), body });
}

async function created(caller: CallerName | 'starAdmin', locationIds?: string[]): Promise<{ profileId: string; version: number; locationIds: string[] }> {
  const answer = await create(caller, ibanProfile(locationIds ? { locationIds } : {}));
  expect(`${answer.status} ${JSON.stringify(answer.body)}`).toMatch(/^201 /);
  return answer.body;
}

async function patch(caller: CallerName | 'starAdmin', profileId: string, body: Record<string, unknown>) {
  const current = await stored(profileId);
  return call(h, 'PATCH', `/v1/bank-profiles/${profileId}`, { token: await tokenOf(caller), body, headers: ifMatch(current!.version) });
}

const putDefault = async (caller: CallerName | 'starAdmin', locationId: string, bankProfileId: string, currency = 'EUR') =>
  call(h, 'PUT', `/v1/locations/${locationId}/default-bank-profile`, { token: await tokenOf(caller), body: { bankProfileId, currency } });

const eventsOf = (profileId: string, type: string) => (m: ReceivedMessage<any>) => m.envelope?.type === type && m.envelope.data.profileId === profileId;

/** Every event the service wrote for these profiles has come back through the watch (for "nothing else" checks). */
const settled = (profileIds: string[]) =>
  Promise.all(
    [Topics.payoutProfiles, Topics.validationRequests].map((topic) =>
      outboxSettled({ collection: profiles(), filter: { _id: { $in: profileIds } }, kafka: h.kafka, watch, topic, keys: [w.partnerId] }),
    ),
  );

/** An admin of L2's own IBAN: what the review's scenario puts on L1's profile. */
const L2_ACCOUNT = { account: { iban: 'GB82 WEST 1234 5698 7654 32', bic: 'NWBKGB2L' }, country: 'GB', currency: 'GBP' };

describe('creating a bank profile: the locations it serves', () => {
  it('without locationIds it serves the locations the caller is Incentives admin of (["*"] for an admin of every location)', async () => {
    const ofL1L3 = await created('adminOfLocation');
    const ofL2 = await created('adminOfOtherLocation');
    const ofAll = await created('starAdmin');
    expect([ofL1L3.locationIds, ofL2.locationIds, ofAll.locationIds]).toEqual([[w.L1, w.L3].sort(), [w.L2], ['*']]);
    expect((await stored(ofL2.profileId))!.locationIds).toEqual([w.L2]);

    // Its events carry them (and the version); the back office's validation request stays as it was.
    const [event] = await watch.waitFor<ProfileEvent>(eventsOf(ofL1L3.profileId, 'ProfileCreated'));
    expect(event.envelope!.data).toMatchObject({ locationIds: [w.L1, w.L3].sort(), version: 1, revision: 1 });
    const [request] = await watch.waitFor<ProfileEvent>(eventsOf(ofL1L3.profileId, 'ProfileValidationRequested'));
    expect(Object.keys(request.envelope!.data)).not.toEqual(expect.arrayContaining(['locationIds']));
    expect(Object.keys(request.envelope!.data)).not.toEqual(expect.arrayContaining(['version']));
  });

  it('with locationIds: each must be a location of the partner the caller is Incentives admin of ("*": of every location)', async () => {
    const only = await created('adminOfLocation', [w.L1]);
    expect(only.locationIds).toEqual([w.L1]);
    expect((await created('starAdmin', [w.L2, w.L1])).locationIds).toEqual([w.L1, w.L2].sort());
    expect((await created('starAdmin', ['*'])).locationIds).toEqual(['*']);

    const count = await profiles().countDocuments({ partnerId: w.partnerId });
    for (const [locationIds, status, says] of [
      [[w.L1, w.L2], 403, `not Incentives admin of location(s) ${w.L2}`],
      [['*'], 403, 'not Incentives admin of every location of your partner (*)'],
      // Not the partner's (another partner's reads as an unknown one): 400 naming locationIds, before the 403 on L2.
      [[w.otherLocation, w.L2], 400, 'A bank profile can only serve locations of your own partner.'],
      [[`nowhere-${randomUUID()}`], 400, 'A bank profile can only serve locations of your own partner.'],
    ] as Array<[string[], number, string]>) {
      const answer = await create('adminOfLocation', ibanProfile({ locationIds }));
      expect([answer.status, answer.headers.get('content-type')]).toEqual([status, expect.stringMatching(/application\/problem\+json/)]);
      expect(answer.body.detail).toContain(says);
      if (status === 400) {
        expect(answer.body.errors).toEqual([{ field: 'locationIds', message: `unknown location(s) for your partner: ${locationIds.filter((id) => id !== w.L2).join(', ')}` }]);
      }
    }
    for (const [locationIds, message] of [
      [['*', w.L1], 'must be ["*"] alone (every location) or a list of location ids'],
      [[], 'locationIds must contain at least 1 elements'],
      [[w.L1, w.L1], "All locationIds's elements must be unique"],
    ] as Array<[string[], string]>) {
      const answer = await create('adminOfLocation', ibanProfile({ locationIds }));
      expect(answer.status).toBe(400);
      expect(answer.body.errors).toEqual([{ field: 'locationIds', message: expect.stringContaining(message) }]);
    }
    expect(await profiles().countDocuments({ partnerId: w.partnerId })).toBe(count);
  });
});

describe('editing a bank profile: Incentives admin of every location it serves', () => {
  it("the review's scenario: P of L1's admin (created as before, without locationIds) is no default; the admin of L2 cannot put their account on it (403), an admin of every location can", async () => {
    const p = await created('adminOfLocation');
    const served = [w.L1, w.L3].sort();
    const before = await stored(p.profileId);
    const refused = await patch('adminOfOtherLocation', p.profileId, L2_ACCOUNT);
    expect(refused.status).toBe(403);
    expect(refused.headers.get('content-type')).toMatch(/application\/problem\+json/);
    // They may not read it either (it serves none of their locations): the answer says no more than its GET would.
    expect(refused.body.detail).toBe(`Bank profile ${p.profileId} serves none of the locations you hold an incentives role on.`);
    expect(JSON.stringify(refused.body)).not.toContain(w.L1);
    // Nor may they make it serve their location (to choose it, or make it their default).
    expect((await patch('adminOfOtherLocation', p.profileId, { locationIds: [...served, w.L2] })).status).toBe(403);
    expect(await stored(p.profileId)).toEqual(before);

    const byL1 = await patch('adminOfLocation', p.profileId, { name: `renamed ${randomUUID()}` });
    expect(byL1.status).toBe(200);
    const byAll = await patch('starAdmin', p.profileId, L2_ACCOUNT);
    expect(byAll.status).toBe(200);
    expect(byAll.body).toMatchObject({ revision: 3, status: 'PENDING_VALIDATION', country: 'GB', locationIds: served });
  });

  it('a profile serving L1 and L2: an admin of L1 alone may not edit it; "*" needs an admin of every location', async () => {
    const both = await created('starAdmin', [w.L1, w.L2]);
    const refused = await patch('adminOfLocation', both.profileId, { name: `renamed ${randomUUID()}` });
    expect(refused.status).toBe(403);
    // L2 is a location they hold no role on: counted, not named (users see data only of their locations).
    expect(refused.body.detail).toContain(`serves location(s) ${w.L1} and 1 location(s) you hold no role on: only`);
    expect(refused.body.detail).toContain('you are not Incentives admin of 1 location(s) you hold no role on.');
    expect(refused.body.detail).not.toContain(w.L2);

    const all = await created('starAdmin', ['*']);
    const notAll = await patch('adminOfLocation', all.profileId, { name: `renamed ${randomUUID()}` });
    expect(notAll.status).toBe(403);
    expect(notAll.body.detail).toContain('serves every location of your partner (*)');
  });


  it('a caller who may not edit a profile gets 403 whatever If-Match says: a stale one does not reveal its current version (no 412)', async () => {
    const l2 = await created('adminOfOtherLocation', [w.L2]);
    const stale = await call(h, 'PATCH', `/v1/bank-profiles/${l2.profileId}`, {
      token: await w.token('adminOfLocation'),
      body: { name: `renamed ${randomUUID()}` },
      headers: ifMatch(l2.version + 7),
    });
    expect(stale.status).toBe(403);
    expect(stale.body).not.toHaveProperty('currentVersion');
    expect(stale.body.detail).toBe(`Bank profile ${l2.profileId} serves none of the locations you hold an incentives role on.`);
    // Its own admin with the same stale version: 412 with the current version, as before.
    const own = await call(h, 'PATCH', `/v1/bank-profiles/${l2.profileId}`, {
      token: await w.token('adminOfOtherLocation'),
      body: { name: `renamed ${randomUUID()}` },
      headers: ifMatch(l2.version + 7),
    });
    expect(own).toMatchObject({ status: 412, body: { currentVersion: l2.version } });
  });
  it('changing locationIds alone is no new revision: one ProfileUpdated with the new list, same revision and status, no validation request', async () => {
    const p = await created('adminOfLocation', [w.L1]);
    const answer = await patch('adminOfLocation', p.profileId, { locationIds: [w.L3, w.L1] });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ locationIds: [w.L1, w.L3].sort(), revision: 1, status: 'PENDING_VALIDATION' });
    expect(answer.headers.get('etag')).toBe('"2"');
    // The same list again changes nothing.
    const again = await patch('adminOfLocation', p.profileId, { locationIds: [w.L1, w.L3] });
    expect(again.headers.get('etag')).toBe('"2"');

    await settled([p.profileId]);
    const updated = watch.find<ProfileEvent>(eventsOf(p.profileId, 'ProfileUpdated'));
    expect(updated.map((m) => m.envelope!.data)).toEqual([expect.objectContaining({ revision: 1, version: 2, locationIds: [w.L1, w.L3].sort() })]);
    expect(watch.find(eventsOf(p.profileId, 'ProfileValidationRequested'))).toHaveLength(1);
    expect(watch.find(eventsOf(p.profileId, 'ProfileSubmittedForValidation'))).toHaveLength(1);
  });

  it('a PATCH naming locations: admin of each of them too, and they must be the partner\'s', async () => {
    const p = await created('adminOfLocation', [w.L1]);
    expect((await patch('adminOfLocation', p.profileId, { locationIds: [w.L1, w.L2] })).status).toBe(403);
    expect((await patch('adminOfLocation', p.profileId, { locationIds: ['*'] })).status).toBe(403);
    const foreign = await patch('adminOfLocation', p.profileId, { locationIds: [w.L1, w.otherLocation, 'no-such-location'] });
    expect(foreign.status).toBe(400);
    expect(foreign.body.errors).toEqual([{ field: 'locationIds', message: `unknown location(s) for your partner: ${[w.otherLocation, 'no-such-location'].sort().join(', ')}` }]);
    expect((await stored(p.profileId))!.locationIds).toEqual([w.L1]);
    // An admin of every location widens it to every location.
    const widened = await patch('starAdmin', p.profileId, { locationIds: ['*'] });
    expect(widened.body.locationIds).toEqual(['*']);
  });

  it('a profile stored before locationIds existed reads as ["*"] and is edited by an admin of every location only', async () => {
    const p = await created('adminOfLocation', [w.L1]);
    await profiles().updateOne({ _id: p.profileId as never }, { $unset: { locationIds: 1 } });
    const read = await call(h, 'GET', `/v1/bank-profiles/${p.profileId}`, { token: await w.token('incentivesUser') });
    expect(read.body.locationIds).toEqual(['*']);
    expect((await call(h, 'GET', `/v1/bank-profiles/${p.profileId}`, { token: await w.token('adminOfOtherLocation') })).status).toBe(200);

    const refused = await patch('adminOfLocation', p.profileId, { name: `renamed ${randomUUID()}` });
    expect(refused.status).toBe(403);
    expect(refused.body.detail).toContain('every location of your partner (*)');
    // An admin of every location narrows it; from then on its locations' admins edit it.
    const narrowed = await patch('starAdmin', p.profileId, { locationIds: [w.L1] });
    expect(narrowed.body.locationIds).toEqual([w.L1]);
    expect((await patch('adminOfLocation', p.profileId, { name: `renamed ${randomUUID()}` })).status).toBe(200);
  });
});

describe('a default bank profile serves its location', () => {
  it("the admin of L1 cannot make L2's profile (serving L2 only) the default of L1: 403 as reading it (it names nothing of it), 409 location-not-served for a profile they read; nothing assigned", async () => {
    const ofL2 = await created('adminOfOtherLocation');
    const hidden = await putDefault('adminOfLocation', w.L1, ofL2.profileId);
    expect(hidden.status).toBe(403);
    expect(hidden.body.detail).toBe(`Bank profile ${ofL2.profileId} serves none of the locations you hold an incentives role on.`);
    expect((await defaults().findOne({ _id: w.L1 as never }))?.bankProfileId ?? null).not.toBe(ofL2.profileId);
    expect((await stored(ofL2.profileId))!.defaultFor ?? []).toEqual([]);
    // A profile serving L2 and L3 is one they read (L3): its answer names what it serves of their locations (L3; L2 is
    // a location they hold no role on).
    const ofL2L3 = await created('starAdmin', [w.L2, w.L3]);
    const refused = await putDefault('adminOfLocation', w.L1, ofL2L3.profileId);
    expect(refused.status).toBe(409);
    expect(refused.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(refused.body).toMatchObject({
      type: expect.stringContaining('location-not-served'),
      errors: [{ field: 'bankProfileId', message: `must be a bank profile that serves location(s) ${w.L1}` }],
    });
    expect(refused.body.detail).toContain(`Bank profile ${ofL2L3.profileId} serves location(s) ${w.L3}, not ${w.L1}`);
    expect(refused.body.detail).not.toContain(w.L2);
    expect((await defaults().findOne({ _id: w.L1 as never }))?.bankProfileId ?? null).not.toBe(ofL2L3.profileId);
    expect((await stored(ofL2L3.profileId))!.defaultFor ?? []).toEqual([]);
    // The list form too, as soon as one of its locations is not served.
    const p = await created('adminOfLocation', [w.L1]);
    const many = await call(h, 'POST', '/v1/default-bank-profiles', { token: await w.token('adminOfLocation'), body: { bankProfileId: p.profileId, currency: 'EUR', locationIds: [w.L1, w.L3] } });
    expect(many.status).toBe(409);
    expect(many.body.detail).toContain(`not ${w.L3}`);
    expect((await defaults().findOne({ _id: w.L1 as never }))?.bankProfileId ?? null).not.toBe(p.profileId);

    // L2's own admin can: it serves L2. L2's admin can still edit it (the admin of L1 took nothing over).
    expect((await putDefault('adminOfOtherLocation', w.L2, ofL2.profileId)).status).toBe(201);
    expect((await patch('adminOfOtherLocation', ofL2.profileId, { name: `renamed ${randomUUID()}` })).status).toBe(200);
    expect((await call(h, 'DELETE', `/v1/locations/${w.L2}/default-bank-profile`, { token: await w.token('adminOfOtherLocation') })).status).toBe(204);
  });

  it('adding the location to locationIds first makes it possible; leaving out a location whose default it is is refused (409)', async () => {
    const p = await created('adminOfLocation', [w.L1]);
    expect((await putDefault('adminOfLocation', w.L3, p.profileId)).status).toBe(409);
    expect((await patch('adminOfLocation', p.profileId, { locationIds: [w.L1, w.L3] })).status).toBe(200);
    expect((await putDefault('adminOfLocation', w.L3, p.profileId)).status).toBe(201);

    const narrowing = await patch('adminOfLocation', p.profileId, { locationIds: [w.L1] });
    expect(narrowing.status).toBe(409);
    expect(narrowing.body.errors).toEqual([{ field: 'locationIds', message: 'must keep serving the locations whose default bank profile this is' }]);
    expect(narrowing.body.detail).toContain(w.L3);
    expect((await stored(p.profileId))!.locationIds).toEqual([w.L1, w.L3].sort());
    expect((await call(h, 'DELETE', `/v1/locations/${w.L3}/default-bank-profile`, { token: await w.token('adminOfLocation') })).status).toBe(204);
    expect((await patch('adminOfLocation', p.profileId, { locationIds: [w.L1] })).status).toBe(200);
  });

  it('an assignment that read the profile before its locationIds left the location out is refused at its claim (409); nothing is assigned', async () => {
    const p = await created('adminOfLocation', [w.L1, w.L3]);
    const claims = h.service.app.get(DefaultClaims, { strict: false });
    const claim = claims.claim.bind(claims);
    let reached!: () => void;
    const atClaim = new Promise<void>((resolve) => (reached = resolve));
    let release!: () => void;
    const narrowed = new Promise<void>((resolve) => (release = resolve));
    const spy = jest.spyOn(claims, 'claim').mockImplementationOnce(async (...args) => {
      reached();
      await Promise.race([narrowed, new Promise((resolve) => setTimeout(resolve, 15_000))]);
      return claim(...args);
    });
    try {
      // The PUT reads the profile (serving L3) and reaches its claim; the profile stops serving L3 before the claim.
      const put = putDefault('adminOfLocation', w.L3, p.profileId);
      await atClaim;
      expect((await patch('adminOfLocation', p.profileId, { locationIds: [w.L1] })).status).toBe(200);
      release();
      const assigned = await put;
      expect(assigned.status).toBe(409);
      expect(assigned.body.type).toContain('location-not-served');
    } finally {
      spy.mockRestore();
    }
    expect((await defaults().findOne({ _id: w.L3 as never }))?.bankProfileId ?? null).not.toBe(p.profileId);
    expect((await stored(p.profileId))!.defaultFor ?? []).toEqual([]);
  });

  it('one whose caller may no longer read the profile when its claim is refused gets the 403 of its GET, naming nothing of it', async () => {
    const p = await created('adminOfLocation', [w.L1, w.L3]);
    const adminOfL3 = await addUser(h, w.partnerId, 'admin-of-l3', [['INCENTIVES_ADMIN', [w.L3]]]);
    const claims = h.service.app.get(DefaultClaims, { strict: false });
    const claim = claims.claim.bind(claims);
    let reached!: () => void;
    const atClaim = new Promise<void>((resolve) => (reached = resolve));
    let release!: () => void;
    const narrowed = new Promise<void>((resolve) => (release = resolve));
    const spy = jest.spyOn(claims, 'claim').mockImplementationOnce(async (...args) => {
      reached();
      await Promise.race([narrowed, new Promise((resolve) => setTimeout(resolve, 15_000))]);
      return claim(...args);
    });
    try {
      // The admin of L3 alone reads the profile (serving L3) and reaches its claim; the profile then serves L1 only.
      const put = call(h, 'PUT', `/v1/locations/${w.L3}/default-bank-profile`, { token: await adminOfL3.token(), body: { bankProfileId: p.profileId, currency: 'EUR' } });
      await atClaim;
      expect((await patch('adminOfLocation', p.profileId, { locationIds: [w.L1] })).status).toBe(200);
      release();
      const assigned = await put;
      expect(assigned.status).toBe(403);
      expect(assigned.body.detail).toBe(`Bank profile ${p.profileId} serves none of the locations you hold an incentives role on.`);
      expect(JSON.stringify(assigned.body)).not.toContain(w.L1);
    } finally {
      spy.mockRestore();
    }
    expect((await defaults().findOne({ _id: w.L3 as never }))?.bankProfileId ?? null).not.toBe(p.profileId);
    expect((await stored(p.profileId))!.defaultFor ?? []).toEqual([]);
  });

  it('a profile stored before locationIds existed serves every location: it may be any location\'s default', async () => {
    const p = await created('adminOfLocation', [w.L1]);
    await profiles().updateOne({ _id: p.profileId as never }, { $unset: { locationIds: 1 } });
    expect((await putDefault('adminOfLocation', w.L3, p.profileId)).status).toBe(201);
    expect((await call(h, 'DELETE', `/v1/locations/${w.L3}/default-bank-profile`, { token: await w.token('adminOfLocation') })).status).toBe(204);
  });

  it('readiness with a bank profile that does not serve the location: 400 on bankProfileId', async () => {
    const ofL2 = await created('adminOfOtherLocation');
    const answer = await call(h, 'GET', `/v1/readiness?programId=any&locationId=${w.L1}&bankProfileId=${ofL2.profileId}`, { token: await w.token('incentivesUser') });
    expect(answer.status).toBe(400);
    expect(answer.body.errors).toEqual([{ field: 'bankProfileId', message: `must be a bank profile that serves location ${w.L1}` }]);
  });

  it('readiness with a bank profile that is not of the partner (unknown, or another partner\'s): 400 on bankProfileId, as Enroll answers', async () => {
    const answer = await call(h, 'GET', `/v1/readiness?programId=any&locationId=${w.L1}&bankProfileId=no-such-profile`, { token: await w.token('incentivesUser') });
    expect(answer.status).toBe(400);
    expect(answer.body.errors).toEqual([{ field: 'bankProfileId', message: 'must be a bank profile of your partner' }]);
  });
});

describe('reading bank profiles: those serving a location the caller holds a role on', () => {
  it('an Incentives user of L1 and L3 lists the profiles serving L1 (and L3) or every location, not those of L2 alone (403 by id); company admins read all', async () => {
    // Created as before, without locationIds: each serves its creator's locations.
    const ofL1 = await created('adminOfLocation');
    const ofL2 = await created('adminOfOtherLocation');
    const ofAll = await created('starAdmin');
    const legacy = await created('adminOfLocation');
    await profiles().updateOne({ _id: legacy.profileId as never }, { $unset: { locationIds: 1 } });
    const mine = [ofL1, ofL2, ofAll, legacy].map((p) => p.profileId);
    const listed = async (caller: CallerName) => {
      const answer = await call(h, 'GET', '/v1/bank-profiles', { token: await w.token(caller) });
      expect(answer.status).toBe(200);
      return (answer.body.items as Array<{ profileId: string }>).map((i) => i.profileId).filter((id) => mine.includes(id)).sort();
    };
    expect(await listed('incentivesUser')).toEqual([ofL1.profileId, ofAll.profileId, legacy.profileId].sort());
    expect(await listed('adminOfOtherLocation')).toEqual([ofL2.profileId, ofAll.profileId, legacy.profileId].sort());
    expect(await listed('adminOfLocation')).toEqual([ofL1.profileId, ofAll.profileId, legacy.profileId].sort());
    expect(await listed('companyAdmin')).toEqual([...mine].sort());

    const byId = async (caller: CallerName, profileId: string) => (await call(h, 'GET', `/v1/bank-profiles/${profileId}`, { token: await w.token(caller) })).status;
    expect(await byId('incentivesUser', ofL1.profileId)).toBe(200);
    const hidden = await call(h, 'GET', `/v1/bank-profiles/${ofL2.profileId}`, { token: await w.token('incentivesUser') });
    expect(hidden.status).toBe(403);
    expect(hidden.body.detail).toBe(`Bank profile ${ofL2.profileId} serves none of the locations you hold an incentives role on.`);
    expect(await byId('companyAdmin', ofL2.profileId)).toBe(200);
    expect(await byId('otherPartnerAdmin', ofL2.profileId)).toBe(404);
  });

  // SPEC 1: users see data only of the locations they hold a role on. The profile is theirs to read (it serves one of
  // their locations); the other locations it serves are not.
  it("shows of the locations a profile serves those the caller holds a role on; company admins and admins of every location see all", async () => {
    const shared = await created('starAdmin', [w.L1, w.L2]);
    const shown = async (caller: CallerName | 'starAdmin') => {
      const token = await tokenOf(caller);
      const one = await call(h, 'GET', `/v1/bank-profiles/${shared.profileId}`, { token });
      const listed = (await call(h, 'GET', '/v1/bank-profiles?limit=100', { token })).body.items.find((p: { profileId: string }) => p.profileId === shared.profileId);
      return [one.body.locationIds, listed?.locationIds];
    };
    expect(await shown('incentivesUser')).toEqual([[w.L1], [w.L1]]);
    expect(await shown('adminOfOtherLocation')).toEqual([[w.L2], [w.L2]]);
    expect(await shown('companyAdmin')).toEqual([[w.L1, w.L2].sort(), [w.L1, w.L2].sort()]);
    expect(await shown('starAdmin')).toEqual([[w.L1, w.L2].sort(), [w.L1, w.L2].sort()]);
    expect((await stored(shared.profileId))!.locationIds).toEqual([w.L1, w.L2].sort());
  });
});
