import { EnrollmentEvent, nextFiscalYear } from '@lib/contracts';
import { Injectable } from '@nestjs/common';
import { invitationId } from '../invitation-ids';
import { ENDED_STATUSES, invitationsMovedBy } from '../invitation-rules';
import { ViewsRepository } from '../views/views.repository';
import { ReconcileInvitation } from './reconcile-invitation.use-case';

/**
 * An enrollment status (highest revision wins), shown on the overview. Once ENROLLED, the invitation is marked
 * enrolled and is never revoked here afterwards (the enrollment service handles a later loss of eligibility). A
 * completed enrollment holds the next fiscal year's invitation (the rollover continues it); when it ends instead, that
 * invitation is reconciled. Only the changes `invitationsMovedBy` names reconcile: the others (two of them for every
 * first Enroll) just update the overview, without the invitation's lock and reads.
 */
@Injectable()
export class RecordEnrollmentStatus {
  constructor(
    private readonly views: ViewsRepository,
    private readonly reconcile: ReconcileInvitation,
  ) {}

  /** `type`: the event's (an EnrollmentStarted tells that Enroll started it). */
  async execute(enrollment: EnrollmentEvent, type?: string): Promise<void> {
    const recorded = await this.views.recordEnrollment(enrollment, type);
    const { id } = recorded;
    // Completed before this event or now: an early renewal undone at year end (INELIGIBLE) ends completed == false, yet
    // it held the next year's invitation until now.
    const moved = invitationsMovedBy(enrollment, { completed: ENDED_STATUSES.includes(enrollment.status) && recorded.completed });
    if (moved.own) await this.reconcile.execute(id);
    if (moved.nextYear) {
      const { programId, locationId } = enrollment;
      await this.reconcile.execute(invitationId({ programId, locationId, fiscalYear: nextFiscalYear(enrollment.fiscalYear) }));
    }
  }
}
