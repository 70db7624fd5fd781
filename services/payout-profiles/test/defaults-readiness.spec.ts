/**
 * Default bank profiles (one per location, events per location), readiness under a program's payout rules from
 * programs.events.v1, and the tax expiry report (once per profile and expiry date).
 */
import { DefaultBankProfileChange, ProgramSnapshot, TaxProfileExpiring, Topics } from '@lib/contracts';
import { eventually, ReceivedMessage, TopicWatch } from '@lib/testing';
import { call, createWorld, Harness, ibanProfile, ifMatch, inDays, operator, publishProgram, startHarness, usProfile, usTaxProfile, World } from './support';

jest.setTimeout(120_000);

let h: Harness;
let w: World;
let admin: string;
let watch: TopicWatch;
let usd: string;
let eur: string;

beforeAll(async () => {
  h = await startHarness('defaults-readiness');
  watch = await h.kafka.watch([Topics.payoutProfiles]);
  w = await createWorld(h);
  admin = await w.token('adminOfLocation');
  usd = (await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: usProfile() })).body.profileId;
  eur = (await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: ibanProfile() })).body.profileId;
}, 180_000);

afterAll(() => h?.close());

const defaultEvents = (type: string, locationId: string) =>
  watch.find<DefaultBankProfileChange>((m) => m.envelope?.type === type && m.envelope.data.locationId === locationId);

async function readiness(programId: string, locationId: string, bankProfileId?: string) {
  const query = `programId=${programId}&locationId=${locationId}${bankProfileId ? `&bankProfileId=${bankProfileId}` : ''}`;
  const answer = await call(h, 'GET', `/v1/readiness?${query}`, { token: await w.token('incentivesUser') });
  expect(answer.status).toBe(200);
  return answer.body;
}

describe('default bank profiles', () => {
  it('PUT assigns a default to a location, with DefaultBankProfileAssigned keyed by location; the same again changes nothing', async () => {
    const put = await call(h, 'PUT', `/v1/locations/${w.L1}/default-bank-profile`, { token: admin, body: { bankProfileId: usd, currency: 'USD' } });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ locationId: w.L1, bankProfileId: usd, currency: 'USD', outcome: 'ASSIGNED', version: 1 });
    const [event] = await watch.waitFor<DefaultBankProfileChange>((m) => m.envelope?.type === 'DefaultBankProfileAssigned' && m.envelope.data.locationId === w.L1);
    expect(event.key).toBe(w.L1);
    expect(event.envelope!.data).toEqual({ partnerId: w.partnerId, locationId: w.L1, bankProfileId: usd, currency: 'USD' });

    const again = await call(h, 'PUT', `/v1/locations/${w.L1}/default-bank-profile`, { token: admin, body: { bankProfileId: usd, currency: 'USD' } });
    expect(again.body).toMatchObject({ outcome: 'UNCHANGED', version: 1 });
    const stale = await call(h, 'PUT', `/v1/locations/${w.L1}/default-bank-profile`, { token: admin, body: { bankProfileId: eur, currency: 'EUR' }, headers: ifMatch(0) });
    expect(stale.status).toBe(412);
  });

  it('POST assigns one (bank profile, currency) to a list of locations, one event per location; a location keeps at most one default', async () => {
    const answer = await call(h, 'POST', '/v1/default-bank-profiles', { token: admin, body: { bankProfileId: eur, currency: 'EUR', locationIds: [w.L1, w.L3] } });
    expect(answer.status).toBe(200);
    expect(answer.body.locations).toEqual([
      { locationId: w.L1, outcome: 'ASSIGNED', version: 2 },
      { locationId: w.L3, outcome: 'ASSIGNED', version: 1 },
    ]);
    await watch.waitFor((m) => m.envelope?.type === 'DefaultBankProfileAssigned' && (m.envelope.data as DefaultBankProfileChange).bankProfileId === eur, { count: 2 });
    for (const location of [w.L1, w.L3]) {
      const [event] = defaultEvents('DefaultBankProfileAssigned', location).filter((m) => m.envelope!.data.bankProfileId === eur);
      expect(event.key).toBe(location);
    }
    expect(await h.db.collection('default_bank_profiles').countDocuments({ locationId: w.L1 })).toBe(1);
    const list = await call(h, 'GET', '/v1/default-bank-profiles', { token: admin });
    expect(list.body.items.map((d: { locationId: string; bankProfileId: string }) => [d.locationId, d.bankProfileId])).toEqual(
      [[w.L1, eur], [w.L3, eur]].sort(),
    );
  });

  it('a list with one location the caller does not administer changes none of them', async () => {
    const before = await h.db.collection('default_bank_profiles').find({ partnerId: w.partnerId }).sort({ _id: 1 }).toArray();
    const answer = await call(h, 'POST', '/v1/default-bank-profiles', { token: admin, body: { bankProfileId: usd, currency: 'USD', locationIds: [w.L1, w.L2] } });
    expect(answer.status).toBe(403);
    expect(answer.body.detail).toContain(w.L2);
    expect(await h.db.collection('default_bank_profiles').find({ partnerId: w.partnerId }).sort({ _id: 1 }).toArray()).toEqual(before);
  });

  it('DELETE frees the location, with DefaultBankProfileRemoved naming what was removed', async () => {
    expect((await call(h, 'DELETE', `/v1/locations/${w.L3}/default-bank-profile`, { token: admin })).status).toBe(204);
    const [removed] = await watch.waitFor<DefaultBankProfileChange>((m) => m.envelope?.type === 'DefaultBankProfileRemoved' && m.envelope.data.locationId === w.L3);
    expect(removed.key).toBe(w.L3);
    expect(removed.envelope!.data).toEqual({ partnerId: w.partnerId, locationId: w.L3, bankProfileId: eur, currency: 'EUR' });
    expect((await call(h, 'GET', `/v1/locations/${w.L3}/default-bank-profile`, { token: admin })).status).toBe(404);
    // Removing again is a no-op: still 204, no second event.
    expect((await call(h, 'DELETE', `/v1/locations/${w.L3}/default-bank-profile`, { token: admin })).status).toBe(204);
    const marker = await call(h, 'PUT', `/v1/locations/${w.L3}/default-bank-profile`, { token: admin, body: { bankProfileId: usd, currency: 'USD' } });
    expect(marker.body.version).toBe(3);
    await watch.waitFor((m) => m.envelope?.type === 'DefaultBankProfileAssigned' && (m.envelope.data as DefaultBankProfileChange).locationId === w.L3 && (m.envelope.data as DefaultBankProfileChange).bankProfileId === usd);
    expect(defaultEvents('DefaultBankProfileRemoved', w.L3)).toHaveLength(1);
  });
});

