/**
 * Bad input per country: each answer is problem+json naming the field, and nothing stored changes (the raw
 * documents of the partner are the same before and after).
 */
import { Clock } from '@lib/platform';
import { servedDocs } from '@lib/testing';
import { randomUUID } from 'node:crypto';
import { Answer, call, createWorld, RawJson, Harness, ibanProfile, ifMatch, inDays, nonUsTaxProfile, startHarness, usProfile, usTaxProfile, VALID, World } from './support';
import { SecretBox } from '../src/secrets/secret-box';

jest.setTimeout(120_000);

let h: Harness;
let w: World;
let admin: string;
let euProfile: { profileId: string; version: number; name: string };
let usBankId: string;

beforeAll(async () => {
  h = await startHarness('bad-input');
  w = await createWorld(h);
  admin = await w.token('adminOfLocation');
  const eu = await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: ibanProfile() });
  expect(eu.status).toBe(201);
  euProfile = eu.body;
  const us = await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: usProfile() });
  usBankId = us.body.profileId;
  expect((await call(h, 'POST', `/v1/locations/${w.L1}/tax-profile`, { token: admin, body: usTaxProfile() })).status).toBe(201);
  expect((await call(h, 'PUT', `/v1/locations/${w.L1}/default-bank-profile`, { token: admin, body: { bankProfileId: usBankId, currency: 'USD' } })).status).toBe(201);
}, 180_000);

afterAll(async () => {
  await h?.close();
});

/**
 * Every stored document of the partner (profiles, defaults), without their outboxes, which the relay empties
 * in the background. A use case that wrote anything, event included, would have changed version or updatedAt.
 */
async function stored(): Promise<unknown[]> {
  const collections = ['bank_profiles', 'tax_profiles', 'default_bank_profiles'];
  return Promise.all(
    collections.map((name) => h.db.collection(name).find({ partnerId: w.partnerId }, { projection: { outbox: 0 } }).sort({ _id: 1 }).toArray()),
  );
}

function expectProblem(answer: Answer, status: number, field: string, message?: RegExp): void {
  expect(answer.status).toBe(status);
  expect(answer.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(answer.body).toMatchObject({ status, type: expect.any(String), title: expect.any(String) });
  expect(answer.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ field, ...(message && { message: expect.stringMatching(message) }) })]));
}

/** `{"<field>":[[[...]]], ...rest}` with the array `levels` deep, as text: JSON.stringify overflows on it. */
function nested(field: string, levels: number, rest: Record<string, unknown> = {}): RawJson {
  return new RawJson(`{${JSON.stringify(field)}:${'['.repeat(levels)}${']'.repeat(levels)}${Object.keys(rest).length ? `,${JSON.stringify(rest).slice(1)}` : '}'}`);
}

type Case = [string, () => Promise<{ method: string; path: string; body: unknown; headers?: Record<string, string> }>, number, string, RegExp?];

