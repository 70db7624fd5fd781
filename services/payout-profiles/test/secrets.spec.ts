import { register } from 'prom-client';
/**
 * Secrets at rest and in transit: the raw database holds no account number, IBAN or tax id in clear (every
 * collection, every document), the API shows them masked, events never carry them, and a secret sealed with an
 * older key still opens after the active key changed.
 */
import { Topics } from '@lib/contracts';
import { outboxSettled, TopicWatch } from '@lib/testing';
import { getModelToken } from '@nestjs/mongoose';
import { Model } from 'mongoose';
import { SecretBox } from '../src/secrets/secret-box';
import { TaxProfile } from '../src/tax-profiles/tax-profile.schema';
import { call, createWorld, ENCRYPTION_KEYS, Harness, ibanProfile, ifMatch, inDays, nonUsTaxProfile, operator, startHarness, usProfile, usTaxProfile, World } from './support';

jest.setTimeout(120_000);

const SECRETS = {
  deIban: 'DE89370400440532013000',
  frIban: 'FR1420041010050500013M02606',
  usAccount: '000987654321',
  tin: '987654321',
  foreignTin: 'FTIN55512345',
  vat: 'DE999888777',
};
/** Every way a secret could appear in clear: as stored normalized, and as typed by the user. */
const FORMS = [
  ...Object.values(SECRETS),
  'DE89 3704 0044 0532 0130 00',
  'FR14 2004 1010 0505 0001 3M02 606',
  '98-7654321',
  'DE 999 888 777',
];

let h: Harness;
let w: World;
let admin: string;
let watch: TopicWatch;
const ids: Record<string, string> = {};

/** The back office's own credential (X-Validator-Key). */
const VALIDATOR_TOKEN = 'back-office-validator-for-secrets';

beforeAll(async () => {
  h = await startHarness('secrets', { VALIDATOR_TOKEN });
  watch = await h.kafka.watch([Topics.payoutProfiles, Topics.validationRequests]);
  w = await createWorld(h);
  admin = await w.token('adminOfLocation');
  const create = async (path: string, body: unknown) => {
    const answer = await call(h, 'POST', path, { token: admin, body });
    expect(answer.status).toBe(201);
    return answer.body;
  };
  ids.de = (await create('/v1/bank-profiles', ibanProfile({ account: { iban: 'DE89 3704 0044 0532 0130 00', bic: 'COBADEFFXXX' } }))).profileId;
  ids.us = (await create('/v1/bank-profiles', usProfile({ account: { accountNumber: SECRETS.usAccount, routingNumber: '021000021' } }))).profileId;
  ids.usTax = (await create(`/v1/locations/${w.L1}/tax-profile`, usTaxProfile({ taxId: '98-7654321' }))).profileId;
  ids.euTax = (await create(`/v1/locations/${w.L3}/tax-profile`, nonUsTaxProfile({ taxId: SECRETS.foreignTin, vatId: 'DE 999 888 777' }))).profileId;
  // A change re-seals the new secret.
  const de = await call(h, 'GET', `/v1/bank-profiles/${ids.de}`, { token: admin });
  const moved = await call(h, 'PATCH', `/v1/bank-profiles/${ids.de}`, {
    token: admin,
    body: { country: 'FR', account: { iban: 'FR14 2004 1010 0505 0001 3M02 606', bic: 'BNPAFRPP' } },
    headers: ifMatch(de.body.version),
  });
  expect(moved.status).toBe(200);
}, 180_000);

afterAll(() => h?.close());

