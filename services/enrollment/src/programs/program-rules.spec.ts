import { becomesEligibilityRequired, endsIneligibleEnrollments, fiscalYearMovedBack, payoutRulesFor, programChanges } from './program-rules';
import type { Program } from './program.schema';
import type { UpdateProgramDto } from './dto/program.dto';

describe("a program's fiscal year", () => {
  it('moves forward only: an earlier year is refused with both years named; the same, a later one, or no move pass', () => {
    expect(fiscalYearMovedBack({ fiscalYear: 'FY27' }, { fiscalYear: 'FY26' })).toBe("A program's fiscal year only moves forward: FY27 cannot become FY26.");
    // By the years' dates, not the names' order alone: FY09 ends in 2009, FY10 in 2010.
    expect(fiscalYearMovedBack({ fiscalYear: 'FY10' }, { fiscalYear: 'FY09' })).not.toBeNull();
    expect(fiscalYearMovedBack({ fiscalYear: 'FY27' }, { fiscalYear: 'FY28' })).toBeNull();
    expect(fiscalYearMovedBack({ fiscalYear: 'FY27' }, { name: 'Renamed' })).toBeNull();
  });
});


describe("a program's name", () => {
  it('is changed by another name, not by the same name sent in another Unicode form (stored decomposed before names were taken composed)', () => {
    const stored = { name: 'Cafe\u0301 Incentives' } as Program;
    expect(programChanges(stored, { name: 'Caf\u00e9 Incentives' } as UpdateProgramDto)).toEqual({});
    expect(programChanges(stored, { name: 'Caf\u00e9 Incentives FY27' } as UpdateProgramDto)).toEqual({ name: 'Caf\u00e9 Incentives FY27' });
  });
});

describe('an open program coming to require eligibility', () => {
  it('is only the change from open (false) to requiring (true)', () => {
    expect(becomesEligibilityRequired({ requiresEligibility: false }, { requiresEligibility: true })).toBe(true);
    expect(becomesEligibilityRequired({ requiresEligibility: true }, { requiresEligibility: true })).toBe(false);
    expect(becomesEligibilityRequired({ requiresEligibility: true }, { requiresEligibility: false })).toBe(false);
    expect(becomesEligibilityRequired({ requiresEligibility: false }, { name: 'Renamed' })).toBe(false);
  });

  it("ends enrollments only for the ProgramUpdated of that revision, while the program still requires eligibility and is not discontinued", () => {
    const program = { requiresEligibility: true, state: 'OPEN' as const, eligibilityRequiredSince: 3 };
    expect(endsIneligibleEnrollments(program, 3)).toBe(true);
    // CLOSED stops new enrollments only: the started ones end as with a live decision.
    expect(endsIneligibleEnrollments({ ...program, state: 'CLOSED' }, 3)).toBe(true);
    // Another revision's event (a rename before or after; an earlier flip superseded by a later one).
    expect(endsIneligibleEnrollments(program, 2)).toBe(false);
    expect(endsIneligibleEnrollments(program, 4)).toBe(false);
    // Open again since: the decisions are ignored again. Discontinued: the discontinuation ends everything.
    expect(endsIneligibleEnrollments({ ...program, requiresEligibility: false }, 3)).toBe(false);
    expect(endsIneligibleEnrollments({ ...program, state: 'DISCONTINUED' }, 3)).toBe(false);
    // Always required eligibility (never flipped), or unknown.
    expect(endsIneligibleEnrollments({ requiresEligibility: true, state: 'OPEN' }, 1)).toBe(false);
    expect(endsIneligibleEnrollments(null, 3)).toBe(false);
  });
});

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