const CASES: Case[] = [
  // Bank accounts, per country
  ['DE: bad IBAN checksum', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: ibanProfile({ account: { iban: 'DE89370400440532013001', bic: 'COBADEFF' } }) }), 400, 'account.iban', /checksum/],
  ['GB: IBAN of the wrong length', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: ibanProfile({ country: 'GB', currency: 'GBP', account: { iban: 'GB82WEST1234569876543', bic: 'NWBKGB2L' } }) }), 400, 'account.iban', /22 characters/],
  ['FR: IBAN of another country', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: ibanProfile({ country: 'FR', account: { iban: 'DE89370400440532013000', bic: 'BNPAFRPP' } }) }), 400, 'account.iban', /country FR/],
  ['JP: BIC of a German bank (SWIFT: the BIC is the account\'s bank)', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: usProfile({ country: 'JP', currency: 'JPY', account: { bic: 'COBADEFF', accountNumber: '1234567' } }) }), 400, 'account.bic', /bank in JP .*DE here/],
  ['JE: its own code in the IBAN (Jersey has GB IBANs)', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: ibanProfile({ country: 'JE', currency: 'GBP', account: { iban: 'JE82WEST12345698765432', bic: 'RBOSJESH' } }) }), 400, 'account.iban', /country GB/],
  ['DE: BIC missing', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: ibanProfile({ account: { iban: 'DE89370400440532013000' } }) }), 400, 'account.bic', /required/],
  ['US: routing number missing', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: usProfile({ account: { accountNumber: '000123456789' } }) }), 400, 'account.routingNumber', /required/],
  ['US: routing number with a bad checksum', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: usProfile({ account: { accountNumber: '000123456789', routingNumber: '021000022' } }) }), 400, 'account.routingNumber', /checksum/],
  ['CA: transit number missing', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: usProfile({ country: 'CA', currency: 'CAD', account: { institutionNumber: '001', accountNumber: '1234567' } }) }), 400, 'account.transitNumber', /required/],
  ['AU: BSB malformed', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: usProfile({ country: 'AU', currency: 'AUD', account: { bsb: '06200', accountNumber: '12345678' } }) }), 400, 'account.bsb'],
  ['IN: IFSC malformed', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: usProfile({ country: 'IN', currency: 'INR', account: { ifsc: 'HDFC1234567', accountNumber: '123456789012' } }) }), 400, 'account.ifsc'],
  ['JP: BIC missing (generic SWIFT rule)', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: usProfile({ country: 'JP', currency: 'JPY', account: { accountNumber: '1234567' } }) }), 400, 'account.bic'],
  ['unsupported currency', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: usProfile({ currency: 'XYZ' }) }), 400, 'currency', /ISO 4217/],
  ['unknown country', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: usProfile({ country: 'QQ' }) }), 400, 'country'],
  ['unknown payment method', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: usProfile({ paymentMethod: 'CRYPTO' }) }), 400, 'paymentMethod'],
  ['CHECK without a mailing address', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: usProfile({ paymentMethod: 'CHECK' }) }), 400, 'beneficiary.address'],
  ['CHECK with a list for the mailing address', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: usProfile({ paymentMethod: 'CHECK', beneficiary: { name: 'Contoso Inc', email: 'payments@contoso.example', address: [] } }) }), 400, 'beneficiary.address'],
  ['unknown field', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: usProfile({ nickname: 'x' }) }), 400, 'nickname'],
  ['unknown nested field', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: usProfile({ account: { accountNumber: '000123456789', routingNumber: '021000021', swift: 'x' } }) }), 400, 'account.swift'],
  ['duplicate profile name', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: usProfile({ name: euProfile.name.toUpperCase() }) }), 409, 'name'],
  ['duplicate profile name but for its spaces', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: usProfile({ name: ` ${euProfile.name.replace(/ /g, '  ')}` }) }), 409, 'name'],
  ['duplicate profile name but for a non-breaking space', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: usProfile({ name: euProfile.name.replace(' ', '\u00a0') }) }), 409, 'name'],
  // Text people type: trimmed, and blank is refused (not stored, not a 500)
  ['blank profile name', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: ibanProfile({ name: '   ' }) }), 400, 'name', /must not be blank/],
  ['blank beneficiary name', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: ibanProfile({ beneficiary: { name: ' ', email: 'payments@contoso.example' } }) }), 400, 'beneficiary.name', /must not be blank/],
  ['blank bank name', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: ibanProfile({ account: { iban: 'DE89370400440532013000', bic: 'COBADEFFXXX', bankName: '  ' } }) }), 400, 'account.bankName', /must not be blank/],
  ['blank IBAN', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: ibanProfile({ account: { iban: '   ', bic: 'COBADEFFXXX' } }) }), 400, 'account.iban', /must not be blank/],
  ['blank optional account type', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: usProfile({ account: { accountNumber: '000123456789', routingNumber: '021000021', accountType: ' ' } }) }), 400, 'account.accountType', /must not be blank/],
  // null is refused, not stored: stored, the same details sent again without the field read as a change (a new revision).
  ['a phone number null', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: ibanProfile({ beneficiary: { name: 'Contoso GmbH', email: 'payments@contoso.example', phone: null } }) }), 400, 'beneficiary.phone', /must not be null/],
  ['a bank name null', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: ibanProfile({ account: { iban: 'DE89 3704 0044 0532 0130 00', bic: 'COBADEFFXXX', bankName: null } }) }), 400, 'account.bankName', /must not be null/],
  ['a mailing address region null', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: usProfile({ paymentMethod: 'CHECK', beneficiary: { name: 'Contoso Inc', email: 'payments@contoso.example', address: { line1: '1 Way', city: 'Austin', region: null, country: 'US' } } }) }), 400, 'beneficiary.address.region', /must not be null/],
  ['a phone number of spaces', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: ibanProfile({ beneficiary: { name: 'Contoso GmbH', email: 'payments@contoso.example', phone: '     ' } }) }), 400, 'beneficiary.phone', /must be a phone number/],
  ['blank city of a mailing address', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: usProfile({ paymentMethod: 'CHECK', beneficiary: { name: 'Contoso Inc', email: 'payments@contoso.example', address: { line1: '1 Way', city: '\t ', country: 'US' } } }) }), 400, 'beneficiary.address.city', /must not be blank/],
  ['PATCH: blank profile name', async () => ({ method: 'PATCH', path: `/v1/bank-profiles/${euProfile.profileId}`, body: { name: '   ' }, headers: ifMatch(euProfile.version) }), 400, 'name', /must not be blank/],
  ['PATCH: blank beneficiary name', async () => ({ method: 'PATCH', path: `/v1/bank-profiles/${euProfile.profileId}`, body: { beneficiary: { name: '  ', email: 'payments@contoso.example' } }, headers: ifMatch(euProfile.version) }), 400, 'beneficiary.name', /must not be blank/],
  ['tax: blank legal name', async () => ({ method: 'POST', path: `/v1/locations/${w.L3}/tax-profile`, body: usTaxProfile({ businessProfile: { legalName: '  ', address: { line1: '1 Way', city: 'Redmond', country: 'US' } } }) }), 400, 'businessProfile.legalName', /must not be blank/],
  ['tax: PATCH to a blank address line', async () => ({ method: 'PATCH', path: `/v1/locations/${w.L1}/tax-profile`, body: { businessProfile: { legalName: 'Contoso Inc', address: { line1: ' ', city: 'Redmond', country: 'US' } } }, headers: ifMatch(1) }), 400, 'businessProfile.address.line1', /must not be blank/],
  ['tax: blank document file name', async () => ({ method: 'POST', path: `/v1/locations/${w.L3}/tax-profile`, body: usTaxProfile({ documents: [{ fileName: '  ', contentType: 'application/pdf', sizeBytes: 1000, uploadedAt: new Date().toISOString() }] }) }), 400, 'documents.0.fileName', /must not be blank/],
  // Changes of an existing profile
  ['bank: name holding the account number', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: usProfile({ name: 'Chase 000-123-456-789' }) }), 400, 'name', /account number or IBAN/],
  ['bank: beneficiary name holding the IBAN', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: ibanProfile({ beneficiary: { name: 'Contoso DE89 3704 0044 0532 0130 00', email: 'payments@contoso.example' } }) }), 400, 'beneficiary.name', /account number or IBAN/],
  ['bank: bank name holding the account number', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: usProfile({ account: { accountNumber: '000123456789', routingNumber: '021000021', bankName: 'Example Bank 000123456789' } }) }), 400, 'account.bankName', /account number or IBAN/],
  ['PATCH: bank name holding the IBAN sent with it', async () => ({ method: 'PATCH', path: `/v1/bank-profiles/${euProfile.profileId}`, body: { account: { iban: 'DE89370400440532013000', bic: 'COBADEFF', bankName: 'Commerzbank DE89 3704 0044 0532 0130 00' } }, headers: ifMatch(euProfile.version) }), 400, 'account.bankName', /account number or IBAN/],
  ["bank: name holding the IBAN's BBAN (the account number inside it)", async () => ({ method: 'POST', path: '/v1/bank-profiles', body: ibanProfile({ name: 'Acct 3704 0044 0532 0130 00' }) }), 400, 'name', /account number or IBAN/],
  ["bank: name holding the national account number inside the IBAN, as a statement shows it", async () => ({ method: 'POST', path: '/v1/bank-profiles', body: ibanProfile({ name: 'Commerzbank Konto 0532013000' }) }), 400, 'name', /account number or IBAN/],
  // The beneficiary's email and address every reader of the profile sees in clear (Incentives users included).
  ['bank: beneficiary address line holding the account number', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: usProfile({ beneficiary: { name: 'Contoso Inc', email: 'payments@contoso.example', address: { line1: '1 Main Street', line2: 'Acct 000123456789', city: 'Redmond', country: 'US' } } }) }), 400, 'beneficiary.address.line2', /account number or IBAN/],
  ['PATCH: a beneficiary email holding the stored IBAN', async () => ({ method: 'PATCH', path: `/v1/bank-profiles/${euProfile.profileId}`, body: { beneficiary: { name: 'Contoso GmbH', email: 'de89370400440532013000@contoso.example' } }, headers: ifMatch(euProfile.version) }), 400, 'beneficiary.email', /account number or IBAN/],
  ['PATCH: a name holding the stored IBAN', async () => ({ method: 'PATCH', path: `/v1/bank-profiles/${euProfile.profileId}`, body: { name: 'EUR de89370400440532013000' }, headers: ifMatch(euProfile.version) }), 400, 'name', /account number or IBAN/],
  ['PATCH: bad IBAN checksum', async () => ({ method: 'PATCH', path: `/v1/bank-profiles/${euProfile.profileId}`, body: { account: { iban: 'DE89370400440532013001', bic: 'COBADEFF' } }, headers: ifMatch(euProfile.version) }), 400, 'account.iban', /checksum/],
  ['PATCH: country changed without account details', async () => ({ method: 'PATCH', path: `/v1/bank-profiles/${euProfile.profileId}`, body: { country: 'FR' }, headers: ifMatch(euProfile.version) }), 400, 'account'],
  ['PATCH: unsupported currency', async () => ({ method: 'PATCH', path: `/v1/bank-profiles/${euProfile.profileId}`, body: { currency: 'EUX' }, headers: ifMatch(euProfile.version) }), 400, 'currency'],
  ['PATCH: currency of a default bank profile', async () => ({ method: 'PATCH', path: `/v1/bank-profiles/${usBankId}`, body: { currency: 'EUR' }, headers: ifMatch(1) }), 409, 'currency'],
  ['PATCH: duplicate name', async () => ({ method: 'PATCH', path: `/v1/bank-profiles/${usBankId}`, body: { name: euProfile.name }, headers: ifMatch(1) }), 409, 'name'],
  // null is no value to keep: refused (400 naming it), not read as "leave it" (which on an Action required profile
  // submitted it again); only taxId/vatId take null, to remove them
  ['PATCH: name null', async () => ({ method: 'PATCH', path: `/v1/bank-profiles/${euProfile.profileId}`, body: { name: null }, headers: ifMatch(euProfile.version) }), 400, 'name', /must not be null/],
  ['PATCH: beneficiary null', async () => ({ method: 'PATCH', path: `/v1/bank-profiles/${euProfile.profileId}`, body: { beneficiary: null }, headers: ifMatch(euProfile.version) }), 400, 'beneficiary', /must not be null/],
  ['PATCH: locationIds null', async () => ({ method: 'PATCH', path: `/v1/bank-profiles/${euProfile.profileId}`, body: { locationIds: null }, headers: ifMatch(euProfile.version) }), 400, 'locationIds', /must not be null/],
  // The tax id (VALID.tin 12-3456789) or VAT id in text shown in clear and sent in events: refused, as an account
  // number in a bank profile's names is. A PATCH's texts against the stored id.
  ['tax: the EIN in a document file name', async () => ({ method: 'POST', path: `/v1/locations/${w.L3}/tax-profile`, body: usTaxProfile({ documents: [{ fileName: 'W-9 EIN 12-3456789.pdf', contentType: 'application/pdf', sizeBytes: 1_000, uploadedAt: new Date().toISOString() }] }) }), 400, 'documents.0.fileName', /tax id or VAT id/],
  ['tax: the EIN in the trade name', async () => ({ method: 'POST', path: `/v1/locations/${w.L3}/tax-profile`, body: usTaxProfile({ businessProfile: { ...usTaxProfile().businessProfile, doingBusinessAs: 'Contoso 123456789' } }) }), 400, 'businessProfile.doingBusinessAs', /tax id or VAT id/],
  ['tax: the VAT id in the legal name', async () => ({ method: 'POST', path: `/v1/locations/${w.L3}/tax-profile`, body: nonUsTaxProfile({ businessProfile: { ...nonUsTaxProfile().businessProfile, legalName: `Contoso GmbH ${VALID.vat}` } }) }), 400, 'businessProfile.legalName', /tax id or VAT id/],
  ['tax: PATCH a legal name holding the stored EIN', async () => ({ method: 'PATCH', path: `/v1/locations/${w.L1}/tax-profile`, body: { businessProfile: { ...usTaxProfile().businessProfile, legalName: 'Contoso Inc (EIN 12 3456789)' } }, headers: ifMatch(1) }), 400, 'businessProfile.legalName', /tax id or VAT id/],
  // A stored id the request does not send is looked for by the last four its caller is shown (****6789) only: a number
  // that merely ends as it does is refused as the id itself is, so the answer tells nothing the mask does not.
  ['tax: PATCH a trade name holding a number ending as the stored EIN does', async () => ({ method: 'PATCH', path: `/v1/locations/${w.L1}/tax-profile`, body: { businessProfile: { ...usTaxProfile().businessProfile, doingBusinessAs: 'Contoso 99-9996789' } }, headers: ifMatch(1) }), 400, 'businessProfile.doingBusinessAs', /tax id or VAT id.*ending in its last four/],
  ['PATCH: a name holding a number ending as the stored IBAN does', async () => ({ method: 'PATCH', path: `/v1/bank-profiles/${euProfile.profileId}`, body: { name: 'EUR 9999993000' }, headers: ifMatch(euProfile.version) }), 400, 'name', /account number or IBAN.*ending in its last four/],
  ['tax: a W-8BEN-E expiring after its third calendar year', async () => ({ method: 'POST', path: `/v1/locations/${w.L3}/tax-profile`, body: nonUsTaxProfile({ expiresAt: `${new Date().getUTCFullYear() + 4}-01-02` }) }), 400, 'expiresAt', /W-8BEN-E is valid until the end of the third calendar year/],
  ['tax: PATCH expiresAt null', async () => ({ method: 'PATCH', path: `/v1/locations/${w.L1}/tax-profile`, body: { expiresAt: null }, headers: ifMatch(1) }), 400, 'expiresAt', /must not be null/],
  ['tax: PATCH documents null', async () => ({ method: 'PATCH', path: `/v1/locations/${w.L1}/tax-profile`, body: { documents: null }, headers: ifMatch(1) }), 400, 'documents', /must not be null/],
  ['tax: PATCH taxForm null', async () => ({ method: 'PATCH', path: `/v1/locations/${w.L1}/tax-profile`, body: { taxForm: null }, headers: ifMatch(1) }), 400, 'taxForm', /must not be null/],
  ['POST: locationIds null', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: ibanProfile({ locationIds: null }) }), 400, 'locationIds', /must not be null/],
  ['PATCH: malformed If-Match', async () => ({ method: 'PATCH', path: `/v1/bank-profiles/${usBankId}`, body: { name: 'x' }, headers: { 'if-match': 'yesterday' } }), 400, 'If-Match'],
  // Tax profiles
  ['tax: expired tax form date', async () => ({ method: 'POST', path: `/v1/locations/${w.L3}/tax-profile`, body: usTaxProfile({ expiresAt: inDays(-1) }) }), 400, 'expiresAt', /expired/],
  ['tax: PATCH to an expired date', async () => ({ method: 'PATCH', path: `/v1/locations/${w.L1}/tax-profile`, body: { expiresAt: inDays(-30) }, headers: ifMatch(1) }), 400, 'expiresAt', /expired/],
  ['tax: US TIN of 8 digits', async () => ({ method: 'POST', path: `/v1/locations/${w.L3}/tax-profile`, body: usTaxProfile({ taxId: '12-345678' }) }), 400, 'taxId'],
  ['tax: US without TIN', async () => ({ method: 'POST', path: `/v1/locations/${w.L3}/tax-profile`, body: usTaxProfile({ taxId: undefined }) }), 400, 'taxId', /required/],
  ['tax: non-US with a W-9', async () => ({ method: 'POST', path: `/v1/locations/${w.L3}/tax-profile`, body: nonUsTaxProfile({ taxForm: 'W-9' }) }), 400, 'taxForm', /W-8BEN-E/],
  ['tax: a German VAT id of 8 digits', async () => ({ method: 'POST', path: `/v1/locations/${w.L3}/tax-profile`, body: nonUsTaxProfile({ vatId: 'DE 1234 5678' }) }), 400, 'vatId', /^must be a VAT id of DE: DE then 9 digits$/],
  ['tax: VAT id for a US incorporation', async () => ({ method: 'POST', path: `/v1/locations/${w.L3}/tax-profile`, body: usTaxProfile({ vatId: 'DE123456789' }) }), 400, 'vatId'],
  ['tax: not a date', async () => ({ method: 'POST', path: `/v1/locations/${w.L3}/tax-profile`, body: usTaxProfile({ expiresAt: 'next year' }) }), 400, 'expiresAt'],
  // ISO 8601 forms a Date cannot read (a week date, an ordinal date, the basic format, an hour alone): 400, not a 500.
  ...['2030-W05', '2030-123', '20301231', '2030-12-31T10', '9999-12-31T23:00:00-05:00'].map((expiresAt): Case => [`tax: expiresAt ${expiresAt}`, async () => ({ method: 'POST', path: `/v1/locations/${w.L3}/tax-profile`, body: usTaxProfile({ expiresAt }) }), 400, 'expiresAt', /ISO 8601 date/]),
  ['tax: PATCH expiresAt a week date', async () => ({ method: 'PATCH', path: `/v1/locations/${w.L1}/tax-profile`, body: { expiresAt: '2030-W05' }, headers: ifMatch(1) }), 400, 'expiresAt', /ISO 8601 date/],
  ['tax: document uploadedAt a week date', async () => ({ method: 'POST', path: `/v1/locations/${w.L3}/tax-profile`, body: usTaxProfile({ documents: [{ fileName: 'w9.pdf', contentType: 'application/pdf', sizeBytes: 1_000, uploadedAt: '2026-W18' }] }) }), 400, 'documents.0.uploadedAt'],
  ['tax: document too large', async () => ({ method: 'POST', path: `/v1/locations/${w.L3}/tax-profile`, body: usTaxProfile({ documents: [{ fileName: 'w9.pdf', contentType: 'application/pdf', sizeBytes: 900_000_000, uploadedAt: new Date().toISOString() }] }) }), 400, 'documents.0.sizeBytes'],
  ['tax: no documents', async () => ({ method: 'POST', path: `/v1/locations/${w.L3}/tax-profile`, body: usTaxProfile({ documents: [] }) }), 400, 'documents'],
  // class-validator walks an array inside the list as a list: an empty one passed, and the database refused it (500).
  ['tax: a document that is an empty list', async () => ({ method: 'POST', path: `/v1/locations/${w.L3}/tax-profile`, body: usTaxProfile({ documents: [[]] }) }), 400, 'documents'],
  ['tax: PATCH a document that is an empty list', async () => ({ method: 'PATCH', path: `/v1/locations/${w.L1}/tax-profile`, body: { documents: [[]] }, headers: ifMatch(1) }), 400, 'documents'],
  // A blank tax id is refused, not read as "none" (which a non-US profile may have)
  ['tax: blank US TIN', async () => ({ method: 'POST', path: `/v1/locations/${w.L3}/tax-profile`, body: usTaxProfile({ taxId: '   ' }) }), 400, 'taxId', /must not be blank/],
  ['tax: blank foreign TIN', async () => ({ method: 'POST', path: `/v1/locations/${w.L3}/tax-profile`, body: nonUsTaxProfile({ incorporationCountry: 'GB', taxId: ' \t ' }) }), 400, 'taxId', /must not be blank/],
  ['tax: blank VAT id', async () => ({ method: 'POST', path: `/v1/locations/${w.L3}/tax-profile`, body: nonUsTaxProfile({ incorporationCountry: 'GB', vatId: '  ' }) }), 400, 'vatId', /must not be blank/],
  ['tax: PATCH a US TIN to blank', async () => ({ method: 'PATCH', path: `/v1/locations/${w.L1}/tax-profile`, body: { taxId: '  ' }, headers: ifMatch(1) }), 400, 'taxId', /must not be blank/],
  ['tax: PATCH a US TIN to null (required)', async () => ({ method: 'PATCH', path: `/v1/locations/${w.L1}/tax-profile`, body: { taxId: null }, headers: ifMatch(1) }), 400, 'taxId', /required/],
  // Defaults
  ['default: currency other than the profile\'s', async () => ({ method: 'PUT', path: `/v1/locations/${w.L3}/default-bank-profile`, body: { bankProfileId: usBankId, currency: 'EUR' } }), 400, 'currency'],
  ['default: unsupported currency', async () => ({ method: 'PUT', path: `/v1/locations/${w.L3}/default-bank-profile`, body: { bankProfileId: usBankId, currency: 'ZZZ' } }), 400, 'currency'],
  ['default: unknown bank profile', async () => ({ method: 'POST', path: '/v1/default-bank-profiles', body: { bankProfileId: randomUUID(), currency: 'USD', locationIds: [w.L1, w.L3] } }), 400, 'bankProfileId'],
  ['default: empty location list', async () => ({ method: 'POST', path: '/v1/default-bank-profiles', body: { bankProfileId: usBankId, currency: 'USD', locationIds: [] } }), 400, 'locationIds'],
  // Endpoints that take no body refuse any field in one (SPEC §4 "Unknown fields are rejected"), not ignore it
  ['default: DELETE with a body field', async () => ({ method: 'DELETE', path: `/v1/locations/${w.L1}/default-bank-profile`, body: { bankProfileId: usBankId } }), 400, 'bankProfileId', /should not exist/],
  ['operator: tax-expiry-scan with a body field', async () => ({ method: 'POST', path: '/v1/operator/tax-expiry-scan', body: { windowDays: 400 } }), 400, 'windowDays', /should not exist/],
  ['readiness: programId missing', async () => ({ method: 'GET', path: `/v1/readiness?locationId=${w.L1}`, body: undefined }), 400, 'programId'],
  // Paging of the lists: limit 1 to 1000, and a `cursor` only from the `nextCursor` of a page of the same list
  ['bank list: limit=0', async () => ({ method: 'GET', path: '/v1/bank-profiles?limit=0', body: undefined }), 400, 'limit'],
  ['bank list: limit=1001', async () => ({ method: 'GET', path: '/v1/bank-profiles?limit=1001', body: undefined }), 400, 'limit'],
  ['bank list: limit=ten', async () => ({ method: 'GET', path: '/v1/bank-profiles?limit=ten', body: undefined }), 400, 'limit'],
  ['bank list: a made-up cursor', async () => ({ method: 'GET', path: '/v1/bank-profiles?cursor=made-up', body: undefined }), 400, 'cursor', /nextCursor of a page/],
  ['bank list: a cursor of another shape', async () => ({ method: 'GET', path: `/v1/bank-profiles?cursor=${Buffer.from('["only one"]').toString('base64url')}`, body: undefined }), 400, 'cursor'],
  ['bank list: an unknown query field', async () => ({ method: 'GET', path: '/v1/bank-profiles?page=2', body: undefined }), 400, 'page', /should not exist/],
  ['tax list: limit=0', async () => ({ method: 'GET', path: '/v1/tax-profiles?limit=0', body: undefined }), 400, 'limit'],
  ['bank list: the tax list\'s cursor (the same shape)', async () => ({ method: 'GET', path: `/v1/bank-profiles?cursor=${Buffer.from(JSON.stringify(['tax-profiles', 'L1', 'x'])).toString('base64url')}`, body: undefined }), 400, 'cursor'],
  ['tax list: a made-up cursor', async () => ({ method: 'GET', path: '/v1/tax-profiles?cursor=made-up', body: undefined }), 400, 'cursor'],
  ['default list: limit=1001', async () => ({ method: 'GET', path: '/v1/default-bank-profiles?limit=1001', body: undefined }), 400, 'limit'],
  ['default list: a made-up cursor', async () => ({ method: 'GET', path: '/v1/default-bank-profiles?cursor=made-up', body: undefined }), 400, 'cursor'],
  // Shapes nothing walks: refused before the validation pipe and the Idempotency-Key fingerprint recurse through them
  // (a few kilobytes of nested arrays overflowed their stack: 500), and the names Nest's pipe drops without a word.
  ['a body nested 5,000 levels deep, with an Idempotency-Key', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: nested('name', 5_000, { country: 'US' }), headers: { 'idempotency-key': randomUUID() } }), 400, ['name', ...Array(31).fill('0')].join('.'), /nested more than 32 levels/],
  ['a tax profile nested 5,000 levels deep', async () => ({ method: 'POST', path: `/v1/locations/${w.L3}/tax-profile`, body: nested('businessProfile', 5_000, { incorporation: 'US' }) }), 400, ['businessProfile', ...Array(31).fill('0')].join('.'), /nested more than 32 levels/],
  ['a field named constructor', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: { ...usProfile(), constructor: { prototype: { admin: true } } } }), 400, 'constructor', /should not exist/],
  ['a field named __proto__', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: { ...usProfile(), ['__proto__']: { admin: true } } }), 400, '__proto__', /should not exist/],
  // class-transformer skips the names of Object's own methods: the pipe never saw them as unknown fields.
  ['a field named toString', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: { ...usProfile(), toString: 1 } }), 400, 'toString', /should not exist/],
  ['a beneficiary field named hasOwnProperty', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: usProfile({ beneficiary: { name: 'Contoso Inc', email: 'payments@contoso.example', hasOwnProperty: 'x' } }) }), 400, 'beneficiary.hasOwnProperty', /should not exist/],
  // Text that is no well-formed Unicode: isEmail threw on it (500), and the database stores U+FFFD in its place.
  ['an email with a lone surrogate', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: usProfile({ beneficiary: { name: 'Contoso Inc', email: 'pay@conto\ud800so.example' } }) }), 400, 'beneficiary.email', /well-formed Unicode/],
  ['a name with a lone surrogate', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: usProfile({ name: 'Account \udbff' }) }), 400, 'name', /well-formed Unicode/],
  // isEmail takes them; an SMTP client refuses them in an envelope, so no mail would ever reach them.
  ['an email with a line break in its quoted local part', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: usProfile({ beneficiary: { name: 'Contoso Inc', email: '"pay\r\nments"@contoso.example' } }) }), 400, 'beneficiary.email', /must be an email address/],
  ['a contact email with angle brackets', async () => ({ method: 'POST', path: `/v1/locations/${w.L3}/tax-profile`, body: usTaxProfile({ businessProfile: { ...usTaxProfile().businessProfile, contactEmail: '"<tax>"@contoso.example' } }) }), 400, 'businessProfile.contactEmail', /must be an email address/],
  // What validating costs is bounded before the pipe runs, whoever sends it (any token reaches the pipe).
  ['a list of 5,001 items', async () => ({ method: 'POST', path: `/v1/locations/${w.L3}/tax-profile`, body: usTaxProfile({ documents: Array.from({ length: 5_001 }, () => ({})) }) }), 400, 'documents', /must contain at most 5000 items/],
  ['an object of 201 fields', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: Object.fromEntries(Array.from({ length: 201 }, (_, i) => [`a${i}`, 0])) }), 400, 'body', /must have at most 200 fields/],
  ['operator: outbox requeue with a body field', async () => ({ method: 'POST', path: '/v1/operator/outbox/parked/requeue', body: { everything: true } }), 400, 'everything', /should not exist/],
  // Operator decisions
  ['operator: ACTION_REQUIRED without reasons', async () => ({ method: 'POST', path: `/v1/operator/profiles/${usBankId}/validation`, body: { revision: 1, outcome: 'ACTION_REQUIRED' } }), 400, 'reasons'],
  ['operator: ACTION_REQUIRED with a blank reason', async () => ({ method: 'POST', path: `/v1/operator/profiles/${usBankId}/validation`, body: { revision: 1, outcome: 'ACTION_REQUIRED', reasons: ['  '] } }), 400, 'reasons', /must not be blank/],
  ['operator: a blank reason next to a real one', async () => ({ method: 'POST', path: `/v1/operator/profiles/${usBankId}/validation`, body: { revision: 1, outcome: 'ACTION_REQUIRED', reasons: ['Bank statement missing', ' \t '] } }), 400, 'reasons', /must not be blank/],
  ['operator: a revision that does not exist yet', async () => ({ method: 'POST', path: `/v1/operator/profiles/${usBankId}/validation`, body: { revision: 9, outcome: 'APPROVED' } }), 400, 'revision'],
  // A write's condition no write here checks: refused, not dropped (L1 has a default: "create only" must not replace it).
  ['default: create only (If-None-Match: *) where there is one', async () => ({ method: 'PUT', path: `/v1/locations/${w.L1}/default-bank-profile`, body: { bankProfileId: euProfile.profileId, currency: 'EUR' }, headers: { 'if-none-match': '*' } }), 400, 'If-None-Match'],
  // If-Match on a write that checks no version: it would replace L1's default whatever its version is now.
  ['defaults: If-Match on the list assignment, which checks no version', async () => ({ method: 'POST', path: '/v1/default-bank-profiles', body: { bankProfileId: euProfile.profileId, currency: 'EUR', locationIds: [w.L1] }, headers: { 'if-match': '"1"' } }), 400, 'If-Match', /checks no version/],
  ['bank profile: If-Match on a creation', async () => ({ method: 'POST', path: '/v1/bank-profiles', body: usProfile({ name: 'With If-Match' }), headers: { 'if-match': '"1"' } }), 400, 'If-Match', /checks no version/],
  ['operator: If-Match on a decision, which checks the revision in its body', async () => ({ method: 'POST', path: `/v1/operator/profiles/${usBankId}/validation`, body: { revision: 1, outcome: 'APPROVED' }, headers: { 'if-match': '"1"' } }), 400, 'If-Match', /checks no version/],
];

