import { EnrollmentStatus, fiscalYearOf, fiscalYearRange, LogPosition, MissingPayoutItem, PayoutRules, previousFiscalYear, ProgramState, taxProfileExpiredBy } from '@lib/contracts';
import { BEFORE_ENROLLED, describeMissing, notServingReason, partnersDecision, payoutGaps, ProfileFacts, validationState } from '../enrollments/enrollment-rules';
import { servesLocation, YearDecision } from '../views/views.schemas';

export type RenewalOutcome = 'RENEWED' | 'VALIDATING' | 'ACTION_REQUIRED' | 'EXPIRED';

/** What a renewal decision says when the partner's agreement is not active. */
export const AGREEMENT_INACTIVE_REASON = "The partner's agreement is not active.";

export interface RenewalInput {
  program?: { name: string; state: ProgramState; requiresEligibility: boolean; payoutRules: PayoutRules };
  /** Every fiscal year's decision for the (program, location). */
  eligibility?: Record<string, YearDecision>;
  /** Whether the partner's agreement was active as the new year began (agreementActiveAt); undefined counts as active. */
  agreementActive?: boolean;
  partnerId: string;
  /** The enrollment's location: its bank profile must still serve it. */
  locationId: string;
  bank?: ProfileFacts;
  /**
   * The enrollment's kept bank profile was withdrawn (`bankWithdrawn`: it stopped serving the location): `bank` is
   * that profile, shown in the reason only; never renewed with, even if it serves the location again since.
   */
  bankWithdrawn?: boolean;
  tax?: ProfileFacts;
  fromFiscalYear: string;
  toFiscalYear: string;
}

export interface RenewalDecision {
  outcome: RenewalOutcome;
  reasons: string[];
  missing: MissingPayoutItem[];
  /**
   * Why it would not continue, as codes beside `missing` (`reasons` words them, with names that may change): what a
   * renewal reminder tells once (reminderMark).
   */
  causes?: RenewalCause[];
  /** RENEWED: the profile revisions found APPROVED, which the next-year enrollment is validated with. */
  validated?: { bank: number; tax?: number };
  /**
   * The next-year enrollment is submitted by the rollover and follows the validation of its profiles (FollowValidation):
   * the payout information is all there and fits the program, only its validation is pending (VALIDATING) or asked
   * for changes (ACTION_REQUIRED with the validator's reasons). ENROLLED once approved, with no Submit.
   */
  follows?: boolean;
  /**
   * ACTION_REQUIRED because the bank profile no longer serves the location: the next-year enrollment does not keep it
   * as a choice (`bankChosen: false`), so Continue proposes the location's default.
   */
  bankWithdrawn?: boolean;
  /**
   * The location's tax profile, for an enrollment that has none (submitted while its program required none) whose
   * program requires one now: the continuation goes on with it, as Continue and following validation take it up.
   */
  taxProfileId?: string;
  /** EXPIRED because the location is no longer eligible: the decision that says so (none: no decision at all). */
  ineligibleBy?: { eventId: string; decidedAt: Date; position?: LogPosition };
  /**
   * Continued on an earlier year's decision (none published for the new year yet: eligibilityFor), for a program that
   * requires eligibility: the new year's first word on it still counts (MarkIneligible).
   */
  eligibilityCarried?: boolean;
}

/**
 * Whether an enrollment was completed in its fiscal year: ENROLLED, or ENROLLED once (`enrolledAt`) and sent back
 * before ENROLLED since, without being ended: a profile edited (VALIDATING), its new revision rejected
 * (ACTION_REQUIRED), or another bank profile chosen (back to the proposal: INVITED or ACTION_REQUIRED). The same
 * notion as an ineligible decision's (MarkIneligible leaves these: the year was completed). The rollover and the
 * reminders decide these on the facts (decideRenewal); the others were never completed (decideUnfinished).
 */
export function wasCompleted(enrollment: { status: EnrollmentStatus; enrolledAt?: Date | null }): boolean {
  return enrollment.status === 'ENROLLED' || (!!enrollment.enrolledAt && BEFORE_ENROLLED.includes(enrollment.status));
}

/**
 * The query for the enrollments wasCompleted selects, among those `filter` selects. A rooted $or whose branches
 * each name fiscalYear and status, so MongoDB answers each from the { fiscalYear, status } index; mongo-java-server
 * supports $or and $in (it uses no index for these filters either way).
 */
export function completedFilter(filter: Record<string, unknown>): Record<string, unknown> {
  return {
    $or: [
      { ...filter, status: 'ENROLLED' },
      { ...filter, status: { $in: BEFORE_ENROLLED }, enrolledAt: { $ne: null } },
    ],
  };
}

const yearNumber = (fy: string) => Number(fy.slice(2));

/**
 * The eligibility that counts for the new fiscal year: its own decision when the eligibility system has published
 * one; otherwise the latest decision of an earlier year (up to the ending one). Eligibility systems publish
 * changes, not a yearly confirmation of every location: a location eligible for FY27 stays eligible for FY28 until
 * a decision says otherwise. Only the partner's decisions count (partnersDecision): one naming another partner is
 * passed over as if the year had none.
 */
