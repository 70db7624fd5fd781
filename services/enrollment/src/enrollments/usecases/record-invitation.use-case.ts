import { Clock } from '@lib/platform';
import { AccessPolicy } from '@lib/access';
import { AdminAssignmentRequested, fiscalYearOver, InvitationIssued } from '@lib/contracts';
import { isDuplicateKey } from '@lib/messaging';
import { Injectable, Logger } from '@nestjs/common';
import { enrollmentId } from '../../common/ids';
import { ReadPrograms } from '../../programs/usecases/read-programs.use-case';
import { Enrollment } from '../enrollment.schema';
import { EnrollmentsRepository } from '../enrollments.repository';
import { RecheckStart } from './recheck-start.use-case';
import { ReopenInvitation } from './reopen-invitation.use-case';

/**
 * An invitation issued (or delivered to a late admin) makes the enrollment exist as INVITED ("Invited"), so the
 * location's enrollments list shows it before anyone enrolls. Only when there is no enrollment yet; no event (the
 * invitation is the event). Its first Enroll starts it (eligibility and program state are checked then).
 * One naming a location this service knows as another partner's is bad input: dead-lettered with the reason (as an
 * eligibility decision saying so is). One that arrives before its location (identity's events are on another topic,
 * and this service's view may lag) is recorded as it names it: the invitations service issues only once its own view
 * of the same events knows the location as the partner's, and a location never changes partner.
 *
 * Invitations, eligibility decisions and program changes come on different topics, in no order: after the write,
 * RecheckStart ends the enrollment when the newest decision for the year is not eligible (INELIGIBLE,
 * EnrollmentIneligible: as when the invitation comes first) or the program was discontinued (DISCONTINUED). A
 * redelivered invitation checks again, so a crash between the two steps is made good.
 *
 * An invitation issued again (eligible again after a revocation) finds the enrollment it created INELIGIBLE, if no one
 * had enrolled: ReopenInvitation makes it INVITED again.
 *
 * An invitation of a fiscal year that is over (by the Clock Enroll and the rollover read) creates nothing: Enroll
 * would refuse to start that enrollment (409 `fiscal-year-ended`), and the next rollover would only expire it and
 * email "expired". The invitations service no longer issues one then; one still in flight across the year's end
 * is logged and consumed (not an error: nothing to retry, nothing to dead-letter).
 */
@Injectable()
export class RecordInvitation {
  private readonly logger = new Logger(RecordInvitation.name);

  constructor(
    private readonly enrollments: EnrollmentsRepository,
    private readonly access: AccessPolicy,
    private readonly recheck: RecheckStart,
    private readonly reopen: ReopenInvitation,
    private readonly clock: Clock,
    private readonly programs: ReadPrograms,
  ) {}

  /**
   * The invitation waiting for an Incentives admin (AdminAssignmentRequested: the location has none). It makes no
   * enrollment (nobody could enroll yet: its delivery to the first admin does), but it is the invitation issued again
   * as much as an InvitationIssued is: its version is recorded on the enrollment it made before (a revocation of an
   * earlier version, consumed again, is then not applied), and that enrollment, ended INELIGIBLE before anyone
   * enrolled, is INVITED again (ReopenInvitation, on the same conditions). Without it, the enrollment stayed
   * INELIGIBLE for an eligible location until an admin came, and a replay of the topics reopened it or ended it
   * again, depending on which old event it met first.
   */
  async waiting(request: AdminAssignmentRequested): Promise<void> {
    if (fiscalYearOver(request.fiscalYear, this.clock.now())) return;
    if (request.invitationVersion !== undefined) await this.enrollments.recordInvitationVersion(enrollmentId(request), request.invitationVersion);
    await this.reopen.execute(request, request.invitationId);
  }

  async execute(invitation: InvitationIssued): Promise<void> {
    const now = this.clock.now();
    if (fiscalYearOver(invitation.fiscalYear, now)) {
      this.logger.log(
        `invitation ${invitation.invitationId} (program ${invitation.programId}, location ${invitation.locationId}) is for ` +
          `${invitation.fiscalYear}, which is over: no INVITED enrollment recorded`,
      );
      return;
    }
    // A location known here as another partner's: dead-lettered. One not known here yet (identity's events come on
    // another topic, a large import ahead of the location's) is taken as the invitation names it: the invitations
    // service issues only for a location its own view of the same events knows as the partner's, and a location never
    // changes partner.
    await this.access.assertLocationOf(invitation.partnerId, invitation.locationId, `Invitation ${invitation.invitationId}`);
    // This service's catalog names it (the invitations service's copy may be behind a rename).
    const programName = (await this.programs.find(invitation.programId))?.name ?? invitation.programName;
    const record: Enrollment = {
      _id: enrollmentId(invitation),
      programId: invitation.programId,
      ...(programName && { programName }),
      partnerId: invitation.partnerId,
      locationId: invitation.locationId,
      fiscalYear: invitation.fiscalYear,
      status: 'INVITED',
      reasons: [],
      missing: [],
      bankChosen: false,
      invitationId: invitation.invitationId,
      ...(invitation.invitationVersion !== undefined && { invitationVersion: invitation.invitationVersion }),
      version: 1,
      createdAt: now,
      updatedAt: now,
    };
    try {
      // Through the repository: the inserts of invitations consumed together share one command.
      await this.enrollments.insert(record, []);
    } catch (error) {
      if (!isDuplicateKey(error)) throw error; // invited already (a redelivery), or enrolled before the invitation
      // Issued again (a new cycle after a revocation): a revocation of an earlier version is older than this.
      if (invitation.invitationVersion !== undefined) await this.enrollments.recordInvitationVersion(record._id, invitation.invitationVersion);
    }
    await this.recheck.execute(record);
    // Issued again after a revocation (eligible again): the enrollment it had created, ended INELIGIBLE before anyone
    // enrolled, is INVITED again (when the eligible decision is recorded already; otherwise that decision does it).
    await this.reopen.execute(record, invitation.invitationId);
  }
}
