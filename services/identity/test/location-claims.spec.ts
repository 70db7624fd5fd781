/**
 * Location claims (`location_claims`) left behind by a registration that never wrote its partner document: the
 * sweep (at start, periodically, and when a registration meets one) removes those no partner lists once their grace
 * period is over, and never one a partner lists or one still inside its grace period. A failed request gives back
 * only the claims it still holds, never one an identical request of the same partner took over.
 */
import { getModelToken } from '@nestjs/mongoose';
import { Db } from 'mongodb';
import { Model } from 'mongoose';
import { randomUUID } from 'node:crypto';
import { LocationClaim } from '../src/partners/partner.schema';
import { CLAIM_GRACE_MS, PartnersRepository } from '../src/partners/partners.repository';
import { CompletePartnerBootstrap } from '../src/partners/usecases/complete-partner-bootstrap.use-case';
import { BootedIdentity, bootIdentity, IdentityClient } from './identity.harness';

jest.setTimeout(60_000);

let booted: BootedIdentity;
let client: IdentityClient;
let db: Db;

beforeAll(async () => {
  booted = await bootIdentity();
  ({ client, db } = booted);
});

afterAll(async () => {
  await booted?.close();
});

const id = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;
const longAgo = () => new Date(Date.now() - CLAIM_GRACE_MS - 60_000);
const claims = () => db.collection<{ _id: string; partnerId: string; claimedAt?: Date; claimedBy?: string; listed?: boolean }>('location_claims');
const sweep = () => booted.service.app.get(CompletePartnerBootstrap).sweepClaims();
const register = (locationIds: string[], partnerId?: string) =>
  client.call('POST', '/v1/partners', {
    operator: true,
    body: {
      ...(partnerId && { partnerId }),
      name: 'Fabrikam',
      locations: locationIds.map((locationId) => ({ locationId, country: 'DE', legalName: `${locationId} GmbH` })),
      globalAdmin: { email: `ga-${randomUUID().slice(0, 8)}@example.com`, displayName: 'GA' },
    },
  });

describe('the claim sweep', () => {
  it('removes a claim no partner lists once its grace period is over, so the location can be registered', async () => {
    const stale = id('S');
    // What a crash between the claim and the partner write of a registration under a generated id leaves behind.
    await claims().insertOne({ _id: stale, partnerId: randomUUID(), claimedAt: longAgo(), claimedBy: randomUUID() });
    expect(await sweep()).toContain(stale);
    expect(await claims().findOne({ _id: stale })).toBeNull();
    expect((await register([stale])).status).toBe(201);
  });

  it('lets a registration that meets such a claim remove it itself (no sweep in between)', async () => {
    const stale = id('S');
    await claims().insertOne({ _id: stale, partnerId: randomUUID(), claimedAt: longAgo(), claimedBy: randomUUID() });
    const answer = await register([stale]);
    expect(answer.status).toBe(201);
    expect(await claims().findOne({ _id: stale })).toMatchObject({ partnerId: answer.body.partnerId, listed: true });
  });

  it('never removes a claim a partner lists, however old, marked or not', async () => {
    const p = await client.registerPartner([id('K')]);
    const [kept] = p.locationIds;
    expect(await claims().findOne({ _id: kept })).toMatchObject({ partnerId: p.partnerId, listed: true });
    // A crash between the partner write and the marking: old, unmarked, listed.
    await claims().updateOne({ _id: kept }, { $set: { claimedAt: longAgo() }, $unset: { listed: 1 } });
    expect(await sweep()).not.toContain(kept);
    expect(await claims().findOne({ _id: kept })).toMatchObject({ partnerId: p.partnerId, listed: true });
    const other = await register([kept]);
    expect(other).toMatchObject({ status: 409, body: { errors: [{ field: 'locations.0.locationId' }] } });
  });

  it('keeps an unlisted claim inside its grace period (a registration may be about to write its partner)', async () => {
    const fresh = id('F');
    await claims().insertOne({ _id: fresh, partnerId: randomUUID(), claimedAt: new Date(), claimedBy: randomUUID() });
    expect(await sweep()).not.toContain(fresh);
    expect(await claims().findOne({ _id: fresh })).not.toBeNull();
    expect((await register([fresh])).status).toBe(409);
  });

  it('starts the grace period of a claim written before claims carried a time', async () => {
    const legacy = id('O');
    await claims().insertOne({ _id: legacy, partnerId: randomUUID() });
    expect(await sweep()).not.toContain(legacy);
    expect(await claims().findOne({ _id: legacy })).toMatchObject({ claimedAt: expect.any(Date), claimedBy: expect.any(String) });
  });

  it('keeps a claim a retry of the same partner took over, even if the claim was old', async () => {
    const partnerId = id('P');
    const location = id('R');
    await claims().insertOne({ _id: location, partnerId, claimedAt: longAgo(), claimedBy: randomUUID() });
    // The retry takes the claim over (new time and holder), so a sweep that read the old claim deletes nothing.
    expect((await register([location], partnerId)).status).toBe(201);
    expect(await sweep()).not.toContain(location);
    expect(await claims().findOne({ _id: location })).toMatchObject({ partnerId, listed: true });
  });
});