export function eligibilityFor(
  years: Record<string, YearDecision> | undefined,
  toFiscalYear: string,
  fromFiscalYear: string,
  partnerId: string,
): YearDecision | undefined {
  if (!years) return undefined;
  const next = partnersDecision(years, toFiscalYear, partnerId);
  if (next) return next;
  const earlier = Object.keys(years)
    .filter((fy) => /^FY\d{2}$/.test(fy) && yearNumber(fy) <= yearNumber(fromFiscalYear) && partnersDecision(years, fy, partnerId))
    .sort((a, b) => yearNumber(b) - yearNumber(a));
  return earlier.length ? partnersDecision(years, earlier[0], partnerId) : undefined;
}

export type RenewalCause = 'PROGRAM_UNKNOWN' | 'PROGRAM_DISCONTINUED' | 'NOT_ELIGIBLE' | 'AGREEMENT_INACTIVE' | 'BANK_PROFILE_NOT_SERVING';

/**
 * Whether a completed enrollment (wasCompleted) continues into the next fiscal year:
 *  - EXPIRED when the location is no longer eligible (programs that require eligibility) or the partner's agreement
 *    is not active (or the program was discontinued), with the reasons;
 *  - VALIDATING (follows) when the payout information is all there and fits the rules, but a profile revision in use
 *    is not approved yet (edited, pending validation): continued with no action, ENROLLED once it is approved;
 *  - ACTION_REQUIRED (follows) when such a revision was rejected: the validator's reasons; fixing the profile is
 *    enough (its new revision is followed, no Submit);
 *  - ACTION_REQUIRED when the bank profile no longer serves the location (its locationIds narrowed: only the admins
 *    of the locations it serves may edit it), whatever its validation says: the reason, and what the tax profile
 *    lacks; the choice is not kept (`bankWithdrawn`): the admin continues (the location's default is proposed) and
 *    submits. The same for an enrollment whose bank profile was withdrawn already (`input.bankWithdrawn`), whatever
 *    the profile says now (served again since: the choice stays withdrawn until the admin continues);
 *  - ACTION_REQUIRED when the payout information itself falls short of the program's rules for the new year (no
 *    bank profile, currency or payment method not allowed, tax profile missing or expired on the first day of the
 *    new year): what is missing, and the admin continues and submits (SPEC: "ACTION_REQUIRED where only the
 *    profile is missing");
 *  - RENEWED otherwise, with the approved revisions it continues with.
 */
export function decideRenewal(input: RenewalInput): RenewalDecision {
  const { program, toFiscalYear, fromFiscalYear } = input;
  const reasons: string[] = [];
  const causes: RenewalCause[] = [];
  if (!program) return { outcome: 'EXPIRED', reasons: ['The program no longer exists.'], missing: [], causes: ['PROGRAM_UNKNOWN'] };
  if (program.state === 'DISCONTINUED') {
    reasons.push(`The program ${program.name} was discontinued.`);
    causes.push('PROGRAM_DISCONTINUED');
  }
  let ineligibleBy: RenewalDecision['ineligibleBy'];
  let eligibilityCarried = false;
  if (program.requiresEligibility) {
    const decision = eligibilityFor(input.eligibility, toFiscalYear, fromFiscalYear, input.partnerId);
    // Named only when it is the new year's own: one of an earlier year says nothing of the new year's decisions.
    const own = partnersDecision(input.eligibility, toFiscalYear, input.partnerId);
    if (!decision?.eligible) {
      reasons.push(`The location is no longer eligible for ${program.name} in ${toFiscalYear}.`, ...(decision?.reasons ?? []));
      causes.push('NOT_ELIGIBLE');
      if (decision && decision === own) ineligibleBy = { eventId: decision.eventId, decidedAt: new Date(decision.decidedAt), ...(decision.position && { position: decision.position }) };
    } else eligibilityCarried = decision !== own;
  }
  if (input.agreementActive === false) {
    reasons.push(AGREEMENT_INACTIVE_REASON);
    causes.push('AGREEMENT_INACTIVE');
  }

  const start = fiscalYearRange(toFiscalYear).start;
  const bank = input.bank && input.bank.partnerId === input.partnerId ? input.bank : undefined;
  const missing = payoutGaps(program.payoutRules, bank, input.tax, { at: start, strict: true });
  if (reasons.length) return { outcome: 'EXPIRED', reasons, missing, causes, ...(ineligibleBy && { ineligibleBy }) };
  const describe = (code: MissingPayoutItem) =>
    code === 'TAX_PROFILE_EXPIRED' ? taxProfileExpiredBy(start, toFiscalYear) : describeMissing(code);
  // What the admin is asked to complete is what Continue would list for the same facts (not strict: a profile pending
  // validation is not missing, Submit waits for it); strict, a pending profile whose currency is no longer allowed
  // would also read "not approved", and send the admin to correct what validation never asked about.
  const lenient = payoutGaps(program.payoutRules, bank, input.tax, { at: start, strict: false });
  if (input.bankWithdrawn || (bank && !servesLocation(bank, input.locationId))) {
    // The bank profile's own gaps are moot (another one takes its place); the tax profile's still count.
    const tax = lenient.filter((code) => code.startsWith('TAX_'));
    return {
      outcome: 'ACTION_REQUIRED',
      reasons: [notServingReason(bank), ...tax.map(describe)],
      missing: tax,
      causes: ['BANK_PROFILE_NOT_SERVING'],
      bankWithdrawn: true,
      ...(eligibilityCarried && { eligibilityCarried }),
    };
  }
  // Everything there and fitting the rules, only not validated (yet): continued with no action, following validation.
  if (missing.length && lenient.every((code) => code.endsWith('_NOT_APPROVED'))) {
    const state = validationState(program.payoutRules, bank, input.tax, start);
    if (state.status === 'VALIDATING' || state.status === 'ACTION_REQUIRED') {
      return { outcome: state.status, reasons: state.reasons, missing: state.missing, follows: true, ...(eligibilityCarried && { eligibilityCarried }) };
    }
  }
  if (missing.length) {
    const asked = lenient.length ? lenient : missing;
    return {
      outcome: 'ACTION_REQUIRED',
      reasons: asked.map(describe),
      missing: asked,
      ...(eligibilityCarried && { eligibilityCarried }),
    };
  }
  const validated = { bank: bank!.revision, ...(input.tax && { tax: input.tax.revision }) };
  return { outcome: 'RENEWED', reasons: [], missing: [], validated, ...(eligibilityCarried && { eligibilityCarried }) };
}

