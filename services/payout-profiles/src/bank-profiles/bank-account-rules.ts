import type { FieldProblem } from '@lib/platform';
import { abaChecksumValid, abaPrefixValid, BIC_PATTERN, bicCountriesFor, bicCountriesForIban, bicCountry, IBAN_LENGTHS, ibanChecksumValid, ibanCountryOf, usesIban } from '../reference/iban';
import { validateIBAN, ValidationErrorsIBAN } from 'ibantools';
import { typedIdentifier } from '../common/typed-identifier';

/** How accounts are identified in a country; decides which fields are required. */
export type AccountScheme = 'IBAN' | 'US_ABA' | 'CA_TRANSIT' | 'AU_BSB' | 'IN_IFSC' | 'SWIFT';

/** Bank identifiers: they name a bank or branch, not an account, and are stored in clear. */
export interface BankIdentifiers {
  bic?: string;
  routingNumber?: string;
  accountType?: string;
  institutionNumber?: string;
  transitNumber?: string;
  bsb?: string;
  ifsc?: string;
  bankName?: string;
}

/** Account details as a client sends them: the bank's identifiers, and `iban` or `accountNumber`, which are secrets. */
export interface BankAccountInput extends BankIdentifiers {
  iban?: string;
  accountNumber?: string;
}

export interface CheckedAccount {
  scheme: AccountScheme;
  /** Which secret identifies the account, and its normalized value (encrypted before it is stored). */
  secretField: 'iban' | 'accountNumber';
  secret: string;
  identifiers: BankIdentifiers;
}

interface SchemeRule {
  required: Array<keyof BankAccountInput>;
  optional: Array<keyof BankAccountInput>;
  describe: string;
}

export const SCHEMES: Record<AccountScheme, SchemeRule> = {
  IBAN: { required: ['iban', 'bic'], optional: ['bankName'], describe: 'IBAN (checksum and length per country) + BIC' },
  US_ABA: {
    required: ['accountNumber', 'routingNumber'],
    optional: ['accountType', 'bankName'],
    describe: 'account number (5-17 digits) + ABA routing number (9 digits, checksum); accountType CHECKING or SAVINGS',
  },
  CA_TRANSIT: {
    required: ['institutionNumber', 'transitNumber', 'accountNumber'],
    optional: ['bankName'],
    describe: 'institution number (3 digits) + transit number (5 digits) + account number (7-12 digits)',
  },
  AU_BSB: { required: ['bsb', 'accountNumber'], optional: ['bankName'], describe: 'BSB (6 digits) + account number (5-9 digits)' },
  IN_IFSC: { required: ['ifsc', 'accountNumber'], optional: ['bankName'], describe: 'IFSC (11 characters) + account number (9-18 digits)' },
  SWIFT: {
    required: ['bic', 'accountNumber'],
    optional: ['bankName'],
    describe: 'BIC/SWIFT code + account number (5-34 letters or digits)',
  },
};

const SPECIAL: Record<string, AccountScheme> = { US: 'US_ABA', CA: 'CA_TRANSIT', AU: 'AU_BSB', IN: 'IN_IFSC' };

/**
 * The US territories (Puerto Rico, Guam, the US Virgin Islands, American Samoa, the Northern Mariana Islands, the
 * minor outlying islands) bank in the US system, their banks with ABA routing numbers, and are reached by BIC too:
 * an account there is identified either way, as its details say (a routing number: `US_ABA`; else `SWIFT`).
 */
const US_TERRITORIES = ['PR', 'GU', 'VI', 'AS', 'MP', 'UM'];

/** How accounts of `country` are identified (for a US territory, as `input` names its bank: US_TERRITORIES). */
export function schemeFor(country: string, input?: BankAccountInput): AccountScheme {
  if (US_TERRITORIES.includes(country) && input?.routingNumber !== undefined) return 'US_ABA';
  return SPECIAL[country] ?? (usesIban(country) ? 'IBAN' : 'SWIFT');
}

/** As people type or paste account identifiers (blanks, any dash, full-width): typedIdentifier. */
const compact = (value: string) => typedIdentifier(value);

/**
 * Checks account details against the rules of the bank account country and normalizes them.
 * Problems name fields as `<prefix>.<field>`; messages never repeat the value (it may be a secret).
 */
