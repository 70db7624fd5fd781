import { AccessPolicy } from '@lib/access';
import { EligibilityDetermined, Envelope, LogPosition } from '@lib/contracts';
import { Injectable } from '@nestjs/common';
import { Transition } from '../invitation-rules';
import { ViewsRepository } from '../views/views.repository';
import { ReconcileInvitation } from './reconcile-invitation.use-case';

/**
 * An eligibility decision for (program, location, fiscal year): kept in the eligibility view (a later decision
 * wins; the same decision twice changes nothing), then the invitation follows: issued, waiting for an admin,
 * revoked, or nothing yet when the program is not known. A decision naming a location of another partner than its
 * own is dead-lettered before anything is stored (its admins would be invited to another partner's location). One
 * naming a location identity has not told of yet is kept; the location's own partner's decision replaces it once the
 * location is known, even when older (see ViewsRepository.recordDecision).
 */
@Injectable()
export class RecordEligibilityDecision {
  constructor(
    private readonly views: ViewsRepository,
    private readonly reconcile: ReconcileInvitation,
    private readonly access: AccessPolicy,
  ) {}

  /** `position`: where the decision was read (laterDecision: at the same instant, the one read later wins). */
  async execute(envelope: Envelope<EligibilityDetermined>, position?: LogPosition): Promise<Transition> {
    const { partnerId, locationId } = envelope.data;
    // Known as this partner's (another's is refused): it replaces a decision naming another partner that was kept
    // while the location was not known yet, whatever their times.
    const ownerConfirmed = await this.access.assertLocationOf(partnerId, locationId, 'The eligibility decision');
    const invitationId = await this.views.recordDecision(envelope.data, new Date(envelope.occurredAt), envelope.eventId, ownerConfirmed, position);
    if (!ownerConfirmed) {
      // Identity may have made the location known meanwhile: its handler writes the location and then looks for the
      // owner's decisions set aside (confirmOwner), this one writes the decision and then reads the location again, so
      // one of the two sees the other, and an owner's decision set aside by this one does not stay aside.
      const location = await this.access.locationById(locationId);
      if (location) await this.views.confirmOwnerOf(invitationId, location.partnerId);
    }
    return this.reconcile.execute(invitationId);
  }
}
