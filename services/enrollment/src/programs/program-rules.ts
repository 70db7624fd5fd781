import { fiscalYearBefore, fiscalYearOf, nextFiscalYear, ProgramSnapshot, sameText } from '@lib/contracts';
import type { Program } from './program.schema';
import type { ProgramDto, UpdateProgramDto } from './dto/program.dto';

/**
 * Why `changes` may not move the program's fiscal year, or null. It moves forward only: enrollments of the year it
 * leaves are continued by that year's rollover into the next, and an earlier year's Enroll would start enrollments
 * of a year already rolled over (or over), beside the continuations of the year after it.
 */
export function fiscalYearMovedBack(current: Pick<Program, 'fiscalYear'>, changes: Partial<Program>): string | null {
  if (changes.fiscalYear === undefined || !fiscalYearBefore(changes.fiscalYear, current.fiscalYear)) return null;
  return `A program's fiscal year only moves forward: ${current.fiscalYear} cannot become ${changes.fiscalYear}.`;
}

/**
 * Why `changes` may not move the program's fiscal year that far, or null: at most to the year after its own, or after
 * the one running at `now` (a program left behind for years moves to the current year's next at once). Further is a
 * typo (FY72 for FY27): its Enroll would start enrollments no rollover or reminder reaches for decades, and it could
 * not be moved back.
 */
export function fiscalYearLeapProblem(current: Pick<Program, 'fiscalYear'>, changes: Partial<Program>, now: Date): string | null {
  if (changes.fiscalYear === undefined) return null;
  const [own, running] = [nextFiscalYear(current.fiscalYear), nextFiscalYear(fiscalYearOf(now))];
  const furthest = fiscalYearBefore(own, running) ? running : own;
  if (!fiscalYearBefore(furthest, changes.fiscalYear)) return null;
  return `must be at most ${furthest} (the year after the program's ${current.fiscalYear}, or after the current one): a fiscal year only moves forward, and cannot be moved back from ${changes.fiscalYear}`;
}

/** The fields an update really changes (an update that changes nothing is not a new revision). */
export function programChanges(current: Program, input: UpdateProgramDto): Partial<Program> {
  const changes: Partial<Program> = {};
  if (input.name !== undefined && !sameText(input.name.trim(), current.name)) changes.name = input.name.trim();
  if (input.fiscalYear !== undefined && input.fiscalYear !== current.fiscalYear) changes.fiscalYear = input.fiscalYear;
  if (input.requiresEligibility !== undefined && input.requiresEligibility !== current.requiresEligibility) {
    changes.requiresEligibility = input.requiresEligibility;
  }
  if (input.state !== undefined && input.state !== current.state) changes.state = input.state;
  if (input.payoutRules !== undefined) {
    const next = {
      allowedCurrencies: [...input.payoutRules.allowedCurrencies],
      allowedPaymentMethods: [...input.payoutRules.allowedPaymentMethods],
      taxProfileRequired: input.payoutRules.taxProfileRequired,
    };
    const before = current.payoutRules;
    const same =
      JSON.stringify([...next.allowedCurrencies].sort()) === JSON.stringify([...before.allowedCurrencies].sort()) &&
      JSON.stringify([...next.allowedPaymentMethods].sort()) === JSON.stringify([...before.allowedPaymentMethods].sort()) &&
      next.taxProfileRequired === before.taxProfileRequired;
    if (!same) changes.payoutRules = next;
  }
  return changes;
}

/**
 * Whether the program lets an enrollment start (Enroll, or /refresh on one only invited or ended INELIGIBLE): OPEN; or
 * CLOSED for one started before (`startedBefore`: evaluated or completed once), which starting again makes no new
 * enrollment of, so an eligibility system's passing mistake that ended it does not lock it out.
 */
export function takesStart(program: Pick<Program, 'state'>, startedBefore: boolean): boolean {
  return program.state === 'OPEN' || (startedBefore && program.state === 'CLOSED');
}

/** Whether `changes` make an open program require eligibility (see Program.eligibilityRequiredSince). */
export function becomesEligibilityRequired(current: Pick<Program, 'requiresEligibility'>, changes: Partial<Program>): boolean {
  return changes.requiresEligibility === true && !current.requiresEligibility;
}

/**
 * Whether the ProgramUpdated of `revision` is the one that made the program require eligibility and the program, as
 * it is now, still does: then its unfinished enrollments with an ineligible decision end INELIGIBLE. Another
 * revision's event (a rename, payout rules; or an earlier flip, superseded since) does nothing; a program open again
 * since ignores the decisions again; a discontinued one is its discontinuation's (every enrollment DISCONTINUED).
 */
export function endsIneligibleEnrollments(
  program: Pick<Program, 'requiresEligibility' | 'state' | 'eligibilityRequiredSince'> | null | undefined,
  revision: number,
): boolean {
  return !!program && program.requiresEligibility && program.state !== 'DISCONTINUED' && program.eligibilityRequiredSince === revision;
}

export function programSnapshot(p: Program): ProgramSnapshot {
  return {
    programId: p._id,
    name: p.name,
    fiscalYear: p.fiscalYear,
    requiresEligibility: p.requiresEligibility,
    payoutRules: {
      allowedCurrencies: [...p.payoutRules.allowedCurrencies],
      allowedPaymentMethods: [...p.payoutRules.allowedPaymentMethods],
      taxProfileRequired: p.payoutRules.taxProfileRequired,
    },
    state: p.state,
    revision: p.revision,
    ...(p.earlierYears?.length && { earlierYears: p.earlierYears.map(({ fiscalYear, payoutRules }) => ({ fiscalYear, payoutRules: { ...payoutRules } })) }),
  };
}

export function toProgramDto(p: Program): ProgramDto {
  // Not the earlier years' rules: the events' (for the services judging those years' enrollments), not the API's.
  const { programId, earlierYears: _earlierYears, ...snapshot } = programSnapshot(p);
  // The catalog's own methods (the snapshot's type also takes those a later version of this service may publish).
  const payoutRules = { ...snapshot.payoutRules, allowedPaymentMethods: [...p.payoutRules.allowedPaymentMethods] };
  return { programId, ...snapshot, payoutRules, createdAt: new Date(p.createdAt).toISOString(), updatedAt: new Date(p.updatedAt).toISOString() };
}
