import { decisionRef, DecisionRef, EligibilityDetermined, fiscalYearOver, ineligibleReasons } from '@lib/contracts';
import { Clock, Problems } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { EnrollmentKey, enrollmentId } from '../../common/ids';
import { Enrollment } from '../enrollment.schema';
import { EnrollmentEvents } from '../enrollment-events';
import { BEFORE_ENROLLED, COMPLETION_FIELDS, TERMINAL } from '../enrollment-rules';
import { EnrollmentsRepository } from '../enrollments.repository';
import type { YearDecision } from '../../views/views.schemas';

const ATTEMPTS = 8;

/** What a continuation made on carried eligibility no longer is once its year's decision ends it: completed. */
const CARRIED_CLEARS = [...COMPLETION_FIELDS, 'eligibilityCarried'] as const;

/**
 * Losing eligibility before the enrollment completes: INVITED, ACTION_REQUIRED or VALIDATING becomes INELIGIBLE,
 * with the decision's reasons (EnrollmentIneligible). An enrollment that was ENROLLED keeps its fiscal year, also
 * while a profile edit or rejection has sent it back to VALIDATING or ACTION_REQUIRED, or another bank profile
 * chosen back to the proposal (it keeps `enrolledAt`); whether it continues into the next one is the rollover's
 * question (it decides these as completed: wasCompleted). One never completed is ended by a cause within its year only
 * (see `end`); a later one leaves it to the rollover, which expires it (EXPIRED: "ended before the enrollment was
 * completed").
 */
@Injectable()
export class MarkIneligible {
  constructor(
    private readonly enrollments: EnrollmentsRepository,
    private readonly events: EnrollmentEvents,
    private readonly clock: Clock,
  ) {}

  /**
   * `decidedAt`: when the decision was made (its event's occurredAt); now when not known. `eventId`: the decision's.
   * Also a continuation the rollover made on an earlier year's decision (`eligibilityCarried`: the program's eligibility
   * is decided year by year, and none had been published for the new one), renewed or not: the new year's first word
   * says it is not eligible, so it was not "still eligible" (SPEC 1 Enrollment 6). It ends INELIGIBLE, no longer
   * completed (`enrolledAt` and its submission cleared, as an early renewal undone at year end: Enroll starts it again).
   * `named`: the decision its event names, where the cause's time is not the decision's (a program come to require
   * eligibility ends it now, on the decision its view holds); else the decision `eventId` and `decidedAt` tell.
   */
  async execute(decision: EligibilityDetermined, decidedAt?: Date, eventId?: string, named?: DecisionRef): Promise<void> {
    const reasons = ineligibleReasons(decision.reasons, decision.fiscalYear);
    const carried = (current: Enrollment) => current.eligibilityCarried === true && !!current.renewedFrom && current.fiscalYear === decision.fiscalYear;
    await this.end(
      decision,
      decision.partnerId,
      reasons,
      (current) => (BEFORE_ENROLLED.includes(current.status) && !current.enrolledAt) || (carried(current) && !TERMINAL.includes(current.status)),
      decidedAt,
      (current) => (carried(current) ? CARRIED_CLEARS.filter((field) => current[field] !== undefined) : []),
      named ?? (eventId && decidedAt ? decisionRef({ eventId, decidedAt }) : undefined),
    );
  }

  /**
   * A continuation renewed on carried eligibility (`eligibilityCarried`) as its own year's decision, read now, says:
   * eligible confirms it, ineligible ends it (execute). For the rollover, whose writes of such continuations a decision
   * recorded meanwhile may have looked for before they existed (or were marked).
   */
  async settleCarried(continuation: Enrollment, decision: YearDecision): Promise<void> {
    if (decision.eligible) return this.enrollments.confirmCarried(continuation._id);
    const { programId, locationId, partnerId, fiscalYear } = continuation;
    await this.execute({ programId, locationId, partnerId, fiscalYear, eligible: false, reasons: decision.reasons }, decision.decidedAt, decision.eventId, decisionRef(decision));
  }

  /**
   * The enrollment of `key` becomes INELIGIBLE with `reasons` and its event, if it is the partner's and `applies` to
   * it as read: one write guarded by its version, decided again from a fresh read when it changed meanwhile. An
   * enrollment already INELIGIBLE is never in `applies`, so a redelivered cause changes nothing. `at`: when the cause
   * happened (a decision's or revocation's occurredAt; now when not known): one never completed is ended only by a cause
   * within its year, also when consumed after it; a later one leaves it to the rollover.
   */
  async end(
    key: EnrollmentKey,
    partnerId: string,
    reasons: string[],
    applies: (current: Enrollment) => boolean,
    at?: Date,
    clears: (current: Enrollment) => Array<keyof Enrollment> = () => [],
    decision?: { eventId: string; decidedAt: string },
  ): Promise<void> {
    const id = enrollmentId(key);
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      const current = await this.enrollments.findById(id);
      if (!current || current.partnerId !== partnerId || current.status === 'INELIGIBLE' || !applies(current)) return;
      const unset = clears(current);
      // Never completed (or no longer, once `unset` clears enrolledAt), and its year was over when this happened: the
      // rollover's, which expires it.
      const completed = !!current.enrolledAt && !unset.includes('enrolledAt');
      if (!completed && fiscalYearOver(current.fiscalYear, at ?? this.clock.now())) return;
      const changes = { status: 'INELIGIBLE' as const, reasons, missing: [] };
      const next = { ...current, ...changes, version: current.version + 1 };
      for (const field of unset) delete next[field];
      // The decision that ended it, whatever it ended: a consumer holding an earlier eligible one (the invitations
      // service, its eligibility consumer behind this topic's) knows that one replaced, and offers no Enroll on it.
      const event = this.events.event('EnrollmentIneligible', next, { previousStatus: current.status, ...(decision && { extra: { decision } }) });
      // Ended as carried: only while still carried (the year's eligible decision may confirm it meanwhile, no new version).
      const asRead = unset.includes('eligibilityCarried') ? { eligibilityCarried: true } : {};
      if (await this.enrollments.update(current, changes, [event], unset, asRead)) {
        this.events.committed();
        return;
      }
    }
    throw Problems.busy(`Enrollment ${id} kept changing while it was marked ineligible; try again.`);
  }
}