describe('readiness', () => {
  let program: ProgramSnapshot;

  beforeAll(async () => {
    // The newest revision wins, whatever the order of arrival.
    program = await publishProgram(h, { allowedCurrencies: ['USD'], allowedPaymentMethods: ['ELECTRONIC_BANK_TRANSFER'], taxProfileRequired: true }, { revision: 2 });
    await h.kafka.publishEvent(Topics.programs, program.programId, {
      type: 'ProgramUpdated',
      data: { program: { ...program, revision: 1, payoutRules: { ...program.payoutRules, allowedCurrencies: ['EUR'] } } },
    });
    await eventually(async () => expect((await readiness(program.programId, w.L3)).missing).not.toContain('PROGRAM_UNKNOWN'));
  });

  it('names what is missing until the payout rules are met, then answers ready', async () => {
    // L3's default is the USD profile (pending); no tax profile yet.
    expect(await readiness(program.programId, w.L3)).toEqual({
      programId: program.programId,
      locationId: w.L3,
      ready: false,
      missing: ['BANK_PROFILE_NOT_APPROVED', 'TAX_PROFILE_MISSING'],
      bankProfileId: usd,
      taxProfileId: null,
    });
    const tax = await call(h, 'POST', `/v1/locations/${w.L3}/tax-profile`, { token: admin, body: usTaxProfile() });
    for (const id of [usd, tax.body.profileId]) {
      expect((await call(h, 'POST', `/v1/operator/profiles/${id}/validation`, { headers: operator, body: { revision: 1, outcome: 'APPROVED' } })).status).toBe(200);
    }
    expect(await readiness(program.programId, w.L3)).toMatchObject({ ready: true, missing: [], bankProfileId: usd, taxProfileId: tax.body.profileId });
    // Another bank profile of the partner can be proposed instead of the default: EUR is not allowed here.
    expect((await readiness(program.programId, w.L3, eur)).missing).toEqual(['BANK_PROFILE_NOT_APPROVED', 'CURRENCY_NOT_ALLOWED']);
  });

  it('reports an expired tax profile, a location without a default, and an unknown program', async () => {
    await h.db.collection('tax_profiles').updateOne({ locationId: w.L3 }, { $set: { expiresAt: new Date(Date.now() - 1000) } });
    expect((await readiness(program.programId, w.L3)).missing).toEqual(['TAX_PROFILE_EXPIRED']);
    expect((await readiness(program.programId, w.L1)).missing).toEqual(
      ["BANK_PROFILE_NOT_APPROVED", "CURRENCY_NOT_ALLOWED", "TAX_PROFILE_MISSING"],
    );
    expect((await readiness('no-such-program', w.L3)).missing).toEqual(['PROGRAM_UNKNOWN', 'TAX_PROFILE_EXPIRED']);
    expect((await call(h, 'DELETE', `/v1/locations/${w.L3}/default-bank-profile`, { token: admin })).status).toBe(204);
    expect(await readiness(program.programId, w.L3)).toMatchObject({ missing: ['BANK_PROFILE_MISSING', 'TAX_PROFILE_EXPIRED'], bankProfileId: null });
  });
});

