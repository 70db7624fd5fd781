import { fiscalYearOver } from '@lib/contracts';
import { Clock } from '@lib/platform';
import { Injectable } from '@nestjs/common';
import { EnrollmentKey, enrollmentId } from '../../common/ids';
import { ReadPrograms } from '../../programs/usecases/read-programs.use-case';
import { ViewsRepository } from '../../views/views.repository';
import { Enrollment } from '../enrollment.schema';
import { EnrollmentEvents } from '../enrollment-events';
import { EnrollmentsRepository } from '../enrollments.repository';
import { RecheckStart } from './recheck-start.use-case';

const ATTEMPTS = 8;

/**
 * Eligible again after the invitation was revoked: the invitations service issues the invitation again (a new cycle,
 * the same invitation id) and its overview offers Enroll. The enrollment that invitation had created, ended
 * INELIGIBLE before anyone enrolled (never started: no `evaluatedAt`), is the invitation's again: INVITED
 * ("Invited", next action ENROLL), reasons cleared, with EnrollmentInvited (so the other services' views of it, such
 * as the invitations overview's status, follow). The first Enroll starts it with the usual checks.
 * Run by the re-issued InvitationIssued and by the eligible decision behind it, which come on different topics in no
 * order: whichever is consumed second finds the location eligible again and reopens it (the other finds nothing to do).
 * Only where Enroll would start it: the program OPEN, requiring eligibility and still in the enrollment's fiscal year,
 * that year not over (the Clock), and the partner's newest decision for the year eligible. Nothing compares times of
 * other clocks: a stale trigger (a revocation consumed after the reopen, an eligible decision the ineligible one
 * overtakes later) ends it again, and the invitations topic's last word for the location (the re-issue comes after
 * its revocation there) or the newest decision settles it.
 * Decided from the views, then RecheckStart after the write: an ineligible decision or a discontinuation recorded
 * meanwhile (their handlers write and then read the enrollment) ends it again, with its event, as for an invitation
 * recorded in the same race. An enrollment started (Enroll) before it ended stays INELIGIBLE: Enroll starts it again.
 * Returns the enrollment as written, or null when there was nothing to reopen.
 */
@Injectable()
export class ReopenInvitation {
  constructor(
    private readonly enrollments: EnrollmentsRepository,
    private readonly programs: ReadPrograms,
    private readonly views: ViewsRepository,
    private readonly recheck: RecheckStart,
    private readonly events: EnrollmentEvents,
    private readonly clock: Clock,
  ) {}

  /** `invitationId`: the invitation issued again (an eligible decision passes none: the enrollment's own). */
  async execute(key: EnrollmentKey & { partnerId: string }, invitationId?: string): Promise<Enrollment | null> {
    const id = enrollmentId(key);
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      const current = await this.enrollments.findById(id);
      if (!current || current.partnerId !== key.partnerId || !reopenable(current)) return null;
      const invitation = invitationId ?? current.invitationId;
      if (!invitation || fiscalYearOver(current.fiscalYear, this.clock.now())) return null;
      const program = await this.programs.find(current.programId);
      if (!program || program.state !== 'OPEN' || !program.requiresEligibility || program.fiscalYear !== current.fiscalYear) return null;
      const decision = await this.views.partnersEligibility(current.partnerId, current.programId, current.locationId, current.fiscalYear);
      // The partner's newest decision for the year (the view orders them): a stale trigger finds it ineligible.
      if (!decision?.eligible) return null;
      const changes = { status: 'INVITED' as const, reasons: [], missing: [], invitationId: invitation };
      const event = this.events.event('EnrollmentInvited', { ...current, ...changes, version: current.version + 1 }, { previousStatus: current.status });
      const written = await this.enrollments.update(current, changes, [event]);
      if (written) {
        this.events.committed();
        await this.recheck.execute(written);
        return written;
      }
    }
    throw new Error(`enrollment ${id} kept changing while its invitation was issued again`);
  }
}

/** Ended INELIGIBLE while it was only invited: never started, never completed, not rolled over. */
export function reopenable(e: Enrollment): boolean {
  return e.status === 'INELIGIBLE' && !e.evaluatedAt && !e.enrolledAt && !e.rollover;
}