describe('encryption at rest', () => {
  it('no secret appears in clear anywhere in the raw database', async () => {
    const collections = await h.db.listCollections().toArray();
    expect(collections.map((c) => c.name)).toEqual(expect.arrayContaining(['bank_profiles', 'tax_profiles']));
    for (const { name } of collections) {
      const raw = JSON.stringify(await h.db.collection(name).find({}).toArray());
      for (const secret of FORMS) expect(`${name}: ${raw.includes(secret) ? secret : 'clean'}`).toBe(`${name}: clean`);
    }
  });

  it('stores each secret as AES-256-GCM ciphertext with its key id, nonce and tag', async () => {
    const bank = await h.db.collection('bank_profiles').findOne({ _id: ids.us as never });
    expect(bank).toMatchObject({
      maskedAccount: '****4321',
      secretField: 'accountNumber',
      sealedAccount: { keyId: 'k1', iv: expect.any(String), tag: expect.any(String), ciphertext: expect.any(String) },
    });
    expect(Buffer.from(bank!.sealedAccount.iv, 'base64')).toHaveLength(12);
    expect(Buffer.from(bank!.sealedAccount.tag, 'base64')).toHaveLength(16);
    const tax = await h.db.collection('tax_profiles').findOne({ _id: ids.euTax as never });
    expect(tax).toMatchObject({ maskedTaxId: '****2345', maskedVatId: '****8777', sealedTaxId: { keyId: 'k1' }, sealedVatId: { keyId: 'k1' } });
  });

  it('the API shows secrets masked (last four characters) and only the operator API opens them', async () => {
    const bank = await call(h, 'GET', `/v1/bank-profiles/${ids.de}`, { token: await w.token('incentivesUser') });
    expect(bank.body.account).toEqual({ scheme: 'IBAN', maskedAccount: '****2606', bic: 'BNPAFRPP' });
    const tax = await call(h, 'GET', `/v1/locations/${w.L3}/tax-profile`, { token: admin });
    expect(tax.body).toMatchObject({ maskedTaxId: '****2345', maskedVatId: '****8777' });
    for (const answer of [bank, tax, await call(h, 'GET', '/v1/bank-profiles', { token: admin }), await call(h, 'GET', '/v1/tax-profiles', { token: admin })]) {
      for (const secret of FORMS) expect(JSON.stringify(answer.body)).not.toContain(secret);
    }
    const details = await call(h, 'GET', `/v1/operator/profiles/${ids.euTax}`, { headers: operator });
    expect(details.body).toMatchObject({ taxId: SECRETS.foreignTin, vatId: SECRETS.vat });
  });

  it('a secret sealed with a previous key still opens, and the next change seals with the active key', async () => {
    const old = new SecretBox({ PAYOUT_ENCRYPTION_KEYS: ENCRYPTION_KEYS, PAYOUT_ENCRYPTION_ACTIVE_KEY_ID: 'k0' });
    await h.db.collection('bank_profiles').updateOne({ _id: ids.us as never }, { $set: { sealedAccount: old.seal(SECRETS.usAccount, `${ids.us}:account`) } });
    const details = await call(h, 'GET', `/v1/operator/profiles/${ids.us}`, { headers: operator });
    expect(details.body.account.accountNumber).toBe(SECRETS.usAccount);

    const current = await call(h, 'GET', `/v1/bank-profiles/${ids.us}`, { token: admin });
    const changed = await call(h, 'PATCH', `/v1/bank-profiles/${ids.us}`, {
      token: admin,
      body: { account: { accountNumber: '000555666777', routingNumber: '021000021' } },
      headers: ifMatch(current.body.version),
    });
    expect(changed.status).toBe(200);
    expect((await h.db.collection('bank_profiles').findOne({ _id: ids.us as never }))!.sealedAccount.keyId).toBe('k1');
  });
});

describe('events', () => {
  it('carry masked values at most: no secret in any event or validation request of the partner', async () => {
    // Five revisions were submitted: two bank creates, one bank change, two tax creates.
    const requests = await watch.waitFor((m) => m.topic === Topics.validationRequests && m.envelope?.partnerId === w.partnerId, { count: 5 });
    // The profile events are on another topic than the requests: seen in no particular order with them.
    const events = await watch.waitFor((m) => m.envelope?.partnerId === w.partnerId, { count: 15 });
    expect(events.length).toBeGreaterThanOrEqual(15);
    for (const message of events) {
      for (const secret of FORMS) expect(message.raw.includes(secret) ? `${message.envelope?.type} carries ${secret}` : 'clean').toBe('clean');
    }
    expect(requests.map((m) => (m.envelope!.data as { maskedAccount?: string }).maskedAccount)).toEqual(
      expect.arrayContaining(['****3000', '****4321', '****2606']),
    );
  });
});

