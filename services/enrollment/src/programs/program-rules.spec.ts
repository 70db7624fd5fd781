import { becomesEligibilityRequired, endsIneligibleEnrollments, fiscalYearLeapProblem, fiscalYearMovedBack, programChanges } from './program-rules';
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

  // FY72 typed for FY27: no rollover or reminder would reach its enrollments for decades, and it could not be moved back.
  it("moves at most to the year after its own, or after the one running (a program left behind for years catches up at once)", () => {
    const inFY27 = new Date('2026-12-07T00:00:00Z');
    expect(fiscalYearLeapProblem({ fiscalYear: 'FY27' }, { fiscalYear: 'FY28' }, inFY27)).toBeNull();
    expect(fiscalYearLeapProblem({ fiscalYear: 'FY27' }, { fiscalYear: 'FY72' }, inFY27)).toMatch(/^must be at most FY28 /);
    expect(fiscalYearLeapProblem({ fiscalYear: 'FY27' }, { fiscalYear: 'FY29' }, inFY27)).toMatch(/^must be at most FY28 /);
    expect(fiscalYearLeapProblem({ fiscalYear: 'FY24' }, { fiscalYear: 'FY28' }, inFY27)).toBeNull();
    expect(fiscalYearLeapProblem({ fiscalYear: 'FY40' }, { fiscalYear: 'FY41' }, inFY27)).toBeNull();
    expect(fiscalYearLeapProblem({ fiscalYear: 'FY27' }, { name: 'Renamed' }, inFY27)).toBeNull();
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