describe('tax profiles expiring within 30 days', () => {
  it('are reported once per (profile, expiry date): TaxProfileExpiring keyed by location; a new date is reported again', async () => {
    const created = await call(h, 'POST', `/v1/locations/${w.L1}/tax-profile`, { token: admin, body: usTaxProfile({ expiresAt: inDays(10) }) });
    expect(created.status).toBe(201);
    const id = created.body.profileId;
    const expiring = (m: ReceivedMessage<TaxProfileExpiring>) => m.envelope?.type === 'TaxProfileExpiring' && m.envelope.data.profileId === id;

    const first = await call(h, 'POST', '/v1/operator/tax-expiry-scan', { headers: operator });
    expect(first.status).toBe(200);
    expect(first.body.reported).toBeGreaterThanOrEqual(1);
    const [event] = await watch.waitFor<TaxProfileExpiring>(expiring);
    expect(event.key).toBe(w.L1);
    expect(event.envelope!.data).toEqual({ profileId: id, partnerId: w.partnerId, locationId: w.L1, expiresAt: created.body.expiresAt, daysLeft: 10 });

    // Scanning again reports nothing new for it.
    expect((await call(h, 'POST', '/v1/operator/tax-expiry-scan', { headers: operator })).body).toEqual({ candidates: 0, reported: 0 });

    // A new expiry date, still within the window: reported once more, with a new event.
    const current = await call(h, 'GET', `/v1/locations/${w.L1}/tax-profile`, { token: admin });
    const moved = await call(h, 'PATCH', `/v1/locations/${w.L1}/tax-profile`, { token: admin, body: { expiresAt: inDays(20) }, headers: ifMatch(current.body.version) });
    expect(moved.status).toBe(200);
    expect((await call(h, 'POST', '/v1/operator/tax-expiry-scan', { headers: operator })).body).toEqual({ candidates: 1, reported: 1 });
    const events = await watch.waitFor<TaxProfileExpiring>(expiring, { count: 2 });
    expect(events.map((e) => e.envelope!.data.daysLeft)).toEqual([10, 20]);
    expect(new Set(events.map((e) => e.envelope!.eventId)).size).toBe(2);
  });

  it('leave profiles expiring later alone', async () => {
    const current = await call(h, 'GET', `/v1/locations/${w.L1}/tax-profile`, { token: admin });
    await call(h, 'PATCH', `/v1/locations/${w.L1}/tax-profile`, { token: admin, body: { expiresAt: inDays(90) }, headers: ifMatch(current.body.version) });
    expect((await call(h, 'POST', '/v1/operator/tax-expiry-scan', { headers: operator })).body).toEqual({ candidates: 0, reported: 0 });
  });
});

