import { checkTaxDetails, daysLeft, expiryProblems, isExpired } from './tax-rules';

describe('tax rules', () => {
  it('US: TIN of 9 digits with a W-9', () => {
    expect(checkTaxDetails({ incorporation: 'US', incorporationCountry: 'US', taxId: '12-3456789' })).toEqual({
      problems: [],
      details: { incorporation: 'US', incorporationCountry: 'US', taxForm: 'W-9', taxId: '123456789', vatId: undefined },
    });
  });

  it('takes a TIN as pasted from a document: an en dash, the minus sign, full-width digits, no-break spaces', () => {
    for (const taxId of ['12–3456789', '12\u22123456789', '１２-３４５６７８９', '123\u00a045\u00a06789']) {
      expect(checkTaxDetails({ incorporation: 'US', incorporationCountry: 'US', taxId })).toMatchObject({ problems: [], details: { taxId: '123456789' } });
    }
  });

  it.each([
    ['missing TIN', { incorporation: 'US' as const, incorporationCountry: 'US' }, 'taxId'],
    ['short TIN', { incorporation: 'US' as const, incorporationCountry: 'US', taxId: '12345678' }, 'taxId'],
    ['VAT id for US', { incorporation: 'US' as const, incorporationCountry: 'US', taxId: '123456789', vatId: 'DE123456789' }, 'vatId'],
    ['US incorporation abroad', { incorporation: 'US' as const, incorporationCountry: 'DE', taxId: '123456789' }, 'incorporationCountry'],
    ['non-US in the US', { incorporation: 'NON_US' as const, incorporationCountry: 'US' }, 'incorporationCountry'],
    ['wrong form', { incorporation: 'NON_US' as const, incorporationCountry: 'DE', taxForm: 'W-9' as const }, 'taxForm'],
    ['bad VAT id', { incorporation: 'NON_US' as const, incorporationCountry: 'DE', vatId: 'D€' }, 'vatId'],
  ])('%s -> problem on %s', (_, input, field) => {
    const { problems, details } = checkTaxDetails(input);
    expect(details).toBeUndefined();
    expect(problems.map((p) => p.field)).toContain(field);
  });

  // A blank tax id is not "no tax id": on a change that would remove the stored one without a word.
  it.each([
    ['US, blank TIN', { incorporation: 'US' as const, incorporationCountry: 'US', taxId: '   ' }, 'taxId'],
    ['non-US, blank foreign TIN', { incorporation: 'NON_US' as const, incorporationCountry: 'DE', taxId: ' \t ' }, 'taxId'],
    ['non-US, blank VAT id', { incorporation: 'NON_US' as const, incorporationCountry: 'DE', vatId: '  ' }, 'vatId'],
  ])('%s: "must not be blank"', (_, input, field) => {
    const { problems, details } = checkTaxDetails(input);
    expect(details).toBeUndefined();
    expect(problems).toContainEqual({ field, message: 'must not be blank' });
  });

  it('a null tax id is none: refused for US (required), accepted for non-US', () => {
    expect(checkTaxDetails({ incorporation: 'US', incorporationCountry: 'US', taxId: null }).problems).toEqual([
      { field: 'taxId', message: expect.stringMatching(/is required/) },
    ]);
    expect(checkTaxDetails({ incorporation: 'US', incorporationCountry: 'US', taxId: '123456789', vatId: null }).problems).toEqual([]);
    expect(checkTaxDetails({ incorporation: 'NON_US', incorporationCountry: 'DE', taxId: null, vatId: null }).details).toMatchObject({
      taxId: undefined,
      vatId: undefined,
    });
  });

  it('non-US: W-8BEN-E, optional VAT id', () => {
    expect(checkTaxDetails({ incorporation: 'NON_US', incorporationCountry: 'DE', vatId: 'DE 123 456 789' }).details).toEqual({
      incorporation: 'NON_US',
      incorporationCountry: 'DE',
      taxForm: 'W-8BEN-E',
      taxId: undefined,
      vatId: 'DE123456789',
    });
    expect(checkTaxDetails({ incorporation: 'NON_US', incorporationCountry: 'JP' }).problems).toEqual([]);
  });

  it("non-US: a VAT id written with a European prefix has that country's layout after it (not one left as stored)", () => {
    const vat = (vatId: string, incorporationCountry = 'DE', vatIdChecked?: boolean) =>
      checkTaxDetails({ incorporation: 'NON_US', incorporationCountry, vatId, vatIdChecked }).problems;
    expect(vat('DE 12345678')).toEqual([{ field: 'vatId', message: 'must be a VAT id of DE: DE then 9 digits' }]);
    expect(vat('NL123456789B1')).toEqual([{ field: 'vatId', message: 'must be a VAT id of NL: NL then 9 digits, B and 2 digits' }]);
    // Another member state's registration of a German company: that state's layout.
    expect(vat('FR 40 303 265 045')).toEqual([]);
    expect(vat('ATU1234567')).toEqual([{ field: 'vatId', message: 'must be a VAT id of AT: AT then U and 8 digits' }]);
    // Greece's is EL in VIES, written GR too.
    expect(vat('EL123456789', 'GR')).toEqual([]);
    expect(vat('GR12345678', 'GR')).toEqual([{ field: 'vatId', message: 'must be a VAT id of GR: GR then 9 digits' }]);
    expect(vat('CHE-123.456.789 MWST', 'CH')).toEqual([]);
    // Without a prefix, or a company incorporated outside Europe (a Mexican RFC starts with its initials): the general rule.
    expect(vat('123456789')).toEqual([]);
    expect(vat('DEL990101AB1', 'MX')).toEqual([]);
    // Stored before the layout was checked, and left as it is: taken.
    expect(vat('DE12345678', 'DE', false)).toEqual([]);
  });

  it('expiry', () => {
    const now = new Date('2026-06-01T00:00:00Z');
    expect(isExpired(new Date('2026-06-01T00:00:00Z'), now)).toBe(true);
    expect(isExpired(new Date('2026-06-02T00:00:00Z'), now)).toBe(false);
    expect(daysLeft(new Date('2026-06-30T12:00:00Z'), now)).toBe(30);
    expect(daysLeft(new Date('2026-05-30T00:00:00Z'), now)).toBe(-2);
  });
});

