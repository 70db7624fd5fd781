import { fiscalYearOver, judgedAt, PayoutRules } from '@lib/contracts';
import { Clock } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { ReadPrograms } from '../../programs/usecases/read-programs.use-case';
import { ViewsRepository } from '../../views/views.repository';
import { Enrollment } from '../enrollment.schema';
import { EnrollmentEvents, newReasonType, transitionType } from '../enrollment-events';
import { bankNoLongerServes, FOLLOWING_VALIDATION, ProfileFacts, validationState } from '../enrollment-rules';
import { EnrollmentsRepository, rolledOver } from '../enrollments.repository';
import { PayoutFacts } from '../payout-facts';
import { RecheckStart } from './recheck-start.use-case';
import { WithdrawBankChoice } from './withdraw-bank-choice.use-case';

/** How many times a follower decides again after its own write (each decision that writes reads the views again). */
const FOLLOW_AGAIN = 2;

const same = (a: string[] = [], b: string[] = []) => a.length === b.length && a.every((v, i) => v === b[i]);

/** When the last of the profiles in use was approved (all of them are), or undefined (one is not, or not known when). */
function approvedAt(...profiles: Array<ProfileFacts | undefined>): Date | undefined {
  const used = profiles.filter((p): p is ProfileFacts => p !== undefined);
  if (!used.length || used.some((p) => p.status !== 'APPROVED' || !p.decidedAt)) return undefined;
  return new Date(Math.max(...used.map((p) => +(p.decidedAt ?? 0))));
}

/**
 * A submitted enrollment follows the validation of the profiles it uses: ENROLLED once they are APPROVED,
 * ACTION_REQUIRED when one is rejected (EnrollmentRejected, with the validator's reasons) or no longer fits the
 * program (announced again when another reason comes up meanwhile: newReasonType), VALIDATING again when one
 * gets a new revision (edited), even after ENROLLED. One guarded write with the event; returns null when the
 * enrollment changed meanwhile (the caller reads it again).
 * One submitted without a tax profile (its program required none then) whose program requires one now takes up the
 * location's tax profile once there is one (`taxProfileId` set in the same write): until then it is ACTION_REQUIRED
 * (TAX_PROFILE_MISSING), and the tax profile's events reach it by its location (RecordProfileChange).
 * A bank profile that no longer serves the enrollment's location is not followed but withdrawn (WithdrawBankChoice:
 * ACTION_REQUIRED with the reason, back to the proposal), whatever its validation says.
 * Only a submitted enrollment of the current cycle in a following status follows: any other (ended INELIGIBLE or
 * DISCONTINUED, which keep `submittedAt`; rolled over, once its year is over; never completed, its year over, unless its
 * profiles were approved within it) is returned unchanged, so a caller that read it again after a missed write never
 * brings it back.
 */
@Injectable()
export class FollowValidation {
  constructor(
    private readonly enrollments: EnrollmentsRepository,
    private readonly facts: PayoutFacts,
    private readonly events: EnrollmentEvents,
    private readonly withdraw: WithdrawBankChoice,
    private readonly clock: Clock,
    private readonly programs: ReadPrograms,
    private readonly views: ViewsRepository,
    private readonly recheck: RecheckStart,
  ) {}

  /**
   * Whether the location was decided not eligible for the enrollment's year by `at` (its program requiring
   * eligibility): consumed in time, that decision would have ended it before the approval (MarkIneligible).
   */
  private async ineligibleBy(e: Enrollment, at: Date): Promise<boolean> {
    const program = await this.programs.find(e.programId);
    if (!program?.requiresEligibility) return false;
    const decision = await this.views.partnersEligibility(e.partnerId, e.programId, e.locationId, e.fiscalYear);
    return !!decision && !decision.eligible && +new Date(decision.decidedAt) <= +at;
  }

