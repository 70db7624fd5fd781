/**
 * Default bank profiles (one per location, events per location), readiness under a program's payout rules from
 * programs.events.v1, and the tax expiry report (once per profile and expiry date).
 */
import { DefaultBankProfileChange, fiscalYearOf, fiscalYearRange, nextFiscalYear, previousFiscalYear, ProgramSnapshot, TaxProfileExpiring, Topics } from '@lib/contracts';
import { EventOutbox } from '@lib/messaging';
import { Clock } from '@lib/platform';
import { eventually, ReceivedMessage, TopicWatch } from '@lib/testing';
import { getModelToken } from '@nestjs/mongoose';
import { Model } from 'mongoose';
import { BankProfile } from '../src/bank-profiles/bank-profile.schema';
import { DefaultBankProfile } from '../src/default-bank-profiles/default-bank-profile.schema';
import { DefaultClaims } from '../src/default-bank-profiles/default-claims';
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

async function readiness(programId: string, locationId: string, bankProfileId?: string, fiscalYear?: string) {
  const query = `programId=${programId}&locationId=${locationId}${bankProfileId ? `&bankProfileId=${bankProfileId}` : ''}${fiscalYear ? `&fiscalYear=${fiscalYear}` : ''}`;
  const answer = await call(h, 'GET', `/v1/readiness?${query}`, { token: await w.token('incentivesUser') });
  expect(answer.status).toBe(200);
  return answer.body;
}

