import { EnrollmentEvent } from '@lib/contracts';
import { Injectable } from '@nestjs/common';
import { enrollmentChangeMovesInvitation } from '../invitation-rules';
import { ViewsRepository } from '../views/views.repository';
import { ReconcileInvitation } from './reconcile-invitation.use-case';

/**
 * An enrollment status (highest revision wins), shown on the overview. Once ENROLLED, the invitation is marked
 * enrolled and is never revoked here afterwards (the enrollment service handles a later loss of eligibility).
 * Only a change into or out of ENROLLED can move the invitation, so only those reconcile it: the others (two of them
 * for every first Enroll) just update the overview, without the invitation's lock and reads.
 */
@Injectable()
export class RecordEnrollmentStatus {
  constructor(
    private readonly views: ViewsRepository,
    private readonly reconcile: ReconcileInvitation,
  ) {}

  async execute(enrollment: EnrollmentEvent): Promise<void> {
    const invitationId = await this.views.recordEnrollment(enrollment);
    if (enrollmentChangeMovesInvitation(enrollment)) await this.reconcile.execute(invitationId);
  }
}
