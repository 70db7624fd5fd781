import { uniqueName } from '@lib/testing';
import mongoose, { Connection, Model } from 'mongoose';
import { BankProfile, BankProfileSchema } from '../src/bank-profiles/bank-profile.schema';
import { BankProfilesRepository } from '../src/bank-profiles/bank-profiles.repository';
import { bankProfileView } from '../src/bank-profiles/bank-profile.view';

// Against the test database server (real connections): what the list, a read by id and readiness read of a bank profile.
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

const now = new Date('2026-09-01T00:00:00Z');

function storedProfile(id: string) {
  return {
    _id: id,
    partnerId: 'P1',
    name: `Account ${id}`, // names are unique per partner
    nameKey: `account ${id}`,
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
}

it('reads what the list shows and checks, not the history, the defaults held, the decision keys or the sealed secret', async () => {
  const profile = storedProfile('bp-1');
  await model.collection.insertOne(profile as never);

  const [listed] = await new BankProfilesRepository(model).listForPartner('P1', {}, 10);
  for (const field of ['validationHistory', 'decisionKeys', 'defaultFor', 'sealedAccount', 'supersededSecrets', 'outbox']) expect(listed).not.toHaveProperty(field);
  // What the list answers is as from the whole document.
  const { validationHistory: _h, decisionKeys: _k, defaultFor: _d, sealedAccount: _s, ...shown } = profile;
  expect(bankProfileView(listed)).toEqual(bankProfileView(shown as never));
  expect(listed).toMatchObject({ nameKey: 'account bp-1', _id: 'bp-1' }); // the list's order and cursor
});

it('reads by id what its GET shows, with the history, not the defaults held, the decision keys or the sealed secret', async () => {
  const profile = storedProfile('bp-2');
  await model.collection.insertOne(profile as never);

  const read = (await new BankProfilesRepository(model).findShown('P1', 'bp-2'))!;
  for (const field of ['decisionKeys', 'defaultFor', 'sealedAccount', 'supersededSecrets', 'outbox']) expect(read).not.toHaveProperty(field);
  const { decisionKeys: _k, defaultFor: _d, sealedAccount: _s, ...shown } = profile;
  expect(bankProfileView(read, { history: true })).toEqual(bankProfileView(shown as never, { history: true }));
  expect(read.version).toBe(3); // its ETag
  expect(await new BankProfilesRepository(model).findShown('P2', 'bp-2')).toBeNull(); // another partner's
});

it('reads for readiness only what the payout rules judge and the locations served', async () => {
  await model.collection.insertOne(storedProfile('bp-3') as never);

  const judged = await new BankProfilesRepository(model).findJudged('P1', 'bp-3');
  expect(judged).toEqual({ _id: 'bp-3', partnerId: 'P1', status: 'APPROVED', currency: 'EUR', paymentMethod: 'ELECTRONIC_BANK_TRANSFER', locationIds: ['L1', 'L2'] });
  expect(await new BankProfilesRepository(model).findJudged('P2', 'bp-3')).toBeNull();
});
