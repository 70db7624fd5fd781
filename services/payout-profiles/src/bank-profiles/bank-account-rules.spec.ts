import { abaChecksumValid, abaPrefixValid, ibanChecksumValid } from '../reference/iban';
import { checkBankAccount, schemeFor, SCHEMES } from './bank-account-rules';

describe('IBAN and ABA checksums', () => {
  it.each(['DE89370400440532013000', 'GB82WEST12345698765432', 'FR1420041010050500013M02606', 'NL91ABNA0417164300', 'NO9386011117947'])(
    'accepts the valid IBAN %s',
    (iban) => expect(ibanChecksumValid(iban)).toBe(true),
  );
  // DE01…, which the remainder alone takes as it takes DE98… (01 ≡ 98 mod 97): ISO 7064 computes 02 to 98 only.
  it('accepts the check digits 98 and rejects the 01 that reads the same modulo 97', () => {
    expect(ibanChecksumValid('DE98370400440532013032')).toBe(true);
    expect(ibanChecksumValid('DE01370400440532013032')).toBe(false);
  });
  it.each(['DE89370400440532013001', 'GB82WEST12345698765433', 'NL91ABNA0417164301'])('rejects %s', (iban) =>
    expect(ibanChecksumValid(iban)).toBe(false),
  );
  it('checks ABA routing numbers', () => {
    expect(abaChecksumValid('021000021')).toBe(true);
    expect(abaChecksumValid('011000015')).toBe(true);
    expect(abaChecksumValid('021000022')).toBe(false);
    expect(abaChecksumValid('02100002')).toBe(false);
  });
  it('checks the first two digits of ABA routing numbers (no all-zero one, whose checksum holds)', () => {
    expect(abaChecksumValid('000000000')).toBe(true);
    expect(abaPrefixValid('000000000')).toBe(false);
    expect(['021000021', '011000015', '000000518', '322271627', '611000012', '800000011'].every(abaPrefixValid)).toBe(true);
    expect(['130000000', '200000000', '331000000', '730000000', '810000000', '990000000'].some(abaPrefixValid)).toBe(false);
  });
});

