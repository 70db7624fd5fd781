/** IBAN length per country (SWIFT IBAN registry). A country listed here pays into IBANs. */
export const IBAN_LENGTHS: Readonly<Record<string, number>> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BI: 27, BR: 29, BY: 28, CH: 21, CR: 22,
  CY: 28, CZ: 24, DE: 22, DJ: 27, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18, FK: 18, FO: 18, FR: 27, GB: 22,
  GE: 22, GI: 23, GL: 18, GR: 27, GT: 28, HR: 21, HU: 28, IE: 22, IL: 23, IQ: 23, IS: 26, IT: 27, JO: 30, KW: 30,
  KZ: 20, LB: 28, LC: 32, LI: 21, LT: 20, LU: 20, LV: 21, LY: 25, MC: 27, MD: 24, ME: 22, MK: 19, MN: 20, MR: 27,
  MT: 31, MU: 30, NI: 28, NL: 18, NO: 15, OM: 23, PK: 24, PL: 28, PS: 29, PT: 25, QA: 29, RO: 24, RS: 22, RU: 33,
  SA: 24, SC: 31, SD: 18, SE: 24, SI: 19, SK: 24, SM: 27, SO: 23, ST: 25, SV: 28, TL: 23, TN: 24, TR: 26, UA: 29,
  VA: 22, VG: 24, XK: 20, YE: 30,
};

/**
 * Territories with an ISO 3166 code of their own whose accounts carry another country's IBAN (the IBAN registry lists
 * them under it): Jersey, Guernsey and the Isle of Man GB's; Åland FI's; France's overseas departments, collectivities
 * and territories FR's.
 */
export const IBAN_OF_TERRITORY: Readonly<Record<string, string>> = {
  JE: 'GB', GG: 'GB', IM: 'GB', AX: 'FI',
  GF: 'FR', GP: 'FR', MQ: 'FR', RE: 'FR', YT: 'FR', PM: 'FR', BL: 'FR', MF: 'FR', NC: 'FR', PF: 'FR', WF: 'FR', TF: 'FR',
};

/** The country code the IBANs of bank accounts in `country` start with; undefined where accounts have no IBAN. */
export function ibanCountryOf(country: string): string | undefined {
  return IBAN_OF_TERRITORY[country] ?? (country in IBAN_LENGTHS ? country : undefined);
}

export function usesIban(country: string): boolean {
  return ibanCountryOf(country) !== undefined;
}

/**
 * ISO 13616 check: move the first four characters to the end, letters to numbers (A=10), mod 97 must be 1; and check
 * digits from 02 to 98, the only ones ISO 7064 MOD 97-10 computes (00, 01 and 99 pass the remainder as 97, 98 and 02 do).
 */
export function ibanChecksumValid(iban: string): boolean {
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]+$/.test(iban)) return false;
  const checkDigits = Number(iban.slice(2, 4));
  if (checkDigits < 2 || checkDigits > 98) return false;
  const rearranged = iban.slice(4) + iban.slice(0, 4);
  let remainder = 0;
  for (const char of rearranged) {
    const value = char >= 'A' ? char.charCodeAt(0) - 55 : Number(char);
    remainder = (remainder * (value >= 10 ? 100 : 10) + value) % 97;
  }
  return remainder === 1;
}

/**
 * The first two digits of an ABA routing number: 00 the US government, 01-12 the Federal Reserve districts, 21-32
 * thrift institutions, 61-72 electronic transactions, 80 traveler's checks. Any other prefix is no bank's.
 */
export function abaPrefixValid(routing: string): boolean {
  if (!/^\d{9}$/.test(routing) || /^0{9}$/.test(routing)) return false;
  const prefix = Number(routing.slice(0, 2));
  return prefix <= 12 || (prefix >= 21 && prefix <= 32) || (prefix >= 61 && prefix <= 72) || prefix === 80;
}

/** ABA routing number check: 3*(d1+d4+d7) + 7*(d2+d5+d8) + (d3+d6+d9) is a multiple of 10. */
export function abaChecksumValid(routing: string): boolean {
  if (!/^\d{9}$/.test(routing)) return false;
  const d = [...routing].map(Number);
  const sum = 3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5] + d[8]);
  return sum % 10 === 0;
}

/** BIC / SWIFT code: bank (4 letters), country (2 letters), location (2), optional branch (3). */
export const BIC_PATTERN = /^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$/;

/** The country a BIC names (its fifth and sixth characters). */
export const bicCountry = (bic: string): string => bic.slice(4, 6);

/**
 * Countries whose banks serve each other's accounts (one banking system, or a territory banked from its country): a
 * BIC of any of them can be the bank of an account in another of them.
 */
const BANKING_AREAS: ReadonlyArray<readonly string[]> = [
  ['GB', 'JE', 'GG', 'IM'],
  ['FR', 'MC', 'GF', 'GP', 'MQ', 'RE', 'YT', 'PM', 'BL', 'MF', 'NC', 'PF', 'WF', 'TF'],
  ['FI', 'AX'],
  ['DK', 'FO', 'GL'],
  ['IT', 'SM', 'VA'],
  ['CH', 'LI'],
  ['NO', 'SJ', 'BV'],
  ['US', 'PR', 'GU', 'VI', 'AS', 'MP', 'UM'],
  ['AU', 'CX', 'CC', 'NF', 'HM'],
  ['NZ', 'CK', 'NU', 'TK'],
];

/** The countries whose banks' BICs can serve a bank account in `country`: itself and its banking area. */
export function bicCountriesFor(country: string): readonly string[] {
  return BANKING_AREAS.find((area) => area.includes(country)) ?? [country];
}

/**
 * The Single Euro Payments Area (the EPC's list, with the members admitted in 2024 and 2025): its banks hold accounts,
 * under their own BIC, with IBANs of the area's other countries.
 */
const SEPA: readonly string[] = [
  'AT', 'BE', 'BG', 'HR', 'CY', 'CZ', 'DK', 'EE', 'FI', 'FR', 'DE', 'GR', 'HU', 'IE', 'IT', 'LV', 'LT', 'LU', 'MT', 'NL',
  'PL', 'PT', 'RO', 'SK', 'SI', 'ES', 'SE', 'IS', 'LI', 'NO', 'CH', 'MC', 'SM', 'VA', 'AD', 'GB', 'GI', 'JE', 'GG', 'IM',
  'AX', 'GF', 'GP', 'MQ', 'RE', 'YT', 'PM', 'BL', 'MF', 'AL', 'ME', 'MD', 'MK',
];

/**
 * The countries whose banks' BICs can serve an account of `accountCountry` with an IBAN of `ibanCountry`, and how a
 * refusal names them: any SEPA country's for a SEPA IBAN (a bank issues the area's IBANs under its home BIC), and the
 * account's own banking area's where it lies outside SEPA (a bank of New Caledonia, French Polynesia or Wallis and Futuna
 * holds its accounts with FR IBANs under its own BIC: NC, PF, WF); else the IBAN's country and its banking area.
 */
export function bicCountriesForIban(ibanCountry: string, accountCountry = ibanCountry): { countries: readonly string[]; named: string } {
  if (SEPA.includes(ibanCountry)) {
    const outside = bicCountriesFor(accountCountry).filter((country) => !SEPA.includes(country));
    if (!outside.length || SEPA.includes(accountCountry)) return { countries: SEPA, named: 'a SEPA country' };
    return { countries: [...SEPA, ...outside], named: `a SEPA country or ${outside.join(', ')}` };
  }
  const countries = bicCountriesFor(ibanCountry);
  return { countries, named: countries.join(', ') };
}