describe('giving claims back after a failed write', () => {
  it('keeps a claim an identical request of the same partner took over while the first one failed', async () => {
    const partnerId = id('P');
    const location = id('T');
    const partners = booted.service.app.get(PartnersRepository);
    // Request X claims the location; while its partner write fails, identical request Y (same partnerId) claims the
    // same location (finding X's claim) and has not written the partner yet.
    const spy = jest.spyOn(partners, 'register').mockImplementationOnce(async () => {
      await partners.claim(partnerId, [location]);
      throw new Error('the database went away');
    });
    try {
      expect((await register([location], partnerId)).status).toBe(500);
    } finally {
      spy.mockRestore();
    }
    // X gave back nothing Y relies on: the location stays claimed for the partner, and Y's retry registers it.
    expect(await claims().findOne({ _id: location })).toMatchObject({ partnerId });
    expect((await register([location], partnerId)).status).toBe(201);
    expect(await claims().findOne({ _id: location })).toMatchObject({ partnerId, listed: true });
  });

  it('answers a request whose identical twin wrote the partner first (its first admin still pending) with that registration, finished, not 409', async () => {
    const partnerId = id('P');
    const location = id('T');
    const partners = booted.service.app.get(PartnersRepository);
    const email = `ga-${randomUUID().slice(0, 8)}@example.com`;
    const body = { partnerId, name: 'Fabrikam', locations: [{ locationId: location, country: 'DE', legalName: 'Fabrikam GmbH' }], globalAdmin: { email, displayName: 'GA' } };
    // Between this request's read (no partner yet) and its write, the twin writes the partner and has not written
    // its first admin yet.
    const twinAdmin = randomUUID();
    const original = partners.register.bind(partners);
    const spy = jest.spyOn(partners, 'register').mockImplementationOnce(async (partner) => {
      await original({ ...partner, pendingAdmin: { ...partner.pendingAdmin, userId: twinAdmin } });
      return original(partner);
    });
    let answer;
    try {
      answer = await client.call('POST', '/v1/partners', { operator: true, body });
    } finally {
      spy.mockRestore();
    }
    expect(answer.status).toBe(201);
    expect(answer.body).toMatchObject({ partnerId, globalAdminUserId: twinAdmin });
    // The twin's admin, written: the registration is finished, once.
    const admin = await db.collection('users').findOne({ _id: twinAdmin as never });
    expect(admin).toMatchObject({ partnerId, email });
    expect(await db.collection('users').countDocuments({ partnerId })).toBe(1);
    expect((await partners.find(partnerId))?.pendingAdmin).toBeUndefined();
  });

  it('answers 409 busy (try again) when a location\'s claim keeps changing under the registration, and stores nothing', async () => {
    const model = booted.service.app.get<Model<LocationClaim>>(getModelToken(LocationClaim.name), { strict: false });
    const location = id('C');
    // Each attempt finds the claim there when it creates one, and gone when it takes it over or reads it (another
    // request's claim given back and made again, round after round).
    const spies = [
      jest.spyOn(model, 'create').mockRejectedValue(Object.assign(new Error('E11000 duplicate key error'), { code: 11000 })),
      jest.spyOn(model, 'updateOne').mockResolvedValue({ acknowledged: true, matchedCount: 0, modifiedCount: 0, upsertedCount: 0, upsertedId: null } as never),
      jest.spyOn(model, 'findById').mockReturnValue({ lean: async () => null } as never),
    ];
    let answer;
    try {
      answer = await register([location], id('P'));
    } finally {
      spies.forEach((spy) => spy.mockRestore());
    }
    expect(answer.status).toBe(409);
    expect(answer.body).toMatchObject({ type: expect.stringMatching(/\/busy$/), detail: expect.stringContaining('try again') });
    expect(await claims().findOne({ _id: location })).toBeNull();
    expect((await register([location])).status).toBe(201);
  });

  it('gives back the claims of a request refused because another location is taken', async () => {
    const taken = (await client.registerPartner([id('B')])).locationIds[0];
    const free = id('N');
    const answer = await register([free, taken], id('P'));
    expect(answer).toMatchObject({ status: 409, body: { errors: [{ field: 'locations.1.locationId' }] } });
    expect(await claims().findOne({ _id: free })).toBeNull();
  });
});

