import { AccessPolicy } from '@lib/access';
import { decisionRef, EligibilityDetermined, LogPosition } from '@lib/contracts';
import { Injectable } from '@nestjs/common';
import { ReadPrograms } from '../../programs/usecases/read-programs.use-case';
import { ViewsRepository } from '../../views/views.repository';
import { enrollmentId } from '../../common/ids';
import { EnrollmentsRepository } from '../enrollments.repository';
import { MarkIneligible } from './mark-ineligible.use-case';
import { ReopenInvitation } from './reopen-invitation.use-case';

/**
 * An eligibility decision for (program, location, fiscal year): kept unless a later one for the same year is
 * (occurredAt, then where it was read: laterDecision); an ineligible decision that is the current one ends an enrollment not yet ENROLLED, unless its program
 * is open (it needs no eligibility: SPEC 1, Programs); an eligible one reopens an enrollment that was only invited and
 * ended INELIGIBLE (ReopenInvitation: INVITED again, as its invitation is issued again). A decision naming a location
 * of another partner than its own is dead-lettered before anything is stored; one naming a location identity has not told of yet is kept, and the
 * location's own partner's decision for that year replaces it once the location is known, even when older.
 */
@Injectable()
export class RecordEligibilityDecision {
  constructor(
    private readonly views: ViewsRepository,
    private readonly markIneligible: MarkIneligible,
    private readonly access: AccessPolicy,
    private readonly programs: ReadPrograms,
    private readonly reopen: ReopenInvitation,
    private readonly enrollments: EnrollmentsRepository,
  ) {}

  /** `position`: where the decision was read (laterDecision: at the same instant, the one read later wins). */
  async execute(decision: EligibilityDetermined, decidedAt: Date, eventId: string, position?: LogPosition): Promise<void> {
    // Known as this partner's (another's is refused): it replaces a decision naming another partner kept while the
    // location was not known yet, whatever their times.
    const ownerConfirmed = await this.access.assertLocationOf(decision.partnerId, decision.locationId, 'The eligibility decision');
    const { current, followsAnother } = await this.views.recordDecision(decision, decidedAt, eventId, ownerConfirmed, position);
    if (!current) return;
    if (decision.eligible) {
      // A continuation the rollover made on an earlier year's decision is confirmed by its own year's: a later
      // ineligible decision of that year leaves it, as any completed enrollment (MarkIneligible). Only by its own
      // partner's: the location known as theirs, its enrollment is; not known yet, the decision may name another partner.
      const id = enrollmentId(decision);
      if (ownerConfirmed || (await this.enrollments.findById(id))?.partnerId === decision.partnerId) await this.enrollments.confirmCarried(id);
      // Eligible again: an enrollment only invited, ended INELIGIBLE, is INVITED again (its invitation is issued again).
      // Not on the year's first decision (a burst of new locations: one read of the enrollment saved each): what ended
      // it was an ineligible decision for the year (directly, or through the revocation it caused), which this view
      // received first (same topic and key, earlier). The re-issued invitation reopens it too (RecordInvitation).
      if (followsAnother) await this.reopen.execute(decision);
      return;
    }
    const program = await this.programs.find(decision.programId);
    if (program && !program.requiresEligibility) return;
    await this.markIneligible.execute(decision, decidedAt, eventId, decisionRef({ eventId, decidedAt, position }));
  }
}
