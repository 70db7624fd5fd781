import { payoutRulesFor } from './programs.events';

describe('payoutRulesFor', () => {
  const rules = (currency: string) => ({ allowedCurrencies: [currency], allowedPaymentMethods: ['ELECTRONIC_BANK_TRANSFER' as const], taxProfileRequired: false });
  const program = {
    fiscalYear: 'FY29',
    payoutRules: rules('JPY'),
    earlierYears: [
      { fiscalYear: 'FY26', payoutRules: rules('USD') },
      { fiscalYear: 'FY28', payoutRules: rules('EUR') },
    ],
  };

  it("judges an enrollment of the program's year, or a later one, by its current rules", () => {
    expect(payoutRulesFor(program, 'FY29').allowedCurrencies).toEqual(['JPY']);
    expect(payoutRulesFor(program, 'FY30').allowedCurrencies).toEqual(['JPY']);
  });

  it('judges one of a year it moved on from by the rules it had as it left that year; one before every record by the oldest', () => {
    expect(payoutRulesFor(program, 'FY28').allowedCurrencies).toEqual(['EUR']);
    expect(payoutRulesFor(program, 'FY26').allowedCurrencies).toEqual(['USD']);
    expect(payoutRulesFor(program, 'FY25').allowedCurrencies).toEqual(['USD']);
  });

  // Moved from FY26 straight to FY28 during FY27 (the year after the running one): FY27's enrollments, continued from
  // FY26's under its rules, ran under them until the move, and keep them (README: a move leaves the year's own rules).
  it("judges one of a year it skipped by the rules of the year it was at then (the last it left before it), not the next year's", () => {
    expect(payoutRulesFor(program, 'FY27').allowedCurrencies).toEqual(['USD']);
    // Skipped after the last record: moved from FY27 to FY29 during FY28.
    const movedPastFy28 = { fiscalYear: 'FY29', payoutRules: rules('JPY'), earlierYears: [{ fiscalYear: 'FY27', payoutRules: rules('EUR') }] };
    expect(payoutRulesFor(movedPastFy28, 'FY28').allowedCurrencies).toEqual(['EUR']);
  });

  it('falls back on the current rules for a program with no record of its earlier years (moved before they were kept)', () => {
    expect(payoutRulesFor({ fiscalYear: 'FY29', payoutRules: rules('JPY') }, 'FY27').allowedCurrencies).toEqual(['JPY']);
  });
});