export function checkBankAccount(
  country: string,
  input: BankAccountInput,
  prefix = 'account',
): { problems: FieldProblem[]; account?: CheckedAccount } {
  const scheme = schemeFor(country, input);
  const rule = SCHEMES[scheme];
  const problems: FieldProblem[] = [];
  const field = (name: string) => `${prefix}.${name}`;
  const given = (name: keyof BankAccountInput) => typeof input[name] === 'string' && input[name]!.trim() !== '';

  // A US territory's account is given either way: the refusal names both, and which one the details were read as.
  const territory = US_TERRITORIES.includes(country);
  const ways = territory ? `${SCHEMES.US_ABA.describe}; or ${SCHEMES.SWIFT.describe}` : rule.describe;
  const readAs = territory ? (scheme === 'US_ABA' ? ' with a routingNumber' : ' without a routingNumber') : '';
  for (const name of rule.required) {
    if (!given(name)) problems.push({ field: field(name), message: `is required for bank accounts in ${country}${readAs} (${ways})` });
  }
  for (const name of Object.keys(input) as Array<keyof BankAccountInput>) {
    if (input[name] !== undefined && !rule.required.includes(name) && !rule.optional.includes(name)) {
      problems.push({ field: field(name), message: `is not used for bank accounts in ${country}${readAs} (${ways})` });
    }
  }
  if (problems.length) return { problems };

  const v = (name: keyof BankAccountInput) => compact(input[name] ?? '');
  const identifiers: BankIdentifiers = {};
  if (given('bankName')) identifiers.bankName = input.bankName!.trim();
  let secretField: CheckedAccount['secretField'] = 'accountNumber';
  let secret = '';

  const digits = (name: keyof BankAccountInput, min: number, max: number, what: string) => {
    const value = v(name);
    if (!new RegExp(`^\\d{${min},${max}}$`).test(value)) {
      problems.push({ field: field(name), message: `must be ${what}` });
    }
    return value;
  };
  /**
   * The BIC, of a bank in one of `countries` (`where` names them): the account's country or banking area where the BIC
   * is the account's only bank identifier (SWIFT); for an IBAN of SEPA, any SEPA country (a bank issues the area's IBANs
   * under its home BIC: a French IBAN of a German bank); for another IBAN, its country's.
   */
  const bic = (countries: readonly string[], where = countries.join(', ')) => {
    const value = v('bic');
    if (!BIC_PATTERN.test(value)) problems.push({ field: field('bic'), message: 'must be a BIC of 8 or 11 characters (e.g. DEUTDEFF or DEUTDEFF500)' });
    else if (!countries.includes(bicCountry(value))) {
      problems.push({
        field: field('bic'),
        message: `must be the BIC of a bank in ${where} (its fifth and sixth characters name the bank's country, ${bicCountry(value)} here)`,
      });
    }
    identifiers.bic = value;
  };

  switch (scheme) {
    case 'IBAN': {
      secretField = 'iban';
      secret = v('iban');
      const ibanCountry = ibanCountryOf(country)!;
      const expected = IBAN_LENGTHS[ibanCountry];
      const of = ibanCountry === country ? country : `${ibanCountry} (${country}'s accounts have ${ibanCountry} IBANs)`;
      if (!/^[A-Z]{2}\d{2}[A-Z0-9]+$/.test(secret)) {
        problems.push({ field: field('iban'), message: 'must be an IBAN: country code, 2 check digits, then letters and digits' });
      } else if (secret.slice(0, 2) !== ibanCountry) {
        problems.push({ field: field('iban'), message: `must be an IBAN of the bank account country ${of}` });
      } else if (secret.length !== expected) {
        problems.push({ field: field('iban'), message: `must have ${expected} characters for ${of}` });
      } else if (!ibanChecksumValid(secret)) {
        problems.push({ field: field('iban'), message: 'has an invalid checksum (check digits do not match)' });
      } else if (validateIBAN(secret).errorCodes.includes(ValidationErrorsIBAN.WrongBBANFormat)) {
        // The account part's layout (the IBAN registry's, as ibantools holds it): a German one is 18 digits, a British
        // one 4 letters then 14 digits. A country ibantools does not know is taken on length and checksum alone.
        problems.push({ field: field('iban'), message: `does not have the letters and digits of an IBAN of ${of} where they belong` });
      }
      // Within SEPA a bank issues IBANs of the area's other countries under its home BIC: any SEPA country's BIC (and, for
      // a territory outside SEPA with its country's IBANs, a bank of its own: PF). Outside it, the IBAN's country's (or
      // its banking area's), as for an account without an IBAN.
      const { countries, named } = bicCountriesForIban(ibanCountry, country);
      bic(countries, named);
      break;
    }
    case 'US_ABA': {
      secret = digits('accountNumber', 5, 17, '5 to 17 digits');
      const routing = v('routingNumber');
      if (!/^\d{9}$/.test(routing)) problems.push({ field: field('routingNumber'), message: 'must be an ABA routing number of 9 digits' });
      else if (!abaPrefixValid(routing)) problems.push({ field: field('routingNumber'), message: 'is not an ABA routing number (no bank has its first two digits)' });
      else if (!abaChecksumValid(routing)) problems.push({ field: field('routingNumber'), message: 'has an invalid ABA checksum' });
      identifiers.routingNumber = routing;
      if (given('accountType')) {
        const type = v('accountType');
        if (type !== 'CHECKING' && type !== 'SAVINGS') problems.push({ field: field('accountType'), message: 'must be CHECKING or SAVINGS' });
        identifiers.accountType = type;
      }
      break;
    }
    case 'CA_TRANSIT':
      identifiers.institutionNumber = digits('institutionNumber', 3, 3, '3 digits');
      identifiers.transitNumber = digits('transitNumber', 5, 5, '5 digits');
      secret = digits('accountNumber', 7, 12, '7 to 12 digits');
      break;
    case 'AU_BSB':
      identifiers.bsb = digits('bsb', 6, 6, 'a BSB of 6 digits (e.g. 062-000)');
      secret = digits('accountNumber', 5, 9, '5 to 9 digits');
      break;
    case 'IN_IFSC': {
      const ifsc = v('ifsc');
      if (!/^[A-Z]{4}0[A-Z0-9]{6}$/.test(ifsc)) problems.push({ field: field('ifsc'), message: 'must be an IFSC: 4 letters, 0, then 6 letters or digits' });
      identifiers.ifsc = ifsc;
      secret = digits('accountNumber', 9, 18, '9 to 18 digits');
      break;
    }
    case 'SWIFT':
      bic(bicCountriesFor(country));
      secret = v('accountNumber');
      if (!/^[A-Z0-9]{5,34}$/.test(secret)) problems.push({ field: field('accountNumber'), message: 'must be 5 to 34 letters or digits' });
      break;
  }
  return problems.length ? { problems } : { problems, account: { scheme, secretField, secret, identifiers } };
}