describe('expiryProblems', () => {
  const now = new Date('2026-12-06T12:00:00Z');
  it('takes a W-8BEN-E valid through December 31 of the third year after this one (expiring on January 1 after it, in any time zone), a W-9 as far as given; refuses a date passed', () => {
    expect(expiryProblems('2029-12-31', now, 'W-8BEN-E')).toEqual([]);
    expect(expiryProblems('2030-01-01', now, 'W-8BEN-E')).toEqual([]);
    expect(expiryProblems('2030-01-01T00:00:00-05:00', now, 'W-8BEN-E')).toEqual([]);
    expect(expiryProblems('2030-01-02', now, 'W-8BEN-E')).toEqual([{ field: 'expiresAt', message: expect.stringContaining('on or before 2030-01-01') }]);
    expect(expiryProblems('2035-12-31', now, 'W-9')).toEqual([]);
    expect(expiryProblems('2026-12-01', now, 'W-9')).toEqual([{ field: 'expiresAt', message: expect.stringContaining('has expired') }]);
  });

  it("counts the year a W-8BEN-E is signed in where it has begun: January 1 in Tokyo (December 31, 23:00 UTC) reaches a year further; a day earlier, not", () => {
    const newYearInTokyo = new Date('2026-12-31T23:00:00Z');
    expect(expiryProblems('2031-01-01', newYearInTokyo, 'W-8BEN-E')).toEqual([]);
    expect(expiryProblems('2031-01-01', new Date('2026-12-30T23:00:00Z'), 'W-8BEN-E')).toEqual([
      { field: 'expiresAt', message: expect.stringContaining('on or before 2030-01-01') },
    ]);
  });
});

describe('a US TIN', () => {
  const us = (taxId: string) => checkTaxDetails({ incorporation: 'US', incorporationCountry: 'US', taxId }).problems;
  it('takes one an EIN, an SSN or an ITIN can be', () => {
    for (const taxId of ['12-3456789', '123-45-6789', '98-7654321', '912-70-1234', '95-1234567']) expect(us(taxId)).toEqual([]);
  });
  it('refuses one none of them can be: no SSN (area 000, group 00, serial 0000), no ITIN, and an EIN prefix the IRS assigns none under', () => {
    for (const taxId of ['000-12-3456', '000000000', '079-00-1234', '970-12-0000', '00-0000001']) {
      expect(us(taxId)).toEqual([expect.objectContaining({ field: 'taxId', message: expect.stringContaining('can be issued') })]);
    }
  });
});
