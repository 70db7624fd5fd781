import { MAX_OTHER_PARTNERS } from './domain';
import { MAX_REASONS } from './events/external.events';
import { decisionReasons, fiscalYearBefore, fiscalYearOf, fiscalYearOver, fiscalYearRange, ineligibleReasons, MAX_KEPT_REASONS_BYTES, nextFiscalYear, previousFiscalYear } from './fiscal-year';

describe('fiscal years (July 1 to June 30, UTC)', () => {
  const FY27_OVER = new Date('2027-07-01T00:00:00.000Z');

  it('names the year of a date, and the years around one', () => {
    expect(fiscalYearRange('FY27')).toEqual({ name: 'FY27', start: new Date('2026-07-01T00:00:00.000Z'), end: FY27_OVER });
    expect(fiscalYearOf(new Date('2027-06-30T23:59:59.999Z'))).toBe('FY27');
    expect(fiscalYearOf(FY27_OVER)).toBe('FY28');
    expect(nextFiscalYear('FY27')).toBe('FY28');
  });

  it('tells which of two fiscal years comes first (FYnn ends in 20nn: FY00 is 2000, FY99 is 2099)', () => {
    expect(fiscalYearBefore('FY27', 'FY28')).toBe(true);
    expect(fiscalYearBefore('FY28', 'FY27')).toBe(false);
    expect(fiscalYearBefore('FY27', 'FY27')).toBe(false);
    expect(fiscalYearBefore('FY09', 'FY10')).toBe(true);
    expect(fiscalYearBefore('FY00', 'FY99')).toBe(true);
    expect(fiscalYearBefore('FY99', 'FY00')).toBe(false);
    expect(fiscalYearRange('FY00').end).toEqual(new Date('2000-07-01T00:00:00.000Z'));
    expect(fiscalYearRange('FY99').end).toEqual(new Date('2099-07-01T00:00:00.000Z'));
  });

  it('names the fiscal year before one, across decades', () => {
    expect(previousFiscalYear('FY28')).toBe('FY27');
    expect(previousFiscalYear('FY10')).toBe('FY09');
    expect(previousFiscalYear('FY01')).toBe('FY00');
    expect(nextFiscalYear('FY09')).toBe('FY10');
  });

  it('ends a fiscal year at its exclusive end (FY27: 2027-07-01T00:00:00Z)', () => {
    expect(fiscalYearOver('FY27', new Date('2027-06-30T23:59:59.999Z'))).toBe(false);
    expect(fiscalYearOver('FY27', FY27_OVER)).toBe(true);
    expect(fiscalYearOver('FY28', FY27_OVER)).toBe(false);
    expect(fiscalYearOver('FY27', new Date('2026-07-01T00:00:00.000Z'))).toBe(false);
  });
});

describe('why a location lost eligibility', () => {
  it('keeps the reasons that say something; blank ones, or none, give the general reason', () => {
    expect(decisionReasons(['', 'Revenue below threshold', '   '])).toEqual(['Revenue below threshold']);
    expect(decisionReasons(undefined)).toEqual([]);
    expect(ineligibleReasons(['Revenue below threshold', ' '], 'FY27')).toEqual(['Revenue below threshold']);
    for (const reasons of [undefined, [], [''], ['  ', '\t']]) {
      expect(ineligibleReasons(reasons, 'FY27')).toEqual(['The location is no longer eligible for this program in FY27.']);
    }
  });

  it("keeps an eligibility system's reasons without control characters or bidirectional overrides (a partner reads them in emails and the portal)", () => {
    expect(decisionReasons([' Revenue\u0000 below\u202E threshold\u0007 ', '\u200B', '\u0000\u0001', 'Line one\nline two'])).toEqual([
      'Revenue below threshold',
      'Line one\nline two',
    ]);
    expect(ineligibleReasons(['\u2066\u2069', '\uFEFF '], 'FY27')).toEqual(['The location is no longer eligible for this program in FY27.']);
  });

  it('keeps at most MAX_KEPT_REASONS_BYTES of them (UTF-8): the first that does not fit is cut at a character, the ones after it dropped', () => {
    // The contract's largest: 50 reasons of 1,000 characters, here of 3 bytes each (150 KB).
    const longest = Array.from({ length: 50 }, (_, i) => `${i}`.padEnd(1_000, '€'));
    const kept = decisionReasons(longest);
    const bytes = kept.reduce((sum, reason) => sum + Buffer.byteLength(reason), 0);
    expect(bytes).toBeLessThanOrEqual(MAX_KEPT_REASONS_BYTES);
    expect(bytes).toBeGreaterThan(MAX_KEPT_REASONS_BYTES - 4);
    expect(kept.slice(0, -1)).toEqual(longest.slice(0, kept.length - 1));
    expect(kept.at(-1)).toMatch(/^\d+€+…$/);
    // Cut between characters: a 4-byte one (two UTF-16 units) is kept whole or not at all.
    const emoji = decisionReasons(['x'.repeat(MAX_KEPT_REASONS_BYTES - 6) + '😀😀'])[0];
    expect(emoji).toBe('x'.repeat(MAX_KEPT_REASONS_BYTES - 6) + '…');
    expect(Buffer.from(emoji).toString()).toBe(emoji); // no lone surrogate (it would read back as U+FFFD)
    // What fits is kept as it was; a cut that leaves nothing visible is dropped.
    expect(decisionReasons(['a'.repeat(MAX_KEPT_REASONS_BYTES - 1), 'b'])).toEqual(['a'.repeat(MAX_KEPT_REASONS_BYTES - 1), 'b']);
    expect(decisionReasons(['a'.repeat(MAX_KEPT_REASONS_BYTES - 1), 'bbbb', 'c'])).toEqual(['a'.repeat(MAX_KEPT_REASONS_BYTES - 1)]);
  });

  it("bounds enrollment's eligibility view: a hundred years of decisions, each with the partners set aside, stay under 16 MB", () => {
    const decisionOverhead = 1_024; // its other fields, names, and the reasons' array and string headers
    const years = 100; // FY00 to FY99
    expect(years * (MAX_OTHER_PARTNERS + 1) * (MAX_KEPT_REASONS_BYTES + MAX_REASONS * 16 + decisionOverhead)).toBeLessThan(16 * 1024 * 1024);
  });
});