describe('a request held up past the grace period between its claims and its write', () => {
  /** After the real claim: the claims age past their grace period, the sweep removes them, and another partner registers the location. */
  function holdUpAndLose(location: string) {
    const partners = booted.service.app.get(PartnersRepository);
    const original = partners.claim.bind(partners);
    let other: { partnerId: string } | undefined;
    const spy = jest.spyOn(partners, 'claim').mockImplementationOnce(async (partnerId, locationIds) => {
      const claimed = await original(partnerId, locationIds);
      await claims().updateMany({ _id: { $in: locationIds } }, { $set: { claimedAt: longAgo() } });
      expect(await sweep()).toEqual(expect.arrayContaining(locationIds));
      const answer = await register([location]);
      expect(answer.status).toBe(201);
      other = answer.body as { partnerId: string };
      return claimed;
    });
    return { spy, other: () => other!, partners };
  }

  it('registers nothing (409 busy, try again) when a location went to another partner meanwhile: one partner lists it', async () => {
    const location = id('H');
    const partnerId = id('P');
    const { spy, other, partners } = holdUpAndLose(location);
    let answer;
    try {
      answer = await register([location], partnerId);
    } finally {
      spy.mockRestore();
    }
    expect(answer.status).toBe(409);
    expect(answer.body).toMatchObject({ type: expect.stringMatching(/\/busy$/), detail: expect.stringContaining('try again') });
    expect(await partners.find(partnerId)).toBeNull();
    expect(await db.collection('partners').find({ 'locations.locationId': location }).map((p) => p._id).toArray()).toEqual([other().partnerId]);
    expect(await claims().findOne({ _id: location })).toMatchObject({ partnerId: other().partnerId });
  });

  it('keeps a claim its request held for its write after the sweep had read it stale', async () => {
    const partners = booted.service.app.get(PartnersRepository);
    const location = id('R');
    const partnerId = id('P');
    const claimed = await partners.claim(partnerId, [location]);
    await claims().updateOne({ _id: location }, { $set: { claimedAt: longAgo() } });
    // What a sweep read of it, before the request held its claims for its partner write.
    const read = await claims().findOne({ _id: location });
    await partners.hold(claimed);
    const sweepOne = (partners as unknown as { sweepOne(claim: unknown, now: Date, graceMs: number, listed: boolean): Promise<boolean> }).sweepOne.bind(partners);
    expect(await sweepOne(read, new Date(), CLAIM_GRACE_MS, false)).toBe(false);
    expect(await claims().findOne({ _id: location })).toMatchObject({ partnerId, claimedBy: claimed.token });
  });

  it('adds no location (409 busy) that went to another partner meanwhile', async () => {
    const partner = await client.registerPartner([id('A')]);
    const location = id('H');
    const { spy, other, partners } = holdUpAndLose(location);
    let answer;
    try {
      answer = await client.call('POST', `/v1/partners/${partner.partnerId}/locations`, { operator: true, body: { locationId: location, country: 'DE', legalName: 'Held GmbH' } });
    } finally {
      spy.mockRestore();
    }
    expect(answer.status).toBe(409);
    expect((await partners.find(partner.partnerId))?.locations.map((l) => l.locationId)).toEqual(partner.locationIds);
    expect(await db.collection('partners').find({ 'locations.locationId': location }).map((p) => p._id).toArray()).toEqual([other().partnerId]);
  });
});