describe('default bank profiles', () => {
  it('PUT assigns a default to a location, with DefaultBankProfileAssigned keyed by location and the default\'s version; the same again changes nothing', async () => {
    const put = await call(h, 'PUT', `/v1/locations/${w.L1}/default-bank-profile`, { token: admin, body: { bankProfileId: usd, currency: 'USD' } });
    expect(put.status).toBe(201); // the location had none: made (RFC 9110), where it is read
    expect(put.headers.get('location')).toBe(`/v1/locations/${encodeURIComponent(w.L1)}/default-bank-profile`);
    expect(put.body).toMatchObject({ locationId: w.L1, bankProfileId: usd, currency: 'USD', outcome: 'ASSIGNED', version: 1 });
    const [event] = await watch.waitFor<DefaultBankProfileChange>((m) => m.envelope?.type === 'DefaultBankProfileAssigned' && m.envelope.data.locationId === w.L1);
    expect(event.key).toBe(w.L1);
    expect(event.envelope!.data).toEqual({ partnerId: w.partnerId, locationId: w.L1, bankProfileId: usd, currency: 'USD', version: 1 });

    const again = await call(h, 'PUT', `/v1/locations/${w.L1}/default-bank-profile`, { token: admin, body: { bankProfileId: usd, currency: 'USD' } });
    expect(again.status).toBe(200);
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
    for (const [location, version] of [[w.L1, 2], [w.L3, 1]] as const) {
      const [event] = defaultEvents('DefaultBankProfileAssigned', location).filter((m) => m.envelope!.data.bankProfileId === eur);
      expect(event.key).toBe(location);
      expect(event.envelope!.data.version).toBe(version);
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

  it('a list naming a location not of the partner (another partner\'s reads as an unknown one): 400 on locationIds, before the 403, nothing changed', async () => {
    const before = await h.db.collection('default_bank_profiles').find({ partnerId: w.partnerId }).sort({ _id: 1 }).toArray();
    const answer = await call(h, 'POST', '/v1/default-bank-profiles', {
      token: admin,
      body: { bankProfileId: usd, currency: 'USD', locationIds: [w.L1, w.L2, w.otherLocation, 'no-such-location'] },
    });
    expect(answer.status).toBe(400);
    expect(answer.body.errors).toEqual([{ field: 'locationIds', message: `unknown location(s) for your partner: ${w.otherLocation}, no-such-location` }]);
    expect(await h.db.collection('default_bank_profiles').find({ partnerId: w.partnerId }).sort({ _id: 1 }).toArray()).toEqual(before);
  });

  it('a list naming "*" (no location: a bank profile may serve every one, a default is a location\'s): 400 on locationIds, before the 403, nothing changed', async () => {
    const before = await h.db.collection('default_bank_profiles').find({ partnerId: w.partnerId }).sort({ _id: 1 }).toArray();
    for (const locationIds of [['*'], [w.L2, '*']]) {
      const answer = await call(h, 'POST', '/v1/default-bank-profiles', { token: admin, body: { bankProfileId: usd, currency: 'USD', locationIds } });
      expect(answer.status).toBe(400);
      expect(answer.body.errors).toEqual([{ field: 'locationIds', message: '"*" is no location: name each one' }]);
    }
    expect(await h.db.collection('default_bank_profiles').find({ partnerId: w.partnerId }).sort({ _id: 1 }).toArray()).toEqual(before);
  });

  it('DELETE frees the location, with DefaultBankProfileRemoved naming what was removed and the default\'s new version', async () => {
    expect((await call(h, 'DELETE', `/v1/locations/${w.L3}/default-bank-profile`, { token: admin })).status).toBe(204);
    const [removed] = await watch.waitFor<DefaultBankProfileChange>((m) => m.envelope?.type === 'DefaultBankProfileRemoved' && m.envelope.data.locationId === w.L3);
    expect(removed.key).toBe(w.L3);
    expect(removed.envelope!.data).toEqual({ partnerId: w.partnerId, locationId: w.L3, bankProfileId: eur, currency: 'EUR', version: 2 });
    expect((await call(h, 'GET', `/v1/locations/${w.L3}/default-bank-profile`, { token: admin })).status).toBe(404);
    // Removing again is a no-op: still 204, no second event.
    expect((await call(h, 'DELETE', `/v1/locations/${w.L3}/default-bank-profile`, { token: admin })).status).toBe(204);
    const marker = await call(h, 'PUT', `/v1/locations/${w.L3}/default-bank-profile`, { token: admin, body: { bankProfileId: usd, currency: 'USD' } });
    expect(marker.body.version).toBe(3);
    const [assigned] = await watch.waitFor<DefaultBankProfileChange>((m) => m.envelope?.type === 'DefaultBankProfileAssigned' && m.envelope.data.locationId === w.L3 && m.envelope.data.bankProfileId === usd);
    expect(assigned.envelope!.data.version).toBe(3);
    expect(defaultEvents('DefaultBankProfileRemoved', w.L3)).toHaveLength(1);
  });
});

describe('readiness', () => {
  let program: ProgramSnapshot;

  beforeAll(async () => {
    // The newest revision wins, whatever the order of arrival.
    program = await publishProgram(h, { allowedCurrencies: ['USD'], allowedPaymentMethods: ['ELECTRONIC_BANK_TRANSFER'], taxProfileRequired: true }, { revision: 2, fiscalYear: fiscalYearOf(new Date()) });
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

  // As Enroll judges it (the enrollment service's judgedAt): within the program's year, so that both name the same gaps.
  it("judges a tax profile's expiry within the enrollment's fiscal year: the program's, the current one once the program's is over, or the one asked for", async () => {
    const current = fiscalYearOf(new Date());
    const rules = { allowedCurrencies: ['USD'], allowedPaymentMethods: ['ELECTRONIC_BANK_TRANSFER' as const], taxProfileRequired: true };
    const [last, next] = [await publishProgram(h, rules, { fiscalYear: previousFiscalYear(current) }), await publishProgram(h, rules, { fiscalYear: nextFiscalYear(current) })];
    await eventually(async () => {
      for (const p of [last, next]) expect((await readiness(p.programId, w.L3)).missing).not.toContain('PROGRAM_UNKNOWN');
    });
    // L3 (no default since the test above): its approved tax profile expired a second ago, this year.
    await h.db.collection('tax_profiles').updateOne({ locationId: w.L3 }, { $set: { expiresAt: new Date(Date.now() - 1000) } });
    // A program whose year is over, not moved on yet: its enrollments were continued into this year, and judged in it.
    expect((await readiness(last.programId, w.L3)).missing).toEqual(['BANK_PROFILE_MISSING', 'TAX_PROFILE_EXPIRED']);
    // Its enrollment of last year, asked for: the profile covered that year.
    expect((await readiness(last.programId, w.L3, undefined, previousFiscalYear(current))).missing).toEqual(['BANK_PROFILE_MISSING']);
    // Valid now (whatever the day, June 30 too), lapsing just before next year starts.
    const lapses = new Date(fiscalYearRange(nextFiscalYear(current)).start.getTime() - 1);
    await h.db.collection('tax_profiles').updateOne({ locationId: w.L3 }, { $set: { expiresAt: lapses } });
    expect((await readiness(program.programId, w.L3)).missing).toEqual(['BANK_PROFILE_MISSING']);
    expect((await readiness(next.programId, w.L3)).missing).toEqual(['BANK_PROFILE_MISSING', 'TAX_PROFILE_EXPIRED']);
    // This year's program, asked of next year's enrollment (an early run's continuation): not covered.
    expect((await readiness(program.programId, w.L3, undefined, nextFiscalYear(current))).missing).toEqual(['BANK_PROFILE_MISSING', 'TAX_PROFILE_EXPIRED']);
    const malformed = await call(h, 'GET', `/v1/readiness?programId=${program.programId}&locationId=${w.L3}&fiscalYear=2027`, { token: await w.token('incentivesUser') });
    expect(malformed.status).toBe(400);
    expect(malformed.body.errors).toEqual([expect.objectContaining({ field: 'fiscalYear' })]);
    // A year away again: the expiry scans below count their own profiles only, whatever today's distance to June 30
    // (lapsing with this year, it would be a candidate of a scan 70 days on from late March to late May).
    await h.db.collection('tax_profiles').updateOne({ locationId: w.L3 }, { $set: { expiresAt: new Date(Date.now() + 365 * 86_400_000) } });
  });

  it('judges a year the program moved on from by the rules it had then (earlierYears), as the enrollment service does', async () => {
    const current = fiscalYearOf(new Date());
    const rules = (taxProfileRequired: boolean) => ({ allowedCurrencies: ['USD'], allowedPaymentMethods: ['ELECTRONIC_BANK_TRANSFER' as const], taxProfileRequired });
    // Moved on to next year, no longer requiring a tax profile; this year required one.
    const moved = await publishProgram(h, rules(false), { fiscalYear: nextFiscalYear(current), earlierYears: [{ fiscalYear: current, payoutRules: rules(true) }] });
    await eventually(async () => expect((await readiness(moved.programId, w.L3)).missing).not.toContain('PROGRAM_UNKNOWN'));
    await h.db.collection('tax_profiles').updateOne({ locationId: w.L3 }, { $set: { expiresAt: new Date(Date.now() - 1000) } });
    try {
      // L3's tax profile expired (or none, this test run alone): a gap under this year's rules, none under next year's.
      expect((await readiness(moved.programId, w.L3, undefined, current)).missing).toEqual(['BANK_PROFILE_MISSING', expect.stringMatching(/^TAX_PROFILE_(EXPIRED|MISSING)$/)]);
      expect((await readiness(moved.programId, w.L3, undefined, nextFiscalYear(current))).missing).toEqual(['BANK_PROFILE_MISSING']);
    } finally {
      await h.db.collection('tax_profiles').updateOne({ locationId: w.L3 }, { $set: { expiresAt: new Date(Date.now() + 365 * 86_400_000) } });
    }
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
    expect((await call(h, 'POST', '/v1/operator/tax-expiry-scan', { headers: operator })).body).toEqual({ candidates: 0, reported: 0, complete: true });

    // A new expiry date, still within the window: reported once more, with a new event.
    const current = await call(h, 'GET', `/v1/locations/${w.L1}/tax-profile`, { token: admin });
    const moved = await call(h, 'PATCH', `/v1/locations/${w.L1}/tax-profile`, { token: admin, body: { expiresAt: inDays(20) }, headers: ifMatch(current.body.version) });
    expect(moved.status).toBe(200);
    expect((await call(h, 'POST', '/v1/operator/tax-expiry-scan', { headers: operator })).body).toEqual({ candidates: 1, reported: 1, complete: true });
    const events = await watch.waitFor<TaxProfileExpiring>(expiring, { count: 2 });
    expect(events.map((e) => e.envelope!.data.daysLeft)).toEqual([10, 20]);
    expect(new Set(events.map((e) => e.envelope!.eventId)).size).toBe(2);

    // Set back to the first date: the date in force is reported again, under an id of its own (notification sends once
    // per event id and recipient: the first event's id would have been dropped as a duplicate).
    const again = await call(h, 'GET', `/v1/locations/${w.L1}/tax-profile`, { token: admin });
    const back = await call(h, 'PATCH', `/v1/locations/${w.L1}/tax-profile`, { token: admin, body: { expiresAt: created.body.expiresAt }, headers: ifMatch(again.body.version) });
    expect(back.status).toBe(200);
    expect((await call(h, 'POST', '/v1/operator/tax-expiry-scan', { headers: operator })).body).toEqual({ candidates: 1, reported: 1, complete: true });
    const all = await watch.waitFor<TaxProfileExpiring>(expiring, { count: 3 });
    expect(all.map((e) => e.envelope!.data.expiresAt)).toEqual([created.body.expiresAt, moved.body.expiresAt, created.body.expiresAt]);
    expect(new Set(all.map((e) => e.envelope!.eventId)).size).toBe(3);
  });

  it('leave profiles expiring later alone', async () => {
    const expiringAt = async (expiresAt: string) => {
      const current = await call(h, 'GET', `/v1/locations/${w.L1}/tax-profile`, { token: admin });
      expect((await call(h, 'PATCH', `/v1/locations/${w.L1}/tax-profile`, { token: admin, body: { expiresAt }, headers: ifMatch(current.body.version) })).status).toBe(200);
    };
    const scan = async () => (await call(h, 'POST', '/v1/operator/tax-expiry-scan', { headers: operator })).body;
    // The window's edge: a day past 30 days is not reported, a minute inside them is.
    await expiringAt(inDays(31));
    expect(await scan()).toEqual({ candidates: 0, reported: 0, complete: true });
    await expiringAt(new Date(Date.now() + 30 * 86_400_000 - 60_000).toISOString());
    expect(await scan()).toEqual({ candidates: 1, reported: 1, complete: true });
    await expiringAt(inDays(90));
    expect(await scan()).toEqual({ candidates: 0, reported: 0, complete: true });
  });

  it("reads the service's Clock (as every date rule here does): 70 days on, the profile expiring in 90 is reported with 20 days left", async () => {
    const current = await call(h, 'GET', `/v1/locations/${w.L1}/tax-profile`, { token: admin });
    const id = current.body.profileId;
    const later = new Date(Date.now() + 70 * 86_400_000);
    const clock = jest.spyOn(h.service.app.get(Clock), 'now').mockImplementation(() => new Date(later));
    try {
      expect((await call(h, 'POST', '/v1/operator/tax-expiry-scan', { headers: operator })).body).toEqual({ candidates: 1, reported: 1, complete: true });
      const [event] = await watch.waitFor<TaxProfileExpiring>((m) => m.envelope?.type === 'TaxProfileExpiring' && m.envelope.data.expiresAt === current.body.expiresAt);
      expect(event.envelope!.data).toMatchObject({ profileId: id, daysLeft: 20 });
      // And so does readiness, judged at the clock's date within the program's year: valid 5 days before its expiry, expired 5 days after.
      const rules = { allowedCurrencies: ['USD'], allowedPaymentMethods: ['ELECTRONIC_BANK_TRANSFER' as const], taxProfileRequired: true };
      const program = await publishProgram(h, rules, { fiscalYear: fiscalYearOf(new Date()) });
      const expiry = fiscalYearRange(program.fiscalYear).start.getTime() + 15 * 86_400_000;
      await h.db.collection('tax_profiles').updateOne({ _id: id }, { $set: { expiresAt: new Date(expiry) } });
      clock.mockImplementation(() => new Date(expiry - 5 * 86_400_000));
      await eventually(async () => expect((await readiness(program.programId, w.L1)).missing).not.toContain('PROGRAM_UNKNOWN'));
      expect((await readiness(program.programId, w.L1)).missing).not.toContain('TAX_PROFILE_EXPIRED');
      clock.mockImplementation(() => new Date(expiry + 5 * 86_400_000));
      expect((await readiness(program.programId, w.L1)).missing).toContain('TAX_PROFILE_EXPIRED');
      await h.db.collection('tax_profiles').updateOne({ _id: id }, { $set: { expiresAt: new Date(current.body.expiresAt) } });
    } finally {
      clock.mockRestore();
    }
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

  /** A promise the test settles itself; a held write gives up after `ms` so that a failing test cannot hang. */
  const gate = (ms = 15_000) => {
    let open!: () => void;
    const opened = new Promise<void>((resolve) => (open = resolve));
    return { open, opened, wait: () => Promise.race([opened, new Promise<void>((resolve) => setTimeout(resolve, ms))]) };
  };
  const service = <T>(token: unknown) => h.service.app.get<T>(token as never, { strict: false });
  const defaultClaims = () => service<DefaultClaims>(DefaultClaims);
  const profileModel = () => service<Model<BankProfile>>(getModelToken(BankProfile.name));
  const defaultModel = () => service<Model<DefaultBankProfile>>(getModelToken(DefaultBankProfile.name));
  /** The bank profile PATCH's write (the one guarded by the claim counter), held until `until` opens. */
  const holdPatchWrite = (until: { wait(): Promise<void> }, reached: { open(): void }) => {
    const model = profileModel();
    const write = model.updateOne.bind(model) as (...args: unknown[]) => unknown;
    let held = false;
    return jest.spyOn(model, 'updateOne').mockImplementation(((filter: Record<string, unknown>, ...rest: unknown[]) => {
      // The PATCH's write is the one conditional on the version read (If-Match); claims and releases are not.
      if (held || !filter || !('version' in filter)) return write(filter, ...rest);
      held = true;
      reached.open();
      return until.wait().then(() => write(filter, ...rest));
    }) as never);
  };
  /** DefaultClaims.claim of the next assignment: waits for `before`, then claims, then opens `after`. */
  const holdClaim = (before: { wait(): Promise<void> }, reached: { open(): void }, after?: { open(): void }) => {
    const claims = defaultClaims();
    const claim = claims.claim.bind(claims);
    return jest.spyOn(claims, 'claim').mockImplementationOnce(async (...args) => {
      reached.open();
      await before.wait();
      const claimed = await claim(...args);
      after?.open();
      return claimed;
    });
  };
  const settle = async (p: { profileId: string }) => {
    const profile = await profiles().findOne({ _id: p.profileId as never });
    const dflt = await defaults().findOne({ _id: w.L3 as never });
    return { currency: profile!.currency, default: dflt?.bankProfileId === p.profileId ? dflt.currency : null };
  };

  it('a currency change that read the profile before a default claimed it is refused at its write (409); the default is assigned', async () => {
    const p = await newProfile();
    const [patchAtWrite, claimed] = [gate(), gate()];
    const spies = [holdPatchWrite(claimed, patchAtWrite), holdClaim(gate(0), gate(), claimed)];
    try {
      // The PATCH reads the profile (no claim yet) and reaches its write; only then does the assignment claim it.
      const patch = changeCurrency(p);
      await patchAtWrite.wait();
      const [patched, put] = await Promise.all([patch, putDefault(w.L3, p.profileId)]);
      expect(spies.map((spy) => spy.mock.calls.length > 0)).toEqual([true, true]);
      expect([patched.status, put.status]).toEqual([409, 201]);
      expect(patched.body.detail).toContain(w.L3);
    } finally {
      spies.forEach((spy) => spy.mockRestore());
    }
    expect(await settle(p)).toEqual({ currency: 'EUR', default: 'EUR' });
    expect((await call(h, 'DELETE', `/v1/locations/${w.L3}/default-bank-profile`, { token: admin })).status).toBe(204);
  });

  it('an assignment that read the profile before its currency changed is refused at its claim (409); nothing is assigned', async () => {
    const p = await newProfile();
    const [claiming, patched] = [gate(), gate()];
    const spy = holdClaim(patched, claiming);
    try {
      // The PUT reads the profile (EUR) and reaches its claim; the currency change is written before the claim.
      const put = putDefault(w.L3, p.profileId);
      await claiming.wait();
      const patch = await changeCurrency(p);
      patched.open();
      const assigned = await put;
      expect(spy).toHaveBeenCalledTimes(1);
      expect([patch.status, assigned.status]).toEqual([200, 409]);
      expect(assigned.body.errors).toEqual([{ field: 'currency', message: 'must be the current currency of the bank profile' }]);
    } finally {
      spy.mockRestore();
    }
    expect(await settle(p)).toEqual({ currency: 'USD', default: null });
    expect(await claimsOf(p.profileId)).toEqual([]);
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
    expect((await putDefault(w.L3, eur)).status).toBe(201);
    const changed = await changeCurrency(p);
    expect(changed.status).toBe(200);
    expect(changed.body.currency).toBe('USD');
    expect(await claimsOf(p.profileId)).toEqual([]);
    expect((await call(h, 'DELETE', `/v1/locations/${w.L3}/default-bank-profile`, { token: admin })).status).toBe(204);
  });

  it('replacing or removing a default releases the profile it pointed at', async () => {
    const [p1, p2] = [await newProfile(), await newProfile()];
    expect((await putDefault(w.L3, p1.profileId)).status).toBe(201);
    expect(await claimsOf(p1.profileId)).toEqual([w.L3]);
    expect((await putDefault(w.L3, p2.profileId)).status).toBe(200);
    expect([await claimsOf(p1.profileId), await claimsOf(p2.profileId)]).toEqual([[], [w.L3]]);
    expect((await changeCurrency(p1)).status).toBe(200);
    expect((await call(h, 'DELETE', `/v1/locations/${w.L3}/default-bank-profile`, { token: admin })).status).toBe(204);
    expect(await claimsOf(p2.profileId)).toEqual([]);
    expect((await changeCurrency(p2)).status).toBe(200);
  });

  it('a list moving its locations off a profile releases their claims on it at once (one release, not one per location)', async () => {
    const [p1, p2] = [await newProfile(), await newProfile()];
    const locations = [w.L1, w.L3];
    const assign = (bankProfileId: string) => call(h, 'POST', '/v1/default-bank-profiles', { token: admin, body: { bankProfileId, currency: 'EUR', locationIds: locations } });
    expect((await assign(p1.profileId)).status).toBe(200);
    expect((await claimsOf(p1.profileId)).sort()).toEqual([...locations].sort());
    const release = jest.spyOn(defaultClaims(), 'release');
    try {
      const moved = await assign(p2.profileId);
      expect(moved.status).toBe(200);
      const versions = new Map(moved.body.locations.map((l: { locationId: string; version: number }) => [l.locationId, l.version]));
      expect(release.mock.calls).toEqual([[w.partnerId, p1.profileId, versions]]);
    } finally {
      release.mockRestore();
    }
    expect([await claimsOf(p1.profileId), (await claimsOf(p2.profileId)).sort()]).toEqual([[], [...locations].sort()]);
    expect((await changeCurrency(p1)).status).toBe(200);
    for (const location of locations) expect((await call(h, 'DELETE', `/v1/locations/${location}/default-bank-profile`, { token: admin })).status).toBe(204);
  });

  it('a profile stored before it kept its defaults gets them from the defaults that point at it', async () => {
    const p = await newProfile();
    expect((await putDefault(w.L3, p.profileId)).status).toBe(201);
    await profiles().updateOne({ _id: p.profileId as never }, { $unset: { defaultFor: 1, defaultClaims: 1 } });
    // Another location's admin, who may read it (it serves L2 too): the profile is L3's default, so no.
    const served = (await profiles().findOne({ _id: p.profileId as never }))!.locationIds;
    await profiles().updateOne({ _id: p.profileId as never }, { $set: { locationIds: [w.L1, w.L2, w.L3].sort() } });
    const other = await changeCurrency(p, await w.token('adminOfOtherLocation'));
    expect(other.status).toBe(403);
    // L3, a location they hold no role on: counted, not named.
    expect(other.body.detail).toContain('is the default bank profile of 1 location(s) you hold no role on');
    expect(other.body.detail).not.toContain(w.L3);
    await profiles().updateOne({ _id: p.profileId as never }, { $set: { locationIds: served } });
    expect((await changeCurrency(p)).status).toBe(409);
    expect(await claimsOf(p.profileId)).toEqual([w.L3]);
    expect((await call(h, 'DELETE', `/v1/locations/${w.L3}/default-bank-profile`, { token: admin })).status).toBe(204);
  });

  it('removed, a default has none to read (404): If-Match "0" ("none", as documented) is taken by PUT and DELETE; a stale version still 412', async () => {
    const p = await newProfile();
    expect((await putDefault(w.L3, p.profileId)).status).toBe(201);
    expect((await call(h, 'DELETE', `/v1/locations/${w.L3}/default-bank-profile`, { token: admin })).status).toBe(204);
    expect((await call(h, 'GET', `/v1/locations/${w.L3}/default-bank-profile`, { token: admin })).status).toBe(404);
    expect((await call(h, 'DELETE', `/v1/locations/${w.L3}/default-bank-profile`, { token: admin, headers: ifMatch(0) })).status).toBe(204);
    const make = () =>
      call(h, 'PUT', `/v1/locations/${w.L3}/default-bank-profile`, {
        token: admin,
        body: { bankProfileId: p.profileId, currency: 'EUR' },
        headers: { ...ifMatch(0), 'idempotency-key': `default-${p.profileId}` },
      });
    const put = await make();
    expect(put.status).toBe(201); // none since the removal: made again
    // Its retry under the same key (the answer lost on the way): the first answer, not 412 against its own write.
    const retry = await make();
    expect(retry).toMatchObject({ status: 201, body: put.body });
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(retry.headers.get('location')).toBe(put.headers.get('location'));
    // Now there is one: "0" is stale.
    const stale = await call(h, 'PUT', `/v1/locations/${w.L3}/default-bank-profile`, { token: admin, body: { bankProfileId: p.profileId, currency: 'EUR' }, headers: ifMatch(0) });
    expect(stale.status).toBe(412);
    expect((await call(h, 'DELETE', `/v1/locations/${w.L3}/default-bank-profile`, { token: admin, headers: ifMatch(0) })).status).toBe(412);
    expect((await call(h, 'DELETE', `/v1/locations/${w.L3}/default-bank-profile`, { token: admin, headers: ifMatch(put.body.version) })).status).toBe(204);
  });

  it('identical DELETEs at the same time, without If-Match, all answer 204, and the removal is published once', async () => {
    for (let round = 0; round < 3; round++) {
      const p = await newProfile();
      expect((await putDefault(w.L3, p.profileId)).status).toBe(201);
      const answers = await Promise.all(Array.from({ length: 6 }, () => call(h, 'DELETE', `/v1/locations/${w.L3}/default-bank-profile`, { token: admin })));
      expect(answers.map((a) => a.status)).toEqual([204, 204, 204, 204, 204, 204]);
      // A marker on the same key (same partition, published after): once it is seen, every removal was too.
      const marker = await newProfile();
      expect((await putDefault(w.L3, marker.profileId)).status).toBe(201);
      await watch.waitFor((m) => m.envelope?.type === 'DefaultBankProfileAssigned' && (m.envelope.data as DefaultBankProfileChange).bankProfileId === marker.profileId);
      expect(defaultEvents('DefaultBankProfileRemoved', w.L3).filter((m) => m.envelope!.data.bankProfileId === p.profileId)).toHaveLength(1);
      expect((await call(h, 'DELETE', `/v1/locations/${w.L3}/default-bank-profile`, { token: admin })).status).toBe(204);
    }
  });

  /** The defaults model's write of `locationId`'s default to `bankProfileId` (create or update) runs `run` instead. */
  const onDefaultWrite = (locationId: string, bankProfileId: string, run: (write: () => unknown) => unknown) => {
    const model = defaultModel();
    const spies = (['create', 'updateOne'] as const).map((method) => {
      const write = (model[method] as (...args: unknown[]) => unknown).bind(model);
      return jest.spyOn(model, method).mockImplementation(((...args: unknown[]) => {
        const [first, second] = args as Array<Record<string, any>>;
        const doc = method === 'create' ? first : { _id: first?._id, ...second?.$set };
        if (doc?._id === locationId && doc.bankProfileId === bankProfileId) return run(() => write(...args));
        return write(...args);
      }) as never);
    });
    return { restore: () => spies.forEach((spy) => spy.mockRestore()) };
  };
  const failing = () => Promise.reject(new Error('simulated database error'));

  it('an assignment that fails after claiming (a database error) withdraws its claim: the currency may change', async () => {
    const p = await newProfile();
    const spy = onDefaultWrite(w.L3, p.profileId, failing);
    try {
      expect((await putDefault(w.L3, p.profileId)).status).toBe(500);
    } finally {
      spy.restore();
    }
    expect((await defaults().findOne({ _id: w.L3 as never }))?.bankProfileId ?? null).toBeNull();
    expect(await claimsOf(p.profileId)).toEqual([]);
    const changed = await changeCurrency(p);
    expect(changed.status).toBe(200);
  });

  it('a list that fails halfway keeps (and publishes) the locations written, and withdraws the claims of the others', async () => {
    const p = await newProfile();
    const outbox = service<EventOutbox>(EventOutbox);
    const committed = jest.spyOn(outbox, 'committed');
    const spy = onDefaultWrite(w.L3, p.profileId, failing);
    try {
      const answer = await call(h, 'POST', '/v1/default-bank-profiles', { token: admin, body: { bankProfileId: p.profileId, currency: 'EUR', locationIds: [w.L1, w.L3] } });
      expect(answer.status).toBe(500);
      expect(committed).toHaveBeenCalled();
    } finally {
      spy.restore();
      committed.mockRestore();
    }
    expect((await defaults().findOne({ _id: w.L1 as never }))!.bankProfileId).toBe(p.profileId);
    expect((await defaults().findOne({ _id: w.L3 as never }))?.bankProfileId ?? null).toBeNull();
    expect(await claimsOf(p.profileId)).toEqual([w.L1]);
    await watch.waitFor((m) => m.envelope?.type === 'DefaultBankProfileAssigned' && (m.envelope.data as DefaultBankProfileChange).bankProfileId === p.profileId);
    // The admin of L2 only, who may read it (it serves L2 too): the profile is L1's default (and no longer L3's claim).
    await profiles().updateOne({ _id: p.profileId as never }, { $set: { locationIds: [w.L1, w.L2, w.L3].sort() } });
    const other = await changeCurrency(p, await w.token('adminOfOtherLocation'));
    expect(other.status).toBe(403);
    // One location (L1, counted: they hold no role there), not two.
    expect(other.body.detail).toContain('is the default bank profile of 1 location(s) you hold no role on');
    expect(other.body.detail).not.toMatch(new RegExp(`${w.L1}|${w.L3}`));
  });

  it('a list that meets a conflict after it wrote some locations says which stay assigned (409, assignedLocationIds), not that nothing was', async () => {
    const p = await newProfile();
    // L3's first write loses to another writer, and the profile's currency changes meanwhile: the retry's claim is refused.
    let lost = false;
    const spy = onDefaultWrite(w.L3, p.profileId, async (write) => {
      if (lost) return write();
      lost = true;
      await profiles().updateOne({ _id: p.profileId as never }, { $set: { currency: 'USD' } });
      throw Object.assign(new Error('E11000 duplicate key error (simulated: another writer came first)'), { code: 11000 });
    });
    let answer;
    try {
      answer = await call(h, 'POST', '/v1/default-bank-profiles', { token: admin, body: { bankProfileId: p.profileId, currency: 'EUR', locationIds: [w.L1, w.L3] } });
    } finally {
      spy.restore();
      await profiles().updateOne({ _id: p.profileId as never }, { $set: { currency: 'EUR' } });
    }
    expect(answer.status).toBe(409);
    expect(answer.body).toMatchObject({ assignedLocationIds: [w.L1] });
    expect(answer.body.detail).toContain(`no longer has the currency EUR (it changed meanwhile); ${w.L3} not assigned.`);
    expect(answer.body.detail).toContain(`${w.L1} has this default bank profile now, and keeps it.`);
    expect(answer.body.detail).not.toContain('nothing was assigned');
    expect((await defaults().findOne({ _id: w.L1 as never }))!.bankProfileId).toBe(p.profileId);
    expect((await defaults().findOne({ _id: w.L3 as never }))?.bankProfileId ?? null).not.toBe(p.profileId);
    expect(await claimsOf(p.profileId)).toEqual([w.L1]);
  });

  it('identical assignments at the same time, one failing: the failure withdraws its own claim, not the other one\'s', async () => {
    const p = await newProfile();
    const [both, firstAnswered] = [gate(), gate()];
    let writes = 0;
    const spy = onDefaultWrite(w.L3, p.profileId, async (write) => {
      // Both requests claimed before either writes; the first write fails, the second waits for that failure's answer.
      if (++writes === 1) {
        await both.wait();
        throw new Error('simulated database error');
      }
      both.open();
      await firstAnswered.wait();
      return write();
    });
    try {
      const requests = [putDefault(w.L3, p.profileId), putDefault(w.L3, p.profileId)];
      await Promise.race(requests);
      firstAnswered.open();
      expect((await Promise.all(requests)).map((a) => a.status).sort()).toEqual([201, 500]);
    } finally {
      spy.restore();
    }
    const dflt = await defaults().findOne({ _id: w.L3 as never });
    expect(dflt!.bankProfileId).toBe(p.profileId);
    expect(await claimsOf(p.profileId)).toEqual([w.L3]);
    expect((await changeCurrency(p)).status).toBe(409);
    expect((await call(h, 'DELETE', `/v1/locations/${w.L3}/default-bank-profile`, { token: admin })).status).toBe(204);
  });

  it('a release that fails after the default was written does not fail the request; the claim left is dropped later', async () => {
    const [p1, p2] = [await newProfile(), await newProfile()];
    expect((await putDefault(w.L3, p1.profileId)).status).toBe(201);
    const claims = defaultClaims();
    const release = jest.spyOn(claims, 'release').mockRejectedValue(new Error('simulated database error'));
    try {
      const replaced = await putDefault(w.L3, p2.profileId);
      expect(replaced.status).toBe(200);
      expect(replaced.body).toMatchObject({ bankProfileId: p2.profileId, outcome: 'ASSIGNED' });
      expect((await call(h, 'DELETE', `/v1/locations/${w.L3}/default-bank-profile`, { token: admin })).status).toBe(204);
      expect(release).toHaveBeenCalledTimes(2);
    } finally {
      release.mockRestore();
    }
    expect([await claimsOf(p1.profileId), await claimsOf(p2.profileId)]).toEqual([[w.L3], [w.L3]]);
    // Obsolete (L3's default moved past them): dropped on the next change, which they do not refuse.
    expect((await changeCurrency(p1)).status).toBe(200);
    expect((await changeCurrency(p2)).status).toBe(200);
    expect([await claimsOf(p1.profileId), await claimsOf(p2.profileId)]).toEqual([[], []]);
  });
});
