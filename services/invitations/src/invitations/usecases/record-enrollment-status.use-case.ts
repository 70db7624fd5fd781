import { EnrollmentEvent } from '@lib/contracts';
import { Injectable } from '@nestjs/common';
import { ViewsRepository } from '../views/views.repository';
import { ReconcileInvitation } from './reconcile-invitation.use-case';

/**
 * An enrollment status (highest revision wins), shown on the overview. Once ENROLLED, the invitation is marked
 * enrolled and is never revoked here afterwards (the enrollment service handles a later loss of eligibility).
 */
@Injectable()
export class RecordEnrollmentStatus {
  constructor(
    private readonly views: ViewsRepository,
    private readonly reconcile: ReconcileInvitation,
  ) {}

  async execute(enrollment: EnrollmentEvent): Promise<void> {
    const invitationId = await this.views.recordEnrollment(enrollment);
    await this.reconcile.execute(invitationId);
  }
}
