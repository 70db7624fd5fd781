/**
 * Secrets at rest and in transit: the raw database holds no account number, IBAN or tax id in clear (every
 * collection, every document), the API shows them masked, events never carry them, and a secret sealed with an
 * older key still opens after the active key changed.
 */
import { Topics } from '@lib/contracts';
import { TopicWatch } from '@lib/testing';
import { SecretBox } from '../src/secrets/secret-box';
import { call, createWorld, ENCRYPTION_KEYS, Harness, ibanProfile, ifMatch, nonUsTaxProfile, operator, startHarness, usProfile, usTaxProfile, World } from './support';

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

beforeAll(async () => {
  h = await startHarness('secrets');
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
    const events = watch.find((m) => m.envelope?.partnerId === w.partnerId);
    expect(events.length).toBeGreaterThanOrEqual(15);
    for (const message of events) {
      for (const secret of FORMS) expect(message.raw.includes(secret) ? `${message.envelope?.type} carries ${secret}` : 'clean').toBe('clean');
    }
    expect(requests.map((m) => (m.envelope!.data as { maskedAccount?: string }).maskedAccount)).toEqual(
      expect.arrayContaining(['****3000', '****4321', '****2606']),
    );
  });
});