describe('bad input: problem+json naming the field, nothing stored changes', () => {
  // A rest parameter: jest gives a test function with more parameters than its row a `done` callback (and then
  // waits for it), and the rows without a message pattern have four entries.
  it.each(CASES)('%s', async (...[, request, status, field, message]: Case) => {
    const before = await stored();
    const { method, path, body, headers } = await request();
    const isOperator = path.startsWith('/v1/operator');
    const answer = await call(h, method, path, {
      token: isOperator ? undefined : admin,
      body,
      headers: { ...headers, ...(isOperator && { 'x-operator-key': h.service.env.OPERATOR_TOKEN }) },
    });
    expectProblem(answer, status, field, message);
    expect(await stored()).toEqual(before);
  });

  it("names a tax profile's problems at once: the form's limit on the expiry beside a bad VAT id, a form change's needs beside a wrong country", async () => {
    const before = await stored();
    const fields = (answer: { body: { errors?: Array<{ field: string }> } }) => (answer.body.errors ?? []).map((e) => e.field).sort();
    const created = await call(h, 'POST', `/v1/locations/${w.L3}/tax-profile`, {
      token: admin,
      body: nonUsTaxProfile({ vatId: 'DE!', expiresAt: `${new Date().getUTCFullYear() + 4}-01-02` }),
    });
    expect(created.status).toBe(400);
    expect(fields(created)).toEqual(['expiresAt', 'vatId']);
    // US to non-US, the country left US: the country, the TIN left out, and the W-8BEN-E's documents and expiry.
    const patched = await call(h, 'PATCH', `/v1/locations/${w.L1}/tax-profile`, { token: admin, body: { incorporation: 'NON_US' }, headers: ifMatch(1) });
    expect(patched.status).toBe(400);
    expect(fields(patched)).toEqual(['documents', 'expiresAt', 'incorporationCountry', 'taxId']);
    expect(await stored()).toEqual(before);
  });

  it('lists the first 100 field problems of a body with many, and says how many there were', async () => {
    const documents = Array.from({ length: 5_000 }, () => ({}));
    const answer = await call(h, 'POST', `/v1/locations/${w.L3}/tax-profile`, { token: admin, body: usTaxProfile({ documents }) });
    expect(answer.status).toBe(400);
    expect(answer.body.errors).toHaveLength(100);
    expect(answer.body.detail).toMatch(/^The request has invalid fields; the first 100 of \d+ are listed\.$/);
  });

  it('never echoes a secret in an error', async () => {
    const answer = await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: ibanProfile({ account: { iban: 'DE89370400440532013001', bic: 'COBADEFF' } }) });
    expect(JSON.stringify(answer.body)).not.toContain('370400440532013001');
  });
});