  async apply(current: Enrollment, rules: PayoutRules, again = FOLLOW_AGAIN): Promise<Enrollment | null> {
    // Marked by an operator's early rollover run: still valid, so still following, until its year ends (rolledOver).
    if (!current.submittedAt || rolledOver(current, this.clock.now()) || !FOLLOWING_VALIDATION.includes(current.status)) return current;
    // Never completed in its year, and the year is over: the rollover's, which expires it (Submit and Continue leave it
    // too), unless its profiles were approved within the year and this service learns it only now (the rollover waits
    // for its consumers to catch up for that): then it is ENROLLED as of that approval. Approved after the end but
    // before the run, it would otherwise be ENROLLED late and renewed.
    const late = !current.enrolledAt && fiscalYearOver(current.fiscalYear, this.clock.now());
    // Submitted while its program required no tax profile, which it requires now: the location's tax profile (created
    // since, or there all along) is taken up, so that completing what is missing lets the enrollment go on.
    const adoptTax = rules.taxProfileRequired && !current.taxProfileId;
    const { bank, tax } = await this.facts.inUse(current.partnerId, current.bankProfileId, current.taxProfileId, adoptTax ? current.locationId : undefined);
    // Marked by an early run (its year running): not withdrawn (WithdrawBankChoice), its validation still followed.
    if (bankNoLongerServes(current, bank) && !current.rollover) return this.withdraw.apply(current, bank);
    const adopted = adoptTax && tax ? tax.profileId : undefined;
    // The instant it is decided as of: now, or for a late one its approval, which must fall within its year.
    const at = late ? approvedAt(bank, tax) : this.clock.now();
    if (!at || (late && fiscalYearOver(current.fiscalYear, at))) return current;
    // A tax profile's expiry judged within the enrollment's year (judgedAt); `at` itself dates ENROLLED.
    const state = validationState(rules, bank, tax, judgedAt(current.fiscalYear, at));
    if (late && (state.status !== 'ENROLLED' || (await this.ineligibleBy(current, at)))) return current;
    const validated = state.status === 'ENROLLED' ? { bank: bank?.revision, tax: tax?.revision } : current.validated;
    const unchanged =
      !adopted &&
      state.status === current.status &&
      same(state.missing, current.missing) &&
      same(state.reasons, current.reasons) &&
      (state.status !== 'ENROLLED' || (current.validated?.bank === validated?.bank && current.validated?.tax === validated?.tax));
    if (unchanged) return current;

    const changes = {
      status: state.status,
      missing: state.missing,
      reasons: state.reasons,
      ...(adopted && { taxProfileId: adopted }),
      ...(state.status === 'ENROLLED' && { enrolledAt: current.enrolledAt ?? at, validated: JSON.parse(JSON.stringify(validated)) }),
    };
    const type = transitionType(current.status, state.status, { rejected: state.rejected }) ?? newReasonType(current, state, { rejected: state.rejected });
    const next = { ...current, ...changes, version: current.version + 1 };
    const events = type ? [this.events.event(type, next, { previousStatus: current.status })] : [];
    const written = await this.enrollments.update(current, changes, events);
    if (!written) return null;
    if (events.length) this.events.committed();
    // Completed now, for the first time, within its year: a location decided not eligible for a program made to require
    // eligibility meanwhile is ended as Submit's own completion is (RecheckStart.afterSubmit), the program's sweep having
    // read it still VALIDATING, or after this write, completed. (One approved late was checked above: ineligibleBy.)
    if (state.status === 'ENROLLED' && !current.enrolledAt && !late && (await this.recheck.afterSubmit(written))) {
      return (await this.enrollments.reload(written)) ?? written;
    }
    // Decided from the views as read above: another profile's event handled meanwhile (bank events are keyed by
    // partner, tax events by location: handled at the same time) may have found the enrollment as it was and, the
    // same as far as it could tell, written nothing. Followed once more on the views read again, as Submit does: an
    // edit recorded meanwhile sends it back to VALIDATING (the order of the two events then, approval before edit).
    // A write missed now is another follower's, which read the views after this write.
    return again > 0 ? ((await this.apply(written, rules, again - 1)) ?? written) : written;
  }
}
