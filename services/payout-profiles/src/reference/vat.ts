/**
 * The layout of VAT ids in Europe, by the prefix they are written with (the EU's VIES layouts: Greece's is EL; XI is a
 * Northern Ireland trader's under the EU's rules; GB, NO and CH are the neighbours whose ids are written the same way).
 * Layout only: check digits and whether the id is registered are the back office's to check (VIES).
 */
const VAT_LAYOUTS: Record<string, { pattern: RegExp; describe: string }> = {
  AT: { pattern: /^U\d{8}$/, describe: 'U and 8 digits' },
  BE: { pattern: /^[01]\d{9}$/, describe: '10 digits starting with 0 or 1' },
  BG: { pattern: /^\d{9,10}$/, describe: '9 or 10 digits' },
  CY: { pattern: /^\d{8}[A-Z]$/, describe: '8 digits and a letter' },
  CZ: { pattern: /^\d{8,10}$/, describe: '8 to 10 digits' },
  DE: { pattern: /^\d{9}$/, describe: '9 digits' },
  DK: { pattern: /^\d{8}$/, describe: '8 digits' },
  EE: { pattern: /^\d{9}$/, describe: '9 digits' },
  EL: { pattern: /^\d{9}$/, describe: '9 digits' },
  ES: { pattern: /^[A-Z0-9]\d{7}[A-Z0-9]$/, describe: '9 characters: a letter or digit, 7 digits, a letter or digit' },
  FI: { pattern: /^\d{8}$/, describe: '8 digits' },
  FR: { pattern: /^[A-HJ-NP-Z0-9]{2}\d{9}$/, describe: '2 letters or digits (not I or O) and 9 digits' },
  HR: { pattern: /^\d{11}$/, describe: '11 digits' },
  HU: { pattern: /^\d{8}$/, describe: '8 digits' },
  IE: { pattern: /^\d{7}[A-W][A-I]?$|^\d[A-Z]\d{5}[A-W]$/, describe: '7 digits and 1 or 2 letters (or the older digit, letter, 5 digits, letter)' },
  IT: { pattern: /^\d{11}$/, describe: '11 digits' },
  LT: { pattern: /^(\d{9}|\d{12})$/, describe: '9 or 12 digits' },
  LU: { pattern: /^\d{8}$/, describe: '8 digits' },
  LV: { pattern: /^\d{11}$/, describe: '11 digits' },
  MT: { pattern: /^\d{8}$/, describe: '8 digits' },
  NL: { pattern: /^\d{9}B\d{2}$/, describe: '9 digits, B and 2 digits' },
  PL: { pattern: /^\d{10}$/, describe: '10 digits' },
  PT: { pattern: /^\d{9}$/, describe: '9 digits' },
  RO: { pattern: /^[1-9]\d{1,9}$/, describe: '2 to 10 digits, not starting with 0' },
  SE: { pattern: /^\d{10}01$/, describe: '12 digits ending in 01' },
  SI: { pattern: /^\d{8}$/, describe: '8 digits' },
  SK: { pattern: /^\d{10}$/, describe: '10 digits' },
  XI: { pattern: /^(\d{9}|\d{12}|GD\d{3}|HA\d{3})$/, describe: '9 or 12 digits (or GD or HA and 3 digits)' },
  GB: { pattern: /^(\d{9}|\d{12}|GD\d{3}|HA\d{3})$/, describe: '9 or 12 digits (or GD or HA and 3 digits)' },
  NO: { pattern: /^\d{9}(MVA)?$/, describe: '9 digits (and MVA)' },
  CH: { pattern: /^E\d{9}(MWST|TVA|IVA|TPV)?$/, describe: 'E and 9 digits (and MWST, TVA, IVA or TPV)' },
};

/** Written GR by some, EL in VIES: the same layout. */
const PREFIX_ALIASES: Record<string, string> = { GR: 'EL' };

/**
 * The countries of incorporation whose companies write their VAT ids with these prefixes: the EU's, the EEA's and the
 * neighbours above, and the territories taxed with them (below).
 * Elsewhere two leading letters are no prefix (a Mexican RFC starts with the company's initials).
 */
const VAT_AREA = new Set([
  ...Object.keys(VAT_LAYOUTS).filter((code) => code !== 'EL' && code !== 'XI'),
  'GR',
  // The EEA's others, and territories whose companies hold their country's VAT ids: Monaco and the French overseas
  // departments (FR), Åland (FI), the Isle of Man (GB), Liechtenstein (CH).
  ...['IS', 'LI', 'MC', 'RE', 'GP', 'MQ', 'GF', 'YT', 'AX', 'IM'],
]);

/**
 * What is wrong with a VAT id (normalized: letters and digits, upper case) of a company incorporated in `country`, or
 * undefined: an id written with a European prefix (DE123456789) must have that country's layout after it. Ids without
 * such a prefix, and those of companies incorporated elsewhere, are not checked here (the general rule applies).
 */
export function vatLayoutProblem(vatId: string, country: string): string | undefined {
  if (!VAT_AREA.has(country)) return undefined;
  const written = vatId.slice(0, 2);
  const prefix = PREFIX_ALIASES[written] ?? written;
  const layout = VAT_LAYOUTS[prefix];
  if (!layout || layout.pattern.test(vatId.slice(2))) return undefined;
  return `must be a VAT id of ${written}: ${written} then ${layout.describe}`;
}
