import { decisionRef, ineligibleReasons, InvitationRevoked, laterThanNamed } from '@lib/contracts';
import { Injectable } from '@nestjs/common';
import { ReadPrograms } from '../../programs/usecases/read-programs.use-case';
import { ViewsRepository } from '../../views/views.repository';
import { MarkIneligible } from './mark-ineligible.use-case';

/**
 * The invitations service revokes an invitation when the location loses eligibility before enrolling. An INVITED
 * enrollment of that (program, location, fiscal year) becomes INELIGIBLE with the revocation's reasons
 * (EnrollmentIneligible), as the ineligible decision behind it does when this service consumes it (whichever comes
 * first ends it; the other then finds it INELIGIBLE and changes nothing). An enrollment past INVITED
 * (ACTION_REQUIRED, VALIDATING, ENROLLED...) is left to the eligibility decisions (MarkIneligible), and so is one
 * ENROLLED once (`enrolledAt`) and back to the proposal since (another bank profile chosen, or its own withdrawn:
 * INVITED with nothing missing): it keeps its year, as MarkIneligible leaves it.
 *
 * A program that no longer requires eligibility (made open since the invitation) is not concerned: the enrollment stays.
 *
 * The invitation keeps its id when it is issued again, so a revocation can be older than what this service has
 * learnt since; it then changes nothing:
 *  - the newest eligibility decision for the year says eligible and was made after the decision behind the revocation
 *    (eligible again), or at the same instant and read after it: the one it names (`decision`; the revocation's
 *    `occurredAt` from a producer before it), since the invitations service revokes when it consumes that decision,
 *    which may be long after it was made;
 *  - the enrollment was started (Enroll, which checks eligibility) after the revocation.
 * Both compare times of different clocks (the eligibility system's, the invitations service's, this service's): only
 * a re-eligibility or an Enroll within the clocks' skew is misjudged. And:
 *  - the invitation was issued again at a later version than the revocation's (`invitationVersion`): a revocation
 *    consumed again after it (a replay), written after the eligible decision behind the new cycle, is not applied.
 */
@Injectable()
export class RecordInvitationRevocation {
  constructor(
    private readonly views: ViewsRepository,
    private readonly markIneligible: MarkIneligible,
    private readonly programs: ReadPrograms,
  ) {}

  async execute(revocation: InvitationRevoked, revokedAt: Date): Promise<void> {
    // An open program takes no eligibility decision into account (RecordEligibilityDecision), so neither a revocation
    // the invitations service made before it learnt the program became open.
    const program = await this.programs.find(revocation.programId);
    if (program && !program.requiresEligibility) return;
    const decision = await this.views.partnersEligibility(revocation.partnerId, revocation.programId, revocation.locationId, revocation.fiscalYear);
    // Eligible again since the decision behind the revocation (the invitations service may consume that one well after
    // it was made: its time, when the revocation names it, not the revocation's own).
    // One made at the same instant counts as later unless the positions the two services read them at say otherwise
    // (laterThanNamed): the view holds the later of what it has read.
    const eligibleSince = decision?.eligible && (revocation.decision ? laterThanNamed(decision, revocation.decision) : +new Date(decision.decidedAt) > +revokedAt);
    if (eligibleSince) return;
    const reasons = ineligibleReasons(revocation.reasons, revocation.fiscalYear);
    await this.markIneligible.end(
      revocation,
      revocation.partnerId,
      reasons,
      (current) =>
        current.status === 'INVITED' &&
        !current.enrolledAt &&
        (!current.invitationId || current.invitationId === revocation.invitationId) &&
        !(current.startedAt && +new Date(current.startedAt) > +revokedAt) &&
        !(revocation.invitationVersion !== undefined && (current.invitationVersion ?? 0) > revocation.invitationVersion),
      revokedAt,
      undefined,
      // Its contract fields only (decisionRef): a later producer's addition to the reference is not this service's to publish again.
      revocation.decision && decisionRef(revocation.decision),
    );
  }
}