describe('the tax ids of a non-US profile: blank is refused, null removes', () => {
  // L2 is adminOfOtherLocation's: a profile of its own, so that the cases above compare documents that do not change here.
  let other: string;
  const path = () => `/v1/locations/${w.L2}/tax-profile`;
  const raw = () => h.db.collection('tax_profiles').findOne({ locationId: w.L2 }, { projection: { outbox: 0 } });

  beforeAll(async () => {
    other = await w.token('adminOfOtherLocation');
    const created = await call(h, 'POST', path(), { token: other, body: nonUsTaxProfile({ taxId: 'FTIN55512345' }) });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ maskedTaxId: '****2345', maskedVatId: '****6789' });
  });

  it.each([
    ['a blank foreign TIN', { taxId: '   ' }, 'taxId'],
    ['a blank VAT id', { vatId: ' \t ' }, 'vatId'],
  ])('a PATCH with %s is refused (400 "must not be blank"), the stored one stays', async (_, body, field) => {
    const before = await raw();
    const answer = await call(h, 'PATCH', path(), { token: other, body, headers: ifMatch(before!.version) });
    expectProblem(answer, 400, field, new RegExp(`^${field} must not be blank$`));
    expect(await raw()).toEqual(before);
  });

  it('a PATCH with taxId: null removes the foreign TIN (as vatId: null removes the VAT id): a new revision', async () => {
    const before = await raw();
    const answer = await call(h, 'PATCH', path(), { token: other, body: { taxId: null }, headers: ifMatch(before!.version) });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ maskedTaxId: null, maskedVatId: '****6789', revision: before!.revision + 1, status: 'PENDING_VALIDATION' });
    const after = await raw();
    expect(after).not.toHaveProperty('sealedTaxId');
    expect(after!.sealedVatId).toBeDefined();
    const vat = await call(h, 'PATCH', path(), { token: other, body: { vatId: null }, headers: ifMatch(after!.version) });
    expect(vat.body).toMatchObject({ maskedTaxId: null, maskedVatId: null, revision: before!.revision + 2 });
  });

  it("judges a new expiry date by the service's Clock: a year away is refused as expired when the clock reads two years on", async () => {
    const clock = jest.spyOn(h.service.app.get(Clock), 'now').mockImplementation(() => new Date(Date.now() + 730 * 86_400_000));
    try {
      const before = await raw();
      const answer = await call(h, 'PATCH', path(), { token: other, body: { expiresAt: inDays(365) }, headers: ifMatch(before!.version) });
      expectProblem(answer, 400, 'expiresAt', /expired/);
      expect(await raw()).toEqual(before);
    } finally {
      clock.mockRestore();
    }
  });

  it('a PATCH leaving a stored expiry date that has passed is refused (400 on expiresAt), unless it sends a new one', async () => {
    await h.db.collection('tax_profiles').updateOne({ locationId: w.L2 }, { $set: { expiresAt: new Date(Date.now() - 86_400_000) } });
    const before = await raw();
    const answer = await call(h, 'PATCH', path(), { token: other, body: { vatId: 'DE999999999' }, headers: ifMatch(before!.version) });
    expectProblem(answer, 400, 'expiresAt', /expired/);
    expect(await raw()).toEqual(before);
    const renewed = await call(h, 'PATCH', path(), { token: other, body: { vatId: 'DE999999999', expiresAt: inDays(365) }, headers: ifMatch(before!.version) });
    expect(renewed.status).toBe(200);
    expect(renewed.body).toMatchObject({ revision: before!.revision + 1, status: 'PENDING_VALIDATION' });
  });

  it("a PATCH to another incorporation country must send its stored tax ids again or null (they were the other country's): 400 otherwise, nothing changed; the same country keeps them", async () => {
    const before = await raw();
    const withIds = await call(h, 'PATCH', path(), { token: other, body: { taxId: 'FTIN55512345', vatId: 'DE999999999' }, headers: ifMatch(before!.version) });
    expect(withIds.body).toMatchObject({ incorporationCountry: 'DE', maskedTaxId: '****2345', maskedVatId: '****9999' });
    const same = await call(h, 'PATCH', path(), { token: other, body: { incorporationCountry: 'DE', expiresAt: inDays(300) }, headers: ifMatch((await raw())!.version) });
    expect(same.body).toMatchObject({ incorporationCountry: 'DE', maskedTaxId: '****2345', maskedVatId: '****9999' });
    const unchanged = await raw();
    const silent = await call(h, 'PATCH', path(), { token: other, body: { incorporationCountry: 'FR' }, headers: ifMatch(unchanged!.version) });
    expect(silent.status).toBe(400);
    expect(silent.body.errors.map((e: { field: string }) => e.field)).toEqual(['taxId', 'vatId']);
    expect(await raw()).toEqual(unchanged);
    const moved = await call(h, 'PATCH', path(), { token: other, body: { incorporationCountry: 'FR', taxId: null, vatId: null }, headers: ifMatch(unchanged!.version) });
    expect(moved.status).toBe(200);
    expect(moved.body).toMatchObject({ incorporationCountry: 'FR', maskedTaxId: null, maskedVatId: null, revision: same.body.revision + 1 });
    const after = await raw();
    expect(after).not.toHaveProperty('sealedTaxId');
    expect(after).not.toHaveProperty('sealedVatId');
    const given = await call(h, 'PATCH', path(), { token: other, body: { incorporationCountry: 'AT', vatId: 'ATU12345678' }, headers: ifMatch(after!.version) });
    expect(given.body).toMatchObject({ incorporationCountry: 'AT', maskedTaxId: null, maskedVatId: '****5678' });
    // To a US incorporation, another form: its documents and expiry are required (the stored ones are the W-8BEN-E's).
    const beforeForm = await raw();
    const formLeftOut = await call(h, 'PATCH', path(), { token: other, body: { incorporation: 'US', incorporationCountry: 'US', taxId: '12-3456789' }, headers: ifMatch(beforeForm!.version) });
    expect(formLeftOut.status).toBe(400);
    expect(formLeftOut.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['documents', 'expiresAt']);
    expect(await raw()).toEqual(beforeForm);
    const w9 = { documents: usTaxProfile().documents, expiresAt: inDays(365) };
    // Its TIN is required (sent), and it holds no VAT id: the stored one goes without being named.
    const us = await call(h, 'PATCH', path(), {
      token: other,
      body: { incorporation: 'US', incorporationCountry: 'US', taxId: '12-3456789', ...w9 },
      headers: ifMatch(beforeForm!.version),
    });
    expect(us.status).toBe(200);
    expect(us.body).toMatchObject({ incorporation: 'US', maskedTaxId: '****6789', maskedVatId: null });
    // Back to non-US, the US TIN left out: named with the other problems of the request at once (the W-8BEN-E's
    // documents and expiry too, its form following from the incorporation whatever taxForm says).
    const back = await call(h, 'PATCH', path(), { token: other, body: { incorporation: 'NON_US', incorporationCountry: 'DE', taxForm: 'W-9' }, headers: ifMatch((await raw())!.version) });
    expect(back.status).toBe(400);
    expect(back.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['documents', 'expiresAt', 'taxForm', 'taxId']);
    const w8 = { documents: nonUsTaxProfile().documents, expiresAt: inDays(365) };
    const nonUs = await call(h, 'PATCH', path(), { token: other, body: { incorporation: 'NON_US', incorporationCountry: 'DE', taxId: null, ...w8 }, headers: ifMatch((await raw())!.version) });
    expect(nonUs.body).toMatchObject({ incorporation: 'NON_US', maskedTaxId: null, maskedVatId: null });
  });

  it("takes back a W-8BEN-E's stored expiry beyond its limit (stored before the limit) sent again as it is, not a new one there", async () => {
    const far = new Date(Date.UTC(new Date().getUTCFullYear() + 6, 0, 1));
    await h.db.collection('tax_profiles').updateOne({ locationId: w.L2 }, { $set: { expiresAt: far } });
    const businessProfile = { ...nonUsTaxProfile().businessProfile, doingBusinessAs: 'Contoso Europe' };
    const again = await call(h, 'PATCH', path(), { token: other, body: { expiresAt: far.toISOString(), businessProfile }, headers: ifMatch((await raw())!.version) });
    expect(again.status).toBe(200);
    const later = await call(h, 'PATCH', path(), { token: other, body: { expiresAt: new Date(+far + 86_400_000).toISOString() }, headers: ifMatch((await raw())!.version) });
    expect(later.status).toBe(400);
    expect(later.body.errors).toEqual([expect.objectContaining({ field: 'expiresAt', message: expect.stringContaining('W-8BEN-E') })]);
    await call(h, 'PATCH', path(), { token: other, body: { expiresAt: inDays(365) }, headers: ifMatch((await raw())!.version) });
  });

  it("takes a VAT id stored before its country's layout was checked when left out; one sent is checked, the stored one sent again too", async () => {
    const before = await raw();
    const id = String(before!._id);
    const secrets = h.service.app.get(SecretBox);
    await h.db.collection('tax_profiles').updateOne({ _id: id as never }, { $set: { sealedVatId: secrets.seal('DE12345678', `${id}:vatId`), maskedVatId: '****5678' } });
    const businessProfile = { ...nonUsTaxProfile().businessProfile, doingBusinessAs: 'Contoso Deutschland' };
    const leftOut = await call(h, 'PATCH', path(), { token: other, body: { businessProfile }, headers: ifMatch(before!.version) });
    expect(leftOut.status).toBe(200);
    expect(leftOut.body.maskedVatId).toBe('****5678');
    // Taken as it is (no layout check) only if it is the stored one: the answer would tell an editor shown ****5678
    // whether a guess was the VAT id.
    const again = await call(h, 'PATCH', path(), { token: other, body: { vatId: 'de 1234 5678', expiresAt: inDays(200) }, headers: ifMatch(leftOut.body.version) });
    expectProblem(again, 400, 'vatId', /^must be a VAT id of DE: DE then 9 digits$/);
    const changed = await raw();
    expect(changed).toMatchObject({ version: leftOut.body.version, maskedVatId: '****5678' });
    const typo = await call(h, 'PATCH', path(), { token: other, body: { vatId: 'DE 1234 567' }, headers: ifMatch(changed!.version) });
    expectProblem(typo, 400, 'vatId', /^must be a VAT id of DE: DE then 9 digits$/);
    expect(await raw()).toEqual(changed);
    const fixed = await call(h, 'PATCH', path(), { token: other, body: { vatId: 'DE 123 456 789' }, headers: ifMatch(changed!.version) });
    expect(fixed.body).toMatchObject({ maskedVatId: '****6789' });
  });

  it('reads a foreign TIN of 30 letters or digits pasted in groups of two (44 characters with the dashes) as those 30', async () => {
    const grouped = 'AB-12-34-56-78-90-CD-12-34-56-78-90-EF-12-34';
    expect(grouped.length).toBe(44);
    const answer = await call(h, 'PATCH', path(), { token: other, body: { taxId: grouped }, headers: ifMatch((await raw())!.version) });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ maskedTaxId: '****1234' });
  });
});