describe('bank account rules per country', () => {
  it('picks the scheme from the country', () => {
    expect(schemeFor('DE')).toBe('IBAN');
    expect(schemeFor('GB')).toBe('IBAN');
    expect(schemeFor('US')).toBe('US_ABA');
    expect(schemeFor('CA')).toBe('CA_TRANSIT');
    expect(schemeFor('AU')).toBe('AU_BSB');
    expect(schemeFor('IN')).toBe('IN_IFSC');
    expect(schemeFor('JP')).toBe('SWIFT');
    // The US territories bank in the US system: an ABA routing number where the account names one, else a BIC.
    expect(['PR', 'GU', 'VI', 'AS', 'MP', 'UM'].map((c) => schemeFor(c, { routingNumber: '021502011' }))).toEqual(Array(6).fill('US_ABA'));
    expect(schemeFor('PR', { bic: 'BOFAUS3N' })).toBe('SWIFT');
    expect(checkBankAccount('PR', { accountNumber: '000123456789', routingNumber: '021502011' })).toMatchObject({ problems: [], account: { scheme: 'US_ABA' } });
    expect(checkBankAccount('PR', { accountNumber: '000123456789', routingNumber: '021502012' }).problems).toEqual([
      { field: 'account.routingNumber', message: 'has an invalid ABA checksum' },
    ]);
    // Refused, the answer names both ways, and the one the details were read as.
    const both = `${SCHEMES.US_ABA.describe}; or ${SCHEMES.SWIFT.describe}`;
    expect(checkBankAccount('PR', { accountNumber: '000123456789', accountType: 'CHECKING' }).problems).toEqual([
      { field: 'account.bic', message: `is required for bank accounts in PR without a routingNumber (${both})` },
      { field: 'account.accountType', message: `is not used for bank accounts in PR without a routingNumber (${both})` },
    ]);
    expect(checkBankAccount('GU', { accountNumber: '000123456789', routingNumber: '021502011', bic: 'BOFAUS3N' }).problems).toEqual([
      { field: 'account.bic', message: `is not used for bank accounts in GU with a routingNumber (${both})` },
    ]);
    expect(both).toMatch(/routing number.*; or BIC/);
    // Elsewhere, the country's one way.
    expect(checkBankAccount('JP', { accountNumber: '1234567' }).problems).toEqual([
      { field: 'account.bic', message: `is required for bank accounts in JP (${SCHEMES.SWIFT.describe})` },
    ]);
    // Territories whose accounts carry their country's IBAN (the IBAN registry lists them under it).
    expect(['JE', 'GG', 'IM', 'AX', 'GF', 'RE', 'NC'].map((c) => schemeFor(c))).toEqual(Array(7).fill('IBAN'));
  });

  it("takes a territory's account with its country's IBAN, and a BIC of the territory or its country", () => {
    const jersey = checkBankAccount('JE', { iban: 'GB82 WEST 1234 5698 7654 32', bic: 'RBOSJESH' });
    expect(jersey).toEqual({ problems: [], account: { scheme: 'IBAN', secretField: 'iban', secret: 'GB82WEST12345698765432', identifiers: { bic: 'RBOSJESH' } } });
    expect(checkBankAccount('IM', { iban: 'GB82WEST12345698765432', bic: 'NWBKGB2L' }).problems).toEqual([]);
    expect(checkBankAccount('RE', { iban: 'FR1420041010050500013M02606', bic: 'BNPAFRPP' }).problems).toEqual([]);
    expect(checkBankAccount('MC', { iban: 'MC5811222000010123456789030', bic: 'BNPAFRPP' }).problems).toEqual([]);
    expect(checkBankAccount('AX', { iban: 'FI2112345600000785', bic: 'AABAFI22' }).problems).toEqual([]);
    // Territories outside SEPA with FR IBANs: their own banks' BICs (CFP franc banks), or a SEPA bank's.
    expect(checkBankAccount('PF', { iban: 'FR1420041010050500013M02606', bic: 'SOCRPFTP' }).problems).toEqual([]);
    expect(checkBankAccount('NC', { iban: 'FR1420041010050500013M02606', bic: 'BNPANCNX' }).problems).toEqual([]);
    expect(checkBankAccount('WF', { iban: 'FR1420041010050500013M02606', bic: 'BNPAFRPP' }).problems).toEqual([]);
    expect(checkBankAccount('PF', { iban: 'FR1420041010050500013M02606', bic: 'CHASUS33' }).problems).toEqual([
      { field: 'account.bic', message: "must be the BIC of a bank in a SEPA country or NC, PF, WF, TF (its fifth and sixth characters name the bank's country, US here)" },
    ]);
    // A SEPA territory's account takes a SEPA bank's BIC only, its own area being in SEPA.
    expect(checkBankAccount('RE', { iban: 'FR1420041010050500013M02606', bic: 'SOCRPFTP' }).problems).toHaveLength(1);
    // Their own code in an IBAN is no IBAN of theirs, and the length is the country's.
    expect(checkBankAccount('JE', { iban: 'JE82WEST12345698765432', bic: 'RBOSJESH' }).problems).toEqual([
      { field: 'account.iban', message: "must be an IBAN of the bank account country GB (JE's accounts have GB IBANs)" },
    ]);
    expect(checkBankAccount('GF', { iban: 'FR1420041010050500013M0260', bic: 'BNPAFRPP' }).problems).toEqual([
      { field: 'account.iban', message: "must have 27 characters for FR (GF's accounts have FR IBANs)" },
    ]);
  });

  it("takes only a BIC of a bank in the account's country or its banking area where the BIC is the account's bank (SWIFT)", () => {
    expect(checkBankAccount('JP', { bic: 'COBADEFF', accountNumber: '1234567' }).problems).toEqual([
      { field: 'account.bic', message: "must be the BIC of a bank in JP (its fifth and sixth characters name the bank's country, DE here)" },
    ]);
    expect(checkBankAccount('PR', { bic: 'BOFAUS3N', accountNumber: '1234567' }).problems).toEqual([]);
    expect(checkBankAccount('NU', { bic: 'ANZBNZ22', accountNumber: '1234567' }).problems).toEqual([]);
    // An IBAN names its bank itself: within SEPA a bank issues IBANs of other countries under its home BIC.
    expect(checkBankAccount('FR', { iban: 'FR1420041010050500013M02606', bic: 'NTSBDEB1' }).problems).toEqual([]);
    // But a bank outside SEPA does not: a SEPA IBAN with a US bank's BIC, or an IBAN of outside SEPA with another country's.
    expect(checkBankAccount('FR', { iban: 'FR1420041010050500013M02606', bic: 'CHASUS33' }).problems).toEqual([
      { field: 'account.bic', message: "must be the BIC of a bank in a SEPA country (its fifth and sixth characters name the bank's country, US here)" },
    ]);
    expect(checkBankAccount('SA', { iban: 'SA0380000000608010167519', bic: 'DEUTDEFF' }).problems).toEqual([
      { field: 'account.bic', message: "must be the BIC of a bank in SA (its fifth and sixth characters name the bank's country, DE here)" },
    ]);
    expect(checkBankAccount('SA', { iban: 'SA0380000000608010167519', bic: 'RJHISARI' }).problems).toEqual([]);
  });

  it("refuses an IBAN of the right length and checksum whose account part does not fit its country's layout", () => {
    // DE: 18 digits after the check digits. This one ends in letters; its check digits are right (mod 97).
    expect(ibanChecksumValid('DE583704004405320130AB')).toBe(true);
    expect(checkBankAccount('DE', { iban: 'DE58 3704 0044 0532 0130 AB', bic: 'COBADEFFXXX' }).problems).toEqual([
      { field: 'account.iban', message: 'does not have the letters and digits of an IBAN of DE where they belong' },
    ]);
    // Letters where a French one has them are right.
    expect(checkBankAccount('FR', { iban: 'FR1420041010050500013M02606', bic: 'BNPAFRPP' }).problems).toEqual([]);
  });

  it('normalizes a spaced IBAN and keeps the BIC in clear, the IBAN as the secret', () => {
    const { problems, account } = checkBankAccount('DE', { iban: 'de89 3704 0044 0532 0130 00', bic: 'cobadeffxxx' });
    expect(problems).toEqual([]);
    expect(account).toEqual({ scheme: 'IBAN', secretField: 'iban', secret: 'DE89370400440532013000', identifiers: { bic: 'COBADEFFXXX' } });
  });

  it('takes an account as pasted from a document: en dashes, no-break spaces, full-width characters', () => {
    const { problems, account } = checkBankAccount('DE', { iban: 'DE89\u00a03704–0044–0532–0130–00', bic: 'ＣＯＢＡＤＥＦＦ' });
    expect(problems).toEqual([]);
    expect(account).toMatchObject({ secret: 'DE89370400440532013000', identifiers: { bic: 'COBADEFF' } });
    // Nothing else is read into it: a footnote mark, or a slash or comma between two values, is refused.
    for (const accountNumber of ['12345678¹', '0123/4567890', '12345,6789']) {
      expect(checkBankAccount('US', { accountNumber, routingNumber: '021000021', accountType: 'checking' }).problems.map((p) => p.field)).toEqual(['account.accountNumber']);
    }
  });

  it.each([
    ['bad checksum', 'DE', { iban: 'DE89370400440532013001', bic: 'COBADEFF' }, 'account.iban', /checksum/],
    ['IBAN of another country', 'FR', { iban: 'DE89370400440532013000', bic: 'COBADEFF' }, 'account.iban', /country FR/],
    ['wrong length', 'DE', { iban: 'DE8937040044053201300', bic: 'COBADEFF' }, 'account.iban', /22 characters/],
    ['bad BIC', 'DE', { iban: 'DE89370400440532013000', bic: 'COBA1' }, 'account.bic', /BIC/],
    ['missing BIC', 'DE', { iban: 'DE89370400440532013000' }, 'account.bic', /required/],
    ['US without routing number', 'US', { accountNumber: '123456789' }, 'account.routingNumber', /required/],
    ['US bad routing checksum', 'US', { accountNumber: '123456789', routingNumber: '021000022' }, 'account.routingNumber', /checksum/],
    ['US all-zero routing number', 'US', { accountNumber: '123456789', routingNumber: '000000000' }, 'account.routingNumber', /first two digits/],
    ['US routing number of no bank', 'US', { accountNumber: '123456789', routingNumber: '990000004' }, 'account.routingNumber', /first two digits/],
    ['US with an IBAN', 'US', { accountNumber: '123456789', routingNumber: '021000021', iban: 'x' }, 'account.iban', /not used/],
    ['US bad account type', 'US', { accountNumber: '123456789', routingNumber: '021000021', accountType: 'GOLD' }, 'account.accountType', /CHECKING/],
    ['CA short transit', 'CA', { institutionNumber: '001', transitNumber: '1234', accountNumber: '1234567' }, 'account.transitNumber', /5 digits/],
    ['AU bad BSB', 'AU', { bsb: '12345', accountNumber: '123456' }, 'account.bsb', /BSB/],
    ['IN bad IFSC', 'IN', { ifsc: 'HDFC1234567', accountNumber: '123456789012' }, 'account.ifsc', /IFSC/],
    ['generic without BIC', 'JP', { accountNumber: '1234567' }, 'account.bic', /required/],
  ])('%s -> problem on %s', (_, country, input, field, message) => {
    const { problems, account } = checkBankAccount(country, input);
    expect(account).toBeUndefined();
    expect(problems).toEqual(expect.arrayContaining([expect.objectContaining({ field, message: expect.stringMatching(message) })]));
  });

  it('accepts valid accounts of every scheme', () => {
    expect(checkBankAccount('US', { accountNumber: '000123456789', routingNumber: '021000021', accountType: 'checking' }).account).toMatchObject({
      scheme: 'US_ABA',
      secret: '000123456789',
      identifiers: { routingNumber: '021000021', accountType: 'CHECKING' },
    });
    expect(checkBankAccount('CA', { institutionNumber: '001', transitNumber: '12345', accountNumber: '1234567' }).problems).toEqual([]);
    expect(checkBankAccount('AU', { bsb: '062-000', accountNumber: '12345678' }).account?.identifiers.bsb).toBe('062000');
    expect(checkBankAccount('IN', { ifsc: 'HDFC0001234', accountNumber: '123456789012' }).problems).toEqual([]);
    expect(checkBankAccount('JP', { bic: 'MHCBJPJT', accountNumber: '1234567' }).problems).toEqual([]);
  });

  it('never repeats a secret in a problem message', () => {
    const { problems } = checkBankAccount('DE', { iban: 'DE89370400440532013001', bic: 'COBADEFF' });
    expect(JSON.stringify(problems)).not.toContain('370400440532013001');
  });
});
