import { AccessPolicy } from '@lib/access';
import { fiscalYearOver, judgedAt, PayoutRules, payoutRulesFor } from '@lib/contracts';
import { Clock, CONFIG, Principal, ProblemException, Problems } from '@lib/platform';
import { HttpStatus, Inject, Injectable } from '@nestjs/common';
import type { EnrollmentConfig } from '../../config';
import { Program } from '../../programs/program.schema';
import { ReadPrograms } from '../../programs/usecases/read-programs.use-case';
import { Enrollment } from '../enrollment.schema';
import { EnrollmentEvents } from '../enrollment-events';
import { bankNoLongerServes, completeAt, notServingReason, payoutGaps, TERMINAL, validationState } from '../enrollment-rules';
import { continuedAlready, EnrollmentsRepository } from '../enrollments.repository';
import { enrollmentYearEnded } from '../fiscal-year-ended';
import { defaultSettling, PayoutFacts } from '../payout-facts';
import { FollowValidation } from './follow-validation.use-case';
import { RecheckStart } from './recheck-start.use-case';
import { agreementInactive, locationNotEligible, programNotOpen } from '../start-refusals';
import { ViewsRepository } from '../../views/views.repository';

const ATTEMPTS = 8;

/**
 * Submit: the location's Incentives admin sends the proposal for validation. Refused (422, with the missing list
 * and where to complete it) while the program's payout rules are not met; nothing changes then. Otherwise
 * VALIDATING, or ENROLLED at once when the chosen profiles are already approved. Submitting a submitted enrollment
 * changes nothing (it is re-checked against its profiles). If-Match is optional: when sent, a stale one is 412.
 * Once the enrollment's fiscal year is over, only an ENROLLED one is re-checked; any other is refused (409
 * `fiscal-year-ended`): the rollover continues or expires it.
 * A bank profile chosen earlier that no longer serves the enrollment's location (narrowed since) is not submitted:
 * 409 `bank-profile-not-serving`, nothing changes (the profile's event withdraws the choice, and Continue proposes
 * the location's default). Nor is an enrollment whose kept choice was withdrawn (`bankWithdrawn`: ACTION_REQUIRED with
 * the reason, back to the proposal), also when the withdrawal lands between an attempt and the next: the proposal
 * would be the location's default, which the admin never saw; 409 `bank-profile-not-serving` until Continue proposes
 * it. A submitted one is re-checked: one whose bank profile no longer serves is withdrawn
 * (FollowValidation), and answered ACTION_REQUIRED.
 * After its write it follows the profiles once more (see followAfterSubmit), so a validation result that came
 * meanwhile is not lost.
 */
@Injectable()
export class SubmitEnrollment {
  constructor(
    private readonly policy: AccessPolicy,
    private readonly programs: ReadPrograms,
    private readonly enrollments: EnrollmentsRepository,
    private readonly facts: PayoutFacts,
    private readonly events: EnrollmentEvents,
    private readonly follow: FollowValidation,
    private readonly recheck: RecheckStart,
    private readonly clock: Clock,
    private readonly views: ViewsRepository,
    @Inject(CONFIG) private readonly config: EnrollmentConfig,
  ) {}

