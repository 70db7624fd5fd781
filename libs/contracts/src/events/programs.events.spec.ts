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

  it('judges one of a year it moved on from by the rules it had as it left that year (the first year it left at or after it)', () => {
    expect(payoutRulesFor(program, 'FY28').allowedCurrencies).toEqual(['EUR']);
    expect(payoutRulesFor(program, 'FY27').allowedCurrencies).toEqual(['EUR']);
    expect(payoutRulesFor(program, 'FY26').allowedCurrencies).toEqual(['USD']);
    expect(payoutRulesFor(program, 'FY25').allowedCurrencies).toEqual(['USD']);
  });

  it('falls back on the current rules for a program with no record of its earlier years (moved before they were kept)', () => {
    expect(payoutRulesFor({ fiscalYear: 'FY29', payoutRules: rules('JPY') }, 'FY27').allowedCurrencies).toEqual(['JPY']);
  });
});