describe('a bank profile and the defaults it serves', () => {
  const profiles = () => h.db.collection('bank_profiles');
  const defaults = () => h.db.collection('default_bank_profiles');
  const newProfile = async () => {
    const created = await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: ibanProfile() });
    expect(created.status).toBe(201);
    return created.body as { profileId: string; version: number };
  };
  const putDefault = (locationId: string, bankProfileId: string, currency = 'EUR') =>
    call(h, 'PUT', `/v1/locations/${locationId}/default-bank-profile`, { token: admin, body: { bankProfileId, currency } });
  const changeCurrency = (p: { profileId: string; version: number }, token = admin) =>
    call(h, 'PATCH', `/v1/bank-profiles/${p.profileId}`, { token, body: { currency: 'USD' }, headers: ifMatch(p.version) });
  const claimsOf = async (profileId: string) => ((await profiles().findOne({ _id: profileId as never }))!.defaultFor as Array<{ locationId: string }>).map((c) => c.locationId);

  it('a currency change racing a default assignment: one of them is refused, and the default keeps its profile currency', async () => {
    for (let i = 0; i < 15; i++) {
      const p = await newProfile();
      const [patch, put] = await Promise.all([changeCurrency(p), putDefault(w.L3, p.profileId)]);
      const profile = await profiles().findOne({ _id: p.profileId as never });
      const dflt = await defaults().findOne({ _id: w.L3 as never });
      expect(`${i}: PATCH ${patch.status} PUT ${put.status}`).not.toBe(`${i}: PATCH 200 PUT 200`);
      expect([patch.status, put.status].every((status) => status < 500)).toBe(true);
      if (dflt?.bankProfileId === p.profileId) expect(`${i}: default ${dflt.currency}`).toBe(`${i}: default ${profile!.currency}`);
      expect((await call(h, 'DELETE', `/v1/locations/${w.L3}/default-bank-profile`, { token: admin })).status).toBe(204);
    }
  });

  it('a location claiming the profile (its default being written) refuses a currency change; a claim the default moved past is dropped', async () => {
    const p = await newProfile();
    const l3 = (await defaults().findOne({ _id: w.L3 as never }))?.version ?? 0;
    // As a crash between the claim and the default's write leaves it: pending, so still counted.
    await profiles().updateOne({ _id: p.profileId as never }, { $push: { defaultFor: { locationId: w.L3, version: l3 + 1 } } as never, $inc: { defaultClaims: 1 } });
    const refused = await changeCurrency(p);
    expect(refused.status).toBe(409);
    expect(refused.body.detail).toContain(w.L3);
    // L3's default moves on (to another profile): the claim is obsolete, dropped, and the currency may change.
    expect((await putDefault(w.L3, eur)).status).toBe(200);
    const changed = await changeCurrency(p);
    expect(changed.status).toBe(200);
    expect(changed.body.currency).toBe('USD');
    expect(await claimsOf(p.profileId)).toEqual([]);
    expect((await call(h, 'DELETE', `/v1/locations/${w.L3}/default-bank-profile`, { token: admin })).status).toBe(204);
  });

  it('replacing or removing a default releases the profile it pointed at', async () => {
    const [p1, p2] = [await newProfile(), await newProfile()];
    expect((await putDefault(w.L3, p1.profileId)).status).toBe(200);
    expect(await claimsOf(p1.profileId)).toEqual([w.L3]);
    expect((await putDefault(w.L3, p2.profileId)).status).toBe(200);
    expect([await claimsOf(p1.profileId), await claimsOf(p2.profileId)]).toEqual([[], [w.L3]]);
    expect((await changeCurrency(p1)).status).toBe(200);
    expect((await call(h, 'DELETE', `/v1/locations/${w.L3}/default-bank-profile`, { token: admin })).status).toBe(204);
    expect(await claimsOf(p2.profileId)).toEqual([]);
    expect((await changeCurrency(p2)).status).toBe(200);
  });

  it('a profile stored before it kept its defaults gets them from the defaults that point at it', async () => {
    const p = await newProfile();
    expect((await putDefault(w.L3, p.profileId)).status).toBe(200);
    await profiles().updateOne({ _id: p.profileId as never }, { $unset: { defaultFor: 1, defaultClaims: 1 } });
    // Another location's admin: the profile is L3's, so no.
    const other = await changeCurrency(p, await w.token('adminOfOtherLocation'));
    expect(other.status).toBe(403);
    expect(other.body.detail).toContain(w.L3);
    expect((await changeCurrency(p)).status).toBe(409);
    expect(await claimsOf(p.profileId)).toEqual([w.L3]);
    expect((await call(h, 'DELETE', `/v1/locations/${w.L3}/default-bank-profile`, { token: admin })).status).toBe(204);
  });

  it('identical DELETEs at the same time, without If-Match, all answer 204, and the removal is published once', async () => {
    for (let round = 0; round < 3; round++) {
      const p = await newProfile();
      expect((await putDefault(w.L3, p.profileId)).status).toBe(200);
      const answers = await Promise.all(Array.from({ length: 6 }, () => call(h, 'DELETE', `/v1/locations/${w.L3}/default-bank-profile`, { token: admin })));
      expect(answers.map((a) => a.status)).toEqual([204, 204, 204, 204, 204, 204]);
      // A marker on the same key (same partition, published after): once it is seen, every removal was too.
      const marker = await newProfile();
      expect((await putDefault(w.L3, marker.profileId)).status).toBe(200);
      await watch.waitFor((m) => m.envelope?.type === 'DefaultBankProfileAssigned' && (m.envelope.data as DefaultBankProfileChange).bankProfileId === marker.profileId);
      expect(defaultEvents('DefaultBankProfileRemoved', w.L3).filter((m) => m.envelope!.data.bankProfileId === p.profileId)).toHaveLength(1);
      expect((await call(h, 'DELETE', `/v1/locations/${w.L3}/default-bank-profile`, { token: admin })).status).toBe(204);
    }
  });
});