/**
 * An enrollment still before ENROLLED (INVITED, ACTION_REQUIRED, VALIDATING) and never ENROLLED (no `enrolledAt`)
 * when its fiscal year ends: it was never completed, and its year is over (SPEC: "an enrollment expires at the end of its fiscal year"). It becomes EXPIRED,
 * keeping what was missing; the location enrolls for the new year like any other (an invitation, or the overview).
 */
export function decideUnfinished(fromFiscalYear: string, missing: MissingPayoutItem[] = []): RenewalDecision {
  return { outcome: 'EXPIRED', reasons: [`The fiscal year ${fromFiscalYear} ended before the enrollment was completed.`], missing };
}

/**
 * The reminder before year end for an enrollment started but never completed: it will expire with its year
 * (decideUnfinished) unless it is completed before; what is missing, if anything, is its own.
 */
export function unfinishedReminder(fiscalYear: string, enrollment: { status: EnrollmentStatus; submittedAt?: Date | null }, missing: MissingPayoutItem[] = []): RenewalDecision {
  // Submitted (VALIDATING, or ACTION_REQUIRED after a rejection): its profiles' validation is what is left.
  const todo = !enrollment.submittedAt
    ? 'it is submitted and its profiles validated'
    : enrollment.status === 'VALIDATING'
      ? 'its profiles are validated'
      : 'its profiles are corrected and validated';
  return {
    outcome: 'EXPIRED',
    reasons: [`The enrollment is not completed: it expires when ${fiscalYear} ends unless ${todo} before.`],
    missing,
  };
}

/**
 * What the daily job does at `now`: continue the enrollments of the fiscal year that ended (idempotent, so running
 * every day is harmless and catches enrollments completed late), and, in the last `reminderDays` days of the
 * current fiscal year, remind about the enrollments that would not continue.
 */
export function scheduledWork(now: Date, reminderDays: number): { rolloverFrom: string; remindFor?: string; fiscalYearEndsAt: Date } {
  const current = fiscalYearOf(now);
  const end = fiscalYearRange(current).end;
  const remind = end.getTime() - now.getTime() <= reminderDays * 86_400_000;
  return { rolloverFrom: previousFiscalYear(current), ...(remind && { remindFor: current }), fiscalYearEndsAt: end };
}

/**
 * A next-year enrollment ended INELIGIBLE before it was ever ENROLLED (an ineligible decision, possibly overruled since):
 * no continuation to resume or keep, even one the rollover made (`renewedFrom`, its mark missing: an interrupted run, or
 * removed by the year-end review). Decided again: the old one expires, or this one is taken over as any INELIGIBLE one is.
 */
export function endedUnfinished(next: { status: string; enrolledAt?: Date | null }): boolean {
  return next.status === 'INELIGIBLE' && !next.enrolledAt;
}

/**
 * A next-year enrollment the admin started on their own that a continuation takes over: never ENROLLED, and either
 * not submitted yet (INVITED, ACTION_REQUIRED) or ended INELIGIBLE. Any other (submitted, or ENROLLED once) is the
 * admin's own enrollment for that year: the old one is only marked SUPERSEDED.
 */
export function takenOverByContinuation(next: { status: string; enrolledAt?: Date | null; submittedAt?: Date | null }): boolean {
  return !next.enrolledAt && (((next.status === 'INVITED' || next.status === 'ACTION_REQUIRED') && !next.submittedAt) || next.status === 'INELIGIBLE');
}