  async execute(principal: Principal, id: string, expectedVersion?: number): Promise<Enrollment> {
    const actor = await this.policy.actor(principal);
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      const current = await this.enrollments.findForPartner(actor.partnerId, id);
      if (!current) throw Problems.notFound(`Enrollment ${id}`);
      await this.policy.requireRole(actor, current.locationId, 'INCENTIVES_ADMIN', 'submit its enrollment');
      if (expectedVersion !== undefined && expectedVersion !== current.version) throw Problems.preconditionFailed(current.version);
      if (TERMINAL.includes(current.status)) {
        throw Problems.conflict(`This enrollment is ${current.status.toLowerCase()}; it cannot be submitted.`, { enrollmentStatus: current.status });
      }
      // One "now" for the year-end check and the decision below: read twice, a Submit checked at 23:59:59.995 on June 30
      // could decide (and date) it in the next year.
      const now = this.clock.now();
      if (current.rollover) throw continuedAlready(current.rollover, current.fiscalYear, now, 'submitted again');
      if (current.status !== 'ENROLLED' && fiscalYearOver(current.fiscalYear, now)) throw enrollmentYearEnded(current, 'submitted');
      if (!current.evaluatedAt) throw Problems.conflict('Enroll first: the enrollment has no proposal yet.');
      const program = await this.programs.find(current.programId);
      if (!program) throw Problems.notFound(`Program ${current.programId}`);
      // Its own year's rules (a program moved on to the next year judges this year's enrollments by the rules it had).
      const rules = payoutRulesFor(program, current.fiscalYear);

      if (current.submittedAt) {
        const followed = await this.follow.apply(current, rules);
        if (followed) return followed;
        continue;
      }

      // Discontinued, or no longer eligible, and still not ended: the sweep or the decision's handler (each runs once)
      // missed it, when the Enroll that started it died between its write and its recheck. Ended now, as they would have.
      if (!current.enrolledAt) await this.refuseIfEnded(current, program);
      if (!(await this.views.agreementActive(current.partnerId))) throw agreementInactive(current.partnerId);
      // Its kept bank profile was withdrawn (no longer serving the location): the proposal Submit would read now is the
      // location's default, which the admin has not seen. Continue first (it proposes the default, clearing this).
      if (current.bankWithdrawn) throw bankProfileNotServing(current, current.reasons[0] ?? notServingReason(undefined));
      const proposal = await this.facts.proposal(actor.partnerId, current.locationId, current.bankChosen ? current.bankProfileId : undefined);
      if (proposal.defaultSettling) throw defaultSettling();
      const notServing = bankNoLongerServes(current, proposal.bank);
      if (notServing) throw bankProfileNotServing(current, notServing);
      // A tax profile's expiry is judged within the enrollment's year (judgedAt).
      const at = judgedAt(current.fiscalYear, now);
      const missing = payoutGaps(rules, proposal.bank, proposal.tax, { at, strict: false });
      if (missing.length) {
        throw Problems.unprocessable("The program's payout rules are not met yet: complete what is missing, then submit.", {
          missing,
          completeAt: completeAt(missing, { locationId: current.locationId, bankProfileId: proposal.bankProfileId, bankChosen: current.bankChosen, baseUrl: this.config.PAYOUT_PROFILES_API_URL }),
        });
      }
      // The admin submits what they were shown: a profile proposed then (the location's default, its tax profile) that is
      // not the one now (another default assigned since, another tax profile) is no longer what Submit would send (none
      // now: the rules' 422 above says what is missing). One that was missing then is what Continue asked to complete:
      // taken as it is now.
      const changed = proposalChanged(current, proposal);
      if (changed) throw changed;
      const state = validationState(rules, proposal.bank, proposal.tax, at);
      const enrolled = state.status === 'ENROLLED';
      const changes = {
        // Renames reach it from the program's event (renameProgram): a Submit that read the program before one does not
        // write the old name back.
        ...(current.programName === undefined && { programName: program.name }),
        status: enrolled ? ('ENROLLED' as const) : ('VALIDATING' as const),
        missing: [],
        reasons: [],
        bankProfileId: proposal.bankProfileId,
        ...(proposal.taxProfileId && { taxProfileId: proposal.taxProfileId }),
        evaluatedAt: now,
        submittedAt: now,
        submittedBy: actor.userId,
        // ENROLLED once already (sent back to the proposal since: another bank profile chosen, a withdrawn one):
        // `enrolledAt` stays, as FollowValidation keeps it; it tells when the year was first completed.
        ...(enrolled && {
          enrolledAt: current.enrolledAt ?? now,
          validated: JSON.parse(JSON.stringify({ bank: proposal.bank?.revision, tax: proposal.tax?.revision })),
        }),
      };
      const next: Enrollment = { ...current, ...changes, version: current.version + 1 };
      const event = this.events.event(enrolled ? 'EnrollmentEnrolled' : 'EnrollmentValidating', next, { previousStatus: current.status });
      const written = await this.enrollments.update(current, changes, [event]);
      if (written) {
        this.events.committed();
        if (!current.enrolledAt) {
          const ended = await this.recheck.afterSubmit(written, program);
          if (ended) throw locationNotEligible(current.programId, current.fiscalYear, current.locationId, ended);
        }
        return this.followAfterSubmit(written, rules);
      }
    }
    throw Problems.busy('The enrollment kept changing while it was submitted; try again.');
  }

  /** Ended now by the recheck (see execute): the refusal Enroll gives, 409 discontinued or 422 not eligible. */
  private async refuseIfEnded(current: Enrollment, program: Program): Promise<void> {
    const check = await this.recheck.execute(current, program);
    if (check.ended === 'DISCONTINUED') throw programNotOpen(check.program);
    if (check.ended === 'INELIGIBLE') throw locationNotEligible(current.programId, current.fiscalYear, current.locationId, check.reasons);
  }

  /**
   * Submit decided from the profile views it read before its write, while a profile event's handler writes the view
   * and then reads the submitted enrollments: a validation result recorded in between is seen by neither (the
   * handler found the enrollment not yet submitted). So, after the write, the enrollment follows its profiles again
   * as the views are now (written before this read: one of the two sees the other). The answer is where it ends up.
   */
  private async followAfterSubmit(written: Enrollment, rules: PayoutRules): Promise<Enrollment> {
    let current = written;
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      const followed = await this.follow.apply(current, rules);
      if (followed) return followed;
      // Changed meanwhile (a handler followed it, or ended it): decide again from what it is now.
      const fresh = await this.enrollments.reload(current);
      if (!fresh) return current;
      current = fresh;
    }
    return current;
  }
}

