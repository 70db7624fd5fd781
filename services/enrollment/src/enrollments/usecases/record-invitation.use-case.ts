import { AccessPolicy } from '@lib/access';
import { InvitationIssued } from '@lib/contracts';
import { isDuplicateKey } from '@lib/messaging';
import { Injectable } from '@nestjs/common';
import { enrollmentId } from '../../common/ids';
import { ReadPrograms } from '../../programs/usecases/read-programs.use-case';
import { ViewsRepository } from '../../views/views.repository';
import { Enrollment } from '../enrollment.schema';
import { EnrollmentsRepository } from '../enrollments.repository';
import { DiscontinueProgramEnrollments } from './discontinue-program-enrollments.use-case';
import { MarkIneligible } from './mark-ineligible.use-case';

/**
 * An invitation issued (or delivered to a late admin) makes the enrollment exist as INVITED ("Invited"), so the
 * location's enrollments list shows it before anyone enrolls. Only when there is no enrollment yet; no event (the
 * invitation is the event). Its first Enroll starts it (eligibility and program state are checked then).
 * Only for a location this service knows to be the partner's (identity events): nothing is recorded under a
 * partner it cannot vouch for. An invitation that arrives before its location is only not shown as "Invited" until
 * the first Enroll, which creates the enrollment anyway.
 *
 * Invitations and eligibility decisions come on different topics, in no order. An ineligible decision consumed
 * before the invitation found no enrollment to end, so after the write this reads the eligibility view: when the
 * newest decision for the fiscal year says not eligible, the enrollment is ended as that decision would have ended
 * it (MarkIneligible: INELIGIBLE with its reasons, EnrollmentIneligible), the same state and event as when the
 * invitation comes first. Reading after the write, not before, also covers the decision recorded while the
 * enrollment was inserted (the two topics are handled concurrently): its handler writes the view before it reads
 * the enrollment, this one writes the enrollment before it reads the view, so one of the two sees the other. A
 * redelivered invitation reads the view again, so a crash between the two steps is made good.
 * The program likewise: an invitation consumed after its program was discontinued (the sweep, once per
 * ProgramUpdated, found nothing of it to end) ends DISCONTINUED as the sweep would have ended it.
 */
@Injectable()
export class RecordInvitation {
  constructor(
    private readonly enrollments: EnrollmentsRepository,
    private readonly access: AccessPolicy,
    private readonly views: ViewsRepository,
    private readonly markIneligible: MarkIneligible,
    private readonly programs: ReadPrograms,
    private readonly discontinue: DiscontinueProgramEnrollments,
  ) {}

  async execute(invitation: InvitationIssued): Promise<void> {
    const location = await this.access.locationById(invitation.locationId);
    if (!location || location.partnerId !== invitation.partnerId) return;
    const now = new Date();
    const record: Enrollment = {
      _id: enrollmentId(invitation),
      programId: invitation.programId,
      ...(invitation.programName && { programName: invitation.programName }),
      partnerId: invitation.partnerId,
      locationId: invitation.locationId,
      fiscalYear: invitation.fiscalYear,
      status: 'INVITED',
      reasons: [],
      missing: [],
      bankChosen: false,
      invitationId: invitation.invitationId,
      version: 1,
      createdAt: now,
      updatedAt: now,
    };
    try {
      // Through the repository: the inserts of invitations consumed together share one command.
      await this.enrollments.insert(record, []);
    } catch (error) {
      if (!isDuplicateKey(error)) throw error; // invited already (a redelivery), or enrolled before the invitation
    }
    const program = await this.programs.find(invitation.programId);
    if (program?.state === 'DISCONTINUED') {
      await this.discontinue.endOne(record._id, program.name);
      return;
    }
    const view = await this.views.eligibility(invitation.programId, invitation.locationId);
    const decision = view?.years?.[invitation.fiscalYear];
    if (view && decision && !decision.eligible) {
      const { programId, locationId, fiscalYear } = invitation;
      await this.markIneligible.execute({ programId, locationId, fiscalYear, partnerId: view.partnerId, eligible: false, reasons: decision.reasons });
    }
  }
}