describe('concurrency and retries', () => {
  it('a stale If-Match answers 412 with the current version, and changes nothing', async () => {
    const before = await stored();
    const answer = await call(h, 'PATCH', `/v1/bank-profiles/${euProfile.profileId}`, { token: admin, body: { name: `x ${randomUUID()}` }, headers: ifMatch(euProfile.version + 7) });
    expect(answer.status).toBe(412);
    expect(answer.body).toMatchObject({ currentVersion: euProfile.version });
    expect(await stored()).toEqual(before);
  });

  it('an update without If-Match answers 428', async () => {
    const answer = await call(h, 'PATCH', `/v1/bank-profiles/${euProfile.profileId}`, { token: admin, body: { name: 'x' } });
    expect(answer.status).toBe(428);
  });

  it("a tax profile's PATCH with a stale If-Match answers 412 with the current version, without one 428; nothing changes", async () => {
    const path = `/v1/locations/${w.L1}/tax-profile`;
    const current = (await call(h, 'GET', path, { token: admin })).body;
    const before = await stored();
    const stale = await call(h, 'PATCH', path, { token: admin, body: { expiresAt: inDays(500) }, headers: ifMatch(current.version + 3) });
    expect(stale.status).toBe(412);
    expect(stale.body).toMatchObject({ currentVersion: current.version });
    const without = await call(h, 'PATCH', path, { token: admin, body: { expiresAt: inDays(500) } });
    expect(without.status).toBe(428);
    expect(await stored()).toEqual(before);
  });

  it("another partner may name a bank profile as this partner's is named (unique per partner, SPEC 1)", async () => {
    const other = await w.token('otherPartnerAdmin');
    const answer = await call(h, 'POST', '/v1/bank-profiles', { token: other, body: ibanProfile({ name: euProfile.name }) });
    expect(answer.status).toBe(201);
    expect(await h.db.collection('bank_profiles').countDocuments({ name: euProfile.name })).toBe(2);
  });

  it('a default assignment retried with the same Idempotency-Key gets the first answer (its outcome and versions), assigned once', async () => {
    const fresh = await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: usProfile() });
    expect(fresh.status).toBe(201);
    const headers = { 'idempotency-key': randomUUID() };
    const body = { bankProfileId: fresh.body.profileId, currency: 'USD', locationIds: [w.L3] };
    const first = await call(h, 'POST', '/v1/default-bank-profiles', { token: admin, body, headers });
    expect(first.status).toBe(200);
    const second = await call(h, 'POST', '/v1/default-bank-profiles', { token: admin, body, headers });
    expect(second.status).toBe(200);
    expect(second.body).toEqual(first.body);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    // Sent again without the key it is a new request: the location already has that default.
    const unkeyed = await call(h, 'POST', '/v1/default-bank-profiles', { token: admin, body });
    expect(unkeyed.body.locations[0].outcome).not.toBe(first.body.locations[0].outcome);
    expect(await h.db.collection('default_bank_profiles').countDocuments({ locationId: w.L3 })).toBe(1);
  });

  it('a retried create with the same Idempotency-Key gets the first answer and creates one profile', async () => {
    const key = randomUUID();
    const body = usProfile();
    const first = await call(h, 'POST', '/v1/bank-profiles', { token: admin, body, headers: { 'idempotency-key': key } });
    const second = await call(h, 'POST', '/v1/bank-profiles', { token: admin, body, headers: { 'idempotency-key': key } });
    expect(first.status).toBe(201);
    expect(second.status).toBe(201);
    expect(second.body.profileId).toBe(first.body.profileId);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(await h.db.collection('bank_profiles').countDocuments({ partnerId: w.partnerId, name: body.name })).toBe(1);
  });

  // The answer lost (a crash after the write, before it was stored for the key): the retry runs again, and meets the
  // profile it made itself.
  it('a create retried under its Idempotency-Key after its answer was lost answers the profile it made, not 409', async () => {
    const lost = async (path: string, body: Record<string, unknown>, changed: unknown, created: (answer: Awaited<ReturnType<typeof call>>) => Promise<number>) => {
      const headers = { 'idempotency-key': randomUUID() };
      const startedAt = new Date();
      const first = await call(h, 'POST', path, { token: admin, body, headers });
      expect(first.status).toBe(201);
      expect((await h.db.collection('idempotency_keys').deleteMany({ createdAt: { $gte: startedAt } })).deletedCount).toBeGreaterThan(0);
      const retry = await call(h, 'POST', path, { token: admin, body, headers });
      expect(retry.status).toBe(201);
      expect(retry.body).toEqual(first.body);
      expect(await created(retry)).toBe(1);
      // Another request (another key) for the same name or location is still refused.
      const again = await call(h, 'POST', path, { token: admin, body, headers: { 'idempotency-key': randomUUID() } });
      // Naming what is taken: the bank profile's name, the tax profile's location.
      expect(again).toMatchObject({ status: 409, body: { errors: [expect.objectContaining({ field: path.endsWith('/tax-profile') ? 'locationId' : 'name' })] } });
      // Another request under the same key, its answer gone: 422, not the first profile.
      expect((await h.db.collection('idempotency_keys').deleteMany({ createdAt: { $gte: startedAt } })).deletedCount).toBeGreaterThan(0);
      const other = await call(h, 'POST', path, { token: admin, body: changed, headers });
      expect(other).toMatchObject({ status: 422, body: expect.objectContaining({ type: expect.stringMatching(/idempotency-key-reused$/) }) });
      expect(await created(retry)).toBe(1);
    };
    const bank = usProfile({ name: `Lost answer ${randomUUID().slice(0, 8)}` });
    await lost('/v1/bank-profiles', bank, { ...bank, name: `${bank.name} 2` }, async () => h.db.collection('bank_profiles').countDocuments({ partnerId: w.partnerId, name: bank.name }));
    const tax = usTaxProfile();
    await lost(`/v1/locations/${w.L3}/tax-profile`, tax, { ...tax, expiresAt: inDays(400) }, async () => h.db.collection('tax_profiles').countDocuments({ locationId: w.L3 }));
  });

  /**
   * A bank profile created, then made to serve `locationIds` (another admin's change), then the same create retried
   * under its Idempotency-Key with its stored answer gone (lost): the first answer, the retry's, and the body.
   */
  async function retriedAfterServing(name: string, locationIds: string[]) {
    const headers = { 'idempotency-key': randomUUID() };
    const startedAt = new Date();
    const body = usProfile({ name: `${name} ${randomUUID().slice(0, 8)}` });
    const first = await call(h, 'POST', '/v1/bank-profiles', { token: admin, body, headers });
    expect(first.status).toBe(201);
    await h.db.collection('bank_profiles').updateOne({ _id: first.body.profileId }, { $set: { locationIds } });
    expect((await h.db.collection('idempotency_keys').deleteMany({ createdAt: { $gte: startedAt } })).deletedCount).toBeGreaterThan(0);
    return { first, retry: await call(h, 'POST', '/v1/bank-profiles', { token: admin, body, headers }), body };
  }

  // The profile it made serves other locations since (a `*` admin narrowed it): the retry, its answer gone, does not
  // hand the caller a profile they may no longer read (its beneficiary, bank, masked account), as GET would not.
  it('a create retried after its answer was lost answers 403 once the profile it made serves none of the caller\'s locations', async () => {
    const { first, retry, body } = await retriedAfterServing('Narrowed since', [w.L2]);
    expect(retry.status).toBe(403);
    expect(retry.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(JSON.stringify(retry.body)).not.toContain(body.name);
    expect((await call(h, 'GET', `/v1/bank-profiles/${first.body.profileId}`, { token: admin })).status).toBe(403);
    expect(await h.db.collection('bank_profiles').countDocuments({ partnerId: w.partnerId, name: body.name })).toBe(1);
  });

  // Widened since by another admin: the retry answers the profile as GET shows it to the caller (their locations).
  it('a create retried after its answer was lost shows of the locations the profile serves now those the caller holds a role on', async () => {
    const { first, retry } = await retriedAfterServing('Widened since', [w.L1, w.L2, w.L3].sort());
    expect(retry.status).toBe(201);
    expect(retry.body.locationIds).toEqual([w.L1, w.L3].sort());
    expect((await call(h, 'GET', `/v1/bank-profiles/${first.body.profileId}`, { token: admin })).body.locationIds).toEqual(retry.body.locationIds);
  });

  it('text is stored trimmed', async () => {
    const created = await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: ibanProfile({ name: '  Trimmed account  ', beneficiary: { name: ' Contoso GmbH ', email: 'payments@contoso.example' } }) });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: 'Trimmed account', beneficiary: { name: 'Contoso GmbH' } });
    // Validation reasons: trimmed (and repeated ones dropped) by the command both the operator and the back office use.
    const decided = await call(h, 'POST', `/v1/operator/profiles/${created.body.profileId}/validation`, {
      headers: { 'x-operator-key': h.service.env.OPERATOR_TOKEN },
      body: { revision: 1, outcome: 'ACTION_REQUIRED', reasons: ['  Bank statement missing  ', 'Bank statement missing'] },
    });
    expect(decided.status).toBe(200);
    expect(decided.body).toMatchObject({ status: 'ACTION_REQUIRED', reasons: ['Bank statement missing'] });
  });

  // Stored before names were compared without runs of spaces or Unicode composition (15c43b1): "EUR  legacy" kept the
  // key "eur  legacy", next to another profile whose name the new rule makes equal. Editing it must not depend on that.
  it('a profile whose name key predates the rule: an edit that does not send a new name makes no new revision and no 409', async () => {
    const run = randomUUID().slice(0, 8);
    const other = await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: ibanProfile({ name: `EUR legacy ${run}` }) });
    const legacy = await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: ibanProfile({ name: `EUR legacy-to-be ${run}` }) });
    expect([other.status, legacy.status]).toEqual([201, 201]);
    const legacyName = `EUR  legacy ${run}`;
    await h.db.collection('bank_profiles').updateOne({ _id: legacy.body.profileId } as never, { $set: { name: legacyName, nameKey: legacyName.toLowerCase() } });
    let current = await call(h, 'GET', `/v1/bank-profiles/${legacy.body.profileId}`, { token: admin });
    for (const body of [{ currency: 'EUR' }, { name: legacyName }, { beneficiary: { name: 'Contoso GmbH', email: 'payments@contoso.example' } }]) {
      const edited = await call(h, 'PATCH', `/v1/bank-profiles/${legacy.body.profileId}`, { token: admin, body, headers: ifMatch(current.body.version) });
      expect({ body, status: edited.status }).toEqual({ body, status: 200 });
      expect(edited.body).toMatchObject({ revision: current.body.revision, status: current.body.status });
      current = edited;
    }
  });

  // The account is shown masked (****3000): answered as no change when it is the stored one, an account sent would tell
  // an editor whether a guess was the account (one PATCH a guess). Any account sent is a new revision.
  it('sending the same details again is not a new revision; an account sent is one, the stored one as any other', async () => {
    const current = await call(h, 'GET', `/v1/bank-profiles/${euProfile.profileId}`, { token: admin });
    const again = await call(h, 'PATCH', `/v1/bank-profiles/${euProfile.profileId}`, { token: admin, body: { name: current.body.name }, headers: ifMatch(current.body.version) });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ revision: current.body.revision, version: current.body.version });
    const answer = async (iban: string, bic: string) => {
      const before = await call(h, 'GET', `/v1/bank-profiles/${euProfile.profileId}`, { token: admin });
      const sent = await call(h, 'PATCH', `/v1/bank-profiles/${euProfile.profileId}`, { token: admin, body: { name: before.body.name, account: { iban, bic } }, headers: ifMatch(before.body.version) });
      expect(sent.status).toBe(200);
      return { revision: sent.body.revision - before.body.revision, version: sent.body.version - before.body.version, status: sent.body.status };
    };
    const stored = await answer('DE89370400440532013000', 'COBADEFFXXX');
    expect(stored).toEqual({ revision: 1, version: 1, status: 'PENDING_VALIDATION' });
    expect(await answer('DE02120300000000202051', 'BYLADEM1001')).toEqual(stored);
    expect(await answer('DE89370400440532013000', 'COBADEFFXXX')).toEqual(stored);
  });

  it('a null stored before nulls were refused reads as left out: the same details sent without it are no new revision', async () => {
    const created = await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: ibanProfile({ beneficiary: { name: 'Contoso GmbH', email: 'payments@contoso.example' } }) });
    expect(created.status).toBe(201);
    await h.db.collection('bank_profiles').updateOne({ _id: created.body.profileId } as never, { $set: { 'beneficiary.phone': null } });
    const current = await call(h, 'GET', `/v1/bank-profiles/${created.body.profileId}`, { token: admin });
    const again = await call(h, 'PATCH', `/v1/bank-profiles/${created.body.profileId}`, {
      token: admin,
      body: { beneficiary: { name: 'Contoso GmbH', email: 'payments@contoso.example' } },
      headers: ifMatch(current.body.version),
    });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ revision: current.body.revision, status: current.body.status });
  });

  it('a name stored holding the account (before names were checked) is left alone by a PATCH that does not send it', async () => {
    const created = await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: ibanProfile() });
    expect(created.status).toBe(201);
    await h.db.collection('bank_profiles').updateOne({ _id: created.body.profileId } as never, { $set: { name: `EUR ${VALID.iban}` } });
    const current = await call(h, 'GET', `/v1/bank-profiles/${created.body.profileId}`, { token: admin });
    const beneficiary = await call(h, 'PATCH', `/v1/bank-profiles/${created.body.profileId}`, {
      token: admin,
      body: { beneficiary: { name: 'Contoso GmbH', email: 'finance@contoso.example' } },
      headers: ifMatch(current.body.version),
    });
    expect(beneficiary.status).toBe(200);
    // Sent again, or with a new account, it is checked: 400 on name.
    const renamed = await call(h, 'PATCH', `/v1/bank-profiles/${created.body.profileId}`, { token: admin, body: { name: `EUR ${VALID.iban}` }, headers: ifMatch(beneficiary.body.version) });
    expect(renamed.status).toBe(400);
    expect(renamed.body.errors).toEqual([expect.objectContaining({ field: 'name' })]);
  });

  it("a tax profile's texts stored holding its tax id (before texts were checked) are left alone by a PATCH sending them again as stored; a changed one, or a new id, checks them", async () => {
    const token = await w.token('adminOfOtherLocation');
    // L2's tax profile (another test may have made it already).
    const read = await call(h, 'GET', `/v1/locations/${w.L2}/tax-profile`, { token });
    const created = read.status === 200 ? read : await call(h, 'POST', `/v1/locations/${w.L2}/tax-profile`, { token, body: usTaxProfile() });
    expect(created.status).toBeLessThan(300);
    // Its tax id made the US one of usTaxProfile (12-3456789), and texts holding it written as an earlier release could.
    const withId = await call(h, 'PATCH', `/v1/locations/${w.L2}/tax-profile`, { token, body: { incorporation: 'US', incorporationCountry: 'US', taxId: VALID.tin, documents: usTaxProfile().documents, expiresAt: inDays(365) }, headers: ifMatch(created.body.version) });
    expect(withId.status).toBe(200);
    const stored = { ...usTaxProfile().businessProfile, doingBusinessAs: 'Contoso EIN 12-3456789' };
    const documents = [{ fileName: 'W-9 EIN 12-3456789.pdf', contentType: 'application/pdf', sizeBytes: 1_000, uploadedAt: new Date().toISOString() }];
    await h.db.collection('tax_profiles').updateOne({ _id: created.body.profileId } as never, { $set: { businessProfile: stored, documents: documents.map((d) => ({ ...d, uploadedAt: new Date(d.uploadedAt) })) } });
    const patch = (body: Record<string, unknown>, version: number) => call(h, 'PATCH', `/v1/locations/${w.L2}/tax-profile`, { token, body, headers: ifMatch(version) });
    // The business profile sent whole, only its contact email new; the documents sent again with one added.
    const contact = await patch({ businessProfile: { ...stored, contactEmail: 'tax@contoso.example' } }, (await call(h, 'GET', `/v1/locations/${w.L2}/tax-profile`, { token })).body.version);
    expect(contact.status).toBe(200);
    const added = await patch({ documents: [...documents, { fileName: 'w-9 2027.pdf', contentType: 'application/pdf', sizeBytes: 1_000, uploadedAt: new Date().toISOString() }] }, contact.body.version);
    expect(added.status).toBe(200);
    // A text changed to hold it, and a new tax id against every text: checked.
    const renamed = await patch({ businessProfile: { ...stored, legalName: 'Contoso Inc 123456789' } }, added.body.version);
    expect(renamed.status).toBe(400);
    expect(renamed.body.errors).toEqual([expect.objectContaining({ field: 'businessProfile.legalName' })]);
    const newId = await patch({ taxId: '98-7654321', documents: [{ ...documents[0], fileName: 'W-9 EIN 98-7654321.pdf' }] }, added.body.version);
    expect(newId.status).toBe(400);
    expect(newId.body.errors).toEqual([expect.objectContaining({ field: 'documents.0.fileName' })]);
  });
});

describe('documentation', () => {
  it('serves the OpenAPI page at /docs and the document at /docs-json', async () => {
    await expect(servedDocs(h.service.url, ['/v1/bank-profiles', '/v1/locations/{locationId}/tax-profile', '/v1/readiness', '/v1/operator/profiles/{profileId}'])).resolves.toBeDefined();
  });
});
