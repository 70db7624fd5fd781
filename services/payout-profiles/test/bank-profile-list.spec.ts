import { uniqueName } from '@lib/testing';
import mongoose, { Connection, Model } from 'mongoose';
import { BankProfile, BankProfileSchema } from '../src/bank-profiles/bank-profile.schema';
import { BankProfilesRepository } from '../src/bank-profiles/bank-profiles.repository';
import { bankProfileView } from '../src/bank-profiles/bank-profile.view';

// Against the test database server (real connections): what a page of the bank profiles list reads.
let connection: Connection;
let model: Model<BankProfile>;

beforeAll(async () => {
  connection = await mongoose.createConnection(process.env.MONGO_URL!, { dbName: uniqueName('bank_profile_list'), directConnection: true }).asPromise();
  model = connection.model(BankProfile.name, BankProfileSchema);
  await model.init(); // as ModelsReady does: on mongo-java-server a write racing the collection's creation can be lost
});

afterAll(async () => {
  await connection.dropDatabase();
  await connection.close();
});

it('reads what the list shows and checks, not the history, the defaults held, the decision keys or the sealed secret', async () => {
  const now = new Date('2026-09-01T00:00:00Z');
  const profile = {
    _id: 'bp-1',
    partnerId: 'P1',
    name: 'Main account',
    nameKey: 'main account',
    country: 'DE',
    currency: 'EUR',
    paymentMethod: 'ELECTRONIC_BANK_TRANSFER',
    beneficiary: { name: 'Contoso GmbH' },
    scheme: 'IBAN',
    bankIdentifiers: { bic: 'COBADEFFXXX' },
    secretField: 'iban',
    sealedAccount: { keyId: 'k1', nonce: 'n', ciphertext: 'c', tag: 't' },
    maskedAccount: '****3000',
    locationIds: ['L1', 'L2'],
    status: 'APPROVED',
    reasons: [],
    revision: 2,
    version: 3,
    validationHistory: [{ revision: 1, outcome: 'ACTION_REQUIRED', reasons: ['x'.repeat(1_000)], source: 'BACK_OFFICE', effect: 'APPLIED', receivedAt: now }],
    decisionKeys: ['k-1'],
    defaultFor: Array.from({ length: 100 }, (_, i) => ({ locationId: `L${i}`, version: 1 })),
    createdBy: 'u1',
    updatedBy: 'u1',
    createdAt: now,
    updatedAt: now,
  };
  await model.collection.insertOne(profile as never);

  const [listed] = await new BankProfilesRepository(model).listForPartner('P1', {}, 10);
  for (const field of ['validationHistory', 'decisionKeys', 'defaultFor', 'sealedAccount', 'supersededSecrets', 'outbox']) expect(listed).not.toHaveProperty(field);
  // What the list answers is as from the whole document.
  const { validationHistory: _h, decisionKeys: _k, defaultFor: _d, sealedAccount: _s, ...shown } = profile;
  expect(bankProfileView(listed)).toEqual(bankProfileView(shown as never));
  expect(listed).toMatchObject({ nameKey: 'main account', _id: 'bp-1' }); // the list's order and cursor
});