/**
 * 409 `proposal-changed` when a profile the enrollment proposed (shown by Enroll or Continue) is not the one Submit would
 * send now: the location's default bank profile (not a choice) replaced since, or its tax profile replaced, or there
 * now where the proposal showed none (its program requiring none: Submit would send it, and wait for its validation).
 * Null otherwise.
 */
function proposalChanged(enrollment: Enrollment, now: { bankProfileId?: string | null; taxProfileId?: string | null }): ProblemException | null {
  // A profile the proposal said falls short (its currency, its payment method, not approved, expired) is what Continue
  // asked the admin to fix, replacing it one way to do so: taken as it is now, as a missing one is.
  const fallsShort = (prefix: 'BANK' | 'TAX') => (enrollment.missing ?? []).some((item) => item.startsWith(`${prefix}_`) || (prefix === 'BANK' && /^(CURRENCY|PAYMENT_METHOD)_/.test(item)));
  const bank = !enrollment.bankChosen && !!enrollment.bankProfileId && (now.bankProfileId ?? undefined) !== enrollment.bankProfileId && !fallsShort('BANK');
  // A tax profile where the proposal showed none is one too, unless the proposal asked for one (TAX_PROFILE_MISSING).
  const tax = (now.taxProfileId ?? undefined) !== (enrollment.taxProfileId ?? undefined) && !fallsShort('TAX');
  if (!bank && !tax) return null;
  const what = bank && tax ? "The location's default bank profile and its tax profile have" : bank ? "The location's default bank profile has" : "The location's tax profile has";
  return new ProblemException(
    HttpStatus.CONFLICT,
    'proposal-changed',
    'The proposal changed',
    `${what} changed since this enrollment proposed them: Continue to see the proposal as it is now, then Submit.`,
    {
      enrollmentStatus: enrollment.status,
      proposed: { bankProfileId: enrollment.bankProfileId ?? null, taxProfileId: enrollment.taxProfileId ?? null },
      now: { bankProfileId: now.bankProfileId ?? null, taxProfileId: now.taxProfileId ?? null },
    },
  );
}

/** Submit of a kept bank profile choice that no longer serves the location: no missing item says it, the state does. */
function bankProfileNotServing(enrollment: Enrollment, reason: string): ProblemException {
  return new ProblemException(
    HttpStatus.CONFLICT,
    'bank-profile-not-serving',
    'Bank profile no longer serves the location',
    `${reason} Continue (without bankProfileId) to have the location's default bank profile proposed, or with another bankProfileId.`,
    { enrollmentStatus: enrollment.status, bankProfileId: enrollment.bankProfileId, reasons: [reason] },
  );
}