describe('key rotation: POST /v1/operator/secrets/reseal', () => {
  const k0 = new SecretBox({ PAYOUT_ENCRYPTION_KEYS: ENCRYPTION_KEYS, PAYOUT_ENCRYPTION_ACTIVE_KEY_ID: 'k0' });
  const raw = (collection: string, id: string) => h.db.collection(collection).findOne({ _id: id as never });
  let unknownKey: string;

  it('a secret sealed with a key that is not configured is a 500 problem naming the key id, not a bare error', async () => {
    unknownKey = (await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: usProfile() })).body.profileId;
    const stored = await raw('bank_profiles', unknownKey);
    // As if key k9 had been removed from PAYOUT_ENCRYPTION_KEYS before this profile was re-sealed.
    await h.db.collection('bank_profiles').updateOne({ _id: unknownKey as never }, { $set: { 'sealedAccount.keyId': 'k9' } });

    const details = await call(h, 'GET', `/v1/operator/profiles/${unknownKey}`, { headers: operator });
    expect(details.status).toBe(500);
    expect(details.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(details.body).toMatchObject({
      type: expect.stringMatching(/secret-key-unavailable$/),
      keyId: 'k9',
      secret: `${unknownKey}:account`,
      detail: expect.stringMatching(/sealed with key k9, which PAYOUT_ENCRYPTION_KEYS does not list/),
    });
    // The back office's credential reads details too, but the deployment's key ids and settings are not its business.
    const asValidator = await call(h, 'GET', `/v1/operator/profiles/${unknownKey}`, { headers: { 'x-validator-key': VALIDATOR_TOKEN } });
    expect(asValidator.status).toBe(500);
    expect(asValidator.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(asValidator.body).not.toHaveProperty('keyId');
    expect(asValidator.body).not.toHaveProperty('secret');
    expect(JSON.stringify(asValidator.body)).not.toMatch(/k9|PAYOUT_ENCRYPTION_KEYS/);
    // The user's edit that replaces the account is what cures it: the unreadable stored account counts as different
    // from the one sent (another profile, so that this one stays unreadable for the re-seal below).
    const cured = (await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: usProfile() })).body.profileId;
    const curedBefore = await raw('bank_profiles', cured);
    await h.db.collection('bank_profiles').updateOne({ _id: cured as never }, { $set: { 'sealedAccount.keyId': 'k9' } });
    const patched = await call(h, 'PATCH', `/v1/bank-profiles/${cured}`, {
      token: admin,
      body: { account: { accountNumber: '000555666777', routingNumber: '021000021' } },
      headers: ifMatch(curedBefore!.version),
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ revision: curedBefore!.revision + 1, status: 'PENDING_VALIDATION' });
    expect(await raw('bank_profiles', cured)).toMatchObject({ sealedAccount: { keyId: 'k1' } });
    // A new name cannot be checked against an account that does not open (it would go out in events in clear, account
    // number and all): 409 asking for the account with it; nothing changed. With the account, it is checked and taken.
    const renamed = (await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: usProfile() })).body.profileId;
    const renamedBefore = await raw('bank_profiles', renamed);
    await h.db.collection('bank_profiles').updateOne({ _id: renamed as never }, { $set: { 'sealedAccount.keyId': 'k9' } });
    const unchecked = await call(h, 'PATCH', `/v1/bank-profiles/${renamed}`, { token: admin, body: { name: `Payroll ${renamedBefore!.name}` }, headers: ifMatch(renamedBefore!.version) });
    expect(unchecked.status).toBe(409);
    expect(unchecked.body.errors).toEqual([expect.objectContaining({ field: 'account' })]);
    expect(await raw('bank_profiles', renamed)).toMatchObject({ name: renamedBefore!.name, version: renamedBefore!.version });
    // The same for the beneficiary's email and address lines (every reader sees them in clear); one removed shows nothing
    // new: taken.
    const beneficiary = { name: 'Contoso Inc', email: 'payments@contoso.example', address: { line1: '1 Main Street', city: 'Redmond', country: 'US' } };
    const addressed = (await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: usProfile({ beneficiary }) })).body.profileId;
    const addressedBefore = await raw('bank_profiles', addressed);
    await h.db.collection('bank_profiles').updateOne({ _id: addressed as never }, { $set: { 'sealedAccount.keyId': 'k9' } });
    const moved = await call(h, 'PATCH', `/v1/bank-profiles/${addressed}`, {
      token: admin,
      body: { beneficiary: { ...beneficiary, address: { ...beneficiary.address, line2: 'Suite 100' } } },
      headers: ifMatch(addressedBefore!.version),
    });
    expect(moved.status).toBe(409);
    expect(moved.body.errors).toEqual([expect.objectContaining({ field: 'account' })]);
    const { address: _dropped, ...withoutAddress } = beneficiary;
    const dropped = await call(h, 'PATCH', `/v1/bank-profiles/${addressed}`, { token: admin, body: { beneficiary: withoutAddress }, headers: ifMatch(addressedBefore!.version) });
    expect(dropped.status).toBe(200);
    expect(dropped.body.beneficiary).not.toHaveProperty('address');
    // Its key put back: the key rotation below counts the secrets that do not open.
    await h.db.collection('bank_profiles').updateOne({ _id: addressed as never }, { $set: { 'sealedAccount.keyId': addressedBefore!.sealedAccount.keyId } });
    // Sent with an account that is wrong: that is the answer (400 naming it), not "send the account".
    const wrongAccount = await call(h, 'PATCH', `/v1/bank-profiles/${renamed}`, {
      token: admin,
      body: { name: `Payroll ${renamedBefore!.name}`, account: { accountNumber: '000555666888', routingNumber: '123' } },
      headers: ifMatch(renamedBefore!.version),
    });
    expect(wrongAccount.status).toBe(400);
    expect(wrongAccount.body.errors).toEqual([expect.objectContaining({ field: expect.stringMatching(/^account\./) })]);
    const withAccount = await call(h, 'PATCH', `/v1/bank-profiles/${renamed}`, {
      token: admin,
      body: { name: `Payroll ${renamedBefore!.name}`, account: { accountNumber: '000555666888', routingNumber: '021000021' } },
      headers: ifMatch(renamedBefore!.version),
    });
    expect(withAccount.status).toBe(200);
    expect(withAccount.body.name).toBe(`Payroll ${renamedBefore!.name}`);
    // The same for a tax profile whose TIN does not open: a new TIN is a new revision (L2's, a location with no other).
    const other = await w.token('adminOfOtherLocation');
    const tax = (await call(h, 'POST', `/v1/locations/${w.L2}/tax-profile`, { token: other, body: nonUsTaxProfile({ taxId: 'FT-1234-5678' }) })).body;
    await h.db.collection('tax_profiles').updateOne({ _id: tax.profileId as never }, { $set: { 'sealedTaxId.keyId': 'k9' } });
    const newTin = await call(h, 'PATCH', `/v1/locations/${w.L2}/tax-profile`, { token: other, body: { taxId: 'FT-8765-4321' }, headers: ifMatch(tax.version) });
    expect(newTin.status).toBe(200);
    expect(newTin.body).toMatchObject({ revision: tax.revision + 1, maskedTaxId: '****4321' });
    expect(await raw('tax_profiles', tax.profileId)).toMatchObject({ sealedTaxId: { keyId: 'k1' } });

    // A back-office rejection of it is still recorded (not dead-lettered, the profile would stay pending), its reasons
    // masked by the safety net alone: the secret it cannot open is not needed to see an IBAN or a long number.
    const decided = await call(h, 'POST', `/v1/operator/profiles/${unknownKey}/validation`, {
      headers: operator,
      body: { revision: stored!.revision, outcome: 'ACTION_REQUIRED', reasons: ['Account 000123456789 at routing 021000021 is closed'] },
    });
    expect(decided.status).toBe(200);
    expect(decided.body).toMatchObject({ effect: 'APPLIED', status: 'ACTION_REQUIRED', reasons: ['Account ****6789 at routing ****0021 is closed'] });

    // A tax profile one of whose ids does not open (its VAT id) still has the other masked as itself: a short foreign
    // TIN, which the safety net (account numbers, long digit runs) would not catch.
    const short = await call(h, 'PATCH', `/v1/locations/${w.L2}/tax-profile`, { token: other, body: { taxId: 'ABC1234' }, headers: ifMatch((await raw('tax_profiles', tax.profileId))!.version) });
    expect(short.status).toBe(200);
    await h.db.collection('tax_profiles').updateOne({ _id: tax.profileId as never }, { $set: { 'sealedVatId.keyId': 'k9' } });
    const rejected = await call(h, 'POST', `/v1/operator/profiles/${tax.profileId}/validation`, {
      headers: operator,
      body: { revision: short.body.revision, outcome: 'ACTION_REQUIRED', reasons: ['TIN ABC1234 does not match the business name'] },
    });
    expect(rejected.status).toBe(200);
    expect(JSON.stringify(rejected.body)).not.toContain('ABC1234');
    expect(rejected.body.reasons).toEqual(['TIN ******** does not match the business name']);
    // A change that keeps the VAT id it cannot read (left out): 409 naming vatId (send it, or null), not a bare 500;
    // nothing changed.
    const keptBefore = await raw('tax_profiles', tax.profileId);
    const kept = await call(h, 'PATCH', `/v1/locations/${w.L2}/tax-profile`, { token: other, body: { taxId: 'XYZ98765' }, headers: ifMatch(keptBefore!.version) });
    expect(kept.status).toBe(409);
    expect(kept.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(kept.body).toMatchObject({ detail: expect.stringContaining('cannot be read; send vatId (or null to remove it)'), errors: [expect.objectContaining({ field: 'vatId' })] });
    expect(await raw('tax_profiles', tax.profileId)).toMatchObject({ version: keptBefore!.version, maskedTaxId: keptBefore!.maskedTaxId });
    // A US TIN cannot be removed: the 409 asks for it, not for null.
    const us = await raw('tax_profiles', ids.usTax);
    await h.db.collection('tax_profiles').updateOne({ _id: ids.usTax as never }, { $set: { 'sealedTaxId.keyId': 'k9' } });
    const usKept = await call(h, 'PATCH', `/v1/locations/${w.L1}/tax-profile`, { token: admin, body: { expiresAt: inDays(200) }, headers: ifMatch(us!.version) });
    await h.db.collection('tax_profiles').updateOne({ _id: ids.usTax as never }, { $set: { 'sealedTaxId.keyId': us!.sealedTaxId.keyId } });
    expect(usKept.status).toBe(409);
    expect(usKept.body.detail).toMatch(/cannot be read; send taxId with this change\.$/);
    // Its VAT id readable again, for the re-sealing below (which counts the unreadable ones).
    await h.db.collection('tax_profiles').updateOne({ _id: tax.profileId as never }, { $set: { 'sealedVatId.keyId': 'k1' } });
  });

  it('re-seals every secret sealed with another key, without a new version or an event; unreadable ones are reported', async () => {
    // Secrets sealed with k0 (the previous key): a bank account and tax ids (the VAT id of euTax stays on k1).
    await h.db.collection('bank_profiles').updateOne({ _id: ids.de as never }, { $set: { sealedAccount: k0.seal(SECRETS.frIban, `${ids.de}:account`) } });
    await h.db.collection('tax_profiles').updateOne({ _id: ids.usTax as never }, { $set: { sealedTaxId: k0.seal(SECRETS.tin, `${ids.usTax}:taxId`) } });
    await h.db.collection('tax_profiles').updateOne({ _id: ids.euTax as never }, { $set: { sealedTaxId: k0.seal(SECRETS.foreignTin, `${ids.euTax}:taxId`) } });
    const before = {
      de: await raw('bank_profiles', ids.de),
      usTax: await raw('tax_profiles', ids.usTax),
      euTax: await raw('tax_profiles', ids.euTax),
    };
    const eventsBefore = watch.messages.length;

    // Asked to seal with a key this instance does not seal with (a rollout of k2 not finished here): 409, nothing done,
    // counted as a refused run.
    const refusedRuns = async () => (await register.getSingleMetric('background_job_runs_total')!.get()).values.find((v) => v.labels.job_name === 'secrets-reseal' && v.labels.outcome === 'refused')?.value ?? 0;
    const refusedBefore = await refusedRuns();
    const early = await call(h, 'POST', '/v1/operator/secrets/reseal?activeKeyId=k2', { headers: operator });
    expect(early.status).toBe(409);
    expect(early.body).toMatchObject({ activeKeyId: 'k1', detail: expect.stringMatching(/seals with key k1, not k2/) });
    expect(await raw('bank_profiles', ids.de)).toEqual(before.de);
    expect(await refusedRuns()).toBe(refusedBefore + 1);

    const run = await call(h, 'POST', '/v1/operator/secrets/reseal?activeKeyId=k1', { headers: operator });
    expect(run.status).toBe(200);
    expect(run.body).toEqual({ examined: 4, resealed: 3, conflicts: 0, unreadable: 1, missingKeyIds: ['k9'], remaining: 1, activeKeyId: 'k1' });

    const after = {
      de: await raw('bank_profiles', ids.de),
      usTax: await raw('tax_profiles', ids.usTax),
      euTax: await raw('tax_profiles', ids.euTax),
    };
    expect(after.de!.sealedAccount.keyId).toBe('k1');
    expect(after.usTax!.sealedTaxId.keyId).toBe('k1');
    expect(after.euTax).toMatchObject({ sealedTaxId: { keyId: 'k1' }, sealedVatId: before.euTax!.sealedVatId });
    for (const name of ['de', 'usTax', 'euTax'] as const) {
      expect({ version: after[name]!.version, updatedAt: after[name]!.updatedAt }).toEqual({ version: before[name]!.version, updatedAt: before[name]!.updatedAt });
    }
    // The values are the same, now opened with the active key.
    expect((await call(h, 'GET', `/v1/operator/profiles/${ids.de}`, { headers: operator })).body.account.iban).toBe(SECRETS.frIban);
    expect((await call(h, 'GET', `/v1/operator/profiles/${ids.usTax}`, { headers: operator })).body.taxId).toBe(SECRETS.tin);
    expect((await call(h, 'GET', `/v1/operator/profiles/${ids.euTax}`, { headers: operator })).body).toMatchObject({ taxId: SECRETS.foreignTin, vatId: SECRETS.vat });
    // An event of the re-sealed profiles would wait in their outboxes for the relay: once those are drained and on the
    // watch (outboxSettled, on both topics the service writes), "no event" can fail.
    const resealed = [ids.de, ids.usTax, ids.euTax];
    const profiles = {
      countDocuments: async (filter: Record<string, unknown>) =>
        (await h.db.collection('bank_profiles').countDocuments(filter)) + (await h.db.collection('tax_profiles').countDocuments(filter)),
    };
    // Bank profile events are keyed by partner, tax profile events by location; validation requests by partner.
    for (const [topic, keys] of [
      [Topics.payoutProfiles, [w.partnerId, w.L1, w.L3]],
      [Topics.validationRequests, [w.partnerId]],
    ] as const) {
      await outboxSettled({ collection: profiles, filter: { _id: { $in: resealed } }, kafka: h.kafka, watch, topic, keys: [...keys] });
    }
    expect(watch.messages.slice(eventsBefore).filter((m) => resealed.includes((m.envelope?.data as { profileId?: string })?.profileId ?? ''))).toEqual([]);

    // Once the missing key is back (here: the profile sealed with k0, which is configured), the next run finishes.
    const stuck = await raw('bank_profiles', unknownKey);
    const clear = new SecretBox({ PAYOUT_ENCRYPTION_KEYS: ENCRYPTION_KEYS, PAYOUT_ENCRYPTION_ACTIVE_KEY_ID: 'k1' }).open(
      { ...stuck!.sealedAccount, keyId: 'k1' },
      `${unknownKey}:account`,
    );
    await h.db.collection('bank_profiles').updateOne({ _id: unknownKey as never }, { $set: { sealedAccount: k0.seal(clear, `${unknownKey}:account`) } });
    const again = await call(h, 'POST', '/v1/operator/secrets/reseal', { headers: operator });
    expect(again.body).toEqual({ examined: 1, resealed: 1, conflicts: 0, unreadable: 0, missingKeyIds: [], remaining: 0, activeKeyId: 'k1' });
    expect((await raw('bank_profiles', unknownKey))!.sealedAccount.keyId).toBe('k1');
    const idle = await call(h, 'POST', '/v1/operator/secrets/reseal', { headers: operator });
    expect(idle.body).toEqual({ examined: 0, resealed: 0, conflicts: 0, unreadable: 0, missingKeyIds: [], remaining: 0, activeKeyId: 'k1' });
  });

  it('walks in pages: more profiles than a page, all re-sealed', async () => {
    // Copies of one profile under new ids, sealed with k0 for their own id: more than one page of 50.
    const template = await raw('bank_profiles', ids.us);
    const clear = new SecretBox({ PAYOUT_ENCRYPTION_KEYS: ENCRYPTION_KEYS, PAYOUT_ENCRYPTION_ACTIVE_KEY_ID: 'k1' }).open(template!.sealedAccount, `${ids.us}:account`);
    const copies = Array.from({ length: 120 }, (_, i) => {
      const _id = `reseal-${String(i).padStart(3, '0')}-${ids.us}`;
      return { ...template, _id, partnerId: `copies-${w.partnerId}`, nameKey: _id, outbox: [], sealedAccount: k0.seal(clear, `${_id}:account`) };
    });
    await h.db.collection('bank_profiles').insertMany(copies as never[]);
    const run = await call(h, 'POST', '/v1/operator/secrets/reseal', { headers: operator });
    expect(run.body).toEqual({ examined: 120, resealed: 120, conflicts: 0, unreadable: 0, missingKeyIds: [], remaining: 0, activeKeyId: 'k1' });
    expect(await h.db.collection('bank_profiles').countDocuments({ 'sealedAccount.keyId': 'k0' })).toBe(0);
    await h.db.collection('bank_profiles').deleteMany({ partnerId: `copies-${w.partnerId}` });
  });

  it('a profile changed between its read and its re-sealing write is left to the change (a conflict), not overwritten', async () => {
    await h.db.collection('tax_profiles').updateOne({ _id: ids.euTax as never }, { $set: { sealedTaxId: k0.seal(SECRETS.foreignTin, `${ids.euTax}:taxId`) } });
    const model = h.service.app.get<Model<TaxProfile>>(getModelToken(TaxProfile.name) as never, { strict: false });
    const write = model.updateOne.bind(model) as (...args: unknown[]) => Promise<unknown>;
    let edited = false;
    // Just before the re-sealing write of euTax, its admin changes the profile (a new revision, sealed with k1).
    const spy = jest.spyOn(model, 'updateOne').mockImplementation((async (filter: Record<string, unknown>, update: { $set?: Record<string, unknown> }, ...rest: unknown[]) => {
      if (!edited && filter?._id === ids.euTax && update?.$set?.sealedTaxId && !('status' in update.$set)) {
        edited = true;
        const current = await call(h, 'GET', `/v1/locations/${w.L3}/tax-profile`, { token: admin });
        const changed = await call(h, 'PATCH', `/v1/locations/${w.L3}/tax-profile`, {
          token: admin,
          body: { taxId: 'FTIN99988877' },
          headers: ifMatch(current.body.version),
        });
        expect(changed.status).toBe(200);
      }
      return write(filter, update, ...rest);
    }) as never);
    try {
      const run = await call(h, 'POST', '/v1/operator/secrets/reseal', { headers: operator });
      expect(run.body).toEqual({ examined: 1, resealed: 0, conflicts: 1, unreadable: 0, missingKeyIds: [], remaining: 0, activeKeyId: 'k1' });
    } finally {
      spy.mockRestore();
    }
    expect(edited).toBe(true);
    expect((await call(h, 'GET', `/v1/operator/profiles/${ids.euTax}`, { headers: operator })).body).toMatchObject({ taxId: 'FTIN99988877', vatId: SECRETS.vat });
  });
});
